//! Nonlinear mappings (`remap_file_pages`) as each era handled them.
//!
//! A nonlinear VMA maps file pages at addresses that do not follow its
//! `vm_pgoff`, so the object-based walk (`vma_address`) cannot find them.
//! Every era answered that differently, and a preset says which answer it
//! models ([`ReverseMap::nonlinear`](crate::ReverseMap::nonlinear)):
//!
//! | era | [`NonlinearEra`] | what reclaim does |
//! |---|---|---|
//! | 2.5 / 2.6.0 PTE chains (`pte-chain`), `scan` | `Tracked` | nothing special: every mapping is on the page's chain (or found by the scan) |
//! | McCracken's objrmap (2.5.66-mm), the prio-tree RFC (`mccracken`, `prio`) | `Tracked` | `install_page` moves a page mapped out of place onto a PTE chain (`page_convert_anon`); the backend does that in [`ReverseMap::page_install_nonlinear`](crate::ReverseMap::page_install_nonlinear) |
//! | 2.6.7 to 3.19 (`anonmm`, the anon_vma presets up to `reuse-3.19`) | `Cluster` | `page_referenced` skips nonlinear VMAs; `try_to_unmap` then unmaps clusters of 32 PTEs of the nonlinear VMAs, whatever pages they map, with a cursor per VMA ([`System::try_to_unmap_nonlinear`]) |
//! | 4.0 on (`linux`, `unfaulted`) | `Emulated` | there are no nonlinear VMAs: `remap_file_pages` maps the range again as an ordinary VMA (`vmaops::remap`) |
//!
//! Sources: McCracken, "[PATCH 2.5.66-mm3] New page_convert_anon", linux-mm
//! 2003-04-03 (`mm/fremap.c` `install_page`, `mm/rmap.c`
//! `page_convert_anon`); Hugh Dickins, "rmap 8 unmap nonlinear" (2.6.7-rc1)
//! and Linux 2.6.8 `mm/rmap.c` `try_to_unmap_file` / `try_to_unmap_cluster`
//! (the algorithm below; 3.19 `try_to_unmap_nonlinear` is the same); Kirill
//! Shutemov, "mm: replace remap_file_pages() syscall with emulation"
//! (c8d78c1823f4, 4.0) and Linux 6.18 `mm/mmap.c` `remap_file_pages`.
//!
//! Invariant (checked by `System::validate`): with `Cluster`, a backend's
//! walk finds every mapping of a page except those in nonlinear VMAs; with
//! `Tracked`, all of them; with `Emulated`, no VMA is nonlinear.

use std::collections::BTreeMap;

use crate::addr::{PAGE_SIZE, Pfn};
use crate::frame::ZERO_PFN;
use crate::locks::{Acq, LockClass, WorkKind};
use crate::pte::Pte;
use crate::rmap::{MapAt, ReverseMap};
use crate::system::System;
use crate::vma::{FileId, VmaId, vmf};

/// How a preset's era handled nonlinear mappings (module docs).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NonlinearEra {
    /// The backend's walk finds every mapping, nonlinear ones included.
    Tracked,
    /// 2.6.7 to 3.19: walks skip nonlinear VMAs; `try_to_unmap` scans
    /// clusters of their PTEs.
    Cluster,
    /// 4.0 on: `remap_file_pages` is an emulation; no VMA is nonlinear.
    Emulated,
}

/// `CLUSTER_SIZE` = min(32 pages, `PMD_SIZE`): 32 PTEs on x86-64 (2.6.8
/// `mm/rmap.c`).
pub const CLUSTER_PAGES: u64 = 32;
const CLUSTER: u64 = CLUSTER_PAGES * PAGE_SIZE;

/// Each nonlinear VMA's scan cursor (`vm_private_data`): bytes from its
/// start; absent is 0.
pub type Cursors = BTreeMap<VmaId, u64>;

impl<R: ReverseMap> System<R> {
    /// The nonlinear part of `try_to_unmap` for file page `pfn`, after the
    /// linear walk left it mapped (2.6.8 `try_to_unmap_file`; 3.19
    /// `try_to_unmap_nonlinear`). The page itself is not searched for:
    /// the nonlinear VMAs of its file are swept in rounds, each VMA
    /// advancing its own cursor by one 32-PTE cluster per round up to a
    /// common limit, every old PTE found unmapped (young ones are aged and
    /// kept), until as many PTEs have been unmapped as the page had
    /// mappings, or every VMA has been swept to its end, when all cursors
    /// go back to 0. The page may still be mapped afterwards; reclaim then
    /// keeps it on its inactive list (`SWAP_AGAIN`).
    ///
    /// Locks: the file's `i_mmap` as the era's file walk takes it, and each
    /// cluster's page-table lock as the era's walks take it; unmapping a
    /// page takes what `page_remove` takes. Work: a VMA visit per VMA per
    /// round (and one for the first pass), a PTE check per slot of each
    /// cluster.
    pub(crate) fn try_to_unmap_nonlinear(&mut self, pfn: Pfn) {
        let f = *self.core.frames.get(pfn);
        let file = FileId(f.mapping as u32);
        let vmas = self.core.file(file).i_mmap_nonlinear.clone();
        if vmas.is_empty() {
            return;
        }
        let fw = self.core.locks.protocol().file_walk;
        let l = self
            .core
            .lock(fw.acq(LockClass::IMmap, file.0 as u64, false));
        let (mut max_cursor, mut max_size) = (0, 0);
        for &v in &vmas {
            let vma = &self.core.vmas[v];
            max_cursor = max_cursor.max(self.cursor(file, v));
            max_size = max_size.max(vma.end - vma.start);
        }
        self.visit(vmas.len() as u64);
        // how hard to try: the page's own mapcount
        let mut left = f.mapcount as i64;
        max_size = max_size.div_ceil(CLUSTER) * CLUSTER;
        if max_cursor == 0 {
            max_cursor = CLUSTER;
        }
        'rounds: loop {
            self.visit(vmas.len() as u64);
            for &v in &vmas {
                let (mm, size) = {
                    let vma = &self.core.vmas[v];
                    (vma.mm, vma.end - vma.start)
                };
                let mut cursor = self.cursor(file, v);
                while self.rss(mm) > 0 && cursor < max_cursor && cursor < size {
                    self.unmap_cluster(pfn, v, cursor, &mut left);
                    cursor += CLUSTER;
                    self.set_cursor(file, v, cursor);
                    if left <= 0 {
                        break 'rounds;
                    }
                }
                self.set_cursor(file, v, max_cursor);
            }
            max_cursor += CLUSTER;
            if max_cursor > max_size {
                // swept everything: start again from the beginning next time
                self.core.file_mut(file).nl_cursor.clear();
                break;
            }
        }
        self.core.unlock(l);
    }

    fn visit(&mut self, n: u64) {
        self.core.walk_stats.vmas_visited += n;
        self.core.work(WorkKind::VmaVisit, n);
    }

    fn rss(&self, mm: crate::vma::MmId) -> u64 {
        let m = self.core.mm(mm);
        m.rss_anon + m.rss_file
    }

    fn cursor(&self, file: FileId, v: VmaId) -> u64 {
        self.core.file(file).nl_cursor.get(&v).copied().unwrap_or(0)
    }

    fn set_cursor(&mut self, file: FileId, v: VmaId, c: u64) {
        self.core.file_mut(file).nl_cursor.insert(v, c);
    }

    /// `try_to_unmap_cluster`: the cluster-aligned window of VMA `vid` that
    /// holds `vm_start + cursor`, clipped to the VMA (at most 32 PTEs, all
    /// in one page table). Each present PTE of a page: a young one is made
    /// old and kept; an old one is cleared (leaving the file offset where
    /// the page is not at its linear index, and a many-prots page's own
    /// protection) and the page loses that mapping. `left` counts down by
    /// every mapping removed, whatever the page.
    fn unmap_cluster(&mut self, target: Pfn, vid: VmaId, cursor: u64, left: &mut i64) {
        let v = self.core.vmas[vid];
        let base = (v.start + cursor) & !(CLUSTER - 1);
        let (start, end) = (base.max(v.start), (base + CLUSTER).min(v.end));
        let Some(first) = self.core.pte_ptr(v.mm, start) else {
            return; // no page table there (mm_find_pmd fails)
        };
        let proto = self.core.locks.protocol();
        let mut a = Acq::excl(LockClass::Ptl, self.core.ptl(v.mm, first));
        a.try_ = proto.walk_ptl_try;
        let lk = self.core.lock(a);
        let mut addr = start;
        while addr < end {
            let at = addr;
            addr += PAGE_SIZE;
            let Some(p) = self.core.pte_ptr(v.mm, at) else {
                continue;
            };
            self.core.walk_stats.ptes_checked += 1;
            self.core.work(WorkKind::PteCheck, 1);
            let pte = self.core.pt.get(p);
            let Some(pfn) = pte.pfn() else { continue };
            if pfn == ZERO_PFN {
                continue;
            }
            if pte.accessed() {
                self.core.pt.set(p, pte.mkold());
                continue;
            }
            let index = self.core.frames.get(pfn).index;
            let saved = if v.has(vmf::MANY_PROTS) {
                pte.saved_prot()
            } else {
                None
            };
            let new = if index != v.pgoff_at(at) {
                Pte::file(index, saved)
            } else {
                saved.map_or(Pte::NONE, Pte::prot_only)
            };
            self.core.pt.set(p, new);
            self.core.work(WorkKind::PteZap, 1);
            if pfn == target {
                self.core.walk_stats.hits += 1;
            }
            let at = MapAt {
                mm: v.mm,
                vma: vid,
                addr: at,
                pte: p,
            };
            self.unmap_one(pfn, at, pte.dirty());
            *left -= 1;
        }
        self.core.unlock(lk);
    }
}
