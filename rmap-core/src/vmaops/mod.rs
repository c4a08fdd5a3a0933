//! Address-space operations: VMA insert, remove, split and merge, and the
//! syscalls built on them (mmap, munmap, mprotect, madvise,
//! remap_file_pages, mremap), following Linux 6.18 `mm/vma.c`,
//! `mm/mmap.c`, `mm/mprotect.c`, `mm/madvise.c` and `mm/mremap.c` as this
//! machine's kernel runs them
//! (see `docs/linux-semantics.md` for each rule and how it was checked).
//!
//! A merge of an existing range is described as in `mm/vma.c`:
//!
//! ```text
//!   prev | middle | next        [start, end) is the range being changed
//!        |<----->|              inside `middle`
//! ```
//! The range can join `prev` only if it starts at middle's start, `next`
//! only if it ends at middle's end; if it can join neither, middle is split
//! so that the range stands alone.
//!
//! One module per concern:
//! - `link`: raw VMA insert / resize / remove, with the mm tree and
//!   `i_mmap` kept in step;
//! - `merge`: split and merge (`__split_vma`, `vma_merge_new_range`,
//!   `vma_merge_existing_range`, `vma_modify`), one [`VmaMerge`]
//!   descriptor carried through a merge;
//! - `unmap`: zap, `free_pgtables`, munmap of a range;
//! - `mmap`, `mprotect`, `madvise`, `remap`, `mremap`: the syscalls.

mod link;
mod madvise;
mod merge;
mod mmap;
mod mprotect;
mod mremap;
mod remap;
mod unmap;

pub(crate) use merge::{VmaMerge, flags_mergeable};
pub use mmap::MmapReq;
pub use mremap::MMAP_BASE;
pub(crate) use unmap::Zap;
