//! The `rmap-bench` command line: the clap types of every subcommand here,
//! and one small handler per subcommand in the modules below (`replay`,
//! `backends`, `kernel` for kernel-run, kernel-diff, fidelity and
//! kernel-bench, `run`, `report`, `compare`, `choose`, `trace` for trace
//! and scenarios, `import` for import-strace, `gen_random` for gen-random,
//! `completions`).
//!
//! Exit status of every command: 0 success, 1 a `check` failed or the
//! model and the kernel disagree (where the command compares them), 2 a
//! usage, input or I/O error (the message names what and where).

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

mod backends;
mod choose;
mod compare;
mod completions;
mod gen_random;
mod import;
mod kernel;
mod replay;
mod report;
mod run;
mod trace;
mod vcpu;

/// How a listing command writes its answer.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// For people.
    #[default]
    Text,
    /// One JSON document on standard output.
    Json,
}

/// `rmap_core::LockRecording` on the command line.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recording {
    Off,
    Stats,
    Events,
}

impl From<Recording> for rmap_core::LockRecording {
    fn from(r: Recording) -> Self {
        match r {
            Recording::Off => rmap_core::LockRecording::Off,
            Recording::Stats => rmap_core::LockRecording::Stats,
            Recording::Events => rmap_core::LockRecording::Events,
        }
    }
}

/// The command line (clap).
#[derive(Parser, Debug)]
#[command(
    name = "rmap-bench",
    version,
    about = "Compare reverse-mapping designs on one memory-management model"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Run a trace and print its dump, err, stats and check lines.
    Replay {
        /// The trace file (docs/trace-format.md).
        file: PathBuf,
        /// Backend as NAME or NAME:PRESET (see `rmap-bench backends`);
        /// `scan` reads every page table on every walk, so it warns when
        /// a workload's walks will be quadratic.
        #[arg(long, default_value = "anonvma:linux")]
        backend: String,
        /// Skip the shadow model (faster; `check` then validates structure only).
        #[arg(long)]
        no_integrity: bool,
        /// Print, on standard error, the wall time spent in each kind of op.
        #[arg(long)]
        timing: bool,
        /// Print, on standard error, a lockstat-like table of the locks the
        /// trace took (class, kind, acquisitions, shared, instances, work
        /// units held, busiest instance).
        #[arg(long)]
        locks: bool,
        /// `json`: the output as one JSON document (`dumps`, `errors`,
        /// `stats`, `check_failures`) instead of lines.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// How much of the lock record to keep: `off` (work units only),
        /// `stats` (the default: `stats all`'s `locks`), `events` (every
        /// acquisition, as the virtual-CPU engine reads them).
        #[arg(long, value_enum, default_value_t = Recording::Stats)]
        lock_recording: Recording,
    },
    /// List the backends and their presets.
    Backends {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Run a trace on the live Linux kernel; print its dump and err lines.
    KernelRun {
        /// The trace file; every address must lie in [0x100000000000, 0x200000000000).
        file: PathBuf,
        /// Measurements per side of each `stats all` object count (at
        /// least; the most frequent value is used); 0 prints null counts
        /// without measuring.
        #[arg(long, default_value_t = 5)]
        slab_reps: usize,
        /// Print, on standard error, the raw slab differences behind each
        /// `stats all` line.
        #[arg(long)]
        slab_samples: bool,
    },
    /// Run a trace on the model and on the live kernel; show where the
    /// dump and err lines differ. Exit status 0 when they agree, 1 when not,
    /// 2 when nothing could be compared (no dump, no error, no object count).
    KernelDiff {
        /// The trace file; every address must lie in [0x100000000000, 0x200000000000).
        file: PathBuf,
        /// The model's backend as NAME or NAME:PRESET (default: the one
        /// that models this machine's Linux 6.18).
        #[arg(long, default_value = "anonvma:linux")]
        backend: String,
        /// Measurements per side of each live `stats all` object count;
        /// 0 skips the object counts.
        #[arg(long, default_value_t = 5)]
        slab_reps: usize,
    },
    /// Run many seeded random traces on the model and on the live kernel;
    /// print the agreement rate and the first disagreements. Exit status 0
    /// when every trace agrees, 1 when not.
    Fidelity {
        /// Seeds as FIRST..END (END excluded).
        #[arg(long, default_value = "0..1000", value_parser = parse_seeds)]
        seeds: std::ops::Range<u64>,
        /// Generate traces without writes and guard regions.
        #[arg(long)]
        read_only: bool,
        /// The model's backend as NAME or NAME:PRESET (default: the one
        /// that models this machine's Linux 6.18).
        #[arg(long, default_value = "anonvma:linux")]
        backend: String,
        /// Random operations per trace.
        #[arg(long, default_value_t = 60)]
        ops: usize,
        /// End every trace with `stats all` and compare the object counts
        /// too (needs root for the kernel's counts).
        #[arg(long)]
        objects: bool,
        /// Measurements per side of each live object count.
        #[arg(long, default_value_t = 5)]
        slab_reps: usize,
        /// Show this many disagreements in full.
        #[arg(long, default_value_t = 3)]
        show: usize,
    },
    /// Run the benchmark suite: every scenario form × size × backend
    /// preset, with a progress bar; write DIR/results.csv, meta.json,
    /// plots/*.svg and REPORT.md (built under a temporary name, then
    /// renamed into place).
    Run {
        #[command(flatten)]
        args: run::RunArgs,
    },
    /// Rebuild plots, REPORT.md and report.html from results.csv; with
    /// several directories (the shards of one sweep), merge them into
    /// --out.
    Report {
        /// Results directories; one is rebuilt in place.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Where merged results go (needed with several directories).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Compare result directories, mmtests compare-kernels style: per
    /// scenario, metric and backend, each later directory's value as a
    /// ratio to the first's, with its interval and a significance mark;
    /// counts that differ at all are flagged.
    Compare {
        #[command(flatten)]
        args: compare::CompareArgs,
    },
    /// Run a trace file or a scenario on every backend preset and print a
    /// ranking by exact cost (work units, metadata bytes, walk length) with
    /// times and their intervals, and a recommendation.
    Choose {
        #[command(flatten)]
        args: choose::ChooseArgs,
    },
    /// Write a shell completion script on standard output.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write a scenario as a trace on standard output.
    Trace {
        /// `NAME` or `NAME/VARIANT`.
        scenario: String,
        /// Size (default: the scenario's quick size).
        #[arg(long)]
        size: Option<u64>,
    },
    /// List the scenarios, their forms and sizes.
    Scenarios {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Measure the live kernel's fork cost per page and fault costs on the
    /// fork-storm and fault-storm shapes; print CSV rows, or merge them
    /// into DIR's results (replacing earlier kernel rows) and rebuild its
    /// report.
    KernelBench {
        /// fork-storm sizes in MiB, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "64")]
        fork_sizes: Vec<u64>,
        /// fault-storm sizes in MiB, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "64")]
        fault_sizes: Vec<u64>,
        /// Repetitions of each measurement.
        #[arg(long, default_value_t = 3)]
        reps: u32,
        /// A results directory to merge the rows into (its report is
        /// rebuilt); without it, CSV rows on standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Scaling shapes to run with 1 and 2 real processes,
        /// comma-separated: page-fault/page_fault1, aim7 (their speedup
        /// sits beside the virtual-CPU engine's at 2 CPUs).
        #[arg(long, value_delimiter = ',')]
        scaling: Vec<String>,
    },
    /// Run one scaling scenario (size = virtual CPUs) on the virtual-CPU
    /// engine and print a lock_stat-like table: per lock class,
    /// acquisitions, contended ones, wait and hold time, failed trylocks.
    Vcpu {
        /// `NAME` or `NAME/VARIANT` of a scaling scenario (aim7,
        /// page-fault/page_fault1, libc-storm, fork-family-reclaim).
        scenario: String,
        /// Virtual CPUs.
        #[arg(long, default_value_t = 16)]
        cpus: u64,
        #[arg(long, default_value = "anonvma:linux")]
        backend: String,
        /// A cost file (default: the committed vcpu/costs.json).
        #[arg(long)]
        costs: Option<PathBuf>,
    },
    /// Measure this host's costs for the virtual-CPU engine: the model's
    /// own cost per unit of work, and real lock costs with real threads
    /// (parking_lot Mutex and RwLock, a spinlock); write a cost file that
    /// `run --costs FILE` and `vcpu --costs FILE` use.
    Calibrate {
        /// Write the cost file here (default: standard output).
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Fewer repetitions: seconds instead of about a minute.
        #[arg(long)]
        quick: bool,
    },
    /// Turn an `strace -f` log into a trace (docs/strace-import.md): the
    /// memory and process calls become ops, and page accesses, which strace
    /// cannot see, follow the access policy below.
    ImportStrace {
        /// The log, e.g. from `strace -f -e trace=memory,process,desc -o LOG CMD`.
        log: PathBuf,
        /// Write the trace here (atomically) instead of standard output.
        #[arg(short, long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        opts: rmap_traces::strace::ImportOptions,
    },
    /// Write a seeded random trace (for kernel-diff and property runs).
    GenRandom {
        /// The seed: the same seed gives the same trace.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Random operations before the final dumps.
        #[arg(long, default_value_t = 60)]
        ops: usize,
        /// No writes and no guard regions: no anonymous state is created.
        #[arg(long)]
        read_only: bool,
        /// No file mappings.
        #[arg(long)]
        no_files: bool,
        /// No fork, exec or exit.
        #[arg(long)]
        no_forks: bool,
        /// No reclaim ops.
        #[arg(long)]
        no_reclaim: bool,
        /// No mremap calls.
        #[arg(long)]
        no_mremap: bool,
    },
}

/// `FIRST..END` as a range of seeds.
fn parse_seeds(s: &str) -> Result<std::ops::Range<u64>, String> {
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| format!("`{s}`: expected FIRST..END, e.g. 0..1000"))?;
    let num = |x: &str| {
        x.trim()
            .parse::<u64>()
            .map_err(|e| format!("`{x}` in `{s}`: {e}"))
    };
    let (a, b) = (num(a)?, num(b)?);
    if a > b {
        return Err(format!("`{s}`: FIRST is after END"));
    }
    Ok(a..b)
}

/// The text of a trace or log file (invalid UTF-8 replaced); on failure
/// the message is printed and the exit status (2) returned.
fn read_trace(file: &std::path::Path) -> Result<String, i32> {
    match std::fs::read(file) {
        Ok(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
        Err(e) => {
            eprintln!("rmap-bench: cannot read {}: {e}", file.display());
            Err(2)
        }
    }
}

/// Runs one command. Exit status: 0 success, 1 a `check` failed (or the
/// model and the kernel disagree), 2 a usage or trace error.
// Longer than most functions on purpose: one arm per subcommand, each only
// unpacking clap's fields into its handler's call.
pub fn run(cli: Cli) -> i32 {
    match cli.cmd {
        Cmd::KernelRun {
            file,
            slab_reps,
            slab_samples,
        } => kernel::kernel_run(&file, slab_reps, slab_samples),
        Cmd::KernelDiff {
            file,
            backend,
            slab_reps,
        } => kernel::kernel_diff(&file, &backend, slab_reps),
        Cmd::Fidelity {
            seeds,
            read_only,
            backend,
            ops,
            objects,
            slab_reps,
            show,
        } => kernel::fidelity(seeds, read_only, &backend, ops, objects, slab_reps, show),
        Cmd::GenRandom {
            seed,
            ops,
            read_only,
            no_files,
            no_forks,
            no_reclaim,
            no_mremap,
        } => gen_random::gen_random(rmap_kernel::tracegen::GenOptions {
            seed,
            ops,
            anon_state: !read_only,
            files: !no_files,
            forks: !no_forks,
            reclaim: !no_reclaim,
            ram: None,
            mremap: !no_mremap,
        }),
        Cmd::ImportStrace { log, out, opts } => import::import_strace(&log, out.as_deref(), &opts),
        Cmd::Run { args } => run::run(args),
        Cmd::Report { dirs, out } => report::report(&dirs, out.as_deref()),
        Cmd::Compare { args } => compare::compare(&args),
        Cmd::Choose { args } => choose::choose(&args),
        Cmd::Completions { shell } => completions::completions(shell),
        Cmd::Trace { scenario, size } => trace::trace(&scenario, size),
        Cmd::Scenarios { format } => trace::scenarios(format),
        Cmd::KernelBench {
            fork_sizes,
            fault_sizes,
            reps,
            out,
            scaling,
        } => kernel::kernel_bench(fork_sizes, fault_sizes, reps, out, scaling),
        Cmd::Backends { format } => backends::backends(format),
        Cmd::Calibrate { out, quick } => vcpu::calibrate(out.as_deref(), quick),
        Cmd::Vcpu {
            scenario,
            cpus,
            backend,
            costs,
        } => vcpu::vcpu(&scenario, cpus, &backend, costs.as_deref()),
        Cmd::Replay {
            file,
            backend,
            no_integrity,
            timing,
            locks,
            format,
            lock_recording,
        } => replay::replay(
            &file,
            &backend,
            replay::ReplayOptions {
                integrity: !no_integrity,
                timing,
                locks,
                format,
                recording: lock_recording.into(),
            },
        ),
    }
}

/// The progress bar as the suite runner's listener: told of every run and
/// of rounds added.
struct Bar(ProgressBar);

impl crate::runner::SuiteProgress for Bar {
    fn ran(&self, label: &str) {
        self.0.set_message(label.to_string());
        self.0.inc(1);
    }
    fn scheduled(&self, more: u64) {
        self.0.inc_length(more);
    }
}

/// A progress bar of `total` runs on standard error.
fn progress(total: u64) -> ProgressBar {
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} runs, eta {eta} {wide_msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb
}
