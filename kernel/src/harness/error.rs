//! Why a live run stops.

use rmap_core::trace::TraceError;

/// Why a live run stopped.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// A malformed trace, or an op naming a process that does not exist (or
    /// a `fork` to a child id in use), worded as the model words it: exit
    /// status 2.
    #[error("{0}")]
    Trace(#[from] TraceError),
    /// A well-formed trace that the live run cannot replay faithfully.
    #[error("{file}:{line}: {why}")]
    Refused {
        file: String,
        line: usize,
        why: String,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The harness itself failed (a trace process died or hung, a system
    /// call of the controller failed, ...).
    #[error("live run: {0}")]
    Sys(String),
}
