//! The model as a source: scripts of real ops, determinism of whole runs.

use rmap_core::ops::{Access, ConfigItem, MapFlags, Prot};
use rmap_core::{Op, Presets};
use rmap_traces::scenario::scaling::Workload;
use rmap_vcpu::Costs;
use rmap_vcpu::engine::Source;
use rmap_vcpu::model::ModelSource;
use rmap_vcpu::script::{Probes, Script, flag};

const BASE: u64 = 0x1000_0000_0000;

/// A root with 16 written pages and `kids` children that wrote theirs;
/// one worker CPU whose only op is `reclaim 32`.
fn family(kids: u32) -> Workload {
    let mut setup = vec![
        Op::Config(vec![ConfigItem::Ram(64 << 20), ConfigItem::Swap(64 << 20)]),
        Op::Mmap {
            pid: 1,
            addr: BASE,
            len: 16 << 12,
            prot: Prot::RW,
            flags: MapFlags {
                shared: false,
                noreserve: false,
                many_prots: false,
            },
            file: None,
            off: 0,
        },
        Op::Touch {
            pid: 1,
            addr: BASE,
            len: 16 << 12,
            access: Access::Write,
        },
    ];
    for k in 0..kids {
        setup.push(Op::Fork {
            parent: 1,
            child: 2 + k,
        });
        setup.push(Op::Touch {
            pid: 2 + k,
            addr: BASE,
            len: 16 << 12,
            access: Access::Write,
        });
    }
    Workload {
        setup,
        cpus: vec![vec![Op::Reclaim { pages: 32 }]],
        reclaimers: 0,
        main_op: "reclaim",
    }
}

#[test]
fn a_family_wide_walk_is_one_probe_run_per_walk() {
    let rmap = anonvma::AnonVmaRmap::with_preset("andrea-2.6.7").unwrap();
    let mut src = ModelSource::new(family(200), rmap, &Costs::default_table()).unwrap();
    let mut s = Script::default();
    src.next(0, &mut s).unwrap();
    let walks = s
        .steps
        .iter()
        .filter(|x| x.is(flag::WALK) && x.is(flag::ACQUIRE))
        .count();
    assert!(walks >= 32, "{walks} walks");
    // a walk goes down the family's list of 201 VMAs, a probe each, until
    // it has found every mapping of the page (2.6.7's walks stop when the
    // mapcount reaches zero): a page only one child maps is found halfway
    // down on average
    let probes: u64 = s.runs.iter().map(|r| r.ids.len()).sum();
    assert!(
        probes >= 90 * walks as u64 / 2, // two walk locks per walk (page_map_lock, anon_vma)
        "{probes} probes, {} steps, {walks} walks",
        s.steps.len()
    );
    // the walks share their lists (runs this short are lists)
    let distinct: std::collections::BTreeSet<*const u32> = s
        .runs
        .iter()
        .map(|r| match &r.ids {
            Probes::List(l) => l.as_ptr(),
            Probes::Set { .. } => panic!("a run of {} probes as a set", r.ids.len()),
        })
        .collect();
    assert!(
        distinct.len() * 10 < s.runs.len(),
        "{} lists",
        distinct.len()
    );
    assert!(
        s.steps.len() < 40 * walks,
        "{} steps for {walks} walks: the probes were not compressed",
        s.steps.len()
    );
}

#[test]
fn two_runs_of_a_scaling_scenario_give_identical_rows() {
    let form = rmap_traces::scenario::resolve("aim7").unwrap()[0];
    let costs = Costs::default_table();
    for spec in ["anonvma:andrea-2.6.7", "anonvma:linux", "pte-chain:rik"] {
        let a = rmap_vcpu::suite::run_form(&form, 4, spec, &costs).unwrap();
        let b = rmap_vcpu::suite::run_form(&form, 4, spec, &costs).unwrap();
        assert_eq!(
            rmap_vcpu::suite::values(&a, 1.0),
            rmap_vcpu::suite::values(&b, 1.0),
            "{spec}"
        );
        assert!(a.report.worker_ops > 0 && a.report.makespan > 0);
    }
}

#[test]
fn every_scaling_scenario_runs_on_every_preset() {
    let costs = Costs::default_table();
    for form in rmap_traces::scenario::all_forms()
        .into_iter()
        .filter(|f| f.is_scaling())
    {
        for spec in rmap_registry::all_specs() {
            let o = rmap_vcpu::suite::run_form(&form, 2, &spec, &costs)
                .unwrap_or_else(|e| panic!("{} on {spec}: {e}", form.full_name()));
            assert_eq!(o.op_errors, 0, "{} on {spec}", form.full_name());
            assert!(o.report.worker_ops > 0);
        }
    }
}
