//! The `ReverseMap` trait: what a reverse-mapping backend must provide.
//!
//! The core keeps the mappings (page tables, VMAs, files); a backend keeps
//! whatever it needs to answer one question fast: *which PTEs may map this
//! frame?* It is told of every VMA and every page mapping made or broken
//! (the hooks below), and answers the question in [`ReverseMap::walk`].
//! `page_referenced`, `try_to_unmap` and `page_mapped_count` are built on
//! `walk` in the core, identically for every backend, so backends differ
//! only in how they find mappings.
//!
//! Hook protocol (every hook gets the core after the core's own change,
//! unless it says "before"):
//! - `fork_mm` / `mm_release`: an address space is merge_skipped / gone;
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
//! - `guards_removed`: MADV_GUARD_REMOVE ran over part of a VMA.
//!
//! Walk protocol: the backend pushes candidate `(mm, vma, addr)` triples
//! into [`Walk::cands`] and counts what it visited itself
//! (`vmas_visited`, and `ptes_scanned` for PTEs it examined on its own,
//! as a scan or a nonlinear VMA needs); the core then reads each
//! candidate's PTE (one more PTE checked each) and counts hits. A walk must
//! report every PTE that maps the frame; extra candidates only cost.

use std::collections::BTreeMap;

use crate::addr::Pfn;
use crate::error::Errno;
use crate::pgtable::PtePtr;
use crate::system::Core;
use crate::vma::{MmId, VmaId};

/// Kernel object sizes on x86-64 (Linux 6.18 slab sizes).
pub mod sizes {
    pub const VM_AREA_STRUCT: u64 = 192;
    pub const ANON_VMA: u64 = 104;
    pub const ANON_VMA_CHAIN: u64 = 64;
    pub const PAGE_TABLE: u64 = 4096;
    pub const PTE_CHAIN_LINE: u64 = 64;
}

/// Where one PTE maps a frame.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MapAt {
    pub mm: MmId,
    pub vma: VmaId,
    pub addr: u64,
    pub pte: PtePtr,
}

/// One candidate of a walk: the PTE of `addr` in `mm` may map the frame.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Cand {
    pub mm: MmId,
    /// The VMA if the backend knows it; else the core looks it up.
    pub vma: Option<VmaId>,
    pub addr: u64,
    /// The PTE's address if the backend keeps it (PTE chains do); else
    /// the core walks the page table to it.
    pub pte: Option<PtePtr>,
}

/// The output of one walk.
#[derive(Default, Debug)]
pub struct Walk {
    pub cands: Vec<Cand>,
    pub vmas_visited: u64,
    pub ptes_scanned: u64,
}

impl Walk {
    pub fn clear(&mut self) {
        self.cands.clear();
        self.vmas_visited = 0;
        self.ptes_scanned = 0;
    }
}

/// Cumulative cost of all walks.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq, serde::Serialize)]
pub struct WalkStats {
    pub walks: u64,
    pub vmas_visited: u64,
    pub ptes_checked: u64,
    pub hits: u64,
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

/// A reverse-mapping backend.
pub trait ReverseMap: Send + Sync + 'static {
    /// The backend's name (`scan`, `pte-chain`, ...).
    fn name(&self) -> &'static str;
    /// The preset this instance runs.
    fn preset(&self) -> &'static str;
    /// Every preset; the first is the default.
    fn presets() -> &'static [&'static str]
    where
        Self: Sized;
    /// An instance running `preset`, or `None` if there is no such preset.
    fn with_preset(preset: &str) -> Option<Self>
    where
        Self: Sized;
    /// The `i_mmap` shape this preset needs, if it insists on one.
    fn i_mmap_shape(&self) -> Option<crate::file::IMapShape> {
        None
    }

    // ----- address spaces -----
    /// `child` is being merge_skipped from `parent`, before any VMA is copied.
    fn fork_mm(&mut self, _core: &mut Core, _parent: MmId, _child: MmId) -> Result<(), Errno> {
        Ok(())
    }
    /// `mm` is gone (exit, exec, failed fork): its VMAs and pages are
    /// already unmapped.
    fn mm_release(&mut self, _core: &mut Core, _mm: MmId) {}

    // ----- VMA lifecycle -----
    fn vma_link(&mut self, _core: &mut Core, _vma: VmaId) {}
    fn vma_unlink(&mut self, _core: &mut Core, _vma: VmaId) {}
    fn vma_split(&mut self, _core: &mut Core, _orig: VmaId, _new: VmaId) -> Result<(), Errno> {
        Ok(())
    }
    fn vma_absorb(&mut self, _core: &mut Core, _dst: VmaId, _src: VmaId) {}
    /// Whether `tgt` may grow over `src`'s range as far as anonymous state
    /// goes. `src = None` is a new mapping with no anonymous state.
    /// Default: either side has none, or both share the same word.
    fn can_merge_anon(&self, core: &Core, tgt: VmaId, src: Option<VmaId>) -> bool {
        match src {
            None => true,
            Some(s) => self.anon_compatible(core, tgt, s),
        }
    }
    /// Whether `a` and `b` could become one VMA as far as anonymous state
    /// goes (used for `prev` and `next` when a merge would join both).
    fn anon_compatible(&self, core: &Core, a: VmaId, b: VmaId) -> bool {
        let (x, y) = (self.anon_state(core, a), self.anon_state(core, b));
        x == 0 || y == 0 || x == y
    }
    /// The VMA's anonymous state as Linux code sees `vma->anon_vma`: zero
    /// for none (a backend with flag bits masks them here).
    fn anon_state(&self, core: &Core, vma: VmaId) -> u64 {
        core.vmas[vma].anon
    }
    fn anon_prepare(&mut self, core: &mut Core, vma: VmaId, why: AnonNeed) -> Result<(), Errno>;
    fn fork_vma(&mut self, core: &mut Core, parent: VmaId, child: VmaId) -> Result<(), Errno>;
    /// Whether fork must copy the parent VMA's page tables (Linux:
    /// `vma_needs_copy`, true when the VMA has an anon_vma). The core also
    /// copies nonlinear and many-prots VMAs, whose PTEs hold state.
    fn fork_needs_copy(&self, core: &Core, parent: VmaId) -> bool {
        core.vmas[parent].anon != 0
    }

    // ----- page mappings -----
    /// A PTE now maps anonymous frame `pfn`; `new_page` when the frame was
    /// just allocated for this mapping.
    fn page_add_anon(&mut self, core: &mut Core, pfn: Pfn, at: MapAt, new_page: bool);
    fn page_add_file(&mut self, core: &mut Core, pfn: Pfn, at: MapAt);
    /// Fork copied the parent's PTE to the child.
    fn page_dup(&mut self, core: &mut Core, pfn: Pfn, parent: MapAt, child: MapAt);
    fn page_remove(&mut self, core: &mut Core, pfn: Pfn, at: MapAt);
    fn page_freed(&mut self, _core: &mut Core, _pfn: Pfn) {}
    /// A write fault reuses anonymous page `pfn`, mapped only at `at`
    /// (Linux then moves the page to the VMA's own anon_vma:
    /// `folio_move_anon_rmap`).
    fn page_reuse(&mut self, _core: &mut Core, _pfn: Pfn, _at: MapAt) {}
    /// MADV_GUARD_REMOVE ran over `[start, end)` of `vma`.
    fn guards_removed(&mut self, _core: &mut Core, _vma: VmaId, _start: u64, _end: u64) {}

    // ----- the walk -----
    fn walk(&mut self, core: &mut Core, pfn: Pfn, out: &mut Walk);
    /// The same walk for validation, which must not change the backend's
    /// state (a walk that tidies up as it goes, as pte-chain's collapse to
    /// direct mode does, must not do so when `check` looks).
    fn walk_for_check(&mut self, core: &mut Core, pfn: Pfn, out: &mut Walk) {
        self.walk(core, pfn, out);
    }

    // ----- accounting and checks -----
    /// Add the backend's live objects (the core adds VMAs and page tables).
    fn objects(&self, core: &Core, out: &mut Objects);
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
/// Its anonymous state is one id per VMA family: `anon_prepare` gives a VMA
/// a fresh id, fork children inherit the parent's, splits keep it; merges
/// need equal ids or one side without.
#[derive(Default, Debug)]
pub struct Scan {
    next_id: u64,
}

impl ReverseMap for Scan {
    fn name(&self) -> &'static str {
        "scan"
    }
    fn preset(&self) -> &'static str {
        "default"
    }
    fn presets() -> &'static [&'static str] {
        &["default"]
    }
    fn with_preset(preset: &str) -> Option<Self> {
        (preset == "default").then(Scan::default)
    }
    fn anon_prepare(&mut self, core: &mut Core, vma: VmaId, _why: AnonNeed) -> Result<(), Errno> {
        if core.vmas[vma].anon == 0 {
            self.next_id += 1;
            core.vmas[vma].anon = self.next_id;
        }
        Ok(())
    }
    fn vma_absorb(&mut self, core: &mut Core, dst: VmaId, src: VmaId) {
        if core.vmas[dst].anon == 0 {
            core.vmas[dst].anon = core.vmas[src].anon;
        }
    }
    fn fork_vma(&mut self, _core: &mut Core, _parent: VmaId, _child: VmaId) -> Result<(), Errno> {
        Ok(())
    }
    fn page_add_anon(&mut self, _: &mut Core, _: Pfn, _: MapAt, _: bool) {}
    fn page_add_file(&mut self, _: &mut Core, _: Pfn, _: MapAt) {}
    fn page_dup(&mut self, _: &mut Core, _: Pfn, _: MapAt, _: MapAt) {}
    fn page_remove(&mut self, _: &mut Core, _: Pfn, _: MapAt) {}
    fn walk(&mut self, core: &mut Core, pfn: Pfn, out: &mut Walk) {
        core.scan_walk(pfn, out);
    }
    fn objects(&self, _core: &Core, _out: &mut Objects) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_passes_the_conformance_suite() {
        crate::conformance::run_suite(Scan::default);
    }

    /// Linux prepares the anon_vma of a private file VMA before a write
    /// fault finds the page past EOF; the two VMAs written this way have
    /// distinct anonymous state, so a mapping between them merges with the
    /// left one only (the live kernel agrees: benches/tests/fidelity.rs).
    /// Backend-specific: it depends on Linux-like anonymous state.
    #[test]
    fn scan_cow_fault_past_eof_prepares_anon() {
        let out = crate::conformance::run_trace(
            Scan::default(),
            "file f 4K
mmap 1 0x100000000000 4K rw- private file=f off=0x1000
touch 1 0x100000000000 4K w
mmap 1 0x100000002000 4K rw- private file=f off=0x3000
touch 1 0x100000002000 4K w
mmap 1 0x100000001000 4K rw- private file=f off=0x2000
dump 1
",
        )
        .unwrap();
        assert_eq!(
            out,
            "err 3 touch EFAULT
err 5 touch EFAULT
dump 1
100000000000-100000002000 rw-p 00001000 f
100000002000-100000003000 rw-p 00003000 f
"
        );
    }

    /// A backend whose walk forgets the last mapping it should report.
    #[derive(Default)]
    struct Forgetful(Scan);

    impl ReverseMap for Forgetful {
        fn name(&self) -> &'static str {
            "forgetful"
        }
        fn preset(&self) -> &'static str {
            "default"
        }
        fn presets() -> &'static [&'static str] {
            &["default"]
        }
        fn with_preset(_: &str) -> Option<Self> {
            Some(Self::default())
        }
        fn anon_prepare(
            &mut self,
            core: &mut Core,
            vma: VmaId,
            why: AnonNeed,
        ) -> Result<(), Errno> {
            self.0.anon_prepare(core, vma, why)
        }
        fn fork_vma(&mut self, _: &mut Core, _: VmaId, _: VmaId) -> Result<(), Errno> {
            Ok(())
        }
        fn page_add_anon(&mut self, _: &mut Core, _: Pfn, _: MapAt, _: bool) {}
        fn page_add_file(&mut self, _: &mut Core, _: Pfn, _: MapAt) {}
        fn page_dup(&mut self, _: &mut Core, _: Pfn, _: MapAt, _: MapAt) {}
        fn page_remove(&mut self, _: &mut Core, _: Pfn, _: MapAt) {}
        fn walk(&mut self, core: &mut Core, pfn: Pfn, out: &mut Walk) {
            core.scan_walk(pfn, out);
            if out.cands.len() > 1 {
                out.cands.pop();
            }
        }
        fn objects(&self, _: &Core, _: &mut Objects) {}
    }

    #[test]
    fn the_oracle_catches_a_walk_that_misses_a_mapping() {
        let trace = "
mmap 1 0x100000000000 8K rw- private
touch 1 0x100000000000 8K w
fork 1 2
check
";
        let out = crate::conformance::run_trace(Forgetful::default(), trace).unwrap();
        assert!(
            out.starts_with("check 5 failed: forgetful walk of frame"),
            "{out}"
        );
        // and the same trace is clean with the real scan
        assert_eq!(
            crate::conformance::run_trace(Scan::default(), trace).unwrap(),
            ""
        );
    }

    #[test]
    #[should_panic(expected = "output differs")]
    fn the_suite_fails_a_broken_backend() {
        crate::conformance::run_suite(Forgetful::default);
    }
}
