//! # rmap-bench: the suite runner, the report and the CLI
//!
//! - [`runner`]: one op stream on one backend, measured (per-op times,
//!   fault latency histograms, walk lengths, metadata peaks), and the whole
//!   suite summarised into [`rmap_metrics::Row`]s;
//! - [`output`]: results directories (`results.csv`, `meta.json`, plots,
//!   REPORT.md), written under a temporary name and renamed into place;
//! - [`plots`]: SVG plots of result rows;
//! - [`report`]: REPORT.md as tables, the history as claims held as data
//!   ([`report::claims`]), the classes of workload, and the `choose`
//!   ranking;
//! - [`cli`]: the `rmap-bench` command line, one handler per subcommand.
//!
//! What it runs comes from the other crates: the backends from
//! `rmap-registry`, the workloads from `rmap-traces` (scenarios, real
//! programs, the strace importer), the metrics from `rmap-metrics`, and
//! the live kernel from `rmap-kernel`.
//!
//! Invariants: the same scenario, size and backend give the same counts on
//! every machine and every repetition (only times vary); no input makes a
//! command panic (malformed input exits with status 2 and a message naming
//! what and where).

pub mod cli;
pub mod compare;
pub mod output;
pub mod plots;
pub mod report;
pub mod runner;
pub mod stats;
