//! # rmap-metrics: what rmap-lab measures, and the rows it writes
//!
//! - the [`Metric`] type and one constant per metric (its name in
//!   `results.csv`, its unit and which way is better): [`TIME_NS`],
//!   [`FORK_NS_PER_PAGE`], ... The suite runner emits the [`MODEL`]
//!   metrics, the live-kernel benchmark some of those and the
//!   [`KERNEL_ONLY`] ones, the virtual-CPU engine the [`SCALING`] ones, and
//!   the report derives the [`DERIVED`] one;
//!   [`Metric::by_name`] finds any of them, [`all`] lists them;
//! - [`row`]: [`Row`], one line of `results.csv`, and [`KERNEL_BACKEND`],
//!   the backend name of the live kernel's rows.
//!
//! Invariants: every metric name is written once, here: other crates name a
//! metric by its constant (tests may compare against `M.name`); names are
//! unique across [`all`]; a metric keeps one unit, except
//! [`SWAPIN_SKIPPED`], whose unit in a row says why the pass was skipped.
//! A row's `unit` is the metric's unit when the row was written; rows read
//! back from an old `results.csv` keep whatever they say.

pub mod row;

pub use row::{CI_LEVEL, KERNEL_BACKEND, Row, RowKey, median_ci, median_sorted};

/// Which way a metric is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Better {
    /// Smaller values are better (times, bytes, object counts, walk
    /// lengths).
    Lower,
    /// Larger values are better (throughputs).
    Higher,
    /// A description of the workload or the machine, not a cost: never
    /// ranked (resident pages, fault counts, the timer's own cost).
    Neither,
}

/// What a metric's value rests on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Measure {
    /// Host time (or a rate over host time): varies from repetition to
    /// repetition and machine to machine; rows keep every repetition's
    /// sample and a confidence interval, and comparisons test significance.
    Time,
    /// An exact count of the model (objects, VMAs, walk steps, faults) or
    /// its work units: the same on every repetition and every machine.
    Exact,
}

/// One metric: its name in `results.csv`, its unit, which way is better,
/// and what it rests on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Metric {
    pub name: &'static str,
    pub unit: &'static str,
    pub better: Better,
    pub measure: Measure,
}

impl Metric {
    /// The metric called `name`, if there is one (see [`all`]).
    pub fn by_name(name: &str) -> Option<Metric> {
        all().find(|m| m.name == name)
    }

    /// Which way `name` is better: its metric's direction, and
    /// [`Better::Lower`] for a name no metric has (a row of an unknown
    /// metric in a hand-made `results.csv` ranks as a cost).
    pub fn better_of(name: &str) -> Better {
        Metric::by_name(name).map_or(Better::Lower, |m| m.better)
    }

    /// Whether this metric is measured in host time (see [`Measure`]).
    pub fn is_timed(&self) -> bool {
        self.measure == Measure::Time
    }

    /// The exact work-unit metric that prices the same operations as this
    /// timed one (its machine-independent twin), if there is one.
    pub fn work_twin(&self) -> Option<Metric> {
        TWINS.iter().find(|(t, _)| t == self).map(|&(_, w)| w)
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl AsRef<str> for Metric {
    fn as_ref(&self) -> &str {
        self.name
    }
}

/// A host-time metric, lower is better.
const fn time(name: &'static str, unit: &'static str) -> Metric {
    Metric {
        name,
        unit,
        better: Better::Lower,
        measure: Measure::Time,
    }
}

/// An exact metric, lower is better.
const fn lower(name: &'static str, unit: &'static str) -> Metric {
    Metric {
        name,
        unit,
        better: Better::Lower,
        measure: Measure::Exact,
    }
}

/// An exact metric that describes the workload (never ranked).
const fn neither(name: &'static str, unit: &'static str) -> Metric {
    Metric {
        name,
        unit,
        better: Better::Neither,
        measure: Measure::Exact,
    }
}

/// A host-time metric that describes the machine (never ranked).
const fn time_neither(name: &'static str, unit: &'static str) -> Metric {
    Metric {
        name,
        unit,
        better: Better::Neither,
        measure: Measure::Time,
    }
}

// ---- what the suite runner measures on the model (and the kernel shares) --

/// Wall time of every op of the run (model), or of the whole storm process
/// (kernel).
pub const TIME_NS: Metric = time("time_ns", "ns");
/// Fork time over the pages resident in the parent at each fork.
pub const FORK_NS_PER_PAGE: Metric = time("fork_ns_per_page", "ns/page");
/// Exit time over the pages resident in the exiting process.
pub const EXIT_NS_PER_PAGE: Metric = time("exit_ns_per_page", "ns/page");
/// Median latency of a faulting page access.
pub const FAULT_NS_P50: Metric = time("fault_ns_p50", "ns");
/// 99th percentile latency of a faulting page access.
pub const FAULT_NS_P99: Metric = time("fault_ns_p99", "ns");
/// 99.9th percentile latency of a faulting page access.
pub const FAULT_NS_P999: Metric = time("fault_ns_p999", "ns");
/// Mean latency of a first-touch anonymous fault.
pub const ANON_FAULT_NS_MEAN: Metric = time("anon_fault_ns_mean", "ns");
/// Mean latency of a file fault.
pub const FILE_FAULT_NS_MEAN: Metric = time("file_fault_ns_mean", "ns");
/// Mean latency of a copy-on-write fault.
pub const COW_FAULT_NS_MEAN: Metric = time("cow_fault_ns_mean", "ns");
/// Mean latency of a swap-in fault.
pub const SWAPIN_FAULT_NS_MEAN: Metric = time("swapin_fault_ns_mean", "ns");
/// Faults taken (the same on every backend).
pub const FAULTS: Metric = neither("faults", "count");
/// Mean time of an `mprotect` op.
pub const MPROTECT_NS_PER_CALL: Metric = time("mprotect_ns_per_call", "ns");
/// Mean time of `mremap` per page table entry it moved (ops that moved
/// nothing count their time too).
pub const MREMAP_NS_PER_PAGE: Metric = time("mremap_ns_per_page", "ns/page");
/// Anonymous pages copied because a move or a swap-in would have mapped a
/// shared page at a second address (anonmm).
pub const MOVE_COWS: Metric = lower("move_cows", "pages");
/// Pages freed by reclaim over the time spent in reclaim.
pub const RECLAIM_PAGES_PER_S: Metric = Metric {
    name: "reclaim_pages_per_s",
    unit: "pages/s",
    better: Better::Higher,
    measure: Measure::Time,
};
/// Pages freed by reclaim (the same on every backend).
pub const RECLAIMED_PAGES: Metric = neither("reclaimed_pages", "pages");
/// Pages read back from swap.
pub const SWAPINS: Metric = lower("swapins", "pages");
/// Reverse-map walks (each `page_referenced` or `try_to_unmap`).
pub const WALKS: Metric = neither("walks", "count");
/// VMAs a walk examined, per walk (only when walks went through VMAs).
pub const WALK_VMAS_VISITED_PER_WALK: Metric = lower("walk_vmas_visited_per_walk", "VMAs/walk");
/// PTEs a walk examined that did not map the page, per walk.
pub const WALK_PTES_CHECKED_PER_WALK: Metric = lower("walk_ptes_checked_per_walk", "PTEs/walk");
/// Peak metadata at Linux's object sizes (VMAs, page tables, rmap objects).
pub const KERNEL_BYTES_PEAK: Metric = lower("kernel_bytes_peak", "bytes");
/// Most VMAs alive at once.
pub const VMAS_PEAK: Metric = lower("vmas_peak", "VMAs");
/// VMAs alive at the end.
pub const VMAS_END: Metric = lower("vmas_end", "VMAs");
/// Peak count of `anon_vma` objects.
pub const ANON_VMA_PEAK: Metric = lower("anon_vma_peak", "objects");
/// Peak count of `anon_vma_chain` objects.
pub const ANON_VMA_CHAIN_PEAK: Metric = lower("anon_vma_chain_peak", "objects");
/// Peak count of PTE-chain blocks.
pub const PTE_CHAIN_PEAK: Metric = lower("pte_chain_peak", "objects");
/// Peak count of `anonmm` objects.
pub const ANONMM_PEAK: Metric = lower("anonmm_peak", "objects");
/// Syscalls that failed with an errno, as a program would see them.
pub const OP_ERRORS: Metric = neither("op_errors", "count");

// ---- work units: the model's exact, machine-independent cost ------------
//
// A work unit is one step the model counts with `Core::work` (a VMA
// visited, a PTE checked, set, copied or zapped, an object made or freed, a
// chain block touched, a page zeroed, copied or moved to or from swap);
// every kind weighs one unit. Each metric below prices the same ops as its
// timed twin ([`Metric::work_twin`]).

/// Work units of every op of the run (twin of [`TIME_NS`]).
pub const WORK_UNITS: Metric = lower("work_units", "units");
/// Work units of the run per op (ops of the trace, `config` excluded).
pub const WORK_PER_OP: Metric = lower("work_per_op", "units/op");
/// Work units of `fork` ops over the parent's resident pages (twin of
/// [`FORK_NS_PER_PAGE`]).
pub const FORK_WORK_PER_PAGE: Metric = lower("fork_work_per_page", "units/page");
/// Work units of `exit` ops over the exiting process's resident pages
/// (twin of [`EXIT_NS_PER_PAGE`]).
pub const EXIT_WORK_PER_PAGE: Metric = lower("exit_work_per_page", "units/page");
/// Chain blocks touched by `exit` ops per resident page of the exiting
/// process: the cache lines a PTE-chain teardown reads and writes (a
/// 64-byte `pte_chain` block is one line; a 16-byte node of one-node-per-PTE
/// rmap sits on a line of its own, its neighbours being other chains'
/// nodes). Where host time cannot show memory traffic, this count does
/// (issue 16: Morton's 2.5.35 blocks against 2.5.27's nodes).
pub const EXIT_CHAIN_LINES_PER_PAGE: Metric = lower("exit_chain_lines_per_page", "lines/page");
/// Work units of faulting page accesses per fault (twin of the fault
/// latencies).
pub const FAULT_WORK_MEAN: Metric = lower("fault_work_mean", "units/fault");
/// Work units of an `mprotect` op (twin of [`MPROTECT_NS_PER_CALL`]).
pub const MPROTECT_WORK_PER_CALL: Metric = lower("mprotect_work_per_call", "units/call");
/// Work units of `mremap` ops per page table entry they moved (twin of
/// [`MREMAP_NS_PER_PAGE`]).
pub const MREMAP_WORK_PER_PAGE: Metric = lower("mremap_work_per_page", "units/page");
/// Work units of `reclaim` ops per page they freed (twin of
/// [`RECLAIM_PAGES_PER_S`], lower is better).
pub const RECLAIM_WORK_PER_PAGE: Metric = lower("reclaim_work_per_page", "units/page");

/// Each timed metric and its work-unit twin.
pub const TWINS: &[(Metric, Metric)] = &[
    (TIME_NS, WORK_UNITS),
    (FORK_NS_PER_PAGE, FORK_WORK_PER_PAGE),
    (EXIT_NS_PER_PAGE, EXIT_WORK_PER_PAGE),
    (FAULT_NS_P50, FAULT_WORK_MEAN),
    (FAULT_NS_P99, FAULT_WORK_MEAN),
    (FAULT_NS_P999, FAULT_WORK_MEAN),
    (ANON_FAULT_NS_MEAN, FAULT_WORK_MEAN),
    (FILE_FAULT_NS_MEAN, FAULT_WORK_MEAN),
    (COW_FAULT_NS_MEAN, FAULT_WORK_MEAN),
    (SWAPIN_FAULT_NS_MEAN, FAULT_WORK_MEAN),
    (MPROTECT_NS_PER_CALL, MPROTECT_WORK_PER_CALL),
    (MREMAP_NS_PER_PAGE, MREMAP_WORK_PER_PAGE),
    (RECLAIM_PAGES_PER_S, RECLAIM_WORK_PER_PAGE),
];

/// The metrics the suite runner emits for the model, in the order it
/// emits them (each only where it applies).
pub const MODEL: &[Metric] = &[
    TIME_NS,
    FORK_NS_PER_PAGE,
    EXIT_NS_PER_PAGE,
    FAULT_NS_P50,
    FAULT_NS_P99,
    FAULT_NS_P999,
    ANON_FAULT_NS_MEAN,
    FILE_FAULT_NS_MEAN,
    COW_FAULT_NS_MEAN,
    SWAPIN_FAULT_NS_MEAN,
    FAULTS,
    MPROTECT_NS_PER_CALL,
    MREMAP_NS_PER_PAGE,
    MOVE_COWS,
    RECLAIMED_PAGES,
    RECLAIM_PAGES_PER_S,
    SWAPINS,
    WALKS,
    WALK_VMAS_VISITED_PER_WALK,
    WALK_PTES_CHECKED_PER_WALK,
    KERNEL_BYTES_PEAK,
    VMAS_PEAK,
    VMAS_END,
    ANON_VMA_PEAK,
    ANON_VMA_CHAIN_PEAK,
    PTE_CHAIN_PEAK,
    ANONMM_PEAK,
    OP_ERRORS,
    WORK_UNITS,
    WORK_PER_OP,
    FORK_WORK_PER_PAGE,
    EXIT_WORK_PER_PAGE,
    EXIT_CHAIN_LINES_PER_PAGE,
    FAULT_WORK_MEAN,
    MPROTECT_WORK_PER_CALL,
    MREMAP_WORK_PER_PAGE,
    RECLAIM_WORK_PER_PAGE,
];

// ---- what only the live-kernel benchmark measures ----------------------

/// The time of each `fork` system call, undivided.
pub const FORK_NS: Metric = time("fork_ns", "ns");
/// The forking process's resident pages at the forks.
pub const RESIDENT_PAGES: Metric = neither("resident_pages", "pages");
/// Mean time of a file page access, faulting or not.
pub const FILE_ACCESS_NS_MEAN: Metric = time("file_access_ns_mean", "ns");
/// Anonymous first-touch accesses that faulted.
pub const ANON_FAULTS: Metric = neither("anon_faults", "faults");
/// File accesses that faulted (fault-around maps many pages per fault).
pub const FILE_FAULTS: Metric = neither("file_faults", "faults");
/// Copy-on-write accesses that faulted.
pub const COW_FAULTS: Metric = neither("cow_faults", "faults");
/// Swap-in accesses that faulted.
pub const SWAPIN_FAULTS: Metric = neither("swapin_faults", "faults");
/// The cost of one timing (a pair of `Instant::now()`), included in every
/// timed access.
pub const TIMER_OVERHEAD_NS: Metric = time_neither("timer_overhead_ns", "ns");
/// The swap-in pass did not run (value 1). The unit of a row says why:
/// `no-swap` (this unit: no swap area), or `pageout-ERRNO` when
/// `MADV_PAGEOUT` failed.
pub const SWAPIN_SKIPPED: Metric = neither("swapin_skipped", "no-swap");

/// The metrics only the live-kernel benchmark measures (its rows, backend
/// [`KERNEL_BACKEND`], also carry [`TIME_NS`], [`FORK_NS_PER_PAGE`],
/// [`EXIT_NS_PER_PAGE`], the fault percentiles and the fault means).
pub const KERNEL_ONLY: &[Metric] = &[
    FORK_NS,
    RESIDENT_PAGES,
    SWAPIN_SKIPPED,
    FILE_ACCESS_NS_MEAN,
    ANON_FAULTS,
    FILE_FAULTS,
    COW_FAULTS,
    SWAPIN_FAULTS,
    TIMER_OVERHEAD_NS,
];

// ---- what the virtual-CPU engine measures (rmap-vcpu) ----------------------

/// An exact metric, higher is better. The engine's virtual times are
/// exact too: the same inputs give the same numbers on every machine.
const fn higher(name: &'static str, unit: &'static str) -> Metric {
    Metric {
        name,
        unit,
        better: Better::Higher,
        measure: Measure::Exact,
    }
}

/// Ops of the worker CPUs per virtual second (all CPUs together).
pub const VCPU_OPS_PER_S: Metric = higher("vcpu_ops_per_s", "ops/s");
/// Throughput over the same preset's throughput on 1 CPU.
pub const SPEEDUP: Metric = higher("speedup", "x");
/// Fraction of the CPU time in ops spent waiting for or spinning on locks.
pub const LOCK_WAIT_SHARE: Metric = lower("lock_wait_share", "fraction");
/// Latency of the scenario's main op (virtual), 99th percentile.
pub const OP_NS_P99: Metric = lower("op_ns_p99", "ns");
/// How long a reclaim walk holds its lock (virtual), 99th percentile.
pub const WALK_HOLD_NS_P99: Metric = lower("walk_hold_ns_p99", "ns");
/// Mean wait of a reclaim walk for its lock.
pub const WALK_WAIT_NS_MEAN: Metric = lower("walk_wait_ns_mean", "ns/walk");
/// Trylocks that failed (all classes).
pub const FAILED_TRYLOCKS: Metric = neither("failed_trylocks", "count");
/// Reclaim walks that gave up on a failed trylock: pages skipped.
pub const PAGES_SKIPPED: Metric = neither("pages_skipped", "pages");
/// Virtual time until the last worker CPU finished.
pub const VIRTUAL_NS: Metric = lower("virtual_ns", "ns");
/// 1 when the run was cut at its window (`rmap_vcpu::suite::HORIZON_FACTOR`
/// times the 1-CPU virtual time) before the workers' streams were done.
pub const CUT_OFF: Metric = neither("cut_off", "bool");

/// `lock_wait_share` of one lock class (`lock_wait_share_<class>`, the
/// class names of `rmap_core::LockClass::name`).
pub const LOCK_WAIT_SHARE_MMAP_LOCK: Metric = lower("lock_wait_share_mmap_lock", "fraction");
pub const LOCK_WAIT_SHARE_VMA_LOCK: Metric = lower("lock_wait_share_vma_lock", "fraction");
pub const LOCK_WAIT_SHARE_PAGE_LOCK: Metric = lower("lock_wait_share_page_lock", "fraction");
pub const LOCK_WAIT_SHARE_I_MMAP: Metric = lower("lock_wait_share_i_mmap", "fraction");
pub const LOCK_WAIT_SHARE_ANON_VMA: Metric = lower("lock_wait_share_anon_vma", "fraction");
pub const LOCK_WAIT_SHARE_ANONMM: Metric = lower("lock_wait_share_anonmm", "fraction");
pub const LOCK_WAIT_SHARE_PTL: Metric = lower("lock_wait_share_ptl", "fraction");
pub const LOCK_WAIT_SHARE_PTE_CHAIN: Metric = lower("lock_wait_share_pte_chain", "fraction");
pub const LOCK_WAIT_SHARE_PAGE_MAP_LOCK: Metric =
    lower("lock_wait_share_page_map_lock", "fraction");
pub const LOCK_WAIT_SHARE_SWAP_LOCK: Metric = lower("lock_wait_share_swap_lock", "fraction");
pub const LOCK_WAIT_SHARE_LRU_LOCK: Metric = lower("lock_wait_share_lru_lock", "fraction");

/// The per-class wait shares, in `rmap_core::LockClass::ALL` order.
pub const LOCK_WAIT_SHARE_BY_CLASS: &[Metric] = &[
    LOCK_WAIT_SHARE_MMAP_LOCK,
    LOCK_WAIT_SHARE_VMA_LOCK,
    LOCK_WAIT_SHARE_PAGE_LOCK,
    LOCK_WAIT_SHARE_I_MMAP,
    LOCK_WAIT_SHARE_ANON_VMA,
    LOCK_WAIT_SHARE_ANONMM,
    LOCK_WAIT_SHARE_PTL,
    LOCK_WAIT_SHARE_PTE_CHAIN,
    LOCK_WAIT_SHARE_PAGE_MAP_LOCK,
    LOCK_WAIT_SHARE_SWAP_LOCK,
    LOCK_WAIT_SHARE_LRU_LOCK,
];

/// What the virtual-CPU engine emits for a scaling scenario, in order
/// (the per-class shares after [`LOCK_WAIT_SHARE`], for the classes the
/// era has).
pub const SCALING: &[Metric] = &[
    VCPU_OPS_PER_S,
    SPEEDUP,
    LOCK_WAIT_SHARE,
    LOCK_WAIT_SHARE_MMAP_LOCK,
    LOCK_WAIT_SHARE_VMA_LOCK,
    LOCK_WAIT_SHARE_PAGE_LOCK,
    LOCK_WAIT_SHARE_I_MMAP,
    LOCK_WAIT_SHARE_ANON_VMA,
    LOCK_WAIT_SHARE_ANONMM,
    LOCK_WAIT_SHARE_PTL,
    LOCK_WAIT_SHARE_PTE_CHAIN,
    LOCK_WAIT_SHARE_PAGE_MAP_LOCK,
    LOCK_WAIT_SHARE_SWAP_LOCK,
    LOCK_WAIT_SHARE_LRU_LOCK,
    OP_NS_P99,
    WALK_HOLD_NS_P99,
    WALK_WAIT_NS_MEAN,
    FAILED_TRYLOCKS,
    PAGES_SKIPPED,
    VIRTUAL_NS,
    CUT_OFF,
    OP_ERRORS,
];

// ---- what the report derives ------------------------------------------------

/// The report's measure of walk cost: VMAs visited plus PTEs checked per
/// walk ([`WALK_VMAS_VISITED_PER_WALK`] + [`WALK_PTES_CHECKED_PER_WALK`]).
/// A chain walk visits no VMAs and a VMA walk checks a PTE only in the VMAs
/// that cover the page, so the sum compares the two designs on one scale.
/// Never a row of `results.csv`.
pub const WALK_STEPS_PER_WALK: Metric = lower("walk_steps_per_walk", "steps/walk");

/// The metrics the report derives from others (never rows).
pub const DERIVED: &[Metric] = &[WALK_STEPS_PER_WALK];

/// Every metric, each once: [`MODEL`], [`KERNEL_ONLY`], [`SCALING`]
/// (less [`OP_ERRORS`], which [`MODEL`] has), then [`DERIVED`].
pub fn all() -> impl Iterator<Item = Metric> {
    MODEL
        .iter()
        .chain(KERNEL_ONLY)
        .chain(SCALING.iter().filter(|m| **m != OP_ERRORS))
        .chain(DERIVED)
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found_by_name() {
        let all: Vec<Metric> = all().collect();
        for (i, a) in all.iter().enumerate() {
            assert!(
                all[i + 1..].iter().all(|b| b.name != a.name),
                "{} twice",
                a.name
            );
            assert_eq!(Metric::by_name(a.name), Some(*a));
        }
        assert_eq!(
            all.len(),
            MODEL.len() + KERNEL_ONLY.len() + SCALING.len() - 1 + DERIVED.len()
        );
        for m in LOCK_WAIT_SHARE_BY_CLASS {
            assert!(SCALING.contains(m), "{m}");
        }
        assert_eq!(Metric::by_name("no_such_metric"), None);
    }

    #[test]
    fn only_throughput_is_better_higher() {
        let higher: Vec<&str> = all()
            .filter(|m| m.better == Better::Higher)
            .map(|m| m.name)
            .collect();
        assert_eq!(
            higher,
            [RECLAIM_PAGES_PER_S.name, VCPU_OPS_PER_S.name, SPEEDUP.name]
        );
        assert_eq!(Metric::better_of("no_such_metric"), Better::Lower);
        assert_eq!(Metric::better_of(RESIDENT_PAGES.name), Better::Neither);
        assert_eq!(TIME_NS.to_string(), "time_ns");
    }

    #[test]
    fn every_twin_is_timed_to_exact() {
        for &(t, w) in TWINS {
            assert!(t.is_timed() && !w.is_timed(), "{t} {w}");
            assert_eq!(t.work_twin(), Some(w));
            assert!(MODEL.contains(&t) && MODEL.contains(&w));
        }
        assert_eq!(VMAS_END.work_twin(), None);
        assert!(!KERNEL_BYTES_PEAK.is_timed() && FORK_NS.is_timed());
    }
}
