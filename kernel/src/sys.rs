//! System-call helpers shared by the processes this crate forks: the
//! trace processes of the live run (`harness`) and the storm processes of
//! the kernel benchmark (`bench`).
//!
//! Everything here that a forked child calls ([`write_all`], [`exit_now`],
//! [`die_with_parent`], [`close_fds_except`], [`raw_clone`],
//! [`wait_child`]) is a thin wrapper of system calls: no allocation, no
//! locks, no panic, so it is safe after `fork` in a multithreaded process.

use std::io;

/// The calling thread's `errno`.
pub(crate) fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Writes all of `buf` to `fd`, retrying on `EINTR` and short writes;
/// false on any other error. (A packet socket takes `buf` as one message.)
pub(crate) fn write_all(fd: i32, mut buf: &[u8]) -> bool {
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

/// Ends the process at once with `code`: nothing else runs (no atexit
/// handlers, no destructors, no stdio flush).
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit ends the process without running anything.
    unsafe { libc::_exit(code) }
}

/// Asks for SIGKILL when the parent goes away; exits with status 4 if it
/// already has (the parent is no longer `ppid`).
pub(crate) fn die_with_parent(ppid: i32) {
    // SAFETY: plain prctl/getppid.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
        if libc::getppid() != ppid {
            exit_now(4);
        }
    }
}

/// Closes every descriptor above 2 except those in `keep` (sorted in
/// place; negative entries are ignored).
pub(crate) fn close_fds_except(keep: &mut [i32]) {
    keep.sort_unstable();
    let mut lo: u32 = 3;
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

/// Closes descriptors `lo..=hi`: `close_range`, or one by one up to 65535
/// on a kernel without it.
fn close_span(lo: u32, hi: u32) {
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
        for fd in lo..=hi.min(65535) {
            // SAFETY: as above.
            unsafe { libc::close(fd as i32) };
        }
    }
}

/// A fork by the raw `clone` system call with `flags` (no `atfork`
/// handlers, no stack: the child runs on its copy of the caller's). The
/// child's pid in the parent, 0 in the child, -1 on failure (`errno`).
pub(crate) fn raw_clone(flags: libc::c_long) -> i64 {
    // SAFETY: a fork-like clone without CLONE_VM: the child runs on its
    // own copy of the stack and address space.
    unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags,
            0 as libc::c_long,
            0 as libc::c_long,
            0 as libc::c_long,
            0 as libc::c_long,
        )
    }
}

/// `waitpid` for the child `pid`, retried on `EINTR`: its wait status, or
/// the errno of the failure.
pub(crate) fn wait_child(pid: i32) -> Result<i32, i32> {
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

/// Kills the child `pid` and reaps it. Precondition: `pid` is a child of
/// this process that nobody else reaps (so the pid is still ours).
pub(crate) fn kill_and_reap(pid: i32) {
    // SAFETY: pid is our own unreaped child (precondition).
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let _ = wait_child(pid);
}

/// The page size of this machine (`sysconf`), 4096 if it cannot be read.
pub(crate) fn page_size() -> usize {
    // SAFETY: plain sysconf.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 { p as usize } else { 4096 }
}
