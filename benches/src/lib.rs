//! # rmap-bench: scenarios, the suite runner, the report and the CLI
//!
//! - [`backends`]: the registry of backends and presets, so that a backend
//!   named on the command line becomes a concrete `ReverseMap` type;
//! - [`scenario`]: named, sized, deterministic generators of op streams,
//!   and [`real`], the committed traces of real programs, which
//!   [`strace`] made from `strace -f` logs (`import-strace`);
//! - [`runner`]: one op stream on one backend, measured (per-op times,
//!   fault latency histograms, walk lengths, metadata peaks), and the whole
//!   suite summarised into [`results::Row`]s;
//! - [`output`], [`plots`], [`report`], [`suite`]: results directories
//!   (written under a temporary name, then renamed), SVG plots, REPORT.md,
//!   and the `run`, `report`, `choose`, `trace` commands;
//! - [`kernel`], [`kernelbench`], [`fidelity`], [`tracegen`]: the live
//!   Linux kernel as a reference (same traces, same shapes), and random
//!   traces to compare it with the model;
//! - [`cli`]: the `rmap-bench` command line.
//!
//! Invariants: the same scenario, size and backend give the same counts on
//! every machine and every repetition (only times vary); no input makes a
//! command panic (malformed input exits with status 2 and a message naming
//! what and where).

pub mod backends;
pub mod cli;
pub mod fidelity;
pub mod kernel;
pub mod kernelbench;
pub mod output;
pub mod plots;
pub mod real;
pub mod report;
pub mod results;
pub mod runner;
pub mod scenario;
pub mod strace;
pub mod suite;
pub mod tracegen;
