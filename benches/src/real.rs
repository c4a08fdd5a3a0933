//! Committed traces of real programs (made by `rmap-bench import-strace`),
//! compiled into the binary so that `real-program` runs from anywhere.

/// `(name, trace text)` of every committed real-program trace.
pub static REAL_TRACES: &[(&str, &str)] = &[];
