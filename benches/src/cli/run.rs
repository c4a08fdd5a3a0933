//! `rmap-bench run`: the suite, every scenario form × size × backend
//! preset, with a progress bar; then the live kernel on the fork-storm
//! and fault-storm sizes, and the results directory.

use std::path::PathBuf;
use std::time::Instant;

use rmap_kernel::bench::KernelBenchOptions;
use rmap_metrics::Row;
use rmap_traces::scenario::{Form, expand_forms};

use super::progress;
use crate::output::{self, Meta};
use crate::report::{Outcome, Table, claims};
use crate::runner::{self, SuiteOptions};

/// Options of `rmap-bench run` (flattened into the subcommand).
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Scenarios (`NAME` or `NAME/VARIANT`; default: all; see
    /// `rmap-bench scenarios`).
    pub scenarios: Vec<String>,
    /// Backends, comma-separated: `NAME` (every preset) or
    /// `NAME:PRESET` (default: every preset of every backend).
    #[arg(long, value_delimiter = ',')]
    pub backends: Vec<String>,
    /// Sizes for every scenario, comma-separated (default: each
    /// scenario's own quick or full sizes).
    #[arg(long, value_delimiter = ',')]
    pub sizes: Option<Vec<u64>>,
    /// Repetitions per run (default: 3 with --quick, else 5).
    #[arg(long)]
    pub reps: Option<u32>,
    /// One mid-sized size per scenario, 3 repetitions: well under a minute of
    /// runs (plus the build).
    #[arg(long)]
    pub quick: bool,
    /// Results directory (default: results/quick or results/full).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Runs at once (1 gives the steadiest timings).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
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
/// repetitions, a failed run or an unwritable directory.
pub(super) fn run(a: RunArgs) -> i32 {
    match run_inner(a) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("rmap-bench run: {e}");
            2
        }
    }
}

/// What the options mean: the suite to run and the directory to write.
fn suite_options(a: &RunArgs) -> Result<(SuiteOptions, PathBuf), String> {
    let forms = expand_forms(&a.scenarios)?;
    let backends = rmap_registry::expand_backends(&a.backends)?;
    if a.sizes.as_ref().is_some_and(|s| s.is_empty()) {
        return Err("--sizes needs at least one size".into());
    }
    let reps = a.reps.unwrap_or(if a.quick { 3 } else { 5 });
    if reps == 0 {
        return Err("--reps must be at least 1".into());
    }
    let opts = SuiteOptions {
        forms,
        backends,
        sizes: a.sizes.clone(),
        quick: a.quick,
        reps,
        jobs: a.jobs.max(1),
    };
    let out = a.out.clone().unwrap_or_else(|| {
        PathBuf::from(if a.quick {
            "results/quick"
        } else {
            "results/full"
        })
    });
    Ok((opts, out))
}

fn run_inner(a: RunArgs) -> Result<(), String> {
    let t0 = Instant::now();
    let (opts, out) = suite_options(&a)?;
    if let Some(p) = &a.costs {
        rmap_vcpu::suite::set_costs(rmap_vcpu::Costs::load(p)?)?;
    }
    let total = runner::count_runs(&opts);
    eprintln!(
        "rmap-bench run: {} scenario forms × {} backends, {total} runs ({} reps) -> {}",
        opts.forms.len(),
        opts.backends.len(),
        opts.reps,
        out.display()
    );
    let pb = progress(total);
    let tick = |label: &str| {
        pb.set_message(label.to_string());
        pb.inc(1);
    };
    let mut rows = runner::run_suite(&opts, &tick)?;
    pb.finish_and_clear();
    if !a.no_kernel {
        rows.extend(kernel_rows(&opts));
    }
    let mut meta = Meta::now(serde_json::json!({
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "mode": if a.quick { "quick" } else { "full" },
        "scenarios": opts.forms.iter().map(Form::full_name).collect::<Vec<_>>(),
        "backends": opts.backends,
        "sizes": opts.sizes,
        "reps": opts.reps,
        "jobs": opts.jobs,
        "kernel": !a.no_kernel,
        "costs": a.costs.as_ref().map(|p| p.display().to_string()),
    }));
    meta.wall_s = t0.elapsed().as_secs_f64();
    output::write_results(&out, &rows, &meta)?;
    eprintln!(
        "rmap-bench run: {} rows in {:.1} s; wrote {}/results.csv, meta.json, plots/ and REPORT.md",
        rows.len(),
        meta.wall_s,
        out.display()
    );
    for (c, v) in claims::check_all(&Table::new(&rows)) {
        let v = match v.outcome {
            Outcome::Reproduced => "reproduced",
            Outcome::NotReproduced => "DIFFERS",
            Outcome::NotMeasured => "not measured",
        };
        eprintln!("  {v:<12} {}", c.statement);
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
