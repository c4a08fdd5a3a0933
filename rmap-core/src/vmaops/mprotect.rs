//! mprotect (`do_mprotect_pkey`, `mprotect_fixup`, `change_protection`),
//! and per-page protections inside a many-prots VMA.

use crate::addr::{PAGE_SIZE, page_align};
use crate::error::Errno;
use crate::locks::WorkKind;
use crate::ops::Prot;
use crate::pte::{Pte, PteKind};
use crate::rmap::ReverseMap;
use crate::system::System;
use crate::vma::{MmId, VmaId, vmf};

use super::unmap::PtlCursor;

impl<R: ReverseMap> System<R> {
    /// mprotect. EINVAL for an unaligned start; a zero length succeeds;
    /// ENOMEM if the range wraps, starts in a hole (nothing changes) or
    /// meets one (everything before it is changed).
    pub fn sys_mprotect(
        &mut self,
        mm: MmId,
        start: u64,
        len: u64,
        prot: Prot,
    ) -> Result<(), Errno> {
        if start % PAGE_SIZE != 0 {
            return Err(Errno::EINVAL);
        }
        if len == 0 {
            return Ok(());
        }
        let len = page_align(len).ok_or(Errno::ENOMEM)?;
        let end = start.checked_add(len).ok_or(Errno::ENOMEM)?;
        let Some(mut vid) = self.core.find_vma_after(mm, start) else {
            return Err(Errno::ENOMEM);
        };
        if self.core.vmas[vid].start > start {
            return Err(Errno::ENOMEM);
        }
        let mut nstart = start;
        loop {
            let tmp = self.core.vmas[vid].end.min(end);
            self.mprotect_fixup(vid, nstart, tmp, prot)?;
            nstart = tmp;
            if nstart >= end {
                return Ok(());
            }
            match self.core.find_vma_after(mm, nstart) {
                Some(n) if self.core.vmas[n].start <= nstart => vid = n,
                _ => return Err(Errno::ENOMEM),
            }
        }
    }

    fn mprotect_fixup(
        &mut self,
        vid: VmaId,
        start: u64,
        end: u64,
        prot: Prot,
    ) -> Result<(), Errno> {
        let v = self.core.vmas[vid];
        if v.has(vmf::MANY_PROTS) && self.core.cfg.many_prots_patch {
            // the patch supported no mprotect on VM_MANYPROTS areas
            return Err(Errno::EACCES);
        }
        if v.has(vmf::MANY_PROTS) && (start, end) != (v.start, v.end) {
            return self.set_page_prots(vid, start, end, prot);
        }
        let old = v.flags;
        let mut newflags = (old & !vmf::PROT_MASK) | prot.0 as u32;
        if prot.write() {
            if old & (vmf::ACCOUNT | vmf::WRITE | vmf::SHARED | vmf::NORESERVE) == 0 {
                newflags |= vmf::ACCOUNT;
            }
        } else if old & vmf::ACCOUNT != 0
            && v.is_anonymous()
            && self.rmap.anon_state(&self.core, vid) == 0
        {
            newflags &= !vmf::ACCOUNT;
        }
        if newflags == old {
            if v.has(vmf::MANY_PROTS) {
                // the whole VMA gets one protection: per-page ones go
                self.change_protection(vid, start, end, prot, true);
            }
            return Ok(());
        }
        let id = self.vma_modify(vid, start, end, newflags)?;
        let clear_saved = self.core.vmas[id].has(vmf::MANY_PROTS);
        self.change_protection(id, start, end, prot, clear_saved);
        Ok(())
    }

    /// Bring the PTEs of `[start, end)` in line with protection `prot`
    /// (`change_protection`); `clear_saved` drops per-page protections.
    fn change_protection(
        &mut self,
        vid: VmaId,
        start: u64,
        end: u64,
        prot: Prot,
        clear_saved: bool,
    ) {
        let mm = self.core.vmas[vid].mm;
        let root = self.core.mm(mm).root;
        let mut buf = std::mem::take(&mut self.ptebuf);
        self.core.pt.collect(root, start, end, &mut buf);
        let mut ptl = PtlCursor::default();
        for &(p, _) in &buf {
            let pte = self.core.pt.get(p);
            self.ptl_at(&mut ptl, mm, p);
            self.core.work(WorkKind::PteSet, 1);
            let new = match pte.kind() {
                PteKind::Present(_) => {
                    let n = pte.apply_prot(prot);
                    if clear_saved {
                        n.with_saved_prot(None)
                    } else {
                        n
                    }
                }
                PteKind::Swap { .. } | PteKind::File { .. } if clear_saved => {
                    pte.with_saved_prot(None)
                }
                PteKind::ProtOnly if clear_saved => Pte::NONE,
                _ => pte,
            };
            self.core.pt.set(p, new);
        }
        self.ptl_done(ptl);
        self.ptebuf = buf;
    }

    /// Per-page protection inside a many-prots VMA: no split; each PTE of
    /// the range remembers `prot` (an empty one gets a protection marker).
    fn set_page_prots(
        &mut self,
        vid: VmaId,
        start: u64,
        end: u64,
        prot: Prot,
    ) -> Result<(), Errno> {
        let mm = self.core.vmas[vid].mm;
        let mut addr = start;
        let mut ptl = PtlCursor::default();
        while addr < end {
            let p = match self.pte_for_write(&mut ptl, mm, addr) {
                Ok(p) => p,
                Err(e) => {
                    self.ptl_done(ptl);
                    return Err(e);
                }
            };
            let pte = self.core.pt.get(p);
            let new = match pte.kind() {
                PteKind::None | PteKind::ProtOnly => Pte::prot_only(prot),
                PteKind::Present(_) => pte.apply_prot(prot).with_saved_prot(Some(prot)),
                PteKind::Swap { .. } | PteKind::File { .. } => pte.with_saved_prot(Some(prot)),
                PteKind::Guard => pte,
            };
            self.core.pt.set(p, new);
            addr += PAGE_SIZE;
        }
        self.ptl_done(ptl);
        Ok(())
    }
}
