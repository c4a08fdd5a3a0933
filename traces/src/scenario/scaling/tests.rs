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
