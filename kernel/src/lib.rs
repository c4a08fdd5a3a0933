//! # rmap-kernel: the live Linux kernel as a reference
//!
//! The model follows Linux; this crate runs the same work on the Linux
//! kernel of the machine, so that the two can be compared:
//! - [`harness`]: `kernel-run`, a trace executed by real processes (one per
//!   trace process) that prints what the model's replay prints for `dump`
//!   and `err` lines, and live slab counts at `stats all` (x86-64 Linux);
//! - [`fidelity`]: `kernel-diff` and `fidelity`, one trace or many seeded
//!   random traces run on the model and on the kernel, and where they
//!   differ;
//! - [`tracegen`]: the seeded random traces, valid on both;
//! - [`host`]: what the host's kernel does that the model must be told
//!   (x86 protection keys), detected once per process;
//! - [`bench`](mod@bench): `kernel-bench`, the kernel's fork, exit and fault costs on
//!   the shapes of the `fork-storm` and `fault-storm` scenarios, as
//!   `results.csv` rows (backend [`rmap_metrics::KERNEL_BACKEND`]);
//! - `sys` and `tempdir`, shared by the harness and the benchmark: the
//!   system-call helpers that forked children use (writing, exiting, dying
//!   with the parent, closing descriptors, forking, reaping), and private
//!   temporary directories with the files the kernel maps.
//!
//! Invariants: every process this crate forks is killed and reaped, and
//! every temporary directory removed, on success and on every error; a
//! forked child makes system calls only (no allocation, no locks, no
//! panic), so the calling process may be multithreaded; traces run live
//! must keep their mappings in the window
//! [`rmap_core::abi::WINDOW_START`]..[`rmap_core::abi::WINDOW_END`].

pub mod bench;
pub mod fidelity;
pub mod harness;
pub mod host;
#[cfg(target_os = "linux")]
mod sys;
mod tempdir;
pub mod tracegen;

/// The Linux name of errno `e` (`EINVAL`), as the model prints it;
/// `ERRNO<e>` for a number [`rmap_core::abi::ERRNOS`] does not list.
pub fn errno_name(e: i32) -> String {
    match rmap_core::abi::errno_name(e) {
        Some(s) => s.to_string(),
        None => format!("ERRNO{e}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn errno_names_are_linux_names() {
        for (n, name) in [
            (libc::EPERM, "EPERM"),
            (libc::ENOENT, "ENOENT"),
            (libc::ESRCH, "ESRCH"),
            (libc::EINTR, "EINTR"),
            (libc::EIO, "EIO"),
            (libc::ENXIO, "ENXIO"),
            (libc::E2BIG, "E2BIG"),
            (libc::EBADF, "EBADF"),
            (libc::ECHILD, "ECHILD"),
            (libc::EAGAIN, "EAGAIN"),
            (libc::ENOMEM, "ENOMEM"),
            (libc::EACCES, "EACCES"),
            (libc::EFAULT, "EFAULT"),
            (libc::EBUSY, "EBUSY"),
            (libc::EEXIST, "EEXIST"),
            (libc::ENODEV, "ENODEV"),
            (libc::EINVAL, "EINVAL"),
            (libc::ENFILE, "ENFILE"),
            (libc::EMFILE, "EMFILE"),
            (libc::ETXTBSY, "ETXTBSY"),
            (libc::EFBIG, "EFBIG"),
            (libc::ENOSPC, "ENOSPC"),
            (libc::EROFS, "EROFS"),
            (libc::ERANGE, "ERANGE"),
            (libc::ENOSYS, "ENOSYS"),
            (libc::EOVERFLOW, "EOVERFLOW"),
            (libc::EOPNOTSUPP, "EOPNOTSUPP"),
            (libc::EHWPOISON, "EHWPOISON"),
        ] {
            assert_eq!(super::errno_name(n), name);
        }
        assert_eq!(rmap_core::abi::ERRNOS.len(), 28);
        assert_eq!(super::errno_name(8), "ERRNO8");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn abi_numbers_are_the_libc_ones() {
        use rmap_core::abi::*;
        assert_eq!(PROT_READ, libc::PROT_READ as u64);
        assert_eq!(PROT_WRITE, libc::PROT_WRITE as u64);
        assert_eq!(PROT_EXEC, libc::PROT_EXEC as u64);
        assert_eq!(MAP_SHARED, libc::MAP_SHARED as u64);
        assert_eq!(MAP_PRIVATE, libc::MAP_PRIVATE as u64);
        assert_eq!(MAP_FIXED, libc::MAP_FIXED as u64);
        assert_eq!(MAP_ANONYMOUS, libc::MAP_ANONYMOUS as u64);
        assert_eq!(MAP_NORESERVE, libc::MAP_NORESERVE as u64);
        assert_eq!(MAP_GROWSDOWN, libc::MAP_GROWSDOWN as u64);
        assert_eq!(MAP_STACK, libc::MAP_STACK as u64);
        assert_eq!(MADV_DONTNEED, libc::MADV_DONTNEED as u64);
        assert_eq!(MADV_DONTFORK, libc::MADV_DONTFORK as u64);
        assert_eq!(MADV_DOFORK, libc::MADV_DOFORK as u64);
        assert_eq!(MADV_NOHUGEPAGE, libc::MADV_NOHUGEPAGE as u64);
        assert_eq!(MADV_WIPEONFORK, libc::MADV_WIPEONFORK as u64);
        assert_eq!(MADV_PAGEOUT, libc::MADV_PAGEOUT as u64);
        assert_eq!(MREMAP_MAYMOVE, libc::MREMAP_MAYMOVE as u64);
        assert_eq!(MREMAP_FIXED, libc::MREMAP_FIXED as u64);
        assert_eq!(MREMAP_DONTUNMAP, libc::MREMAP_DONTUNMAP as u64);
        assert_eq!(rmap_core::PAGE_SIZE, crate::sys::page_size() as u64);
    }
}
