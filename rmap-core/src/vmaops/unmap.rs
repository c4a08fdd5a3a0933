//! Unmapping: zap the PTEs of a range (`zap_pte_range`), free the page
//! tables no VMA needs (`free_pgtables`), and munmap a range
//! (`do_vmi_munmap`).

use crate::error::Errno;
use crate::frame::{ZERO_PFN, flags as pf};
use crate::ops::Prot;
use crate::pte::{Pte, PteKind};
use crate::rmap::{MapAt, ReverseMap};
use crate::system::System;
use crate::vma::{MmId, VmaId, vmf};

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
        for &(p, va) in &buf {
            let pte = self.core.pt.get(p);
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
        self.ptebuf = buf;
    }

    /// Free the page tables of `[start, end)` that no VMA needs any more
    /// (`free_pgtables`).
    pub(crate) fn free_pgtables(&mut self, mm: MmId, start: u64, end: u64) {
        let crate::system::Core {
            pt,
            mms,
            vmas,
            frames,
            ..
        } = &mut self.core;
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
        for pfn in freed {
            frames.free(pfn);
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
