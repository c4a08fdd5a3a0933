//! Importing an `strace -f` log as a trace (`docs/strace-import.md`).
//!
//! The import runs in two passes. The first reads the log line by line,
//! strips the `PID` / `[pid N]` prefix and any timestamp, joins the
//! `<unfinished ...>` and `<... NAME resumed>` halves of interrupted calls,
//! and yields one event per finished call, `+++ exited +++` or
//! `+++ killed +++` line. A clone-family call is placed at the line where it
//! started (its child's first lines can come before the parent's call
//! returns); every other call is placed where it finished.
//!
//! The second pass replays the events on a small model of the traced
//! programs: tasks (thread ids) with their thread group, address space and
//! fd table; per address space, the mappings strace showed and the program
//! break. It writes trace ops for the calls that change an address space
//! and, as strace cannot see page accesses, `touch` ops chosen by the access
//! policy of [`ImportOptions`]. Operations on memory that strace never showed
//! being mapped (the executable, the interpreter, the stack and the vdso,
//! which the kernel maps at exec) are clipped to what is known, so that
//! every op of the trace succeeds on the model.
//!
//! Modules, one concern each: `lex` (pass 1: strace lines to events:
//! prefixes, timestamps, unfinished and resumed halves, arguments, return
//! values), `abi` (the syscall ABI as strace writes it: flag names and
//! numbers, descriptors with `-y` paths, quoted strings, struct fields),
//! `space` (the known mappings of one address space), `importer` (pass 2:
//! tasks, address spaces, descriptor tables and files; the access policy),
//! and `write` (the trace text: header, `config`, `file` lines, ops).
//!
//! Invariants: the same log and options give the same trace byte for byte;
//! every op written succeeds on the model; a line that is not what strace
//! writes is an [`ImportError::Malformed`] naming the log, the line, what
//! was found and what was expected.

use rmap_core::trace::{format_size, parse_size};

mod abi;
mod importer;
mod lex;
mod space;
mod write;

pub use write::Imported;

/// The access policy: which pages of new memory the trace touches.
#[derive(clap::Args, Clone, Debug, PartialEq)]
pub struct ImportOptions {
    /// Fraction (0 to 1) of the chunks of each new mapping, heap growth,
    /// mremap growth or PROT_NONE-to-accessible mprotect to touch once:
    /// writing if the memory is writable, else reading if readable.
    #[arg(long, default_value_t = DEFAULT_FRACTION, value_parser = parse_fraction)]
    pub touch_fraction: f64,
    /// Pages per chunk: each chunk is touched whole or not at all.
    #[arg(long, default_value_t = DEFAULT_CHUNK_PAGES, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub chunk_pages: u64,
    /// At most this many bytes touched per event (e.g. `8M`); when the cap
    /// is reached, the lowest chosen chunks are the ones touched.
    #[arg(long, default_value = "8M", value_parser = parse_size_arg)]
    pub max_touch: u64,
    /// Bytes touched at the top of a new stack mapping (MAP_STACK or
    /// MAP_GROWSDOWN) instead of the fraction rule.
    #[arg(long, default_value = "64K", value_parser = parse_size_arg)]
    pub stack_touch: u64,
    /// Seed of the chunk choice; also written as the trace's `config seed=`.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Simulated RAM of the trace's `config ram=` (e.g. `1G`).
    #[arg(long, default_value = "1G", value_parser = parse_size_arg)]
    pub ram: u64,
}

const DEFAULT_FRACTION: f64 = 0.5;
const DEFAULT_CHUNK_PAGES: u64 = 8;

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            touch_fraction: DEFAULT_FRACTION,
            chunk_pages: DEFAULT_CHUNK_PAGES,
            max_touch: 8 << 20,
            stack_touch: 64 << 10,
            seed: 0,
            ram: 1 << 30,
        }
    }
}

impl ImportOptions {
    /// The policy in one line, as the trace's header states it.
    pub fn describe(&self) -> String {
        format!(
            "touch-fraction={} chunk-pages={} max-touch={} stack-touch={} seed={}",
            self.touch_fraction,
            self.chunk_pages,
            format_size(self.max_touch),
            format_size(self.stack_touch),
            self.seed
        )
    }

    fn check(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.touch_fraction) {
            return Err(format!(
                "touch fraction {} is not between 0 and 1",
                self.touch_fraction
            ));
        }
        if !(1..=4096).contains(&self.chunk_pages) {
            return Err(format!(
                "chunk pages {} is not between 1 and 4096",
                self.chunk_pages
            ));
        }
        if self.ram < 64 << 10 {
            return Err(format!("ram {} is below 64K", self.ram));
        }
        Ok(())
    }
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!("`{s}`: expected a number from 0 to 1")),
    }
}

fn parse_size_arg(s: &str) -> Result<u64, String> {
    parse_size(s).ok_or_else(|| format!("`{s}`: expected a size such as 65536, 64K or 8M"))
}

/// Why a log could not be imported.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// A line that is not what strace writes.
    #[error("{log}:{line}: found `{found}`, expected {expected}")]
    Malformed {
        log: String,
        line: usize,
        found: String,
        expected: String,
    },
    /// Options outside their ranges.
    #[error("import options: {0}")]
    Options(String),
}

/// What the import counted, for the header and the caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportStats {
    /// Log lines read.
    pub lines: usize,
    /// Finished calls seen (all syscalls, known or not).
    pub calls: usize,
    /// Calls that failed (`= -1 E...` or `= ?`) and were skipped.
    pub failed: usize,
    /// Address spaces created (trace processes other than the launcher).
    pub processes: usize,
    /// Clones that shared their parent's address space (CLONE_VM: threads
    /// and vfork children).
    pub shared_mm: usize,
    /// Calls or parts of calls dropped because they concern memory that
    /// strace never showed being mapped.
    pub dropped: usize,
}

/// Imports an strace log; `log_name` names it in errors and in the header.
///
/// Errors: options outside their ranges ([`ImportError::Options`]), or a
/// line that is not what strace writes ([`ImportError::Malformed`]).
pub fn import(log: &str, log_name: &str, opts: &ImportOptions) -> Result<Imported, ImportError> {
    opts.check().map_err(ImportError::Options)?;
    let mut stats = ImportStats::default();
    let evs = lex::events(log, log_name, &mut stats)?;
    let mut im = importer::Importer::new(opts, log_name, stats);
    for ev in evs {
        match ev {
            lex::Event::Gone { pid } => im.end_task(pid),
            lex::Event::Call(c) => im.call(&c)?,
        }
    }
    Ok(im.finish())
}
