//! A move (`move_vma`): copy the VMA to the destination, move the page
//! tables, then unmap the old range or, with DONTUNMAP, leave it mapped
//! and empty.
//!
//! ```text
//!   before:  prev | ...|old range|... |        | dest |       | next
//!   copy:    prev | ...|old range|... |  prev' |  new | next'        (new may merge into prev' / next')
//!   PTEs:    each PTE of the old range moves to the same offset in new
//!   unmap:   prev | ...|         |... |  prev' |  new | next'        (DONTUNMAP: old range stays, empty)
//! ```
//! Page offsets (`copy_vma`): a private anonymous VMA that never had
//! anonymous state starts over at `new_addr >> 12` (so that it can merge
//! where it lands); any other keeps the offset of the old range, so that
//! its pages (anon_vma, i_mmap) are found at the new place with their old
//! index.

use crate::error::Errno;
use crate::rmap::ReverseMap;
use crate::system::System;
use crate::vma::{Vma, VmaId};

use super::super::VmaMerge;
use super::Remap;

impl<R: ReverseMap> System<R> {
    /// Move `r.old_len` bytes at `r.addr` (in VMA `r.vma`) to `r.new_addr`,
    /// `r.new_len` bytes long. ENOMEM when the mm is within 3 VMAs of
    /// `max_map_count` (`prep_move_vma`), or when the page tables cannot
    /// be moved (then, as Linux does, the new range is unmapped instead of
    /// the old one).
    pub(super) fn move_vma(&mut self, r: &mut Remap) -> Result<u64, Errno> {
        let count = self.core.mm(r.mm).vmas.len() as u64;
        if count >= self.core.cfg.max_map_count.saturating_sub(3) {
            return Err(Errno::ENOMEM);
        }
        let src = r.vma.expect("the VMA to move");
        let (new_vma, merged) = self.copy_vma(src, r);
        // the source may have merged into the new VMA (an unfaulted VMA
        // moved beside itself): it is whatever now holds the old range
        let src = self
            .core
            .find_vma(r.mm, r.addr)
            .expect("the old range is still mapped");
        let need_rmap_locks = merged && self.core.vmas[new_vma].pgoff <= self.core.vmas[src].pgoff;
        let moved = self.move_page_tables(
            (src, r.addr),
            (new_vma, r.new_addr),
            r.old_len,
            need_rmap_locks,
        );
        if let Err(e) = moved {
            // nothing moved: the new range goes instead of the old
            let _ = self.do_munmap(r.mm, r.new_addr, r.new_addr + r.new_len);
            return Err(e);
        }
        self.shadow.move_range(r.mm, r.addr, r.new_addr, r.old_len);
        if r.flags.dontunmap {
            self.dontunmap_complete(src, new_vma, r);
        } else if r.old_len > 0 {
            // Linux ignores a failure here (the old range then stays
            // mapped, empty); with the map-count check above it cannot
            // fail in the model
            let _ = self.do_munmap(r.mm, r.addr, r.addr + r.old_len);
        }
        Ok(r.new_addr)
    }

    /// `copy_vma`: place the VMA's copy at the destination, merging with a
    /// neighbour there when the merge rules allow (with the source's
    /// anonymous state, `vmg.copied_from`), else as a new VMA linked to the
    /// source's anonymous state (`vma_moved`). Returns the VMA that covers
    /// the destination and whether it was a merge.
    fn copy_vma(&mut self, src: VmaId, r: &Remap) -> (VmaId, bool) {
        let v = self.core.vmas[src];
        let pgoff = if v.is_anonymous() && self.rmap.anon_state(&self.core, src) == 0 {
            r.new_addr >> 12
        } else {
            v.pgoff_at(r.addr)
        };
        let range = (r.new_addr, r.new_addr + r.new_len);
        let mut vmg = VmaMerge::new_range(r.mm, range, v.flags, v.file, pgoff);
        vmg.copied_from = Some(src);
        if let Some(t) = self.merge_new(&mut vmg) {
            self.core.vmas[t].merge_skipped = false;
            return (t, true);
        }
        let nv = self.insert_vma_raw(Vma {
            start: range.0,
            end: range.1,
            pgoff,
            merge_skipped: false,
            ..v
        });
        self.rmap.vma_moved(&mut self.core.ctx(), src, nv);
        (nv, false)
    }

    /// The old range stays mapped, empty (`dontunmap_complete`); if it was
    /// the whole VMA and did not merge into the new one, the VMA's
    /// anonymous state goes (`unlink_anon_vmas`: its pages all moved).
    fn dontunmap_complete(&mut self, src: VmaId, new_vma: VmaId, r: &Remap) {
        let v = self.core.vmas[src];
        if new_vma != src && r.addr == v.start && r.addr + r.old_len == v.end {
            self.rmap.vma_anon_dropped(&mut self.core.ctx(), src);
        }
    }
}
