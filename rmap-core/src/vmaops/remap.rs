//! remap_file_pages as the preset's era had it
//! ([`crate::nonlinear::NonlinearEra`]): nonlinear file mappings (2.6
//! semantics, with MAP_CHGPROT inside a many-prots VMA) before 4.0, the
//! emulation by an ordinary mapping from 4.0 on.

use crate::addr::{PAGE_SIZE, PgOff};
use crate::error::Errno;
use crate::locks::{Acq, LockClass, WorkKind};
use crate::nonlinear::NonlinearEra;
use crate::ops::{Access, MapFlags, Prot};
use crate::pte::Pte;
use crate::rmap::ReverseMap;
use crate::system::System;
use crate::vma::{MmId, vmf};
use crate::vmaops::MmapReq;

use super::Zap;
use super::unmap::PtlCursor;

/// The arguments of one remap_file_pages call.
#[derive(Clone, Copy)]
struct Remap {
    mm: MmId,
    start: u64,
    len: u64,
    pgoff: u64,
    prot: Option<Prot>,
}

/// `[start, start + len)` rounded down to pages, as `(start, end, pages)`;
/// EINVAL if it is empty or wraps.
fn page_range(start: u64, len: u64) -> Result<(u64, u64, u64), Errno> {
    let start = start & !(PAGE_SIZE - 1);
    let len = len & !(PAGE_SIZE - 1);
    let end = start
        .checked_add(len)
        .filter(|&e| e > start)
        .ok_or(Errno::EINVAL)?;
    Ok((start, end, len / PAGE_SIZE))
}

impl<R: ReverseMap> System<R> {
    /// remap_file_pages: map file pages `pgoff..` at `[start, start+len)`
    /// of a shared file mapping, as the preset's era did: before 4.0 inside
    /// one nonlinear VMA (`remap_nonlinear`), from 4.0 on as a new ordinary
    /// mapping (`remap_emulated`). Errors as each says.
    pub fn sys_remap(
        &mut self,
        mm: MmId,
        start: u64,
        len: u64,
        pgoff: PgOff,
        prot: Option<Prot>,
    ) -> Result<(), Errno> {
        let a = Remap {
            mm,
            start,
            len,
            pgoff: pgoff.0,
            prot,
        };
        if self.core.nonlinear == NonlinearEra::Emulated {
            self.remap_emulated(a)
        } else {
            self.remap_nonlinear(a)
        }
    }

    /// remap_file_pages before 4.0 (2.6 semantics, plus MAP_CHGPROT for
    /// many-prots VMAs): map file pages `pgoff..` at `[start, start+len)`
    /// inside one shared file VMA, which becomes nonlinear. EINVAL if the
    /// range is empty or wraps, is not inside one shared VMA, or `prot` is
    /// given for a VMA without many-prots. The caller holds `mmap_lock`
    /// for reading.
    fn remap_nonlinear(&mut self, a: Remap) -> Result<(), Errno> {
        let Remap {
            mm,
            start,
            len,
            pgoff,
            prot,
        } = a;
        let (start, end, n) = page_range(start, len)?;
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

    /// remap_file_pages from 4.0 on (Linux 6.18 `mm/mmap.c`
    /// `remap_file_pages`; Shutemov's emulation, c8d78c1823f4, with the
    /// multi-VMA rule of 48f7df329474): no nonlinear VMA; the range is
    /// mapped again, `MAP_SHARED | MAP_FIXED | MAP_POPULATE` with the
    /// VMA's own protection, at file offset `pgoff`, which unmaps what was
    /// there and makes a new VMA that merges by the ordinary rules; then
    /// the range is populated.
    ///
    /// Errors (EINVAL, in the kernel's order): a `prot` other than none
    /// (the trace's PROT is passed as the syscall's `prot`); an empty or
    /// wrapping range after rounding down to pages; a wrapping `pgoff`;
    /// no VMA at `start`, or one that is not shared; a range that runs
    /// past that VMA into a hole, another file or a VMA with other flags.
    /// The mapping's own errors (ENOMEM at `max_map_count`) pass through.
    ///
    /// Locks: `mmap_lock` for reading around the checks, then for writing
    /// around the mapping (the kernel re-checks the VMA there; nothing
    /// changes it in between here); population takes each fault's locks.
    /// Population: every page a read may fault in, in order, up to the
    /// first that cannot be (`mm_populate` ignores the error); the kernel's
    /// `FOLL_FORCE` would also fill pages of a mapping without read
    /// permission, which the model leaves unfilled.
    fn remap_emulated(&mut self, a: Remap) -> Result<(), Errno> {
        let (mm, pgoff) = (a.mm, a.pgoff);
        if a.prot.is_some_and(|p| p != Prot::NONE) {
            return Err(Errno::EINVAL);
        }
        let (start, end, pages) = page_range(a.start, a.len)?;
        let size = end - start;
        if pgoff.checked_add(pages).is_none() {
            return Err(Errno::EINVAL);
        }
        let rl = self
            .core
            .lock(Acq::shared(LockClass::MmapLock, mm.0 as u64));
        let checked = self.remap_range_ok(mm, start, end);
        self.core.unlock(rl);
        let v = checked?;
        let wl = self.core.lock(Acq::excl(LockClass::MmapLock, mm.0 as u64));
        let req = MmapReq {
            addr: start,
            len: size,
            prot: v.prot(),
            flags: MapFlags {
                shared: true,
                noreserve: false,
                many_prots: false,
            },
            file: v.file,
            // a page offset too large for bytes is past any file's limit:
            // mmap's own check (file_mmap_ok) gives EOVERFLOW
            off: pgoff.checked_mul(PAGE_SIZE).unwrap_or(!(PAGE_SIZE - 1)),
        };
        // the syscall holds a reference to the file (get_file) across the
        // unmapping, so a shared anonymous object survives it
        let f = v.file.expect("a shared VMA has a file object");
        self.core.file_mut(f).map_count += 1;
        let r = self.sys_mmap(mm, req);
        self.file_put(f);
        self.core.unlock(wl);
        r?;
        // mm_populate: read faults (a shared mapping is not written to)
        let mut a = start;
        while a < end && self.access_page(mm, a, Access::Read).is_ok() {
            a += PAGE_SIZE;
        }
        Ok(())
    }

    /// The VMA at `start` if `[start, end)` may be remapped: it is shared,
    /// and the range stays within it or runs on through adjacent VMAs of
    /// the same file with identical flags.
    fn remap_range_ok(&self, mm: MmId, start: u64, end: u64) -> Result<crate::vma::Vma, Errno> {
        let vid = self.core.find_vma(mm, start).ok_or(Errno::EINVAL)?;
        let v = self.core.vmas[vid];
        if !v.is_shared() {
            return Err(Errno::EINVAL);
        }
        let mut cur = vid;
        while self.core.vmas[cur].end < end {
            let next = self.core.vma_next(cur).ok_or(Errno::EINVAL)?;
            let n = &self.core.vmas[next];
            if n.start != self.core.vmas[cur].end || n.file != v.file || n.flags != v.flags {
                return Err(Errno::EINVAL);
            }
            cur = next;
        }
        Ok(v)
    }
}
