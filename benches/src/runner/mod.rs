//! The suite runner: one op stream on one backend, measured
//! ([`measure`]), and a sweep of workloads × backends × repetitions,
//! scheduled so that host noise spreads evenly and summarised into result
//! rows ([`run_suite`]).
//!
//! - `measure`: what one run measures (per-op times through
//!   `System::apply_observed`, with each page of a `touch` timed and
//!   classified by the fault the model says it took; work units; counts and
//!   peaks);
//! - `suite`: the workloads (scenario forms at their sizes, trace files),
//!   shards of the sweep, the warm-up, repetitions interleaved across
//!   backends in a seeded random order, repetitions added until every
//!   interval is narrow enough or the time budget is spent, and the rows.
//!
//! Invariants: counts and work units are identical across repetitions (a
//! difference is reported as an error, never averaged away); rows come back
//! in a fixed order (workload, backend, metric) whatever the schedule.

mod measure;
mod suite;

pub use measure::{RunResult, Value, measure, measure_spec, timer_overhead_ns};
pub use suite::{
    Shard, SuiteOptions, SuiteProgress, TRACE_UNIT, Workload, count_runs, engine_jobs, rows_of,
    run_suite, sizes_of, trace_workload, workloads,
};
