//! The `ReverseMap` trait: what a reverse-mapping backend must provide.
//!
//! The core keeps the mappings (page tables, VMAs, files); a backend keeps
//! whatever it needs to answer one question fast: *which PTEs may map this
//! frame?* It is told of every VMA and every page mapping made or broken
//! (the hooks below), and answers the question in [`ReverseMap::walk`].
//! `page_referenced`, `try_to_unmap` and `page_mapped_count` are built on
//! `walk` in the core, identically for every backend, so backends differ
//! only in how they find mappings. The preset registry ([`Presets`]) is a
//! trait of its own: it names and builds backends and takes no part in the
//! model.
//!
//! What a hook may change: a hook gets a [`Ctx`], which reads the whole
//! core and writes only the backend's own words (the VMA's `anon` word and
//! an anonymous frame's `mapping` word); everything else a backend keeps is
//! its own state. The walk reads only (`&self`, `&Core`); a backend that
//! tidies up after a reclaim walk (pte-chain's collapse of a one-entry
//! chain back to direct mode) does so in [`ReverseMap::walk_done`], which
//! validation's walks never call.
//!
//! Hook protocol (every hook runs after the core's own change, unless it
//! says "before"):
//! - `fork_mm` / `mm_release`: an address space is being forked / is gone;
//! - `vma_link`: a new VMA was inserted (mmap, or a fork child with
//!   `VM_WIPEONFORK`);
//! - `fork_vma`: a fork child VMA was inserted (instead of `vma_link`);
//!   failure aborts the fork with its errno;
//! - `vma_split`: `orig` was cut in two and `new` holds the other part;
//! - `vma_absorb`: `dst` now covers (part of) what `src` covered; if all of
//!   it, `vma_unlink(src)` follows;
//! - `vma_unlink`: called *before* the VMA is removed;
//! - `anon_prepare`: the VMA needs anonymous state (first write fault, or a
//!   guard install, as `anon_vma_prepare`);
//! - `page_add_anon` / `page_add_file` / `page_dup` / `page_remove`: one PTE
//!   now maps / no longer maps the frame; `page_freed` just before an
//!   anonymous or file frame goes back to the free pool; `page_reuse` when a
//!   write fault reuses an exclusively mapped anonymous page;
//!   `page_install_nonlinear` *before* a fault maps a file page out of its
//!   linear place in a nonlinear VMA;
//! - `guards_removed`: MADV_GUARD_REMOVE ran over part of a VMA;
//! - mremap: `vma_moved` (a VMA was created at the destination of a move
//!   and holds pages of `old`, as `anon_vma_clone` in `copy_vma`; a move
//!   that merges into a neighbour calls `vma_absorb` instead),
//!   `page_moved` (one PTE moved from `from` to `to`: same page, same
//!   mapcount, a new address), `vma_anon_dropped` (MREMAP_DONTUNMAP moved
//!   every page of a whole VMA away: `unlink_anon_vmas`); the core asks
//!   `anon_needs_copy` before a move or a swap-in maps an anonymous page at
//!   an address where the design could not find it (anonmm), takes
//!   `anon_lock` around a move of page tables where the era does, and asks
//!   `mremap_multi_vma` whether one move may span several VMAs (6.17 on).
//!
//! Walk protocol: see [`crate::walk`]. The shared walks (a scan of every
//! page table, the file walk through `i_mmap` and its nonlinear VMAs) are
//! methods of [`Core`] there, for any backend to call.
//!
//! Era facts a preset declares, which the core asks: its lock protocol
//! ([`ReverseMap::lock_protocol`]), how it handled nonlinear mappings
//! ([`ReverseMap::nonlinear`]), whether fork copied every VMA's page tables
//! ([`ReverseMap::fork_needs_copy`]), its `vm_area_struct` size
//! ([`ReverseMap::vma_bytes`]; the backend gives its own objects' sizes in
//! [`ReverseMap::objects`]), and, per walk, whether the walk stops once
//! every mapping is found ([`Walk::stops`](crate::walk::Walk::stops)).

use std::collections::BTreeMap;
use std::ops::Deref;

use crate::addr::Pfn;
use crate::error::Errno;
use crate::locks::{Acq, LockProtocol, WorkKind};
use crate::merge_rules::MergeRules;
use crate::nonlinear::NonlinearEra;
use crate::pgtable::PtePtr;
use crate::system::Core;
use crate::system::Lk;
use crate::vma::{MmId, VmaId};
use crate::walk::Walk;

/// Kernel object sizes on x86-64, per era: each preset charges its own
/// era's sizes (the object sizes a kernel of that version built for x86-64,
/// SMP, without NUMA or lock debugging, from the structure definitions; for
/// 6.18 the slab sizes of this machine's kernel). Sources: the `include/linux`
/// headers of the version named; `docs/benchmarks.md` has the table.
pub mod sizes {
    /// Linux 6.18 `vm_area_struct` (LIVE `/sys/kernel/slab`: 192).
    pub const VM_AREA_STRUCT: u64 = 192;
    /// Linux 6.18 `anon_vma`: 96-byte object, 104-byte slab stride (SLUB's
    /// free pointer of a `TYPESAFE_BY_RCU` cache with a constructor), as
    /// `/proc/slabinfo` shows it.
    pub const ANON_VMA: u64 = 104;
    /// `anon_vma_chain` from 3.7 (interval tree: `rb_node` and
    /// `rb_subtree_last` replace the `same_anon_vma` list): 64.
    pub const ANON_VMA_CHAIN: u64 = 64;
    pub const PAGE_TABLE: u64 = 4096;
    /// One x86-64 cache line (the 2.5.35+ `pte_chain` block).
    pub const PTE_CHAIN_LINE: u64 = 64;

    /// 2.5.27-2.5.51 `vm_area_struct` (2.6.0's layout plus `vm_raend`).
    pub const VMA_2_5_27: u64 = 136;
    /// 2.5.52-2.6.6 `vm_area_struct` (include/linux/mm.h, 2.6.0): mm,
    /// start, end, next, page_prot, flags, a 32-byte `rb_node`, the
    /// `shared` list, ops, pgoff, file, private_data.
    pub const VMA_2_6_0: u64 = 128;
    /// 2.6.7-rc1 before anon_vma (rmap 16-38: prio tree, no anon_vma
    /// fields): 2.6.7's layout less `anon_vma_node` and `anon_vma`.
    pub const VMA_2_6_7_PRIO: u64 = 144;
    /// 2.6.7 / 2.6.8 `vm_area_struct` (the `shared` union of 32 bytes,
    /// `anon_vma_node`, `anon_vma`).
    pub const VMA_2_6_7: u64 = 168;
    /// 2.6.34 (a 24-byte `rb_node`, the `anon_vma_chain` list head,
    /// `vm_truncate_count`).
    pub const VMA_2_6_34: u64 = 168;
    /// 2.6.36 (`vm_prev` added).
    pub const VMA_2_6_36: u64 = 176;
    /// 3.0 (`vm_truncate_count` gone).
    pub const VMA_3_0: u64 = 168;
    /// 3.8 (`rb_subtree_gap`, the `shared.linear` rb node).
    pub const VMA_3_8: u64 = 176;
    /// 3.19.
    pub const VMA_3_19: u64 = 176;

    /// 2.6.7 `anon_vma`: a spinlock (4, padded to 8) and a list head.
    pub const ANON_VMA_2_6_7: u64 = 24;
    /// 2.6.34 `anon_vma`: spinlock, `ksm_refcount`, list head.
    pub const ANON_VMA_2_6_34: u64 = 24;
    /// 2.6.36 `anon_vma`: spinlock, `root`, `external_refcount` (KSM or
    /// migration), list head.
    pub const ANON_VMA_2_6_36: u64 = 40;
    /// 3.0 `anon_vma`: `root`, a 32-byte `struct mutex` (count, wait_lock,
    /// wait_list, owner), refcount, list head.
    pub const ANON_VMA_3_0: u64 = 64;
    /// 3.8 `anon_vma`: `root`, a 32-byte `rw_semaphore`, refcount,
    /// `rb_root`.
    pub const ANON_VMA_3_8: u64 = 56;
    /// 3.19 `anon_vma`: `root`, a 40-byte `rw_semaphore`, refcount,
    /// degree, parent, `rb_root`.
    pub const ANON_VMA_3_19: u64 = 72;
    /// 2.6.34-3.6 `anon_vma_chain`: two pointers and two list heads.
    pub const ANON_VMA_CHAIN_2_6_34: u64 = 48;
}

/// Where one PTE maps a frame.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MapAt {
    pub mm: MmId,
    pub vma: VmaId,
    pub addr: u64,
    pub pte: PtePtr,
}

/// Why a VMA needs anonymous state now.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AnonNeed {
    /// A write fault is about to create an anonymous page.
    WriteFault,
    /// `MADV_GUARD_INSTALL` (Linux calls `anon_vma_prepare` here so that
    /// fork copies the page tables that hold the markers).
    Guard,
}

/// Live metadata objects by kind, with the kernel's size of each.
#[derive(Clone, Default, Debug, PartialEq, Eq)]
pub struct Objects {
    pub kinds: BTreeMap<&'static str, (u64, u64)>,
}

impl Objects {
    /// Add `count` objects of kind `name`, each `size` kernel bytes.
    pub fn add(&mut self, name: &'static str, count: u64, size: u64) {
        let e = self.kinds.entry(name).or_insert((0, size));
        e.0 += count;
        e.1 = size;
    }
    pub fn count(&self, name: &str) -> u64 {
        self.kinds.get(name).map_or(0, |e| e.0)
    }
    /// Kernel-equivalent bytes of everything counted.
    pub fn kernel_bytes(&self) -> u64 {
        self.kinds.values().map(|&(c, s)| c * s).sum()
    }
}

/// What a hook may touch: the whole core to read, and the backend's own
/// words to write.
pub struct Ctx<'a> {
    core: &'a mut Core,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(core: &'a mut Core) -> Self {
        Ctx { core }
    }
    /// Set the VMA's backend word (`vma->anon_vma`, with any flag bits).
    #[inline]
    pub fn set_anon(&mut self, vma: VmaId, word: u64) {
        self.core.vmas[vma].anon = word;
    }
    /// Record the acquisition `a` of a backend lock (see
    /// [`crate::locks`]); release it with [`Ctx::unlock`].
    #[inline]
    pub fn lock(&mut self, a: Acq) -> Lk {
        self.core.lock(a)
    }
    #[inline]
    pub fn unlock(&mut self, l: Lk) {
        self.core.unlock(l);
    }
    /// Count `n` units of the backend's own work (objects, chain blocks).
    #[inline]
    pub fn work(&mut self, kind: WorkKind, n: u64) {
        self.core.work(kind, n);
    }
    /// Set an anonymous frame's `mapping` word (the backend's, see
    /// [`crate::frame`]).
    #[inline]
    pub fn set_page_mapping(&mut self, pfn: Pfn, word: u64) {
        self.core.frames.get_mut(pfn).mapping = word;
    }
}

impl Deref for Ctx<'_> {
    type Target = Core;
    #[inline]
    fn deref(&self) -> &Core {
        self.core
    }
}

/// The preset registry of a backend type: its presets and how to build one.
/// Apart from [`ReverseMap`] because the model never asks it.
pub trait Presets: ReverseMap + Sized {
    /// Every preset; the first is the default.
    fn presets() -> &'static [&'static str];
    /// An instance running `preset`, or `None` if there is no such preset.
    fn with_preset(preset: &str) -> Option<Self>;
}

/// A reverse-mapping backend. Required: `name`, `preset`, `anon_prepare`,
/// `page_add_anon` and `walk`; every other method has the default that
/// most backends want (do nothing, or Linux's rule).
pub trait ReverseMap: Send + Sync + 'static {
    /// The backend's name (`scan`, `pte-chain`, ...).
    fn name(&self) -> &'static str;
    /// The preset this instance runs.
    fn preset(&self) -> &'static str;
    /// The `i_mmap` shape this preset needs, if it insists on one.
    fn i_mmap_shape(&self) -> Option<crate::file::IMapShape> {
        None
    }
    /// The lock protocol of the preset's era (default: Linux 6.18).
    fn lock_protocol(&self) -> &'static LockProtocol {
        &crate::locks::era::V6_18
    }
    /// The VMA merge rules of the preset's era (default: Linux 6.18's;
    /// see [`crate::merge_rules`]).
    fn merge_rules(&self) -> &'static MergeRules {
        &MergeRules::V6_18
    }
    /// How the preset's era handled `remap_file_pages` (see
    /// [`crate::nonlinear`]; default: Linux 6.18's emulation).
    fn nonlinear(&self) -> NonlinearEra {
        NonlinearEra::Emulated
    }
    /// Kernel bytes of one `vm_area_struct` in the preset's era (default:
    /// Linux 6.18's; [`sizes`]).
    fn vma_bytes(&self) -> u64 {
        sizes::VM_AREA_STRUCT
    }

    // ----- address spaces -----
    /// `child` is being forked from `parent`, before any VMA is copied.
    fn fork_mm(&mut self, _ctx: &mut Ctx, _parent: MmId, _child: MmId) -> Result<(), Errno> {
        Ok(())
    }
    /// `mm` is gone (exit, exec, failed fork): its VMAs and pages are
    /// already unmapped.
    fn mm_release(&mut self, _ctx: &mut Ctx, _mm: MmId) {}

    // ----- VMA lifecycle -----
    fn vma_link(&mut self, _ctx: &mut Ctx, _vma: VmaId) {}
    fn vma_unlink(&mut self, _ctx: &mut Ctx, _vma: VmaId) {}
    fn vma_split(&mut self, _ctx: &mut Ctx, _orig: VmaId, _new: VmaId) -> Result<(), Errno> {
        Ok(())
    }
    fn vma_absorb(&mut self, _ctx: &mut Ctx, _dst: VmaId, _src: VmaId) {}
    /// The number of anon_vmas the VMA's anonymous state links to (Linux:
    /// the length of `vma->anon_vma_chain`), which the 3.0 and 6.18 merge
    /// rules test ([`crate::merge_rules::AnonRule`]). Default: one if the
    /// VMA has anonymous state, else none (a design without chains).
    fn anon_chain_len(&self, core: &Core, vma: VmaId) -> usize {
        (self.anon_state(core, vma) != 0) as usize
    }
    /// The VMA's anonymous state as Linux code sees `vma->anon_vma`: zero
    /// for none (a backend with flag bits masks them here).
    fn anon_state(&self, core: &Core, vma: VmaId) -> u64 {
        core.vmas[vma].anon
    }
    fn anon_prepare(&mut self, ctx: &mut Ctx, vma: VmaId, why: AnonNeed) -> Result<(), Errno>;
    /// A fork child VMA was inserted; failure aborts the fork.
    fn fork_vma(&mut self, _ctx: &mut Ctx, _parent: VmaId, _child: VmaId) -> Result<(), Errno> {
        Ok(())
    }
    /// Whether fork must copy the parent VMA's page tables (Linux:
    /// `vma_needs_copy`, true when the VMA has an anon_vma: lazy fork,
    /// 2.6.14 on). The core also copies nonlinear and many-prots VMAs,
    /// whose PTEs hold state. The eras before 2.6.14 copied every VMA
    /// (`copy_page_range`); their presets say so here.
    fn fork_needs_copy(&self, core: &Core, parent: VmaId) -> bool {
        core.vmas[parent].anon != 0
    }

    // ----- page mappings -----
    /// A PTE now maps anonymous frame `pfn`; `new_page` when the frame was
    /// just allocated for this mapping.
    fn page_add_anon(&mut self, ctx: &mut Ctx, pfn: Pfn, at: MapAt, new_page: bool);
    fn page_add_file(&mut self, _ctx: &mut Ctx, _pfn: Pfn, _at: MapAt) {}
    /// Fork copied the parent's PTE to the child.
    fn page_dup(&mut self, _ctx: &mut Ctx, _pfn: Pfn, _parent: MapAt, _child: MapAt) {}
    fn page_remove(&mut self, _ctx: &mut Ctx, _pfn: Pfn, _at: MapAt) {}
    fn page_freed(&mut self, _ctx: &mut Ctx, _pfn: Pfn) {}
    /// A fault is about to map file page `pfn` at `addr` of nonlinear VMA
    /// `vma`, at an address that is not the page's linear one
    /// (`install_page`, before it takes the page-table lock). The
    /// page-table entry is not set yet.
    fn page_install_nonlinear(&mut self, _ctx: &mut Ctx, _pfn: Pfn, _vma: VmaId, _addr: u64) {}
    /// A write fault reuses anonymous page `pfn`, mapped only at `at`
    /// (Linux then moves the page to the VMA's own anon_vma:
    /// `folio_move_anon_rmap`).
    fn page_reuse(&mut self, _ctx: &mut Ctx, _pfn: Pfn, _at: MapAt) {}
    /// MADV_GUARD_INSTALL placed markers in `vma` (after `anon_prepare`
    /// for a private anonymous VMA). A backend that records "page tables
    /// may hold markers" without an anon_vma (the `unfaulted` RFC, file
    /// mappings included) does it here.
    fn guards_installed(&mut self, _ctx: &mut Ctx, _vma: VmaId) {}
    /// MADV_GUARD_REMOVE ran over `[start, end)` of `vma`.
    fn guards_removed(&mut self, _ctx: &mut Ctx, _vma: VmaId, _start: u64, _end: u64) {}

    // ----- mremap -----
    /// mremap created `new` at the destination of a move of (part of)
    /// `old` (`copy_vma` without a merge): `new` carries a copy of `old`'s
    /// word and will hold its pages at their old page offsets. Linux links
    /// it to every anon_vma of `old` (`anon_vma_clone`). Default: nothing.
    fn vma_moved(&mut self, _ctx: &mut Ctx, _old: VmaId, _new: VmaId) {}
    /// One PTE that maps `pfn` moved from `from` to `to` (mremap's
    /// `move_ptes`): the page, its mapcount and its page offset are
    /// unchanged, its address is not. Called for anonymous and file pages
    /// (not the zero page), with the page-table locks of both held.
    /// Default: nothing (designs that find pages through the VMA, as
    /// anon_vma and i_mmap do, need no change).
    fn page_moved(&mut self, _ctx: &mut Ctx, _pfn: Pfn, _from: MapAt, _to: MapAt) {}
    /// Whether anonymous page `pfn` must be copied before a PTE maps it at
    /// `addr` (of any mm): by a move (`leaving`: one of its present
    /// mappings is the one that moves there) or by a swap-in of a page
    /// still in the swap cache. A design that records one virtual address
    /// per page cannot find a page mapped at two: the core then gives the
    /// new mapping a private copy (anonmm's rule, Hugh Dickins' "rmap 11
    /// mremap moves"). Default: never.
    fn anon_needs_copy(&self, _core: &Core, _pfn: Pfn, _addr: u64, _leaving: bool) -> bool {
        false
    }
    /// MREMAP_DONTUNMAP moved every page of the whole VMA `vma` away and
    /// it stays mapped, empty: its anonymous state goes (Linux's
    /// `unlink_anon_vmas` in `dontunmap_complete`). Default: the word is
    /// cleared.
    fn vma_anon_dropped(&mut self, ctx: &mut Ctx, vma: VmaId) {
        ctx.set_anon(vma, 0);
    }
    /// Take (record) the lock of `vma`'s anonymous reverse map for
    /// writing, as mremap's `take_rmap_locks` does around a move of page
    /// tables (`anon_vma_lock_write`); release it with [`Ctx::unlock`].
    /// Default: none.
    fn anon_lock(&mut self, _ctx: &mut Ctx, _vma: VmaId) -> Lk {
        Lk::NONE
    }
    /// Whether one mremap may move several VMAs at once (`MREMAP_FIXED`
    /// without a size change, Linux 6.17 on: Lorenzo Stoakes, "mm/mremap:
    /// permit mremap() move of multiple VMAs"). Before that the old range
    /// had to lie in one VMA (EFAULT). Default: yes, as in 6.18.
    fn mremap_multi_vma(&self) -> bool {
        true
    }

    // ----- the walk -----
    /// Push into `out` every `(mm, vma, addr)` that may map `pfn` (see
    /// [`crate::walk`]). Reads only.
    fn walk(&self, core: &Core, pfn: Pfn, out: &mut Walk);
    /// Reclaim's walk of `pfn` (page_referenced, try_to_unmap) has just
    /// run: a backend that tidies up as it walks does it here. Validation's
    /// walks do not call it, so `check` changes nothing.
    fn walk_done(&mut self, _ctx: &mut Ctx, _pfn: Pfn) {}

    // ----- accounting and checks -----
    /// Add the backend's live objects (the core adds VMAs and page tables).
    fn objects(&self, _core: &Core, _out: &mut Objects) {}
    /// Check the backend's own structures against the core.
    fn validate(&self, _core: &Core) -> Result<(), String> {
        Ok(())
    }
}

/// The baseline: no reverse map at all. A walk scans every page table of
/// every mm (the 2.4 way), so maintaining it costs nothing and walking it
/// costs everything. It is also the oracle other backends are checked
/// against.
///
/// It has no anonymous state: the VMA's word is only a mark (1) that the
/// VMA has had anonymous pages, which fork reads to decide whether to copy
/// its page tables. With nothing to compare, its merge rule has no
/// anonymous condition: it follows 2.5/2.6.0's `vma_merge` and mprotect
/// merging ([`MergeRules::V2_6_0`]), so its layouts equal those of the
/// pre-anon_vma presets of that era: `pte-chain:rik`, `naive`, `nrpte15`,
/// `nrpte31`, `objrmap:mccracken` and `objrmap:prio` (`objrmap:anonmm`
/// too, except that its mprotect merges file VMAs as well).
#[derive(Default, Debug)]
pub struct Scan;

impl Presets for Scan {
    fn presets() -> &'static [&'static str] {
        &["default"]
    }
    fn with_preset(preset: &str) -> Option<Self> {
        (preset == "default").then(Scan::default)
    }
}

impl ReverseMap for Scan {
    fn name(&self) -> &'static str {
        "scan"
    }
    fn lock_protocol(&self) -> &'static LockProtocol {
        &crate::locks::era::V2_4
    }
    /// The scan looks at every PTE anyway.
    fn nonlinear(&self) -> NonlinearEra {
        NonlinearEra::Tracked
    }
    fn preset(&self) -> &'static str {
        "default"
    }
    fn merge_rules(&self) -> &'static MergeRules {
        &MergeRules::V2_6_0
    }
    fn anon_prepare(&mut self, ctx: &mut Ctx, vma: VmaId, _why: AnonNeed) -> Result<(), Errno> {
        ctx.set_anon(vma, 1);
        Ok(())
    }
    fn vma_absorb(&mut self, ctx: &mut Ctx, dst: VmaId, src: VmaId) {
        let w = ctx.vmas[dst].anon | ctx.vmas[src].anon;
        ctx.set_anon(dst, w);
    }
    fn page_add_anon(&mut self, _: &mut Ctx, _: Pfn, _: MapAt, _: bool) {}
    fn walk(&self, core: &Core, pfn: Pfn, out: &mut Walk) {
        core.scan_walk(pfn, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_passes_the_conformance_suite() {
        crate::conformance::run_suite(|| Scan);
    }

    /// A private file VMA written past EOF gets anonymous state before the
    /// fault fails (Linux prepares the anon_vma first). Under Linux's rules
    /// two VMAs written this way have distinct anon_vmas, so a mapping
    /// between them joins the left one only (the live kernel agrees:
    /// kernel/tests/fidelity.rs). `scan` has no anonymous state and 2.6.0's
    /// merge rule asks for none: the three become one VMA, as under the
    /// pte-chain presets (issue 16, item 10; it kept two while scan gave
    /// each VMA a family id).
    #[test]
    fn scan_merges_without_an_anonymous_condition() {
        let trace = "file f 4K
mmap 1 0x100000000000 4K rw- private file=f off=0x1000
touch 1 0x100000000000 4K w
mmap 1 0x100000002000 4K rw- private file=f off=0x3000
touch 1 0x100000002000 4K w
mmap 1 0x100000001000 4K rw- private file=f off=0x2000
dump 1
";
        let out = crate::conformance::run_trace(Scan, trace).unwrap();
        assert_eq!(
            out,
            "err 3 touch EFAULT
err 5 touch EFAULT
dump 1
100000000000-100000003000 rw-p 00001000 f
"
        );
    }

    /// issue 16's example: a written VMA inherited through fork and a new
    /// neighbour. 2.6.0 merges them (no anonymous condition); so does scan.
    #[test]
    fn scan_merges_a_fork_child_with_a_new_neighbour() {
        let out = crate::conformance::run_trace(Scan, crate::merge_rules::FORK_NEIGHBOUR).unwrap();
        assert_eq!(out, "dump 3\n100000006000-100000009000 rw-p 00000000\n");
    }

    /// A backend whose walk forgets the last mapping it should report.
    struct Forgetful(Scan);

    impl ReverseMap for Forgetful {
        fn name(&self) -> &'static str {
            "forgetful"
        }
        fn preset(&self) -> &'static str {
            "default"
        }
        fn anon_prepare(&mut self, ctx: &mut Ctx, vma: VmaId, why: AnonNeed) -> Result<(), Errno> {
            self.0.anon_prepare(ctx, vma, why)
        }
        fn page_add_anon(&mut self, _: &mut Ctx, _: Pfn, _: MapAt, _: bool) {}
        fn walk(&self, core: &Core, pfn: Pfn, out: &mut Walk) {
            core.scan_walk(pfn, out);
            if out.cands.len() > 1 {
                out.cands.pop();
            }
        }
    }

    #[test]
    fn the_oracle_catches_a_walk_that_misses_a_mapping() {
        let trace = "
mmap 1 0x100000000000 8K rw- private
touch 1 0x100000000000 8K w
fork 1 2
check
";
        let out = crate::conformance::run_trace(Forgetful(Scan), trace).unwrap();
        assert!(
            out.starts_with("check 5 failed: forgetful walk of frame"),
            "{out}"
        );
        // and the same trace is clean with the real scan
        assert_eq!(crate::conformance::run_trace(Scan, trace).unwrap(), "");
    }

    #[test]
    #[should_panic(expected = "output differs")]
    fn the_suite_fails_a_broken_backend() {
        crate::conformance::run_suite(|| Forgetful(Scan));
    }

    /// A backend that takes the mm's `mmap_lock` when a page is mapped,
    /// i.e. inside the fault's VMA lock and page-table lock: the wrong order.
    #[derive(Default)]
    struct Inverted(Scan);

    impl ReverseMap for Inverted {
        fn name(&self) -> &'static str {
            "inverted"
        }
        fn preset(&self) -> &'static str {
            "default"
        }
        fn anon_prepare(&mut self, ctx: &mut Ctx, vma: VmaId, why: AnonNeed) -> Result<(), Errno> {
            self.0.anon_prepare(ctx, vma, why)
        }
        fn page_add_anon(&mut self, ctx: &mut Ctx, _: Pfn, at: MapAt, _: bool) {
            let l = ctx.lock(Acq::excl(crate::LockClass::MmapLock, at.mm.0 as u64));
            ctx.unlock(l);
        }
        fn walk(&self, core: &Core, pfn: Pfn, out: &mut Walk) {
            core.scan_walk(pfn, out);
        }
    }

    #[test]
    fn the_lock_check_catches_a_wrong_order() {
        let trace = "mmap 1 0x100000000000 4K rw- private\ntouch 1 0x100000000000 4K w\ncheck\n";
        let out = crate::conformance::run_trace(Inverted::default(), trace).unwrap();
        assert!(
            out.starts_with(
                "check 3 failed: lock order (6.18): mmap_lock taken while holding vma_lock"
            ),
            "{out}"
        );
    }
}
