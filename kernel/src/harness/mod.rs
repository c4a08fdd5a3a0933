//! `kernel-run`: a trace on the live Linux kernel, for comparison with the
//! model.
//!
//! [`kernel_run`] executes a trace (`docs/trace-format.md`) with one real
//! process per trace process and prints what the model's replay prints for
//! `dump` and `err` lines: same formats, same line numbers, same order.
//! `stats all` prints one JSON line with the live counts of the kernel's
//! `vm_area_struct`, `anon_vma` and `anon_vma_chain` objects that belong to
//! the trace's mappings (see "Object counts" below). `config`, `reclaim`,
//! `stats PID` and `check` print nothing here; `exec` is refused. `remap`
//! calls `remap_file_pages`, which kernels since 4.0 emulate by mapping
//! the range again (the model's 4.0-and-later presets do the same; older
//! presets keep a nonlinear VMA and are not expected to agree).
//!
//! How it works (x86-64 Linux only):
//! - The calling process is the *controller*. It pre-creates every declared
//!   file in a private temporary directory (named exactly as the trace names
//!   it, so `/proc/PID/maps` shows the trace name) and opens each once,
//!   `O_RDWR`, before it forks trace process 1. Every trace process inherits
//!   those descriptors, so all mappings of one name share one `struct file`
//!   (which merging needs).
//! - Each trace process runs a small *worker* loop that receives one request
//!   at a time over its own `SOCK_SEQPACKET` socket pair and answers with a
//!   result (0 or `-errno`) and, for `dump`, the text of `/proc/self/maps`.
//!   After the fork the worker uses raw system calls only: no allocation,
//!   no locks, nothing that is unsafe after `fork` in a threaded program.
//! - `fork P C` makes P call `clone(CLONE_PARENT | SIGCHLD)`: a plain fork
//!   (the address space is duplicated by `dup_mmap` as for `fork()`) whose
//!   child is a child of the controller, so the controller reaps every trace
//!   process itself. The controller passes the child's socket to P with
//!   `SCM_RIGHTS`.
//! - `touch` accesses one byte per page with inline assembly. A `SIGSEGV` or
//!   `SIGBUS` handler (on an alternate stack) recognises a fault at the probe
//!   instruction by the address the probe left in `r10`, resumes at the
//!   address left in `r11` and sets `rax` to 1, which the probe reports as a
//!   failure: `err LINE touch EFAULT`.
//! - Every mapping op must lie in [[`WINDOW_START`], [`WINDOW_END`]), which the
//!   controller checks is empty in its own address space before it forks.
//!   Trace processes never use the window for anything of their own.
//! - At the end, and on every error, each trace process is killed and reaped
//!   and the temporary directory is removed.
//!
//! # Object counts
//!
//! At `stats all` the run prints
//! `{"objects":{"anon_vma":N,"anon_vma_chain":N,"vm_area_struct":N}}`: the
//! objects of those slab caches that the trace's live processes hold for
//! the trace's own mappings, which is what the model's `objects` counts.
//! They are read from `/sys/kernel/slab/NAME/objects` (the first number)
//! right after writing `1` to `/sys/kernel/slab/NAME/shrink`, which flushes
//! the per-CPU slabs and sheaves so that the count is exact at that moment.
//! That needs root; without it (or without `/sys/kernel/slab`) the counts
//! are `null` and nothing fails.
//!
//! A slab count is global, so the trace's share is isolated by differences:
//! - the trace up to the `stats` line (the *prefix*) is replayed in a fresh
//!   process tree, and the count is read with the tree alive and again right
//!   after killing and reaping it; the drop is what the tree held;
//! - the same is done with a *shadow* replay of the prefix that makes the
//!   same forks, exits and request round trips but leaves the window
//!   alone: its drop is what the harness itself holds (each worker's code,
//!   stack, heap and library VMAs with their anon_vmas and chains, and, in
//!   the `anon_vma_chain` cache, which this kernel shares with `fs_cache`,
//!   one `fs_struct` per process);
//! - both trees are forked from one idle *zygote* worker, so both start
//!   from the same harness address space even if the controller's own
//!   mappings change in between;
//! - real minus shadow is the trace's count.
//!
//! Other processes allocate and free these objects at any time. Against
//! that:
//! - each reading of a cache shrinks and counts until two counts in a row
//!   agree (one shrink right after an exit leaves part of the freed
//!   `vm_area_struct`s counted; the second gets them all);
//! - each difference is taken [`KernelOptions::slab_reps`] times (real and
//!   shadow interleaved), and more, up to six times as many, until on each
//!   side one value is clearly the most frequent: more than half of the
//!   samples, at least a majority of `slab_reps`, and at least twice as
//!   frequent as any other value; that value is used. A side that never
//!   settles gives a `null` count rather than a guess;
//! - the `vm_area_struct` readings, the noisiest (every mmap of every
//!   process changes that cache), are taken right before and right after
//!   the kill;
//! - the `vm_area_struct` count must equal the number of VMAs in the
//!   window that the processes' `/proc/PID/maps` show; when it does not,
//!   something disturbed the samples consistently, and the measurement is
//!   taken again (three times at most, then every count is `null`);
//! - readings and the kills between them exclude every live-run op of this
//!   process (a lock that ops take for reading) and of other `rmap-bench`
//!   processes (an `flock` on a file in the temporary directory, shared
//!   for ops, exclusive for measurements).
//!
//! # Modules
//!
//! This module holds the API (options, results, the refusals; `error`
//! the errors); the harness is split by side: `protocol` (the messages
//! between the controller and a trace process, and sending and receiving
//! them), `worker` (the trace process: the code that runs after the
//! fork), `controller` (starting, forking and stopping trace processes;
//! replaying the lines), `maps` (`/proc/PID/maps` as `dump` lines),
//! `slab` (object counts) and `locks` (keeping measurements and ops of
//! concurrent runs apart).

use std::io::Write;

use rmap_core::PAGE_SIZE;
use rmap_core::ops::{Op, RemapFlags};
use rmap_core::trace::{Parser, TraceLine};

pub use error::KernelError;
pub use rmap_core::abi::{WINDOW_END, WINDOW_START};

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod controller;
mod error;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod locks;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod maps;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod protocol;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod slab;
#[cfg(all(test, target_os = "linux", target_arch = "x86_64"))]
mod tests;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod worker;

/// The slab caches counted at `stats all`, in the order of the JSON keys.
pub const OBJECT_KINDS: [&str; 3] = ["anon_vma", "anon_vma_chain", "vm_area_struct"];

/// How a live run ended.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct KernelSummary {
    /// Operations run (every line but `config`, as the model counts).
    pub ops: u64,
    /// `err` lines printed.
    pub errors: u64,
    /// One entry per `stats all` line, in trace order.
    pub objects: Vec<ObjectsAt>,
}

/// Settings of a live run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelOptions {
    /// How many times each side (trace and shadow) of an object count is
    /// measured at least; the most frequent value of each side is used, and
    /// up to six times as many samples are taken until that value is clear
    /// (module docs, "Object counts"). 0 turns the slab counts off (`stats all` then
    /// prints `null` counts).
    pub slab_reps: usize,
}

impl Default for KernelOptions {
    fn default() -> Self {
        KernelOptions { slab_reps: 5 }
    }
}

/// Live object counts, by kind in [`OBJECT_KINDS`] order; `None` where the
/// count could not be read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LiveObjects(pub [Option<u64>; 3]);

impl LiveObjects {
    /// The count of `kind`, if it is one of [`OBJECT_KINDS`] and was read.
    pub fn get(&self, kind: &str) -> Option<u64> {
        OBJECT_KINDS
            .iter()
            .position(|&k| k == kind)
            .and_then(|i| self.0[i])
    }

    /// The line `stats all` prints: `{"objects":{"anon_vma":N,...}}`, keys
    /// sorted, `null` for a count that could not be read.
    pub fn json_line(&self) -> String {
        let items: Vec<String> = OBJECT_KINDS
            .iter()
            .zip(self.0)
            .map(|(k, v)| match v {
                Some(n) => format!("\"{k}\":{n}"),
                None => format!("\"{k}\":null"),
            })
            .collect();
        format!("{{\"objects\":{{{}}}}}", items.join(","))
    }
}

/// One `stats all` of a live run: the counts printed and the raw
/// differences they came from.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ObjectsAt {
    /// The trace line of the `stats all`.
    pub line: usize,
    pub counts: LiveObjects,
    /// Per kind, the objects each replay of the prefix held (count with the
    /// tree alive minus count after killing it), in measurement order.
    pub real: [Vec<i64>; 3],
    /// The same for the shadow replays.
    pub shadow: [Vec<i64>; 3],
    /// Measurements taken: more than one when a `vm_area_struct` count
    /// disagreed with the VMAs that the processes' maps show.
    pub attempts: usize,
}

/// Runs `text` (named `file_name` in messages) on the live kernel and writes
/// the `dump` and `err` lines that the model's replay would write to `out`.
/// Lines before a malformed one run, then the
/// [`TraceError`](rmap_core::trace::TraceError) is returned, as
/// the model's replay does. A trace with a line that cannot be replayed
/// faithfully (see [`KernelError::Refused`]) is refused before anything runs.
pub fn kernel_run(
    text: &str,
    file_name: &str,
    out: &mut dyn Write,
) -> Result<KernelSummary, KernelError> {
    kernel_run_with(text, file_name, out, &KernelOptions::default())
}

/// [`kernel_run`] with explicit settings.
pub fn kernel_run_with(
    text: &str,
    file_name: &str,
    out: &mut dyn Write,
    opts: &KernelOptions,
) -> Result<KernelSummary, KernelError> {
    kernel_run_on(text, file_name, out, opts, crate::host::host_pkeys())
}

/// [`kernel_run_with`] on a host whose protection keys are `host_pkeys`
/// (see [`crate::host`]): a trace that sets `pkeys=on` is refused when
/// they are off.
pub fn kernel_run_on(
    text: &str,
    file_name: &str,
    out: &mut dyn Write,
    opts: &KernelOptions,
    host_pkeys: bool,
) -> Result<KernelSummary, KernelError> {
    let mut lines = Vec::new();
    let mut trace_err = None;
    for tl in Parser::new(text, file_name) {
        match tl {
            Ok(tl) => lines.push(tl),
            Err(e) => {
                trace_err = Some(e);
                break;
            }
        }
    }
    for tl in &lines {
        refusal(tl, file_name)?;
    }
    crate::host::model_pkeys(&lines, file_name, host_pkeys)?;
    let sum = controller::run(
        &lines,
        file_name,
        out,
        opts,
        &mut controller::Trail::default(),
    )?;
    match trace_err {
        Some(e) => Err(e.into()),
        None => Ok(sum),
    }
}

/// Whether `[addr, addr+len)`, rounded out to pages, lies in the window. A
/// zero-length range passes when `addr` is inside. `touch` rounds the start
/// down and the end up; the syscalls round the length up.
fn in_window(addr: u64, len: u64) -> bool {
    if !(WINDOW_START..WINDOW_END).contains(&addr) {
        return false;
    }
    if len == 0 {
        return true;
    }
    addr.checked_add(len)
        .and_then(|e| e.checked_add(PAGE_SIZE - 1))
        .is_some_and(|e| e & !(PAGE_SIZE - 1) <= WINDOW_END)
}

/// The reason the live run cannot replay this line, if any.
pub(crate) fn refusal(tl: &TraceLine, file: &str) -> Result<(), KernelError> {
    let refuse = |why: String| {
        Err(KernelError::Refused {
            file: file.to_string(),
            line: tl.line,
            why,
        })
    };
    match &tl.op {
        Op::Exec { .. } => refuse(
            "exec would replace the harness's own program; the live run cannot replay it".into(),
        ),
        Op::File { name, .. } if name == "." || name == ".." || name.contains('\0') => {
            refuse(format!("`{name}` cannot be the name of a real file"))
        }
        Op::Mmap { addr, len, .. }
        | Op::Munmap { addr, len, .. }
        | Op::Mprotect { addr, len, .. }
        | Op::Madvise { addr, len, .. }
        | Op::Touch { addr, len, .. }
        | Op::Remap { addr, len, .. }
            if !in_window(*addr, *len) =>
        {
            refuse(outside(*addr, *len))
        }
        Op::Mremap {
            addr,
            old_len,
            new_len,
            flags,
            ..
        } => mremap_refusal(*addr, *old_len, *new_len, flags).map_or(Ok(()), refuse),
        _ => Ok(()),
    }
}

/// The refusal of a range outside the window.
fn outside(addr: u64, len: u64) -> String {
    format!(
        "range {addr:#x}+{len:#x} is outside the live-run window \
         [{WINDOW_START:#x}, {WINDOW_END:#x})"
    )
}

/// Why an mremap cannot run live, if it cannot: the old range, and the new
/// one (at `fixed=`, or grown in place), must lie in the window, and the
/// kernel must not pick the address (a move without `fixed=`: MAYMOVE with
/// a larger size, or DONTUNMAP), as it would pick one among the harness's
/// own mappings.
fn mremap_refusal(addr: u64, old_len: u64, new_len: u64, f: &RemapFlags) -> Option<String> {
    if !in_window(addr, old_len) {
        return Some(outside(addr, old_len));
    }
    let (to, len) = (f.fixed.unwrap_or(addr), new_len);
    if f.fixed.is_none() && (f.dontunmap || (f.maymove && new_len > old_len)) {
        return Some(
            "mremap without fixed= may move to an address the kernel picks, outside the \
             live-run window; give fixed=NEWADDR or keep the mapping in place"
                .to_string(),
        );
    }
    (!in_window(to, len)).then(|| outside(to, len))
}

/// The Linux name of an errno value, as the model prints it.

/// The harness where there is no live kernel to run on.
#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
mod controller {
    use super::*;

    /// What a run left behind: nothing, here.
    #[derive(Default)]
    pub struct Trail;

    /// Fails: there is no live kernel to run on.
    pub fn run(
        _lines: &[TraceLine],
        _file: &str,
        _out: &mut dyn Write,
        _opts: &KernelOptions,
        _trail: &mut Trail,
    ) -> Result<KernelSummary, KernelError> {
        Err(KernelError::Sys(
            "the live run needs Linux on x86-64".to_string(),
        ))
    }
}
