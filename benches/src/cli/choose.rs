//! `rmap-bench choose TRACE_OR_SCENARIO`: every backend preset on one
//! workload, ranked.

use std::path::Path;

use rmap_core::Op;
use rmap_traces::scenario;

use super::progress;
use crate::report;
use crate::runner;

/// Prints the ranking of every preset in `backends_list` (default: all)
/// for a trace file or each form of a scenario (at `size`, default its
/// quick size). Exit status 2 for an unknown target or backend, an
/// impossible size, or a run that fails.
pub(super) fn choose(target: &str, size: Option<u64>, backends_list: &[String], reps: u32) -> i32 {
    match choose_inner(target, size, backends_list, reps) {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(e) => {
            eprintln!("rmap-bench choose: {e}");
            2
        }
    }
}

fn choose_inner(
    target: &str,
    size: Option<u64>,
    backends_list: &[String],
    reps: u32,
) -> Result<String, String> {
    let specs = rmap_registry::expand_backends(backends_list)?;
    // (name, size, ops) of each workload to rank.
    let mut work: Vec<(String, u64, String, Vec<Op>)> = Vec::new();
    let path = Path::new(target);
    if path.is_file() {
        let bytes = std::fs::read(path).map_err(|e| format!("{target}: {e}"))?;
        let text = String::from_utf8_lossy(&bytes);
        let ops = rmap_core::trace::parse(&text, target)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|l| l.op)
            .collect();
        work.push((target.to_string(), 1, "trace".into(), ops));
    } else {
        let forms = scenario::resolve(target)
            .map_err(|e| format!("`{target}` is neither a trace file nor a scenario: {e}"))?;
        for f in forms {
            let s = match size {
                Some(s) => s,
                None => f.default_size()?,
            };
            let ops = f.build(s)?;
            work.push((f.full_name(), s, f.scenario.size_unit.to_string(), ops));
        }
    }
    let pb = progress((work.len() * specs.len()) as u64 * reps.max(1) as u64);
    let mut out = String::new();
    for (name, s, unit, ops) in &work {
        let mut rows = Vec::new();
        for spec in &specs {
            let mut runs = Vec::new();
            for _ in 0..reps.max(1) {
                pb.set_message(format!("{name} {spec}"));
                runs.push(runner::measure_spec(ops, spec).map_err(|e| format!("{spec}: {e}"))?);
                pb.inc(1);
            }
            rows.extend(runner::rows_of(name, *s, unit, spec, &runs));
        }
        let (table, rec) = report::choose_table(&rows, name);
        out.push_str(&format!("== {name} (size {s} {unit})\n{table}\n{rec}\n\n"));
    }
    pb.finish_and_clear();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choose_ranks_a_trace_file() {
        let dir = std::env::temp_dir().join(format!("rmap-choose-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t.trace");
        std::fs::write(
            &p,
            "mmap 1 0x100000000000 256K rw- private\ntouch 1 0x100000000000 256K w\nfork 1 2\nreclaim 16\n",
        )
        .unwrap();
        let out = choose_inner(
            p.to_str().unwrap(),
            None,
            &[
                "scan".into(),
                "pte-chain:rik".into(),
                "anonvma:linux".into(),
            ],
            1,
        )
        .unwrap();
        assert!(
            out.contains("rank") && out.contains("anonvma:linux"),
            "{out}"
        );
        assert!(out.contains("choose "), "{out}");
        assert!(
            out.lines()
                .filter(|l| l.starts_with(['1', '2', '3']))
                .count()
                == 3,
            "{out}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        let e = choose_inner("no-such-thing", None, &[], 1).unwrap_err();
        assert!(e.contains("neither a trace file nor a scenario"), "{e}");
    }
}
