//! Stub: replaced by the live-kernel benchmark.
use crate::results::Row;
pub struct KernelBenchOptions {
    pub fork_sizes: Vec<u64>,
    pub fault_sizes: Vec<u64>,
    pub reps: u32,
}
pub fn run(_o: &KernelBenchOptions, _p: &mut dyn FnMut(&str)) -> Result<Vec<Row>, String> {
    Err("not built yet".into())
}
