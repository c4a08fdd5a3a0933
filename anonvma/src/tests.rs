//! Tests of the anon_vma presets: the conformance suite, property tests,
//! and the history each preset claims.

use super::*;
use rmap_core::Presets;
use rmap_core::conformance::{run_suite, run_trace};

#[test]
fn every_preset_passes_the_conformance_suite() {
    for p in PRESET_NAMES {
        run_suite(|| AnonVmaRmap::with_preset(p).unwrap());
    }
}

#[test]
fn every_preset_passes_the_property_tests() {
    for p in PRESET_NAMES {
        rmap_core::props::random_ops_under_pressure(|| AnonVmaRmap::with_preset(p).unwrap(), 192);
        rmap_core::props::read_only_ops_under_pressure(|| AnonVmaRmap::with_preset(p).unwrap(), 64);
    }
}

fn stats(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .filter(|l| l.contains("\"objects\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn run(preset: &str, trace: &str) -> Vec<serde_json::Value> {
    let out = run_trace(AnonVmaRmap::with_preset(preset).unwrap(), trace).unwrap();
    assert!(
        !out.contains(" failed: ") && !out.contains("err "),
        "{preset}: {out}"
    );
    stats(&out)
}

/// Each generation writes a page, forks the next and exits.
fn fork_chain(generations: u32) -> String {
    let mut t = String::from(
        "mmap 1 0x100000000000 4K rw- private
touch 1 0x100000000000 4K w
",
    );
    for g in 1..=generations {
        t.push_str(&format!(
            "fork {g} {}
exit {g}
touch {} 0x100000000000 4K w
",
            g + 1,
            g + 1
        ));
        if g % 50 == 0 {
            t.push_str("stats all\n");
        }
    }
    t.push_str("check\n");
    t
}

#[test]
fn fork_chain_grows_without_bound_only_without_reuse() {
    let t = fork_chain(200);
    let counts = |p: &str| {
        run(p, &t)
            .iter()
            .map(|v| v["objects"]["anon_vma"].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    let avc = counts("avc-2.6.34");
    assert_eq!(
        avc,
        vec![51, 101, 151, 201],
        "one more anon_vma per generation"
    );
    for p in ["reuse-3.19", "linux"] {
        let c = counts(p);
        assert!(c.iter().all(|&n| n <= 3), "{p}: {c:?}");
    }
    assert_eq!(counts("andrea-2.6.7"), vec![1, 1, 1, 1]);
    // The live Linux 6.18 kernel, measured with `rmap-bench kernel-run`
    // and exact slab counts on the same 200 generations, ends with 3
    // anon_vmas and 3 anon_vma_chains for the last process's one VMA.
    let last = run("linux", &t).pop().unwrap();
    assert_eq!(
        (
            last["objects"]["anon_vma"].as_u64(),
            last["objects"]["anon_vma_chain"].as_u64()
        ),
        (Some(3), Some(3))
    );
}

/// 1000 children each COW-write 100 pages of one parent VMA; then one
/// child's private pages are paged out: how many VMAs does each walk
/// visit?
#[test]
fn walks_of_a_childs_private_page() {
    let mut t = String::from(
        "config ram=2G\nmmap 1 0x100000000000 400K rw- private\ntouch 1 0x100000000000 400K w\n",
    );
    for c in 2..=1001 {
        t.push_str(&format!("fork 1 {c}\ntouch {c} 0x100000000000 400K w\n"));
    }
    t.push_str("stats all\nmadvise 500 0x100000000000 400K pageout\nstats all\ncheck\n");
    let per_walk = |p: &str| {
        let s = run(p, &t);
        let d = |k: &str| s[1]["rmap"][k].as_u64().unwrap() - s[0]["rmap"][k].as_u64().unwrap();
        assert_eq!(d("walks"), 100, "{p}");
        assert_eq!(d("hits"), 100, "{p}");
        d("vmas_visited") as f64 / d("walks") as f64
    };
    let andrea = per_walk("andrea-2.6.7");
    let avc = per_walk("avc-2.6.34");
    let linux = per_walk("linux");
    // The family list holds every VMA; 2.6.7 links each fork child at its
    // head (`anon_vma_link`'s list_add), so it reads children 1001 down to
    // 2, then the parent, and stops at child 500's VMA: the 502nd. (Before
    // walks stopped when done, this was 1001.)
    assert_eq!(andrea, 502.0, "the walk stops at child 500");
    assert!(avc <= 2.0 && linux <= 2.0, "avc {avc}, linux {linux}");
}

/// VMAs visited by the walks since the first `stats all` of `out`.
fn visited_since_first(s: &[serde_json::Value]) -> Vec<u64> {
    s.windows(2)
        .map(|w| {
            w[1]["rmap"]["vmas_visited"].as_u64().unwrap()
                - w[0]["rmap"]["vmas_visited"].as_u64().unwrap()
        })
        .collect()
}

/// Two adjacent VMAs that differ only in PROT_EXEC share one anon_vma
/// (the second takes the first's at its first write fault). Paging out a
/// page of each shows how the era walks that anon_vma: 2.6.34 goes down
/// the whole `same_anon_vma` list, where `anon_vma_prepare` put the second
/// VMA at the head (`list_add`), and stops at the page's VMA; 2.6.36 put
/// it at the tail (`list_add_tail`); the interval tree (3.7 on) yields
/// only the VMA that covers the page.
#[test]
fn the_anon_vma_list_is_walked_in_its_eras_order_until_found() {
    let t = "mmap 1 0x100000000000 4K rw- private
mmap 1 0x100000001000 4K rwx private
touch 1 0x100000000000 4K w
touch 1 0x100000001000 4K w
stats all
madvise 1 0x100000000000 4K pageout
stats all
madvise 1 0x100000001000 4K pageout
stats all
check
";
    for (p, want) in [
        ("avc-2.6.34", [2, 1]),
        ("root-2.6.36", [1, 2]),
        ("mutex-3.0", [1, 2]),
        ("rwsem-3.8", [1, 1]),
        ("linux", [1, 1]),
        ("rmap40-2.6.7", [2, 1]),
    ] {
        let s = run(p, t);
        assert_eq!(s[0]["objects"]["anon_vma"].as_u64(), Some(1), "{p}: shared");
        assert_eq!(visited_since_first(&s), want, "{p}");
    }
}

/// Andrea's -aa code shares an anon_vma when a mapping is made, mainline
/// 2.6.7 (rmap 40) at the first write fault. (1) A new `r--` mapping
/// beside a written `rw-` one takes its anon_vma at once under Andrea's
/// code, so a walk of the first VMA's page meets it too (it was linked at
/// the head); rmap 40 gives it none. (2) A neighbour with no anon_vma yet
/// lends nothing at mmap time, and Andrea's first write fault allocates a
/// fresh anon_vma: after mprotect makes the two alike they cannot merge;
/// rmap 40 shares at the fault and they merge.
#[test]
fn andrea_shares_at_mmap_and_rmap40_at_the_first_write() {
    let t1 = "mmap 1 0x100000000000 4K rw- private
touch 1 0x100000000000 4K w
mmap 1 0x100000001000 4K r-- private
stats all
madvise 1 0x100000000000 4K pageout
stats all
check
";
    for (p, visits) in [("andrea-2.6.7", 2), ("rmap40-2.6.7", 1)] {
        let s = run(p, t1);
        assert_eq!(visited_since_first(&s), [visits], "{p}");
    }
    let t2 = "mmap 1 0x100000000000 4K rw- private
mmap 1 0x100000001000 4K rwx private
touch 1 0x100000000000 4K w
touch 1 0x100000001000 4K w
mprotect 1 0x100000001000 4K rw-
stats all
check
";
    for (p, anon_vmas, vmas) in [("andrea-2.6.7", 2, 2), ("rmap40-2.6.7", 1, 1)] {
        let s = run(p, t2);
        assert_eq!(s[0]["objects"]["anon_vma"].as_u64(), Some(anon_vmas), "{p}");
        assert_eq!(s[0]["vmas"].as_u64(), Some(vmas), "{p}");
    }
}

/// A page COW-written by a child, paged out and read back: 2.6.34 files
/// every swapped-in page under the oldest anon_vma of the VMA's chain (the
/// parent's), whose list holds parent and child, so the next walk meets
/// the parent's VMA first; 2.6.36 puts a swap-in that no write made
/// exclusive under the root, the same anon_vma; 6.18 files a page whose
/// swap entry was exclusive under the child's own anon_vma.
#[test]
fn swapped_in_pages_are_filed_where_their_era_put_them() {
    let t = "mmap 1 0x100000000000 4K rw- private
touch 1 0x100000000000 4K w
fork 1 2
touch 2 0x100000000000 4K w
madvise 2 0x100000000000 4K pageout
touch 2 0x100000000000 4K r
stats all
madvise 2 0x100000000000 4K pageout
stats all
check
";
    for (p, visits) in [
        ("avc-2.6.34", 2),
        ("root-2.6.36", 2),
        ("reuse-3.19", 2),
        ("linux", 1),
    ] {
        let s = run(p, t);
        assert_eq!(visited_since_first(&s), [visits], "{p}");
    }
}

/// Roots pinned by their descendants only from 2.6.36 (`get_anon_vma` of
/// the root in `anon_vma_fork`); 2.6.34 counts nothing.
#[test]
fn roots_are_pinned_from_2_6_36() {
    let t = "mmap 1 0x100000000000 4K rw- private
touch 1 0x100000000000 4K w
fork 1 2
fork 1 3
";
    for (p, refs) in [("avc-2.6.34", 1), ("root-2.6.36", 3), ("linux", 3)] {
        let mut sys = rmap_core::System::new(
            rmap_core::Config::default(),
            AnonVmaRmap::with_preset(p).unwrap(),
        )
        .unwrap();
        for tl in rmap_core::trace::parse(t, "t").unwrap() {
            sys.apply(&tl.op).unwrap();
        }
        let root = sys.rmap.avs.iter().position(|a| a.live).unwrap();
        assert_eq!(sys.rmap.avs[root].root as usize, root, "{p}");
        assert_eq!(sys.rmap.avs[root].refcount, refs, "{p}");
        sys.validate().unwrap();
    }
}

/// Each preset's object sizes (`stats all` `object_bytes`), from its
/// era's structure definitions (`presets`, `rmap_core::rmap::sizes`).
#[test]
fn object_sizes_are_the_eras() {
    let t = "mmap 1 0x100000000000 4K rw- private
touch 1 0x100000000000 4K w
fork 1 2
stats all
";
    let table = [
        ("andrea-2.6.7", 168, 24, None),
        ("rmap40-2.6.7", 168, 24, None),
        ("avc-2.6.34", 168, 24, Some(48)),
        ("root-2.6.36", 176, 40, Some(48)),
        ("mutex-3.0", 168, 64, Some(48)),
        ("rwsem-3.8", 176, 56, Some(64)),
        ("reuse-3.19", 176, 72, Some(64)),
        ("linux", 192, 104, Some(64)),
        ("unfaulted", 192, 104, Some(64)),
    ];
    for (p, vma, av, avc) in table {
        let b = &run(p, t)[0]["object_bytes"];
        assert_eq!(b["vm_area_struct"].as_u64(), Some(vma), "{p}");
        assert_eq!(b["anon_vma"].as_u64(), Some(av), "{p}");
        assert_eq!(b["anon_vma_chain"].as_u64(), avc, "{p}");
        assert_eq!(b["page_table"].as_u64(), Some(4096), "{p}");
    }
}

/// A shared file mapping read by the parent, then fork: 2.6.7 copies its
/// PTEs (`copy_page_range` for every VMA, `page_dup_rmap` under
/// `page_map_lock`); from 2.6.14 a VMA without anon_vma is skipped and the
/// child faults the pages in.
#[test]
fn fork_copies_file_ptes_only_before_lazy_fork() {
    let t = rmap_core::conformance::SHARED_FILE_READ_FORK;
    for (p, rss, locks) in [
        ("rmap40-2.6.7", 16, true),
        ("avc-2.6.34", 0, false),
        ("linux", 0, false),
    ] {
        let out = run_trace(AnonVmaRmap::with_preset(p).unwrap(), t).unwrap();
        assert!(!out.contains(" failed: "), "{p}: {out}");
        let pid: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        assert_eq!(pid["rss_file"].as_u64(), Some(rss), "{p}");
        let s = stats(&out);
        let pml = s[0]["locks"]["page_map_lock"]["acquired"]
            .as_u64()
            .unwrap_or(0);
        // 16 reads and 16 copies, each under the page's page_map_lock
        assert_eq!(pml >= 32, locks, "{p}: {pml}");
    }
}

/// Guard regions on 1000 never-faulted VMAs, then fork.
#[test]
fn guards_without_anon_vmas_with_the_unfaulted_flag() {
    let mut t = String::new();
    for i in 0..1000u64 {
        // two pages apart with different protections: never merged
        let a = 0x1000_0000_0000u64 + i * 3 * 4096;
        let prot = if i % 2 == 0 { "rw-" } else { "r--" };
        t.push_str(&format!(
            "mmap 1 {a:#x} 8K {prot} private\nmadvise 1 {a:#x} 4K guard_install\n"
        ));
    }
    t.push_str("fork 1 2\nstats all\ncheck\n");
    for i in [0u64, 500, 999] {
        let a = 0x1000_0000_0000u64 + i * 3 * 4096;
        t.push_str(&format!(
            "touch 2 {a:#x} 4K r\ntouch 2 {:#x} 4K r\n",
            a + 4096
        ));
    }
    for (p, want) in [("linux", 2000), ("unfaulted", 0)] {
        let out = run_trace(AnonVmaRmap::with_preset(p).unwrap(), &t).unwrap();
        let s = stats(&out);
        assert_eq!(s[0]["objects"]["anon_vma"].as_u64(), Some(want), "{p}");
        // the guards survived the fork: each guarded page faults in the
        // child, the page beside it does not
        let errs: Vec<&str> = out.lines().filter(|l| l.starts_with("err ")).collect();
        assert_eq!(errs.len(), 3, "{p}: {out}");
        assert!(
            errs.iter().all(|l| l.ends_with("touch EFAULT")),
            "{p}: {out}"
        );
        assert!(!out.contains(" failed: "), "{p}: {out}");
    }
}

/// With protection keys, exec-only VMAs carry protection key 1 in their
/// flags, so a neighbour's anon_vma is not shared across that line; the
/// live kernel of a host with keys ends with three anon_vmas here
/// (kernel-diff). Without keys the three share one and, made alike by the
/// mprotect, merge into one VMA.
#[test]
fn exec_only_neighbours_share_an_anon_vma_only_without_pkeys() {
    let body = "mmap 1 0x100000000000 4K --x private
mmap 1 0x100000001000 4K --- private
mmap 1 0x100000002000 4K --x private
madvise 1 0x100000000000 12K guard_install
mprotect 1 0x100000001000 4K --x
stats all
check
";
    for (pkeys, want) in [("on", 3), ("off", 1)] {
        let s = run("linux", &format!("config pkeys={pkeys}\n{body}"));
        assert_eq!(s[0]["objects"]["anon_vma"].as_u64(), Some(want), "{pkeys}");
        assert_eq!(s[0]["vmas"].as_u64(), Some(want), "{pkeys}");
    }
    // the default is on
    assert_eq!(
        run("linux", body)[0]["objects"]["anon_vma"].as_u64(),
        Some(3)
    );
}

#[test]
fn the_unfaulted_flag_gives_way_to_a_real_anon_vma_and_clears() {
    let t = "mmap 1 0x100000000000 16K rw- private
madvise 1 0x100000000000 4K guard_install
stats all
touch 1 0x100000002000 4K w
stats all
madvise 1 0x100000000000 16K guard_remove
mmap 1 0x100000010000 16K rw- private
madvise 1 0x100000010000 4K guard_install
madvise 1 0x100000010000 16K guard_remove
mmap 1 0x100000014000 16K rw- private
dump 1
check
";
    let out = run_trace(AnonVmaRmap::with_preset("unfaulted").unwrap(), t).unwrap();
    let s = stats(&out);
    assert_eq!(
        (
            s[0]["objects"]["anon_vma"].as_u64(),
            s[1]["objects"]["anon_vma"].as_u64()
        ),
        (Some(0), Some(1))
    );
    // the flag was cleared, so the new neighbour merged
    assert!(out.contains("100000010000-100000018000 rw-p"), "{out}");
    assert!(!out.contains(" failed: "), "{out}");
}

/// A longer property run over every preset (`cargo test -p anonvma --
/// --ignored`, with `RMAP_PROPTEST_SEED=N` to explore further).
#[test]
#[ignore]
fn deep_property_run() {
    for p in PRESET_NAMES {
        rmap_core::props::random_ops_under_pressure(|| AnonVmaRmap::with_preset(p).unwrap(), 2000);
    }
}

/// A fork family under reclaim: a parent writes a heap, 8 children each
/// COW-write it, then reclaim walks the children's pages.
fn family_under_reclaim() -> String {
    let mut t = String::from(
        "config ram=16M\nmmap 1 0x100000000000 64K rw- private\ntouch 1 0x100000000000 64K w\n",
    );
    for c in 2..=9 {
        t.push_str(&format!("fork 1 {c}\ntouch {c} 0x100000000000 64K w\n"));
    }
    t.push_str("reclaim 64\nstats all\ncheck\n");
    t
}

/// The anon_vma lock's line of `stats all` for `preset` on `trace`.
fn anon_vma_locks(preset: &str, trace: &str) -> serde_json::Value {
    run(preset, trace).pop().unwrap()["locks"]["anon_vma"].clone()
}

/// The history of the anon_vma lock, in counts: one family-wide lock in
/// 2.6.7, one lock per anon_vma in 2.6.34 (parent's and each child's),
/// only the root's from 2.6.36 on, and walks in shared mode from 3.8.
#[test]
fn fork_family_locks_follow_each_era() {
    let t = family_under_reclaim();
    let kinds = [
        ("andrea-2.6.7", "spin", 1),
        ("rmap40-2.6.7", "spin", 1),
        ("avc-2.6.34", "spin", 9),
        ("root-2.6.36", "spin", 1),
        ("mutex-3.0", "mutex", 1),
        ("rwsem-3.8", "rwsem", 1),
        ("reuse-3.19", "rwsem", 1),
        ("linux", "rwsem", 1),
    ];
    for (p, kind, instances) in kinds {
        let l = anon_vma_locks(p, &t);
        assert_eq!(l["kind"], kind, "{p}: {l}");
        assert_eq!(l["instances"], instances, "{p}: {l}");
        let shared = l["shared"].as_u64().unwrap();
        if kind == "rwsem" {
            assert!(shared > 0, "{p}: walks take the rwsem shared: {l}");
        } else {
            assert_eq!(shared, 0, "{p}: {l}");
        }
        // everything went to one instance where there is one
        if instances == 1 {
            assert_eq!(l["top_share"], 1.0, "{p}: {l}");
        }
    }
}

/// `i_mmap` across eras: a shared file mapped by a family, written and
/// reclaimed, is walked under a spinlock trylock in 2.6.7, an exclusive
/// mutex in 3.0 and a shared rwsem from 3.19.
#[test]
fn i_mmap_lock_kinds_by_era() {
    let mut t = String::from(
        "config ram=16M\nfile f 64K\nmmap 1 0x100000000000 64K rw- shared file=f\n\
         touch 1 0x100000000000 64K w\n",
    );
    for c in 2..=4 {
        t.push_str(&format!("fork 1 {c}\ntouch {c} 0x100000000000 64K r\n"));
    }
    t.push_str("reclaim 64\nstats all\ncheck\n");
    for (p, kind, shared) in [
        ("rmap40-2.6.7", "spin", false),
        ("mutex-3.0", "mutex", false),
        ("reuse-3.19", "rwsem", true),
        ("linux", "rwsem", true),
    ] {
        let l = run(p, &t).pop().unwrap()["locks"]["i_mmap"].clone();
        assert_eq!(l["kind"], kind, "{p}: {l}");
        assert_eq!(l["instances"], 1, "{p}: {l}");
        assert_eq!(l["shared"].as_u64().unwrap() > 0, shared, "{p}: {l}");
        assert!(l["hold_units"].as_u64().unwrap() > 0, "{p}: {l}");
    }
}

/// A moved VMA joins every anon_vma of the one it came from
/// (`anon_vma_clone`; 2.6.7: the family list), and a piece moved back
/// re-merges; DONTUNMAP of a whole VMA unlinks its chain. The `linux`
/// counts are the live kernel's (the same trace agrees under
/// `kernel-diff --backend anonvma:linux`).
#[test]
fn moves_link_the_new_vma_and_dontunmap_unlinks_the_old() {
    let t = "mmap 1 0x100000000000 16K rw- private
touch 1 0x100000000000 16K w
fork 1 2
stats all
mremap 2 0x100000000000 8K 8K maymove fixed=0x100000100000
stats all
mremap 2 0x100000100000 8K 8K maymove fixed=0x100000000000
stats all
mremap 1 0x100000000000 16K 16K maymove dontunmap fixed=0x100000200000
stats all
check
";
    let counts = |p: &str| -> Vec<[u64; 3]> {
        run(p, t)
            .iter()
            .map(|s| {
                ["anon_vma", "anon_vma_chain", "vm_area_struct"]
                    .map(|k| s["objects"][k].as_u64().unwrap_or(0))
            })
            .collect()
    };
    let linux = [[2, 3, 2], [2, 5, 3], [2, 3, 2], [2, 3, 3]];
    assert_eq!(counts("linux"), linux);
    assert_eq!(counts("avc-2.6.34"), linux);
    // one anon_vma per family, no chains
    assert_eq!(
        counts("andrea-2.6.7"),
        [[1, 0, 2], [1, 0, 3], [1, 0, 2], [1, 0, 3]]
    );
}

/// Multi-VMA moves exist from 6.17: only the `linux` (and `unfaulted`)
/// presets move a range that spans VMAs; the older eras give EFAULT.
#[test]
fn a_move_across_vmas_only_from_6_17() {
    let t = "mmap 1 0x100000000000 8K rw- private
mmap 1 0x100000002000 8K r-- private
touch 1 0x100000000000 8K w
mremap 1 0x100000000000 16K 16K maymove fixed=0x100000100000
dump 1
check
";
    for p in PRESET_NAMES {
        let out = run_trace(AnonVmaRmap::with_preset(p).unwrap(), t).unwrap();
        let moved = !out.contains("err 4 mremap EFAULT");
        assert_eq!(moved, matches!(p, "linux" | "unfaulted"), "{p}: {out}");
        assert!(!out.contains(" failed: "), "{p}: {out}");
    }
}

/// The locks of a move, in order: mmap_lock (write); for a copy that
/// merged at or below its old offset (`need_rmap_locks`) the rmap locks,
/// the file's i_mmap then the anon_vma, around the page-table locks of
/// each pair of tables (old, then new nested); a fresh copy takes none.
#[test]
fn a_move_takes_the_rmap_locks_only_where_6_18_does() {
    use rmap_core::locks::{LockClass as C, LockRecording};
    use rmap_core::{Config, System};
    let cfg = Config {
        locks: LockRecording::Events,
        ..Config::default()
    };
    let mut s = System::new(cfg, AnonVmaRmap::with_preset("linux").unwrap()).unwrap();
    let t = "file f 64K
mmap 1 0x100000000000 64K rw- private file=f
touch 1 0x100000000000 64K w
mremap 1 0x100000008000 8K 8K maymove fixed=0x1000003ff000
mremap 1 0x1000003ff000 8K 8K maymove fixed=0x100000008000
";
    // per mremap: its acquisitions in order (class, nested), and for each
    // page-table lock taken the classes held at that moment
    type Acquired = Vec<(C, bool)>;
    let mut per_move: Vec<(Acquired, Vec<Vec<C>>)> = Vec::new();
    for tl in rmap_core::trace::parse(t, "t").unwrap() {
        s.apply(&tl.op).unwrap();
        if tl.op.name() != "mremap" {
            continue;
        }
        let (mut acq, mut under, mut held) = (Vec::new(), Vec::new(), Vec::new());
        for e in s.core.locks.events() {
            if !e.acquire {
                let i = held.iter().rposition(|&c| c == e.acq.class).unwrap();
                held.remove(i);
                continue;
            }
            if e.acq.class == C::Ptl {
                under.push(held.clone());
            }
            acq.push((e.acq.class, e.acq.nested));
            held.push(e.acq.class);
        }
        per_move.push((acq, under));
    }
    let ((fresh, fresh_under), (back, back_under)) = (&per_move[0], &per_move[1]);
    let rmap_held = |u: &Vec<C>| u.contains(&C::IMmap) && u.contains(&C::AnonVma);
    // to a fresh place across a table boundary: no rmap locks, the new
    // table's lock nested in the old one's
    assert_eq!(fresh[0], (C::MmapLock, false), "{fresh:?}");
    assert!(fresh.contains(&(C::Ptl, true)), "{fresh:?}");
    assert!(
        !fresh_under.iter().any(rmap_held),
        "no need_rmap_locks: {fresh_under:?}"
    );
    // back beside where it came from: it merges at a lower offset, and
    // its page-table locks are taken inside i_mmap and the anon_vma
    assert!(back.contains(&(C::Ptl, true)), "{back:?}");
    assert!(
        back_under.iter().filter(|u| rmap_held(u)).count() >= 2,
        "i_mmap, anon_vma, then both ptls: {back_under:?}"
    );
    assert_eq!(s.core.locks.check(), Ok(()));
    s.validate().unwrap();
}
