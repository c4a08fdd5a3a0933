//! Scaling scenarios: workloads for the virtual-CPU engine (`rmap-vcpu`),
//! where the size is the number of virtual CPUs.
//!
//! A scaling scenario is a [`Workload`]: setup ops run before virtual time
//! starts (the first is `config`), one op stream per worker CPU (each
//! process's ops on one CPU), and a number of reclaimer CPUs that run
//! reclaim as kswapd does. Its [`Scenario`] entry in [`SCALING`] lists it
//! with the other scenarios; the entry's `build` gives the sequential
//! form (setup, then each CPU's stream in CPU order), which
//! `rmap-bench trace` prints and `choose` runs on one CPU.
//!
//! The scenarios (one module each): `aim7` (a fork family of up to 30,000
//! processes under memory pressure), `page_fault` (will-it-scale's
//! page_fault1/2/3), `libc_storm` (fork, exec and exit of processes that
//! map the same libraries while kswapd reclaims them) and `family`
//! (fork-family-reclaim: many children of one root and several
//! reclaimers).
//!
//! Invariants: the same scenario, variant and CPU count give the same
//! workload on every machine; process ids never collide (a CPU reuses only
//! the ids of processes it has made exit); every address lies in the
//! live-kernel window.

use rmap_core::Op;
use rmap_metrics::*;

use super::build::{Ops, PG, no_variants};
use super::{Form, Scenario};

mod aim7;
mod family;
mod libc_storm;
mod page_fault;

/// One scaling workload.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    /// Ops run before virtual time starts; the first is `config`.
    pub setup: Vec<Op>,
    /// One op stream per worker CPU.
    pub cpus: Vec<Vec<Op>>,
    /// Reclaimer CPUs (kswapd), after the workers.
    pub reclaimers: usize,
    /// The op whose latency the engine reports (`Op::name`).
    pub main_op: &'static str,
}

impl Workload {
    /// Setup, then each CPU's stream in CPU order.
    pub fn sequential(self) -> Vec<Op> {
        let mut v = self.setup;
        for s in self.cpus {
            v.extend(s);
        }
        v
    }
}

/// The metrics the report shows for every scaling scenario.
const KEY: &[Metric] = &[
    SPEEDUP,
    VCPU_OPS_PER_S,
    LOCK_WAIT_SHARE,
    LOCK_WAIT_SHARE_ANON_VMA,
    LOCK_WAIT_SHARE_I_MMAP,
    OP_NS_P99,
    WALK_HOLD_NS_P99,
];

/// The CPU counts of the scaling scenarios: the full sweep goes to 1024
/// (the designs with one list per family, `andrea-2.6.7` and
/// `rmap40-2.6.7`, take about 6 minutes of host time each for aim7 there on
/// a 2-core host; the runner stops `scan` at 256, its
/// `SCAN_SCALING_MAX`).
const QUICK: &[u64] = &[1, 4, 16];
const FULL: &[u64] = &[1, 4, 16, 64, 256, 1024];
/// With 2, for the scenarios the live kernel also runs on this 2-CPU host.
const QUICK_2: &[u64] = &[1, 2, 4, 16];
const FULL_2: &[u64] = &[1, 2, 4, 16, 64, 256, 1024];

/// The largest CPU count a scaling scenario builds.
pub const MAX_CPUS: u64 = 4096;

/// The unit of every scaling scenario's size.
pub const CPUS_UNIT: &str = "CPUs";

/// Every scaling scenario, in report order.
pub static SCALING: &[Scenario] = &[
    Scenario {
        name: "aim7",
        variants: no_variants,
        about: "a fork family: per CPU a leader forked from one root during setup, 30 users per CPU (up to 30,000) each forked from its leader, COW-writing the root's 16-page heap, then forking and reaping a grandchild that writes a page, twice; RAM is short of the peak by 5% of the anonymous pages (64 to 4096), so direct reclaim and kswapd walk all the time",
        exposes: "the AIM7 collapse: one family-wide anon_vma lock held for walks of every process against per-process anon_vmas, the root lock, the mutex and the rwsem",
        size_unit: CPUS_UNIT,
        tiny_size: 2,
        quick_sizes: QUICK_2,
        full_sizes: FULL_2,
        key_metrics: KEY,
        build: aim7_seq,
    },
    Scenario {
        name: "page-fault",
        variants: page_fault::variants,
        about: "will-it-scale page_fault1/2/3: one process per CPU maps 128 pages (private anonymous; a private file; a shared file), writes every page and unmaps them, 16 times",
        exposes: "fault scalability: the mm's page-table lock, split page-table locks, the LRU lock batch",
        size_unit: CPUS_UNIT,
        tiny_size: 2,
        quick_sizes: QUICK_2,
        full_sizes: FULL_2,
        key_metrics: KEY,
        build: page_fault_seq,
    },
    Scenario {
        name: "libc-storm",
        variants: no_variants,
        about: "every CPU forks, execs and reaps 8 processes one after another, each mapping the same 4 libraries (text, read-only data, private data) and a heap, while kswapd reclaims library pages; RAM is 85% of the libraries, one child at its peak and the other CPUs' children at their mean",
        exposes: "i_mmap contention: VMA link and unlink against reclaim's file walks (spinlock, semaphore with trylock, mutex, rwsem walked shared)",
        size_unit: CPUS_UNIT,
        tiny_size: 2,
        quick_sizes: QUICK,
        full_sizes: FULL,
        key_metrics: KEY,
        build: libc_storm_seq,
    },
    Scenario {
        name: "fork-family-reclaim",
        variants: no_variants,
        about: "4 children per CPU of one root with a 64-page heap COW-write, fork and reap grandchildren and split and re-merge their heap, while several reclaimers (2, or one per 16 CPUs) walk",
        exposes: "the root anon_vma lock: spinlock (2.6.36), mutex (3.0), rwsem with shared walks (3.8 on)",
        size_unit: CPUS_UNIT,
        tiny_size: 2,
        quick_sizes: QUICK,
        full_sizes: FULL,
        key_metrics: KEY,
        build: family_seq,
    },
];

/// The workload of a scaling form at `cpus`; `None` when `form` is not a
/// scaling scenario. Errors: a CPU count out of range or a bad variant.
pub fn workload(form: &Form, cpus: u64) -> Option<Result<Workload, String>> {
    let name = form.scenario.name;
    let build: fn(&str, u64) -> Result<Workload, String> = match name {
        "aim7" => aim7::aim7,
        "page-fault" => page_fault::page_fault,
        "libc-storm" => libc_storm::libc_storm,
        "fork-family-reclaim" => family::family,
        _ => return None,
    };
    if !SCALING.iter().any(|s| std::ptr::eq(s, form.scenario)) {
        return None;
    }
    Some(build(form.variant, cpus))
}

fn aim7_seq(v: &str, n: u64) -> Result<Vec<Op>, String> {
    aim7::aim7(v, n).map(Workload::sequential)
}
fn page_fault_seq(v: &str, n: u64) -> Result<Vec<Op>, String> {
    page_fault::page_fault(v, n).map(Workload::sequential)
}
fn libc_storm_seq(v: &str, n: u64) -> Result<Vec<Op>, String> {
    libc_storm::libc_storm(v, n).map(Workload::sequential)
}
fn family_seq(v: &str, n: u64) -> Result<Vec<Op>, String> {
    family::family(v, n).map(Workload::sequential)
}

/// `config ram=.. swap=..` for `frames` of RAM (at least 64) and `swap`
/// pages of swap.
fn config(frames: u64, swap_pages: u64) -> Ops {
    Ops::new(frames.max(64) * PG, swap_pages.max(64) * PG, None)
}

/// An empty stream per CPU.
fn streams(n: u64) -> Vec<Ops> {
    (0..n).map(|_| Ops(Vec::new())).collect()
}

#[cfg(test)]
mod tests;
