//! `rmap-bench import-strace LOG`: an strace log as a trace, on standard
//! output or written atomically to a file.

use std::io::Write;
use std::path::Path;

use rmap_traces::strace::{ImportOptions, import};

use super::read_trace;
use crate::output::write_file_atomic;

/// Exit status: 0 on success, 2 on an unreadable or malformed log or an
/// unwritable output.
pub(super) fn import_strace(log: &Path, out: Option<&Path>, opts: &ImportOptions) -> i32 {
    let text = match read_trace(log) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let imported = match import(&text, &log.display().to_string(), opts) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("rmap-bench import-strace: {e}");
            return 2;
        }
    };
    let trace = imported.to_text();
    match out {
        Some(path) => match write_file_atomic(path, trace.as_bytes()) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("rmap-bench import-strace: {e}");
                2
            }
        },
        None => {
            let mut stdout = std::io::stdout().lock();
            match stdout
                .write_all(trace.as_bytes())
                .and_then(|()| stdout.flush())
            {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("rmap-bench import-strace: writing standard output: {e}");
                    2
                }
            }
        }
    }
}
