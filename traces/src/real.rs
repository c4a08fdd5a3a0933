//! Committed traces of real programs (made by `rmap-bench import-strace`),
//! compiled into the binary so that `real-program` runs from anywhere.
//!
//! Each `NAME.trace` in `traces/real/` is the import, with the default
//! access policy, of the `NAME.strace` log beside it; the commands that
//! recorded the logs are in `docs/strace-import.md`.

/// `(name, trace text)` of every committed real-program trace.
pub static REAL_TRACES: &[(&str, &str)] = &[
    ("gcc", include_str!("../real/gcc.trace")),
    ("python", include_str!("../real/python.trace")),
    ("realloc", include_str!("../real/realloc.trace")),
    ("sort", include_str!("../real/sort.trace")),
];
