//! mremap, after Linux 6.18 `mm/mremap.c` (`do_mremap` and what it calls)
//! as this machine's kernel runs it; each rule and its live-kernel check
//! is in `docs/linux-semantics.md` ("mremap").
//!
//! One call is described by a [`Remap`] that travels through it, as
//! Linux's `struct vma_remap_struct`. The checks run in the kernel's order:
//! `check_mremap_params` (arguments, before any VMA is looked at), then
//! either `remap_move` (a fixed move without a size change, which may move
//! several VMAs) or `check_prep_vma` on the VMA at `addr` followed by
//! `mremap_to` (FIXED or DONTUNMAP) or `mremap_at` (shrink, grow in place,
//! or move where there is room). The paths:
//!
//! ```text
//!   shrink:        |addr ....... new_len|xxxxxxxxx|     the tail is unmapped
//!   grow in place: |addr .... old_len|+++++++|next      may absorb next
//!   move:          |old|  ->  |new at NEWADDR or top-down from MMAP_BASE|
//! ```
//! A move copies the VMA to its destination (merging there when it can),
//! moves the page tables (PTEs move, pages stay: `ptes`) and unmaps the old
//! range, or leaves it mapped and empty with DONTUNMAP (`moves`).
//!
//! Not modelled (they never trigger here): mseal (EPERM), hugetlb,
//! userfaultfd, VM_PFNMAP / VM_DONTEXPAND, mlock and RLIMIT_MEMLOCK
//! (EAGAIN), RLIMIT_AS / RLIMIT_DATA, overcommit refusals of the commit
//! charge (the charge itself always succeeds, as mmap's does in the
//! model), `vm_ops->mremap`, KSM.
//!
//! Failures leave state changed where Linux's do (they are not atomic): a
//! FIXED destination is unmapped before a later step fails, a shrink with
//! FIXED has unmapped the tail, a multi-VMA move stops after the pieces
//! already moved.

mod area;
mod moves;
mod ptes;
#[cfg(test)]
mod tests;

pub use area::MMAP_BASE;

use crate::addr::{PAGE_SIZE, TASK_SIZE};
use crate::error::Errno;
use crate::ops::RemapFlags;
use crate::rmap::ReverseMap;
use crate::system::System;
use crate::vma::{MmId, VmaId, vmf};

use super::VmaMerge;

/// How the call resizes (`vrm_remap_type`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Resize {
    /// MREMAP_NO_RESIZE
    SameSize,
    Shrink,
    Expand,
}

/// One mremap call (Linux's `struct vma_remap_struct`).
#[derive(Clone, Copy, Debug)]
struct Remap {
    mm: MmId,
    /// The old range's start, `old_len` bytes (page aligned: PAGE_ALIGN
    /// as Linux does it, so a length near 2^64 wraps to 0).
    addr: u64,
    old_len: u64,
    new_len: u64,
    flags: RemapFlags,
    /// FIXED's address, DONTUNMAP's hint (0: a trace gives none), or the
    /// address the move chose.
    new_addr: u64,
    /// The VMA at `addr`, once looked up.
    vma: Option<VmaId>,
}

/// `PAGE_ALIGN` with Linux's wrap-around on overflow.
fn page_align_wrapping(len: u64) -> u64 {
    len.wrapping_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

impl Remap {
    /// FIXED or DONTUNMAP: a new address is certain (`vrm_implies_new_addr`).
    fn implies_new_addr(&self) -> bool {
        self.flags.fixed.is_some() || self.flags.dontunmap
    }
    fn resize(&self) -> Resize {
        match self.new_len.cmp(&self.old_len) {
            std::cmp::Ordering::Equal => Resize::SameSize,
            std::cmp::Ordering::Less => Resize::Shrink,
            std::cmp::Ordering::Greater => Resize::Expand,
        }
    }
    /// Whether something new will be mapped (`vrm_will_map_new`).
    fn will_map_new(&self) -> bool {
        self.resize() == Resize::Expand || self.implies_new_addr()
    }
    /// A fixed move without a size change (`vrm_move_only`).
    fn move_only(&self) -> bool {
        self.flags.fixed.is_some() && self.old_len == self.new_len
    }
    /// The old and new ranges overlap (`vrm_overlaps`, with its unsigned
    /// arithmetic).
    fn overlaps(&self) -> bool {
        let end_old = self.addr.wrapping_add(self.old_len);
        let end_new = self.new_addr.wrapping_add(self.new_len);
        end_old > self.new_addr && end_new > self.addr
    }
    fn delta(&self) -> u64 {
        self.new_len.abs_diff(self.old_len)
    }
}

impl<R: ReverseMap> System<R> {
    /// mremap of `[addr, addr + old_len)` of `mm` to `new_len` bytes with
    /// `flags`; returns the address of the mapping afterwards.
    ///
    /// Errors, in the kernel's order of checks: EINVAL for an unaligned
    /// `addr`, a zero or too large `new_len`, and with FIXED or DONTUNMAP a
    /// new range past `TASK_SIZE` or unaligned, no MAYMOVE, DONTUNMAP with a
    /// size change, or ranges that overlap; ENOMEM with FIXED or DONTUNMAP
    /// when the mm is near `max_map_count`; then EFAULT when `addr` is not
    /// in a VMA or the range leaves it, EINVAL for `old_len` 0 of a private
    /// mapping; ENOMEM when growing in place is impossible without MAYMOVE,
    /// when no room is left for a move, and at move time near
    /// `max_map_count`; munmap's errors for the unmaps a call does.
    pub fn sys_mremap(
        &mut self,
        mm: MmId,
        addr: u64,
        old_len: u64,
        new_len: u64,
        flags: RemapFlags,
    ) -> Result<u64, Errno> {
        let mut r = Remap {
            mm,
            addr,
            old_len: page_align_wrapping(old_len),
            new_len: page_align_wrapping(new_len),
            flags,
            new_addr: flags.fixed.unwrap_or(0),
            vma: None,
        };
        self.check_mremap_params(&r)?;
        if r.move_only() && self.rmap.mremap_multi_vma() {
            return self.remap_move(&mut r);
        }
        r.vma = self.core.find_vma(mm, addr);
        self.check_prep_vma(&mut r)?;
        if r.implies_new_addr() {
            self.mremap_to(&mut r)
        } else {
            self.mremap_at(&mut r)
        }
    }

    /// The argument checks (`check_mremap_params`), before any VMA is
    /// looked at.
    fn check_mremap_params(&self, r: &Remap) -> Result<(), Errno> {
        if r.addr % PAGE_SIZE != 0 || r.new_len == 0 || r.new_len > TASK_SIZE {
            return Err(Errno::EINVAL);
        }
        if !r.implies_new_addr() {
            return Ok(());
        }
        if r.new_addr > TASK_SIZE - r.new_len || r.new_addr % PAGE_SIZE != 0 {
            return Err(Errno::EINVAL);
        }
        if !r.flags.maymove || (r.flags.dontunmap && r.old_len != r.new_len) || r.overlaps() {
            return Err(Errno::EINVAL);
        }
        // room for two more VMAs (a split at each end) under the limit
        let count = self.core.mm(r.mm).vmas.len() as u64;
        if count + 2 >= self.core.cfg.max_map_count.saturating_sub(3) {
            return Err(Errno::ENOMEM);
        }
        Ok(())
    }

    /// The checks on the VMA at `r.addr` (`check_prep_vma`); sets the new
    /// address to `addr` when the call implies none.
    fn check_prep_vma(&self, r: &mut Remap) -> Result<(), Errno> {
        let vid = r.vma.ok_or(Errno::EFAULT)?;
        if !r.implies_new_addr() {
            r.new_addr = r.addr;
        }
        if !r.will_map_new() {
            return Ok(());
        }
        let v = self.core.vmas[vid];
        if r.old_len == 0 && !v.has(vmf::SHARED | vmf::MAYSHARE) {
            return Err(Errno::EINVAL); // "duplicate" a private mapping
        }
        // a shrink may cross VMAs and holes: only what stays must fit
        let span = if r.resize() == Resize::Shrink {
            r.new_len
        } else {
            r.old_len
        };
        if span > v.end - r.addr {
            return Err(Errno::EFAULT);
        }
        if r.new_len == r.old_len {
            return Ok(());
        }
        if v.pgoff_at(r.addr)
            .checked_add(r.new_len / PAGE_SIZE)
            .is_none()
        {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    /// FIXED and/or DONTUNMAP (`mremap_to`): unmap the destination (FIXED),
    /// shrink first if asked, pick the address (DONTUNMAP alone), move.
    fn mremap_to(&mut self, r: &mut Remap) -> Result<u64, Errno> {
        if r.flags.fixed.is_some() {
            // do_munmap's own checks (only a multi-VMA move's later piece
            // can fail them)
            if r.new_addr > TASK_SIZE || r.new_len > TASK_SIZE - r.new_addr {
                return Err(Errno::EINVAL);
            }
            self.do_munmap(r.mm, r.new_addr, r.new_addr + r.new_len)?;
            // a move inside its own VMA has just split it
            r.vma = Some(self.core.find_vma(r.mm, r.addr).ok_or(Errno::EFAULT)?);
        }
        if r.resize() == Resize::Shrink {
            self.do_munmap(r.mm, r.addr + r.new_len, r.addr + r.old_len)?;
            r.vma = Some(self.core.find_vma(r.mm, r.addr).ok_or(Errno::EFAULT)?);
            r.old_len = r.new_len;
        }
        if r.flags.fixed.is_none() {
            let vid = r.vma.expect("looked up");
            r.new_addr = self.get_unmapped_area(r.mm, vid, r.new_len)?;
        }
        self.move_vma(r)
    }

    /// Neither FIXED nor DONTUNMAP (`mremap_at`): nothing, a shrink, or a
    /// growth, in place if it can be, else a move if MAYMOVE allows one.
    fn mremap_at(&mut self, r: &mut Remap) -> Result<u64, Errno> {
        match r.resize() {
            Resize::SameSize => Ok(r.addr),
            Resize::Shrink => {
                self.do_munmap(r.mm, r.addr + r.new_len, r.addr + r.old_len)?;
                Ok(r.addr)
            }
            Resize::Expand => {
                let vid = r.vma.expect("checked");
                if self.vma_expandable(vid, r) {
                    self.expand_in_place(vid, r.delta());
                    return Ok(r.addr);
                }
                if !r.flags.maymove {
                    return Err(Errno::ENOMEM);
                }
                r.new_addr = self.get_unmapped_area(r.mm, vid, r.new_len)?;
                self.move_vma(r)
            }
        }
    }

    /// Whether the range reaches the VMA's end and the VMA can grow by the
    /// difference there (`vrm_can_expand_in_place`, `vma_expandable`):
    /// nothing mapped in the way, and still below `TASK_SIZE`.
    fn vma_expandable(&self, vid: VmaId, r: &Remap) -> bool {
        let v = self.core.vmas[vid];
        if v.end - r.addr != r.old_len {
            return false;
        }
        let Some(end) = v.end.checked_add(r.delta()) else {
            return false;
        };
        end <= TASK_SIZE && self.core.vmas_in(r.mm, v.end, end).is_empty()
    }

    /// Grow `vid` in place by `delta` bytes (`vma_merge_extend`): the new
    /// range merges into the VMA and, when compatible, with the VMA that
    /// starts where it ends.
    fn expand_in_place(&mut self, vid: VmaId, delta: u64) {
        let v = self.core.vmas[vid];
        let mut vmg = VmaMerge::new_range(
            v.mm,
            (v.end, v.end + delta),
            v.flags,
            v.file,
            v.pgoff + v.pages(),
        );
        vmg.extend_of = Some(vid);
        let grown = match self.merge_new(&mut vmg) {
            Some(g) => g,
            None => {
                // no merging at all (merge=none), or a nonlinear VMA: the
                // VMA itself still grows
                self.set_range(vid, v.start, v.end + delta, v.pgoff);
                vid
            }
        };
        self.core.vmas[grown].merge_skipped = false;
    }

    /// A fixed move without a size change (`remap_move`, 6.17 on): every
    /// VMA of the old range moves, piece by piece in address order, each to
    /// the end of the previous piece's destination plus the gap between
    /// them in the source. EFAULT if the range starts in a hole or has no
    /// VMA; a later piece's error is returned after the earlier pieces
    /// moved. Returns the first piece's new address.
    fn remap_move(&mut self, r: &mut Remap) -> Result<u64, Errno> {
        let start = r.addr;
        let end = start.checked_add(r.old_len).ok_or(Errno::EFAULT)?;
        let mut res = Err(Errno::EFAULT);
        let mut target = r.new_addr;
        let mut last_end = None;
        let mut cursor = start;
        // the walk resumes after the VMA as it was found, and stops at the
        // range's end (a DONTUNMAP move may have merged that VMA with its
        // destination beside it, past `end`)
        while cursor < end {
            let Some(vid) = self.core.find_vma_after(r.mm, cursor) else {
                break;
            };
            let v = self.core.vmas[vid];
            if v.start >= end {
                break;
            }
            if last_end.is_none() && start < v.start {
                return Err(Errno::EFAULT); // a gap at the start
            }
            let addr = v.start.max(start);
            let len = end.min(v.end) - addr;
            // Linux's unsigned arithmetic (a VMA that grew below the
            // previous end would wrap; mremap_to's munmap then refuses)
            let gap = last_end.map_or(0, |e| v.start.wrapping_sub(e));
            last_end = Some(v.end);
            let mut piece = Remap {
                vma: Some(vid),
                addr,
                old_len: len,
                new_len: len,
                new_addr: target.wrapping_add(gap),
                ..*r
            };
            self.check_prep_vma(&mut piece)?;
            let at = self.mremap_to(&mut piece)?;
            if res.is_err() {
                res = Ok(at);
            }
            target = at + len;
            cursor = v.end;
        }
        res
    }
}
