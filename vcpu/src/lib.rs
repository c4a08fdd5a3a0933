//! # rmap-vcpu: the model on N virtual CPUs
//!
//! A deterministic, functional-first discrete-event simulation that runs
//! the rmap-lab model on 1 to thousands of virtual CPUs, with contention on
//! the lock protocol each preset's era declares (`rmap_core::locks`), so
//! that a 2-core host shows what 64 or 1024 CPUs would see.
//!
//! - [`engine`]: the simulation. One `System<R>` holds the whole machine;
//!   each CPU runs a stream of ops; an op runs atomically in the model when
//!   it starts (in global virtual-time order of starts, ties to the lowest
//!   CPU id), and its recorded lock acquisitions and work then drive its
//!   timing through per-instance lock queues ([`lockq`]) with the kind's
//!   semantics (spin, bit spin, mutex, semaphore, rwsem with writer
//!   preference, trylocks that fail at once);
//! - [`script`]: an op's record priced into steps;
//! - [`costs`]: the cost table (ns per work unit and per lock operation),
//!   the committed default `costs.json` and cost files;
//! - [`model`]: the model as the engine's source of ops, with kswapd-like
//!   reclaimer CPUs;
//! - [`suite`]: a scaling scenario × CPU count × backend → result rows for
//!   `rmap-bench run`; [`lockstat`]: one run as a lock_stat-like table
//!   (`rmap-bench vcpu`);
//! - [`calibrate`]: `rmap-bench calibrate`, the model's own cost per unit
//!   and real lock costs with real threads on this host.
//!
//! What the simplification means, and what is not modelled (cache-line
//! transfers beyond the lock costs, preemption, the page allocator's and
//! page cache's locks): `docs/benchmarks.md`.
//!
//! Invariants: no host clock enters a run (only [`suite::Outcome::wall`],
//! which no result row carries): the same workload, backend and cost
//! table give the same numbers on every run and machine. The model's state
//! after a run is exactly that of a sequential replay of the ops in the
//! order they started. Nothing panics on any input: a deadlock or a failed
//! op is an error that says which CPU and which lock or op.

pub mod calibrate;
pub mod costs;
pub mod engine;
pub mod lockq;
pub mod lockstat;
pub mod model;
pub mod script;
pub mod suite;

pub use costs::{Costs, Time};
pub use engine::{Next, Report, Source, run};
pub use script::Script;
