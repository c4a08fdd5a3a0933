//! Address-space operations: VMA insert, remove, split and merge, and the
//! syscalls built on them (mmap, munmap, mprotect, madvise,
//! remap_file_pages), following Linux 6.18 `mm/vma.c`, `mm/mmap.c`,
//! `mm/mprotect.c` and `mm/madvise.c` as this machine's kernel runs them
//! (see `docs/linux-semantics.md` for each rule and how it was checked).
//!
//! A merge of an existing range is described as in `mm/vma.c`:
//!
//! ```text
//!   prev | middle | next        [start, end) is the range being changed
//!        |<----->|              inside `middle`
//! ```
//! The range can join `prev` only if it starts at middle's start, `next`
//! only if it ends at middle's end; if it can join neither, middle is split
//! so that the range stands alone.

use crate::addr::{PAGE_SIZE, TASK_SIZE, page_align};
use crate::error::Errno;
use crate::file::IMap;
use crate::frame::{ZERO_PFN, flags as pf};
use crate::ops::{Advice, MapFlags, MergePolicy, Prot};
use crate::pte::{Pte, PteKind};
use crate::rmap::{AnonNeed, MapAt, ReverseMap};
use crate::system::System;
use crate::vma::{FileId, MmId, Vma, VmaId, vmf};

/// How `zap_range` treats non-present state.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Zap {
    /// munmap, exit: everything goes.
    Unmap,
    /// MADV_DONTNEED: pages go; guard markers, nonlinear offsets and
    /// per-page protections stay.
    DontNeed,
}

/// Whether two VMAs' flags allow a merge (sticky bits ignored; nonlinear
/// VMAs never merge).
#[inline]
pub(crate) fn flags_mergeable(a: u32, b: u32) -> bool {
    (a ^ b) & !vmf::STICKY == 0 && a & vmf::NONLINEAR == 0
}

impl<R: ReverseMap> System<R> {
    // ----- raw structure changes (no backend hooks) -----

    fn imap_link(&mut self, id: VmaId) {
        let v = self.core.vmas[id];
        if let Some(f) = v.file {
            let file = self.core.file_mut(f);
            if v.has(vmf::NONLINEAR) {
                file.i_mmap_nonlinear.push(id);
            } else {
                file.i_mmap.insert(id, v.pgoff, v.pgoff_last());
            }
        }
    }

    fn imap_unlink(&mut self, id: VmaId) {
        let v = self.core.vmas[id];
        if let Some(f) = v.file {
            let file = self.core.file_mut(f);
            if v.has(vmf::NONLINEAR) {
                let pos = file.i_mmap_nonlinear.iter().position(|&x| x == id);
                debug_assert!(pos.is_some());
                if let Some(p) = pos {
                    file.i_mmap_nonlinear.remove(p);
                }
            } else {
                let found = file.i_mmap.remove(id, v.pgoff);
                debug_assert!(found, "VMA missing from i_mmap");
            }
        }
    }

    /// Insert a VMA into its mm and its file's `i_mmap`.
    pub(crate) fn insert_vma_raw(&mut self, v: Vma) -> VmaId {
        let id = self.core.vmas.alloc(v);
        let old = self.core.mm_mut(v.mm).vmas.insert(v.start, id);
        debug_assert!(old.is_none());
        if let Some(f) = v.file {
            self.core.file_mut(f).map_count += 1;
        }
        self.imap_link(id);
        id
    }

    /// Change a VMA's range and page offset, keeping the mm tree and
    /// `i_mmap` in step.
    pub(crate) fn set_range(&mut self, id: VmaId, start: u64, end: u64, pgoff: u64) {
        self.imap_unlink(id);
        let v = &mut self.core.vmas[id];
        let (mm, old_start) = (v.mm, v.start);
        v.start = start;
        v.end = end;
        v.pgoff = pgoff;
        let m = self.core.mm_mut(mm);
        m.vmas.remove(&old_start);
        m.vmas.insert(start, id);
        self.imap_link(id);
    }

    /// Set a VMA's flags, moving it between `i_mmap` lists if the
    /// nonlinear bit changes.
    pub(crate) fn set_flags(&mut self, id: VmaId, flags: u32) {
        self.imap_unlink(id);
        self.core.vmas[id].flags = flags;
        self.imap_link(id);
    }

    fn remove_vma_raw(&mut self, id: VmaId) {
        self.imap_unlink(id);
        let v = self.core.vmas[id];
        self.core.mm_mut(v.mm).vmas.remove(&v.start);
        self.core.vmas.free(id);
        if let Some(f) = v.file {
            let file = self.core.file_mut(f);
            file.map_count -= 1;
            if file.shmem && file.map_count == 0 {
                self.free_shmem(f);
            }
        }
    }

    /// Remove a VMA whose range has been zapped (tells the backend first).
    pub(crate) fn remove_vma(&mut self, id: VmaId) {
        self.rmap.vma_unlink(&mut self.core.ctx(), id);
        self.remove_vma_raw(id);
    }

    /// Free a shared-anonymous object whose last mapping went away.
    fn free_shmem(&mut self, f: FileId) {
        let file = self.core.files[f.0 as usize].take().expect("live file");
        for (_, pfn) in file.cache {
            debug_assert_eq!(self.core.frames.get(pfn).mapcount, 0);
            self.core.frames.get_mut(pfn).refcount -= 1;
            self.free_page(pfn);
        }
        self.shadow.drop_file(f);
    }

    /// `split_vma`: `__split_vma` after checking `max_map_count` (ENOMEM
    /// when the mm is at the limit).
    pub(crate) fn split_vma(
        &mut self,
        id: VmaId,
        addr: u64,
        new_below: bool,
    ) -> Result<VmaId, Errno> {
        if self.core.mm(self.core.vmas[id].mm).vmas.len() as u64 >= self.core.cfg.max_map_count {
            return Err(Errno::ENOMEM);
        }
        self.split_vma_unchecked(id, addr, new_below)
    }

    /// Split `id` at `addr` (`__split_vma`). The new VMA takes
    /// `[start, addr)` if `new_below`, else `[addr, end)`; `id` keeps the
    /// rest. ENOMEM if the backend cannot clone its state.
    pub(crate) fn split_vma_unchecked(
        &mut self,
        id: VmaId,
        addr: u64,
        new_below: bool,
    ) -> Result<VmaId, Errno> {
        let v = self.core.vmas[id];
        debug_assert!(v.start < addr && addr < v.end && addr % PAGE_SIZE == 0);
        let mid_pgoff = v.pgoff_at(addr);
        let new = if new_below {
            self.set_range(id, addr, v.end, mid_pgoff);
            Vma { end: addr, ..v }
        } else {
            self.set_range(id, v.start, addr, v.pgoff);
            Vma {
                start: addr,
                pgoff: mid_pgoff,
                ..v
            }
        };
        let nid = self.insert_vma_raw(new);
        if let Err(e) = self.rmap.vma_split(&mut self.core.ctx(), id, nid) {
            self.remove_vma_raw(nid);
            self.set_range(id, v.start, v.end, v.pgoff);
            return Err(e);
        }
        Ok(nid)
    }

    /// Whether a range with `flags`, `file`, `pgoff` could extend `prev`
    /// (ending where the range starts) as far as the core's rules go.
    fn can_extend(&self, prev: &Vma, flags: u32, file: Option<FileId>, pgoff: u64) -> bool {
        flags_mergeable(prev.flags, flags)
            && prev.file == file
            && prev.pgoff + prev.pages() == pgoff
    }
    /// Whether a range could be prepended to `next`.
    fn can_prepend(
        &self,
        next: &Vma,
        flags: u32,
        file: Option<FileId>,
        pgoff: u64,
        pages: u64,
    ) -> bool {
        flags_mergeable(next.flags, flags) && next.file == file && pgoff + pages == next.pgoff
    }

    /// The VMA ending exactly at `addr`.
    fn prev_adjacent(&self, mm: MmId, addr: u64) -> Option<VmaId> {
        let p = self.core.find_vma(mm, addr.checked_sub(1)?)?;
        (self.core.vmas[p].end == addr).then_some(p)
    }
    /// The VMA starting exactly at `addr`.
    fn next_adjacent(&self, mm: MmId, addr: u64) -> Option<VmaId> {
        self.core.mm(mm).vmas.get(&addr).copied()
    }

    /// Try to place a new mapping by growing a neighbour
    /// (`vma_merge_new_range`). Returns the VMA that now covers it.
    fn merge_new(
        &mut self,
        mm: MmId,
        start: u64,
        end: u64,
        flags: u32,
        file: Option<FileId>,
        pgoff: u64,
    ) -> Option<VmaId> {
        let policy = self.core.cfg.merge;
        if policy == MergePolicy::None {
            return None;
        }
        let pages = (end - start) / PAGE_SIZE;
        let prev = self.prev_adjacent(mm, start).filter(|&p| {
            self.can_extend(&self.core.vmas[p], flags, file, pgoff)
                && self.rmap.can_merge_anon(&self.core, p, None)
        });
        let mut next = if policy == MergePolicy::Both {
            self.next_adjacent(mm, end).filter(|&n| {
                self.can_prepend(&self.core.vmas[n], flags, file, pgoff, pages)
                    && self.rmap.can_merge_anon(&self.core, n, None)
            })
        } else {
            None
        };
        if let (Some(p), Some(n)) = (prev, next)
            && !self.rmap.anon_compatible(&self.core, p, n)
        {
            next = None; // prev and next disagree: merge left only
        }
        match (prev, next) {
            (Some(p), Some(n)) => {
                let (pv, nv) = (self.core.vmas[p], self.core.vmas[n]);
                self.core.vmas[p].flags |= nv.flags & vmf::STICKY;
                self.rmap.vma_absorb(&mut self.core.ctx(), p, n);
                self.remove_vma(n);
                self.set_range(p, pv.start, nv.end, pv.pgoff);
                Some(p)
            }
            (Some(p), None) => {
                let pv = self.core.vmas[p];
                self.set_range(p, pv.start, end, pv.pgoff);
                Some(p)
            }
            (None, Some(n)) => {
                let nv = self.core.vmas[n];
                self.set_range(n, start, nv.end, pgoff);
                Some(n)
            }
            (None, None) => None,
        }
    }

    /// Give `[start, end)` of VMA `mid` the flags `newflags`, merging with
    /// neighbours or splitting as Linux's `vma_modify` does. Returns the
    /// VMA that covers the range afterwards.
    pub(crate) fn vma_modify(
        &mut self,
        mid: VmaId,
        start: u64,
        end: u64,
        newflags: u32,
    ) -> Result<VmaId, Errno> {
        if self.core.cfg.merge == MergePolicy::Both
            && let Some(v) = self.merge_existing(mid, start, end, newflags)
        {
            self.core.vmas[v].merge_skipped = false;
            return Ok(v);
        }
        let v = self.core.vmas[mid];
        if v.start < start {
            self.split_vma(mid, start, true)?;
        }
        if self.core.vmas[mid].end > end
            && let Err(e) = self.split_vma(mid, end, false)
        {
            // Linux leaves the first split in place; neither piece was
            // considered for a merge.
            if v.start < start {
                if let Some(below) = self.prev_adjacent(v.mm, start) {
                    self.core.vmas[below].merge_skipped = true;
                }
                self.core.vmas[mid].merge_skipped = true;
            }
            return Err(e);
        }
        self.set_flags(mid, newflags);
        // its neighbours were just considered for merging
        self.core.vmas[mid].merge_skipped = false;
        Ok(mid)
    }

    /// `vma_merge_existing_range`: the cases of
    /// ```text
    ///  prev|****middle****|next      both: prev grows over middle and next
    ///  prev|****|  middle |next      left, partial: prev grows, middle shrinks
    ///  prev|  middle |****|next      right, partial: next grows down
    /// ```
    fn merge_existing(&mut self, mid: VmaId, start: u64, end: u64, newflags: u32) -> Option<VmaId> {
        let v = self.core.vmas[mid];
        let (left_side, right_side) = (start == v.start, end == v.end);
        if !left_side && !right_side {
            return None;
        }
        let pgoff = v.pgoff_at(start);
        let pages = (end - start) / PAGE_SIZE;
        let prev = left_side
            .then(|| self.prev_adjacent(v.mm, start))
            .flatten()
            .filter(|&p| {
                self.can_extend(&self.core.vmas[p], newflags, v.file, pgoff)
                    && self.rmap.can_merge_anon(&self.core, p, Some(mid))
            });
        let mut next = right_side
            .then(|| self.next_adjacent(v.mm, end))
            .flatten()
            .filter(|&n| {
                self.can_prepend(&self.core.vmas[n], newflags, v.file, pgoff, pages)
                    && self.rmap.can_merge_anon(&self.core, n, Some(mid))
            });
        if let (Some(p), Some(n)) = (prev, next)
            && !self.rmap.anon_compatible(&self.core, p, n)
        {
            next = None;
        }
        let sticky = v.flags & vmf::STICKY;
        match (prev, next) {
            (Some(p), Some(n)) => {
                let (pv, nv) = (self.core.vmas[p], self.core.vmas[n]);
                self.core.vmas[p].flags |= sticky | (nv.flags & vmf::STICKY);
                self.rmap.vma_absorb(&mut self.core.ctx(), p, n);
                self.rmap.vma_absorb(&mut self.core.ctx(), p, mid);
                self.remove_vma(mid);
                self.remove_vma(n);
                self.set_range(p, pv.start, nv.end, pv.pgoff);
                Some(p)
            }
            (Some(p), None) => {
                let pv = self.core.vmas[p];
                self.core.vmas[p].flags |= sticky;
                self.rmap.vma_absorb(&mut self.core.ctx(), p, mid);
                if right_side {
                    self.remove_vma(mid);
                } else {
                    self.set_range(mid, end, v.end, v.pgoff_at(end));
                }
                self.set_range(p, pv.start, end, pv.pgoff);
                Some(p)
            }
            (None, Some(n)) => {
                let nv = self.core.vmas[n];
                self.core.vmas[n].flags |= sticky;
                self.rmap.vma_absorb(&mut self.core.ctx(), n, mid);
                if left_side {
                    self.remove_vma(mid);
                } else {
                    self.set_range(mid, v.start, start, v.pgoff);
                }
                self.set_range(n, start, nv.end, pgoff);
                Some(n)
            }
            (None, None) => None,
        }
    }

    // ----- unmapping -----

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

    // ----- syscalls -----

    /// mmap with MAP_FIXED semantics at `addr`. Errors as Linux 6.18:
    /// EINVAL for a zero length or an unaligned address or offset, ENOMEM
    /// for a range past `TASK_SIZE` or an mm at `max_map_count`, EOVERFLOW
    /// when the file offset range wraps.
    #[allow(clippy::too_many_arguments)]
    pub fn sys_mmap(
        &mut self,
        mm: MmId,
        addr: u64,
        len: u64,
        prot: Prot,
        flags: MapFlags,
        file: Option<FileId>,
        off: u64,
    ) -> Result<(), Errno> {
        // The checks in Linux's order (sys_mmap, do_mmap,
        // __get_unmapped_area, file_mmap_ok).
        if off % PAGE_SIZE != 0 || len == 0 {
            return Err(Errno::EINVAL);
        }
        let len = page_align(len).filter(|&l| l != 0).ok_or(Errno::ENOMEM)?;
        let pgoff = off / PAGE_SIZE;
        if pgoff.checked_add(len / PAGE_SIZE).is_none() {
            return Err(Errno::EOVERFLOW);
        }
        if self.core.mm(mm).vmas.len() as u64 > self.core.cfg.max_map_count {
            return Err(Errno::ENOMEM);
        }
        if len > TASK_SIZE || addr > TASK_SIZE - len {
            return Err(Errno::ENOMEM);
        }
        if addr % PAGE_SIZE != 0 {
            return Err(Errno::EINVAL);
        }
        // A regular file's mapping must end below MAX_LFS_FILESIZE (2^63 - 1).
        const MAX_LFS: u64 = i64::MAX as u64;
        if file.is_some() && (len > MAX_LFS || pgoff > (MAX_LFS - len) / PAGE_SIZE) {
            return Err(Errno::EOVERFLOW);
        }
        let end = addr + len;
        let mut vmflags = prot.0 as u32 | vmf::MAYREAD | vmf::MAYWRITE | vmf::MAYEXEC;
        if flags.shared {
            vmflags |= vmf::SHARED | vmf::MAYSHARE;
        }
        if flags.noreserve {
            vmflags |= vmf::NORESERVE;
        }
        if !flags.shared && prot.write() && !flags.noreserve {
            vmflags |= vmf::ACCOUNT;
        }
        if flags.many_prots {
            vmflags |= vmf::MANY_PROTS;
        }
        self.do_munmap(mm, addr, end)?;
        let (file, pgoff) = match file {
            Some(f) => (Some(f), pgoff),
            None if flags.shared => (Some(self.new_file(String::new(), len, true)), 0),
            None => (None, addr / PAGE_SIZE),
        };
        let merged = self.merge_new(mm, addr, end, vmflags, file, pgoff);
        if let Some(v) = merged {
            // its neighbours were just considered for merging
            self.core.vmas[v].merge_skipped = false;
        } else {
            let id = self.insert_vma_raw(Vma {
                mm,
                start: addr,
                end,
                pgoff,
                flags: vmflags,
                file,
                anon: 0,
                merge_skipped: false,
            });
            self.rmap.vma_link(&mut self.core.ctx(), id);
        }
        Ok(())
    }

    /// munmap. EINVAL for an unaligned address, a zero length, or a range
    /// past `TASK_SIZE`; unmapping nothing succeeds.
    pub fn sys_munmap(&mut self, mm: MmId, addr: u64, len: u64) -> Result<(), Errno> {
        if addr % PAGE_SIZE != 0 || len == 0 {
            return Err(Errno::EINVAL);
        }
        let len = page_align(len).ok_or(Errno::EINVAL)?;
        if addr > TASK_SIZE || len > TASK_SIZE - addr {
            return Err(Errno::EINVAL);
        }
        self.do_munmap(mm, addr, addr + len)
    }

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
        let root = self.core.mm(self.core.vmas[vid].mm).root;
        let mut buf = std::mem::take(&mut self.ptebuf);
        self.core.pt.collect(root, start, end, &mut buf);
        for &(p, _) in &buf {
            let pte = self.core.pt.get(p);
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
        while addr < end {
            let p = self.ensure_pte(mm, addr)?;
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
        Ok(())
    }

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
                for &(p, _) in &buf {
                    if self.core.pt.get(p).kind() == PteKind::Guard {
                        self.core.pt.set(p, Pte::NONE);
                    }
                }
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
        while addr < end {
            let p = self.ensure_pte(v.mm, addr)?;
            self.core.pt.set(p, Pte::GUARD);
            addr += PAGE_SIZE;
        }
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

    /// remap_file_pages (2.6 semantics, plus MAP_CHGPROT for many-prots
    /// VMAs): map file pages `pgoff..` at `[start, start+len)` inside one
    /// shared file VMA. EINVAL if the range is empty or wraps, is not inside
    /// one shared VMA, or `prot` is given for a VMA without many-prots.
    pub fn sys_remap(
        &mut self,
        mm: MmId,
        start: u64,
        len: u64,
        pgoff: u64,
        prot: Option<Prot>,
    ) -> Result<(), Errno> {
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
        for (i, (&p, old)) in ptes.iter().zip(saved).enumerate() {
            let pr = prot.or(old);
            let new = match (linear, pr) {
                (true, None) => Pte::NONE,
                (true, Some(pr)) => Pte::prot_only(pr),
                (false, pr) => Pte::file(pgoff + i as u64, pr),
            };
            self.core.pt.set(p, new);
        }
        if !linear {
            self.shadow.remap(mm, start, n, pgoff);
        }
        Ok(())
    }

    /// The i_mmap of a file (for backends and tests).
    pub fn i_mmap(&self, f: FileId) -> &IMap {
        &self.core.file(f).i_mmap
    }
}
