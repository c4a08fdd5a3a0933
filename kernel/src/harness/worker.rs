//! The trace process: the code a worker runs after the fork.
//!
//! It runs in a child of a possibly multithreaded process, so it uses
//! system calls only: no allocation, no locks, no panic, and it never
//! returns. The requests' own system calls go through [`sc`], which
//! returns `-errno` as the kernel does, so that the answer is exactly the
//! errno the trace would see; the shared helpers of `crate::sys` do the
//! rest (writing to the socket, exiting, closing descriptors).

use std::ffi::c_void;

use rmap_core::PAGE_SIZE;

use super::protocol::{
    CHUNK, K_DUMP, K_FORK, K_MADVISE, K_MMAP, K_MPROTECT, K_MREMAP, K_MUNMAP, K_NOP, K_REMAP,
    K_TOUCH, REQ_SIZE, Req, T_DATA, T_DONE,
};
use crate::sys::{close_fds_except, die_with_parent, exit_now, write_all};

/// Bytes of the alternate signal stack of the fault handler.
pub(super) const ALTSTACK: usize = 64 << 10;

/// One raw system call: its result, `-errno` on failure.
///
/// # Safety
/// The caller passes a valid system call and arguments.
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

/// Sends one message to the controller; a worker that cannot talk to its
/// controller exits (status 3).
fn wsend(fd: i32, msg: &[u8]) {
    if !write_all(fd, msg) {
        exit_now(3);
    }
}

/// Sends the `T_DONE` answer `val`.
fn send_done(fd: i32, val: i32) {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&T_DONE.to_le_bytes());
    b[4..].copy_from_slice(&val.to_le_bytes());
    wsend(fd, &b);
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
    exit_now(70);
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
    let first = addr & !(PAGE_SIZE - 1);
    let Some(last) = addr.checked_add(len - 1) else {
        return -libc::EFAULT;
    };
    let last = last & !(PAGE_SIZE - 1);
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
        a += PAGE_SIZE;
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
    let ret;
    loop {
        let data = &mut buf[4..];
        // SAFETY: data is CHUNK writable bytes of buf.
        let n = unsafe {
            sc(
                libc::SYS_read,
                [fd as u64, data.as_mut_ptr() as u64, CHUNK as u64, 0, 0, 0],
            )
        };
        if n == -(libc::EINTR as i64) {
            continue;
        }
        if n <= 0 {
            ret = res(n);
            break;
        }
        wsend(chan, &buf[..4 + n as usize]);
    }
    // SAFETY: closing our own descriptor.
    unsafe { sc(libc::SYS_close, [fd as u64, 0, 0, 0, 0, 0]) };
    ret
}

/// Trace process 1, right after `fork()` in the controller. `keep`: the
/// descriptors to keep besides 0-2 (the channel and files). `altstack` is
/// memory of the controller (outside the window) that the child owns a
/// copy of.
pub(super) fn worker_main(chan: i32, keep: &mut [i32], ppid: i32, altstack: *mut u8) -> ! {
    die_with_parent(ppid);
    close_fds_except(keep);
    // SAFETY: async-signal-safe calls on valid, initialised structures.
    unsafe {
        let ss = libc::stack_t {
            ss_sp: altstack.cast(),
            ss_flags: 0,
            ss_size: ALTSTACK,
        };
        if libc::sigaltstack(&ss, std::ptr::null_mut()) != 0 {
            exit_now(5);
        }
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_fault as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigemptyset(&mut sa.sa_mask);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGSEGV, libc::SIGBUS] {
            if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                exit_now(5);
            }
            libc::sigaddset(&mut set, sig);
        }
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
    serve(chan, ppid)
}

/// Receives the next request and the descriptor passed with it (-1 if
/// none); `None` once the controller is gone or breaks the protocol.
fn recv_req(chan: i32) -> Option<(Req, i32)> {
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
            return None;
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
        return Some((req, passed));
    }
}

/// Closes one of our own descriptors.
fn close(fd: i32) {
    // SAFETY: closing our own descriptor.
    unsafe { sc(libc::SYS_close, [fd as u64, 0, 0, 0, 0, 0]) };
}

/// The request loop of a trace process.
fn serve(mut chan: i32, ppid: i32) -> ! {
    send_done(chan, 0);
    let mut counter = 0u8;
    loop {
        let Some((r, passed)) = recv_req(chan) else {
            exit_now(0);
        };
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
            K_REMAP => a(
                libc::SYS_remap_file_pages,
                [r.addr, r.len, r.arg as u64, r.off, 0, 0],
            ),
            K_MREMAP => a(
                libc::SYS_mremap,
                [r.addr, r.len, r.off, r.flags, r.fd as u64, 0],
            ),
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
                    close(chan);
                    chan = passed;
                    send_done(chan, 0);
                    continue;
                }
                close(passed);
                // the child's pid, or -errno
                pid as i32
            }
            _ => -libc::EINVAL,
        };
        if passed >= 0 && r.kind != K_FORK {
            close(passed);
        }
        send_done(chan, val);
    }
}
