//! # rmap-core: the common memory-management model of rmap-lab
//!
//! A model of an operating system's memory-management core, close enough to
//! Linux that different reverse-mapping (rmap) designs can be plugged in as
//! backends and compared on identical work.
//!
//! What it models (one module each):
//! - [`addr`]: 48-bit virtual addresses, 4 KiB pages, the `Pfn` and
//!   `PgOff` newtypes;
//! - [`frame`]: simulated RAM, 48 bytes per frame, LRU lists;
//! - [`pte`]: the `u64` PTE encoding (present, swap with saved protection,
//!   nonlinear file offset, guard marker, protection marker);
//! - [`pgtable`]: 4-level page tables whose tables are frames;
//! - [`vma`]: VMAs and their flags (`VM_*`), in an arena;
//! - [`file`], [`itree`]: files, page cache, `i_mmap` as list or interval
//!   tree, `i_mmap_nonlinear`, shared anonymous memory as shmem objects;
//! - [`swap`]: swap device and swap cache;
//! - [`system`]: `Core` (all shared state), `System` (the core plus one
//!   backend) and [`System::apply`], the one entry point that runs an op;
//! - `vmaops` (VMA link, split and merge, unmap, and the mmap, mprotect,
//!   madvise, remap_file_pages and mremap syscalls), [`fault`] (faults and
//!   `touch`, with the [`FaultKind`] each access took), `fork` (fork, exec,
//!   exit), `reclaim`, `mem` (frames, page tables, the swap cache): the
//!   operations, after Linux 6.18 `mm/` (rules and their live-kernel
//!   checks in `docs/linux-semantics.md`);
//! - [`rmap`]: the [`ReverseMap`] trait, the hook context [`Ctx`], the
//!   preset registry trait [`Presets`] and the [`Scan`] baseline;
//! - [`merge_rules`]: each era's VMA merge rules, as data a preset
//!   declares and the one merge engine follows;
//! - [`locks`]: each era's lock protocol (classes, kinds, the lock order,
//!   written once there) and the record of acquisitions and work units;
//! - [`walk`]: what a reverse-map walk reports, and the walks the core
//!   shares (a scan of every page table, the file walk through `i_mmap`);
//! - [`nonlinear`]: nonlinear mappings as each era handled them (tracked,
//!   cluster-scanned by 2.6.7-3.19's reclaim, or emulated from 4.0);
//! - `validate`, `shadow`: [`System::validate`] and
//!   [`System::check_integrity`], the oracle every backend is held to;
//! - [`ops`], [`trace`], [`replay`]: operations, the trace format, replay;
//! - `conformance`, `props` (feature `testing`): the behavioural suite and
//!   the property tests that every backend's tests run.
//!
//! Invariants (checked by `System::validate` after any op sequence):
//! every frame is free or has one owner (page table, anonymous page, page
//! cache); a frame's mapcount equals the PTEs that map it; no PTE lies
//! outside a VMA; VMAs are sorted, disjoint and (with `MergePolicy::Both`,
//! in an era whose every flag change looks for a merge) maximally merged; swap slot counts equal the swap PTEs; every file's
//! `i_mmap` holds exactly its linear VMAs; the backend's walk finds exactly
//! the PTEs a scan of all page tables finds. Data integrity: every read
//! returns what the shadow model predicts, across COW, fork, swap,
//! writeback and remap_file_pages.
//!
//! Lock order and the lock record: see [`locks`].

pub mod abi;
pub mod addr;
#[cfg(any(test, feature = "testing"))]
pub mod conformance;
pub mod error;
pub mod fault;
pub mod file;
mod fork;
pub mod frame;
pub mod itree;
pub mod locks;
mod mem;
pub mod merge_rules;
pub mod nonlinear;
pub mod ops;
pub mod pgtable;
#[cfg(any(test, feature = "testing"))]
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
pub mod walk;

pub use addr::{PAGE_SIZE, Pfn, PgOff};
pub use error::{Errno, OpError};
pub use fault::{FaultKind, Observer};
pub use file::IMapShape;
pub use locks::{Acq, LockClass, LockProtocol, LockRecording, WorkKind};
pub use mem::SWAP_CLUSTER_MAX;
pub use merge_rules::{AnonRule, MergeRules};
pub use nonlinear::NonlinearEra;
pub use ops::{Access, Advice, MapFlags, MergePolicy, Op, Pid, Prot, RemapFlags};
pub use rmap::{AnonNeed, Ctx, MapAt, Objects, Presets, ReverseMap, Scan};
pub use system::{Config, Core, Lk, System};
pub use vma::{FileId, MmId, Vma, VmaId};
pub use vmaops::{MMAP_BASE, MmapReq};
pub use walk::{Cand, Walk, WalkCost, WalkStats};
