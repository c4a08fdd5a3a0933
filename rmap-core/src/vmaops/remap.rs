//! remap_file_pages: nonlinear file mappings (2.6 semantics), and
//! MAP_CHGPROT inside a many-prots VMA.

use crate::addr::{PAGE_SIZE, PgOff};
use crate::error::Errno;
use crate::locks::WorkKind;
use crate::ops::Prot;
use crate::pte::Pte;
use crate::rmap::ReverseMap;
use crate::system::System;
use crate::vma::{MmId, vmf};

use super::Zap;
use super::unmap::PtlCursor;

impl<R: ReverseMap> System<R> {
    /// remap_file_pages (2.6 semantics, plus MAP_CHGPROT for many-prots
    /// VMAs): map file pages `pgoff..` at `[start, start+len)` inside one
    /// shared file VMA. EINVAL if the range is empty or wraps, is not inside
    /// one shared VMA, or `prot` is given for a VMA without many-prots.
    pub fn sys_remap(
        &mut self,
        mm: MmId,
        start: u64,
        len: u64,
        pgoff: PgOff,
        prot: Option<Prot>,
    ) -> Result<(), Errno> {
        let PgOff(pgoff) = pgoff;
        let start = start & !(PAGE_SIZE - 1);
        let len = len & !(PAGE_SIZE - 1);
        let end = start
            .checked_add(len)
            .filter(|&e| e > start)
            .ok_or(Errno::EINVAL)?;
        let n = len / PAGE_SIZE;
        // A nonlinear file PTE holds 32 bits of page offset on x86-64
        // (PTE_FILE_MAX_BITS); 2.6 refused offsets beyond that.
        if pgoff.checked_add(n).is_none_or(|e| e >= 1 << 32) {
            return Err(Errno::EINVAL);
        }
        let vid = self.core.find_vma(mm, start).ok_or(Errno::EINVAL)?;
        let v = self.core.vmas[vid];
        if !v.is_shared() || v.file.is_none() || end > v.end {
            return Err(Errno::EINVAL);
        }
        if prot.is_some() && !v.has(vmf::MANY_PROTS) {
            return Err(Errno::EINVAL);
        }
        // Allocate every page table first, so that ENOMEM changes nothing.
        let mut ptes = Vec::with_capacity(n as usize);
        for i in 0..n {
            ptes.push(self.ensure_pte(mm, start + i * PAGE_SIZE)?);
        }
        // Pages keep their own protections unless MAP_CHGPROT gives one.
        let many = v.has(vmf::MANY_PROTS);
        let saved: Vec<Option<Prot>> = ptes
            .iter()
            .map(|&p| {
                if many {
                    self.core.pt.get(p).saved_prot()
                } else {
                    None
                }
            })
            .collect();
        let linear = !v.has(vmf::NONLINEAR) && v.pgoff_at(start) == pgoff;
        if !linear && !v.has(vmf::NONLINEAR) {
            self.set_flags(vid, v.flags | vmf::NONLINEAR);
        }
        self.zap_range(vid, start, end, Zap::Unmap);
        let mut ptl = PtlCursor::default();
        for (i, (&p, old)) in ptes.iter().zip(saved).enumerate() {
            let pr = prot.or(old);
            let new = match (linear, pr) {
                (true, None) => Pte::NONE,
                (true, Some(pr)) => Pte::prot_only(pr),
                (false, pr) => Pte::file(pgoff + i as u64, pr),
            };
            self.ptl_at(&mut ptl, mm, p);
            self.core.work(WorkKind::PteSet, 1);
            self.core.pt.set(p, new);
        }
        self.ptl_done(ptl);
        if !linear {
            self.shadow.remap(mm, start, n, pgoff);
        }
        Ok(())
    }
}
