//! `rmap-bench run`: the suite, every scenario form × size × backend
//! preset (and any trace files named), with a progress bar; then the live
//! kernel on the fork-storm and fault-storm sizes, and the results
//! directory.
//!
//! Where results go: `--out DIR`, else `results/quick` (`--quick`) or
//! `results/full` for the whole suite, else (a filtered, sized or sharded
//! run) a new `results/runs/DATE-TIME` directory, so that a partial run
//! never replaces a complete one. A directory holding a complete full run
//! is replaced only with `--force`, and never by a partial run.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rmap_kernel::bench::KernelBenchOptions;
use rmap_metrics::Row;
use rmap_traces::scenario::{Form, expand_forms};

use super::{Bar, progress};
use crate::output::{self, Meta};
use crate::report::{Outcome, Table, claims};
use crate::runner::{self, Shard, SuiteOptions};

/// Options of `rmap-bench run` (flattened into the subcommand).
#[derive(clap::Args, Debug, Default)]
pub struct RunArgs {
    /// Scenarios (`NAME` or `NAME/VARIANT`; default: all; see
    /// `rmap-bench scenarios`) and trace files (`my.trace`, reported
    /// under the file's name).
    pub scenarios: Vec<String>,
    /// Backends, comma-separated: `NAME` (every preset) or
    /// `NAME:PRESET` (default: every preset of every backend).
    #[arg(long, value_delimiter = ',')]
    pub backends: Vec<String>,
    /// Sizes for every scenario, comma-separated (default: each
    /// scenario's own quick or full sizes).
    #[arg(long, value_delimiter = ',')]
    pub sizes: Option<Vec<u64>>,
    /// Repetitions every run gets at least (default 5), after one
    /// untimed warm-up.
    #[arg(long)]
    pub reps: Option<u32>,
    /// Repetitions a run may grow to while a timed metric's confidence
    /// interval is wider than --ci-target (default: 4 × --reps; equal to
    /// --reps for a fixed count).
    #[arg(long)]
    pub max_reps: Option<u32>,
    /// Width of interval to aim for, relative to the median
    /// ((high - low) / median).
    #[arg(long, default_value_t = 0.05)]
    pub ci_target: f64,
    /// Time budget in seconds: no new round of repetitions starts after it
    /// (default 90 with --quick, else 900; the first --reps rounds always
    /// run).
    #[arg(long)]
    pub max_time: Option<f64>,
    /// One mid-sized size per scenario: about a minute of runs (plus the
    /// build).
    #[arg(long)]
    pub quick: bool,
    /// Results directory (default: results/quick with --quick,
    /// results/full for the whole suite, else a new results/runs/DATE-TIME).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace a directory that holds a complete full run.
    #[arg(long)]
    pub force: bool,
    /// Runs at once (1 gives the steadiest timings).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Run only the K-th of N disjoint slices of the sweep (e.g. 3/8, for
    /// a batch scheduler); `rmap-bench report DIR...` merges the shards.
    #[arg(long)]
    pub shard: Option<Shard>,
    /// Skip the live-kernel fork and fault measurements.
    #[arg(long)]
    pub no_kernel: bool,
    /// Cost table of the virtual-CPU engine for the scaling scenarios (a
    /// JSON cost file, as `rmap-bench calibrate` writes; default: the
    /// committed `vcpu/costs.json`).
    #[arg(long)]
    pub costs: Option<PathBuf>,
}

/// Exit status 2 for unknown scenarios or backends, impossible sizes or
/// repetitions, a failed run or a directory that may not be replaced.
pub(super) fn run(a: RunArgs) -> i32 {
    match run_inner(a) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("rmap-bench run: {e}");
            2
        }
    }
}

/// Whether the run is the whole suite (every scenario, every backend,
/// the scenarios' own sizes, no shard).
fn is_whole(a: &RunArgs) -> bool {
    a.scenarios.is_empty() && a.backends.is_empty() && a.sizes.is_none() && a.shard.is_none()
}

/// What the options mean: the suite to run.
fn suite_options(a: &RunArgs) -> Result<SuiteOptions, String> {
    let (mut names, mut traces) = (Vec::new(), Vec::new());
    for s in &a.scenarios {
        let p = Path::new(s);
        if p.is_file() || s.ends_with(".trace") {
            traces.push(runner::trace_workload(p)?);
        } else {
            names.push(s.clone());
        }
    }
    let forms = if names.is_empty() && !traces.is_empty() {
        Vec::new()
    } else {
        expand_forms(&names)?
    };
    let backends = rmap_registry::expand_backends(&a.backends)?;
    if a.sizes.as_ref().is_some_and(|s| s.is_empty()) {
        return Err("--sizes needs at least one size".into());
    }
    let reps = a.reps.unwrap_or(5);
    if reps == 0 {
        return Err("--reps must be at least 1".into());
    }
    let max_reps = a.max_reps.unwrap_or(reps * 4);
    if max_reps < reps {
        return Err(format!("--max-reps {max_reps} is below --reps {reps}"));
    }
    if a.ci_target.is_nan() || a.ci_target <= 0.0 {
        return Err("--ci-target must be above 0".into());
    }
    let max_time = a.max_time.unwrap_or(if a.quick { 90.0 } else { 900.0 });
    if max_time.is_nan() || max_time < 0.0 || !max_time.is_finite() {
        return Err("--max-time must be a number of seconds".into());
    }
    Ok(SuiteOptions {
        forms,
        traces,
        backends,
        sizes: a.sizes.clone(),
        quick: a.quick,
        reps,
        max_reps,
        ci_target: a.ci_target,
        max_time: Some(Duration::from_secs_f64(max_time)),
        jobs: a.jobs.max(1),
        engine_jobs: runner::engine_jobs(),
        shard: a.shard,
    })
}

/// The directory the run writes, and whether it may: see the module
/// documentation.
fn out_dir(a: &RunArgs, root: &Path) -> Result<PathBuf, String> {
    let whole = is_whole(a);
    let out = match (&a.out, whole, a.quick) {
        (Some(o), _, _) => o.clone(),
        (None, true, true) => root.join("quick"),
        (None, true, false) => root.join("full"),
        (None, false, _) => output::new_run_dir(&root.join("runs"))?,
    };
    if output::holds_complete_run(&out)? {
        if !whole || a.quick {
            return Err(format!(
                "{} holds a complete full run, which a partial or quick run may not replace; write elsewhere with --out DIR (or leave --out out: a new results/runs/ directory)",
                out.display()
            ));
        }
        if !a.force {
            return Err(format!(
                "{} holds a complete full run; pass --force to replace it, or --out DIR",
                out.display()
            ));
        }
    }
    Ok(out)
}

/// The progress bar, told of every run and of rounds added.
fn run_inner(a: RunArgs) -> Result<(), String> {
    let t0 = Instant::now();
    let opts = suite_options(&a)?;
    let out = out_dir(&a, Path::new("results"))?;
    let total = runner::count_runs(&opts)?;
    if let Some(p) = &a.costs {
        rmap_vcpu::suite::set_costs(rmap_vcpu::Costs::load(p)?)?;
    }
    eprintln!(
        "rmap-bench run: {} workloads × {} backends, {total} runs to start with (a warm-up, then {} to {} reps, interleaved){} -> {}",
        opts.forms.len() + opts.traces.len(),
        opts.backends.len(),
        opts.reps,
        opts.max_reps,
        opts.shard
            .map_or(String::new(), |s| format!(", shard {}/{}", s.k, s.n)),
        out.display()
    );
    let bar = Bar(progress(total));
    let mut rows = runner::run_suite(&opts, &bar)?;
    bar.0.finish_and_clear();
    if !a.no_kernel && opts.shard.is_none_or(|s| s.k == 1) {
        rows.extend(kernel_rows(&opts));
    }
    let mut meta = Meta::now(serde_json::json!({
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "mode": if a.quick { "quick" } else { "full" },
        "complete": is_whole(&a) && !a.quick,
        "scenarios": opts.forms.iter().map(Form::full_name)
            .chain(opts.traces.iter().map(|t| t.name.clone())).collect::<Vec<_>>(),
        "backends": opts.backends,
        "sizes": opts.sizes,
        "reps": opts.reps,
        "max_reps": opts.max_reps,
        "ci_target": opts.ci_target,
        "max_time_s": opts.max_time.map(|d| d.as_secs_f64()),
        "jobs": opts.jobs,
        "engine_jobs": opts.engine_jobs,
        "shard": opts.shard.map(|s| format!("{}/{}", s.k, s.n)),
        "kernel": !a.no_kernel,
        "costs": a.costs.as_ref().map(|p| p.display().to_string()),
    }));
    meta.wall_s = t0.elapsed().as_secs_f64();
    output::write_results(&out, &rows, &meta)?;
    eprintln!(
        "rmap-bench run: {} rows in {:.1} s; wrote {}/results.csv, meta.json, plots/, REPORT.md and report.html",
        rows.len(),
        meta.wall_s,
        out.display()
    );
    let t = Table::new(&rows);
    for (c, v) in claims::check_all(&t) {
        let v = match v.outcome {
            Outcome::Reproduced => "reproduced",
            Outcome::NotReproduced => "DIFFERS",
            Outcome::NotMeasured => "not measured",
        };
        eprintln!("  {v:<12} {}", c.statement);
    }
    for line in crate::report::classes::verdict_lines(&t) {
        eprintln!("  {line}");
    }
    Ok(())
}

/// The live kernel's rows for the fork-storm and fault-storm sizes of this
/// run (none when neither ran or the kernel cannot be measured here; a
/// failure is reported and the run goes on without them).
fn kernel_rows(opts: &SuiteOptions) -> Vec<Row> {
    let sizes = |name: &str| -> Vec<u64> {
        opts.forms
            .iter()
            .filter(|f| f.scenario.name == name)
            .flat_map(|f| runner::sizes_of(f, opts))
            .collect()
    };
    let (fork, fault) = (
        sizes(rmap_kernel::bench::FORK_STORM),
        sizes(rmap_kernel::bench::FAULT_STORM),
    );
    // the scaling shapes the live kernel also runs, with 1 and 2 processes
    #[cfg(target_os = "linux")]
    let live: Vec<String> = rmap_kernel::bench::scaling::SHAPES
        .iter()
        .filter(|s| opts.forms.iter().any(|f| f.full_name() == **s))
        .map(|s| s.to_string())
        .collect();
    #[cfg(target_os = "linux")]
    let scaling_rows = if live.is_empty() {
        Vec::new()
    } else {
        rmap_kernel::bench::scaling::run(&live, opts.reps.min(3), &mut |m: &str| {
            eprintln!("kernel-bench: {m}")
        })
        .unwrap_or_else(|e| {
            eprintln!(
                "rmap-bench run: the live-kernel scaling runs failed, their rows are left out: {e}"
            );
            Vec::new()
        })
    };
    #[cfg(not(target_os = "linux"))]
    let scaling_rows = Vec::new();
    if fork.is_empty() && fault.is_empty() {
        return scaling_rows;
    }
    match rmap_kernel::bench::run(
        &KernelBenchOptions {
            fork_sizes: fork,
            fault_sizes: fault,
            reps: opts.reps,
        },
        &mut |m: &str| eprintln!("kernel-bench: {m}"),
    ) {
        Ok(mut rows) => {
            rows.extend(scaling_rows);
            rows
        }
        Err(e) => {
            eprintln!(
                "rmap-bench run: the live-kernel benchmark failed, its rows are left out: {e}"
            );
            scaling_rows
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rmap-run-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn partial_runs_never_replace_a_complete_one() {
        let root = dir("out");
        let full = root.join("full");
        std::fs::create_dir_all(&full).unwrap();
        std::fs::write(full.join("results.csv"), "x").unwrap();
        std::fs::write(
            full.join("meta.json"),
            serde_json::to_string(&Meta::now(serde_json::json!({"complete": true}))).unwrap(),
        )
        .unwrap();
        let filtered = RunArgs {
            scenarios: vec!["db-window".into()],
            backends: vec!["objrmap:prio".into()],
            ..RunArgs::default()
        };
        // By default: a new directory under runs/.
        let o = out_dir(&filtered, &root).unwrap();
        assert!(o.starts_with(root.join("runs")), "{}", o.display());
        // Aimed at the complete run: refused, even with --force.
        for force in [false, true] {
            let a = RunArgs {
                out: Some(full.clone()),
                force,
                ..RunArgs::default()
            };
            let a = RunArgs {
                scenarios: filtered.scenarios.clone(),
                ..a
            };
            let e = out_dir(&a, &root).unwrap_err();
            assert!(e.contains("may not replace"), "{e}");
        }
        // The whole suite needs --force.
        let e = out_dir(&RunArgs::default(), &root).unwrap_err();
        assert!(e.contains("--force"), "{e}");
        let whole = RunArgs {
            force: true,
            ..RunArgs::default()
        };
        assert_eq!(out_dir(&whole, &root).unwrap(), full);
        // Quick runs go to quick/, which holds no complete run.
        let quick = RunArgs {
            quick: true,
            ..RunArgs::default()
        };
        assert_eq!(out_dir(&quick, &root).unwrap(), root.join("quick"));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
