//! The `rmap-bench` commands.

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use rmap_core::replay::{ReplayError, replay};
use rmap_core::{Config, ReverseMap};

use crate::backends::{self, WithBackend};

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

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Run a trace and print its dump, err, stats and check lines.
    Replay {
        /// The trace file (docs/trace-format.md).
        file: PathBuf,
        /// Backend as NAME or NAME:PRESET (see `rmap-bench backends`).
        #[arg(long, default_value = "scan")]
        backend: String,
        /// Skip the shadow model (faster; `check` then validates structure only).
        #[arg(long)]
        no_integrity: bool,
        /// Print, on standard error, the wall time spent in each kind of op.
        #[arg(long)]
        timing: bool,
    },
    /// List the backends and their presets.
    Backends,
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
    /// dump and err lines differ. Exit status 0 when they agree, 1 when not.
    KernelDiff {
        file: PathBuf,
        #[arg(long, default_value = "scan")]
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
        #[arg(long, default_value = "scan")]
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
        /// Scenarios (`NAME` or `NAME/VARIANT`; default: all; see
        /// `rmap-bench scenarios`).
        scenarios: Vec<String>,
        /// Backends, comma-separated: `NAME` (every preset) or
        /// `NAME:PRESET` (default: every preset of every backend).
        #[arg(long, value_delimiter = ',')]
        backends: Vec<String>,
        /// Sizes for every scenario, comma-separated (default: each
        /// scenario's own quick or full sizes).
        #[arg(long, value_delimiter = ',')]
        sizes: Option<Vec<u64>>,
        /// Repetitions per run (default: 3 with --quick, else 5).
        #[arg(long)]
        reps: Option<u32>,
        /// One mid-sized size per scenario, 3 repetitions: well under a minute of
        /// runs (plus the build).
        #[arg(long)]
        quick: bool,
        /// Results directory (default: results/quick or results/full).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Runs at once (1 gives the steadiest timings).
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// Skip the live-kernel fork and fault measurements.
        #[arg(long)]
        no_kernel: bool,
    },
    /// Rebuild DIR/plots and DIR/REPORT.md from DIR/results.csv.
    Report { dir: PathBuf },
    /// Run a trace file or a scenario on every backend preset and print a
    /// ranked table (time, metadata bytes, walk cost) and a recommendation.
    Choose {
        /// A trace file, or a scenario (`NAME` or `NAME/VARIANT`).
        target: String,
        /// Scenario size (default: the scenario's quick size).
        #[arg(long)]
        size: Option<u64>,
        #[arg(long, value_delimiter = ',')]
        backends: Vec<String>,
        #[arg(long, default_value_t = 1)]
        reps: u32,
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
    Scenarios,
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
        #[arg(long, default_value_t = 3)]
        reps: u32,
        #[arg(long)]
        out: Option<PathBuf>,
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
        opts: crate::strace::ImportOptions,
    },
    /// Write a seeded random trace (for kernel-diff and property runs).
    GenRandom {
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Random operations before the final dumps.
        #[arg(long, default_value_t = 60)]
        ops: usize,
        /// No writes and no guard regions: no anonymous state is created.
        #[arg(long)]
        read_only: bool,
        #[arg(long)]
        no_files: bool,
        #[arg(long)]
        no_forks: bool,
        #[arg(long)]
        no_reclaim: bool,
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

fn read_trace(file: &std::path::Path) -> Result<String, i32> {
    match std::fs::read(file) {
        Ok(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
        Err(e) => {
            eprintln!("rmap-bench: cannot read {}: {e}", file.display());
            Err(2)
        }
    }
}

/// Exit status: 0 success, 1 a `check` failed, 2 a usage or trace error.
pub fn run(cli: Cli) -> i32 {
    match cli.cmd {
        Cmd::KernelRun {
            file,
            slab_reps,
            slab_samples,
        } => {
            let text = match read_trace(&file) {
                Ok(t) => t,
                Err(code) => return code,
            };
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let opts = crate::kernel::KernelOptions { slab_reps };
            let res =
                crate::kernel::kernel_run_with(&text, &file.display().to_string(), &mut out, &opts);
            let _ = out.flush();
            match res {
                Ok(sum) => {
                    if slab_samples {
                        for at in &sum.objects {
                            for (k, kind) in crate::kernel::OBJECT_KINDS.iter().enumerate() {
                                eprintln!(
                                    "stats line {}: {kind}: trace {:?} shadow {:?} (measurement {})",
                                    at.line, at.real[k], at.shadow[k], at.attempts
                                );
                            }
                        }
                    }
                    0
                }
                Err(e) => {
                    eprintln!("{e}");
                    2
                }
            }
        }
        Cmd::KernelDiff {
            file,
            backend,
            slab_reps,
        } => {
            let text = match read_trace(&file) {
                Ok(t) => t,
                Err(code) => return code,
            };
            let opts = crate::kernel::KernelOptions { slab_reps };
            match crate::fidelity::compare_with(&text, &file.display().to_string(), &backend, &opts)
            {
                Ok(c) => {
                    if c.layout_agrees() {
                        println!(
                            "agree: {} lines of dump and err output",
                            c.kernel.lines().count()
                        );
                    } else {
                        print!("{}", c.layout_diff(&format!("model ({backend})")));
                    }
                    print!("{}", c.objects_report());
                    i32::from(!c.agree())
                }
                Err(e) => {
                    eprintln!("{e}");
                    2
                }
            }
        }
        Cmd::Fidelity {
            seeds,
            read_only,
            backend,
            ops,
            objects,
            slab_reps,
            show,
        } => {
            let o = crate::fidelity::FidelityOptions {
                seeds,
                generator: crate::tracegen::GenOptions {
                    ops,
                    anon_state: !read_only,
                    ..crate::tracegen::GenOptions::default()
                },
                backend: backend.clone(),
                objects,
                kernel: crate::kernel::KernelOptions { slab_reps },
                keep: show,
            };
            if let Err(e) = backends::resolve(&backend) {
                eprintln!("rmap-bench: {e}");
                return 2;
            }
            let rep = crate::fidelity::fidelity(&o, |_, _| {});
            for d in &rep.disagreements {
                println!("=== seed {} differs", d.seed);
                print!("{}", d.comparison.diff(&format!("model ({backend})")));
            }
            for (seed, e) in &rep.failures {
                println!("=== seed {seed} failed: {e}");
            }
            println!(
                "agree: {}/{} traces ({:.1}%); dump and err lines agree in {}/{}",
                rep.agree,
                rep.traces,
                rep.rate(),
                rep.layout_agree,
                rep.traces
            );
            if objects {
                println!(
                    "object counts: {}/{} agree; {} not counted by the kernel (null)",
                    rep.counts_agree, rep.counts, rep.counts_missing
                );
            }
            if !rep.failures.is_empty() {
                2
            } else {
                i32::from(rep.agree < rep.traces)
            }
        }
        Cmd::GenRandom {
            seed,
            ops,
            read_only,
            no_files,
            no_forks,
            no_reclaim,
        } => {
            let opts = crate::tracegen::GenOptions {
                seed,
                ops,
                anon_state: !read_only,
                files: !no_files,
                forks: !no_forks,
                reclaim: !no_reclaim,
                ram: None,
            };
            print!("{}", crate::tracegen::gen_random_text(&opts));
            0
        }
        Cmd::ImportStrace { log, out, opts } => import_strace(&log, out.as_deref(), &opts),
        Cmd::Run {
            scenarios,
            backends,
            sizes,
            reps,
            quick,
            out,
            jobs,
            no_kernel,
        } => crate::suite::run(crate::suite::RunArgs {
            scenarios,
            backends,
            sizes,
            reps,
            quick,
            out,
            jobs,
            kernel: !no_kernel,
        }),
        Cmd::Report { dir } => crate::suite::report_cmd(&dir),
        Cmd::Choose {
            target,
            size,
            backends,
            reps,
        } => crate::suite::choose(&target, size, &backends, reps),
        Cmd::Trace { scenario, size } => match crate::suite::trace_text(&scenario, size) {
            Ok(t) => {
                print!("{t}");
                0
            }
            Err(e) => {
                eprintln!("rmap-bench trace: {e}");
                2
            }
        },
        Cmd::Scenarios => {
            print!("{}", crate::suite::list_scenarios());
            0
        }
        Cmd::KernelBench {
            fork_sizes,
            fault_sizes,
            reps,
            out,
        } => crate::suite::kernel_bench(fork_sizes, fault_sizes, reps, out),
        Cmd::Backends => {
            for e in backends::BACKENDS {
                let presets = (e.presets)();
                println!("{:<10} {}", e.name, e.about);
                for (i, p) in presets.iter().enumerate() {
                    println!(
                        "  {}:{p}{}",
                        e.name,
                        if i == 0 { "  (default)" } else { "" }
                    );
                }
            }
            0
        }
        Cmd::Replay {
            file,
            backend,
            no_integrity,
            timing,
        } => {
            let text = match std::fs::read(&file) {
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
            match backends::with_backend(&backend, job) {
                Err(e) => {
                    eprintln!("rmap-bench: {e}");
                    2
                }
                Ok(code) => code,
            }
        }
    }
}

/// `import-strace`: 0 on success, 2 on an unreadable or malformed log or an
/// unwritable output.
fn import_strace(
    log: &std::path::Path,
    out: Option<&std::path::Path>,
    opts: &crate::strace::ImportOptions,
) -> i32 {
    let text = match read_trace(log) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let imported = match crate::strace::import(&text, &log.display().to_string(), opts) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("rmap-bench import-strace: {e}");
            return 2;
        }
    };
    let trace = imported.to_text();
    match out {
        Some(path) => match crate::output::write_file_atomic(path, trace.as_bytes()) {
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

struct ReplayJob<'a> {
    text: &'a str,
    name: &'a str,
    cfg: Config,
    timing: bool,
}

impl WithBackend for ReplayJob<'_> {
    type Out = i32;
    fn run<R: ReverseMap>(self, rmap: R) -> i32 {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        let res = replay(self.text, self.name, rmap, self.cfg, &mut out);
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
