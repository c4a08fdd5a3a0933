//! `rmap-bench replay FILE`: run a trace on the model and print its
//! `dump`, `err`, `stats` and failed `check` lines.

use std::io::Write;
use std::path::Path;

use rmap_core::replay::{ReplayError, replay as replay_trace};
use rmap_core::{Config, ReverseMap};
use rmap_registry::WithBackend;

/// Exit status: 0 ok, 1 a `check` failed, 2 an unreadable or malformed
/// trace, an unknown backend, or standard output failing.
pub(super) fn replay(file: &Path, backend: &str, no_integrity: bool, timing: bool) -> i32 {
    let text = match std::fs::read(file) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => {
            eprintln!("rmap-bench: cannot read {}: {e}", file.display());
            return 2;
        }
    };
    let cfg = Config {
        integrity: !no_integrity,
        ..Config::default()
    };
    let job = ReplayJob {
        text: &text,
        name: &file.display().to_string(),
        cfg,
        timing,
    };
    match rmap_registry::with_backend(backend, job) {
        Err(e) => {
            eprintln!("rmap-bench: {e}");
            2
        }
        Ok(code) => code,
    }
}

/// One replay, run with a concrete backend.
struct ReplayJob<'a> {
    text: &'a str,
    name: &'a str,
    cfg: Config,
    /// Print the time spent per kind of op on standard error.
    timing: bool,
}

impl WithBackend for ReplayJob<'_> {
    type Out = i32;
    fn run<R: ReverseMap>(self, rmap: R) -> i32 {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        let res = replay_trace(self.text, self.name, rmap, self.cfg, &mut out);
        let flushed = out.flush();
        if let (true, Ok(sum)) = (self.timing, &res) {
            eprintln!(
                "{:<10} {:>10} {:>14} {:>12}",
                "op", "count", "total_ms", "ns_per_op"
            );
            for (op, (n, d)) in &sum.time_by_op {
                eprintln!(
                    "{op:<10} {n:>10} {:>14.3} {:>12}",
                    d.as_secs_f64() * 1e3,
                    d.as_nanos() / u128::from((*n).max(1))
                );
            }
        }
        match res {
            Ok(sum) if flushed.is_ok() => i32::from(sum.check_failures > 0),
            Ok(_) => 2,
            Err(ReplayError::Trace(e)) => {
                drop(out);
                eprintln!("{e}");
                2
            }
            Err(ReplayError::Io(e)) => {
                eprintln!("rmap-bench: {e}");
                2
            }
        }
    }
}
