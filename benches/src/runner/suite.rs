//! A sweep: workloads × backends × repetitions, scheduled against host
//! noise, and the rows that summarise it.
//!
//! Schedule: every (workload, backend) job of the shard first runs once
//! untimed (the warm-up: page cache, allocator, branch predictors); then
//! rounds follow, each running one repetition of every job still active in
//! a random order drawn from a generator seeded by [`SCHEDULE_SEED`] and the
//! round, so that a slow minute of the host lands on a random mix of
//! backends rather than on all repetitions of one. After `reps` rounds a
//! job stays active while one of its steering metrics (the timed ones
//! except the tail percentiles) has a confidence interval wider than
//! `ci_target` of its median, until `max_reps` or the `max_time` budget.
//!
//! Scaling scenarios (size = virtual CPUs) are not timed on the host: each
//! of their jobs runs once on the deterministic virtual-CPU engine
//! (`rmap_vcpu::suite::rows`), before the rounds, and needs no repetition.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rmap_core::Op;
use rmap_metrics::{FAULT_NS_P99, FAULT_NS_P999, Metric, Row, RowKey, median_ci};
use rmap_traces::scenario::Form;

use super::measure::{RunResult, measure_spec};

/// The seed of the order repetitions run in.
pub const SCHEDULE_SEED: u64 = 0x5343_4845_4455_4c45;

/// The size unit of a trace file's rows (their size is 1).
pub const TRACE_UNIT: &str = "trace";

/// One op stream to run, under the name its rows carry.
#[derive(Clone)]
pub struct Workload {
    /// A scenario form (`BASE/VARIANT`) or a trace file's name.
    pub name: String,
    pub size: u64,
    pub size_unit: String,
    pub ops: Vec<Op>,
    /// A scaling form, run on the virtual-CPU engine (`ops` is empty).
    pub scaling: Option<Form>,
}

/// The `K`-th (from 1) of `N` disjoint slices of a sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub k: u32,
    pub n: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;
    /// `K/N` with `1 <= K <= N`.
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("`{s}`: expected K/N with 1 <= K <= N, e.g. 2/8");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n) = (
            k.trim().parse::<u32>().map_err(|_| bad())?,
            n.trim().parse::<u32>().map_err(|_| bad())?,
        );
        if k == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }
}

impl Shard {
    /// Whether job number `i` of the sweep (in sweep order) is this
    /// shard's: jobs are dealt round-robin, so every shard gets a share of
    /// each scenario and backend.
    pub fn owns(&self, i: usize) -> bool {
        i % self.n as usize == (self.k - 1) as usize
    }
}

/// What `run` runs.
#[derive(Clone)]
pub struct SuiteOptions {
    pub forms: Vec<Form>,
    /// Trace files run as workloads (name, ops).
    pub traces: Vec<Workload>,
    pub backends: Vec<String>,
    /// Sizes for every form; `None` uses each scenario's own (quick or full).
    pub sizes: Option<Vec<u64>>,
    pub quick: bool,
    /// Repetitions every job gets (at least 1).
    pub reps: u32,
    /// Repetitions a job may grow to while its intervals are wide.
    pub max_reps: u32,
    /// Relative width (`(hi - lo) / median`) an interval must reach.
    pub ci_target: f64,
    /// No new round starts after this much time (the first `reps` rounds
    /// always run).
    pub max_time: Option<Duration>,
    /// Worker threads (1: one run at a time, the most faithful timings).
    pub jobs: usize,
    /// Threads for the scaling jobs, whose rows are virtual time that
    /// other runs cannot disturb (the CLI gives [`engine_jobs`]).
    pub engine_jobs: usize,
    pub shard: Option<Shard>,
}

/// The sizes a form runs at under `opts`.
pub fn sizes_of(form: &Form, opts: &SuiteOptions) -> Vec<u64> {
    match &opts.sizes {
        Some(s) => {
            // ascending, each once: `--sizes 64,16,16` runs 16 and 64
            let mut s = s.clone();
            s.sort_unstable();
            s.dedup();
            s
        }
        None if opts.quick => form.scenario.quick_sizes.to_vec(),
        None => form.scenario.full_sizes.to_vec(),
    }
}

/// A trace file as a workload named by its file name. Errors: unreadable
/// or malformed (the message names `FILE:LINE`).
pub fn trace_workload(path: &Path) -> Result<Workload, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let shown = path.display().to_string();
    let ops = rmap_core::trace::parse(&text, &shown)
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|l| l.op)
        .collect();
    let name = path
        .file_name()
        .map_or(shown.clone(), |n| n.to_string_lossy().into_owned());
    Ok(Workload {
        name,
        size: 1,
        size_unit: TRACE_UNIT.to_string(),
        ops,
        scaling: None,
    })
}

/// Every workload of `opts` (forms at their sizes, then trace files), in
/// sweep order. Errors: a size a scenario cannot build.
pub fn workloads(opts: &SuiteOptions) -> Result<Vec<Workload>, String> {
    let mut out = Vec::new();
    for form in &opts.forms {
        for size in sizes_of(form, opts) {
            let scaling = form.is_scaling().then_some(*form);
            let ops = if scaling.is_some() {
                Vec::new()
            } else {
                form.build(size)
                    .map_err(|e| format!("{} at size {size}: {e}", form.full_name()))?
            };
            out.push(Workload {
                name: form.full_name(),
                size,
                size_unit: form.scenario.size_unit.to_string(),
                ops,
                scaling,
            });
        }
    }
    out.extend(opts.traces.iter().cloned());
    Ok(out)
}

/// The largest scaling size at which the sweep's own sizes run `scan`:
/// with no reverse map, every walk reads every page table of every
/// process, so its scaling runs grow faster than any design's (aim7 at
/// 256 CPUs took 19 minutes on a 2-core host; docs/benchmarks.md, "Scale").
/// Sizes given with `--sizes` run it at any size.
pub const SCAN_SCALING_MAX: u64 = 256;

/// The (workload, backend) jobs of this shard, in sweep order.
fn jobs_of(opts: &SuiteOptions, loads: &[Workload]) -> Vec<(usize, usize)> {
    let skipped = |w: usize, b: usize| {
        opts.sizes.is_none()
            && loads[w].scaling.is_some()
            && loads[w].size > SCAN_SCALING_MAX
            && opts.backends[b].split(':').next() == Some("scan")
    };
    let all = (0..loads.len()).flat_map(|w| (0..opts.backends.len()).map(move |b| (w, b)));
    all.filter(|&(w, b)| !skipped(w, b))
        .enumerate()
        .filter(|(i, _)| opts.shard.is_none_or(|s| s.owns(*i)))
        .map(|(_, j)| j)
        .collect()
}

/// How many runs the first rounds make, warm-up included (the progress
/// bar's first length; rounds added later extend it).
pub fn count_runs(opts: &SuiteOptions) -> Result<u64, String> {
    let loads = workloads(opts)?;
    let per = u64::from(opts.reps.max(1)) + 1;
    Ok(jobs_of(opts, &loads)
        .iter()
        .map(|&(w, _)| if loads[w].scaling.is_some() { 1 } else { per })
        .sum())
}

/// What the progress bar hears: a run finished (with a label), or more
/// runs were scheduled.
pub trait SuiteProgress: Sync {
    fn ran(&self, label: &str);
    fn scheduled(&self, more: u64);
}

/// Run the sweep. Rows come back in a fixed order (workload, backend,
/// metric) whatever the schedule and the number of jobs.
pub fn run_suite(opts: &SuiteOptions, progress: &dyn SuiteProgress) -> Result<Vec<Row>, String> {
    let t0 = Instant::now();
    let loads = workloads(opts)?;
    let jobs = jobs_of(opts, &loads);
    let run = |j: usize| -> Result<RunResult, String> {
        let (w, b) = jobs[j];
        let (load, spec) = (&loads[w], &opts.backends[b]);
        let r = measure_spec(&load.ops, spec)
            .map_err(|e| format!("{} size {} on {spec}: {e}", load.name, load.size));
        progress.ran(&format!("{} {} {spec}", load.name, load.size));
        r
    };
    // Scaling jobs: once each, on the virtual-CPU engine, several at once
    // (their rows are virtual time: no host timing to disturb).
    let engine: Vec<usize> = (0..jobs.len())
        .filter(|&j| loads[jobs[j].0].scaling.is_some())
        .collect();
    let engine_run = |j: usize| -> Result<Vec<Row>, String> {
        let (w, b) = jobs[j];
        let (load, spec) = (&loads[w], &opts.backends[b]);
        let form = load.scaling.as_ref().expect("a scaling job");
        let rows = rmap_vcpu::suite::rows(form, load.size, spec)?;
        progress.ran(&format!("{} {} {spec}", load.name, load.size));
        Ok(rows)
    };
    let engine_out: Vec<Result<Vec<Row>, String>> = {
        use rayon::prelude::*;
        rayon::ThreadPoolBuilder::new()
            .num_threads(opts.engine_jobs.max(1))
            .build()
            .map_err(|e| format!("thread pool: {e}"))?
            .install(|| engine.par_iter().map(|&j| engine_run(j)).collect())
    };
    let mut engine_rows: BTreeMap<usize, Vec<Row>> = BTreeMap::new();
    for (j, r) in engine.into_iter().zip(engine_out) {
        engine_rows.insert(j, r?);
    }
    let mut runs: Vec<Vec<RunResult>> = vec![Vec::new(); jobs.len()];
    // The warm-up: once each, discarded.
    let all: Vec<usize> = (0..jobs.len())
        .filter(|j| !engine_rows.contains_key(j))
        .collect();
    run_round(opts, &all, 0, &run)?;
    let mut active = all;
    let mut round = 1u32;
    while !active.is_empty() {
        for (j, r) in active.iter().zip(run_round(opts, &active, round, &run)?) {
            runs[*j].push(r);
        }
        round += 1;
        if round <= opts.reps {
            continue;
        }
        if round > opts.max_reps || opts.max_time.is_some_and(|m| t0.elapsed() >= m) {
            break;
        }
        active.retain(|&j| too_wide(&runs[j], opts.ci_target));
        progress.scheduled(active.len() as u64);
    }
    let mut rows = Vec::new();
    for (j, &(w, b)) in jobs.iter().enumerate() {
        if let Some(r) = engine_rows.remove(&j) {
            rows.extend(r);
            continue;
        }
        let key = RowKey {
            scenario: loads[w].name.clone(),
            size: loads[w].size,
            size_unit: loads[w].size_unit.clone(),
            backend: opts.backends[b].clone(),
        };
        rows.extend(rows_of(&key, &runs[j])?);
    }
    Ok(rows)
}

/// How many scaling jobs run at once: the host's CPUs, at most
/// [`ENGINE_JOBS_MAX`] (a 1024-CPU `aim7` on a family-list preset holds
/// 3 GB while it runs).
pub fn engine_jobs() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(ENGINE_JOBS_MAX)
}

/// See [`engine_jobs`].
const ENGINE_JOBS_MAX: usize = 4;

/// One repetition of each job in `which`, in the round's random order;
/// the results in `which` order.
fn run_round(
    opts: &SuiteOptions,
    which: &[usize],
    round: u32,
    run: &(dyn Fn(usize) -> Result<RunResult, String> + Sync),
) -> Result<Vec<RunResult>, String> {
    use rayon::prelude::*;
    let mut order: Vec<usize> = (0..which.len()).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(SCHEDULE_SEED ^ u64::from(round));
    order.shuffle(&mut rng);
    let results: Vec<Result<RunResult, String>> = if opts.jobs <= 1 {
        order.iter().map(|&i| run(which[i])).collect()
    } else {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(opts.jobs)
            .build()
            .map_err(|e| format!("thread pool: {e}"))?;
        pool.install(|| order.par_iter().map(|&i| run(which[i])).collect())
    };
    let mut out: Vec<Option<RunResult>> = vec![None; which.len()];
    for (&i, r) in order.iter().zip(results) {
        out[i] = Some(r?);
    }
    Ok(out.into_iter().map(|r| r.expect("every job ran")).collect())
}

/// Whether a steering metric's interval is wider than `target` of its
/// median (a metric that is 0 cannot be narrowed relatively: left out).
fn too_wide(runs: &[RunResult], target: f64) -> bool {
    let mut by: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for r in runs {
        for v in r.values.iter().filter(|v| steers(v.metric)) {
            by.entry(v.metric.name).or_default().push(v.value);
        }
    }
    by.values_mut().any(|v| {
        v.sort_by(f64::total_cmp);
        let med = rmap_metrics::median_sorted(v);
        match median_ci(v) {
            Some((lo, hi, _)) if med > 0.0 => (hi - lo) / med > target,
            _ => false,
        }
    })
}

/// Timed metrics that decide whether a job needs more repetitions: all
/// but the tail percentiles, which vary within a run by nature.
fn steers(m: Metric) -> bool {
    m.is_timed() && m != FAULT_NS_P99 && m != FAULT_NS_P999
}

/// Summarise the repetitions of one job into rows: each metric's median,
/// extremes and (timed metrics) interval and samples. Errors: an exact
/// metric that differs between repetitions (the model is deterministic, so
/// that is a bug to report, not noise to average).
pub fn rows_of(key: &RowKey, runs: &[RunResult]) -> Result<Vec<Row>, String> {
    let mut order: Vec<Metric> = Vec::new();
    let mut vals: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    for r in runs {
        for v in &r.values {
            if !vals.contains_key(v.metric.name) {
                order.push(v.metric);
            }
            vals.entry(v.metric.name).or_default().push(v.value);
        }
    }
    order
        .into_iter()
        .map(|metric| {
            let v = &vals[metric.name];
            if !metric.is_timed() && v.iter().any(|x| x.to_bits() != v[0].to_bits()) {
                return Err(format!(
                    "{} size {} on {}: {metric} differs between repetitions ({v:?}); counts must be exact",
                    key.scenario, key.size, key.backend
                ));
            }
            Ok(Row::from_samples(
                key,
                metric.name,
                metric.unit,
                v,
                v.len() as u32,
                metric.is_timed(),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::Value;
    use rmap_metrics::{TIME_NS, VMAS_END};
    use std::sync::Mutex;

    fn opts(forms: &str, backends: &[&str]) -> SuiteOptions {
        SuiteOptions {
            forms: rmap_traces::scenario::resolve(forms).unwrap(),
            traces: Vec::new(),
            backends: backends.iter().map(|s| s.to_string()).collect(),
            sizes: None,
            quick: true,
            reps: 2,
            max_reps: 2,
            ci_target: 0.05,
            max_time: None,
            jobs: 1,
            engine_jobs: 1,
            shard: None,
        }
    }

    #[test]
    fn sizes_given_are_run_ascending_and_once() {
        let form = rmap_traces::scenario::resolve("fork-storm").unwrap()[0];
        let mut o = opts("fork-storm", &["scan"]);
        o.sizes = Some(vec![64, 16, 16]);
        o.quick = false;
        assert_eq!(sizes_of(&form, &o), vec![16, 64]);
        o.sizes = None;
        assert_eq!(sizes_of(&form, &o), form.scenario.full_sizes.to_vec());
    }

    #[test]
    fn shards_are_disjoint_and_cover_the_sweep() {
        let o = opts("heap-churn", &["scan", "anonvma:linux", "pte-chain:rik"]);
        let loads = workloads(&o).unwrap();
        let all = jobs_of(&o, &loads);
        let mut seen = Vec::new();
        for k in 1..=4 {
            let s = SuiteOptions {
                shard: Some(Shard { k, n: 4 }),
                ..o.clone()
            };
            seen.extend(jobs_of(&s, &loads));
        }
        seen.sort_unstable();
        assert_eq!(seen, all);
        assert!("0/3".parse::<Shard>().is_err() && "4/3".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { k: 2, n: 3 }));
    }

    /// The sweep's own sizes run `scan` to SCAN_SCALING_MAX CPUs in the
    /// scaling scenarios and the designs to the end; `--sizes` runs both.
    #[test]
    fn the_sweep_runs_scan_s_scaling_only_to_its_limit() {
        let mut o = opts("fork-family-reclaim", &["scan", "anonvma:linux"]);
        o.quick = false;
        let loads = workloads(&o).unwrap();
        let runs = |o: &SuiteOptions, b: usize| {
            let loads = workloads(o).unwrap();
            let jobs = jobs_of(o, &loads);
            jobs.iter()
                .filter(|&&(_, x)| x == b)
                .map(|&(w, _)| loads[w].size)
                .max()
        };
        let last = loads.iter().map(|l| l.size).max().unwrap();
        assert_eq!(runs(&o, 1), Some(last));
        assert_eq!(runs(&o, 0), Some(SCAN_SCALING_MAX.min(last)));
        o.sizes = Some(vec![16, last]);
        assert_eq!(runs(&o, 0), Some(last));
    }

    struct Log(Mutex<Vec<String>>);
    impl SuiteProgress for Log {
        fn ran(&self, label: &str) {
            self.0.lock().unwrap().push(label.to_string());
        }
        fn scheduled(&self, _: u64) {}
    }

    #[test]
    fn repetitions_interleave_backends_after_a_warm_up() {
        let o = opts(
            "heap-churn/merge=none",
            &["scan", "anonvma:linux", "objrmap:prio"],
        );
        let log = Log(Mutex::new(Vec::new()));
        let rows = run_suite(&o, &log).unwrap();
        let log = log.0.into_inner().unwrap();
        // warm-up + 2 rounds of 3 jobs
        assert_eq!(log.len(), 9);
        // Each round runs every backend once (never two reps of one in a row
        // within a round), and the rounds' orders are seeded and differ.
        for round in log.chunks(3) {
            let mut r = round.to_vec();
            r.sort();
            r.dedup();
            assert_eq!(r.len(), 3, "{log:?}");
        }
        assert!(log[0..3] != log[3..6] || log[3..6] != log[6..9], "{log:?}");
        let t = rows.iter().find(|r| r.metric == TIME_NS.name).unwrap();
        assert_eq!(t.reps, 2);
        assert_eq!(t.sample_values().unwrap().len(), 2);
        assert!(t.ci().is_some());
    }

    /// Scaling jobs run several at once give the rows they give one at a
    /// time, in the same order.
    #[test]
    fn scaling_jobs_at_once_give_the_same_rows() {
        let mut o = opts("fork-family-reclaim", &["anonvma:linux", "pte-chain:rik"]);
        o.sizes = Some(vec![1, 4]);
        let one = run_suite(&o, &Log(Mutex::new(Vec::new()))).unwrap();
        o.engine_jobs = 3;
        let log = Log(Mutex::new(Vec::new()));
        let three = run_suite(&o, &log).unwrap();
        assert_eq!(log.0.into_inner().unwrap().len(), 4);
        assert!(one.iter().any(|r| r.metric == "speedup"));
        assert_eq!(one, three);
    }

    #[test]
    fn counts_that_vary_are_an_error() {
        let key = RowKey {
            scenario: "s".into(),
            size: 1,
            size_unit: "u".into(),
            backend: "b".into(),
        };
        let run = |t: f64, v: f64| RunResult {
            values: vec![
                Value {
                    metric: TIME_NS,
                    value: t,
                },
                Value {
                    metric: VMAS_END,
                    value: v,
                },
            ],
        };
        let rows = rows_of(&key, &[run(3.0, 4.0), run(1.0, 4.0), run(2.0, 4.0)]).unwrap();
        assert_eq!((rows[0].value, rows[0].min, rows[0].max), (2.0, 1.0, 3.0));
        assert_eq!(rows[1].samples, "");
        let e = rows_of(&key, &[run(1.0, 4.0), run(1.0, 5.0)]).unwrap_err();
        assert!(e.contains("vmas_end differs"), "{e}");
    }

    #[test]
    fn wide_intervals_ask_for_more_repetitions() {
        let run = |t: f64| RunResult {
            values: vec![Value {
                metric: TIME_NS,
                value: t,
            }],
        };
        let tight: Vec<RunResult> = [100.0, 101.0, 100.5, 100.2, 100.8].map(run).to_vec();
        let loose: Vec<RunResult> = [100.0, 150.0, 100.5, 100.2, 100.8].map(run).to_vec();
        assert!(!too_wide(&tight, 0.05));
        assert!(too_wide(&loose, 0.05));
    }
}
