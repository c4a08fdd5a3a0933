//! Live-kernel measurements on the shapes of two model scenarios, so that
//! the report can show the real Linux kernel of this machine beside the
//! model (rows with `backend = "kernel"`, see [`crate::results`]).
//!
//! Everything runs in processes forked from the calling (*measuring*)
//! process, so that its own threads and allocations take no part: each
//! repetition forks one *storm* process, which maps the memory, forks and
//! faults. The storm process and everything below it use system calls
//! only (no allocation, no locks, no panics: the measuring process may be
//! multithreaded), and send their results back over a pipe as raw bytes;
//! the measuring process turns them into rows. Every memory size is in MiB
//! (`size_unit = "MiB"`); anonymous memory is advised `MADV_NOHUGEPAGE` so
//! that the kernel works with 4 KiB pages, as the model does.
//!
//! A storm process is a fork of the measuring process, so it still maps
//! (copy-on-write) whatever the measuring process had resident: a few MiB
//! for `rmap-bench` or a test binary. Its forks copy those page tables too.
//! That is why fork and exit costs are divided by the *resident* pages of
//! the process (`/proc/self/statm`) rather than by the N MiB alone, and why
//! the `resident_pages` row shows what the forking process held; at 16 MiB
//! and more the N MiB are the bulk of it.
//!
//! # `fork-storm`, size N MiB
//!
//! The model: process 1 maps N MiB of anonymous `rw-` private memory and
//! writes every page, forks 4 children one after another, child `i` writes
//! pages `[i*n/8, (i+1)*n/8)`, the children exit, then the parent.
//!
//! Here the storm process does exactly that, with one child alive at a
//! time (fork, the child writes its eighth and exits, the parent reaps it,
//! next fork). Rows:
//! - `fork_ns_per_page` (`ns/page`): the time of each `fork` system call
//!   (a raw `clone(SIGCHLD)`, timed with [`Instant`] in the parent around
//!   the call), divided by the parent's resident pages right before it;
//!   median, min and max over the 4 forks of every repetition. The model's
//!   metric divides by the pages the parent maps at the fork.
//! - `fork_ns` (`ns`): the same fork times, undivided.
//! - `exit_ns_per_page` (`ns/page`): a child writes its eighth, reads its
//!   resident pages, takes a `CLOCK_MONOTONIC` timestamp, writes it to a
//!   pipe and calls `_exit` at once; the parent, blocked on that pipe, goes
//!   straight into `waitpid`, and the exit time is the moment `waitpid`
//!   returns minus the child's timestamp, divided by the child's resident
//!   pages. The parent's own exit is measured the same way by the measuring
//!   process. So each repetition gives 5 exits (4 children, 1 parent). The
//!   value includes the `write` of the timestamp and the wake-up of the
//!   waiting process (microseconds on an idle machine, more on a busy
//!   one: on a loaded machine the median then mostly measures scheduling
//!   delays, and the min is the better estimate), so it is an upper bound
//!   of the kernel's exit work. Waiting by polling instead of sleeping was
//!   tried and is worse on a loaded machine (the poller competes with the
//!   exiting child for the CPU). The model's metric is the time of the exit
//!   divided by the pages the exiting process maps.
//! - `resident_pages` (`pages`): the parent's resident pages at the forks.
//! - `time_ns` (`ns`): from the storm process's first `mmap` to the moment
//!   the measuring process has reaped it (mapping, writing, the 4 forks,
//!   the children's writes and exits, the parent's exit).
//!
//! # `fault-storm`, size N MiB
//!
//! The model: first-touch anonymous write faults over N MiB, read faults
//! over a private read-only mapping of an N MiB file, a fork whose child
//! writes all the parent's anonymous pages (COW faults), then
//! `madvise(MADV_PAGEOUT)` and a read back (swap-in faults).
//!
//! Here the measuring process writes an N MiB file in a fresh temporary
//! directory (under `std::env::temp_dir()`, removed at the end; no
//! `fsync`), so its pages are in the page cache: the file faults measured
//! are page-cache hits, which is what the model's file read fault is (the
//! model has no I/O). The storm process then does the four passes. In each
//! pass every page is accessed once, by a plain volatile one-byte write
//! (anonymous first touch, COW) or read (file, swap-in), and each access is
//! timed on its own: `Instant::now()` before and after, as the model times
//! its page accesses. Whether the access faulted is read from the thread's
//! fault counters (`getrusage(RUSAGE_THREAD)`, minor plus major faults)
//! after the second timestamp, outside the timed interval. The COW pass
//! runs in a child of the storm process (forked after the file pass); the
//! storm process waits for it before the swap-in pass. Before each pass's
//! process times anything, it runs the same timing loop over memory it has
//! already touched, so that the code, the vDSO and its stack are mapped
//! and no fault of the harness lands in a timed access.
//!
//! Rows (value = median over the repetitions):
//! - `fault_ns_p50`, `fault_ns_p99`, `fault_ns_p999` (`ns`): percentiles,
//!   from an `hdrhistogram::Histogram<u64>` (3 significant digits) of
//!   every timed access that faulted, all kinds together.
//! - `anon_fault_ns_mean`, `file_fault_ns_mean`, `cow_fault_ns_mean`,
//!   `swapin_fault_ns_mean` (`ns`): mean over the faulting accesses of
//!   each kind. The timer overhead is *not* subtracted, as in the model.
//! - `anon_faults`, `file_faults`, `cow_faults`, `swapin_faults`
//!   (`faults`): how many accesses of each kind faulted. For anonymous and
//!   COW memory that is every page. For the file it is far fewer: a read
//!   fault on a file also maps the neighbouring page-cache pages
//!   ("fault-around": 64 KiB by default, and whole large page-cache folios
//!   on recent kernels), and the accesses to those pages do not fault (on
//!   the 6.18 kernel and ext4 where this was written, 100 to 200 pages per
//!   fault). So `file_fault_ns_mean` is the cost of a fault that maps many
//!   pages, where the model's file fault maps one; `file_access_ns_mean`
//!   is the per-page figure.
//! - `file_access_ns_mean` (`ns`): mean over every file page access,
//!   faulting or not: the per-page cost with fault-around amortised.
//! - `timer_overhead_ns` (`ns`): the median of 1001 back-to-back
//!   `Instant::now()` pairs in the storm process; it is included in every
//!   timed access above.
//! - `time_ns` (`ns`): the whole storm process, from its first `mmap` to
//!   the end of its last pass (before it sends its samples).
//!
//! Swap-in needs swap. When `/proc/swaps` lists no swap area the swap-in
//! pass is skipped: there is no `swapin_fault_ns_mean` row and no
//! swap-in access in the percentiles; instead a row `swapin_skipped`
//! (value 1, unit `no-swap`) says so. When `MADV_PAGEOUT` itself fails the
//! row is `swapin_skipped` with unit `pageout-ERRNO`. Pages that
//! `MADV_PAGEOUT` did not reclaim do not fault when read, so only the
//! accesses that did fault count.

use std::collections::BTreeMap;

use crate::results::{KERNEL_BACKEND, Row};

/// The model scenario that [`run`] mirrors with forks.
pub const FORK_STORM: &str = "fork-storm";
/// The model scenario that [`run`] mirrors with page faults.
pub const FAULT_STORM: &str = "fault-storm";

/// What to measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelBenchOptions {
    /// `fork-storm` sizes, in MiB.
    pub fork_sizes: Vec<u64>,
    /// `fault-storm` sizes, in MiB.
    pub fault_sizes: Vec<u64>,
    /// Repetitions of each size (at least 1).
    pub reps: u32,
}

impl Default for KernelBenchOptions {
    fn default() -> Self {
        KernelBenchOptions {
            fork_sizes: vec![16, 64, 256],
            fault_sizes: vec![16, 64],
            reps: 5,
        }
    }
}

/// Measures the live kernel (module docs) and returns its rows, sizes in
/// the order given, `fork-storm` first. `progress` gets one line per
/// repetition. A failing system call (an `mmap` refused, a `fork` failing,
/// a storm process dying) is an `Err` naming it.
pub fn run(opts: &KernelBenchOptions, progress: &mut dyn FnMut(&str)) -> Result<Vec<Row>, String> {
    if opts.reps == 0 {
        return Err("kernel-bench: --reps must be at least 1".to_string());
    }
    for &s in opts.fork_sizes.iter().chain(&opts.fault_sizes) {
        if s == 0 {
            return Err("kernel-bench: sizes must be at least 1 MiB".to_string());
        }
        if s.checked_mul(1 << 20)
            .and_then(|b| usize::try_from(b).ok())
            .is_none()
        {
            return Err(format!("kernel-bench: {s} MiB is too large"));
        }
    }
    imp::run(opts, progress)
}

/// Samples of one metric across the repetitions of one size.
struct Acc {
    unit: String,
    vals: Vec<f64>,
    reps: u32,
}

/// The metrics of one scenario at one size, in first-seen order.
#[derive(Default)]
struct Metrics {
    order: Vec<&'static str>,
    by_name: BTreeMap<&'static str, Acc>,
}

impl Metrics {
    /// Adds the samples that one repetition gave for `metric`.
    fn add(&mut self, metric: &'static str, unit: &str, vals: &[f64]) {
        if vals.is_empty() {
            return;
        }
        let acc = self.by_name.entry(metric).or_insert_with(|| {
            self.order.push(metric);
            Acc {
                unit: unit.to_string(),
                vals: Vec::new(),
                reps: 0,
            }
        });
        acc.vals.extend_from_slice(vals);
        acc.reps += 1;
    }

    fn rows(self, scenario: &str, size: u64) -> Vec<Row> {
        let mut by_name = self.by_name;
        self.order
            .iter()
            .filter_map(|m| by_name.remove(m).map(|a| (m, a)))
            .map(|(m, a)| {
                let (med, min, max) = summary(&a.vals);
                Row {
                    scenario: scenario.to_string(),
                    size,
                    size_unit: "MiB".to_string(),
                    backend: KERNEL_BACKEND.to_string(),
                    metric: m.to_string(),
                    value: med,
                    unit: a.unit,
                    min,
                    max,
                    reps: a.reps,
                }
            })
            .collect()
    }
}

/// Median (the mean of the two middle values for an even count), min and
/// max of a non-empty sample.
fn summary(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let k = s.len();
    let med = if k % 2 == 1 {
        s[k / 2]
    } else {
        (s[k / 2 - 1] + s[k / 2]) / 2.0
    };
    (med, s[0], s[k - 1])
}

/// The resident pages in the text of `/proc/self/statm` (its second
/// number); 0 if there is none. No allocation, no panic: runs after fork.
fn statm_resident(text: &[u8]) -> u64 {
    let mut fields = text
        .split(|b| *b == b' ' || *b == b'\n')
        .filter(|f| !f.is_empty());
    let _size = fields.next();
    let mut v: u64 = 0;
    for &b in fields.next().unwrap_or(&[]) {
        if !b.is_ascii_digit() {
            return 0;
        }
        v = v.saturating_mul(10).saturating_add(u64::from(b - b'0'));
    }
    v
}

/// Whether the text of `/proc/swaps` lists a swap area.
fn swaps_listed(text: &str) -> bool {
    text.lines().skip(1).any(|l| !l.trim().is_empty())
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::*;

    pub fn run(
        _opts: &KernelBenchOptions,
        _progress: &mut dyn FnMut(&str),
    ) -> Result<Vec<Row>, String> {
        Err("kernel-bench needs Linux".to_string())
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use super::*;

    use std::ffi::c_void;
    use std::fs::File;
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::path::PathBuf;
    use std::ptr;
    use std::sync::atomic::{AtomicU64, Ordering, compiler_fence};
    use std::time::{Duration, Instant};

    use crate::kernel::errno_name;

    // -----------------------------------------------------------------
    // Wire format: native-endian u64 words, then u32 samples.
    // -----------------------------------------------------------------

    const TAG_FORK: u64 = 0x6b62_5f66_6f72_6b31; // "kb_fork1"
    const TAG_MAIN: u64 = 0x6b62_5f6d_6169_6e31; // "kb_main1"
    const TAG_COW: u64 = 0x6b62_5f63_6f77_5f31; // "kb_cow_1"

    /// Children of one fork-storm.
    const CHILDREN: usize = 4;

    // fork-storm record, storm process -> measuring process
    const F_FORK_NS: usize = 2;
    const F_PARENT_RES: usize = F_FORK_NS + CHILDREN;
    const F_EXIT_NS: usize = F_PARENT_RES + CHILDREN;
    const F_CHILD_RES: usize = F_EXIT_NS + CHILDREN;
    const F_START: usize = F_CHILD_RES + CHILDREN;
    const F_OWN_RES: usize = F_START + 1;
    const F_EXIT_AT: usize = F_OWN_RES + 1;
    const FORK_WORDS: usize = F_EXIT_AT + 1;

    // fault-storm records: [tag, status, pages, ...]; COW has the first
    // three only, then `pages` samples; MAIN has these, then 3 * `pages`
    // samples (anonymous, file, swap-in).
    const M_TIMER: usize = 3;
    const M_TIME: usize = 4;
    const M_SWAP: usize = 5;
    const M_SWAP_ERR: usize = 6;
    const MAIN_WORDS: usize = 7;
    const HEAD_WORDS: usize = 3;

    /// `M_SWAP` values.
    const SWAP_SKIPPED: u64 = 0;
    const SWAP_DONE: u64 = 1;
    const SWAP_PAGEOUT_FAILED: u64 = 2;

    /// A sample: nanoseconds in the low 31 bits, [`FAULTED`] on top.
    const FAULTED: u32 = 1 << 31;
    const NS_MAX: u32 = FAULTED - 1;

    // Failure stages, in the high half of a status word (errno below).
    const ST_MMAP: u64 = 1;
    const ST_PIPE: u64 = 2;
    const ST_FORK: u64 = 3;
    const ST_WAIT: u64 = 4;
    const ST_CHILD: u64 = 5;
    const ST_READ: u64 = 6;
    const ST_STATM: u64 = 7;

    fn status(stage: u64, errno: i32) -> u64 {
        (stage << 32) | u64::from(errno as u32)
    }

    fn describe(st: u64) -> String {
        let stage = st >> 32;
        let low = (st & 0xffff_ffff) as u32 as i32;
        match stage {
            ST_MMAP => format!("mmap failed: {}", errno_name(low)),
            ST_PIPE => format!("pipe failed: {}", errno_name(low)),
            ST_FORK => format!("fork failed: {}", errno_name(low)),
            ST_WAIT => format!("waitpid failed: {}", errno_name(low)),
            ST_CHILD => format!("a forked child failed (wait status {low:#x})"),
            ST_READ => "a forked child sent no result".to_string(),
            ST_STATM => "cannot read /proc/self/statm".to_string(),
            _ => format!("failed (status {st:#x})"),
        }
    }

    // -----------------------------------------------------------------
    // After fork: system calls only, no allocation, no panic.
    // -----------------------------------------------------------------

    fn errno() -> i32 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }

    fn mono_ns() -> u64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: ts is a valid timespec to fill.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        (ts.tv_sec as u64)
            .wrapping_mul(1_000_000_000)
            .wrapping_add(ts.tv_nsec as u64)
    }

    fn ns_between(a: Instant, b: Instant) -> u64 {
        u64::try_from(b.saturating_duration_since(a).as_nanos()).unwrap_or(u64::MAX)
    }

    fn exit_now(code: i32) -> ! {
        // SAFETY: _exit ends the process without running anything.
        unsafe { libc::_exit(code) }
    }

    fn write_all(fd: i32, mut buf: &[u8]) -> bool {
        while !buf.is_empty() {
            // SAFETY: buf is readable for its length.
            let r = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
            if r < 0 {
                if errno() == libc::EINTR {
                    continue;
                }
                return false;
            }
            buf = buf.get(r as usize..).unwrap_or(&[]);
        }
        true
    }

    fn read_all(fd: i32, mut buf: &mut [u8]) -> bool {
        while !buf.is_empty() {
            // SAFETY: buf is writable for its length.
            let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            if r < 0 {
                if errno() == libc::EINTR {
                    continue;
                }
                return false;
            }
            if r == 0 {
                return false;
            }
            buf = match buf.get_mut(r as usize..) {
                Some(b) => b,
                None => return false,
            };
        }
        true
    }

    fn words_bytes(w: &[u64]) -> &[u8] {
        // SAFETY: u64 has no padding; the bytes live as long as w.
        unsafe { std::slice::from_raw_parts(w.as_ptr().cast(), std::mem::size_of_val(w)) }
    }

    fn samples_bytes(s: &[u32]) -> &[u8] {
        // SAFETY: as above.
        unsafe { std::slice::from_raw_parts(s.as_ptr().cast(), std::mem::size_of_val(s)) }
    }

    fn close(fd: i32) {
        // SAFETY: closing a descriptor of ours.
        unsafe { libc::close(fd) };
    }

    /// Resident pages of this process (`/proc/self/statm`); 0 on failure.
    fn resident_pages() -> u64 {
        let path = b"/proc/self/statm\0";
        // SAFETY: path is NUL-terminated.
        let fd = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return 0;
        }
        let mut buf = [0u8; 256];
        // SAFETY: buf is writable for its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        close(fd);
        if n <= 0 {
            return 0;
        }
        statm_resident(buf.get(..n as usize).unwrap_or(&[]))
    }

    /// Minor plus major faults of the calling thread.
    #[inline(always)]
    fn fault_count() -> u64 {
        // SAFETY: ru is a valid rusage to fill.
        unsafe {
            let mut ru: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_THREAD, &mut ru);
            (ru.ru_minflt as u64).wrapping_add(ru.ru_majflt as u64)
        }
    }

    /// A plain fork: the raw `clone(SIGCHLD)` system call (no `atfork`
    /// handlers). The child's pid, 0 in the child, -1 on failure.
    fn raw_fork() -> i64 {
        // SAFETY: a fork-like clone: the child runs on its own copy of the
        // stack and address space.
        unsafe {
            libc::syscall(
                libc::SYS_clone,
                libc::SIGCHLD as libc::c_long,
                0 as libc::c_long,
                0 as libc::c_long,
                0 as libc::c_long,
                0 as libc::c_long,
            )
        }
    }

    /// `waitpid` for `pid`; the wait status.
    fn wait_child(pid: i32) -> Result<i32, i32> {
        let mut st = 0;
        loop {
            // SAFETY: st is valid to fill.
            let r = unsafe { libc::waitpid(pid, &mut st, 0) };
            if r == pid {
                return Ok(st);
            }
            let e = errno();
            if e != libc::EINTR {
                return Err(e);
            }
        }
    }

    fn exited_ok(st: i32) -> bool {
        libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0
    }

    /// SIGKILL when the parent goes away; exits if it already has.
    fn die_with_parent(ppid: i32) {
        // SAFETY: plain prctl/getppid.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
            if libc::getppid() != ppid {
                exit_now(4);
            }
        }
    }

    /// Closes every descriptor above 2 except those in `keep`.
    fn close_other_fds(keep: &mut [i32]) {
        keep.sort_unstable();
        let mut lo: u32 = 3;
        let close_span = |lo: u32, hi: u32| {
            // SAFETY: closes descriptors only.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_close_range,
                    lo as libc::c_uint,
                    hi as libc::c_uint,
                    0 as libc::c_uint,
                )
            };
            if r < 0 {
                for fd in lo..=hi.min(4095) {
                    close(fd as i32);
                }
            }
        };
        for &k in keep.iter() {
            if k < 0 || (k as u32) < lo {
                continue;
            }
            if k as u32 > lo {
                close_span(lo, k as u32 - 1);
            }
            lo = k as u32 + 1;
        }
        close_span(lo, u32::MAX);
    }

    /// Anonymous private read-write memory, 4 KiB pages.
    fn map_anon(len: usize) -> Result<*mut u8, u64> {
        // SAFETY: a fresh mapping; nothing else is touched.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(status(ST_MMAP, errno()));
        }
        // SAFETY: advice on our own mapping; failure (no THP) is harmless.
        unsafe { libc::madvise(p, len, libc::MADV_NOHUGEPAGE) };
        Ok(p.cast())
    }

    /// Writes one byte per page of `[base, base + pages * page)`.
    fn touch_pages(base: *mut u8, first: usize, end: usize, page: usize, val: u8) {
        for i in first..end {
            // SAFETY: the caller maps these pages read-write.
            unsafe { ptr::write_volatile(base.wrapping_add(i.wrapping_mul(page)), val) };
        }
    }

    /// Accesses one byte of each of `out.len()` pages from `base`, in
    /// order, each access timed on its own with `Instant::now()`; writes
    /// one sample per page into `out`: the nanoseconds, with [`FAULTED`]
    /// set when the thread's fault count rose across the access (read
    /// after the second timestamp).
    #[inline(never)]
    fn timed_pass(base: *mut u8, page: usize, out: &mut [u32], write: bool) {
        let mut before = fault_count();
        for (i, slot) in out.iter_mut().enumerate() {
            let p = base.wrapping_add(i.wrapping_mul(page));
            compiler_fence(Ordering::SeqCst);
            let t0 = Instant::now();
            compiler_fence(Ordering::SeqCst);
            if write {
                // SAFETY: the caller maps out.len() writable pages at base.
                unsafe { ptr::write_volatile(p, (i as u8) | 1) };
            } else {
                // SAFETY: the caller maps out.len() readable pages at base.
                std::hint::black_box(unsafe { ptr::read_volatile(p) });
            }
            compiler_fence(Ordering::SeqCst);
            let t1 = Instant::now();
            compiler_fence(Ordering::SeqCst);
            let after = fault_count();
            let ns = ns_between(t0, t1).min(u64::from(NS_MAX)) as u32;
            *slot = ns | if after > before { FAULTED } else { 0 };
            before = after;
        }
    }

    /// Runs [`timed_pass`] once over the first page at `base` (already
    /// touched), so that its code, stack, the vDSO and `getrusage` are
    /// mapped in this process before anything is timed.
    fn warm_up(base: *mut u8, page: usize) {
        let mut scratch = [0u32; 1];
        timed_pass(base, page, &mut scratch, true);
        std::hint::black_box(scratch);
    }

    /// The median of 1001 back-to-back `Instant::now()` pairs, in ns.
    fn timer_overhead_ns() -> u64 {
        let mut v = [0u64; 1001];
        for s in v.iter_mut() {
            let t0 = Instant::now();
            let t1 = Instant::now();
            *s = ns_between(t0, t1);
        }
        v.sort_unstable();
        v[500]
    }

    fn round_up(x: usize, page: usize) -> usize {
        x.div_ceil(page).saturating_mul(page).max(page)
    }

    // ---- fork-storm ---------------------------------------------------

    /// The storm process of one `fork-storm` repetition; sends a
    /// `FORK_WORDS` record on `wfd` and exits.
    fn fork_storm_proc(wfd: i32, len: usize, page: usize) -> ! {
        let mut rec = [0u64; FORK_WORDS];
        rec[0] = TAG_FORK;
        rec[F_START] = mono_ns();
        let st = fork_storm_body(len, page, &mut rec);
        rec[1] = st;
        rec[F_OWN_RES] = resident_pages();
        rec[F_EXIT_AT] = mono_ns();
        if !write_all(wfd, words_bytes(&rec)) {
            exit_now(3);
        }
        exit_now(if st == 0 { 0 } else { 1 })
    }

    fn fork_storm_body(len: usize, page: usize, rec: &mut [u64; FORK_WORDS]) -> u64 {
        let base = match map_anon(len) {
            Ok(p) => p,
            Err(st) => return st,
        };
        let n = len / page;
        touch_pages(base, 0, n, page, 0x5a);
        // SAFETY: plain getpid.
        let me = unsafe { libc::getpid() };
        for i in 0..CHILDREN {
            let res = resident_pages();
            if res == 0 {
                return status(ST_STATM, 0);
            }
            let mut fds = [-1i32; 2];
            // SAFETY: fds has room for two descriptors.
            if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
                return status(ST_PIPE, errno());
            }
            let t0 = Instant::now();
            let pid = raw_fork();
            let t1 = Instant::now();
            if pid == 0 {
                fork_storm_child(i, base, n, page, fds[1], me);
            }
            close(fds[1]);
            if pid < 0 {
                let e = errno();
                close(fds[0]);
                return status(ST_FORK, e);
            }
            let pid = pid as i32;
            rec[F_FORK_NS + i] = ns_between(t0, t1);
            rec[F_PARENT_RES + i] = res;
            let mut msg = [0u64; 2];
            // SAFETY: msg is 16 writable bytes.
            let got = read_all(fds[0], unsafe {
                std::slice::from_raw_parts_mut(msg.as_mut_ptr().cast::<u8>(), 16)
            });
            // straight into waitpid: the child is exiting now
            let waited = wait_child(pid);
            let at = mono_ns();
            close(fds[0]);
            match waited {
                Err(e) => return status(ST_WAIT, e),
                Ok(st) if !exited_ok(st) => return status(ST_CHILD, st),
                Ok(_) => {}
            }
            if !got {
                return status(ST_READ, 0);
            }
            if msg[1] == 0 {
                return status(ST_STATM, 0);
            }
            rec[F_EXIT_NS + i] = at.saturating_sub(msg[0]);
            rec[F_CHILD_RES + i] = msg[1];
        }
        0
    }

    /// Child `i` of a fork-storm: writes its eighth, reports its resident
    /// pages and the moment it exits, exits.
    fn fork_storm_child(i: usize, base: *mut u8, n: usize, page: usize, wfd: i32, ppid: i32) -> ! {
        die_with_parent(ppid);
        touch_pages(base, i * n / 8, (i + 1) * n / 8, page, (i as u8) + 1);
        let res = resident_pages();
        let msg = [mono_ns(), res];
        if !write_all(wfd, words_bytes(&msg)) {
            exit_now(2);
        }
        exit_now(0)
    }

    // ---- fault-storm --------------------------------------------------

    /// The storm process of one `fault-storm` repetition: the four passes,
    /// then a MAIN record with the samples on `wfd` (the COW child sends
    /// its COW record before); exits.
    fn fault_storm_proc(wfd: i32, file_fd: i32, len: usize, page: usize, swap: bool) -> ! {
        let mut head = [0u64; MAIN_WORDS];
        head[0] = TAG_MAIN;
        let start = mono_ns();
        let n = len / page;
        let buf_len = round_up(n.saturating_mul(3 * 4), page);
        let buf = match map_anon(buf_len) {
            Ok(b) => b,
            Err(st) => {
                head[1] = st;
                let _ = write_all(wfd, words_bytes(&head));
                exit_now(1);
            }
        };
        touch_pages(buf, 0, buf_len / page, page, 0);
        head[M_TIMER] = timer_overhead_ns();
        warm_up(buf, page);
        // SAFETY: buf holds 3n u32 (touched, page-aligned), used only
        // through this slice from here on.
        let samples = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u32>(), 3 * n) };
        let st = fault_storm_body(wfd, file_fd, len, page, swap, samples, &mut head);
        head[1] = st;
        head[2] = if st == 0 { n as u64 } else { 0 };
        head[M_TIME] = mono_ns().saturating_sub(start);
        let ok = write_all(wfd, words_bytes(&head))
            && (st != 0 || write_all(wfd, samples_bytes(samples)));
        exit_now(if ok && st == 0 { 0 } else { 1 })
    }

    fn fault_storm_body(
        wfd: i32,
        file_fd: i32,
        len: usize,
        page: usize,
        swap: bool,
        samples: &mut [u32],
        head: &mut [u64; MAIN_WORDS],
    ) -> u64 {
        let n = len / page;
        let (anon_s, rest) = samples.split_at_mut(n);
        let (file_s, swap_s) = rest.split_at_mut(n);

        // first-touch anonymous write faults
        let anon = match map_anon(len) {
            Ok(p) => p,
            Err(st) => return st,
        };
        timed_pass(anon, page, anon_s, true);

        // read faults on a private read-only file mapping (page cache)
        // SAFETY: a fresh read-only mapping of the file.
        let file = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file_fd,
                0,
            )
        };
        if file == libc::MAP_FAILED {
            return status(ST_MMAP, errno());
        }
        timed_pass(file.cast(), page, file_s, false);

        // COW faults: a child writes every anonymous page
        // SAFETY: plain getpid.
        let me = unsafe { libc::getpid() };
        let pid = raw_fork();
        if pid == 0 {
            cow_child(wfd, anon, n, page, me);
        }
        if pid < 0 {
            return status(ST_FORK, errno());
        }
        match wait_child(pid as i32) {
            Err(e) => return status(ST_WAIT, e),
            Ok(st) if !exited_ok(st) => return status(ST_CHILD, st),
            Ok(_) => {}
        }

        // swap-in faults
        if swap {
            // SAFETY: advice on our own mapping.
            let r = unsafe { libc::madvise(anon.cast::<c_void>(), len, libc::MADV_PAGEOUT) };
            if r != 0 {
                head[M_SWAP] = SWAP_PAGEOUT_FAILED;
                head[M_SWAP_ERR] = errno() as u64;
            } else {
                head[M_SWAP] = SWAP_DONE;
                timed_pass(anon, page, swap_s, false);
            }
        } else {
            head[M_SWAP] = SWAP_SKIPPED;
        }
        0
    }

    /// The COW child of a fault-storm: writes every page of `anon`, timed,
    /// sends a COW record, exits.
    fn cow_child(wfd: i32, anon: *mut u8, n: usize, page: usize, ppid: i32) -> ! {
        die_with_parent(ppid);
        let mut head = [TAG_COW, 0, 0];
        let buf_len = round_up(n.saturating_mul(4), page);
        let buf = match map_anon(buf_len) {
            Ok(b) => b,
            Err(st) => {
                head[1] = st;
                let _ = write_all(wfd, words_bytes(&head));
                exit_now(1);
            }
        };
        touch_pages(buf, 0, buf_len / page, page, 0);
        warm_up(buf, page);
        // SAFETY: buf holds n u32, touched, used only through this slice.
        let samples = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u32>(), n) };
        timed_pass(anon, page, samples, true);
        head[2] = n as u64;
        if !write_all(wfd, words_bytes(&head)) || !write_all(wfd, samples_bytes(samples)) {
            exit_now(2);
        }
        exit_now(0)
    }

    // -----------------------------------------------------------------
    // The measuring process.
    // -----------------------------------------------------------------

    /// A storm process: killed and reaped on drop unless reaped already.
    struct Child {
        pid: i32,
        /// Wait status and the `CLOCK_MONOTONIC` time it was reaped.
        reaped: Option<(i32, u64)>,
    }

    impl Child {
        /// Reaps the process if it has ended.
        fn try_reap(&mut self) -> Result<bool, String> {
            if self.reaped.is_some() {
                return Ok(true);
            }
            let mut st = 0;
            // SAFETY: st is valid to fill.
            let r = unsafe { libc::waitpid(self.pid, &mut st, libc::WNOHANG) };
            if r == self.pid {
                self.reaped = Some((st, mono_ns()));
                Ok(true)
            } else if r == 0 || errno() == libc::EINTR {
                Ok(false)
            } else {
                Err(format!("waitpid: {}", std::io::Error::last_os_error()))
            }
        }

        /// Waits for the process to end: its wait status and when it was
        /// reaped.
        fn reap(&mut self) -> Result<(i32, u64), String> {
            if let Some(r) = self.reaped {
                return Ok(r);
            }
            let st = wait_child(self.pid)
                .map_err(|e| format!("waitpid: {}", std::io::Error::from_raw_os_error(e)))?;
            let r = (st, mono_ns());
            self.reaped = Some(r);
            Ok(r)
        }
    }

    impl Drop for Child {
        fn drop(&mut self) {
            if self.reaped.is_none() {
                // SAFETY: our own child, not yet reaped (so the pid is
                // still ours).
                unsafe { libc::kill(self.pid, libc::SIGKILL) };
                let _ = wait_child(self.pid);
            }
        }
    }

    /// The read end of a storm process's pipe.
    struct Reader {
        fd: std::os::fd::OwnedFd,
        deadline: Instant,
    }

    impl Reader {
        /// Reads exactly `buf.len()` bytes, giving up when `child` ends
        /// without sending them or the deadline passes.
        fn read_exact(&self, buf: &mut [u8], child: &mut Child) -> Result<(), String> {
            let fd = self.fd.as_raw_fd();
            let mut got = 0;
            let mut ended = false;
            while got < buf.len() {
                let mut pfd = libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                let r = unsafe { libc::poll(&mut pfd, 1, if ended { 0 } else { 200 }) };
                if r < 0 {
                    if errno() == libc::EINTR {
                        continue;
                    }
                    return Err(format!("poll: {}", std::io::Error::last_os_error()));
                }
                if r == 0 {
                    if ended {
                        return Err(ended_early(child));
                    }
                    if Instant::now() > self.deadline {
                        return Err("the storm process timed out".to_string());
                    }
                    // once it has ended, whatever it sent is in the pipe
                    ended = child.try_reap()?;
                    continue;
                }
                let rest = &mut buf[got..];
                // SAFETY: rest is writable for its length.
                let k = unsafe { libc::read(fd, rest.as_mut_ptr().cast(), rest.len()) };
                if k < 0 {
                    if errno() == libc::EINTR {
                        continue;
                    }
                    return Err(format!("read: {}", std::io::Error::last_os_error()));
                }
                if k == 0 {
                    return Err(ended_early(child));
                }
                got += k as usize;
            }
            Ok(())
        }

        fn words(&self, n: usize, child: &mut Child) -> Result<Vec<u64>, String> {
            let mut b = vec![0u8; n * 8];
            self.read_exact(&mut b, child)?;
            Ok(b.chunks_exact(8)
                .map(|c| u64::from_ne_bytes(c.try_into().expect("8 bytes")))
                .collect())
        }

        fn samples(&self, n: usize, child: &mut Child) -> Result<Vec<u32>, String> {
            let mut b = vec![0u8; n * 4];
            self.read_exact(&mut b, child)?;
            Ok(b.chunks_exact(4)
                .map(|c| u32::from_ne_bytes(c.try_into().expect("4 bytes")))
                .collect())
        }
    }

    fn ended_early(child: &mut Child) -> String {
        match child.reap() {
            Ok((st, _)) => {
                format!("the storm process ended (wait status {st:#x}) before reporting")
            }
            Err(e) => format!("the storm process vanished before reporting ({e})"),
        }
    }

    /// Forks a storm process running `body(write_fd)`, which exits rather
    /// than return; `keep` are further descriptors it needs.
    fn spawn(
        keep: &[i32],
        timeout: Duration,
        body: &dyn Fn(i32),
    ) -> Result<(Child, Reader), String> {
        let mut fds = [-1i32; 2];
        // SAFETY: fds has room for two descriptors.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(format!("pipe: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: fds[0] is a fresh descriptor that only this owns.
        let rfd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fds[0]) };
        let mut keep_all = [-1i32; 8];
        keep_all[0] = fds[1];
        for (slot, &k) in keep_all[1..].iter_mut().zip(keep) {
            *slot = k;
        }
        // SAFETY: plain getpid.
        let me = unsafe { libc::getpid() };
        // SAFETY: the child only makes system calls (see the module docs)
        // and never returns here.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            die_with_parent(me);
            close_other_fds(&mut keep_all);
            body(fds[1]);
            exit_now(5);
        }
        close(fds[1]);
        if pid < 0 {
            return Err(format!("fork: {}", std::io::Error::last_os_error()));
        }
        Ok((
            Child { pid, reaped: None },
            Reader {
                fd: rfd,
                deadline: Instant::now() + timeout,
            },
        ))
    }

    fn timeout_for(size: u64) -> Duration {
        Duration::from_secs(120 + size / 4)
    }

    fn page_size() -> usize {
        // SAFETY: plain sysconf.
        let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if p > 0 { p as usize } else { 4096 }
    }

    fn fail(scenario: &str, size: u64, what: String) -> String {
        format!("kernel-bench {scenario} {size} MiB: {what}")
    }

    /// One fork-storm repetition into `m`.
    fn fork_storm_rep(size: u64, page: usize, m: &mut Metrics) -> Result<(), String> {
        let len = (size << 20) as usize;
        let (mut child, reader) =
            spawn(&[], timeout_for(size), &|w| fork_storm_proc(w, len, page))?;
        let rec = reader.words(FORK_WORDS, &mut child)?;
        // blocked in waitpid while the storm process exits
        let (st, end) = child.reap()?;
        if rec[0] != TAG_FORK {
            return Err("garbled result from the storm process".to_string());
        }
        if rec[1] != 0 {
            return Err(describe(rec[1]));
        }
        if !exited_ok(st) {
            return Err(format!("the storm process failed (wait status {st:#x})"));
        }
        if rec[F_OWN_RES] == 0 {
            return Err(describe(status(ST_STATM, 0)));
        }
        let per_page = |ns: u64, pages: u64| ns as f64 / pages as f64;
        let forks: Vec<f64> = (0..CHILDREN)
            .map(|i| per_page(rec[F_FORK_NS + i], rec[F_PARENT_RES + i]))
            .collect();
        let mut exits: Vec<f64> = (0..CHILDREN)
            .map(|i| per_page(rec[F_EXIT_NS + i], rec[F_CHILD_RES + i]))
            .collect();
        exits.push(per_page(end.saturating_sub(rec[F_EXIT_AT]), rec[F_OWN_RES]));
        let fork_ns: Vec<f64> = rec[F_FORK_NS..F_FORK_NS + CHILDREN]
            .iter()
            .map(|&v| v as f64)
            .collect();
        let res: Vec<f64> = rec[F_PARENT_RES..F_PARENT_RES + CHILDREN]
            .iter()
            .map(|&v| v as f64)
            .collect();
        m.add("fork_ns_per_page", "ns/page", &forks);
        m.add("exit_ns_per_page", "ns/page", &exits);
        m.add("fork_ns", "ns", &fork_ns);
        m.add("resident_pages", "pages", &res);
        m.add("time_ns", "ns", &[end.saturating_sub(rec[F_START]) as f64]);
        Ok(())
    }

    /// Faulting samples of one kind: their mean and count, and the mean of
    /// all its samples.
    struct Kind {
        fault_mean: Option<f64>,
        faults: usize,
        all_mean: Option<f64>,
    }

    fn kind(s: &[u32], hist: &mut hdrhistogram::Histogram<u64>) -> Result<Kind, String> {
        let (mut sum, mut k, mut all) = (0u64, 0usize, 0u64);
        for &v in s {
            let ns = u64::from(v & NS_MAX);
            all += ns;
            if v & FAULTED != 0 {
                sum += ns;
                k += 1;
                hist.record(ns.max(1))
                    .map_err(|e| format!("histogram: {e:?}"))?;
            }
        }
        Ok(Kind {
            fault_mean: (k > 0).then(|| sum as f64 / k as f64),
            faults: k,
            all_mean: (!s.is_empty()).then(|| all as f64 / s.len() as f64),
        })
    }

    /// One fault-storm repetition into `m`.
    fn fault_storm_rep(
        size: u64,
        page: usize,
        file: &File,
        swap: bool,
        m: &mut Metrics,
    ) -> Result<(), String> {
        let len = (size << 20) as usize;
        let ffd = file.as_raw_fd();
        let (mut child, reader) = spawn(&[ffd], timeout_for(size), &|w| {
            fault_storm_proc(w, ffd, len, page, swap)
        })?;
        let mut cow = None;
        let (head, main) = loop {
            let head = reader.words(HEAD_WORDS, &mut child)?;
            if head[1] != 0 {
                return Err(describe(head[1]));
            }
            let n = usize::try_from(head[2]).map_err(|_| "garbled result".to_string())?;
            match head[0] {
                TAG_COW if cow.is_none() => cow = Some(reader.samples(n, &mut child)?),
                TAG_MAIN => {
                    let mut h = head;
                    h.extend(reader.words(MAIN_WORDS - HEAD_WORDS, &mut child)?);
                    let s = reader.samples(3 * n, &mut child)?;
                    break (h, s);
                }
                _ => return Err("garbled result from the storm process".to_string()),
            }
        };
        let (st, _) = child.reap()?;
        if !exited_ok(st) {
            return Err(format!("the storm process failed (wait status {st:#x})"));
        }
        let cow = cow.ok_or_else(|| "the COW child sent no result".to_string())?;
        let n = main.len() / 3;
        let mut hist = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 1 << 32, 3)
            .map_err(|e| format!("histogram: {e:?}"))?;
        let anon = kind(&main[..n], &mut hist)?;
        let file_k = kind(&main[n..2 * n], &mut hist)?;
        let cow_k = kind(&cow, &mut hist)?;
        let swap_k = if head[M_SWAP] == SWAP_DONE {
            Some(kind(&main[2 * n..], &mut hist)?)
        } else {
            None
        };
        if !hist.is_empty() {
            m.add("fault_ns_p50", "ns", &[hist.value_at_quantile(0.5) as f64]);
            m.add("fault_ns_p99", "ns", &[hist.value_at_quantile(0.99) as f64]);
            m.add(
                "fault_ns_p999",
                "ns",
                &[hist.value_at_quantile(0.999) as f64],
            );
        }
        let mean = |k: &Kind| k.fault_mean.into_iter().collect::<Vec<f64>>();
        m.add("anon_fault_ns_mean", "ns", &mean(&anon));
        m.add("file_fault_ns_mean", "ns", &mean(&file_k));
        m.add("cow_fault_ns_mean", "ns", &mean(&cow_k));
        match (&swap_k, head[M_SWAP]) {
            (Some(k), _) => m.add("swapin_fault_ns_mean", "ns", &mean(k)),
            (None, SWAP_PAGEOUT_FAILED) => {
                let unit = format!("pageout-{}", errno_name(head[M_SWAP_ERR] as i32));
                m.add("swapin_skipped", &unit, &[1.0]);
            }
            (None, _) => m.add("swapin_skipped", "no-swap", &[1.0]),
        }
        if let Some(a) = file_k.all_mean {
            m.add("file_access_ns_mean", "ns", &[a]);
        }
        m.add("anon_faults", "faults", &[anon.faults as f64]);
        m.add("file_faults", "faults", &[file_k.faults as f64]);
        m.add("cow_faults", "faults", &[cow_k.faults as f64]);
        if let Some(k) = &swap_k {
            m.add("swapin_faults", "faults", &[k.faults as f64]);
        }
        m.add("timer_overhead_ns", "ns", &[head[M_TIMER] as f64]);
        m.add("time_ns", "ns", &[head[M_TIME] as f64]);
        Ok(())
    }

    /// A private temporary directory, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Result<TempDir, String> {
            static SEQ: AtomicU64 = AtomicU64::new(0);
            let p = std::env::temp_dir().join(format!(
                "rmap-kbench-{}-{}",
                std::process::id(),
                SEQ.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            Ok(TempDir(p))
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Writes an N MiB file (so that its pages are in the page cache).
    fn make_file(dir: &TempDir, size: u64) -> Result<File, String> {
        let path = dir.0.join("fault-storm.dat");
        let err = |e: std::io::Error| format!("{}: {e}", path.display());
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(err)?;
        let chunk = vec![0xa5u8; 1 << 20];
        for _ in 0..size {
            f.write_all(&chunk).map_err(err)?;
        }
        Ok(f)
    }

    fn swap_active() -> bool {
        std::fs::read_to_string("/proc/swaps").is_ok_and(|t| swaps_listed(&t))
    }

    pub fn run(
        opts: &KernelBenchOptions,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Vec<Row>, String> {
        let page = page_size();
        let mut rows = Vec::new();
        for &size in &opts.fork_sizes {
            let mut m = Metrics::default();
            for rep in 1..=opts.reps {
                progress(&format!(
                    "kernel {FORK_STORM} {size} MiB: rep {rep}/{}",
                    opts.reps
                ));
                fork_storm_rep(size, page, &mut m).map_err(|e| fail(FORK_STORM, size, e))?;
            }
            rows.extend(m.rows(FORK_STORM, size));
        }
        let swap = swap_active();
        if !opts.fault_sizes.is_empty() && !swap {
            progress("kernel fault-storm: no swap in /proc/swaps, swap-in faults skipped");
        }
        for &size in &opts.fault_sizes {
            let dir = TempDir::new().map_err(|e| fail(FAULT_STORM, size, e))?;
            let file = make_file(&dir, size).map_err(|e| fail(FAULT_STORM, size, e))?;
            let mut m = Metrics::default();
            for rep in 1..=opts.reps {
                progress(&format!(
                    "kernel {FAULT_STORM} {size} MiB: rep {rep}/{}",
                    opts.reps
                ));
                fault_storm_rep(size, page, &file, swap, &mut m)
                    .map_err(|e| fail(FAULT_STORM, size, e))?;
            }
            rows.extend(m.rows(FAULT_STORM, size));
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_is_median_min_max() {
        assert_eq!(summary(&[3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(summary(&[4.0, 1.0, 2.0, 3.0]), (2.5, 1.0, 4.0));
        assert_eq!(summary(&[7.0]), (7.0, 7.0, 7.0));
    }

    #[test]
    fn parses_statm_and_swaps() {
        assert_eq!(statm_resident(b"5120 1234 567 8 0 900 0\n"), 1234);
        assert_eq!(statm_resident(b"5120\n"), 0);
        assert_eq!(statm_resident(b""), 0);
        assert_eq!(statm_resident(b"1 x2 3"), 0);
        let head = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";
        assert!(!swaps_listed(head));
        assert!(swaps_listed(&format!(
            "{head}/swapfile                               file\t\t1048572\t\t0\t\t-2\n"
        )));
    }

    #[test]
    fn metrics_rows_keep_order_and_count_reps() {
        let mut m = Metrics::default();
        m.add("b", "ns", &[1.0, 3.0]);
        m.add("a", "x", &[5.0]);
        m.add("b", "ns", &[2.0]);
        m.add("c", "ns", &[]);
        let rows = m.rows("s", 4);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].metric, "b");
        assert_eq!((rows[0].value, rows[0].min, rows[0].max), (2.0, 1.0, 3.0));
        assert_eq!(rows[0].reps, 2);
        assert_eq!(rows[1].metric, "a");
        assert_eq!(rows[1].unit, "x");
        assert_eq!(rows[1].backend, KERNEL_BACKEND);
        assert_eq!(rows[1].size_unit, "MiB");
    }

    #[test]
    fn bad_options_are_errors() {
        let mut opts = KernelBenchOptions {
            fork_sizes: vec![1],
            fault_sizes: vec![],
            reps: 0,
        };
        assert!(run(&opts, &mut |_| {}).is_err());
        opts.reps = 1;
        opts.fork_sizes = vec![0];
        assert!(run(&opts, &mut |_| {}).is_err());
        opts.fork_sizes = vec![u64::MAX / 2];
        assert!(run(&opts, &mut |_| {}).unwrap_err().contains("too large"));
    }

    #[cfg(target_os = "linux")]
    fn get<'a>(rows: &'a [Row], metric: &str) -> &'a Row {
        rows.iter()
            .find(|r| r.metric == metric)
            .unwrap_or_else(|| panic!("no {metric} row in {rows:#?}"))
    }

    #[cfg(target_os = "linux")]
    fn check_common(rows: &[Row], scenario: &str) {
        for r in rows {
            assert_eq!(r.scenario, scenario);
            assert_eq!(r.backend, KERNEL_BACKEND);
            assert_eq!((r.size, r.size_unit.as_str(), r.reps), (1, "MiB", 1));
            assert!(
                r.value.is_finite() && r.min <= r.value && r.value <= r.max,
                "{r:?}"
            );
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn fork_storm_tiny() {
        let opts = KernelBenchOptions {
            fork_sizes: vec![1],
            fault_sizes: vec![],
            reps: 1,
        };
        let mut lines = Vec::new();
        let rows = run(&opts, &mut |l| lines.push(l.to_string())).unwrap();
        assert_eq!(lines, ["kernel fork-storm 1 MiB: rep 1/1"]);
        check_common(&rows, FORK_STORM);
        let fork = get(&rows, "fork_ns_per_page");
        assert!((1.0..100_000.0).contains(&fork.value), "{fork:?}");
        assert_eq!(fork.unit, "ns/page");
        let exit = get(&rows, "exit_ns_per_page");
        assert!(exit.min > 0.0 && exit.max < 1e7, "{exit:?}");
        // the forking process holds at least the 256 pages of 1 MiB
        assert!(get(&rows, "resident_pages").min >= 256.0);
        assert!(get(&rows, "time_ns").value > get(&rows, "fork_ns").value);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn fault_storm_tiny() {
        let opts = KernelBenchOptions {
            fork_sizes: vec![],
            fault_sizes: vec![1],
            reps: 1,
        };
        let rows = run(&opts, &mut |_| {}).unwrap();
        check_common(&rows, FAULT_STORM);
        for m in [
            "anon_fault_ns_mean",
            "file_fault_ns_mean",
            "cow_fault_ns_mean",
        ] {
            let r = get(&rows, m);
            assert!(r.value > 0.0 && r.value < 1e8, "{r:?}");
        }
        let (p50, p99, p999) = (
            get(&rows, "fault_ns_p50").value,
            get(&rows, "fault_ns_p99").value,
            get(&rows, "fault_ns_p999").value,
        );
        assert!(0.0 < p50 && p50 <= p99 && p99 <= p999, "{p50} {p99} {p999}");
        // every anonymous first touch and every COW write faults; the file
        // faults at least once
        assert!(get(&rows, "anon_faults").value >= 128.0);
        assert!(get(&rows, "cow_faults").value >= 128.0);
        assert!(get(&rows, "file_faults").value >= 1.0);
        assert!(get(&rows, "timer_overhead_ns").value < 1e6);
        assert!(
            rows.iter()
                .any(|r| r.metric == "swapin_fault_ns_mean" || r.metric == "swapin_skipped")
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn refused_mmap_is_an_error() {
        // 1 PiB: more than the user address space
        let opts = KernelBenchOptions {
            fork_sizes: vec![1 << 30],
            fault_sizes: vec![],
            reps: 1,
        };
        let e = run(&opts, &mut |_| {}).unwrap_err();
        assert!(e.contains("mmap failed: ENOMEM"), "{e}");
    }

    /// A manual run that prints the rows:
    /// `KBENCH_FORK=16,64,256 KBENCH_FAULT=16,64 KBENCH_REPS=5 cargo test
    /// --release -p rmap-bench --lib kernelbench::tests::print_rows --
    /// --ignored --nocapture`
    #[test]
    #[ignore]
    fn print_rows() {
        let sizes = |var: &str, default: &[u64]| -> Vec<u64> {
            std::env::var(var)
                .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
                .unwrap_or_else(|_| default.to_vec())
        };
        let opts = KernelBenchOptions {
            fork_sizes: sizes("KBENCH_FORK", &[16, 64, 256]),
            fault_sizes: sizes("KBENCH_FAULT", &[16, 64]),
            reps: std::env::var("KBENCH_REPS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(5),
        };
        let rows = run(&opts, &mut |l| eprintln!("{l}")).unwrap();
        for r in rows {
            println!(
                "{:<12} {:>4} {:<22} {:>12.1} {:<8} [{:.1}, {:.1}] reps={}",
                r.scenario, r.size, r.metric, r.value, r.unit, r.min, r.max, r.reps
            );
        }
    }
}
