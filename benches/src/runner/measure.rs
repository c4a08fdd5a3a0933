//! One op stream on one backend, measured.
//!
//! What is timed: each op on its own with `Instant` (so the runner's own
//! bookkeeping between ops is not in `time_ns`), through
//! `System::apply_observed`. A `touch` reports each page it accessed to an
//! [`Observer`], with the fault the model says that access took
//! ([`FaultKind`]); the observer times the stretch since the previous page
//! (re-arming its clock after its own bookkeeping), so every faulting access
//! lands in an hdrhistogram of fault latencies and in the mean of its kind
//! (the timer's own cost, a pair of `Instant::now()` calls, is included in
//! every latency and is reported as `timer_overhead_ns`). Reclaim time is
//! the model's own `System::reclaim_ns` (explicit `reclaim` ops and direct
//! reclaim inside faults).
//!
//! Work units (`Core::work`, see `rmap_core::locks`) are read before and
//! after each op and priced the same way as the times: per op kind, per
//! page, per fault.
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
use rmap_core::replay::apply_config;
use rmap_core::{Config, FaultKind, Observer, Op, OpError, ReverseMap, System, WorkKind};
use rmap_metrics::*;
use rmap_registry::WithBackend;

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

/// Time and work of one kind of op.
#[derive(Default, Clone, Copy)]
struct Cost {
    time: Duration,
    work: u64,
    /// Pages (fork, exit), calls (mprotect) or pages freed (reclaim).
    count: u64,
}

impl Cost {
    fn add(&mut self, time: Duration, work: u64, count: u64) {
        self.time += time;
        self.work += work;
        self.count += count;
    }
}

#[derive(Default)]
struct Acc {
    time: Duration,
    ops: u64,
    fork: Cost,
    exit: Cost,
    mprotect: Cost,
    /// `mremap` ops, counted in page table entries moved, and the calls.
    mremap: Cost,
    mremap_calls: u64,
    reclaim: Cost,
    /// Chain blocks touched by `exit` ops (counted with their pages).
    exit_lines: u64,
    /// Work of `touch` ops and the faults they took.
    fault_work: u64,
    faults_seen: u64,
    errors: u64,
    vmas_peak: u64,
    bytes_peak: u64,
    peaks: BTreeMap<&'static str, u64>,
}

/// Times each page of a `touch` (see the module documentation).
struct PageTimer<'h> {
    last: Instant,
    total: Duration,
    /// Per [`FaultKind`] (in its order): total time and count.
    kinds: [(Duration, u64); 4],
    hist: &'h mut Histogram<u64>,
}

impl Observer for PageTimer<'_> {
    fn page_accessed(&mut self, fault: Option<FaultKind>) {
        let dt = self.last.elapsed();
        self.total += dt;
        if let Some(k) = fault {
            let slot = &mut self.kinds[k as usize];
            slot.0 += dt;
            slot.1 += 1;
            self.hist.saturating_record(dt.as_nanos().max(1) as u64);
        }
        self.last = Instant::now();
    }
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

fn work_total<R: ReverseMap>(sys: &System<R>) -> u64 {
    sys.core.locks.work_done().iter().sum()
}

fn chain_blocks<R: ReverseMap>(sys: &System<R>) -> u64 {
    sys.core.locks.work_done()[WorkKind::ChainBlock as usize]
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
    let mut kinds = [(Duration::ZERO, 0u64); 4];
    note_peaks(&sys, &mut a);
    for (i, op) in ops.iter().enumerate().skip(start) {
        // Resident pages of the process a fork or exit is about.
        let pages = match op {
            Op::Fork { parent, .. } => rss(&sys, *parent),
            Op::Exit { pid } => rss(&sys, *pid),
            _ => 0,
        };
        let freed0 = sys.core.counters.reclaim_freed;
        let moved0 = sys.core.counters.ptes_moved;
        let w0 = work_total(&sys);
        let lines0 = chain_blocks(&sys);
        let (res, dt) = if let Op::Touch { .. } = op {
            let mut pt = PageTimer {
                last: Instant::now(),
                total: Duration::ZERO,
                kinds,
                hist: &mut hist,
            };
            let r = sys.apply_observed(op, &mut pt);
            let faults: u64 =
                pt.kinds.iter().map(|k| k.1).sum::<u64>() - kinds.iter().map(|k| k.1).sum::<u64>();
            kinds = pt.kinds;
            a.faults_seen += faults;
            a.fault_work += work_total(&sys) - w0;
            (r, pt.total)
        } else {
            let t0 = Instant::now();
            let r = sys.apply(op);
            (r, t0.elapsed())
        };
        let dw = work_total(&sys) - w0;
        a.time += dt;
        a.ops += 1;
        match op {
            // A process with nothing resident (a launcher, a swapped-out
            // one) adds time but no pages: left out of the per-page cost.
            Op::Fork { .. } if pages > 0 => a.fork.add(dt, dw, pages),
            Op::Exit { .. } if pages > 0 => {
                a.exit.add(dt, dw, pages);
                a.exit_lines += chain_blocks(&sys) - lines0;
            }
            Op::Mprotect { .. } => a.mprotect.add(dt, dw, 1),
            Op::Mremap { .. } => {
                a.mremap_calls += 1;
                a.mremap.add(dt, dw, sys.core.counters.ptes_moved - moved0)
            }
            Op::Reclaim { .. } => a
                .reclaim
                .add(dt, dw, sys.core.counters.reclaim_freed - freed0),
            _ => {}
        }
        match res {
            Ok(_) => {}
            Err(OpError::Errno(_)) => a.errors += 1,
            Err(e) => return Err(format!("op {} (`{}`): {e}", i + 1, op.name())),
        }
        note_peaks(&sys, &mut a);
    }
    Ok(summarise(&sys, &a, &kinds, &hist))
}

fn rss<R: ReverseMap>(sys: &System<R>, pid: u32) -> u64 {
    sys.stats_pid(pid).map_or(0, |s| s.rss_anon + s.rss_file)
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
fn summarise<R: ReverseMap>(
    sys: &System<R>,
    a: &Acc,
    kinds: &[(Duration, u64); 4],
    hist: &Histogram<u64>,
) -> RunResult {
    let mut r = RunResult::default();
    summarise_times(&mut r, a, kinds, hist);
    let c = sys.core.counters;
    let w = sys.core.walk_stats;
    r.push(FAULTS, c.faults as f64);
    if a.mprotect.count > 0 {
        r.push(
            MPROTECT_NS_PER_CALL,
            ns(a.mprotect.time) / a.mprotect.count as f64,
        );
    }
    if a.mremap_calls > 0 {
        r.push(
            MREMAP_NS_PER_PAGE,
            ns(a.mremap.time) / a.mremap.count.max(1) as f64,
        );
        r.push(MOVE_COWS, c.move_cows as f64);
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
    summarise_work(&mut r, sys, a);
    r
}

/// The work-unit metrics, in [`rmap_metrics::MODEL`] order.
fn summarise_work<R: ReverseMap>(r: &mut RunResult, sys: &System<R>, a: &Acc) {
    let total = work_total(sys);
    r.push(WORK_UNITS, total as f64);
    if a.ops > 0 {
        r.push(WORK_PER_OP, total as f64 / a.ops as f64);
    }
    let per = |c: &Cost| (c.count > 0).then(|| c.work as f64 / c.count as f64);
    if let Some(v) = per(&a.fork) {
        r.push(FORK_WORK_PER_PAGE, v);
    }
    if let Some(v) = per(&a.exit) {
        r.push(EXIT_WORK_PER_PAGE, v);
        if a.exit_lines > 0 {
            r.push(
                EXIT_CHAIN_LINES_PER_PAGE,
                a.exit_lines as f64 / a.exit.count as f64,
            );
        }
    }
    if a.faults_seen > 0 {
        r.push(FAULT_WORK_MEAN, a.fault_work as f64 / a.faults_seen as f64);
    }
    if let Some(v) = per(&a.mprotect) {
        r.push(MPROTECT_WORK_PER_CALL, v);
    }
    if a.mremap_calls > 0 {
        r.push(
            MREMAP_WORK_PER_PAGE,
            a.mremap.work as f64 / a.mremap.count.max(1) as f64,
        );
    }
    if let Some(v) = per(&a.reclaim) {
        r.push(RECLAIM_WORK_PER_PAGE, v);
    }
}

/// The time metrics up to the fault means, in [`rmap_metrics::MODEL`]
/// order.
fn summarise_times(
    r: &mut RunResult,
    a: &Acc,
    kinds: &[(Duration, u64); 4],
    hist: &Histogram<u64>,
) {
    r.push(TIME_NS, ns(a.time));
    if a.fork.count > 0 {
        r.push(FORK_NS_PER_PAGE, ns(a.fork.time) / a.fork.count as f64);
    }
    if a.exit.count > 0 {
        r.push(EXIT_NS_PER_PAGE, ns(a.exit.time) / a.exit.count as f64);
    }
    if !hist.is_empty() {
        r.push(FAULT_NS_P50, hist.value_at_quantile(0.5) as f64);
        r.push(FAULT_NS_P99, hist.value_at_quantile(0.99) as f64);
        r.push(FAULT_NS_P999, hist.value_at_quantile(0.999) as f64);
    }
    // in FaultKind order: Anon, File, Cow, SwapIn
    let means = [
        ANON_FAULT_NS_MEAN,
        FILE_FAULT_NS_MEAN,
        COW_FAULT_NS_MEAN,
        SWAPIN_FAULT_NS_MEAN,
    ];
    for (k, metric) in means.into_iter().enumerate() {
        let (t, n) = kinds[k];
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

#[cfg(test)]
mod tests {
    use super::*;

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
        // Work units are exact: the same on every repetition.
        for spec in ["scan", "objrmap:prio"] {
            let (a, b) = (
                measure_spec(&o, spec).unwrap(),
                measure_spec(&o, spec).unwrap(),
            );
            for v in a.values.iter().filter(|v| !v.metric.is_timed()) {
                assert_eq!(Some(v.value), b.get(v.metric), "{spec} {}", v.metric);
            }
        }
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
    fn faults_are_classified_by_the_model() {
        // Every fault the model counts is seen by the page timer, so the
        // per-kind means cover exactly the faults taken.
        let o = ops(FORKY);
        for spec in ["scan", "anonvma:linux", "pte-chain:rik"] {
            let r = measure_spec(&o, spec).unwrap();
            let work = r.get(FAULT_WORK_MEAN).unwrap();
            assert!(work > 0.0, "{spec}");
            assert!(r.get(FORK_WORK_PER_PAGE).unwrap() >= 1.0, "{spec}");
            assert!(r.get(RECLAIM_WORK_PER_PAGE).unwrap() > 0.0, "{spec}");
            assert!(r.get(WORK_UNITS).unwrap() > r.get(WORK_PER_OP).unwrap());
        }
        // A write to a fresh anonymous page is anonymous; to a private
        // file page, a copy on write; a read of a file page, a file fault.
        let t = "file f 64K\nmmap 1 0x100000000000 64K rw- private\n\
            touch 1 0x100000000000 64K w\n\
            mmap 1 0x100000100000 64K rw- private file=f\n\
            touch 1 0x100000100000 32K r\ntouch 1 0x100000108000 32K w\n";
        let r = measure_spec(&ops(t), "anonvma:linux").unwrap();
        assert_eq!(r.get(FAULTS), Some(32.0));
        for m in [ANON_FAULT_NS_MEAN, FILE_FAULT_NS_MEAN, COW_FAULT_NS_MEAN] {
            assert!(r.get(m).is_some(), "{m}");
        }
        assert!(r.get(SWAPIN_FAULT_NS_MEAN).is_none());
    }

    #[test]
    fn bad_streams_are_errors_not_panics() {
        let e = measure_spec(&ops("fork 7 8\n"), "scan").unwrap_err();
        assert!(e.contains("op 1") && e.contains("fork"), "{e}");
        let e = measure_spec(&ops("config ram=1K\n"), "scan").unwrap_err();
        assert!(e.contains("too small"), "{e}");
        assert!(measure_spec(&[], "nope").is_err());
    }
}
