//! Running a trace on the live Linux kernel, for comparison with the model.
//!
//! [`kernel_run`] executes a trace (`docs/trace-format.md`) with one real
//! process per trace process and prints what the model's replay prints for
//! `dump` and `err` lines: same formats, same line numbers, same order.
//! `stats all` prints one JSON line with the live counts of the kernel's
//! `vm_area_struct`, `anon_vma` and `anon_vma_chain` objects that belong to
//! the trace's mappings (see "Object counts" below). `config`, `reclaim`,
//! `stats PID` and `check` print nothing here; `remap` and `exec` are
//! refused.
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
//! - Every mapping op must lie in [`WINDOW_START`, `WINDOW_END`), which the
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

use std::io::Write;

use rmap_core::ops::Op;
use rmap_core::trace::{Parser, TraceError, TraceLine};

/// First address a live-run trace may use.
pub const WINDOW_START: u64 = 0x1000_0000_0000;
/// One past the last address a live-run trace may use.
pub const WINDOW_END: u64 = 0x2000_0000_0000;

const PAGE: u64 = 4096;

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

/// Why a live run stopped.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// A malformed trace, or an op naming a process that does not exist (or
    /// a `fork` to a child id in use), worded as the model words it: exit
    /// status 2.
    #[error("{0}")]
    Trace(#[from] TraceError),
    /// A well-formed trace that the live run cannot replay faithfully.
    #[error("{file}:{line}: {why}")]
    Refused {
        file: String,
        line: usize,
        why: String,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The harness itself failed (a trace process died or hung, a system
    /// call of the controller failed, ...).
    #[error("live run: {0}")]
    Sys(String),
}

/// Runs `text` (named `file_name` in messages) on the live kernel and writes
/// the `dump` and `err` lines that the model's replay would write to `out`.
/// Lines before a malformed one run, then the [`TraceError`] is returned, as
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
    let sum = live::run(&lines, file_name, out, opts, &mut live::Trail::default())?;
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
        .and_then(|e| e.checked_add(PAGE - 1))
        .is_some_and(|e| e & !(PAGE - 1) <= WINDOW_END)
}

/// The reason the live run cannot replay this line, if any.
fn refusal(tl: &TraceLine, file: &str) -> Result<(), KernelError> {
    let refuse = |why: String| {
        Err(KernelError::Refused {
            file: file.to_string(),
            line: tl.line,
            why,
        })
    };
    match &tl.op {
        Op::Remap { .. } => refuse(
            "remap_file_pages is emulated by modern kernels; the live run cannot replay it \
             faithfully"
                .into(),
        ),
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
            if !in_window(*addr, *len) =>
        {
            refuse(format!(
                "range {addr:#x}+{len:#x} is outside the live-run window \
                 [{WINDOW_START:#x}, {WINDOW_END:#x})"
            ))
        }
        _ => Ok(()),
    }
}

/// The Linux name of an errno value, as the model prints it.
pub fn errno_name(e: i32) -> String {
    let s = match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::E2BIG => "E2BIG",
        libc::EBADF => "EBADF",
        libc::ECHILD => "ECHILD",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ETXTBSY => "ETXTBSY",
        libc::EFBIG => "EFBIG",
        libc::ENOSPC => "ENOSPC",
        libc::EROFS => "EROFS",
        libc::ERANGE => "ERANGE",
        libc::ENOSYS => "ENOSYS",
        libc::EOVERFLOW => "EOVERFLOW",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EHWPOISON => "EHWPOISON",
        _ => return format!("ERRNO{e}"),
    };
    s.to_string()
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
mod live {
    use super::*;

    #[derive(Default)]
    pub struct Trail;

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

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod live {
    use super::*;

    use std::collections::{BTreeMap, HashMap};
    use std::ffi::c_void;
    use std::fs::File;
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

    use rmap_core::ops::{Access, Advice, StatsTarget};

    /// How long the controller waits for one answer of a trace process.
    const REPLY_TIMEOUT_MS: i32 = 120_000;
    /// Bytes of each file written with its pattern; the rest stays sparse.
    const PATTERN_MAX: u64 = 64 << 20;
    const ALTSTACK: usize = 64 << 10;

    // Request kinds.
    const K_MMAP: u32 = 1;
    const K_MUNMAP: u32 = 2;
    const K_MPROTECT: u32 = 3;
    const K_MADVISE: u32 = 4;
    const K_TOUCH: u32 = 5;
    const K_FORK: u32 = 6;
    const K_DUMP: u32 = 7;
    /// A round trip that does nothing (the shadow replays' stand-in for an
    /// op on the window).
    const K_NOP: u32 = 8;
    // Reply tags.
    const T_DONE: u32 = 1;
    const T_DATA: u32 = 2;
    /// Data bytes per `T_DATA` message.
    const CHUNK: usize = 4096;

    /// One request, controller to worker.
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Req {
        kind: u32,
        /// prot, advice, or 1 for a write touch
        arg: u32,
        addr: u64,
        len: u64,
        off: u64,
        /// mmap flags
        flags: u64,
        /// mmap fd, -1 for anonymous memory
        fd: i64,
    }
    const REQ_SIZE: usize = std::mem::size_of::<Req>();

    /// What a run left behind, for the tests to check that it cleaned up.
    #[derive(Default)]
    pub struct Trail {
        pub hosts: Vec<i32>,
        pub dir: Option<PathBuf>,
    }

    // ---------------------------------------------------------------------
    // Worker side: runs after fork. Raw syscalls only, no allocation, no
    // panics, never returns.
    // ---------------------------------------------------------------------

    #[inline(always)]
    unsafe fn sc(n: i64, a: [u64; 6]) -> i64 {
        let ret: i64;
        // SAFETY: the caller passes a valid system call and arguments.
        unsafe {
            std::arch::asm!(
                "syscall",
                inlateout("rax") n => ret,
                in("rdi") a[0],
                in("rsi") a[1],
                in("rdx") a[2],
                in("r10") a[3],
                in("r8") a[4],
                in("r9") a[5],
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        ret
    }

    /// A raw syscall result: `-errno` in `-4095..0` is an error.
    fn res(r: i64) -> i32 {
        if (-4095..0).contains(&r) { r as i32 } else { 0 }
    }

    fn wexit(code: u64) -> ! {
        loop {
            // SAFETY: exit_group never returns.
            unsafe { sc(libc::SYS_exit_group, [code, 0, 0, 0, 0, 0]) };
        }
    }

    fn wsend(fd: i32, buf: *const u8, len: usize) {
        // SAFETY: buf points to len readable bytes.
        let r = unsafe {
            sc(
                libc::SYS_sendto,
                [
                    fd as u64,
                    buf as u64,
                    len as u64,
                    libc::MSG_NOSIGNAL as u64,
                    0,
                    0,
                ],
            )
        };
        if r < 0 {
            wexit(3);
        }
    }

    fn send_done(fd: i32, val: i32) {
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&T_DONE.to_le_bytes());
        b[4..].copy_from_slice(&val.to_le_bytes());
        wsend(fd, b.as_ptr(), b.len());
    }

    /// The fault handler: a fault at the probe instruction (whose address the
    /// probe put in r10) resumes at the address in r11 with rax = 1. Any
    /// other fault ends the process.
    extern "C" fn on_fault(_sig: libc::c_int, _info: *mut libc::siginfo_t, ctx: *mut c_void) {
        // SAFETY: the kernel passes a valid ucontext_t to an SA_SIGINFO
        // handler; changing its saved registers is how a handler redirects
        // the interrupted code.
        unsafe {
            let uc = ctx.cast::<libc::ucontext_t>();
            let g = &mut (*uc).uc_mcontext.gregs;
            let rip = g[libc::REG_RIP as usize];
            if rip != 0 && rip == g[libc::REG_R10 as usize] {
                g[libc::REG_RIP as usize] = g[libc::REG_R11 as usize];
                g[libc::REG_RAX as usize] = 1;
                return;
            }
        }
        wexit(70);
    }

    /// Reads (`val` = None) or writes one byte at `addr`; false if that
    /// raised SIGSEGV or SIGBUS.
    #[inline(never)]
    fn probe(addr: u64, val: Option<u8>) -> bool {
        let failed: u64;
        // SAFETY: the access may fault; the handler installed by
        // `worker_main` resumes at label 3 with rax = 1. Nothing else is
        // touched, and r10/r11 are declared clobbered.
        unsafe {
            match val {
                Some(v) => std::arch::asm!(
                    "lea r10, [rip + 2f]",
                    "lea r11, [rip + 3f]",
                    "xor eax, eax",
                    "2:",
                    "mov byte ptr [rdi], sil",
                    "3:",
                    in("rdi") addr,
                    in("rsi") v as u64,
                    out("rax") failed,
                    out("r10") _,
                    out("r11") _,
                    options(nostack),
                ),
                None => std::arch::asm!(
                    "lea r10, [rip + 2f]",
                    "lea r11, [rip + 3f]",
                    "xor eax, eax",
                    "2:",
                    "movzx esi, byte ptr [rdi]",
                    "3:",
                    in("rdi") addr,
                    out("rsi") _,
                    out("rax") failed,
                    out("r10") _,
                    out("r11") _,
                    options(nostack),
                ),
            }
        }
        failed == 0
    }

    /// `touch`: every page from the one holding `addr` to the one holding
    /// `addr+len-1`, in order, as the model does.
    fn touch(addr: u64, len: u64, write: bool, counter: &mut u8) -> i32 {
        if len == 0 {
            return 0;
        }
        let first = addr & !(PAGE - 1);
        let Some(last) = addr.checked_add(len - 1) else {
            return -libc::EFAULT;
        };
        let last = last & !(PAGE - 1);
        let mut a = first;
        loop {
            let val = if write {
                *counter = counter.wrapping_add(1);
                Some(*counter)
            } else {
                None
            };
            if !probe(a, val) {
                return -libc::EFAULT;
            }
            if a == last {
                return 0;
            }
            a += PAGE;
        }
    }

    /// `dump`: streams /proc/self/maps to the controller.
    fn dump(chan: i32) -> i32 {
        let path = b"/proc/self/maps\0";
        // SAFETY: path is NUL-terminated.
        let fd = unsafe {
            sc(
                libc::SYS_open,
                [
                    path.as_ptr() as u64,
                    (libc::O_RDONLY | libc::O_CLOEXEC) as u64,
                    0,
                    0,
                    0,
                    0,
                ],
            )
        };
        if fd < 0 {
            return res(fd);
        }
        let mut buf = [0u8; 4 + CHUNK];
        buf[..4].copy_from_slice(&T_DATA.to_le_bytes());
        let base = buf.as_mut_ptr();
        let ret;
        loop {
            // SAFETY: base + 4 is CHUNK writable bytes of buf.
            let n = unsafe {
                sc(
                    libc::SYS_read,
                    [fd as u64, base as u64 + 4, CHUNK as u64, 0, 0, 0],
                )
            };
            if n == -(libc::EINTR as i64) {
                continue;
            }
            if n <= 0 {
                ret = res(n);
                break;
            }
            wsend(chan, base, 4 + n as usize);
        }
        // SAFETY: closing our own descriptor.
        unsafe { sc(libc::SYS_close, [fd as u64, 0, 0, 0, 0, 0]) };
        ret
    }

    fn close_range(lo: u32, hi: u32) {
        // SAFETY: closes descriptors only.
        let r = unsafe { sc(libc::SYS_close_range, [lo as u64, hi as u64, 0, 0, 0, 0]) };
        if r < 0 {
            let mut fd = lo;
            while fd <= hi.min(65535) {
                // SAFETY: as above.
                unsafe { sc(libc::SYS_close, [fd as u64, 0, 0, 0, 0, 0]) };
                fd += 1;
            }
        }
    }

    /// Asks for SIGKILL when the controller goes away.
    fn die_with_parent(ppid: i32) {
        // SAFETY: plain prctl/getppid.
        unsafe {
            sc(
                libc::SYS_prctl,
                [
                    libc::PR_SET_PDEATHSIG as u64,
                    libc::SIGKILL as u64,
                    0,
                    0,
                    0,
                    0,
                ],
            );
            if sc(libc::SYS_getppid, [0; 6]) != ppid as i64 {
                wexit(4);
            }
        }
    }

    /// Trace process 1, right after `fork()` in the controller. `keep` is
    /// sorted: the descriptors to keep besides 0-2 (the channel and files).
    /// `altstack` is memory of the controller (outside the window) that the
    /// child owns a copy of.
    fn worker_main(chan: i32, keep: &[i32], ppid: i32, altstack: *mut u8) -> ! {
        die_with_parent(ppid);
        let mut lo: u32 = 3;
        for &k in keep {
            let k = k as u32;
            if k < lo {
                continue;
            }
            if k > lo {
                close_range(lo, k - 1);
            }
            lo = k + 1;
        }
        close_range(lo, u32::MAX);
        // SAFETY: async-signal-safe calls on valid, initialised structures.
        unsafe {
            let ss = libc::stack_t {
                ss_sp: altstack.cast(),
                ss_flags: 0,
                ss_size: ALTSTACK,
            };
            if libc::sigaltstack(&ss, std::ptr::null_mut()) != 0 {
                wexit(5);
            }
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_fault as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut sa.sa_mask);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for sig in [libc::SIGSEGV, libc::SIGBUS] {
                if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                    wexit(5);
                }
                libc::sigaddset(&mut set, sig);
            }
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        }
        serve(chan, ppid)
    }

    /// The request loop of a trace process.
    fn serve(mut chan: i32, ppid: i32) -> ! {
        send_done(chan, 0);
        let mut counter = 0u8;
        loop {
            let mut req = Req::default();
            let mut iov = libc::iovec {
                iov_base: (&mut req as *mut Req).cast(),
                iov_len: REQ_SIZE,
            };
            let mut cbuf = [0u64; 8];
            // SAFETY: zeroed msghdr is valid; fields point to live buffers.
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = cbuf.as_mut_ptr().cast();
            msg.msg_controllen = std::mem::size_of_val(&cbuf);
            // SAFETY: msg is valid for the kernel to fill.
            let n = unsafe {
                sc(
                    libc::SYS_recvmsg,
                    [
                        chan as u64,
                        (&mut msg as *mut libc::msghdr) as u64,
                        libc::MSG_CMSG_CLOEXEC as u64,
                        0,
                        0,
                        0,
                    ],
                )
            };
            if n == -(libc::EINTR as i64) {
                continue;
            }
            if n != REQ_SIZE as i64 {
                // controller gone (0) or broken protocol
                wexit(0);
            }
            let mut passed: i32 = -1;
            // SAFETY: the CMSG_* helpers walk the buffer the kernel filled.
            unsafe {
                let c = libc::CMSG_FIRSTHDR(&msg);
                if !c.is_null()
                    && (*c).cmsg_level == libc::SOL_SOCKET
                    && (*c).cmsg_type == libc::SCM_RIGHTS
                {
                    passed = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<i32>());
                }
            }
            let r = req;
            let a = |n: i64, args: [u64; 6]| -> i32 {
                // SAFETY: memory syscalls on the window, as the trace asks.
                res(unsafe { sc(n, args) })
            };
            let val = match r.kind {
                K_MMAP => a(
                    libc::SYS_mmap,
                    [r.addr, r.len, r.arg as u64, r.flags, r.fd as u64, r.off],
                ),
                K_MUNMAP => a(libc::SYS_munmap, [r.addr, r.len, 0, 0, 0, 0]),
                K_MPROTECT => a(libc::SYS_mprotect, [r.addr, r.len, r.arg as u64, 0, 0, 0]),
                K_MADVISE => a(libc::SYS_madvise, [r.addr, r.len, r.arg as u64, 0, 0, 0]),
                K_TOUCH => touch(r.addr, r.len, r.arg == 1, &mut counter),
                K_DUMP => dump(chan),
                K_NOP => 0,
                K_FORK if passed >= 0 => {
                    let flags = (libc::CLONE_PARENT | libc::SIGCHLD) as u64;
                    // SAFETY: a fork-like clone: no shared memory, the
                    // child continues here on its copy of the stack.
                    let pid = unsafe { sc(libc::SYS_clone, [flags, 0, 0, 0, 0, 0]) };
                    if pid == 0 {
                        die_with_parent(ppid);
                        // SAFETY: closing our own descriptor.
                        unsafe { sc(libc::SYS_close, [chan as u64, 0, 0, 0, 0, 0]) };
                        chan = passed;
                        send_done(chan, 0);
                        continue;
                    }
                    // SAFETY: as above.
                    unsafe { sc(libc::SYS_close, [passed as u64, 0, 0, 0, 0, 0]) };
                    // the child's pid, or -errno
                    pid as i32
                }
                _ => -libc::EINVAL,
            };
            if passed >= 0 && r.kind != K_FORK {
                // SAFETY: as above.
                unsafe { sc(libc::SYS_close, [passed as u64, 0, 0, 0, 0, 0]) };
            }
            send_done(chan, val);
        }
    }

    // ---------------------------------------------------------------------
    // Controller side.
    // ---------------------------------------------------------------------

    fn sys_err(what: &str) -> KernelError {
        KernelError::Sys(format!("{what}: {}", io::Error::last_os_error()))
    }

    fn socketpair() -> Result<(OwnedFd, OwnedFd), KernelError> {
        let mut fds = [-1; 2];
        // SAFETY: fds has room for two descriptors.
        let r = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        if r != 0 {
            return Err(sys_err("socketpair"));
        }
        // SAFETY: both descriptors are new and ours.
        Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
    }

    /// A trace process: its host pid and the controller's end of its socket.
    struct Proc {
        host: libc::pid_t,
        chan: OwnedFd,
    }

    fn kill_and_reap(host: libc::pid_t) {
        // SAFETY: host is a child of this process that nobody else reaps.
        unsafe {
            libc::kill(host, libc::SIGKILL);
            let mut st = 0;
            while libc::waitpid(host, &mut st, 0) < 0
                && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
            {}
        }
    }

    /// The live trace processes; killed and reaped when dropped.
    #[derive(Default)]
    struct Procs(BTreeMap<u32, Proc>);

    impl Drop for Procs {
        fn drop(&mut self) {
            for (_, p) in std::mem::take(&mut self.0) {
                kill_and_reap(p.host);
            }
        }
    }

    /// The temporary directory of the files; removed when dropped.
    struct TempDir(PathBuf);

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn make_temp_dir() -> Result<TempDir, KernelError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir();
        for _ in 0..1000 {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let p = base.join(format!("rmap-live-{}-{n}", std::process::id()));
            match std::fs::create_dir(&p) {
                Ok(()) => {
                    // /proc/PID/maps shows the canonical path
                    return match std::fs::canonicalize(&p) {
                        Ok(canon) => Ok(TempDir(canon)),
                        Err(e) => {
                            let _ = std::fs::remove_dir(&p);
                            Err(e.into())
                        }
                    };
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(KernelError::Sys("no fresh temporary directory name".into()))
    }

    /// Creates file `name` of `size` bytes in `dir`: each page holds its
    /// page number + 1 (mod 255, never 0), up to `PATTERN_MAX` bytes; the
    /// rest is a sparse tail.
    fn make_file(dir: &Path, name: &str, size: u64) -> Result<File, KernelError> {
        let path = dir.join(name);
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        let mut page = vec![0u8; PAGE as usize];
        let mut written = 0u64;
        while written < size.min(PATTERN_MAX) {
            let n = (size.min(PATTERN_MAX) - written).min(PAGE);
            page.fill((written / PAGE % 255) as u8 + 1);
            f.write_all(&page[..n as usize])?;
            written += n;
        }
        f.set_len(size)?;
        Ok(f)
    }

    /// Fails if `dir` is on a `noexec` mount, where every executable file
    /// mapping would fail with EPERM.
    fn check_exec_allowed(dir: &Path) -> Result<(), KernelError> {
        use std::os::unix::ffi::OsStrExt;
        let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
            return Ok(());
        };
        // SAFETY: c is NUL-terminated; st is written by the call.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(c.as_ptr(), &mut st) } == 0 && st.f_flag & libc::ST_NOEXEC != 0 {
            return Err(KernelError::Sys(format!(
                "{} is on a noexec mount, so executable file mappings would fail; set TMPDIR \
                 to another directory",
                dir.display()
            )));
        }
        Ok(())
    }

    /// Fails unless the window is free in this process's address space.
    fn check_window_free() -> Result<(), KernelError> {
        let maps = std::fs::read_to_string("/proc/self/maps")?;
        for line in maps.lines() {
            if let Some((s, e)) = parse_range(line)
                && s < WINDOW_END
                && e > WINDOW_START
            {
                return Err(KernelError::Sys(format!(
                    "the harness has a mapping in the live-run window: {line}"
                )));
            }
        }
        Ok(())
    }

    fn parse_range(line: &str) -> Option<(u64, u64)> {
        let range = line.split(' ').next()?;
        let (s, e) = range.split_once('-')?;
        Some((
            u64::from_str_radix(s, 16).ok()?,
            u64::from_str_radix(e, 16).ok()?,
        ))
    }

    /// `/proc/PID/maps` text to the model's `dump` lines (window only).
    fn format_maps(raw: &str, dir_prefix: &str, out: &mut String) -> Result<(), KernelError> {
        // split on \n only: a file name may end in \r
        for line in raw.split('\n').filter(|l| !l.is_empty()) {
            let bad = || KernelError::Sys(format!("unexpected /proc/PID/maps line: {line}"));
            let mut f = line.splitn(6, ' ');
            let (Some(range), Some(perms), Some(off), Some(_dev), Some(_ino)) =
                (f.next(), f.next(), f.next(), f.next(), f.next())
            else {
                return Err(bad());
            };
            let path = f.next().unwrap_or("").trim_start_matches(' ');
            let (start, end) = parse_range(range).ok_or_else(bad)?;
            if start < WINDOW_START || end > WINDOW_END {
                continue;
            }
            let name = if path.is_empty() || path.starts_with("/dev/zero") {
                ""
            } else if let Some(n) = path.strip_prefix(dir_prefix) {
                n
            } else if path.starts_with('[') {
                ""
            } else {
                path.rsplit('/').next().unwrap_or(path)
            };
            out.push_str(&format!("\n{start:x}-{end:x} {perms} {off}"));
            if !name.is_empty() {
                out.push(' ');
                out.push_str(name);
            }
        }
        Ok(())
    }

    fn send_req(chan: &OwnedFd, req: &Req, pass: Option<RawFd>) -> Result<(), KernelError> {
        let mut iov = libc::iovec {
            iov_base: (req as *const Req).cast_mut().cast(),
            iov_len: REQ_SIZE,
        };
        let mut cbuf = [0u64; 4];
        // SAFETY: zeroed msghdr is valid; we fill it with live buffers.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if let Some(fd) = pass {
            // SAFETY: cbuf is large and aligned enough for one SCM_RIGHTS
            // message with one descriptor.
            unsafe {
                msg.msg_control = cbuf.as_mut_ptr().cast();
                msg.msg_controllen = libc::CMSG_SPACE(4) as usize;
                let c = libc::CMSG_FIRSTHDR(&msg);
                (*c).cmsg_level = libc::SOL_SOCKET;
                (*c).cmsg_type = libc::SCM_RIGHTS;
                (*c).cmsg_len = libc::CMSG_LEN(4) as usize;
                std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<i32>(), fd);
            }
        }
        loop {
            // SAFETY: msg is valid.
            let n = unsafe { libc::sendmsg(chan.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
            if n == REQ_SIZE as isize {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if n < 0 && e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(KernelError::Sys(format!(
                "sending a request to a trace process: {e}"
            )));
        }
    }

    /// One message from a trace process (its tag and payload length).
    fn recv_msg(chan: &OwnedFd, pid: u32, buf: &mut [u8]) -> Result<(u32, usize), KernelError> {
        loop {
            let mut pfd = libc::pollfd {
                fd: chan.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, REPLY_TIMEOUT_MS) };
            if r < 0 {
                if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return Err(sys_err("poll"));
            }
            if r == 0 {
                return Err(KernelError::Sys(format!(
                    "trace process {pid} did not answer within {} s",
                    REPLY_TIMEOUT_MS / 1000
                )));
            }
            // SAFETY: buf is writable for its length.
            let n = unsafe { libc::recv(chan.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return Err(sys_err("recv"));
            }
            let n = n as usize;
            if n == 0 {
                return Err(KernelError::Sys(format!(
                    "trace process {pid} died unexpectedly"
                )));
            }
            if n < 4 {
                return Err(KernelError::Sys(format!(
                    "short message from trace process {pid}"
                )));
            }
            let tag = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
            return Ok((tag, n - 4));
        }
    }

    /// The final `T_DONE` value of a request; `T_DATA` payloads are appended
    /// to `data`.
    fn recv_done(
        chan: &OwnedFd,
        pid: u32,
        mut data: Option<&mut Vec<u8>>,
    ) -> Result<i32, KernelError> {
        let mut buf = vec![0u8; 4 + CHUNK + 64];
        loop {
            let (tag, n) = recv_msg(chan, pid, &mut buf)?;
            match (tag, &mut data) {
                (T_DONE, _) if n == 4 => {
                    return Ok(i32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]));
                }
                (T_DATA, Some(d)) => d.extend_from_slice(&buf[4..4 + n]),
                _ => {
                    return Err(KernelError::Sys(format!(
                        "unexpected message from trace process {pid}"
                    )));
                }
            }
        }
    }

    fn prot_bits(p: rmap_core::ops::Prot) -> u32 {
        let mut b = 0;
        if p.read() {
            b |= libc::PROT_READ;
        }
        if p.write() {
            b |= libc::PROT_WRITE;
        }
        if p.exec() {
            b |= libc::PROT_EXEC;
        }
        b as u32
    }

    fn advice_number(a: Advice) -> u32 {
        match a {
            Advice::DontNeed => 4,
            Advice::GuardInstall => 102,
            Advice::GuardRemove => 103,
            Advice::PageOut => 21,
            Advice::DontFork => 10,
            Advice::DoFork => 11,
            Advice::WipeOnFork => 18,
        }
    }

    /// The model's wording for an op naming a process that does not exist.
    fn no_process(file: &str, line: usize, pid: u32) -> KernelError {
        KernelError::Trace(TraceError {
            file: file.to_string(),
            line,
            found: format!("process {pid}"),
            expected: "a process that exists".to_string(),
        })
    }

    /// Serialises object counting against the live runs of this process:
    /// every op of a live run holds it for reading, each measurement
    /// (reading, kill, reading) for writing. [`Cross`] does the same between
    /// processes.
    static LIVE_LOCK: RwLock<()> = RwLock::new(());

    /// The cross-process side of [`LIVE_LOCK`]: an `flock` on
    /// [`LOCK_FILE`] in the temporary directory, shared while any thread of
    /// this process runs a live-run op, exclusive during a measurement. It
    /// keeps concurrent `rmap-bench` processes (several test binaries, a
    /// `fidelity` loop next to a `kernel-run`) from forking and killing
    /// trace processes between the two readings of a measurement. Without
    /// the file (no permission) the runs go on unlocked.
    struct Cross {
        file: Option<File>,
        /// Threads of this process in an op; the first takes the shared
        /// lock, the last drops it.
        readers: Mutex<usize>,
    }

    const LOCK_FILE: &str = "rmap-bench-live.lock";

    fn cross() -> &'static Cross {
        static CROSS: OnceLock<Cross> = OnceLock::new();
        CROSS.get_or_init(|| {
            use std::os::unix::fs::OpenOptionsExt;
            let path = std::env::temp_dir().join(LOCK_FILE);
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o666)
                .open(&path)
                .or_else(|_| File::open(&path))
                .ok();
            Cross {
                file,
                readers: Mutex::new(0),
            }
        })
    }

    fn flock(how: libc::c_int) {
        if let Some(f) = &cross().file {
            // SAFETY: flock on our own descriptor; retried on EINTR.
            while unsafe { libc::flock(f.as_raw_fd(), how) } != 0
                && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
            {}
        }
    }

    /// Held while a live-run op runs.
    struct OpGuard {
        _g: RwLockReadGuard<'static, ()>,
    }

    impl Drop for OpGuard {
        fn drop(&mut self) {
            let mut n = cross().readers.lock().unwrap_or_else(|e| e.into_inner());
            *n -= 1;
            if *n == 0 {
                flock(libc::LOCK_UN);
            }
        }
    }

    fn op_guard() -> OpGuard {
        let g = LIVE_LOCK.read().unwrap_or_else(|e| e.into_inner());
        let mut n = cross().readers.lock().unwrap_or_else(|e| e.into_inner());
        if *n == 0 {
            flock(libc::LOCK_SH);
        }
        *n += 1;
        OpGuard { _g: g }
    }

    /// Held during one measurement: no live-run op of any process runs.
    struct MeasureGuard {
        _g: RwLockWriteGuard<'static, ()>,
    }

    impl Drop for MeasureGuard {
        fn drop(&mut self) {
            flock(libc::LOCK_UN);
        }
    }

    fn measure_guard() -> MeasureGuard {
        let g = LIVE_LOCK.write().unwrap_or_else(|e| e.into_inner());
        // no thread of this process holds the shared lock now
        flock(libc::LOCK_EX);
        MeasureGuard { _g: g }
    }

    /// What every replay of one trace shares.
    struct Env<'a> {
        file: &'a str,
        files: &'a HashMap<String, File>,
        dir_prefix: &'a str,
    }

    /// How the lines are replayed.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    enum Mode {
        /// Every op as the trace says.
        Real,
        /// Forks, exits and dumps as the trace says; every op on the window
        /// (mmap, munmap, mprotect, madvise, touch) becomes a round trip
        /// that does nothing.
        Shadow,
    }

    /// Runs the (well-formed, not refused) lines; `trail` records the host
    /// pids and the directory it used.
    pub fn run(
        lines: &[TraceLine],
        file: &str,
        out: &mut dyn Write,
        opts: &KernelOptions,
        trail: &mut Trail,
    ) -> Result<KernelSummary, KernelError> {
        let dir = make_temp_dir()?;
        trail.dir = Some(dir.0.clone());
        check_exec_allowed(&dir.0)?;
        let dir_prefix = format!("{}/", dir.0.display());
        let mut files: HashMap<String, File> = HashMap::new();
        for tl in lines {
            if let Op::File { name, size } = &tl.op {
                files.insert(name.clone(), make_file(&dir.0, name, *size)?);
            }
        }
        let env = Env {
            file,
            files: &files,
            dir_prefix: &dir_prefix,
        };
        let mut procs = Procs::default();
        let mut meter = Meter::new(opts);
        let r = run_ops(
            &env,
            lines,
            Mode::Real,
            out,
            trail,
            &mut procs,
            None,
            Some(&mut meter),
        );
        {
            let _g = op_guard();
            drop(procs);
            drop(meter);
        }
        drop(files);
        drop(dir);
        r
    }

    /// A new worker forked from the controller itself: trace process 1 of a
    /// run, or the zygote of the object counts.
    fn spawn_worker(files: &HashMap<String, File>, trail: &mut Trail) -> Result<Proc, KernelError> {
        let (ctl, wk) = socketpair()?;
        let mut keep: Vec<i32> = files.values().map(|f| f.as_raw_fd()).collect();
        keep.push(wk.as_raw_fd());
        keep.sort_unstable();
        let mut altstack = vec![0u8; ALTSTACK];
        let alt = altstack.as_mut_ptr();
        // Write every page now, so that the mapping holding the alternate
        // stack has its anonymous state before the fork and a fault handled
        // by a worker creates no anon_vma of its own.
        for i in (0..ALTSTACK).step_by(PAGE as usize) {
            // SAFETY: i < ALTSTACK, inside the vector.
            unsafe { std::ptr::write_volatile(alt.add(i), 1) };
        }
        let wk_raw = wk.as_raw_fd();
        check_window_free()?;
        // SAFETY: getpid/fork. The child runs only `worker_main`, which
        // uses raw system calls and never returns, allocates or unwinds.
        let ppid = unsafe { libc::getpid() };
        let host = unsafe { libc::fork() };
        if host == 0 {
            worker_main(wk_raw, &keep, ppid, alt);
        }
        if host < 0 {
            return Err(sys_err("fork"));
        }
        trail.hosts.push(host);
        drop(wk);
        drop(altstack);
        let p = Proc { host, chan: ctl };
        match recv_done(&p.chan, 1, None) {
            Ok(0) => Ok(p),
            Ok(v) => {
                kill_and_reap(p.host);
                Err(KernelError::Sys(format!(
                    "trace process 1 failed to start ({v})"
                )))
            }
            Err(e) => {
                kill_and_reap(p.host);
                Err(e)
            }
        }
    }

    /// Makes the worker `parent` (trace id `parent_id`) fork; the child
    /// (trace id `child_id`) answers on a new socket. The inner error is
    /// the fork's `-errno`.
    fn fork_from(
        parent: &Proc,
        parent_id: u32,
        child_id: u32,
        trail: &mut Trail,
    ) -> Result<Result<Proc, i32>, KernelError> {
        let (ctl, wk) = socketpair()?;
        send_req(
            &parent.chan,
            &Req {
                kind: K_FORK,
                ..Req::default()
            },
            Some(wk.as_raw_fd()),
        )?;
        drop(wk);
        let v = recv_done(&parent.chan, parent_id, None)?;
        if v <= 0 {
            return Ok(Err(v));
        }
        trail.hosts.push(v);
        let child = Proc { host: v, chan: ctl };
        match recv_done(&child.chan, child_id, None) {
            Ok(0) => Ok(Ok(child)),
            Ok(e) => {
                kill_and_reap(child.host);
                Err(KernelError::Sys(format!(
                    "trace process {child_id} failed to start ({e})"
                )))
            }
            Err(e) => {
                kill_and_reap(child.host);
                Err(e)
            }
        }
    }

    /// Starts trace process 1: forked from the controller, or from the
    /// zygote when there is one.
    fn start_first(
        env: &Env,
        procs: &mut Procs,
        zygote: Option<&Proc>,
        trail: &mut Trail,
    ) -> Result<(), KernelError> {
        let p = match zygote {
            None => spawn_worker(env.files, trail)?,
            Some(z) => fork_from(z, 0, 1, trail)?.map_err(|e| {
                KernelError::Sys(format!("the zygote could not fork: {}", errno_name(-e)))
            })?,
        };
        procs.0.insert(1, p);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn run_ops(
        env: &Env,
        lines: &[TraceLine],
        mode: Mode,
        out: &mut dyn Write,
        trail: &mut Trail,
        procs: &mut Procs,
        zygote: Option<&Proc>,
        mut meter: Option<&mut Meter>,
    ) -> Result<KernelSummary, KernelError> {
        let file = env.file;
        let mut sum = KernelSummary::default();
        let mut started = false;
        for (idx, tl) in lines.iter().enumerate() {
            if matches!(tl.op, Op::Config(_)) {
                continue;
            }
            let line = tl.line;
            if let Op::Stats(StatsTarget::All) = tl.op {
                if !started {
                    let _g = op_guard();
                    start_first(env, procs, zygote, trail)?;
                    started = true;
                }
                sum.ops += 1;
                if let Some(m) = meter.as_deref_mut() {
                    let at = m.measure(env, &lines[..idx], line, procs, trail)?;
                    writeln!(out, "{}", at.counts.json_line())?;
                    sum.objects.push(at);
                }
                continue;
            }
            let _g = op_guard();
            if !started {
                start_first(env, procs, zygote, trail)?;
                started = true;
            }
            sum.ops += 1;
            let proc_of = |procs: &Procs, pid: u32| -> Result<RawFd, KernelError> {
                procs
                    .0
                    .get(&pid)
                    .map(|p| p.chan.as_raw_fd())
                    .ok_or_else(|| no_process(file, line, pid))
            };
            // The ops on the window: process and request.
            let window: Option<(u32, Req)> = match &tl.op {
                Op::Mmap {
                    pid,
                    addr,
                    len,
                    prot,
                    flags,
                    file: fname,
                    off,
                } => {
                    let mut mf = libc::MAP_FIXED
                        | if flags.shared {
                            libc::MAP_SHARED
                        } else {
                            libc::MAP_PRIVATE
                        };
                    if flags.noreserve {
                        mf |= libc::MAP_NORESERVE;
                    }
                    let fd = match fname {
                        Some(n) => env
                            .files
                            .get(n)
                            .ok_or_else(|| {
                                KernelError::Sys(format!("{file}:{line}: file {n} was not created"))
                            })?
                            .as_raw_fd() as i64,
                        None => {
                            mf |= libc::MAP_ANONYMOUS;
                            -1
                        }
                    };
                    Some((
                        *pid,
                        Req {
                            kind: K_MMAP,
                            arg: prot_bits(*prot),
                            addr: *addr,
                            len: *len,
                            off: if fname.is_some() { *off } else { 0 },
                            flags: mf as u32 as u64,
                            fd,
                        },
                    ))
                }
                Op::Munmap { pid, addr, len } => Some((
                    *pid,
                    Req {
                        kind: K_MUNMAP,
                        addr: *addr,
                        len: *len,
                        ..Req::default()
                    },
                )),
                Op::Mprotect {
                    pid,
                    addr,
                    len,
                    prot,
                } => Some((
                    *pid,
                    Req {
                        kind: K_MPROTECT,
                        arg: prot_bits(*prot),
                        addr: *addr,
                        len: *len,
                        ..Req::default()
                    },
                )),
                Op::Madvise {
                    pid,
                    addr,
                    len,
                    advice,
                } => Some((
                    *pid,
                    Req {
                        kind: K_MADVISE,
                        arg: advice_number(*advice),
                        addr: *addr,
                        len: *len,
                        ..Req::default()
                    },
                )),
                Op::Touch {
                    pid,
                    addr,
                    len,
                    access,
                } => Some((
                    *pid,
                    Req {
                        kind: K_TOUCH,
                        arg: (*access == Access::Write) as u32,
                        addr: *addr,
                        len: *len,
                        ..Req::default()
                    },
                )),
                _ => None,
            };
            let val = if let Some((pid, req)) = window {
                let req = match mode {
                    Mode::Real => req,
                    Mode::Shadow => Req {
                        kind: K_NOP,
                        ..Req::default()
                    },
                };
                let p = procs
                    .0
                    .get(&pid)
                    .ok_or_else(|| no_process(file, line, pid))?;
                send_req(&p.chan, &req, None)?;
                recv_done(&p.chan, pid, None)?
            } else {
                match &tl.op {
                    Op::Stats(StatsTarget::Pid(pid)) => {
                        proc_of(procs, *pid)?;
                        0
                    }
                    Op::Remap { .. } | Op::Exec { .. } => {
                        return Err(KernelError::Sys(format!(
                            "{file}:{line}: {} cannot run live",
                            tl.op.name()
                        )));
                    }
                    Op::Dump { pid } => {
                        let p = procs
                            .0
                            .get(pid)
                            .ok_or_else(|| no_process(file, line, *pid))?;
                        send_req(
                            &p.chan,
                            &Req {
                                kind: K_DUMP,
                                ..Req::default()
                            },
                            None,
                        )?;
                        let mut raw = Vec::new();
                        let v = recv_done(&p.chan, *pid, Some(&mut raw))?;
                        if v < 0 {
                            return Err(KernelError::Sys(format!(
                                "{file}:{line}: reading /proc/self/maps: {}",
                                errno_name(-v)
                            )));
                        }
                        let raw = String::from_utf8_lossy(&raw);
                        let mut s = format!("dump {pid}");
                        format_maps(&raw, env.dir_prefix, &mut s)?;
                        writeln!(out, "{s}")?;
                        0
                    }
                    Op::Exit { pid } => {
                        let p = procs
                            .0
                            .remove(pid)
                            .ok_or_else(|| no_process(file, line, *pid))?;
                        kill_and_reap(p.host);
                        0
                    }
                    Op::Fork { parent, child } => {
                        proc_of(procs, *parent)?;
                        if procs.0.contains_key(child) {
                            return Err(KernelError::Trace(TraceError {
                                file: file.to_string(),
                                line,
                                found: format!("process {child}"),
                                expected: "a child id that is not in use".to_string(),
                            }));
                        }
                        let p = &procs.0[parent];
                        match fork_from(p, *parent, *child, trail) {
                            Ok(Ok(c)) => {
                                procs.0.insert(*child, c);
                                0
                            }
                            Ok(Err(v)) => v,
                            Err(KernelError::Sys(e)) => {
                                return Err(KernelError::Sys(format!("{file}:{line}: {e}")));
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    // config, file, reclaim, check (and stats all, above)
                    _ => 0,
                }
            };
            if val < 0 {
                sum.errors += 1;
                writeln!(out, "err {line} {} {}", tl.op.name(), errno_name(-val))?;
            }
        }
        Ok(sum)
    }

    /// The slab caches of [`OBJECT_KINDS`] whose counts this process can
    /// read.
    struct Slab {
        dirs: [Option<PathBuf>; 3],
    }

    impl Slab {
        fn probe() -> Slab {
            let dirs = OBJECT_KINDS.map(|k| {
                let d = Path::new("/sys/kernel/slab").join(k);
                Self::count(&d).ok().map(|_| d)
            });
            Slab { dirs }
        }

        fn any(&self) -> bool {
            self.dirs.iter().any(Option::is_some)
        }

        /// Flushes the cache's per-CPU slabs and sheaves, then reads its
        /// count of allocated objects.
        fn count_once(dir: &Path) -> io::Result<u64> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(dir.join("shrink"))?;
            f.write_all(b"1")?;
            drop(f);
            let text = std::fs::read_to_string(dir.join("objects"))?;
            text.split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| io::Error::other(format!("unexpected slab count `{text}`")))
        }

        /// [`Slab::count_once`] until two counts in a row agree (at most
        /// [`SHRINK_ROUNDS`] times). One shrink is not always enough: right
        /// after a process exit, the first shrink of `vm_area_struct` (a
        /// cache with per-CPU sheaves) leaves about half of the freed
        /// objects counted, and the second one gets them all.
        fn count(dir: &Path) -> io::Result<u64> {
            let mut last = Self::count_once(dir)?;
            for _ in 1..SHRINK_ROUNDS {
                let n = Self::count_once(dir)?;
                if n == last {
                    break;
                }
                last = n;
            }
            Ok(last)
        }

        /// Every readable count, read in [`OBJECT_KINDS`] order or, with
        /// `reverse`, the other way round: the readings before a kill end
        /// with `vm_area_struct` and those after it start with it, so that
        /// the noisiest cache (every mmap of every process changes it) is
        /// read closest to the kill.
        fn read(&self, reverse: bool) -> [Option<u64>; 3] {
            let mut r = [None; 3];
            let mut order = [0, 1, 2];
            if reverse {
                order.reverse();
            }
            for k in order {
                r[k] = self.dirs[k].as_deref().and_then(|d| Self::count(d).ok());
            }
            r
        }
    }

    /// At most this many shrink-and-count rounds per reading of one cache.
    const SHRINK_ROUNDS: usize = 4;

    /// Counts the objects of `stats all` lines (module docs, "Object
    /// counts").
    struct Meter {
        reps: usize,
        slab: Slab,
        /// The idle worker both kinds of replay fork their process 1 from
        /// (key 0), started at the first measurement.
        zygote: Option<Procs>,
    }

    impl Meter {
        fn new(opts: &KernelOptions) -> Meter {
            let slab = if opts.slab_reps == 0 {
                Slab {
                    dirs: [None, None, None],
                }
            } else {
                Slab::probe()
            };
            Meter {
                reps: opts.slab_reps,
                slab,
                zygote: None,
            }
        }

        /// The objects the trace's processes hold after `prefix` (the lines
        /// before the `stats all` at `line`); `live` are the processes of
        /// the run being measured, paused at that line.
        fn measure(
            &mut self,
            env: &Env,
            prefix: &[TraceLine],
            line: usize,
            live: &Procs,
            trail: &mut Trail,
        ) -> Result<ObjectsAt, KernelError> {
            let mut at = ObjectsAt {
                line,
                ..ObjectsAt::default()
            };
            if !self.slab.any() {
                return Ok(at);
            }
            if self.zygote.is_none() {
                let _g = op_guard();
                let z = spawn_worker(env.files, trail)?;
                let mut p = Procs::default();
                p.0.insert(0, z);
                self.zygote = Some(p);
            }
            let zygote = &self.zygote.as_ref().expect("started above").0[&0];
            // The VMAs in the window, from the processes' maps: the slab
            // count of vm_area_struct must come out the same, or something
            // else disturbed the samples consistently, and the measurement
            // is taken again.
            let expected = window_vmas(live);
            for attempt in 1..=CHECK_ATTEMPTS {
                at = self.sample(env, prefix, line, zygote, trail)?;
                at.attempts = attempt;
                match (at.counts.0[VMA_KIND], expected) {
                    (Some(got), Some(want)) if got != want => {}
                    _ => return Ok(at),
                }
            }
            // consistently wrong: say nothing
            at.counts = LiveObjects::default();
            Ok(at)
        }

        /// One measurement: samples until settled, or the most allowed.
        fn sample(
            &self,
            env: &Env,
            prefix: &[TraceLine],
            line: usize,
            zygote: &Proc,
            trail: &mut Trail,
        ) -> Result<ObjectsAt, KernelError> {
            let mut at = ObjectsAt {
                line,
                ..ObjectsAt::default()
            };
            let readable: Vec<usize> = (0..OBJECT_KINDS.len())
                .filter(|&k| self.slab.dirs[k].is_some())
                .collect();
            for round in 0..self.reps * MAX_REPS_FACTOR {
                // Enough once every readable kind has, on both sides, one
                // clearly most frequent value.
                if round >= self.reps
                    && readable.iter().all(|&k| {
                        settled(&at.real[k], self.reps) && settled(&at.shadow[k], self.reps)
                    })
                {
                    break;
                }
                for mode in [Mode::Real, Mode::Shadow] {
                    let mut procs = Procs::default();
                    let sum = run_ops(
                        env,
                        prefix,
                        mode,
                        &mut io::sink(),
                        trail,
                        &mut procs,
                        Some(zygote),
                        None,
                    )?;
                    if sum.ops == 0 {
                        // nothing before the stats line: process 1 exists,
                        // empty, as in the model
                        let _g = op_guard();
                        start_first(env, &mut procs, Some(zygote), trail)?;
                    }
                    let (before, after) = {
                        let _w = measure_guard();
                        let before = self.slab.read(false);
                        drop(procs);
                        (before, self.slab.read(true))
                    };
                    let samples = match mode {
                        Mode::Real => &mut at.real,
                        Mode::Shadow => &mut at.shadow,
                    };
                    for k in 0..OBJECT_KINDS.len() {
                        if let (Some(b), Some(a)) = (before[k], after[k]) {
                            samples[k].push(b as i64 - a as i64);
                        }
                    }
                }
            }
            for &k in &readable {
                // no clear value even after the extra samples: too noisy
                // to tell, so no count
                if settled(&at.real[k], self.reps) && settled(&at.shadow[k], self.reps) {
                    let c = typical(&at.real[k]) - typical(&at.shadow[k]);
                    at.counts.0[k] = u64::try_from(c).ok();
                }
            }
            Ok(at)
        }
    }

    /// The index of `vm_area_struct` in [`OBJECT_KINDS`].
    const VMA_KIND: usize = 2;

    /// Measurements of one `stats all` whose `vm_area_struct` count
    /// disagrees with the processes' maps before the counts are given up.
    const CHECK_ATTEMPTS: usize = 3;

    /// The number of VMAs in the window of the processes `live`, from
    /// `/proc/PID/maps`; `None` if a maps file cannot be read.
    fn window_vmas(live: &Procs) -> Option<u64> {
        let mut n = 0;
        for p in live.0.values() {
            let maps = std::fs::read_to_string(format!("/proc/{}/maps", p.host)).ok()?;
            n += maps
                .lines()
                .filter_map(parse_range)
                .filter(|&(s, e)| s >= WINDOW_START && e <= WINDOW_END)
                .count() as u64;
        }
        Some(n)
    }

    /// A measurement takes up to this many times `reps` samples per side
    /// when the first ones disagree.
    const MAX_REPS_FACTOR: usize = 6;

    /// Whether the most frequent value is clear: more than half of all the
    /// samples, at least a majority of `reps`, and at least twice as
    /// frequent as any other value.
    fn settled(v: &[i64], reps: usize) -> bool {
        let mut freq: Vec<usize> = Vec::new();
        let mut s = v.to_vec();
        s.sort_unstable();
        for run in s.chunk_by(|a, b| a == b) {
            freq.push(run.len());
        }
        freq.sort_unstable_by(|a, b| b.cmp(a));
        let best = freq.first().copied().unwrap_or(0);
        let second = freq.get(1).copied().unwrap_or(0);
        best > reps / 2 && 2 * best > v.len() && best >= 2 * second
    }

    /// The most frequent sample; among equally frequent ones, the one
    /// nearest the median (the lower one of two).
    fn typical(v: &[i64]) -> i64 {
        let mut s = v.to_vec();
        s.sort_unstable();
        let med = s[(s.len() - 1) / 2];
        let freq = |x: i64| s.iter().filter(|&&y| y == x).count();
        let best = s.iter().map(|&x| freq(x)).max().unwrap_or(0);
        s.iter()
            .copied()
            .filter(|&x| freq(x) == best)
            .min_by_key(|&x| ((x - med).abs(), x))
            .unwrap_or(med)
    }

    #[cfg(test)]
    pub(super) fn run_with_trail(
        text: &str,
        out: &mut Vec<u8>,
        trail: &mut Trail,
    ) -> Result<KernelSummary, KernelError> {
        let lines = rmap_core::trace::parse(text, "t.trace")?;
        for tl in &lines {
            refusal(tl, "t.trace")?;
        }
        run(&lines, "t.trace", out, &KernelOptions::default(), trail)
    }
}

#[cfg(all(test, target_os = "linux", target_arch = "x86_64"))]
mod tests {
    use super::*;

    fn run(text: &str) -> (Result<KernelSummary, KernelError>, String) {
        let mut out = Vec::new();
        let r = kernel_run(text, "t.trace", &mut out);
        (r, String::from_utf8(out).unwrap())
    }

    const TOUR: &str = "\
# split, re-merge, fork, faults, guards
file lib.so 10000
mmap 1 0x100000000000 16K rw- private
mprotect 1 0x100000001000 4K r--
dump 1
mprotect 1 0x100000001000 4K rw-
dump 1
mmap 1 0x100000010000 8K --- private
touch 1 0x100000010000 4K r
mmap 1 0x100000020000 16K r-- private file=lib.so
touch 1 0x100000020000 16K r
mmap 1 0x100000030000 8K rw- shared
mmap 1 0x100000040000 8K rw- shared,many_prots file=lib.so off=0x1000
mprotect 1 0x100000001000 4K r-x  # comment

mprotect 1 0x100000001000 4K rw-
mprotect 1 0x100000001001 4K rw-
munmap 1 0x100000000000 0
madvise 1 0x100000020000 4K wipeonfork
mprotect 1 0x100000008000 8K r--
stats 1
reclaim 10
check
fork 1 2
madvise 2 0x100000001000 4K guard_install
touch 2 0x100000000000 8K r
touch 1 0x100000000000 8K w
touch 2 0x100000040000 8K w
dump 1
dump 2
exit 2
dump 1
";

    const TOUR_OUT: &str = "\
dump 1
100000000000-100000001000 rw-p 00000000
100000001000-100000002000 r--p 00000000
100000002000-100000004000 rw-p 00000000
dump 1
100000000000-100000004000 rw-p 00000000
err 9 touch EFAULT
err 11 touch EFAULT
err 17 mprotect EINVAL
err 18 munmap EINVAL
err 19 madvise EINVAL
err 20 mprotect ENOMEM
err 26 touch EFAULT
dump 1
100000000000-100000004000 rw-p 00000000
100000010000-100000012000 ---p 00000000
100000020000-100000024000 r--p 00000000 lib.so
100000030000-100000032000 rw-s 00000000
100000040000-100000042000 rw-s 00001000 lib.so
dump 2
100000000000-100000004000 rw-p 00000000
100000010000-100000012000 ---p 00000000
100000020000-100000024000 r--p 00000000 lib.so
100000030000-100000032000 rw-s 00000000
100000040000-100000042000 rw-s 00001000 lib.so
dump 1
100000000000-100000004000 rw-p 00000000
100000010000-100000012000 ---p 00000000
100000020000-100000024000 r--p 00000000 lib.so
100000030000-100000032000 rw-s 00000000
100000040000-100000042000 rw-s 00001000 lib.so
";

    #[test]
    fn tour_matches_expected_output() {
        let (r, out) = run(TOUR);
        assert_eq!(out, TOUR_OUT);
        let sum = r.unwrap();
        assert_eq!(sum.errors, 7);
        assert_eq!(sum.ops, 30);
    }

    #[test]
    fn two_runs_give_identical_output() {
        let (a, oa) = run(TOUR);
        let (b, ob) = run(TOUR);
        assert_eq!(oa, ob);
        assert_eq!(a.unwrap(), b.unwrap());
    }

    #[test]
    fn partial_eof_page_is_accessible_and_the_next_faults() {
        let t = "file f 4196\nmmap 1 0x100000000000 16K rw- shared file=f\n\
                 touch 1 0x100000000000 8K w\ntouch 1 0x100000000000 12K r\n\
                 mmap 1 0x100000010000 4K r-- private file=f off=0x2000\n\
                 touch 1 0x100000010000 1 r\nmmap 1 0x100000020000 4K --x private\n\
                 touch 1 0x100000020000 4K r\nmmap 1 0x100000030000 4K -w- private\n\
                 touch 1 0x100000030000 4K r\ntouch 1 0x100000030000 4K w\n";
        let (r, out) = run(t);
        r.unwrap();
        assert_eq!(
            out,
            "err 4 touch EFAULT\nerr 6 touch EFAULT\nerr 8 touch EFAULT\n"
        );
    }

    #[test]
    fn refuses_ranges_outside_the_window_before_running() {
        for t in [
            "mmap 1 0x7f0000000000 4K rw- private\n",
            "dump 1\nmunmap 1 0x0 4K\n",
            "touch 1 0x1ffffffff000 8K r\n",
            "mprotect 1 0x1ffffffff000 4097 r--\n",
            "madvise 1 0xfffffffffff 4K dontneed\n",
            "mmap 1 0x100000000000 0xffffffffffffffff rw- private\n",
        ] {
            let (r, out) = run(t);
            let e = r.unwrap_err();
            assert!(matches!(e, KernelError::Refused { .. }), "{t}: {e}");
            assert!(e.to_string().contains("outside the live-run window"), "{e}");
            assert!(e.to_string().starts_with("t.trace:"), "{e}");
            assert_eq!(out, "", "{t}");
        }
        // zero length inside the window, and the last page of the window
        let (r, out) = run("munmap 1 0x1ffffffff000 0\nmunmap 1 0x1ffffffff000 4K\n");
        r.unwrap();
        assert_eq!(out, "err 1 munmap EINVAL\n");
    }

    #[test]
    fn refuses_remap_and_exec() {
        let (r, _) = run("file f 8K\nmmap 1 0x100000000000 8K rw- shared file=f\n\
                          remap 1 0x100000000000 4K 1\n");
        let e = r.unwrap_err().to_string();
        assert_eq!(
            e,
            "t.trace:3: remap_file_pages is emulated by modern kernels; the live run cannot \
             replay it faithfully"
        );
        let (r, _) = run("dump 1\nexec 1\n");
        assert!(r.unwrap_err().to_string().starts_with("t.trace:2: exec"));
    }

    #[test]
    fn process_errors_are_trace_errors() {
        let (r, out) = run("dump 1\ndump 2\n");
        let e = r.unwrap_err();
        assert!(matches!(e, KernelError::Trace(_)));
        assert_eq!(
            e.to_string(),
            "t.trace:2: found `process 2`, expected a process that exists"
        );
        assert_eq!(out, "dump 1\n");
        let (r, _) = run("fork 1 2\nfork 1 2\n");
        assert_eq!(
            r.unwrap_err().to_string(),
            "t.trace:2: found `process 2`, expected a child id that is not in use"
        );
        let (r, _) = run("fork 1 2\nexit 2\nmunmap 2 0x100000000000 4K\n");
        assert!(
            r.unwrap_err()
                .to_string()
                .starts_with("t.trace:3: found `process 2`")
        );
        // a malformed line: the lines before it run
        let (r, out) = run("dump 1\nmmap 1 0x100000000000 4K rwx- private\n");
        assert!(matches!(r.unwrap_err(), KernelError::Trace(e) if e.line == 2));
        assert_eq!(out, "dump 1\n");
    }

    #[test]
    fn fork_tree_and_exits_leave_no_processes_or_files() {
        let t = "file a 8K\nfile b 3K\nmmap 1 0x100000000000 8K rw- private file=a\n\
                 fork 1 2\nfork 2 3\nmmap 3 0x100000002000 4K rw- private file=a off=0x2000\n\
                 mmap 3 0x100000003000 4K r-- shared file=b\nfork 3 4\nexit 2\nexit 3\n\
                 fork 4 2\ndump 2\ndump 1\nexit 1\nfork 4 1\ndump 1\ndump 9\n";
        let mut trail = live::Trail::default();
        let mut out = Vec::new();
        let e = live::run_with_trail(t, &mut out, &mut trail).unwrap_err();
        assert!(
            e.to_string().starts_with("t.trace:17: found `process 9`"),
            "{e}"
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            // the inherited file mapping merges with the new one: one
            // struct file for all processes, no anon_vma
            "dump 2\n100000000000-100000003000 rw-p 00000000 a\n\
             100000003000-100000004000 r--s 00000000 b\n\
             dump 1\n100000000000-100000002000 rw-p 00000000 a\n\
             dump 1\n100000000000-100000003000 rw-p 00000000 a\n\
             100000003000-100000004000 r--s 00000000 b\n"
        );
        assert_eq!(trail.hosts.len(), 6);
        for h in trail.hosts {
            // reaped: no such process (a zombie would still answer)
            let r = unsafe { libc::kill(h, 0) };
            assert_eq!(r, -1, "process {h} still exists");
        }
        assert!(!trail.dir.unwrap().exists());
    }

    #[test]
    fn odd_inputs_never_panic() {
        for t in [
            "",
            "config ram=1M\n",
            "file . 4K\n",
            "file big 0\nmmap 1 0x100000000000 4K rw- private file=big\ntouch 1 0x100000000000 4K r\n",
            "mmap 1 0x100000000000 4K rw- private\ntouch 1 0x100000000000 0xffffffffffff r\n",
            "mmap 1 0x100000000001 4K rw- private\nmmap 1 0x100000000000 0 rw- private\n",
            "file f 4K\nmmap 1 0x100000000000 4K rw- private file=f off=0xfffffffffffff000\n",
        ] {
            let (_r, _out) = run(t);
        }
        let (r, out) = run(
            "file big 0\nmmap 1 0x100000000000 4K rw- private file=big\ntouch 1 0x100000000000 4K r\n\
                            mmap 1 0x100000000001 4K rw- private\nmmap 1 0x100000000000 0 rw- private\n\
                            file f 4K\nmmap 1 0x100000000000 4K rw- private file=f off=0xfffffffffffff000\n",
        );
        r.unwrap();
        assert_eq!(
            out,
            "err 3 touch EFAULT\nerr 4 mmap EINVAL\nerr 5 mmap EINVAL\nerr 7 mmap EOVERFLOW\n"
        );
    }
}
