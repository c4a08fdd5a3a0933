//! # rmap-core: the common memory-management model of rmap-lab
//!
//! A model of an operating system's memory-management core, close enough to
//! Linux that different reverse-mapping (rmap) designs can be plugged in as
//! backends and compared on identical work.
//!
//! What it models (one module each):
//! - [`addr`]: 48-bit virtual addresses, 4 KiB pages, newtypes;
//! - [`frame`]: simulated RAM, 48 bytes per frame, LRU lists;
//! - [`pte`]: the `u64` PTE encoding (present, swap with saved protection,
//!   nonlinear file offset, guard marker, protection marker);
//! - [`pgtable`]: 4-level page tables whose tables are frames;
//! - [`vma`]: VMAs and their flags (`VM_*`), in an arena;
//! - [`file`], [`itree`]: files, page cache, `i_mmap` as list or interval
//!   tree, `i_mmap_nonlinear`, shared anonymous memory as shmem objects;
//! - [`swap`]: swap device and swap cache;
//! - `vmaops`, `fault`, `fork`, `reclaim`, `mem`: the operations, after
//!   Linux 6.18 `mm/` (rules and their live-kernel checks in
//!   `docs/linux-semantics.md`);
//! - [`rmap`]: the [`ReverseMap`] trait and the [`Scan`] baseline;
//! - `validate`, `shadow`: [`System::validate`] and
//!   [`System::check_integrity`], the oracle every backend is held to;
//! - [`ops`], [`trace`], [`replay`]: operations, the trace format, replay;
//! - [`conformance`], [`props`]: the behavioural suite and the property
//!   tests that every backend's tests run.
//!
//! Invariants (checked by `System::validate` after any op sequence):
//! every frame is free or has one owner (page table, anonymous page, page
//! cache); a frame's mapcount equals the PTEs that map it; no PTE lies
//! outside a VMA; VMAs are sorted, disjoint and (with `MergePolicy::Both`)
//! maximally merged; swap slot counts equal the swap PTEs; every file's
//! `i_mmap` holds exactly its linear VMAs; the backend's walk finds exactly
//! the PTEs a scan of all page tables finds. Data integrity: every read
//! returns what the shadow model predicts, across COW, fork, swap,
//! writeback and remap_file_pages.
//!
//! Lock order and concurrency: see [`system`].

pub mod abi;
pub mod addr;
pub mod conformance;
pub mod error;
mod fault;
pub mod file;
mod fork;
pub mod frame;
pub mod itree;
mod mem;
pub mod ops;
pub mod pgtable;
pub mod props;
pub mod pte;
mod reclaim;
pub mod replay;
pub mod rmap;
mod shadow;
pub mod swap;
pub mod system;
pub mod trace;
mod validate;
pub mod vma;
mod vmaops;

pub use addr::{PAGE_SIZE, Pfn, PgOff, Vaddr, Vpn};
pub use error::{Errno, OpError};
pub use file::IMapShape;
pub use mem::SWAP_CLUSTER_MAX;
pub use ops::{Access, Advice, MapFlags, MergePolicy, Op, Pid, Prot};
pub use rmap::{AnonNeed, Cand, MapAt, Objects, ReverseMap, Scan, Walk, WalkStats};
pub use system::{Config, Core, System};
pub use vma::{FileId, MmId, Vma, VmaId};
