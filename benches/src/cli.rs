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
    },
    /// List the backends and their presets.
    Backends,
}

/// Exit status: 0 success, 1 a `check` failed, 2 a usage or trace error.
pub fn run(cli: Cli) -> i32 {
    match cli.cmd {
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
}

impl WithBackend for ReplayJob<'_> {
    type Out = i32;
    fn run<R: ReverseMap>(self, rmap: R) -> i32 {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        let res = replay(self.text, self.name, rmap, self.cfg, &mut out);
        let flushed = out.flush();
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
