//! The messages between the controller and a trace process, over a
//! `SOCK_SEQPACKET` socket pair: one [`Req`] at a time, controller to
//! worker (with a descriptor passed by `SCM_RIGHTS` for a fork); the worker
//! answers with `T_DATA` messages (the text of a `dump`) and one `T_DONE`
//! with the result, 0 or `-errno` (for a fork, the child's host pid).
//!
//! The worker side of the exchange is in `worker` (it may only make raw
//! system calls); the controller side, [`send_req`] and [`recv_done`], is
//! here, and so is [`request`], the request an op on the window becomes.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use rmap_core::abi::{MAP_ANONYMOUS, MAP_FIXED, MAP_NORESERVE, MAP_PRIVATE, MAP_SHARED};
use rmap_core::ops::{Access, Op};

use super::KernelError;
use super::controller::sys_err;

/// How long the controller waits for one answer of a trace process.
pub(super) const REPLY_TIMEOUT_MS: i32 = 120_000;
/// Bytes of each file written with its pattern; the rest stays sparse.
// Request kinds (`Req::kind`).
pub(super) const K_MMAP: u32 = 1;
pub(super) const K_MUNMAP: u32 = 2;
pub(super) const K_MPROTECT: u32 = 3;
pub(super) const K_MADVISE: u32 = 4;
pub(super) const K_TOUCH: u32 = 5;
pub(super) const K_FORK: u32 = 6;
pub(super) const K_DUMP: u32 = 7;
/// A round trip that does nothing (the shadow replays' stand-in for an
/// op on the window).
pub(super) const K_NOP: u32 = 8;
/// `remap_file_pages` (the values need only be distinct).
pub(super) const K_REMAP: u32 = 20;
/// `mremap(addr, len, off, flags, fd)`: old length in `len`, new length in
/// `off`, the new address in `fd`.
pub(super) const K_MREMAP: u32 = 9;
// Reply tags.
pub(super) const T_DONE: u32 = 1;
pub(super) const T_DATA: u32 = 2;
/// Data bytes per `T_DATA` message.
pub(super) const CHUNK: usize = 4096;

/// One request, controller to worker.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(super) struct Req {
    pub(super) kind: u32,
    /// prot, advice, or 1 for a write touch
    pub(super) arg: u32,
    pub(super) addr: u64,
    pub(super) len: u64,
    pub(super) off: u64,
    /// mmap flags
    pub(super) flags: u64,
    /// mmap fd, -1 for anonymous memory
    pub(super) fd: i64,
}
/// Bytes of a request on the wire.
pub(super) const REQ_SIZE: usize = std::mem::size_of::<Req>();

/// Sends `req` to a trace process, with the descriptor `pass` when given
/// (`SCM_RIGHTS`).
pub(super) fn send_req(chan: &OwnedFd, req: &Req, pass: Option<RawFd>) -> Result<(), KernelError> {
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
pub(super) fn recv_done(
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

/// The request that `op` becomes when it works on the window (mmap,
/// munmap, mprotect, madvise, touch, remap, mremap): its trace process and the
/// request;
/// `None` for other ops. `files` are the declared files, opened by the
/// controller. Errors: a mapping of a file that was not created.
/// One arm per op kind, a table of requests: hence its length.
pub(super) fn request(
    op: &Op,
    files: &HashMap<String, File>,
    file: &str,
    line: usize,
) -> Result<Option<(u32, Req)>, KernelError> {
    let (pid, req) = match op {
        Op::Mmap {
            pid,
            addr,
            len,
            prot,
            flags,
            file: fname,
            off,
        } => {
            let mut mf = MAP_FIXED
                | if flags.shared {
                    MAP_SHARED
                } else {
                    MAP_PRIVATE
                };
            if flags.noreserve {
                mf |= MAP_NORESERVE;
            }
            let fd = match fname {
                Some(n) => files
                    .get(n)
                    .ok_or_else(|| {
                        KernelError::Sys(format!("{file}:{line}: file {n} was not created"))
                    })?
                    .as_raw_fd() as i64,
                None => {
                    mf |= MAP_ANONYMOUS;
                    -1
                }
            };
            let req = Req {
                kind: K_MMAP,
                arg: prot.to_linux() as u32,
                addr: *addr,
                len: *len,
                off: if fname.is_some() { *off } else { 0 },
                flags: mf,
                fd,
            };
            (*pid, req)
        }
        Op::Munmap { pid, addr, len } => (*pid, range_req(K_MUNMAP, 0, *addr, *len)),
        Op::Mprotect {
            pid,
            addr,
            len,
            prot,
        } => (
            *pid,
            range_req(K_MPROTECT, prot.to_linux() as u32, *addr, *len),
        ),
        Op::Madvise {
            pid,
            addr,
            len,
            advice,
        } => (
            *pid,
            range_req(K_MADVISE, advice.to_linux() as u32, *addr, *len),
        ),
        Op::Touch {
            pid,
            addr,
            len,
            access,
        } => (
            *pid,
            range_req(K_TOUCH, (*access == Access::Write) as u32, *addr, *len),
        ),
        Op::Remap {
            pid,
            addr,
            len,
            pgoff,
            prot,
        } => (*pid, remap_req(*addr, *len, *pgoff, *prot)),
        Op::Mremap {
            pid,
            addr,
            old_len,
            new_len,
            flags,
        } => {
            let (bits, new_addr) = flags.to_linux();
            let req = Req {
                kind: K_MREMAP,
                arg: 0,
                addr: *addr,
                len: *old_len,
                off: *new_len,
                flags: bits,
                fd: new_addr as i64,
            };
            (*pid, req)
        }
        _ => return Ok(None),
    };
    Ok(Some((pid, req)))
}

/// `remap_file_pages(addr, len, prot, pgoff, 0)`: the trace's PROT is the
/// syscall's `prot` (which kernels since 4.0 refuse unless it is 0).
fn remap_req(addr: u64, len: u64, pgoff: u64, prot: Option<rmap_core::ops::Prot>) -> Req {
    Req {
        off: pgoff,
        ..range_req(K_REMAP, prot.map_or(0, |p| p.to_linux() as u32), addr, len)
    }
}

/// A request of `kind` on `[addr, addr + len)` with `arg`.
fn range_req(kind: u32, arg: u32, addr: u64, len: u64) -> Req {
    Req {
        kind,
        arg,
        addr,
        len,
        ..Req::default()
    }
}
