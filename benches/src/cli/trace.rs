//! `rmap-bench trace FORM` (a scenario form as a trace) and `rmap-bench
//! scenarios` (the list of them).

use rmap_traces::scenario;

/// Prints the trace; exit status 2 for an unknown or ambiguous form or an
/// impossible size.
pub(super) fn trace(name: &str, size: Option<u64>) -> i32 {
    match scenario::trace_text(name, size) {
        Ok(t) => {
            print!("{t}");
            0
        }
        Err(e) => {
            eprintln!("rmap-bench trace: {e}");
            2
        }
    }
}

/// Prints every scenario, its forms and sizes; exit status 0.
pub(super) fn scenarios() -> i32 {
    print!("{}", scenario::list_text());
    0
}
