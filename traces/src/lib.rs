//! # rmap-traces: where op streams come from
//!
//! Every workload of rmap-lab is a trace of operations
//! (`docs/trace-format.md`); this crate makes them:
//! - [`scenario`]: named, sized, deterministic generators of op streams
//!   (the suite's workloads), [`scenario::trace_text`] writing one as a
//!   trace;
//! - [`real`]: the committed traces of real programs (`traces/real/`),
//!   compiled in, which the `real-program` scenario replays;
//! - [`strace`]: the importer that turns an `strace -f` log into a trace
//!   (`rmap-bench import-strace`, `docs/strace-import.md`).
//!
//! Invariants: the same scenario, variant and size give the same ops on
//! every machine; every scenario maps inside the live-kernel window
//! ([`rmap_core::abi::WINDOW_START`]); the same log and options give the
//! same imported trace byte for byte. No input panics: impossible sizes,
//! unknown names and malformed logs are errors that say what and where.

pub mod real;
pub mod scenario;
pub mod strace;
