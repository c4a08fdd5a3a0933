//! Frame-level primitives shared by faults, unmapping and reclaim: frame
//! allocation with direct reclaim, page-table allocation, dropping one
//! mapping of a page, and the swap cache.

use crate::addr::Pfn;
use crate::error::Errno;
use crate::frame::{LruList, ZERO_PFN, flags as pf};
use crate::locks::{Acq, LockClass, WorkKind};
use crate::pgtable::PtePtr;
use crate::rmap::{MapAt, ReverseMap};
use crate::system::System;
use crate::vma::MmId;

/// Pages reclaim frees per direct-reclaim round (Linux's SWAP_CLUSTER_MAX).
pub const SWAP_CLUSTER_MAX: u64 = 32;

impl<R: ReverseMap> System<R> {
    /// A free frame, reclaiming first when free frames are at or under the
    /// watermark. ENOMEM when reclaim cannot free anything.
    pub(crate) fn alloc_frame(&mut self) -> Result<Pfn, Errno> {
        if self.core.frames.free_count() <= self.core.watermark {
            self.direct_reclaim();
        }
        for _ in 0..4 {
            if let Some(p) = self.core.frames.alloc() {
                return Ok(p);
            }
            if self.direct_reclaim() == 0 {
                break;
            }
        }
        self.core.counters.oom += 1;
        Err(Errno::ENOMEM)
    }

    /// Reclaim for an allocation, unless the last attempt freed nothing and
    /// since then no frame was freed and fewer than a cluster of new pages
    /// appeared: it would scan the same unreclaimable pages again (with no
    /// swap, a full memory of anonymous pages would cost a whole LRU scan
    /// per allocation).
    fn direct_reclaim(&mut self) -> u64 {
        let (allocs, frees) = self.core.frames.events();
        if let Some((a, f)) = self.futile_reclaim_at
            && f == frees
            && allocs - a < SWAP_CLUSTER_MAX
        {
            return 0;
        }
        let freed = self.reclaim(SWAP_CLUSTER_MAX);
        self.futile_reclaim_at = (freed == 0).then(|| self.core.frames.events());
        freed
    }

    /// The PTE slot of `addr`, allocating missing page tables (each one
    /// frame, which may need reclaim).
    pub(crate) fn ensure_pte(&mut self, mm: MmId, addr: u64) -> Result<PtePtr, Errno> {
        let root = self.core.mm(mm).root;
        if let Some(p) = self.core.pt.lookup(root, addr) {
            return Ok(p);
        }
        let need = self.core.pt.missing(root, addr);
        let mut frames = Vec::with_capacity(need);
        for _ in 0..need {
            match self.alloc_frame() {
                Ok(f) => {
                    let fr = self.core.frames.get_mut(f);
                    fr.set(pf::PGTABLE);
                    fr.mapping = mm.0 as u64;
                    frames.push(f);
                }
                Err(e) => {
                    for f in frames {
                        self.core.frames.free(f);
                    }
                    return Err(e);
                }
            }
        }
        // Reclaim never frees page tables, so `need` still holds. New
        // tables are installed under the mm's page_table_lock.
        self.core.work(WorkKind::ObjAlloc, need as u64);
        let l = self
            .core
            .lock(Acq::excl(LockClass::Ptl, self.core.mm_ptl(mm)));
        let p = self.core.pt.ensure(root, addr, &mut frames);
        self.core.unlock(l);
        Ok(p)
    }

    /// Take the page lock (reclaim skips locked pages).
    pub(crate) fn lock_page(&mut self, pfn: Pfn) {
        self.core.frames.get_mut(pfn).set(pf::LOCKED);
    }
    pub(crate) fn unlock_page(&mut self, pfn: Pfn) {
        self.core.frames.get_mut(pfn).clear(pf::LOCKED);
    }

    /// Give a fresh frame its identity as a new anonymous page at linear
    /// index `index` holding `content`, on the active anon list.
    pub(crate) fn init_anon(&mut self, pfn: Pfn, index: u64, content: u64) {
        let f = self.core.frames.get_mut(pfn);
        f.set(pf::ANON);
        f.index = index;
        f.content = content;
        self.core.frames.lru_add(pfn, LruList::ActiveAnon);
        self.lru_added();
    }

    /// A page joined an LRU list: pages are added in batches (pagevecs),
    /// one LRU lock acquisition per batch of the era's size.
    pub(crate) fn lru_added(&mut self) {
        self.lru_pending += 1;
        if self.lru_pending >= self.core.locks.protocol().lru_batch {
            self.lru_pending = 0;
            let l = self.core.lock(Acq::excl(LockClass::LruLock, 0));
            self.core.unlock(l);
        }
    }

    /// Return an unmapped, uncached page to the free pool.
    pub(crate) fn free_page(&mut self, pfn: Pfn) {
        debug_assert!(pfn != ZERO_PFN);
        debug_assert_eq!(self.core.frames.get(pfn).mapcount, 0);
        self.core.frames.lru_del(pfn);
        self.rmap.page_freed(&mut self.core.ctx(), pfn);
        self.core.frames.free(pfn);
    }

    /// One PTE no longer maps `pfn` (the caller changed the PTE already).
    pub(crate) fn unmap_one(&mut self, pfn: Pfn, at: MapAt, dirty: bool) {
        let f = self.core.frames.get_mut(pfn);
        debug_assert!(f.mapcount > 0, "unmapping an unmapped page {pfn:?}");
        f.mapcount -= 1;
        f.refcount -= 1;
        let anon = f.has(pf::ANON);
        if dirty && !anon {
            f.set(pf::DIRTY);
        }
        let left = f.mapcount;
        let m = self.core.mm_mut(at.mm);
        if anon {
            m.rss_anon -= 1;
        } else {
            m.rss_file -= 1;
        }
        self.rmap.page_remove(&mut self.core.ctx(), pfn, at);
        if anon && left == 0 {
            let f = self.core.frames.get(pfn);
            if !f.has(pf::SWAPCACHE) {
                self.free_page(pfn);
            } else if self.core.swap.slot(f.private).count == 0 {
                self.delete_from_swap_cache(pfn);
                self.free_page(pfn);
            }
        }
    }

    /// Map `pfn` at `at` with entry `pte`, counting the mapping (not for the
    /// zero page).
    pub(crate) fn map_one(&mut self, pfn: Pfn, at: MapAt, pte: crate::pte::Pte, new_page: bool) {
        self.core.pt.set(at.pte, pte);
        let f = self.core.frames.get_mut(pfn);
        f.mapcount += 1;
        f.refcount += 1;
        let anon = f.has(pf::ANON);
        let m = self.core.mm_mut(at.mm);
        if anon {
            m.rss_anon += 1;
            self.rmap
                .page_add_anon(&mut self.core.ctx(), pfn, at, new_page);
        } else {
            m.rss_file += 1;
            self.rmap.page_add_file(&mut self.core.ctx(), pfn, at);
        }
    }

    pub(crate) fn add_to_swap_cache(&mut self, pfn: Pfn, slot: u32) {
        let f = self.core.frames.get_mut(pfn);
        f.set(pf::SWAPCACHE);
        f.private = slot;
        f.refcount += 1;
        self.core.swap.slot_mut(slot).cache = pfn.0;
    }

    /// Drop `pfn` from the swap cache; its slot is freed if no swap PTE
    /// names it.
    pub(crate) fn delete_from_swap_cache(&mut self, pfn: Pfn) {
        let f = self.core.frames.get_mut(pfn);
        debug_assert!(f.has(pf::SWAPCACHE));
        let slot = f.private;
        f.clear(pf::SWAPCACHE);
        f.private = 0;
        f.refcount -= 1;
        self.core.swap.slot_mut(slot).cache = crate::frame::NIL;
        self.core.swap.release_if_unused(slot);
    }

    /// One swap PTE naming `slot` went away (`free_swap_and_cache`): when
    /// none is left, the slot is freed, and its swap-cache page with it if
    /// nothing maps that page.
    pub(crate) fn swap_put(&mut self, slot: u32) {
        let l = self.core.lock(Acq::excl(LockClass::SwapLock, 0));
        let s = self.core.swap.slot_mut(slot);
        debug_assert!(s.count > 0);
        s.count -= 1;
        let left = s.count;
        self.core.unlock(l);
        if left > 0 {
            return;
        }
        if let Some(pfn) = self.core.swap.cached(slot) {
            if self.core.frames.get(pfn).has(pf::LOCKED) {
                // A fault holds the page; it will see the count at zero.
                return;
            }
            self.delete_from_swap_cache(pfn);
            if self.core.frames.get(pfn).mapcount == 0 {
                self.free_page(pfn);
            }
        } else {
            self.core.swap.release_if_unused(slot);
        }
    }
}
