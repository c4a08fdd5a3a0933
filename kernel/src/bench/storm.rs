//! The storm processes: the code that runs after the fork, in the
//! measured processes. System calls only: no allocation, no locks, no
//! panic (the measuring process may be multithreaded); results go back
//! over a pipe as raw words (`wire`).

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{Ordering, compiler_fence};
use std::time::Instant;

use rmap_core::abi::{MADV_NOHUGEPAGE, MADV_PAGEOUT};

use super::statm_resident;
use super::wire::*;
use crate::sys::{die_with_parent, errno, exit_now, raw_clone, wait_child, write_all};

/// `CLOCK_MONOTONIC` in nanoseconds (comparable across processes).
pub(super) fn mono_ns() -> u64 {
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

/// Nanoseconds from `a` to `b` (0 if `b` is earlier).
fn ns_between(a: Instant, b: Instant) -> u64 {
    u64::try_from(b.saturating_duration_since(a).as_nanos()).unwrap_or(u64::MAX)
}

/// Reads exactly `buf.len()` bytes from `fd`, retrying on `EINTR`; false
/// on an error or an early end of file.
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

/// Closes a descriptor of ours.
pub(super) fn close(fd: i32) {
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

/// Whether a wait status is a normal exit with status 0.
pub(super) fn exited_ok(st: i32) -> bool {
    libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0
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
    unsafe { libc::madvise(p, len, MADV_NOHUGEPAGE as libc::c_int) };
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
pub(super) fn fork_storm_proc(wfd: i32, len: usize, page: usize) -> ! {
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
        let pid = raw_clone(libc::SIGCHLD as libc::c_long);
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

/// Room for `count` samples, mapped and touched, so that filling it takes
/// no fault. If it cannot be mapped, the record `head` goes out with the
/// failure's status and the process exits (status 1).
fn sample_buffer(wfd: i32, head: &mut [u64], count: usize, page: usize) -> &'static mut [u32] {
    let buf_len = round_up(count.saturating_mul(4), page);
    let buf = match map_anon(buf_len) {
        Ok(b) => b,
        Err(st) => {
            head[1] = st;
            let _ = write_all(wfd, words_bytes(head));
            exit_now(1);
        }
    };
    touch_pages(buf, 0, buf_len / page, page, 0);
    // SAFETY: buf holds `count` u32 (touched, page-aligned), is never
    // unmapped, and is used only through this slice.
    unsafe { std::slice::from_raw_parts_mut(buf.cast::<u32>(), count) }
}

/// The storm process of one `fault-storm` repetition: the four passes,
/// then a MAIN record with the samples on `wfd` (the COW child sends
/// its COW record before); exits.
pub(super) fn fault_storm_proc(wfd: i32, file_fd: i32, len: usize, page: usize, swap: bool) -> ! {
    let mut head = [0u64; MAIN_WORDS];
    head[0] = TAG_MAIN;
    let start = mono_ns();
    let n = len / page;
    let samples = sample_buffer(wfd, &mut head, 3 * n, page);
    head[M_TIMER] = timer_overhead_ns();
    warm_up(samples.as_mut_ptr().cast(), page);
    let st = fault_storm_body(wfd, file_fd, len, page, swap, samples, &mut head);
    head[1] = st;
    head[2] = if st == 0 { n as u64 } else { 0 };
    head[M_TIME] = mono_ns().saturating_sub(start);
    let ok =
        write_all(wfd, words_bytes(&head)) && (st != 0 || write_all(wfd, samples_bytes(samples)));
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
    let pid = raw_clone(libc::SIGCHLD as libc::c_long);
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
        let r = unsafe { libc::madvise(anon.cast::<c_void>(), len, MADV_PAGEOUT as libc::c_int) };
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
    let samples = sample_buffer(wfd, &mut head, n, page);
    warm_up(samples.as_mut_ptr().cast(), page);
    timed_pass(anon, page, samples, true);
    head[2] = n as u64;
    if !write_all(wfd, words_bytes(&head)) || !write_all(wfd, samples_bytes(samples)) {
        exit_now(2);
    }
    exit_now(0)
}
