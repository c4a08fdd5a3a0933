//! Result rows: the tidy table every run writes (`results.csv`) and every
//! report reads.

use serde::{Deserialize, Serialize};

/// One measured value: a metric of one scenario form at one size on one
/// backend, summarised over the repetitions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// `BASE` or `BASE/VARIANT`.
    pub scenario: String,
    pub size: u64,
    /// What `size` counts (`MiB`, `children`, ...).
    pub size_unit: String,
    /// `NAME:PRESET`, or [`KERNEL_BACKEND`] for the live Linux kernel.
    pub backend: String,
    /// A [`crate::Metric`]'s name.
    pub metric: String,
    /// Median over the repetitions.
    pub value: f64,
    pub unit: String,
    pub min: f64,
    pub max: f64,
    /// Repetitions behind the value.
    pub reps: u32,
}

/// The backend name used for rows measured on the live kernel.
pub const KERNEL_BACKEND: &str = "kernel";
