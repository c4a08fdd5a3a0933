//! # rmap-bench: the runner and command line of rmap-lab
//!
//! Holds the registry of backends and presets (so that a backend named on
//! the command line becomes a concrete `ReverseMap` type), and the commands
//! of the `rmap-bench` binary. Scenarios, the suite runner, plots and the
//! report come with their own issue.

pub mod backends;
pub mod cli;
pub mod fidelity;
pub mod kernel;
pub mod kernelbench;
pub mod real;
pub mod results;
pub mod scenario;
pub mod tracegen;
