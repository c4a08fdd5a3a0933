//! Tests of the objrmap presets: the conformance suite, property tests,
//! and the history each preset claims.

use super::*;
use rmap_core::conformance::{run_suite, run_trace};

#[test]
fn every_preset_passes_the_conformance_suite() {
    for p in PRESETS {
        run_suite(|| ObjRmap::with_preset(p).unwrap());
    }
}

#[test]
fn every_preset_passes_the_property_tests() {
    for p in PRESETS {
        rmap_core::props::random_ops_under_pressure(|| ObjRmap::with_preset(p).unwrap(), 192);
        rmap_core::props::read_only_ops_under_pressure(|| ObjRmap::with_preset(p).unwrap(), 64);
    }
}

fn rmap_stats(out: &str) -> (u64, u64, u64) {
    let line = out
        .lines()
        .rfind(|l| l.contains("\"rmap\""))
        .expect("stats all");
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    let r = &v["rmap"];
    (
        r["walks"].as_u64().unwrap(),
        r["vmas_visited"].as_u64().unwrap(),
        r["hits"].as_u64().unwrap(),
    )
}

/// The database "indirect buffer cache": one process maps one shared
/// file as 1000 VMAs of 8 pages at distinct offsets, touches them, and
/// reclaim unmaps pages. A list visits every VMA per walk, the tree
/// only the one that covers the page.
#[test]
fn db_window_list_walks_visit_100x_more_vmas_than_the_tree() {
    let mut t = String::from("config ram=64M swap=64M\nfile db 32M\n");
    for i in 0..1000u64 {
        // windows two pages apart in address space never merge
        let addr = 0x1000_0000_0000u64 + i * 10 * 4096;
        let off = ((i * 7919) % 1000) * 8 * 4096;
        t.push_str(&format!(
            "mmap 1 {addr:#x} 32K rw- shared file=db off={off:#x}\ntouch 1 {addr:#x} 32K r\n"
        ));
    }
    t.push_str("reclaim 2000\ncheck\nstats all\n");
    let mut per_walk = vec![];
    for p in ["mccracken", "prio", "anonmm"] {
        let out = run_trace(ObjRmap::with_preset(p).unwrap(), &t).unwrap();
        assert!(!out.contains(" failed: "), "{p}: {out}");
        let (walks, visited, hits) = rmap_stats(&out);
        assert!(
            walks >= 2000 && hits >= 2000,
            "{p}: {walks} walks, {hits} hits"
        );
        per_walk.push(visited as f64 / walks as f64);
    }
    assert!(
        per_walk[0] >= 100.0 * per_walk[1],
        "list {} vs tree {} VMAs per walk",
        per_walk[0],
        per_walk[1]
    );
    assert!(
        (per_walk[1] - 1.0).abs() < 1e-9,
        "the tree visits exactly the covering VMA: {}",
        per_walk[1]
    );
    // and the scan oracle agrees on what they found: `check` above ran
    // validate, which compares every walk with a scan of all PTEs.
}

#[test]
fn anonmm_walk_visits_each_mm_of_the_family() {
    let mut t = String::from("mmap 1 0x100000000000 4K rw- private\ntouch 1 0x100000000000 4K w\n");
    for c in 2..=5 {
        t.push_str(&format!("fork 1 {c}\n"));
    }
    t.push_str("exec 5\nreclaim 1\ncheck\nstats all\n");
    let out = run_trace(ObjRmap::with_preset("anonmm").unwrap(), &t).unwrap();
    assert!(!out.contains(" failed: "), "{out}");
    let line = out.lines().last().unwrap();
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    // process 5 exec'd: a new mm with no family yet; four records remain
    assert_eq!(v["objects"]["anonmm"], 4, "{line}");
    let (walks, visited, hits) = rmap_stats(&out);
    assert!(walks >= 1 && hits == 4 * walks, "{walks} walks {hits} hits");
    assert_eq!(visited, 4 * walks);
}

/// The lock protocols of the objrmap eras: McCracken's `i_shared_sem`
/// (a semaphore the walks only trylock), the 2.6.7 `i_mmap_lock`
/// spinlock (also trylocked), anonmm's family lock; every page's
/// mapcount under its chain or map lock.
#[test]
fn lock_classes_of_each_era() {
    let mut t = String::from(
        "config ram=16M\nfile f 64K\nmmap 1 0x100000000000 64K rw- shared file=f\n\
         touch 1 0x100000000000 64K w\nmmap 1 0x100000100000 64K rw- private\n\
         touch 1 0x100000100000 64K w\n",
    );
    for c in 2..=4 {
        t.push_str(&format!("fork 1 {c}\ntouch {c} 0x100000000000 64K r\n"));
    }
    t.push_str("reclaim 128\nstats all\ncheck\n");
    let locks = |p: &str| -> serde_json::Value {
        let out = run_trace(ObjRmap::with_preset(p).unwrap(), &t).unwrap();
        assert!(!out.contains(" failed: "), "{p}: {out}");
        let line = out.lines().rfind(|l| l.contains("\"locks\"")).unwrap();
        serde_json::from_str::<serde_json::Value>(line).unwrap()["locks"].clone()
    };
    let m = locks("mccracken");
    assert_eq!(m["i_mmap"]["kind"], "semaphore", "{m}");
    assert_eq!(m["pte_chain"]["kind"], "bit_spin", "{m}");
    assert!(m["pte_chain"]["acquired"].as_u64().unwrap() > 0, "{m}");
    let p = locks("prio");
    assert_eq!(p["i_mmap"]["kind"], "spin", "{p}");
    let a = locks("anonmm");
    assert_eq!(a["anonmm"]["kind"], "spin", "{a}");
    assert_eq!(a["anonmm"]["instances"], 1, "one family: {a}");
    assert!(a["page_map_lock"]["acquired"].as_u64().unwrap() > 0, "{a}");
    assert!(a.get("pte_chain").is_none(), "{a}");
    for l in [&m, &p, &a] {
        assert!(l["i_mmap"]["acquired"].as_u64().unwrap() > 0, "{l}");
    }
}

fn stats_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .filter(|l| l.contains("\"objects\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn run_ok(p: &str, t: &str) -> Vec<serde_json::Value> {
    let out = run_trace(ObjRmap::with_preset(p).unwrap(), t).unwrap();
    assert!(
        !out.contains(" failed: ") && !out.contains("err "),
        "{p}: {out}"
    );
    stats_lines(&out)
}

/// A 64-page file mapped in reverse by remap_file_pages, read, forked,
/// then reclaimed. McCracken's objrmap and the prio-tree RFC move each
/// page mapped out of place onto a PTE chain (`page_convert_anon`), so
/// a walk reads two chain entries; anonmm (rmap 8 on) leaves nonlinear
/// VMAs to try_to_unmap's 32-PTE cluster scan. No era scanned the
/// nonlinear VMAs whole on every walk (which cost 128 PTEs a walk here).
#[test]
fn nonlinear_pages_as_each_era_handled_them() {
    let mut t =
        String::from("config ram=64M\nfile f 256K\nmmap 1 0x100000000000 256K rw- shared file=f\n");
    for i in 0..64u64 {
        t.push_str(&format!(
            "remap 1 {:#x} 4K {}\n",
            0x1000_0000_0000u64 + i * 4096,
            63 - i
        ));
    }
    t.push_str(
        "touch 1 0x100000000000 256K r\nfork 1 2\nstats all\nreclaim 64\nstats all\ncheck\n",
    );
    for p in PRESETS {
        let s = run_ok(p, &t);
        let r = &s[1]["rmap"];
        let (walks, ptes) = (
            r["walks"].as_u64().unwrap(),
            r["ptes_checked"].as_u64().unwrap(),
        );
        let evicted = s[1]["counters"]["file_evictions"].as_u64().unwrap();
        assert_eq!(evicted, 64, "{p}: every page goes: {}", s[1]);
        match p {
            "mccracken" | "prio" => {
                assert_eq!(s[0]["objects"]["pte_chain"].as_u64(), Some(64), "{p}");
                assert!(ptes <= 2 * walks, "{p}: {ptes} PTEs in {walks} walks");
            }
            _ => {
                // each cluster of 32 PTEs is read about twice (aged,
                // then unmapped), in two VMAs
                assert!(ptes <= 6 * 128, "{p}: {ptes} PTEs in {walks} walks");
            }
        }
    }
}

/// Eight processes map a one-page file; only the first touches it.
/// Paging it out: the list (McCracken) visits every VMA, the 2.6.7-rc1
/// walks stop at the one mapping.
#[test]
fn file_walks_stop_once_every_mapping_is_found_from_rmap_7() {
    let mut t = String::from("file f 4K\n");
    for c in 2..=9 {
        t.push_str(&format!(
            "fork 1 {c}\nmmap {c} 0x100000000000 4K r-- shared file=f\n"
        ));
    }
    t.push_str("touch 2 0x100000000000 4K r\nstats all\nmadvise 2 0x100000000000 4K pageout\nstats all\ncheck\n");
    for (p, visits) in [("mccracken", 8), ("prio", 1), ("anonmm", 1)] {
        let s = run_ok(p, &t);
        let d = s[1]["rmap"]["vmas_visited"].as_u64().unwrap()
            - s[0]["rmap"]["vmas_visited"].as_u64().unwrap();
        assert_eq!(d, visits, "{p}");
    }
}

/// anonmm tries the page's own mm first: a page a fork child COW-wrote
/// is found in one visit, not after the rest of the family.
#[test]
fn anonmm_tries_the_pages_own_mm_first() {
    let mut t = String::from("mmap 1 0x100000000000 4K rw- private\ntouch 1 0x100000000000 4K w\n");
    for c in 2..=5 {
        t.push_str(&format!("fork 1 {c}\n"));
    }
    t.push_str("touch 5 0x100000000000 4K w\nstats all\nmadvise 5 0x100000000000 4K pageout\nstats all\ncheck\n");
    let s = run_ok("anonmm", &t);
    let d = s[1]["rmap"]["vmas_visited"].as_u64().unwrap()
        - s[0]["rmap"]["vmas_visited"].as_u64().unwrap();
    assert_eq!(d, 1);
}

/// Fork before 2.6.14 copies the PTEs of a shared file mapping too:
/// the child maps the parent's 16 pages at once. Objects are the eras'
/// x86-64 sizes.
#[test]
fn fork_copies_file_ptes_and_objects_have_their_eras_sizes() {
    let t = "file f 64K
mmap 1 0x100000000000 64K rw- shared file=f
touch 1 0x100000000000 64K r
mmap 1 0x100000100000 8K rw- private
touch 1 0x100000100000 8K w
fork 1 2
stats 2
stats all
check
";
    for (p, vma, anon) in [
        ("mccracken", 128, ("pte_chain", 64)),
        ("prio", 144, ("pte_chain", 64)),
        ("anonmm", 144, ("anonmm", 40)),
    ] {
        let out = run_trace(ObjRmap::with_preset(p).unwrap(), t).unwrap();
        assert!(!out.contains(" failed: "), "{p}: {out}");
        let pid: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        assert_eq!(pid["rss_file"].as_u64(), Some(16), "{p}");
        let s = stats_lines(&out);
        let b = &s[0]["object_bytes"];
        assert_eq!(b["vm_area_struct"].as_u64(), Some(vma), "{p}");
        assert_eq!(b[anon.0].as_u64(), Some(anon.1), "{p}");
    }
}

fn counters(out: &str) -> serde_json::Value {
    let line = out.lines().rfind(|l| l.contains("\"counters\"")).unwrap();
    serde_json::from_str::<serde_json::Value>(line).unwrap()["counters"].clone()
}

/// anonmm's rule from "rmap 11 mremap moves": a page shared with
/// another mm of the family is copied before it moves (its one
/// recorded address stays right for the others); an exclusive page
/// just records its new address. A page on swap moves as a swap entry
/// and is copied when the second mm swaps it in at the other address.
/// The other presets (PTE chains) move the chain entries and copy
/// nothing.
#[test]
fn anonmm_copies_shared_pages_on_a_move_and_at_swap_in() {
    let t = "mmap 1 0x100000000000 64K rw- private
touch 1 0x100000000000 64K w
fork 1 2
touch 2 0x100000000000 16K w
mremap 1 0x100000000000 64K 64K maymove fixed=0x100000100000
check
stats all
";
    let out = run_trace(ObjRmap::with_preset("anonmm").unwrap(), t).unwrap();
    assert!(!out.contains(" failed: "), "{out}");
    // 12 pages shared, 4 already copied by the child's writes
    assert_eq!(counters(&out)["move_cows"], 12, "{out}");
    for p in ["mccracken", "prio"] {
        let out = run_trace(ObjRmap::with_preset(p).unwrap(), t).unwrap();
        assert!(!out.contains(" failed: "), "{p}: {out}");
        assert_eq!(counters(&out)["move_cows"], 0, "{p}");
    }
    let swap = "config ram=512K swap=4M
mmap 1 0x100000000000 64K rw- private
touch 1 0x100000000000 64K w
fork 1 2
reclaim 1000
stats all
mremap 1 0x100000000000 64K 64K maymove fixed=0x100000100000
touch 1 0x100000100000 64K r
touch 2 0x100000000000 64K r
check
stats all
";
    let out = run_trace(ObjRmap::with_preset("anonmm").unwrap(), swap).unwrap();
    assert!(!out.contains(" failed: "), "{out}");
    let lines: Vec<&str> = out.lines().filter(|l| l.contains("counters")).collect();
    let swapped: u64 = serde_json::from_str::<serde_json::Value>(lines[0]).unwrap()["swap_used"]
        .as_u64()
        .unwrap();
    assert_eq!(swapped, 16, "{out}");
    // no copy at the move (swap entries); one per page the second mm
    // swapped in while the first mapped it at its new address
    assert_eq!(counters(&out)["move_cows"], 16, "{out}");
}

/// Before 6.17 a move may not span VMAs.
#[test]
fn a_move_across_vmas_is_refused() {
    let t = "mmap 1 0x100000000000 8K rw- private\nmmap 1 0x100000002000 8K r-- private\n\
             mremap 1 0x100000000000 16K 16K maymove fixed=0x100000100000\n";
    for p in PRESETS {
        let out = run_trace(ObjRmap::with_preset(p).unwrap(), t).unwrap();
        assert_eq!(out, "err 3 mremap EFAULT\n", "{p}");
    }
}
