//! The Linux x86-64 user ABI facts that the model's neighbours share: errno
//! numbers and names, `PROT_*`, `MAP_*`, `MADV_*` and `MREMAP_*` values,
//! and the address window that traces meant for the live kernel use.
//!
//! The strace importer reads these numbers out of logs, the live-kernel
//! harness passes them to real system calls, and the model's own types
//! ([`Errno`], [`Prot`], [`Advice`]) convert to and from them here, so that
//! each fact is written once. Every value is the one of the Linux uapi
//! header named beside it (x86-64 uses the asm-generic values for all of
//! them); the page size is [`crate::PAGE_SIZE`].

use crate::error::Errno;
use crate::ops::{Advice, Prot};

// ---- the live-kernel window ----------------------------------------------

/// First address of the live-kernel window: traces that run on the live
/// kernel (`kernel-run`, scenarios, random traces) keep every mapping in
/// `[WINDOW_START, WINDOW_END)`. Not a Linux constant but this project's
/// convention: with 4-level paging x86-64 Linux puts the program, its heap
/// and libraries, and the stack far from 2^44..2^45, so the harness's own
/// mappings never land there.
pub const WINDOW_START: u64 = 0x1000_0000_0000;
/// One past the last address of the live-kernel window (see
/// [`WINDOW_START`]).
pub const WINDOW_END: u64 = 0x2000_0000_0000;

// The window is whole pages of the user address space.
const _: () = assert!(
    WINDOW_START % crate::PAGE_SIZE == 0
        && WINDOW_END % crate::PAGE_SIZE == 0
        && WINDOW_START < WINDOW_END
        && WINDOW_END <= crate::addr::TASK_SIZE
);

// ---- errno ----------------------------------------------------------------

/// Every errno this project names: `(number, name)`, from
/// `include/uapi/asm-generic/errno-base.h` (1 to 34) and
/// `include/uapi/asm-generic/errno.h` (the rest).
pub const ERRNOS: &[(i32, &str)] = &[
    (1, "EPERM"),
    (2, "ENOENT"),
    (3, "ESRCH"),
    (4, "EINTR"),
    (5, "EIO"),
    (6, "ENXIO"),
    (7, "E2BIG"),
    (9, "EBADF"),
    (10, "ECHILD"),
    (11, "EAGAIN"),
    (12, "ENOMEM"),
    (13, "EACCES"),
    (14, "EFAULT"),
    (16, "EBUSY"),
    (17, "EEXIST"),
    (19, "ENODEV"),
    (22, "EINVAL"),
    (23, "ENFILE"),
    (24, "EMFILE"),
    (26, "ETXTBSY"),
    (27, "EFBIG"),
    (28, "ENOSPC"),
    (30, "EROFS"),
    (34, "ERANGE"),
    (38, "ENOSYS"),
    (75, "EOVERFLOW"),
    (95, "EOPNOTSUPP"),
    (133, "EHWPOISON"),
];

/// The name of errno `n` (`"EINVAL"` for 22), if [`ERRNOS`] lists it.
pub fn errno_name(n: i32) -> Option<&'static str> {
    ERRNOS.iter().find(|e| e.0 == n).map(|e| e.1)
}

/// The number of errno `name` (22 for `"EINVAL"`), if [`ERRNOS`] lists it.
pub fn errno_number(name: &str) -> Option<i32> {
    ERRNOS.iter().find(|e| e.1 == name).map(|e| e.0)
}

impl Errno {
    /// The Linux errno number of this error (`EINVAL` is 22).
    pub fn to_linux(self) -> i32 {
        match self {
            Errno::EPERM => 1,
            Errno::ENOMEM => 12,
            Errno::EACCES => 13,
            Errno::EFAULT => 14,
            Errno::EINVAL => 22,
            Errno::ENOSPC => 28,
            Errno::EOVERFLOW => 75,
        }
    }

    /// The model's error for Linux errno `n`; `None` for an errno the
    /// model never returns.
    pub fn from_linux(n: i32) -> Option<Errno> {
        ALL_ERRNOS.into_iter().find(|e| e.to_linux() == n)
    }
}

/// Every variant of [`Errno`], for [`Errno::from_linux`].
const ALL_ERRNOS: [Errno; 7] = [
    Errno::EPERM,
    Errno::ENOMEM,
    Errno::EACCES,
    Errno::EFAULT,
    Errno::EINVAL,
    Errno::ENOSPC,
    Errno::EOVERFLOW,
];

// ---- mmap and mprotect ----------------------------------------------------

/// `PROT_NONE` (`include/uapi/asm-generic/mman-common.h`).
pub const PROT_NONE: u64 = 0x0;
/// `PROT_READ` (`include/uapi/asm-generic/mman-common.h`).
pub const PROT_READ: u64 = 0x1;
/// `PROT_WRITE` (`include/uapi/asm-generic/mman-common.h`).
pub const PROT_WRITE: u64 = 0x2;
/// `PROT_EXEC` (`include/uapi/asm-generic/mman-common.h`).
pub const PROT_EXEC: u64 = 0x4;

impl Prot {
    /// The `PROT_*` bits of this protection, as `mmap` and `mprotect` take
    /// them.
    pub fn to_linux(self) -> u64 {
        let mut b = PROT_NONE;
        if self.read() {
            b |= PROT_READ;
        }
        if self.write() {
            b |= PROT_WRITE;
        }
        if self.exec() {
            b |= PROT_EXEC;
        }
        b
    }

    /// The protection of `PROT_*` bits; bits other than read, write and
    /// exec (`PROT_SEM`, `PROT_GROWSDOWN`, ...) are ignored.
    pub fn from_linux(bits: u64) -> Prot {
        Prot::new(
            bits & PROT_READ != 0,
            bits & PROT_WRITE != 0,
            bits & PROT_EXEC != 0,
        )
    }
}

/// `MAP_SHARED` (`include/uapi/linux/mman.h`).
pub const MAP_SHARED: u64 = 0x01;
/// `MAP_PRIVATE` (`include/uapi/linux/mman.h`).
pub const MAP_PRIVATE: u64 = 0x02;
/// `MAP_SHARED_VALIDATE` (`include/uapi/linux/mman.h`).
pub const MAP_SHARED_VALIDATE: u64 = 0x03;
/// `MAP_TYPE`, the mask of the three above (`include/uapi/linux/mman.h`).
pub const MAP_TYPE: u64 = 0x0f;
/// `MAP_FIXED` (`include/uapi/asm-generic/mman-common.h`).
pub const MAP_FIXED: u64 = 0x10;
/// `MAP_ANONYMOUS` (`include/uapi/asm-generic/mman-common.h`).
pub const MAP_ANONYMOUS: u64 = 0x20;
/// `MAP_GROWSDOWN` (`include/uapi/asm-generic/mman.h`).
pub const MAP_GROWSDOWN: u64 = 0x0100;
/// `MAP_NORESERVE` (`include/uapi/asm-generic/mman.h`).
pub const MAP_NORESERVE: u64 = 0x4000;
/// `MAP_STACK` (`include/uapi/asm-generic/mman-common.h`).
pub const MAP_STACK: u64 = 0x20000;

// ---- madvise --------------------------------------------------------------

/// `MADV_DONTNEED` (`include/uapi/asm-generic/mman-common.h`).
pub const MADV_DONTNEED: u64 = 4;
/// `MADV_DONTFORK` (`include/uapi/asm-generic/mman-common.h`).
pub const MADV_DONTFORK: u64 = 10;
/// `MADV_DOFORK` (`include/uapi/asm-generic/mman-common.h`).
pub const MADV_DOFORK: u64 = 11;
/// `MADV_NOHUGEPAGE` (`include/uapi/asm-generic/mman-common.h`).
pub const MADV_NOHUGEPAGE: u64 = 15;
/// `MADV_WIPEONFORK` (`include/uapi/asm-generic/mman-common.h`).
pub const MADV_WIPEONFORK: u64 = 18;
/// `MADV_PAGEOUT` (`include/uapi/asm-generic/mman-common.h`).
pub const MADV_PAGEOUT: u64 = 21;
/// `MADV_GUARD_INSTALL` (`include/uapi/asm-generic/mman-common.h`).
pub const MADV_GUARD_INSTALL: u64 = 102;
/// `MADV_GUARD_REMOVE` (`include/uapi/asm-generic/mman-common.h`).
pub const MADV_GUARD_REMOVE: u64 = 103;

/// Every advice the model implements with its `MADV_*` name, in
/// [`Advice::ALL`] order.
pub const ADVICE_NAMES: [(Advice, &str); 7] = [
    (Advice::DontNeed, "MADV_DONTNEED"),
    (Advice::GuardInstall, "MADV_GUARD_INSTALL"),
    (Advice::GuardRemove, "MADV_GUARD_REMOVE"),
    (Advice::PageOut, "MADV_PAGEOUT"),
    (Advice::DontFork, "MADV_DONTFORK"),
    (Advice::DoFork, "MADV_DOFORK"),
    (Advice::WipeOnFork, "MADV_WIPEONFORK"),
];

impl Advice {
    /// The `MADV_*` number of this advice, as `madvise` takes it.
    pub fn to_linux(self) -> u64 {
        match self {
            Advice::DontNeed => MADV_DONTNEED,
            Advice::GuardInstall => MADV_GUARD_INSTALL,
            Advice::GuardRemove => MADV_GUARD_REMOVE,
            Advice::PageOut => MADV_PAGEOUT,
            Advice::DontFork => MADV_DONTFORK,
            Advice::DoFork => MADV_DOFORK,
            Advice::WipeOnFork => MADV_WIPEONFORK,
        }
    }

    /// The advice of `MADV_*` number `n`; `None` for advice the model does
    /// not implement (`MADV_WILLNEED`, `MADV_FREE`, ...).
    pub fn from_linux(n: u64) -> Option<Advice> {
        Advice::ALL.into_iter().find(|a| a.to_linux() == n)
    }

    /// The `MADV_*` name of this advice (`"MADV_DONTNEED"`).
    pub fn linux_name(self) -> &'static str {
        ADVICE_NAMES
            .iter()
            .find(|(a, _)| *a == self)
            .map_or("", |(_, n)| n)
    }
}

// ---- mremap ---------------------------------------------------------------

/// `MREMAP_MAYMOVE` (`include/uapi/linux/mman.h`).
pub const MREMAP_MAYMOVE: u64 = 1;
/// `MREMAP_FIXED` (`include/uapi/linux/mman.h`).
pub const MREMAP_FIXED: u64 = 2;
/// `MREMAP_DONTUNMAP` (`include/uapi/linux/mman.h`).
pub const MREMAP_DONTUNMAP: u64 = 4;

impl crate::ops::RemapFlags {
    /// The `flags` and `new_address` arguments of `mremap(2)`
    /// (`new_address` 0 without FIXED).
    pub fn to_linux(self) -> (u64, u64) {
        let mut f = 0;
        if self.maymove {
            f |= MREMAP_MAYMOVE;
        }
        if self.fixed.is_some() {
            f |= MREMAP_FIXED;
        }
        if self.dontunmap {
            f |= MREMAP_DONTUNMAP;
        }
        (f, self.fixed.unwrap_or(0))
    }

    /// The flags of `mremap(2)` arguments `flags` and `new_address`;
    /// `None` when `flags` has a bit the model does not know (Linux then
    /// fails with EINVAL).
    pub fn from_linux(flags: u64, new_address: u64) -> Option<Self> {
        if flags & !(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP) != 0 {
            return None;
        }
        Some(crate::ops::RemapFlags {
            maymove: flags & MREMAP_MAYMOVE != 0,
            fixed: (flags & MREMAP_FIXED != 0).then_some(new_address),
            dontunmap: flags & MREMAP_DONTUNMAP != 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errnos_round_trip_and_agree_with_the_model_names() {
        for e in ALL_ERRNOS {
            assert_eq!(errno_name(e.to_linux()), Some(e.as_str()), "{e}");
            assert_eq!(Errno::from_linux(e.to_linux()), Some(e));
            assert_eq!(errno_number(e.as_str()), Some(e.to_linux()));
        }
        assert_eq!(Errno::from_linux(2), None);
        assert_eq!(errno_name(8), None);
        let mut nums: Vec<i32> = ERRNOS.iter().map(|e| e.0).collect();
        nums.dedup();
        assert!(nums.windows(2).all(|w| w[0] < w[1]), "sorted, unique");
    }

    #[test]
    fn prot_bits_round_trip() {
        for b in 0..8u8 {
            let p = Prot(b);
            assert_eq!(Prot::from_linux(p.to_linux()), p);
        }
        assert_eq!(Prot::RW.to_linux(), PROT_READ | PROT_WRITE);
        // PROT_GROWSDOWN (0x01000000) is ignored
        assert_eq!(Prot::from_linux(0x0100_0001), Prot::R);
    }

    #[test]
    fn remap_flags_round_trip() {
        for bits in 0..8 {
            let f = crate::ops::RemapFlags::from_linux(bits, 0x5000).unwrap();
            assert_eq!(f.to_linux(), (bits, if bits & 2 != 0 { 0x5000 } else { 0 }));
        }
        assert_eq!(crate::ops::RemapFlags::from_linux(8, 0), None);
    }

    #[test]
    fn advice_numbers_round_trip() {
        for a in Advice::ALL {
            assert_eq!(Advice::from_linux(a.to_linux()), Some(a));
            assert!(a.linux_name().starts_with("MADV_"));
        }
        assert_eq!(Advice::from_linux(MADV_NOHUGEPAGE), None);
        assert_eq!(Advice::PageOut.to_linux(), 21);
    }
}
