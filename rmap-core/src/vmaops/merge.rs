//! Split and merge, after Linux 6.18 `mm/vma.c`.
//!
//! A merge is described once, by a [`VmaMerge`] that travels through it
//! (as Linux's `struct vma_merge_struct`): the range, its flags, file and
//! page offset, the VMA that holds it today (`middle`, for a change of an
//! existing range) and the neighbours found mergeable. Each entry point
//! states its assumptions and checks them (in debug builds), as `mm/vma.c`
//! does with `VM_WARN_ON_VMG`.
//!
//! ```text
//!   new range:      prev |<- start .. end ->| next     (nothing mapped there)
//!   existing range: prev | middle           | next
//!                        |<- start..end ->|           (inside middle)
//! ```
//! The range can join `prev` only if it starts where `prev` ends (for an
//! existing range: at middle's start), `next` only if it ends where `next`
//! starts (at middle's end). When `prev` and `next` both could take it but
//! disagree with each other (anonymous state), the merge goes left only.
//!
//! What may merge is the preset's era's rule ([`crate::merge_rules`]):
//! the anonymous condition ([`System::anon_mergeable`]) and whether a
//! protection change merges file mappings. A `merge=prev` trace models GNU
//! Mach before its 2023 series instead, whatever the preset
//! (`mach_extends`); `merge=both` is the preset's own era, which also
//! stands for GNU Mach after the 2023 series (`docs/linux-semantics.md`,
//! "GNU Mach merging", maps Mach's objects onto the model).

use crate::addr::PAGE_SIZE;
use crate::error::Errno;
use crate::merge_rules::AnonRule;
use crate::ops::MergePolicy;
use crate::rmap::ReverseMap;
use crate::system::System;
use crate::vma::{FileId, MmId, Vma, VmaId, vmf};

/// Whether two VMAs' flags allow a merge (sticky bits ignored; nonlinear
/// VMAs never merge).
#[inline]
pub(crate) fn flags_mergeable(a: u32, b: u32) -> bool {
    (a ^ b) & !vmf::STICKY == 0 && a & vmf::NONLINEAR == 0
}

/// One merge (Linux's `vma_merge_struct`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct VmaMerge {
    pub mm: MmId,
    /// The range being placed or changed, page aligned, `start < end`.
    pub start: u64,
    pub end: u64,
    /// Page offset of `start` in `file` (for private anonymous memory,
    /// `start >> 12` or the offset inherited from `middle`).
    pub pgoff: u64,
    /// The flags the range will have.
    pub flags: u32,
    pub file: Option<FileId>,
    /// The VMA that holds the range today (existing-range merges only).
    pub middle: Option<VmaId>,
    /// mremap's move: the VMA whose pages (and anonymous state) the new
    /// range receives (`vmg->copied_from`); a merge gives the target its
    /// anonymous state (`dup_anon_vma`).
    pub copied_from: Option<VmaId>,
    /// mremap's growth in place: the VMA that grows over the new range
    /// (`vma_merge_extend`). Linux then compares anonymous state only with
    /// what is already there: `next` may join when it has none or shares
    /// the VMA's.
    pub extend_of: Option<VmaId>,
    /// The neighbours found mergeable (filled in by the merge).
    pub prev: Option<VmaId>,
    pub next: Option<VmaId>,
}

impl VmaMerge {
    /// A new range `[start, end)` of `mm` with nothing mapped there.
    pub(crate) fn new_range(
        mm: MmId,
        (start, end): (u64, u64),
        flags: u32,
        file: Option<FileId>,
        pgoff: u64,
    ) -> Self {
        VmaMerge {
            mm,
            start,
            end,
            pgoff,
            flags,
            file,
            middle: None,
            copied_from: None,
            extend_of: None,
            prev: None,
            next: None,
        }
    }

    /// `[start, end)` of VMA `middle` (`v`), to get `flags`.
    pub(crate) fn existing(middle: VmaId, v: &Vma, start: u64, end: u64, flags: u32) -> Self {
        VmaMerge {
            mm: v.mm,
            start,
            end,
            pgoff: v.pgoff_at(start),
            flags,
            file: v.file,
            middle: Some(middle),
            copied_from: None,
            extend_of: None,
            prev: None,
            next: None,
        }
    }

    fn pages(&self) -> u64 {
        (self.end - self.start) / PAGE_SIZE
    }

    /// Whether the range could extend `prev` (which ends at `start`) as far
    /// as flags, file and offsets go (`can_vma_merge_after`).
    fn can_extend(&self, prev: &Vma) -> bool {
        flags_mergeable(prev.flags, self.flags)
            && prev.file == self.file
            && prev.pgoff + prev.pages() == self.pgoff
    }

    /// Whether the range could be prepended to `next` (which starts at
    /// `end`) (`can_vma_merge_before`).
    fn can_prepend(&self, next: &Vma) -> bool {
        flags_mergeable(next.flags, self.flags)
            && next.file == self.file
            && self.pgoff + self.pages() == next.pgoff
    }
}

impl<R: ReverseMap> System<R> {
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
        if self.rmap.anon_state(&self.core, id) != 0 {
            self.core.vmas[id].obj_shared = true;
            self.core.vmas[nid].obj_shared = true;
        }
        if let Err(e) = self.rmap.vma_split(&mut self.core.ctx(), id, nid) {
            self.remove_vma_raw(nid);
            self.set_range(id, v.start, v.end, v.pgoff);
            return Err(e);
        }
        Ok(nid)
    }

    /// The VMA ending exactly at `addr`.
    pub(crate) fn prev_adjacent(&self, mm: MmId, addr: u64) -> Option<VmaId> {
        let p = self.core.find_vma(mm, addr.checked_sub(1)?)?;
        (self.core.vmas[p].end == addr).then_some(p)
    }
    /// The VMA starting exactly at `addr`.
    pub(crate) fn next_adjacent(&self, mm: MmId, addr: u64) -> Option<VmaId> {
        self.core.mm(mm).vmas.get(&addr).copied()
    }

    /// Whether `tgt` may grow over a range whose anonymous state is `src`'s
    /// (`None`: a new mapping, which has none) under the preset's era rule
    /// ([`AnonRule`]). `tgt` is the existing neighbour.
    pub(crate) fn anon_mergeable(&self, tgt: VmaId, src: Option<VmaId>) -> bool {
        let rmap = &self.rmap;
        let state = |v: VmaId| rmap.anon_state(&self.core, v);
        let (t, s) = (state(tgt), src.map_or(0, state));
        if t != 0 && s != 0 {
            return t == s || rmap.merge_rules().anon == AnonRule::Ignored;
        }
        let chain = |v: VmaId| rmap.anon_chain_len(&self.core, v);
        let fork_child = |v: VmaId| state(v) != 0 && chain(v) != 1;
        match rmap.merge_rules().anon {
            AnonRule::Ignored | AnonRule::NullOrEqual => true,
            // both none: equal (NULL == NULL); else the neighbour's chain
            // must be singular (an empty one is not)
            AnonRule::SingularNeighbour => (t == 0 && s == 0) || chain(tgt) == 1,
            AnonRule::ForkChild => {
                (t == 0 || !fork_child(tgt)) && src.is_none_or(|s| !fork_child(s))
            }
        }
    }

    /// Whether `prev` and `next` may become one VMA (a merge over a range
    /// between them): NULL or equal in every era with an anonymous rule
    /// (3.19 passes no VMA to `is_mergeable_anon_vma` here).
    fn anon_pair_ok(&self, p: VmaId, n: VmaId) -> bool {
        let (x, y) = (
            self.rmap.anon_state(&self.core, p),
            self.rmap.anon_state(&self.core, n),
        );
        x == 0 || y == 0 || x == y || self.rmap.merge_rules().anon == AnonRule::Ignored
    }

    /// Whether GNU Mach before its 2023 series would extend `prev` over a
    /// new range (`merge=prev`): `vm_map_enter` tries only the entry below,
    /// only for a request without an object (here: anonymous private
    /// memory), and `vm_object_coalesce` accepts only an entry with no
    /// object or one whose object has one reference, no shadow, no copy and
    /// no pager. The model's object is the VMA's anonymous state; a split or
    /// a fork of a VMA that has it takes the second reference
    /// (`Vma::obj_shared`). Flags must be equal, which covers
    /// protection, maximum protection and inheritance (`DONTCOPY`).
    fn mach_extends(&self, vmg: &VmaMerge, prev: VmaId) -> bool {
        let pv = &self.core.vmas[prev];
        vmg.file.is_none()
            && pv.file.is_none()
            && vmg.flags & vmf::SHARED == 0
            && vmg.can_extend(pv)
            && (self.rmap.anon_state(&self.core, prev) == 0 || !pv.obj_shared)
    }

    /// Find the neighbours the range may join (`vmg.prev`, `vmg.next`):
    /// `left`/`right` say whether it touches the side at all; `src` is the
    /// VMA whose anonymous state the range carries (`middle`), if any.
    fn find_neighbours(&self, vmg: &mut VmaMerge, left: bool, right: bool) {
        let src = vmg.middle.or(vmg.copied_from);
        if self.core.cfg.merge == MergePolicy::PrevOnly {
            vmg.prev = left
                .then(|| self.prev_adjacent(vmg.mm, vmg.start))
                .flatten()
                .filter(|&p| self.mach_extends(vmg, p));
            vmg.next = None;
            return;
        }
        // 2.6.0's mprotect (and mremap) merge private anonymous VMAs only
        if src.is_some()
            && self.rmap.merge_rules().modify_anon_only
            && (vmg.file.is_some() || vmg.flags & vmf::SHARED != 0)
        {
            return;
        }
        let anon_ok = |t: VmaId| match vmg.extend_of {
            Some(v) => {
                t == v
                    || self.rmap.anon_state(&self.core, t) == 0
                    || self.anon_mergeable(t, Some(v))
            }
            None => self.anon_mergeable(t, src),
        };
        vmg.prev = left
            .then(|| self.prev_adjacent(vmg.mm, vmg.start))
            .flatten()
            .filter(|&p| vmg.can_extend(&self.core.vmas[p]) && anon_ok(p));
        vmg.next = right
            .then(|| self.next_adjacent(vmg.mm, vmg.end))
            .flatten()
            .filter(|&n| vmg.can_prepend(&self.core.vmas[n]) && anon_ok(n));
        if let (Some(p), Some(n)) = (vmg.prev, vmg.next)
            && !self.anon_pair_ok(p, n)
        {
            vmg.next = None; // prev and next disagree: merge left only
        }
    }

    /// Try to place a new mapping by growing a neighbour
    /// (`vma_merge_new_range`). Returns the VMA that now covers the range.
    ///
    /// Assumes: nothing is mapped in `[start, end)`; `middle` is `None`.
    pub(crate) fn merge_new(&mut self, vmg: &mut VmaMerge) -> Option<VmaId> {
        debug_assert!(vmg.middle.is_none() && vmg.start < vmg.end);
        debug_assert!(self.core.vmas_in(vmg.mm, vmg.start, vmg.end).is_empty());
        let policy = self.core.cfg.merge;
        if policy == MergePolicy::None {
            return None;
        }
        self.find_neighbours(vmg, true, policy == MergePolicy::Both);
        let target = vmg.prev.or(vmg.next)?;
        // what the range brings: sticky flags, and a moved VMA's
        // anonymous state (dup_anon_vma from `copied_from`, before any
        // neighbour goes away)
        self.core.vmas[target].flags |= vmg.flags & vmf::STICKY;
        if let Some(src) = vmg.copied_from
            && src != target
        {
            self.rmap.vma_absorb(&mut self.core.ctx(), target, src);
        }
        match (vmg.prev, vmg.next) {
            (Some(p), Some(n)) => {
                let (pv, nv) = (self.core.vmas[p], self.core.vmas[n]);
                self.core.vmas[p].flags |= nv.flags & vmf::STICKY;
                self.rmap.vma_absorb(&mut self.core.ctx(), p, n);
                self.remove_vma(n);
                self.set_range(p, pv.start, nv.end, pv.pgoff);
            }
            (Some(p), None) => {
                let pv = self.core.vmas[p];
                self.set_range(p, pv.start, vmg.end, pv.pgoff);
            }
            (None, Some(n)) => {
                let nv = self.core.vmas[n];
                self.set_range(n, vmg.start, nv.end, vmg.pgoff);
            }
            (None, None) => unreachable!("a target was found"),
        }
        Some(target)
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
        let mut vmg = VmaMerge::existing(mid, &self.core.vmas[mid], start, end, newflags);
        if self.core.cfg.merge == MergePolicy::Both
            && let Some(v) = self.merge_existing(&mut vmg)
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
    /// Assumes: `middle` covers `[start, end)`.
    fn merge_existing(&mut self, vmg: &mut VmaMerge) -> Option<VmaId> {
        let mid = vmg.middle.expect("an existing range has a middle");
        let v = self.core.vmas[mid];
        debug_assert!(v.start <= vmg.start && vmg.end <= v.end && vmg.start < vmg.end);
        let (left_side, right_side) = (vmg.start == v.start, vmg.end == v.end);
        if !left_side && !right_side {
            return None;
        }
        self.find_neighbours(vmg, left_side, right_side);
        let (start, end) = (vmg.start, vmg.end);
        let sticky = v.flags & vmf::STICKY;
        match (vmg.prev, vmg.next) {
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
                self.set_range(n, start, nv.end, vmg.pgoff);
                Some(n)
            }
            (None, None) => None,
        }
    }
}
