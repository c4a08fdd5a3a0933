//! The scenario registry: every form builds deterministically, rejects
//! impossible sizes, replays without errors on every backend preset with the
//! model's full validation and data-integrity check, and round-trips through
//! the trace text. (That the scenarios show the history they are there to
//! show is tested beside the runner that measures it:
//! `benches/tests/history.rs`.)

use rmap_core::replay::apply_config;
use rmap_core::{Config, NonlinearEra, Op, OpError, ReverseMap, System};
use rmap_registry::{self as backends, WithBackend};
use rmap_traces::real::REAL_TRACES;
use rmap_traces::scenario::{self, Form};

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

#[test]
fn the_registry_has_the_fifteen_scenarios_in_order() {
    let names: Vec<&str> = scenario::SCENARIOS.iter().map(|s| s.name).collect();
    assert_eq!(
        names,
        [
            "fork-storm",
            "fork-storm-file",
            "fork-chain",
            "cow-server",
            "file-share",
            "db-window",
            "nonlinear",
            "uml",
            "glibc-libs",
            "heap-churn",
            "mach-ext2fs",
            "realloc-grow",
            "remerge",
            "guard-fork",
            "reclaim-pressure",
            "fault-storm",
            "real-program",
        ]
    );
    for s in scenario::SCENARIOS {
        assert!(!s.key_metrics.is_empty(), "{}", s.name);
        for m in s.key_metrics {
            assert!(
                rmap_metrics::MODEL.contains(m),
                "{}: {m} is not a runner metric",
                s.name
            );
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

/// The era of a backend's nonlinear mappings.
struct NonlinearOf;

impl WithBackend for NonlinearOf {
    type Out = NonlinearEra;
    fn run<R: rmap_core::Presets>(self, rmap: R) -> NonlinearEra {
        rmap.nonlinear()
    }
}

/// Every tiny form replays without a failed syscall on every preset, but
/// for `remap` with a protection (uml's many_prots what-if), which the
/// presets of 4.0 and later refuse as their kernels do: there every such
/// remap fails, and nothing else.
#[test]
fn tiny_forms_replay_cleanly_on_every_backend() {
    for f in buildable() {
        let ops = f.build(f.scenario.tiny_size).unwrap();
        let chgprot = ops
            .iter()
            .filter(|o| matches!(o, Op::Remap { prot: Some(p), .. } if p.0 != 0))
            .count() as u64;
        for spec in backends::all_specs() {
            let errors = backends::with_backend(&spec, Validated(&ops))
                .unwrap()
                .unwrap_or_else(|e| panic!("{} on {spec}: {e}", f.full_name()));
            let era = backends::with_backend(&spec, NonlinearOf).unwrap();
            let want = if era == NonlinearEra::Emulated {
                chgprot
            } else {
                0
            };
            assert_eq!(errors, want, "{} on {spec}", f.full_name());
        }
    }
}

#[test]
fn trace_text_parses_back_to_the_same_ops() {
    for f in buildable() {
        let size = f.scenario.tiny_size;
        let text = scenario::trace_text(&f.full_name(), Some(size)).unwrap();
        let back: Vec<Op> = rmap_core::trace::parse(&text, "t")
            .unwrap()
            .into_iter()
            .map(|l| l.op)
            .collect();
        assert_eq!(back, f.build(size).unwrap(), "{}", f.full_name());
    }
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
