//! Reverse-map walks: what a walk reports, and the walks the core shares.
//!
//! Walk protocol: a backend's [`ReverseMap::walk`](crate::ReverseMap::walk)
//! pushes candidate `(mm, vma, addr)` triples into [`Walk::cands`] and
//! counts what it visited itself (`vmas_visited`, and `ptes_scanned` for
//! PTEs it examined on its own, as a scan or a nonlinear VMA needs); the
//! core then reads each candidate's PTE (one more PTE checked each) and
//! counts hits. A walk must report every PTE that maps the frame; extra
//! candidates only cost.
//!
//! The shared walks live here as methods of [`Core`], for any backend:
//! [`Core::scan_walk`] (no reverse map: every page table of every mm, the
//! `scan` baseline and the oracle) and [`Core::walk_file`] (a file page
//! through its file's `i_mmap`, then a scan of each nonlinear VMA's PTEs:
//! object-based rmap, used by `objrmap` and `anonvma`).

use crate::addr::{Pfn, PgOff};
use crate::locks::{Acq, LockClass};
use crate::pgtable::PtePtr;
use crate::system::Core;
use crate::vma::{FileId, MmId, VmaId};

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
    /// PTE-chain blocks the walk went through (a work unit).
    pub chain_blocks: u64,
    /// The locks the walk holds around its whole traversal, outermost
    /// first (the anon_vma, `i_mmap`, a page's chain lock), as the era
    /// takes them; the core records them around the walk's work.
    pub holds: Vec<Acq>,
    /// Which walk this is: `page_referenced`'s (else `try_to_unmap`'s or
    /// a count), for eras whose walks trylock differently.
    pub referenced: bool,
}

impl Walk {
    pub fn clear(&mut self) {
        self.cands.clear();
        self.vmas_visited = 0;
        self.ptes_scanned = 0;
        self.chain_blocks = 0;
        self.holds.clear();
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
                    out.cands.push(Cand {
                        mm: v.mm,
                        vma: Some(vid),
                        addr: va,
                        pte: None,
                    });
                } else {
                    out.ptes_scanned += 1;
                }
            }
        });
    }

    /// The object-based walk of file page `pfn`: every VMA that `i_mmap`
    /// yields for the page's offset (all of them for a list, the covering
    /// ones for a tree) gives its address for the page; then every
    /// nonlinear VMA of the file is scanned PTE by PTE (their PTEs do not
    /// follow `vm_pgoff`).
    ///
    /// The walk holds the file's `i_mmap` lock as the era's reclaim takes
    /// it (`LockProtocol::file_walk`).
    pub fn walk_file(&self, pfn: Pfn, out: &mut Walk) {
        let f = self.frames.get(pfn);
        let (file, pgoff) = (FileId(f.mapping as u32), PgOff(f.index));
        let fw = self.locks.protocol().file_walk;
        out.hold(fw.acq(LockClass::IMmap, file.0 as u64, out.referenced));
        let file = self.file(file);
        file.i_mmap.candidates(pgoff, &mut |vid| {
            out.vmas_visited += 1;
            let v = &self.vmas[vid];
            if let Some(addr) = v.addr_of(pgoff) {
                out.cands.push(Cand {
                    mm: v.mm,
                    vma: Some(vid),
                    addr,
                    pte: None,
                });
            }
        });
        for &vid in &file.i_mmap_nonlinear {
            out.vmas_visited += 1;
            self.scan_vma(vid, pfn, out);
        }
    }
}
