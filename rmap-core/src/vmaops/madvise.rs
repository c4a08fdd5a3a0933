//! madvise: the seven advices the model implements (`mm/madvise.c`).

use crate::addr::{PAGE_SIZE, page_align};
use crate::error::Errno;
use crate::frame::{ZERO_PFN, flags as pf};
use crate::locks::WorkKind;
use crate::ops::Advice;
use crate::pte::{Pte, PteKind};
use crate::rmap::{AnonNeed, ReverseMap};
use crate::system::System;
use crate::vma::{MmId, VmaId, vmf};

use super::Zap;
use super::unmap::PtlCursor;

impl<R: ReverseMap> System<R> {
    /// madvise. EINVAL for an unaligned start or a wrapping range; a zero
    /// length succeeds. The advice is applied to every mapped part of the
    /// range; holes give ENOMEM at the end; a per-VMA error stops at once.
    pub fn sys_madvise(
        &mut self,
        mm: MmId,
        start: u64,
        len: u64,
        advice: Advice,
    ) -> Result<(), Errno> {
        if start % PAGE_SIZE != 0 {
            return Err(Errno::EINVAL);
        }
        let alen = page_align(len).ok_or(Errno::EINVAL)?;
        if len != 0 && alen == 0 {
            return Err(Errno::EINVAL);
        }
        let end = start.checked_add(alen).ok_or(Errno::EINVAL)?;
        if end == start {
            return Ok(());
        }
        let mut cur = start;
        let mut hole = false;
        loop {
            let Some(vid) = self.core.find_vma_after(mm, cur) else {
                return Err(Errno::ENOMEM);
            };
            let vs = self.core.vmas[vid].start;
            if cur < vs {
                hole = true;
                cur = vs;
                if cur >= end {
                    break;
                }
            }
            let tmp = self.core.vmas[vid].end.min(end);
            self.madvise_one(vid, cur, tmp, advice)?;
            cur = tmp;
            if cur >= end {
                break;
            }
        }
        if hole { Err(Errno::ENOMEM) } else { Ok(()) }
    }

    fn madvise_one(
        &mut self,
        vid: VmaId,
        start: u64,
        end: u64,
        advice: Advice,
    ) -> Result<(), Errno> {
        let v = self.core.vmas[vid];
        let flag_change = |set: u32, clear: u32| (v.flags | set) & !clear;
        match advice {
            Advice::DontNeed => {
                self.zap_range(vid, start, end, Zap::DontNeed);
                if !v.is_shared() {
                    self.shadow.discard_private(v.mm, start, end);
                }
            }
            Advice::GuardInstall => self.guard_install(vid, start, end)?,
            Advice::GuardRemove => {
                let root = self.core.mm(v.mm).root;
                let mut buf = std::mem::take(&mut self.ptebuf);
                self.core.pt.collect(root, start, end, &mut buf);
                let mut ptl = PtlCursor::default();
                for &(p, _) in &buf {
                    if self.core.pt.get(p).kind() == PteKind::Guard {
                        self.ptl_at(&mut ptl, v.mm, p);
                        self.core.work(WorkKind::PteZap, 1);
                        self.core.pt.set(p, Pte::NONE);
                    }
                }
                self.ptl_done(ptl);
                self.ptebuf = buf;
                self.rmap
                    .guards_removed(&mut self.core.ctx(), vid, start, end);
            }
            Advice::PageOut => self.pageout(vid, start, end),
            Advice::DontFork | Advice::DoFork | Advice::WipeOnFork => {
                let newflags = match advice {
                    Advice::DontFork => flag_change(vmf::DONTCOPY, 0),
                    Advice::DoFork => flag_change(0, vmf::DONTCOPY),
                    _ => {
                        if v.file.is_some() || v.is_shared() {
                            return Err(Errno::EINVAL);
                        }
                        flag_change(vmf::WIPEONFORK, 0)
                    }
                };
                if newflags != v.flags {
                    self.vma_modify(vid, start, end, newflags)?;
                }
            }
        }
        Ok(())
    }

    /// MADV_GUARD_INSTALL: every page of the range gets a guard marker,
    /// zapping what was mapped there; the VMA is marked `MAYBE_GUARD`, and a
    /// private anonymous VMA gets anonymous state (as on this kernel).
    fn guard_install(&mut self, vid: VmaId, start: u64, end: u64) -> Result<(), Errno> {
        let v = self.core.vmas[vid];
        self.core.vmas[vid].flags |= vmf::MAYBE_GUARD;
        if v.is_anonymous() {
            self.rmap
                .anon_prepare(&mut self.core.ctx(), vid, AnonNeed::Guard)?;
        }
        self.zap_range(vid, start, end, Zap::Unmap);
        // What was mapped there is gone: private data, nonlinear offsets.
        self.shadow.unmap(v.mm, start, end);
        let mut addr = start;
        let mut ptl = PtlCursor::default();
        while addr < end {
            let p = match self.pte_for_write(&mut ptl, v.mm, addr) {
                Ok(p) => p,
                Err(e) => {
                    self.ptl_done(ptl);
                    return Err(e);
                }
            };
            self.core.pt.set(p, Pte::GUARD);
            addr += PAGE_SIZE;
        }
        self.ptl_done(ptl);
        self.rmap.guards_installed(&mut self.core.ctx(), vid);
        Ok(())
    }

    /// MADV_PAGEOUT: reclaim the pages of the range that only this mm maps,
    /// without looking at their referenced bits.
    fn pageout(&mut self, vid: VmaId, start: u64, end: u64) {
        let root = self.core.mm(self.core.vmas[vid].mm).root;
        let mut buf = std::mem::take(&mut self.ptebuf);
        self.core.pt.collect(root, start, end, &mut buf);
        let pages: Vec<_> = buf
            .iter()
            .filter_map(|&(p, _)| self.core.pt.get(p).pfn())
            .collect();
        self.ptebuf = buf;
        for pfn in pages {
            let f = self.core.frames.get(pfn);
            if pfn != ZERO_PFN
                && f.has(pf::USED)
                && f.has(pf::LRU)
                && f.mapcount == 1
                && !f.has(pf::LOCKED)
            {
                self.shrink_page(pfn, true);
            }
        }
    }
}
