//! Address and page newtypes.
//!
//! The model uses 48-bit user virtual addresses and 4 KiB pages, as x86-64
//! Linux does with 4-level page tables. Every quantity that could be confused
//! with another (a byte address, a virtual page number, a frame number, a file
//! page offset) has its own type.

use std::fmt;

/// log2 of the page size.
pub const PAGE_SHIFT: u32 = 12;
/// Bytes in one page.
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;
/// One past the highest user address (Linux's `TASK_SIZE` on x86-64 with
/// 4-level paging: 2^47 minus one guard page).
pub const TASK_SIZE: u64 = (1 << 47) - PAGE_SIZE;

/// A user virtual address in bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Vaddr(pub u64);

/// A virtual page number (`Vaddr >> PAGE_SHIFT`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Vpn(pub u64);

/// A physical frame number: an index into the simulated frame table.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pfn(pub u32);

/// A page offset inside a file (Linux's `pgoff_t`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PgOff(pub u64);

impl Vaddr {
    /// The page that holds this address.
    #[inline]
    pub fn vpn(self) -> Vpn {
        Vpn(self.0 >> PAGE_SHIFT)
    }
    /// Whether the address is page aligned.
    #[inline]
    pub fn is_aligned(self) -> bool {
        self.0 & (PAGE_SIZE - 1) == 0
    }
}

impl Vpn {
    /// The first byte of this page.
    #[inline]
    pub fn addr(self) -> Vaddr {
        Vaddr(self.0 << PAGE_SHIFT)
    }
}

impl Pfn {
    /// The frame number as an index into the frame table.
    #[inline]
    pub fn idx(self) -> usize {
        self.0 as usize
    }
}

macro_rules! hex_debug {
    ($($t:ty),*) => {$(
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($t), "({:#x})"), self.0)
            }
        }
    )*};
}
hex_debug!(Vaddr, Vpn, Pfn, PgOff);

/// Round a byte length up to whole pages (Linux's `PAGE_ALIGN`), or `None`
/// on overflow.
#[inline]
pub fn page_align(len: u64) -> Option<u64> {
    len.checked_add(PAGE_SIZE - 1).map(|v| v & !(PAGE_SIZE - 1))
}

/// Number of pages needed to hold `bytes` bytes.
#[inline]
pub fn pages_for(bytes: u64) -> u64 {
    bytes.div_ceil(PAGE_SIZE)
}
