//! Unmapping: zap the PTEs of a range (`zap_pte_range`), free the page
//! tables no VMA needs (`free_pgtables`), and munmap a range
//! (`do_vmi_munmap`).

use crate::error::Errno;
use crate::frame::{ZERO_PFN, flags as pf};
use crate::locks::{Acq, LockClass, WorkKind};
use crate::ops::Prot;
use crate::pgtable::PtePtr;
use crate::pte::{Pte, PteKind};
use crate::rmap::{MapAt, ReverseMap};
use crate::system::Lk;
use crate::system::System;
use crate::vma::{MmId, VmaId, vmf};

/// The page-table lock of the table a loop over PTEs (in address order) is
/// in now: one acquisition per table, as `zap_pte_range` and
/// `change_pte_range` take `pte_offset_map_lock` once per table.
#[derive(Default)]
pub(crate) struct PtlCursor {
    slot: Option<u32>,
    lk: Option<Lk>,
}

impl<R: ReverseMap> System<R> {
    /// Hold the page-table lock of PTE `p`'s table (of `mm`), switching
    /// from the one held for the previous table.
    pub(crate) fn ptl_at(&mut self, cur: &mut PtlCursor, mm: MmId, p: PtePtr) {
        if cur.slot == Some(p.slot()) {
            return;
        }
        if let Some(l) = cur.lk.take() {
            self.core.unlock(l);
        }
        let a = Acq::excl(LockClass::Ptl, self.core.ptl(mm, p));
        cur.lk = Some(self.core.lock(a));
        cur.slot = Some(p.slot());
    }

    /// The loop is done: release the lock it holds.
    pub(crate) fn ptl_done(&mut self, cur: PtlCursor) {
        if let Some(l) = cur.lk {
            self.core.unlock(l);
        }
    }

    /// The PTE slot of `addr` in `mm` for a loop that writes PTEs under
    /// `cur`: missing page tables are allocated first with no page-table
    /// lock held (an allocation may reclaim), then the table's lock is
    /// taken.
    pub(crate) fn pte_for_write(
        &mut self,
        cur: &mut PtlCursor,
        mm: MmId,
        addr: u64,
    ) -> Result<PtePtr, Errno> {
        let p = match self.core.pte_ptr(mm, addr) {
            Some(p) => p,
            None => {
                if let Some(l) = cur.lk.take() {
                    self.core.unlock(l);
                }
                cur.slot = None;
                self.ensure_pte(mm, addr)?
            }
        };
        self.ptl_at(cur, mm, p);
        self.core.work(WorkKind::PteSet, 1);
        Ok(p)
    }
}

/// How `zap_range` treats non-present state.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Zap {
    /// munmap, exit: everything goes.
    Unmap,
    /// MADV_DONTNEED: pages go; guard markers, nonlinear offsets and
    /// per-page protections stay.
    DontNeed,
}

impl<R: ReverseMap> System<R> {
    /// Unmap every PTE of `[start, end)` inside VMA `vid`.
    pub(crate) fn zap_range(&mut self, vid: VmaId, start: u64, end: u64, mode: Zap) {
        let v = self.core.vmas[vid];
        let mm = v.mm;
        let root = self.core.mm(mm).root;
        let mut buf = std::mem::take(&mut self.ptebuf);
        self.core.pt.collect(root, start, end, &mut buf);
        let mut ptl = PtlCursor::default();
        for &(p, va) in &buf {
            let pte = self.core.pt.get(p);
            if !pte.is_none() {
                self.ptl_at(&mut ptl, mm, p);
                self.core.work(WorkKind::PteZap, 1);
            }
            let keep = |saved: Option<Prot>| match (mode, saved) {
                (Zap::DontNeed, Some(s)) => Pte::prot_only(s),
                _ => Pte::NONE,
            };
            match pte.kind() {
                PteKind::Present(pfn) => {
                    let new = if mode == Zap::DontNeed
                        && v.has(vmf::NONLINEAR)
                        && self.core.frames.get(pfn).has(pf::FILE)
                    {
                        Pte::file(self.core.frames.get(pfn).index, pte.saved_prot())
                    } else {
                        keep(pte.saved_prot())
                    };
                    self.core.pt.set(p, new);
                    if pfn != ZERO_PFN {
                        self.unmap_one(
                            pfn,
                            MapAt {
                                mm,
                                vma: vid,
                                addr: va,
                                pte: p,
                            },
                            pte.dirty(),
                        );
                    }
                }
                PteKind::Swap { slot } => {
                    self.core.pt.set(p, keep(pte.saved_prot()));
                    self.core.mm_mut(mm).swap_ents -= 1;
                    self.swap_put(slot);
                }
                PteKind::Guard | PteKind::File { .. } | PteKind::ProtOnly => {
                    if mode == Zap::Unmap {
                        self.core.pt.set(p, Pte::NONE);
                    }
                }
                PteKind::None => {}
            }
        }
        self.ptl_done(ptl);
        self.ptebuf = buf;
    }

    /// Free the page tables of `[start, end)` that no VMA needs any more
    /// (`free_pgtables`).
    pub(crate) fn free_pgtables(&mut self, mm: MmId, start: u64, end: u64) {
        let crate::system::Core { pt, mms, vmas, .. } = &mut self.core;
        let m = mms[mm.0 as usize].as_ref().expect("live mm");
        let in_use = |lo: u64, hi: u64| {
            let before = m
                .vmas
                .range(..hi)
                .next_back()
                .map(|(_, &id)| vmas[id].end > lo);
            before.unwrap_or(false)
        };
        let mut freed = Vec::new();
        pt.free_unused(m.root, start, end, &in_use, &mut freed);
        self.core.work(WorkKind::ObjFree, freed.len() as u64);
        for pfn in freed {
            self.core.frames.free(pfn);
        }
    }

    /// Unmap `[start, end)` of `mm` (`do_vmi_munmap`): split the VMAs at the
    /// edges, zap and remove everything inside, free unused page tables.
    pub(crate) fn do_munmap(&mut self, mm: MmId, start: u64, end: u64) -> Result<(), Errno> {
        let vmas = self.core.vmas_in(mm, start, end);
        let (Some(&first), Some(&last)) = (vmas.first(), vmas.last()) else {
            return Ok(());
        };
        let fv = self.core.vmas[first];
        if fv.start < start {
            if end < fv.end && self.core.mm(mm).vmas.len() as u64 >= self.core.cfg.max_map_count {
                return Err(Errno::ENOMEM);
            }
            // One check for the whole munmap (vms_gather_munmap_vmas), then
            // unchecked splits: an munmap may pass the limit for a moment.
            self.split_vma_unchecked(first, start, true)?;
        }
        if self.core.vmas[last].end > end {
            self.split_vma_unchecked(last, end, false)?;
        }
        for id in self.core.vmas_in(mm, start, end) {
            let v = self.core.vmas[id];
            self.zap_range(id, v.start, v.end, Zap::Unmap);
            self.remove_vma(id);
        }
        self.free_pgtables(mm, start, end);
        self.shadow.unmap(mm, start, end);
        Ok(())
    }
}
