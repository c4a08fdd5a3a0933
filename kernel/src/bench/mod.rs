//! Live-kernel measurements on the shapes of two model scenarios, so that
//! the report can show the real Linux kernel of this machine beside the
//! model (rows with `backend = "kernel"`, [`rmap_metrics::KERNEL_BACKEND`]).
//!
//! Everything runs in processes forked from the calling (*measuring*)
//! process, so that its own threads and allocations take no part: each
//! repetition forks one *storm* process, which maps the memory, forks and
//! faults. The storm process and everything below it use system calls
//! only (no allocation, no locks, no panics: the measuring process may be
//! multithreaded), and send their results back over a pipe as raw bytes;
//! the measuring process turns them into rows. Every memory size is in MiB
//! (`size_unit = "MiB"`); anonymous memory is advised `MADV_NOHUGEPAGE` so
//! that the kernel works with 4 KiB pages, as the model does.
//!
//! A storm process is a fork of the measuring process, so it still maps
//! (copy-on-write) whatever the measuring process had resident: a few MiB
//! for `rmap-bench` or a test binary. Its forks copy those page tables too.
//! That is why fork and exit costs are divided by the *resident* pages of
//! the process (`/proc/self/statm`) rather than by the N MiB alone, and why
//! the `resident_pages` row shows what the forking process held; at 16 MiB
//! and more the N MiB are the bulk of it.
//!
//! # `fork-storm`, size N MiB
//!
//! The model: process 1 maps N MiB of anonymous `rw-` private memory and
//! writes every page, forks 4 children one after another, child `i` writes
//! pages `[i*n/8, (i+1)*n/8)`, the children exit, then the parent.
//!
//! Here the storm process does exactly that, with one child alive at a
//! time (fork, the child writes its eighth and exits, the parent reaps it,
//! next fork). Rows:
//! - `fork_ns_per_page` (`ns/page`): the time of each `fork` system call
//!   (a raw `clone(SIGCHLD)`, timed with [`Instant`](std::time::Instant) in the parent around
//!   the call), divided by the parent's resident pages right before it;
//!   median, min and max over the 4 forks of every repetition. The model's
//!   metric divides by the pages the parent maps at the fork.
//! - `fork_ns` (`ns`): the same fork times, undivided.
//! - `exit_ns_per_page` (`ns/page`): a child writes its eighth, reads its
//!   resident pages, takes a `CLOCK_MONOTONIC` timestamp, writes it to a
//!   pipe and calls `_exit` at once; the parent, blocked on that pipe, goes
//!   straight into `waitpid`, and the exit time is the moment `waitpid`
//!   returns minus the child's timestamp, divided by the child's resident
//!   pages. The parent's own exit is measured the same way by the measuring
//!   process. So each repetition gives 5 exits (4 children, 1 parent). The
//!   value includes the `write` of the timestamp and the wake-up of the
//!   waiting process (microseconds on an idle machine, more on a busy
//!   one: on a loaded machine the median then mostly measures scheduling
//!   delays, and the min is the better estimate), so it is an upper bound
//!   of the kernel's exit work. Waiting by polling instead of sleeping was
//!   tried and is worse on a loaded machine (the poller competes with the
//!   exiting child for the CPU). The model's metric is the time of the exit
//!   divided by the pages the exiting process maps.
//! - `resident_pages` (`pages`): the parent's resident pages at the forks.
//! - `time_ns` (`ns`): from the storm process's first `mmap` to the moment
//!   the measuring process has reaped it (mapping, writing, the 4 forks,
//!   the children's writes and exits, the parent's exit).
//!
//! # `fault-storm`, size N MiB
//!
//! The model: first-touch anonymous write faults over N MiB, read faults
//! over a private read-only mapping of an N MiB file, a fork whose child
//! writes all the parent's anonymous pages (COW faults), then
//! `madvise(MADV_PAGEOUT)` and a read back (swap-in faults).
//!
//! Here the measuring process writes an N MiB file in a fresh temporary
//! directory (under `std::env::temp_dir()`, removed at the end; no
//! `fsync`), so its pages are in the page cache: the file faults measured
//! are page-cache hits, which is what the model's file read fault is (the
//! model has no I/O). The storm process then does the four passes. In each
//! pass every page is accessed once, by a plain volatile one-byte write
//! (anonymous first touch, COW) or read (file, swap-in), and each access is
//! timed on its own: `Instant::now()` before and after, as the model times
//! its page accesses. Whether the access faulted is read from the thread's
//! fault counters (`getrusage(RUSAGE_THREAD)`, minor plus major faults)
//! after the second timestamp, outside the timed interval. The COW pass
//! runs in a child of the storm process (forked after the file pass); the
//! storm process waits for it before the swap-in pass. Before each pass's
//! process times anything, it runs the same timing loop over memory it has
//! already touched, so that the code, the vDSO and its stack are mapped
//! and no fault of the harness lands in a timed access.
//!
//! Rows (value = median over the repetitions):
//! - `fault_ns_p50`, `fault_ns_p99`, `fault_ns_p999` (`ns`): percentiles,
//!   from an `hdrhistogram::Histogram<u64>` (3 significant digits) of
//!   every timed access that faulted, all kinds together.
//! - `anon_fault_ns_mean`, `file_fault_ns_mean`, `cow_fault_ns_mean`,
//!   `swapin_fault_ns_mean` (`ns`): mean over the faulting accesses of
//!   each kind. The timer overhead is *not* subtracted, as in the model.
//! - `anon_faults`, `file_faults`, `cow_faults`, `swapin_faults`
//!   (`faults`): how many accesses of each kind faulted. For anonymous and
//!   COW memory that is every page. For the file it is far fewer: a read
//!   fault on a file also maps the neighbouring page-cache pages
//!   ("fault-around": 64 KiB by default, and whole large page-cache folios
//!   on recent kernels), and the accesses to those pages do not fault (on
//!   the 6.18 kernel and ext4 where this was written, 100 to 200 pages per
//!   fault). So `file_fault_ns_mean` is the cost of a fault that maps many
//!   pages, where the model's file fault maps one; `file_access_ns_mean`
//!   is the per-page figure.
//! - `file_access_ns_mean` (`ns`): mean over every file page access,
//!   faulting or not: the per-page cost with fault-around amortised.
//! - `timer_overhead_ns` (`ns`): the median of 1001 back-to-back
//!   `Instant::now()` pairs in the storm process; it is included in every
//!   timed access above.
//! - `time_ns` (`ns`): the whole storm process, from its first `mmap` to
//!   the end of its last pass (before it sends its samples).
//!
//! Swap-in needs swap. When `/proc/swaps` lists no swap area the swap-in
//! pass is skipped: there is no `swapin_fault_ns_mean` row and no
//! swap-in access in the percentiles; instead a row `swapin_skipped`
//! (value 1, unit `no-swap`) says so. When `MADV_PAGEOUT` itself fails the
//! row is `swapin_skipped` with unit `pageout-ERRNO`. Pages that
//! `MADV_PAGEOUT` did not reclaim do not fault when read, so only the
//! accesses that did fault count.

//!
//! # Modules
//!
//! This module holds the options, [`run`] and the rows; `storm` the storm
//! processes (the code after the fork), `wire` what they send back, and
//! `measure` the measuring process's side (forking, reading, summarising).
//! [`scaling`] is separate: the scaling shapes (`page-fault/page_fault1`
//! and a scaled-down `aim7`) with 1 and 2 real processes, for the report's
//! comparison with the virtual-CPU engine at 2 CPUs (`kernel-bench
//! --scaling`).

use std::collections::BTreeMap;

use rmap_metrics::{KERNEL_BACKEND, Metric, Row};

#[cfg(target_os = "linux")]
mod measure;
#[cfg(target_os = "linux")]
pub mod scaling;
#[cfg(target_os = "linux")]
mod storm;
#[cfg(target_os = "linux")]
mod wire;

/// The model scenario that [`run`] mirrors with forks.
pub const FORK_STORM: &str = "fork-storm";
/// The model scenario that [`run`] mirrors with page faults.
pub const FAULT_STORM: &str = "fault-storm";

/// What to measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelBenchOptions {
    /// `fork-storm` sizes, in MiB.
    pub fork_sizes: Vec<u64>,
    /// `fault-storm` sizes, in MiB.
    pub fault_sizes: Vec<u64>,
    /// Repetitions of each size (at least 1).
    pub reps: u32,
}

impl Default for KernelBenchOptions {
    fn default() -> Self {
        KernelBenchOptions {
            fork_sizes: vec![16, 64, 256],
            fault_sizes: vec![16, 64],
            reps: 5,
        }
    }
}

/// Measures the live kernel (module docs) and returns its rows, sizes in
/// the order given, `fork-storm` first. `progress` gets one line per
/// repetition. A failing system call (an `mmap` refused, a `fork` failing,
/// a storm process dying) is an `Err` naming it.
pub fn run(opts: &KernelBenchOptions, progress: &mut dyn FnMut(&str)) -> Result<Vec<Row>, String> {
    if opts.reps == 0 {
        return Err("kernel-bench: --reps must be at least 1".to_string());
    }
    for &s in opts.fork_sizes.iter().chain(&opts.fault_sizes) {
        if s == 0 {
            return Err("kernel-bench: sizes must be at least 1 MiB".to_string());
        }
        if s.checked_mul(1 << 20)
            .and_then(|b| usize::try_from(b).ok())
            .is_none()
        {
            return Err(format!("kernel-bench: {s} MiB is too large"));
        }
    }
    measure::run(opts, progress)
}

/// Samples of one metric across the repetitions of one size.
struct Acc {
    unit: String,
    vals: Vec<f64>,
    reps: u32,
}

/// The metrics of one scenario at one size, in first-seen order.
#[derive(Default)]
struct Metrics {
    order: Vec<&'static str>,
    by_name: BTreeMap<&'static str, Acc>,
}

impl Metrics {
    /// Adds the samples that one repetition gave for `metric`.
    fn add(&mut self, metric: Metric, vals: &[f64]) {
        self.add_with_unit(metric, metric.unit, vals);
    }

    /// [`Metrics::add`] with a unit of its own (the reason a pass was
    /// skipped); the first repetition's unit is the row's.
    fn add_with_unit(&mut self, metric: Metric, unit: &str, vals: &[f64]) {
        if vals.is_empty() {
            return;
        }
        let name = metric.name;
        let acc = self.by_name.entry(name).or_insert_with(|| {
            self.order.push(name);
            Acc {
                unit: unit.to_string(),
                vals: Vec::new(),
                reps: 0,
            }
        });
        acc.vals.extend_from_slice(vals);
        acc.reps += 1;
    }

    fn rows(self, scenario: &str, size: u64) -> Vec<Row> {
        let mut by_name = self.by_name;
        self.order
            .iter()
            .filter_map(|m| by_name.remove(m).map(|a| (m, a)))
            .map(|(m, a)| {
                let key = rmap_metrics::RowKey {
                    scenario: scenario.to_string(),
                    size,
                    size_unit: "MiB".to_string(),
                    backend: KERNEL_BACKEND.to_string(),
                };
                let timed = Metric::by_name(m).is_some_and(|m| m.is_timed());
                Row::from_samples(&key, m, &a.unit, &a.vals, a.reps, timed)
            })
            .collect()
    }
}

/// The resident pages in the text of `/proc/self/statm` (its second
/// number); 0 if there is none. No allocation, no panic: runs after fork.
fn statm_resident(text: &[u8]) -> u64 {
    let mut fields = text
        .split(|b| *b == b' ' || *b == b'\n')
        .filter(|f| !f.is_empty());
    let _size = fields.next();
    let mut v: u64 = 0;
    for &b in fields.next().unwrap_or(&[]) {
        if !b.is_ascii_digit() {
            return 0;
        }
        v = v.saturating_mul(10).saturating_add(u64::from(b - b'0'));
    }
    v
}

/// Whether the text of `/proc/swaps` lists a swap area.
fn swaps_listed(text: &str) -> bool {
    text.lines().skip(1).any(|l| !l.trim().is_empty())
}

#[cfg(not(target_os = "linux"))]
mod measure {
    use super::*;

    pub(super) fn run(
        _opts: &KernelBenchOptions,
        _progress: &mut dyn FnMut(&str),
    ) -> Result<Vec<Row>, String> {
        Err("kernel-bench needs Linux".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmap_metrics::*;

    #[test]
    fn parses_statm_and_swaps() {
        assert_eq!(statm_resident(b"5120 1234 567 8 0 900 0\n"), 1234);
        assert_eq!(statm_resident(b"5120\n"), 0);
        assert_eq!(statm_resident(b""), 0);
        assert_eq!(statm_resident(b"1 x2 3"), 0);
        let head = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";
        assert!(!swaps_listed(head));
        assert!(swaps_listed(&format!(
            "{head}/swapfile                               file\t\t1048572\t\t0\t\t-2\n"
        )));
    }

    #[test]
    fn metrics_rows_keep_order_and_count_reps() {
        let mut m = Metrics::default();
        m.add(FORK_NS, &[1.0, 3.0]);
        m.add_with_unit(SWAPIN_SKIPPED, "x", &[5.0]);
        m.add(FORK_NS, &[2.0]);
        m.add(TIME_NS, &[]);
        let rows = m.rows("s", 4);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].metric, FORK_NS.name);
        assert_eq!((rows[0].value, rows[0].min, rows[0].max), (2.0, 1.0, 3.0));
        assert_eq!(rows[0].reps, 2);
        assert_eq!(rows[1].metric, SWAPIN_SKIPPED.name);
        assert_eq!(rows[1].unit, "x");
        assert_eq!(rows[1].backend, KERNEL_BACKEND);
        assert_eq!(rows[1].size_unit, "MiB");
    }

    #[test]
    fn bad_options_are_errors() {
        let mut opts = KernelBenchOptions {
            fork_sizes: vec![1],
            fault_sizes: vec![],
            reps: 0,
        };
        assert!(run(&opts, &mut |_| {}).is_err());
        opts.reps = 1;
        opts.fork_sizes = vec![0];
        assert!(run(&opts, &mut |_| {}).is_err());
        opts.fork_sizes = vec![u64::MAX / 2];
        assert!(run(&opts, &mut |_| {}).unwrap_err().contains("too large"));
    }

    #[cfg(target_os = "linux")]
    fn get(rows: &[Row], metric: Metric) -> &Row {
        rows.iter()
            .find(|r| r.metric == metric.name)
            .unwrap_or_else(|| panic!("no {metric} row in {rows:#?}"))
    }

    #[cfg(target_os = "linux")]
    fn check_common(rows: &[Row], scenario: &str) {
        for r in rows {
            assert_eq!(r.scenario, scenario);
            assert_eq!(r.backend, KERNEL_BACKEND);
            assert_eq!((r.size, r.size_unit.as_str(), r.reps), (1, "MiB", 1));
            assert!(
                r.value.is_finite() && r.min <= r.value && r.value <= r.max,
                "{r:?}"
            );
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn fork_storm_tiny() {
        let opts = KernelBenchOptions {
            fork_sizes: vec![1],
            fault_sizes: vec![],
            reps: 1,
        };
        let mut lines = Vec::new();
        let rows = run(&opts, &mut |l| lines.push(l.to_string())).unwrap();
        assert_eq!(lines, ["kernel fork-storm 1 MiB: rep 1/1"]);
        check_common(&rows, FORK_STORM);
        let fork = get(&rows, FORK_NS_PER_PAGE);
        assert!((1.0..100_000.0).contains(&fork.value), "{fork:?}");
        assert_eq!(fork.unit, "ns/page");
        let exit = get(&rows, EXIT_NS_PER_PAGE);
        assert!(exit.min > 0.0 && exit.max < 1e7, "{exit:?}");
        // the forking process holds at least the 256 pages of 1 MiB
        assert!(get(&rows, RESIDENT_PAGES).min >= 256.0);
        assert!(get(&rows, TIME_NS).value > get(&rows, FORK_NS).value);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn fault_storm_tiny() {
        let opts = KernelBenchOptions {
            fork_sizes: vec![],
            fault_sizes: vec![1],
            reps: 1,
        };
        let rows = run(&opts, &mut |_| {}).unwrap();
        check_common(&rows, FAULT_STORM);
        for m in [ANON_FAULT_NS_MEAN, FILE_FAULT_NS_MEAN, COW_FAULT_NS_MEAN] {
            let r = get(&rows, m);
            assert!(r.value > 0.0 && r.value < 1e8, "{r:?}");
        }
        let (p50, p99, p999) = (
            get(&rows, FAULT_NS_P50).value,
            get(&rows, FAULT_NS_P99).value,
            get(&rows, FAULT_NS_P999).value,
        );
        assert!(0.0 < p50 && p50 <= p99 && p99 <= p999, "{p50} {p99} {p999}");
        // every anonymous first touch and every COW write faults; the file
        // faults at least once
        assert!(get(&rows, ANON_FAULTS).value >= 128.0);
        assert!(get(&rows, COW_FAULTS).value >= 128.0);
        assert!(get(&rows, FILE_FAULTS).value >= 1.0);
        assert!(get(&rows, TIMER_OVERHEAD_NS).value < 1e6);
        assert!(
            rows.iter()
                .any(|r| r.metric == SWAPIN_FAULT_NS_MEAN.name || r.metric == SWAPIN_SKIPPED.name)
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn refused_mmap_is_an_error() {
        // 1 PiB: more than the user address space
        let opts = KernelBenchOptions {
            fork_sizes: vec![1 << 30],
            fault_sizes: vec![],
            reps: 1,
        };
        let e = run(&opts, &mut |_| {}).unwrap_err();
        assert!(e.contains("mmap failed: ENOMEM"), "{e}");
    }

    /// A manual run that prints the rows:
    /// `KBENCH_FORK=16,64,256 KBENCH_FAULT=16,64 KBENCH_REPS=5 cargo test
    /// --release -p rmap-kernel --lib bench::tests::print_rows --
    /// --ignored --nocapture`
    #[test]
    #[ignore]
    fn print_rows() {
        let sizes = |var: &str, default: &[u64]| -> Vec<u64> {
            std::env::var(var)
                .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
                .unwrap_or_else(|_| default.to_vec())
        };
        let opts = KernelBenchOptions {
            fork_sizes: sizes("KBENCH_FORK", &[16, 64, 256]),
            fault_sizes: sizes("KBENCH_FAULT", &[16, 64]),
            reps: std::env::var("KBENCH_REPS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(5),
        };
        let rows = run(&opts, &mut |l| eprintln!("{l}")).unwrap();
        for r in rows {
            println!(
                "{:<12} {:>4} {:<22} {:>12.1} {:<8} [{:.1}, {:.1}] reps={}",
                r.scenario, r.size, r.metric, r.value, r.unit, r.min, r.max, r.reps
            );
        }
    }
}
