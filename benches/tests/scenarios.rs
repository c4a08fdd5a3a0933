//! The scenario registry: every form builds deterministically, rejects
//! impossible sizes, replays without errors on every backend preset with the
//! model's full validation and data-integrity check, round-trips through the
//! trace text, and shows the history it is there to show (at small sizes).

use rmap_bench::backends::{self, WithBackend};
use rmap_bench::real::REAL_TRACES;
use rmap_bench::runner::measure_spec;
use rmap_bench::scenario::{self, Form};
use rmap_core::replay::apply_config;
use rmap_core::{Config, Op, OpError, ReverseMap, System};

/// Runs ops with integrity checking on; returns the number of failed
/// syscalls, or why the run or its final validation failed.
struct Validated<'a>(&'a [Op]);

impl WithBackend for Validated<'_> {
    type Out = Result<u64, String>;
    fn run<R: ReverseMap>(self, rmap: R) -> Self::Out {
        let mut cfg = Config::default();
        let mut start = 0;
        while let Some(Op::Config(items)) = self.0.get(start) {
            apply_config(&mut cfg, items);
            start += 1;
        }
        let mut sys = System::new(cfg, rmap)?;
        let mut errors = 0;
        for (i, op) in self.0.iter().enumerate().skip(start) {
            match sys.apply(op) {
                Ok(_) => {}
                Err(OpError::Errno(e)) => {
                    errors += 1;
                    if errors == 1 {
                        eprintln!("op {} `{op:?}` failed: {e:?}", i + 1);
                    }
                }
                Err(e) => return Err(format!("op {}: {e}", i + 1)),
            }
        }
        sys.validate()?;
        sys.check_integrity()?;
        Ok(errors)
    }
}

/// Forms that can be built: all but `real-program` when no real traces are
/// compiled in.
fn buildable() -> Vec<Form> {
    scenario::all_forms()
        .into_iter()
        .filter(|f| f.scenario.name != "real-program" || !REAL_TRACES.is_empty())
        .collect()
}

fn form(name: &str) -> Form {
    let v = scenario::resolve(name).unwrap();
    assert_eq!(v.len(), 1, "{name}");
    v[0]
}

fn metric(name: &str, size: u64, spec: &str, m: &str) -> f64 {
    let ops = form(name).build(size).unwrap();
    let r = measure_spec(&ops, spec).unwrap();
    r.get(m)
        .unwrap_or_else(|| panic!("{name} on {spec}: no {m} in {r:?}"))
}

#[test]
fn the_registry_has_the_fourteen_scenarios_in_order() {
    let names: Vec<&str> = scenario::SCENARIOS.iter().map(|s| s.name).collect();
    assert_eq!(
        names,
        [
            "fork-storm",
            "fork-chain",
            "cow-server",
            "file-share",
            "db-window",
            "nonlinear",
            "uml",
            "glibc-libs",
            "heap-churn",
            "remerge",
            "guard-fork",
            "reclaim-pressure",
            "fault-storm",
            "real-program",
        ]
    );
    let known = [
        "time_ns",
        "fork_ns_per_page",
        "exit_ns_per_page",
        "fault_ns_p50",
        "fault_ns_p99",
        "fault_ns_p999",
        "anon_fault_ns_mean",
        "file_fault_ns_mean",
        "cow_fault_ns_mean",
        "swapin_fault_ns_mean",
        "faults",
        "mprotect_ns_per_call",
        "reclaim_pages_per_s",
        "reclaimed_pages",
        "swapins",
        "walks",
        "walk_vmas_visited_per_walk",
        "walk_ptes_checked_per_walk",
        "kernel_bytes_peak",
        "vmas_peak",
        "vmas_end",
        "anon_vma_peak",
        "anon_vma_chain_peak",
        "pte_chain_peak",
        "anonmm_peak",
        "op_errors",
    ];
    for s in scenario::SCENARIOS {
        assert!(!s.key_metrics.is_empty(), "{}", s.name);
        for m in s.key_metrics {
            assert!(known.contains(m), "{}: {m} is not a runner metric", s.name);
        }
        assert_eq!(s.quick_sizes.len(), 1, "{}", s.name);
        assert!((3..=4).contains(&s.full_sizes.len()), "{}", s.name);
        assert!(s.full_sizes.windows(2).all(|w| w[0] < w[1]), "{}", s.name);
    }
    // the units the kernel benchmark uses for the same shapes
    for n in ["fork-storm", "fault-storm"] {
        let s = scenario::SCENARIOS.iter().find(|s| s.name == n).unwrap();
        assert_eq!(s.size_unit, "MiB");
    }
}

#[test]
fn every_form_builds_deterministically_and_rejects_bad_sizes() {
    for f in buildable() {
        let s = f.scenario;
        let mut sizes = vec![s.tiny_size];
        sizes.extend(s.quick_sizes);
        sizes.extend(s.full_sizes);
        for size in sizes {
            let name = f.full_name();
            let a = f
                .build(size)
                .unwrap_or_else(|e| panic!("{name} {size}: {e}"));
            assert!(matches!(a.first(), Some(Op::Config(_))), "{name}");
            assert!(
                !a.iter().skip(1).any(|o| matches!(o, Op::Config(_))),
                "{name}"
            );
            if size == s.tiny_size {
                assert_eq!(a, f.build(size).unwrap(), "{name} is not deterministic");
            }
        }
        for bad in [0, u64::MAX, u64::MAX / 4096] {
            let e = f.build(bad).unwrap_err();
            assert!(e.contains("size"), "{}: {e}", f.full_name());
        }
    }
    for s in scenario::SCENARIOS {
        assert!(
            (s.build)("no-such-variant", s.tiny_size).is_err(),
            "{}",
            s.name
        );
    }
}

#[test]
fn real_program_without_traces_is_a_clear_error() {
    let forms = scenario::resolve("real-program").unwrap();
    if REAL_TRACES.is_empty() {
        assert_eq!(forms.len(), 1);
        let e = forms[0].build(1).unwrap_err();
        assert!(e.contains("REAL_TRACES"), "{e}");
    } else {
        assert_eq!(forms.len(), REAL_TRACES.len());
        // k instances: k times the trace's non-file ops, plus forks
        let one = forms[0].build(1).unwrap();
        let two = forms[0].build(2).unwrap();
        assert!(two.len() > one.len());
    }
}

#[test]
fn tiny_forms_replay_cleanly_on_every_backend() {
    for f in buildable() {
        let ops = f.build(f.scenario.tiny_size).unwrap();
        for spec in backends::all_specs() {
            let errors = backends::with_backend(&spec, Validated(&ops))
                .unwrap()
                .unwrap_or_else(|e| panic!("{} on {spec}: {e}", f.full_name()));
            assert_eq!(errors, 0, "{} on {spec}", f.full_name());
        }
    }
}

#[test]
fn trace_text_parses_back_to_the_same_ops() {
    for f in buildable() {
        let size = f.scenario.tiny_size;
        let text = rmap_bench::suite::trace_text(&f.full_name(), Some(size)).unwrap();
        let back: Vec<Op> = rmap_core::trace::parse(&text, "t")
            .unwrap()
            .into_iter()
            .map(|l| l.op)
            .collect();
        assert_eq!(back, f.build(size).unwrap(), "{}", f.full_name());
    }
}

// ---- the history, at small sizes --------------------------------------------

#[test]
fn fork_chain_grows_only_with_avc() {
    let g = 60;
    let avc = metric("fork-chain", g, "anonvma:avc-2.6.34", "anon_vma_peak");
    let avc2 = metric("fork-chain", 2 * g, "anonvma:avc-2.6.34", "anon_vma_peak");
    assert!(avc >= g as f64 / 2.0 && avc2 > avc * 1.5, "{avc} {avc2}");
    for p in ["linux", "reuse-3.19"] {
        let v = metric(
            "fork-chain",
            2 * g,
            &format!("anonvma:{p}"),
            "anon_vma_peak",
        );
        assert!(v <= 5.0, "{p}: {v}");
    }
}

#[test]
fn cow_server_walks_the_whole_family_only_before_chains() {
    let c = 30;
    let m = "walk_vmas_visited_per_walk";
    let andrea = metric("cow-server", c, "anonvma:andrea-2.6.7", m);
    let avc = metric("cow-server", c, "anonvma:avc-2.6.34", m);
    let linux = metric("cow-server", c, "anonvma:linux", m);
    assert!(andrea >= c as f64, "{andrea}");
    assert!(
        andrea >= 10.0 * avc && andrea >= 10.0 * linux,
        "{andrea} {avc} {linux}"
    );
}

#[test]
fn db_window_list_walks_every_window() {
    let w = 300;
    let m = "walk_vmas_visited_per_walk";
    let list = metric("db-window", w, "objrmap:mccracken", m);
    let tree = metric("db-window", w, "objrmap:prio", m);
    assert!(list >= 100.0 * tree, "{list} {tree}");
}

#[test]
fn heap_churn_merge_policies_differ_by_orders_of_magnitude() {
    let a = 400;
    let v = |p: &str| {
        metric(
            &format!("heap-churn/merge={p}"),
            a,
            "anonvma:linux",
            "vmas_end",
        )
    };
    let (none, prev, both) = (v("none"), v("prev"), v("both"));
    assert!(none >= 100.0 * both, "{none} {both}");
    assert!(none > prev && prev > both, "{none} {prev} {both}");
}

#[test]
fn many_prots_needs_fewer_vmas() {
    let v = |f: &str, n| metric(f, n, "anonvma:linux", "vmas_peak");
    let (off, on) = (v("uml/many_prots=off", 200), v("uml/many_prots=on", 200));
    assert!(off >= 10.0 * on, "uml {off} {on}");
    let (off, on) = (
        v("glibc-libs/many_prots=off", 20),
        v("glibc-libs/many_prots=on", 20),
    );
    assert!(off >= 2.0 * on, "glibc {off} {on}");
}

#[test]
fn guards_need_anon_vmas_except_with_the_unfaulted_flag() {
    let n = 50;
    let linux = metric("guard-fork", n, "anonvma:linux", "anon_vma_peak");
    let unf = metric("guard-fork", n, "anonvma:unfaulted", "anon_vma_peak");
    assert!(linux >= n as f64, "{linux}");
    assert_eq!(unf, 0.0);
}

#[test]
fn remerge_depends_on_anon_vmas() {
    let r = 50;
    let v = |spec: &str| metric("remerge", r, spec, "vmas_end");
    let (chain, linux, andrea) = (
        v("pte-chain:rik"),
        v("anonvma:linux"),
        v("anonvma:andrea-2.6.7"),
    );
    // without anon_vmas everything merges that mprotect made compatible
    assert!(chain < linux && linux < andrea, "{chain} {linux} {andrea}");
}

#[test]
fn real_program_instances_overlap_with_offset_pids() {
    let text = "config ram=16M swap=8M merge=prev\n\
        file libc.so 64K\n\
        mmap 1 0x100000000000 64K r-x private file=libc.so\n\
        touch 1 0x100000000000 64K r\n\
        fork 1 2\n\
        mmap 2 0x100000100000 8K rw- private\n\
        touch 2 0x100000100000 8K w\n\
        stats all\n\
        exit 2\n";
    let ops = scenario::real_instances("t", text, 3).unwrap();
    let Op::Config(items) = &ops[0] else {
        panic!("{ops:?}")
    };
    assert!(items.contains(&rmap_core::ops::ConfigItem::Ram(48 << 20)));
    assert!(items.contains(&rmap_core::ops::ConfigItem::Merge(
        rmap_core::MergePolicy::PrevOnly
    )));
    // one file declaration; the extra instances' first processes (pids 3
    // and 5, the trace's largest pid being 2) forked from the empty
    // process 1 before anything runs; 6 ops × 3 instances, interleaved
    assert_eq!(
        ops.iter().filter(|o| matches!(o, Op::File { .. })).count(),
        1
    );
    assert_eq!(
        ops[2],
        Op::Fork {
            parent: 1,
            child: 3
        }
    );
    assert_eq!(
        ops[3],
        Op::Fork {
            parent: 1,
            child: 5
        }
    );
    assert_eq!(ops.len(), 4 + 6 * 3);
    assert!(matches!(ops[4], Op::Mmap { pid: 1, .. }));
    assert!(matches!(ops[5], Op::Mmap { pid: 3, .. }));
    assert!(matches!(ops[6], Op::Mmap { pid: 5, .. }));
    assert_eq!(
        ops[12],
        Op::Fork {
            parent: 5,
            child: 6
        }
    );
    for spec in backends::all_specs() {
        let errors = backends::with_backend(&spec, Validated(&ops))
            .unwrap()
            .unwrap();
        assert_eq!(errors, 0, "{spec}");
    }
    assert!(scenario::real_instances("t", text, 0).is_err());
    assert!(scenario::real_instances("t", "bogus line\n", 1).is_err());
}
