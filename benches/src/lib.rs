//! # rmap-bench: the suite runner, the report and the CLI
//!
//! - [`runner`]: one op stream on one backend, measured (per-op times
//!   through `System::apply_observed`, fault latency histograms by the
//!   model's fault kinds, work units, walk lengths, metadata peaks), and a
//!   sweep scheduled against host noise (warm-up, repetitions interleaved
//!   in a seeded random order, repetitions added while intervals are wide,
//!   shards) and summarised into [`rmap_metrics::Row`]s;
//! - [`stats`]: the Mann-Whitney U test, the seeded bootstrap, and when a
//!   difference counts;
//! - [`output`]: results directories (`results.csv`, `meta.json`, plots,
//!   REPORT.md, report.html), written under a temporary name and renamed
//!   into place; where a run may write; shards read as one;
//! - [`plots`]: SVG plots of result rows;
//! - [`report`]: REPORT.md and report.html as tables, verdicts (a winner
//!   only when significant, else a tie: [`report::verdict`]), the history
//!   as claims held as data ([`report::claims`]), the classes of workload,
//!   and the `choose` ranking;
//! - [`compare`]: two or more result directories side by side, as ratios
//!   with intervals and significance marks;
//! - [`cli`]: the `rmap-bench` command line, one handler per subcommand.
//!
//! What it runs comes from the other crates: the backends from
//! `rmap-registry`, the workloads from `rmap-traces` (scenarios, real
//! programs, the strace importer), the metrics from `rmap-metrics`, and
//! the live kernel from `rmap-kernel`.
//!
//! Invariants: the same scenario, size and backend give the same counts and
//! work units on every machine and every repetition (only times vary, and
//! every verdict on a time is tested for significance); every random choice
//! (schedule, bootstrap) comes from a generator seeded by a named constant;
//! no input makes a command panic (malformed input exits with status 2 and
//! a message naming what and where).

pub mod cli;
pub mod compare;
pub mod output;
pub mod plots;
pub mod report;
pub mod runner;
pub mod stats;
