//! `rmap-bench choose TRACE_OR_SCENARIO`: every backend preset on one
//! workload, ranked (see `report::choose_ranking`), as text or JSON.

use std::path::Path;
use std::time::Duration;

use rmap_traces::scenario;

use super::{Bar, Format, progress};
use crate::report::{self, Ranking};
use crate::runner::{self, SuiteOptions};

/// Options of `rmap-bench choose`.
#[derive(clap::Args, Debug)]
pub struct ChooseArgs {
    /// A trace file, or a scenario (`NAME` or `NAME/VARIANT`).
    pub target: String,
    /// Scenario size (default: the scenario's quick size).
    #[arg(long)]
    pub size: Option<u64>,
    /// Backends, comma-separated: `NAME` or `NAME:PRESET` (default: all).
    #[arg(long, value_delimiter = ',')]
    pub backends: Vec<String>,
    /// Timed repetitions per backend (after a warm-up), interleaved
    /// across backends.
    #[arg(long, default_value_t = 5)]
    pub reps: u32,
    /// Repetitions may grow to this while a time's interval is wider than
    /// 5% of its median.
    #[arg(long, default_value_t = 10)]
    pub max_reps: u32,
    /// No new round of repetitions after this many seconds.
    #[arg(long, default_value_t = 60.0)]
    pub max_time: f64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Prints the ranking of every preset for a trace file or each form of a
/// scenario. Exit status 2 for an unknown target or backend, an
/// impossible size, or a run that fails.
pub(super) fn choose(a: &ChooseArgs) -> i32 {
    match choose_inner(a) {
        Ok(list) => {
            match a.format {
                Format::Json => match serde_json::to_string_pretty(&list) {
                    Ok(j) => println!("{j}"),
                    Err(e) => {
                        eprintln!("rmap-bench choose: {e}");
                        return 2;
                    }
                },
                Format::Text => {
                    for r in &list {
                        print!(
                            "== {} ({})\n{}\n{}\n\n",
                            r.workload,
                            r.size_text(),
                            r.table(),
                            r.recommendation
                        );
                    }
                }
            }
            0
        }
        Err(e) => {
            eprintln!("rmap-bench choose: {e}");
            2
        }
    }
}

fn choose_inner(a: &ChooseArgs) -> Result<Vec<Ranking>, String> {
    if a.reps == 0 || a.max_reps < a.reps {
        return Err("--reps must be at least 1 and at most --max-reps".into());
    }
    let backends = rmap_registry::expand_backends(&a.backends)?;
    let path = Path::new(&a.target);
    let (forms, traces, sizes) = if path.is_file() {
        (Vec::new(), vec![runner::trace_workload(path)?], None)
    } else {
        let forms = scenario::resolve(&a.target)
            .map_err(|e| format!("`{}` is neither a trace file nor a scenario: {e}", a.target))?;
        let size = match a.size {
            Some(s) => s,
            None => forms[0].default_size()?,
        };
        (forms, Vec::new(), Some(vec![size]))
    };
    let opts = SuiteOptions {
        forms,
        traces,
        backends,
        sizes,
        quick: true,
        reps: a.reps,
        max_reps: a.max_reps,
        ci_target: 0.05,
        max_time: Some(Duration::from_secs_f64(a.max_time.max(0.0))),
        jobs: 1,
        engine_jobs: runner::engine_jobs(),
        shard: None,
    };
    let bar = Bar(progress(runner::count_runs(&opts)?));
    let rows = runner::run_suite(&opts, &bar)?;
    bar.0.finish_and_clear();
    let names: Vec<String> = runner::workloads(&opts)?
        .into_iter()
        .map(|w| w.name)
        .collect();
    Ok(names
        .iter()
        .filter_map(|n| report::choose_ranking(&rows, n))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(target: &str, backends: &[&str]) -> ChooseArgs {
        ChooseArgs {
            target: target.into(),
            size: None,
            backends: backends.iter().map(|s| s.to_string()).collect(),
            reps: 2,
            max_reps: 2,
            max_time: 10.0,
            format: Format::Text,
        }
    }

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
        let list = choose_inner(&args(
            p.to_str().unwrap(),
            &["scan", "pte-chain:rik", "anonvma:linux"],
        ))
        .unwrap();
        assert_eq!(list.len(), 1);
        let r = &list[0];
        assert_eq!(r.workload, "t.trace");
        assert_eq!(r.size_text(), "trace");
        assert_eq!(r.ranking.len(), 3);
        assert!(r.recommendation.contains("(trace)"), "{}", r.recommendation);
        assert!(!r.recommendation.contains("size 1"), "{}", r.recommendation);
        // Exact cost: the same ranking every time.
        let again = choose_inner(&args(
            p.to_str().unwrap(),
            &["scan", "pte-chain:rik", "anonvma:linux"],
        ))
        .unwrap();
        let order = |l: &[Ranking]| -> Vec<(usize, String)> {
            l[0].ranking
                .iter()
                .map(|x| (x.rank, x.backend.clone()))
                .collect()
        };
        assert_eq!(order(&list), order(&again));
        std::fs::remove_dir_all(&dir).unwrap();
        let e = choose_inner(&args("no-such-thing", &[])).unwrap_err();
        assert!(e.contains("neither a trace file nor a scenario"), "{e}");
    }
}
