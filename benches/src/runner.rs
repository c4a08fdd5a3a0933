//! The suite runner: one op stream on one backend, measured ([`measure`]),
//! and every scenario form × size × backend × repetition, summarised into
//! result rows ([`run_suite`]).
//!
//! What is timed: each op on its own with `Instant` (so the runner's own
//! bookkeeping between ops is not in `time_ns`); a `touch` is split into
//! single-page accesses, each timed on its own, so that every faulting
//! access lands in an hdrhistogram of fault latencies (the timer's own cost,
//! a pair of `Instant::now()` calls, is included in every latency and is
//! reported as `timer_overhead_ns`). Reclaim time is the model's own
//! `System::reclaim_ns` (explicit `reclaim` ops and direct reclaim inside
//! faults). Counts (walks, objects, VMAs) are exact and identical across
//! repetitions; times vary, and each row carries the median, min and max.
//!
//! Metrics: [`rmap_metrics::MODEL`], each emitted where it applies
//! ([`FORK_NS_PER_PAGE`] and [`EXIT_NS_PER_PAGE`]: op time over the
//! resident pages of the process forked or exiting;
//! [`WALK_VMAS_VISITED_PER_WALK`] only when walks went through VMAs, as a
//! chain walk visits none; the object peaks only for backends that have
//! that kind; [`OP_ERRORS`] counts syscalls that failed with an errno, as a
//! program would see them).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rmap_core::ops::Access;
use rmap_core::replay::apply_config;
use rmap_core::{Config, Op, OpError, PAGE_SIZE, ReverseMap, System};
use rmap_metrics::*;
use rmap_registry::WithBackend;
use rmap_traces::scenario::Form;

/// The object kinds whose peaks are reported, with their metrics.
const PEAK_KINDS: &[(&str, Metric)] = &[
    ("anon_vma", ANON_VMA_PEAK),
    ("anon_vma_chain", ANON_VMA_CHAIN_PEAK),
    ("pte_chain", PTE_CHAIN_PEAK),
    ("anonmm", ANONMM_PEAK),
];

/// One measured value of one run (in the metric's unit).
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    pub metric: Metric,
    pub value: f64,
}

/// Everything one run measured.
#[derive(Clone, Debug, Default)]
pub struct RunResult {
    pub values: Vec<Value>,
}

impl RunResult {
    /// The value of `metric`, if the run measured it.
    pub fn get(&self, metric: Metric) -> Option<f64> {
        self.values
            .iter()
            .find(|v| v.metric == metric)
            .map(|v| v.value)
    }
    fn push(&mut self, metric: Metric, value: f64) {
        self.values.push(Value { metric, value });
    }
}

/// Fault kinds, as classified by what the fault did.
#[derive(Clone, Copy)]
enum FaultKind {
    Anon,
    File,
    Cow,
    SwapIn,
}

#[derive(Default)]
struct Acc {
    time: Duration,
    fork_time: Duration,
    fork_pages: u64,
    exit_time: Duration,
    exit_pages: u64,
    mprotect_time: Duration,
    mprotects: u64,
    /// Per fault kind: total time and count.
    kinds: [(Duration, u64); 4],
    errors: u64,
    vmas_peak: u64,
    bytes_peak: u64,
    peaks: BTreeMap<&'static str, u64>,
}

/// The cost of one `Instant::now()` pair, measured (median of a few
/// thousand), in nanoseconds.
pub fn timer_overhead_ns() -> f64 {
    let mut v: Vec<u64> = (0..4001)
        .map(|_| {
            let t = Instant::now();
            t.elapsed().as_nanos() as u64
        })
        .collect();
    v.sort_unstable();
    v[v.len() / 2] as f64
}

/// Run `ops` (the first may be `config`) on a new system with backend
/// `rmap`, without the integrity shadow, and measure it. Syscall errors are
/// counted (`op_errors`); an op that cannot run at all (unknown process or
/// file, late config) is an error naming the op's index.
pub fn measure<R: ReverseMap>(ops: &[Op], rmap: R) -> Result<RunResult, String> {
    let mut cfg = Config {
        integrity: false,
        ..Config::default()
    };
    let mut start = 0;
    while let Some(Op::Config(items)) = ops.get(start) {
        apply_config(&mut cfg, items);
        start += 1;
    }
    let mut sys = System::new(cfg, rmap)?;
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)
        .map_err(|e| format!("histogram: {e}"))?;
    let mut a = Acc::default();
    note_peaks(&sys, &mut a);
    for (i, op) in ops.iter().enumerate().skip(start) {
        let res = match op {
            Op::Touch {
                pid,
                addr,
                len,
                access,
            } => touch(&mut sys, &mut a, &mut hist, *pid, *addr, *len, *access),
            Op::Fork { parent, .. } => {
                let pages = rss(&sys, *parent);
                let t = timed(&mut sys, op);
                // A process with nothing resident (a launcher, a swapped-out
                // one) adds time but no pages: left out of the per-page cost.
                if pages > 0 {
                    a.fork_time += t.1;
                    a.fork_pages += pages;
                }
                a.time += t.1;
                t.0
            }
            Op::Exit { pid } => {
                let pages = rss(&sys, *pid);
                let t = timed(&mut sys, op);
                // A process with nothing resident (a launcher, a swapped-out
                // one) adds time but no pages: left out of the per-page cost.
                if pages > 0 {
                    a.exit_time += t.1;
                    a.exit_pages += pages;
                }
                a.time += t.1;
                t.0
            }
            Op::Mprotect { .. } => {
                let t = timed(&mut sys, op);
                a.mprotect_time += t.1;
                a.mprotects += 1;
                a.time += t.1;
                t.0
            }
            _ => {
                let t = timed(&mut sys, op);
                a.time += t.1;
                t.0
            }
        };
        match res {
            Ok(()) => {}
            Err(OpError::Errno(_)) => a.errors += 1,
            Err(e) => return Err(format!("op {} (`{}`): {e}", i + 1, op.name())),
        }
        note_peaks(&sys, &mut a);
    }
    Ok(summarise(&sys, &a, &hist))
}

fn rss<R: ReverseMap>(sys: &System<R>, pid: u32) -> u64 {
    sys.stats_pid(pid).map_or(0, |s| s.rss_anon + s.rss_file)
}

fn timed<R: ReverseMap>(sys: &mut System<R>, op: &Op) -> (Result<(), OpError>, Duration) {
    let t0 = Instant::now();
    let r = sys.apply(op);
    let dt = t0.elapsed();
    (r.map(|_| ()), dt)
}

#[allow(clippy::too_many_arguments)]
fn touch<R: ReverseMap>(
    sys: &mut System<R>,
    a: &mut Acc,
    hist: &mut Histogram<u64>,
    pid: u32,
    addr: u64,
    len: u64,
    access: Access,
) -> Result<(), OpError> {
    let mm = sys.mm_of(pid)?;
    if len == 0 {
        return Ok(());
    }
    let first = addr & !(PAGE_SIZE - 1);
    let last = addr
        .checked_add(len - 1)
        .ok_or(OpError::Errno(rmap_core::Errno::EFAULT))?
        & !(PAGE_SIZE - 1);
    let mut p = first;
    loop {
        let c0 = sys.core.counters;
        let t0 = Instant::now();
        let r = sys.access_page(mm, p, access);
        let dt = t0.elapsed();
        a.time += dt;
        let c1 = sys.core.counters;
        if c1.faults > c0.faults {
            let kind = if c1.swapins > c0.swapins {
                FaultKind::SwapIn
            } else if c1.cow_faults > c0.cow_faults {
                FaultKind::Cow
            } else if sys
                .core
                .find_vma(mm, p)
                .is_some_and(|v| sys.core.vmas[v].file.is_some())
            {
                FaultKind::File
            } else {
                FaultKind::Anon
            };
            let k = &mut a.kinds[kind as usize];
            k.0 += dt;
            k.1 += 1;
            hist.saturating_record(dt.as_nanos().max(1) as u64);
        }
        r?;
        if p == last {
            return Ok(());
        }
        p += PAGE_SIZE;
    }
}

fn note_peaks<R: ReverseMap>(sys: &System<R>, a: &mut Acc) {
    a.vmas_peak = a.vmas_peak.max(sys.core.vmas.live());
    let o = sys.objects();
    a.bytes_peak = a.bytes_peak.max(o.kernel_bytes());
    for &(kind, _) in PEAK_KINDS {
        if let Some(&(n, _)) = o.kinds.get(kind) {
            let e = a.peaks.entry(kind).or_insert(0);
            *e = (*e).max(n);
        }
    }
}

fn ns(d: Duration) -> f64 {
    d.as_nanos() as f64
}

/// The run's values, in [`rmap_metrics::MODEL`] order.
fn summarise<R: ReverseMap>(sys: &System<R>, a: &Acc, hist: &Histogram<u64>) -> RunResult {
    let mut r = RunResult::default();
    summarise_times(&mut r, a, hist);
    let c = sys.core.counters;
    let w = sys.core.walk_stats;
    r.push(FAULTS, c.faults as f64);
    if a.mprotects > 0 {
        r.push(
            MPROTECT_NS_PER_CALL,
            ns(a.mprotect_time) / a.mprotects as f64,
        );
    }
    if c.reclaim_freed > 0 {
        r.push(RECLAIMED_PAGES, c.reclaim_freed as f64);
        if sys.reclaim_ns > 0 {
            r.push(
                RECLAIM_PAGES_PER_S,
                c.reclaim_freed as f64 * 1e9 / sys.reclaim_ns as f64,
            );
        }
    }
    if c.swapins > 0 || c.swapouts > 0 {
        r.push(SWAPINS, c.swapins as f64);
    }
    if w.walks > 0 {
        r.push(WALKS, w.walks as f64);
        // Chain walks (pte-chain, and the anonymous pages of objrmap's
        // chain presets) visit no VMAs: the metric does not apply to them,
        // and a 0 would rank them best on a cost they pay in PTEs instead.
        if w.vmas_visited > 0 {
            r.push(
                WALK_VMAS_VISITED_PER_WALK,
                w.vmas_visited as f64 / w.walks as f64,
            );
        }
        r.push(
            WALK_PTES_CHECKED_PER_WALK,
            w.ptes_checked as f64 / w.walks as f64,
        );
    }
    r.push(KERNEL_BYTES_PEAK, a.bytes_peak as f64);
    r.push(VMAS_PEAK, a.vmas_peak as f64);
    r.push(VMAS_END, sys.core.vmas.live() as f64);
    for &(kind, metric) in PEAK_KINDS {
        if let Some(&n) = a.peaks.get(kind) {
            r.push(metric, n as f64);
        }
    }
    r.push(OP_ERRORS, a.errors as f64);
    r
}

/// The time metrics up to the fault means, in [`rmap_metrics::MODEL`]
/// order.
fn summarise_times(r: &mut RunResult, a: &Acc, hist: &Histogram<u64>) {
    r.push(TIME_NS, ns(a.time));
    if a.fork_pages > 0 {
        r.push(FORK_NS_PER_PAGE, ns(a.fork_time) / a.fork_pages as f64);
    }
    if a.exit_pages > 0 {
        r.push(EXIT_NS_PER_PAGE, ns(a.exit_time) / a.exit_pages as f64);
    }
    if !hist.is_empty() {
        r.push(FAULT_NS_P50, hist.value_at_quantile(0.5) as f64);
        r.push(FAULT_NS_P99, hist.value_at_quantile(0.99) as f64);
        r.push(FAULT_NS_P999, hist.value_at_quantile(0.999) as f64);
    }
    // in FaultKind order
    let means = [
        ANON_FAULT_NS_MEAN,
        FILE_FAULT_NS_MEAN,
        COW_FAULT_NS_MEAN,
        SWAPIN_FAULT_NS_MEAN,
    ];
    for (k, metric) in means.into_iter().enumerate() {
        let (t, n) = a.kinds[k];
        if n > 0 {
            r.push(metric, ns(t) / n as f64);
        }
    }
}

struct Measure<'a>(&'a [Op]);

impl WithBackend for Measure<'_> {
    type Out = Result<RunResult, String>;
    fn run<R: ReverseMap>(self, rmap: R) -> Self::Out {
        measure(self.0, rmap)
    }
}

/// Measure `ops` on the backend `spec` (`NAME[:PRESET]`). Errors: an
/// unknown backend, or an op that cannot run (as [`measure`]).
pub fn measure_spec(ops: &[Op], spec: &str) -> Result<RunResult, String> {
    rmap_registry::with_backend(spec, Measure(ops))?
}

/// The median of `v` (sorted in place); the mean of the middle two when
/// the length is even.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Summarise repetitions of one (form, size, backend) into rows: each
/// metric's median, min and max over the runs that reported it.
pub fn rows_of(
    scenario: &str,
    size: u64,
    size_unit: &str,
    backend: &str,
    runs: &[RunResult],
) -> Vec<Row> {
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
            let v = vals.get_mut(metric.name).expect("collected");
            let min = v.iter().copied().fold(f64::INFINITY, f64::min);
            let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            Row {
                scenario: scenario.to_string(),
                size,
                size_unit: size_unit.to_string(),
                backend: backend.to_string(),
                metric: metric.name.to_string(),
                value: median(v),
                unit: metric.unit.to_string(),
                min,
                max,
                reps: v.len() as u32,
            }
        })
        .collect()
}

/// What `run` runs.
#[derive(Clone)]
pub struct SuiteOptions {
    pub forms: Vec<Form>,
    pub backends: Vec<String>,
    /// Sizes for every form; `None` uses each scenario's own (quick or full).
    pub sizes: Option<Vec<u64>>,
    pub quick: bool,
    pub reps: u32,
    /// Worker threads (1: one run at a time, the most faithful timings).
    pub jobs: usize,
}

/// One unit of work.
struct Job {
    form: usize,
    size: u64,
    backend: usize,
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

/// Run the suite. `tick` is called after each run with a label of what ran
/// (for the progress bar). Rows come back in a fixed order (form, size,
/// backend, metric) whatever the number of jobs.
pub fn run_suite(opts: &SuiteOptions, tick: &(dyn Fn(&str) + Sync)) -> Result<Vec<Row>, String> {
    use rayon::prelude::*;
    // Build every op stream first: a size a scenario cannot run is an error
    // before any time is spent.
    let mut streams: BTreeMap<(usize, u64), Vec<Op>> = BTreeMap::new();
    let mut jobs = Vec::new();
    for (fi, form) in opts.forms.iter().enumerate() {
        for size in sizes_of(form, opts) {
            if !form.is_scaling() {
                let ops = form
                    .build(size)
                    .map_err(|e| format!("{} at size {size}: {e}", form.full_name()))?;
                streams.insert((fi, size), ops);
            }
            for bi in 0..opts.backends.len() {
                jobs.push(Job {
                    form: fi,
                    size,
                    backend: bi,
                });
            }
        }
    }
    let one = |j: &Job| -> Result<Vec<Row>, String> {
        let form = &opts.forms[j.form];
        let spec = &opts.backends[j.backend];
        // Scaling scenarios (size = virtual CPUs) run once on the
        // virtual-CPU engine, which is deterministic: rmap-vcpu's rows.
        if form.is_scaling() {
            let rows = rmap_vcpu::suite::rows(form, j.size, spec)?;
            tick(&format!("{} {} {spec}", form.full_name(), j.size));
            return Ok(rows);
        }
        let ops = &streams[&(j.form, j.size)];
        let mut runs = Vec::new();
        for _ in 0..opts.reps.max(1) {
            let r = measure_spec(ops, spec)
                .map_err(|e| format!("{} size {} on {spec}: {e}", form.full_name(), j.size))?;
            runs.push(r);
            tick(&format!("{} {} {spec}", form.full_name(), j.size));
        }
        Ok(rows_of(
            &form.full_name(),
            j.size,
            form.scenario.size_unit,
            spec,
            &runs,
        ))
    };
    let results: Vec<Result<Vec<Row>, String>> = if opts.jobs <= 1 {
        jobs.iter().map(one).collect()
    } else {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(opts.jobs)
            .build()
            .map_err(|e| format!("thread pool: {e}"))?;
        pool.install(|| jobs.par_iter().map(one).collect())
    };
    let mut rows = Vec::new();
    for r in results {
        rows.extend(r?);
    }
    Ok(rows)
}

/// How many runs `run_suite` will make (for the progress bar).
pub fn count_runs(opts: &SuiteOptions) -> u64 {
    opts.forms
        .iter()
        .map(|f| sizes_of(f, opts).len() as u64)
        .sum::<u64>()
        * opts.backends.len() as u64
        * opts.reps.max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_given_are_run_ascending_and_once() {
        let form = rmap_traces::scenario::resolve("fork-storm").unwrap()[0];
        let opts = SuiteOptions {
            forms: vec![form],
            backends: vec!["scan".into()],
            sizes: Some(vec![64, 16, 16]),
            quick: false,
            reps: 1,
            jobs: 1,
        };
        assert_eq!(sizes_of(&form, &opts), vec![16, 64]);
        let own = SuiteOptions {
            sizes: None,
            ..opts
        };
        assert_eq!(sizes_of(&form, &own), form.scenario.full_sizes.to_vec());
    }
    use rmap_core::trace::parse;

    fn ops(text: &str) -> Vec<Op> {
        parse(text, "t")
            .unwrap()
            .into_iter()
            .map(|l| l.op)
            .collect()
    }

    const FORKY: &str = "config ram=64M swap=64M\n\
        mmap 1 0x100000000000 1M rw- private\n\
        touch 1 0x100000000000 1M w\n\
        fork 1 2\n\
        touch 2 0x100000000000 64K w\n\
        mprotect 1 0x100000000000 4K r--\n\
        reclaim 64\n\
        touch 1 0x100000000000 1M r\n\
        munmap 1 0x200000000000 4K\n\
        mmap 1 0x100000000001 4K rw- private\n\
        exit 2\n";

    #[test]
    fn measures_what_happened() {
        let r = measure_spec(&ops(FORKY), "anonvma:linux").unwrap();
        let g = |m: Metric| r.get(m).unwrap_or_else(|| panic!("no {m}"));
        // 256 first-touch faults, 16 COW faults, then the reads: the
        // pages reclaim freed come back (swap-ins or zero-page misses).
        assert!(g(FAULTS) >= 272.0, "{r:?}");
        assert!(g(COW_FAULT_NS_MEAN) > 0.0);
        assert!(g(ANON_FAULT_NS_MEAN) > 0.0);
        assert!(g(FAULT_NS_P50) <= g(FAULT_NS_P99));
        assert!(g(FAULT_NS_P99) <= g(FAULT_NS_P999));
        assert!(g(FORK_NS_PER_PAGE) > 0.0 && g(EXIT_NS_PER_PAGE) > 0.0);
        assert_eq!(g(RECLAIMED_PAGES), 64.0);
        assert!(g(RECLAIM_PAGES_PER_S) > 0.0);
        assert!(g(WALKS) >= 64.0);
        // One failed mmap (unaligned address); munmap of nothing is fine.
        assert_eq!(g(OP_ERRORS), 1.0);
        // The mprotect split the VMA: 2 in process 1, and the child's 1.
        assert_eq!(g(VMAS_PEAK), 3.0);
        assert_eq!(g(VMAS_END), 2.0);
        assert_eq!(g(ANON_VMA_PEAK), 2.0);
        assert!(r.get(PTE_CHAIN_PEAK).is_none());
        assert!(g(KERNEL_BYTES_PEAK) >= 3.0 * 192.0);
    }

    #[test]
    fn emits_model_metrics_in_model_order() {
        for spec in ["anonvma:linux", "pte-chain:rik"] {
            let r = measure_spec(&ops(FORKY), spec).unwrap();
            let at: Vec<usize> = r
                .values
                .iter()
                .map(|v| {
                    MODEL
                        .iter()
                        .position(|m| *m == v.metric)
                        .unwrap_or_else(|| panic!("{} is not in MODEL", v.metric))
                })
                .collect();
            assert!(at.windows(2).all(|w| w[0] < w[1]), "{spec}: {at:?}");
        }
    }

    #[test]
    fn counts_agree_across_backends_and_reps() {
        let o = ops(FORKY);
        let counted = [FAULTS, RECLAIMED_PAGES, VMAS_PEAK, OP_ERRORS];
        let base = measure_spec(&o, "scan").unwrap();
        for spec in rmap_registry::all_specs() {
            let r = measure_spec(&o, &spec).unwrap();
            for m in counted {
                assert_eq!(r.get(m), base.get(m), "{spec} {m}");
            }
        }
        let r = measure_spec(&o, "pte-chain:rik").unwrap();
        assert!(r.get(PTE_CHAIN_PEAK).unwrap() > 0.0);
        assert!(r.get(ANON_VMA_PEAK).is_none());
    }

    #[test]
    fn bad_streams_are_errors_not_panics() {
        let e = measure_spec(&ops("fork 7 8\n"), "scan").unwrap_err();
        assert!(e.contains("op 1") && e.contains("fork"), "{e}");
        let e = measure_spec(&ops("config ram=1K\n"), "scan").unwrap_err();
        assert!(e.contains("too small"), "{e}");
        assert!(measure_spec(&[], "nope").is_err());
    }

    #[test]
    fn rows_summarise_reps() {
        let mk = |t: f64| RunResult {
            values: vec![Value {
                metric: TIME_NS,
                value: t,
            }],
        };
        let rows = rows_of("s", 4, "MiB", "scan:default", &[mk(3.0), mk(1.0), mk(2.0)]);
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!((r.value, r.min, r.max, r.reps), (2.0, 1.0, 3.0, 3));
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(median(&mut v), 2.5);
    }
}
