use super::*;
use crate::scenario::forms_of;

fn all_forms() -> Vec<Form> {
    SCALING.iter().flat_map(forms_of).collect()
}

#[test]
fn every_form_builds_at_its_sizes_and_is_deterministic() {
    for f in all_forms() {
        for &n in f.scenario.quick_sizes {
            let a = workload(&f, n).expect("scaling").unwrap();
            let b = workload(&f, n).expect("scaling").unwrap();
            assert_eq!(a, b, "{}", f.full_name());
            assert_eq!(a.cpus.len() as u64, n);
            assert!(matches!(a.setup[0], Op::Config(_)));
            assert!(a.reclaimers >= 1);
            assert!(
                a.cpus.iter().flatten().any(|o| o.name() == a.main_op),
                "{}: no {} op",
                f.full_name(),
                a.main_op
            );
        }
        assert!(workload(&f, 0).unwrap().is_err());
        assert!(workload(&f, MAX_CPUS + 1).unwrap().is_err());
    }
}

#[test]
fn aim7_has_a_thousand_processes_at_64_cpus_and_30000_at_most() {
    assert!(aim7::users(64) >= 1000);
    assert_eq!(aim7::users(1024), 30_000);
    let f = &SCALING[0];
    let w = (f.build)("", 64).unwrap();
    let forks = w.iter().filter(|o| o.name() == "fork").count() as u64;
    // a leader per CPU, and per user the user and two grandchildren
    assert_eq!(forks, 64 + 3 * aim7::users(64));
}

#[test]
fn the_sequential_form_replays_without_errors() {
    use rmap_core::{Config, OpError, Scan, System};
    for f in all_forms() {
        let ops = (f.scenario.build)(f.variant, 2).unwrap();
        let mut cfg = Config {
            integrity: false,
            ..Config::default()
        };
        if let Op::Config(items) = &ops[0] {
            rmap_core::replay::apply_config(&mut cfg, items);
        }
        let mut sys = System::new(cfg, Scan).unwrap();
        for (i, op) in ops.iter().enumerate().skip(1) {
            match sys.apply(op) {
                Ok(_) => {}
                Err(OpError::Errno(e)) => panic!("{} op {i} {op:?}: {e:?}", f.full_name()),
                Err(e) => panic!("{} op {i} {op:?}: {e}", f.full_name()),
            }
        }
        assert!(sys.validate().is_ok(), "{}", f.full_name());
    }
}

#[test]
fn not_a_scaling_form_is_none() {
    let f = crate::scenario::resolve("fork-storm").unwrap()[0];
    assert!(workload(&f, 4).is_none());
}

/// libc-storm sizes its RAM with the mean frames a child holds: a run of
/// one CPU with RAM to spare, one op per touched page, holds that many on
/// average beyond what the libraries and the shell hold.
#[test]
fn libc_storm_s_mean_child_is_what_a_child_holds_on_average() {
    use rmap_core::{Config, PAGE_SIZE, Scan, System};
    let w = libc_storm::libc_storm("", 1).unwrap();
    let mut cfg = Config {
        integrity: false,
        ..Config::default()
    };
    if let Op::Config(items) = &w.setup[0] {
        rmap_core::replay::apply_config(&mut cfg, items);
    }
    cfg.ram *= 16;
    let mut sys = System::new(cfg, Scan).unwrap();
    for op in &w.setup[1..] {
        sys.apply(op).unwrap();
    }
    let used = |s: &System<Scan>| s.core.frames.len() as u64 - s.core.frames.free_count();
    let (mut base, mut sum, mut ops, mut peak) = (None, 0, 0, 0);
    for op in &w.cpus[0] {
        let one_by_one: Vec<Op> = match *op {
            Op::Touch {
                pid,
                addr,
                len,
                access,
            } => (addr..addr + len)
                .step_by(PAGE_SIZE as usize)
                .map(|a| Op::Touch {
                    pid,
                    addr: a,
                    len: PAGE_SIZE,
                    access,
                })
                .collect(),
            _ => vec![op.clone()],
        };
        for o in one_by_one {
            sys.apply(&o).unwrap();
            // from the first exit on, the libraries are all in memory
            if let Some(b) = base {
                let held = used(&sys) - b;
                sum += held;
                peak = peak.max(held);
                ops += 1;
            }
        }
        if op.name() == "exit" && base.is_none() {
            base = Some(used(&sys));
        }
    }
    assert_eq!(ops, 7 * 240, "seven children after the first, 240 ops each");
    assert_eq!(peak, libc_storm::peak_child_frames());
    let mean = sum as f64 / ops as f64;
    let est = libc_storm::mean_child_frames() as f64;
    assert!((mean - est).abs() <= 1.0, "measured {mean}, estimate {est}");
}
