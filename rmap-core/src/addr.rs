//! Address and page newtypes.
//!
//! The model uses 48-bit user virtual addresses and 4 KiB pages, as x86-64
//! Linux does with 4-level page tables. Virtual addresses are plain `u64`
//! bytes everywhere; the two quantities that are easy to confuse with one
//! at the boundaries where they meet have their own types: a frame number
//! ([`Pfn`], an index into the frame table) and a file page offset
//! ([`PgOff`], what `i_mmap`, `Vma::addr_of` and remap_file_pages take).

use std::fmt;

/// log2 of the page size.
pub const PAGE_SHIFT: u32 = 12;
/// Bytes in one page.
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;
/// One past the highest user address (Linux's `TASK_SIZE` on x86-64 with
/// 4-level paging: 2^47 minus one guard page).
pub const TASK_SIZE: u64 = (1 << 47) - PAGE_SIZE;

/// A physical frame number: an index into the simulated frame table.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pfn(pub u32);

/// A page offset inside a file (Linux's `pgoff_t`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PgOff(pub u64);

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
hex_debug!(Pfn, PgOff);

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
