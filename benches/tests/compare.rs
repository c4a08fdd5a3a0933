//! `compare` on two runs of the same revision marks no count change and
//! few significant differences; on a run where one backend was made slower
//! on purpose, and a count changed, it marks both.

//!
//! One test function, so that nothing else in this test binary runs at the
//! same time and disturbs the two runs.

use rmap_bench::compare::*;
use rmap_bench::runner::{SuiteOptions, SuiteProgress, run_suite};
use rmap_metrics::{Row, TIME_NS, VMAS_PEAK};

struct Quiet;
impl SuiteProgress for Quiet {
    fn ran(&self, _: &str) {}
    fn scheduled(&self, _: u64) {}
}

fn run() -> Vec<Row> {
    let opts = SuiteOptions {
        forms: rmap_traces::scenario::resolve("heap-churn/merge=both").unwrap(),
        traces: Vec::new(),
        backends: vec![
            "scan:default".into(),
            "anonvma:linux".into(),
            "pte-chain:rik".into(),
        ],
        sizes: Some(vec![300]),
        quick: true,
        reps: 7,
        max_reps: 7,
        ci_target: 0.05,
        max_time: None,
        jobs: 1,
        engine_jobs: 1,
        shard: None,
    };
    run_suite(&opts, &Quiet).unwrap()
}

#[test]
fn compare_marks_real_changes_only() {
    same_revision_marks_no_count_and_few_times();
    a_slower_backend_and_a_changed_count_are_marked();
}

fn same_revision_marks_no_count_and_few_times() {
    let (a, b) = (run(), run());
    let cells = compare(&a, std::slice::from_ref(&b));
    let s = summary(&cells);
    assert_eq!(s.compared, a.len());
    assert_eq!(
        s.counts_changed,
        0,
        "{:?}",
        cells
            .iter()
            .filter(|c| c.mark == Mark::CountChanged)
            .collect::<Vec<_>>()
    );
    assert!(s.timed >= 3);
    // How many times differ significantly depends on the host's noise
    // between the two runs (on a loaded 2-core machine, many): not a
    // property of `compare`, so not asserted here. The second half of the
    // test checks that a real slowdown is marked.
    assert!(s.significant <= s.timed, "{s:?}");
    let md = markdown(&cells, &["a".into(), "b".into()]);
    assert!(md.contains("## heap-churn/merge=both at 300"), "{md}");
    assert!(md.contains("0 exact values"), "{md}");
}

fn a_slower_backend_and_a_changed_count_are_marked() {
    let a = run();
    let mut b = a.clone();
    for r in &mut b {
        if r.backend == "anonvma:linux" && r.metric == TIME_NS.name {
            // Slower than every sample of the base, whatever the host did:
            // twice each sample plus the base's slowest.
            let v = r.sample_values().unwrap();
            let top = v.iter().copied().fold(0.0, f64::max);
            let s: Vec<f64> = v.iter().map(|x| x * 2.0 + top).collect();
            *r = Row::from_samples(&r.key(), &r.metric, &r.unit, &s, r.reps, true);
        }
        if r.backend == "scan:default" && r.metric == VMAS_PEAK.name {
            r.value += 1.0;
        }
    }
    let cells = compare(&a, &[b]);
    let slow = cells
        .iter()
        .find(|c| c.backend == "anonvma:linux" && c.metric == TIME_NS.name)
        .unwrap();
    assert_eq!(slow.mark, Mark::Worse, "{slow:?}");
    let (lo, hi) = slow.ratio_ci.unwrap();
    assert!(lo > 1.0 && hi >= slow.ratio.unwrap(), "{lo} {hi}");
    let count = cells
        .iter()
        .find(|c| c.backend == "scan:default" && c.metric == VMAS_PEAK.name)
        .unwrap();
    assert_eq!(count.mark, Mark::CountChanged);
    assert_eq!(summary(&cells).counts_changed, 1);
    let csv = csv(&cells).unwrap();
    assert!(
        csv.contains(",worse") && csv.contains(",count_changed"),
        "{csv}"
    );
}
