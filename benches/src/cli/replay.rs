//! `rmap-bench replay FILE`: run a trace on the model and print its
//! `dump`, `err`, `stats` and failed `check` lines (or them as one JSON
//! document); optionally the time per kind of op and a lockstat-like table
//! of the locks the trace took, on standard error.

use std::io::Write;
use std::path::Path;

use rmap_core::replay::{ReplayError, replay as replay_trace};
use rmap_core::{Config, Op, PAGE_SIZE, ReverseMap};
use rmap_registry::WithBackend;

use super::Format;

/// What `replay` prints besides the trace's own output.
#[derive(Clone, Copy, Debug)]
pub(super) struct ReplayOptions {
    pub integrity: bool,
    pub timing: bool,
    pub locks: bool,
    pub format: Format,
    pub recording: rmap_core::LockRecording,
}

/// `scan` PTE reads above which its walks are called quadratic (about
/// three seconds at 3 ns a PTE, docs/performance.md).
const SCAN_WARN_PTES: f64 = 1e9;

/// Exit status: 0 ok, 1 a `check` failed, 2 an unreadable or malformed
/// trace, an unknown backend, or standard output failing.
pub(super) fn replay(file: &Path, backend: &str, o: ReplayOptions) -> i32 {
    let text = match super::read_trace(file) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let name = file.display().to_string();
    let ops: Vec<Op> = rmap_core::trace::parse(&text, &name)
        .map(|v| v.into_iter().map(|l| l.op).collect())
        .unwrap_or_default();
    if backend.split(':').next() == Some("scan") {
        if let Some(w) = scan_warning(&ops) {
            eprintln!("{w}");
        }
    }
    // With --locks, one `stats all` is added after the last line (so no
    // line number moves); its output is read for the table, not printed.
    if o.locks && o.recording == rmap_core::LockRecording::Off {
        eprintln!("rmap-bench replay: --locks needs --lock-recording stats or events");
        return 2;
    }
    let text = if o.locks {
        format!("{text}\nstats all\n")
    } else {
        text
    };
    let job = ReplayJob {
        text: &text,
        name: &name,
        cfg: Config {
            integrity: o.integrity,
            locks: o.recording,
            ..Config::default()
        },
        o,
    };
    let code = match rmap_registry::with_backend(backend, job) {
        Err(e) => {
            eprintln!("rmap-bench: {e}");
            return 2;
        }
        Ok(code) => code,
    };
    let asks = ops
        .iter()
        .any(|op| matches!(op, Op::Dump { .. } | Op::Stats(_) | Op::Check));
    if code == 0 && !asks {
        eprintln!(
            "rmap-bench replay: {name} ran {} ops but asks for no output (no dump, stats or check line): nothing to print",
            ops.iter().filter(|op| !matches!(op, Op::Config(_))).count()
        );
    }
    code
}

/// The warning to print when `scan`, whose every rmap walk reads every
/// page table, will walk often over many mapped pages; `None` otherwise.
fn scan_warning(ops: &[Op]) -> Option<String> {
    let mut ram = Config::default().ram;
    let (mut touched, mut reclaim) = (0u64, 0u64);
    for op in ops {
        match op {
            Op::Config(items) => {
                let mut c = Config::default();
                rmap_core::replay::apply_config(&mut c, items);
                ram = c.ram;
            }
            Op::Touch { len, .. } => touched += len.div_ceil(PAGE_SIZE),
            Op::Reclaim { pages } => reclaim += pages,
            _ => {}
        }
    }
    let frames = ram / PAGE_SIZE;
    let walks = reclaim + touched.saturating_sub(frames);
    let reads = walks as f64 * touched.min(frames) as f64;
    (reads > SCAN_WARN_PTES).then(|| {
        format!(
            "rmap-bench replay: warning: `scan` reads every page table on every rmap walk; this trace touches about {touched} pages ({frames} frames of RAM) and will walk about {walks} times, some {reads:.1e} PTE reads (quadratic): expect a long run. The default backend anonvma:linux walks only the VMAs that may map a page."
        )
    })
}

/// One replay, run with a concrete backend.
struct ReplayJob<'a> {
    text: &'a str,
    name: &'a str,
    cfg: Config,
    o: ReplayOptions,
}

impl WithBackend for ReplayJob<'_> {
    type Out = i32;
    fn run<R: ReverseMap>(self, rmap: R) -> i32 {
        let mut buf: Vec<u8> = Vec::new();
        let res = replay_trace(self.text, self.name, rmap, self.cfg, &mut buf);
        let mut text = String::from_utf8_lossy(&buf).into_owned();
        if self.o.locks && res.is_ok() {
            // the added `stats all` printed the last line
            let cut = text.trim_end_matches('\n').rfind('\n').map_or(0, |i| i + 1);
            let last = text[cut..].trim().to_string();
            text.truncate(cut);
            eprint!("{}", lock_table(&last));
        }
        let written = match self.o.format {
            Format::Text => std::io::stdout().write_all(text.as_bytes()),
            Format::Json => writeln!(std::io::stdout(), "{}", as_json(&text)),
        };
        if let (true, Ok(sum)) = (self.o.timing, &res) {
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
            Ok(sum) if written.is_ok() => i32::from(sum.check_failures > 0),
            Ok(_) => 2,
            Err(ReplayError::Trace(e)) => {
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

/// The lockstat-like table of a `stats all` line's `locks` object.
fn lock_table(stats_line: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(stats_line) else {
        return "rmap-bench replay: no lock statistics (the trace did not finish)\n".into();
    };
    let mut s = format!(
        "{:<14} {:<10} {:>12} {:>10} {:>10} {:>14} {:>18} {:>7}\n",
        "class", "kind", "acquisitions", "shared", "instances", "hold units", "busiest", "share"
    );
    if let Some(locks) = v["locks"].as_object() {
        for (class, c) in locks {
            let n = |k: &str| c[k].as_u64().unwrap_or(0);
            let busiest = c["busiest"]
                .as_u64()
                .map_or("–".to_string(), |b| format!("{b:#x}"));
            s.push_str(&format!(
                "{class:<14} {:<10} {:>12} {:>10} {:>10} {:>14} {busiest:>18} {:>6.1}%\n",
                c["kind"].as_str().unwrap_or("?"),
                n("acquired"),
                n("shared"),
                n("instances"),
                n("hold_units"),
                c["top_share"].as_f64().unwrap_or(0.0) * 100.0
            ));
        }
    }
    s
}

/// Replay output as one JSON document: `dumps` (pid and map lines),
/// `errors` (line, op, errno), `stats` (the JSON of each `stats` line) and
/// `check_failures`, each in trace order.
fn as_json(text: &str) -> serde_json::Value {
    let (mut dumps, mut errors, mut stats, mut checks) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for line in text.lines() {
        if let Some(pid) = line.strip_prefix("dump ") {
            dumps.push(serde_json::json!({"pid": pid.parse::<u64>().ok(), "maps": []}));
        } else if let Some(rest) = line.strip_prefix("err ") {
            let f: Vec<&str> = rest.split_whitespace().collect();
            errors.push(serde_json::json!({
                "line": f.first().and_then(|x| x.parse::<u64>().ok()),
                "op": f.get(1),
                "errno": f.get(2),
            }));
        } else if line.starts_with('{') {
            stats.push(serde_json::from_str(line).unwrap_or(serde_json::Value::Null));
        } else if line.starts_with("check ") {
            checks.push(serde_json::Value::String(line.to_string()));
        } else if let Some(serde_json::Value::Object(d)) = dumps.last_mut()
            && let Some(serde_json::Value::Array(m)) = d.get_mut("maps")
        {
            m.push(serde_json::Value::String(line.to_string()));
        }
    }
    serde_json::json!({"dumps": dumps, "errors": errors, "stats": stats, "check_failures": checks})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(text: &str) -> Vec<Op> {
        rmap_core::trace::parse(text, "t")
            .unwrap()
            .into_iter()
            .map(|l| l.op)
            .collect()
    }

    /// The example: 1 GiB of shared memory written under the
    /// default 1 GiB of RAM plus a little more, which `scan` replays in
    /// quadratic time; a small trace gets no warning. (Tested here, not by
    /// running the replay, which would take minutes.)
    #[test]
    fn scan_warns_of_quadratic_walks_only() {
        let big = "mmap 1 0x100000000000 2G rw- shared\ntouch 1 0x100000000000 2G w\n";
        let w = scan_warning(&ops(big)).expect("a warning");
        assert!(w.contains("quadratic"), "{w}");
        let small =
            "config ram=64M\nmmap 1 0x100000000000 64M rw- shared\ntouch 1 0x100000000000 64M w\n";
        assert_eq!(scan_warning(&ops(small)), None);
    }
}
