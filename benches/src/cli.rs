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
    },
    /// Run a trace on the model and on the live kernel; show where the
    /// dump and err lines differ. Exit status 0 when they agree, 1 when not.
    KernelDiff {
        file: PathBuf,
        #[arg(long, default_value = "scan")]
        backend: String,
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
        Cmd::KernelRun { file } => {
            let text = match read_trace(&file) {
                Ok(t) => t,
                Err(code) => return code,
            };
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let res = crate::kernel::kernel_run(&text, &file.display().to_string(), &mut out);
            let _ = out.flush();
            match res {
                Ok(_) => 0,
                Err(e) => {
                    eprintln!("{e}");
                    2
                }
            }
        }
        Cmd::KernelDiff { file, backend } => {
            let text = match read_trace(&file) {
                Ok(t) => t,
                Err(code) => return code,
            };
            match crate::fidelity::compare(&text, &file.display().to_string(), &backend) {
                Ok(c) if c.agree() => {
                    println!(
                        "agree: {} lines of dump and err output",
                        c.kernel.lines().count()
                    );
                    0
                }
                Ok(c) => {
                    print!("{}", c.diff(&format!("model ({backend})")));
                    1
                }
                Err(e) => {
                    eprintln!("{e}");
                    2
                }
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
