//! Reverse-map walks: what a walk reports, and the walks the core shares.
//!
//! Walk protocol: a backend's [`ReverseMap::walk`](crate::ReverseMap::walk)
//! reports candidate `(mm, vma, addr)` triples with [`Walk::push`], in the
//! order its era's walk visits them, and counts what it visited itself
//! (`vmas_visited`, `chain_blocks`, and `ptes_scanned` for PTEs it examined
//! on its own, as a scan needs); each candidate carries the walk's cost so
//! far ([`WalkCost`]). The core then reads each candidate's PTE (one more
//! PTE checked each) and counts hits. A walk must report every PTE that
//! maps the frame (except, in the 2.6.7-3.19 eras, those of nonlinear VMAs:
//! see [`crate::nonlinear`]); extra candidates only cost.
//!
//! Where the era's walk stops once it has found every mapping
//! ([`Walk::stops`]: the mapcount countdown of `page_referenced_one` and
//! `try_to_unmap`'s "page no longer mapped" test, 2.6.7 on), the core
//! consumes candidates only until then and counts only the cost spent up to
//! the last one it consumed; otherwise it consumes them all and counts the
//! whole walk.
//!
//! The shared walks live here as methods of [`Core`], for any backend:
//! [`Core::scan_walk`] (no reverse map: every page table of every mm, the
//! `scan` baseline and the oracle) and [`Core::walk_file`] (a file page
//! through its file's `i_mmap`, and the nonlinear VMAs as the era treats
//! them: object-based rmap, used by `objrmap` and `anonvma`).

use crate::addr::{Pfn, PgOff};
use crate::file::IMapShape;
use crate::locks::{Acq, LockClass};
use crate::nonlinear::NonlinearEra;
use crate::pgtable::PtePtr;
use crate::system::Core;
use crate::vma::{FileId, MmId, VmaId};

/// What a walk has spent so far, in its own units (the core adds one PTE
/// check per candidate it consumes).
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct WalkCost {
    pub vmas_visited: u64,
    pub ptes_scanned: u64,
    pub chain_blocks: u64,
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
    /// The walk's cost when it reached this candidate, its own visit
    /// included (set by [`Walk::push`]).
    pub cost: WalkCost,
}

/// The output of one walk.
#[derive(Default, Debug)]
pub struct Walk {
    pub cands: Vec<Cand>,
    pub vmas_visited: u64,
    pub ptes_scanned: u64,
    /// PTE-chain blocks the walk went through (a work unit).
    pub chain_blocks: u64,
    /// The locks the walk holds around its whole traversal, outermost
    /// first (the anon_vma, `i_mmap`, a page's chain lock), as the era
    /// takes them; the core records them around the walk's work.
    pub holds: Vec<Acq>,
    /// Which walk this is: `page_referenced`'s (else `try_to_unmap`'s or
    /// a count), for eras whose walks trylock differently.
    pub referenced: bool,
    /// The era's walk stops as soon as every mapping of the page has been
    /// found (2.6.7 on); set by the backend's walk. Unset, the core
    /// consumes every candidate (the PTE-chain era, whose chain holds
    /// exactly the mappings, and McCracken's objrmap, which never stopped).
    pub stops: bool,
}

impl Walk {
    pub fn clear(&mut self) {
        self.cands.clear();
        self.vmas_visited = 0;
        self.ptes_scanned = 0;
        self.chain_blocks = 0;
        self.holds.clear();
        self.stops = false;
    }
    /// Report a candidate: the PTE of `addr` in `mm` may map the frame.
    /// It carries the walk's cost so far, so count the visit that found it
    /// first.
    #[inline]
    pub fn push(&mut self, mm: MmId, vma: Option<VmaId>, addr: u64, pte: Option<PtePtr>) {
        let cost = self.cost();
        self.cands.push(Cand {
            mm,
            vma,
            addr,
            pte,
            cost,
        });
    }
    /// The walk's cost so far.
    #[inline]
    pub fn cost(&self) -> WalkCost {
        WalkCost {
            vmas_visited: self.vmas_visited,
            ptes_scanned: self.ptes_scanned,
            chain_blocks: self.chain_blocks,
        }
    }
    /// The walk holds `a` around its traversal.
    #[inline]
    pub fn hold(&mut self, a: Acq) {
        self.holds.push(a);
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

impl Core {
    /// The `scan` walk: examine every present PTE of every mm.
    pub fn scan_walk(&self, pfn: Pfn, out: &mut Walk) {
        for mm in self.mm_ids() {
            let m = self.mm(mm);
            for (_, &vid) in m.vmas.iter() {
                out.vmas_visited += 1;
                self.scan_vma(vid, pfn, out);
            }
        }
    }

    /// Every present PTE of VMA `vid`: a candidate if it maps `pfn`, else
    /// one PTE scanned.
    fn scan_vma(&self, vid: VmaId, pfn: Pfn, out: &mut Walk) {
        let v = &self.vmas[vid];
        let root = self.mm(v.mm).root;
        self.pt.for_each(root, v.start, v.end, &mut |_, va, pte| {
            if pte.is_present() {
                if pte.pfn() == Some(pfn) {
                    out.push(v.mm, Some(vid), va, None);
                } else {
                    out.ptes_scanned += 1;
                }
            }
        });
    }

    /// The object-based walk of file page `pfn`: every VMA that `i_mmap`
    /// yields for the page's offset (all of them for a list, the covering
    /// ones for a tree) gives its address for the page. Nonlinear VMAs, as
    /// the era treats them ([`Core::nonlinear`]):
    /// - [`NonlinearEra::Tracked`] (McCracken's objrmap and the prio-tree
    ///   RFC, which kept nonlinear VMAs among the others and moved pages
    ///   mapped out of place onto PTE chains, `page_convert_anon`): each is
    ///   one more VMA of the list (or, for a tree, one more when it covers
    ///   the offset), tried at its linear address;
    /// - [`NonlinearEra::Cluster`] (2.6.7 to 3.19, which kept them on
    ///   `i_mmap_nonlinear`): skipped (`page_referenced_file` never looks;
    ///   `try_to_unmap` goes on to [`crate::nonlinear`]'s cluster scan);
    /// - [`NonlinearEra::Emulated`] (4.0 on): there are none.
    ///
    /// The walk holds the file's `i_mmap` lock as the era's reclaim takes
    /// it (`LockProtocol::file_walk`).
    pub fn walk_file(&self, pfn: Pfn, out: &mut Walk) {
        let f = self.frames.get(pfn);
        let (file, pgoff) = (FileId(f.mapping as u32), PgOff(f.index));
        let fw = self.locks.protocol().file_walk;
        out.hold(fw.acq(LockClass::IMmap, file.0 as u64, out.referenced));
        let file = self.file(file);
        let linear = |out: &mut Walk, vid: VmaId| {
            out.vmas_visited += 1;
            let v = &self.vmas[vid];
            if let Some(addr) = v.addr_of(pgoff) {
                out.push(v.mm, Some(vid), addr, None);
            }
        };
        file.i_mmap
            .candidates(pgoff, &mut |vid| linear(&mut *out, vid));
        if self.nonlinear == NonlinearEra::Tracked {
            let list = self.cfg.i_mmap == IMapShape::List;
            for &vid in &file.i_mmap_nonlinear {
                if list || self.vmas[vid].addr_of(pgoff).is_some() {
                    linear(out, vid);
                }
            }
        }
    }
}
