//! Reclaim: active/inactive LRU lists with second chance, driving the
//! backend's walk through `page_referenced` and `try_to_unmap`.
//!
//! One round scans the inactive lists from their tails. A mapped page whose
//! PTEs were referenced (test-and-clear of the accessed bits over an rmap
//! walk) is moved to its active list; otherwise an anonymous page is added
//! to swap and unmapped (each PTE becomes a swap entry that keeps the
//! page's own protection), a file page is unmapped (a nonlinear PTE keeps
//! its file offset) and written back if dirty, and the frame is freed.
//! When an inactive list is shorter than its active list, pages move over
//! from the active tail, with referenced mapped pages kept active (the
//! 2.6 `refill_inactive_zone`). A full swap device keeps the page active.

use crate::addr::Pfn;
use crate::frame::{LruList, flags as pf};
use crate::locks::{Acq, LockClass, WorkKind};
use crate::mem::SWAP_CLUSTER_MAX;
use crate::nonlinear::NonlinearEra;
use crate::pgtable::PtePtr;
use crate::pte::Pte;
use crate::rmap::{MapAt, ReverseMap};
use crate::system::Lk;
use crate::system::System;
use crate::vma::{MmId, vmf};
use crate::walk::Walk;

impl<R: ReverseMap> System<R> {
    /// Try to free `nr` frames; returns how many were freed. The wall time
    /// it takes is added to `reclaim_ns`.
    pub fn reclaim(&mut self, nr: u64) -> u64 {
        let t0 = std::time::Instant::now();
        let freed = self.reclaim_untimed(nr);
        self.reclaim_ns += t0.elapsed().as_nanos() as u64;
        freed
    }

    fn reclaim_untimed(&mut self, nr: u64) -> u64 {
        let fr = &self.core.frames;
        let total: u64 = LruList::ALL.iter().map(|&l| fr.lru_len(l)).sum();
        let mut budget = 2 * total + 64;
        let mut freed = 0;
        while freed < nr && budget > 0 {
            self.refill(true);
            self.refill(false);
            let mut scanned = 0;
            for list in [LruList::InactiveFile, LruList::InactiveAnon] {
                let n = SWAP_CLUSTER_MAX.min(self.core.frames.lru_len(list));
                if n > 0 {
                    self.lru_isolate();
                }
                for _ in 0..n {
                    if freed >= nr || budget == 0 {
                        break;
                    }
                    let Some(pfn) = self.core.frames.lru_tail(list) else {
                        break;
                    };
                    budget -= 1;
                    scanned += 1;
                    self.core.counters.reclaim_scanned += 1;
                    if self.shrink_page(pfn, false) {
                        freed += 1;
                    }
                }
            }
            if scanned == 0 {
                // Nothing inactive and nothing could be deactivated.
                let active = self.core.frames.lru_len(LruList::ActiveAnon)
                    + self.core.frames.lru_len(LruList::ActiveFile);
                if active == 0 {
                    break;
                }
                budget = budget.saturating_sub(SWAP_CLUSTER_MAX);
                self.deactivate_all_scan();
            }
        }
        freed
    }

    /// Move pages from the active tail to the inactive list while the
    /// inactive list is the shorter one.
    fn refill(&mut self, anon: bool) {
        let (act, inact) = (LruList::of(anon, true), LruList::of(anon, false));
        let mut n = SWAP_CLUSTER_MAX.min(self.core.frames.lru_len(act));
        if n > 0 && self.core.frames.lru_len(inact) < self.core.frames.lru_len(act) {
            self.lru_isolate();
        }
        while n > 0 && self.core.frames.lru_len(inact) < self.core.frames.lru_len(act) {
            n -= 1;
            let Some(pfn) = self.core.frames.lru_tail(act) else {
                break;
            };
            let f = self.core.frames.get(pfn);
            if f.has(pf::LOCKED) {
                self.core.frames.lru_move(pfn, act);
                continue;
            }
            if f.mapcount > 0 && self.page_referenced(pfn) > 0 {
                self.core.frames.lru_move(pfn, act);
            } else {
                self.core.frames.lru_move(pfn, inact);
            }
        }
    }

    /// Isolating a batch of pages from an LRU list takes the LRU lock once
    /// (`isolate_lru_pages`, `shrink_active_list`); the walks run after it
    /// is dropped (2.5.33 on).
    fn lru_isolate(&mut self) {
        let l = self.core.lock(Acq::excl(LockClass::LruLock, 0));
        self.core.unlock(l);
    }

    /// When both inactive lists are empty, deactivate one batch regardless
    /// of balance, so that reclaim always makes progress.
    fn deactivate_all_scan(&mut self) {
        self.lru_isolate();
        for anon in [false, true] {
            let (act, inact) = (LruList::of(anon, true), LruList::of(anon, false));
            for _ in 0..SWAP_CLUSTER_MAX {
                let Some(pfn) = self.core.frames.lru_tail(act) else {
                    break;
                };
                if self.core.frames.get(pfn).has(pf::LOCKED) {
                    self.core.frames.lru_move(pfn, act);
                    continue;
                }
                self.core.frames.lru_move(pfn, inact);
            }
        }
    }

    /// Try to free one LRU page. `ignore_refs` skips the referenced check
    /// (MADV_PAGEOUT). Returns whether the frame was freed; a page that
    /// stays is moved off the tail.
    ///
    /// Reclaim trylocks the page (`shrink_list`'s `TestSetPageLocked`,
    /// `shrink_folio_list`'s `folio_trylock`) and holds it throughout.
    pub(crate) fn shrink_page(&mut self, pfn: Pfn, ignore_refs: bool) -> bool {
        let l = self
            .core
            .lock(Acq::excl(LockClass::PageLock, pfn.0 as u64).try_lock());
        let freed = self.shrink_locked(pfn, ignore_refs);
        self.core.unlock(l);
        freed
    }

    fn shrink_locked(&mut self, pfn: Pfn, ignore_refs: bool) -> bool {
        let f = *self.core.frames.get(pfn);
        let anon = f.has(pf::ANON);
        if f.has(pf::LOCKED) {
            self.core.frames.lru_move(pfn, LruList::of(anon, false));
            return false;
        }
        if !ignore_refs {
            let refs = if f.mapcount > 0 {
                self.page_referenced(pfn)
            } else {
                0
            };
            if refs > 0 {
                self.core.frames.lru_move(pfn, LruList::of(anon, true));
                return false;
            }
        }
        if anon {
            if !f.has(pf::SWAPCACHE) {
                // add_to_swap: get_swap_page under the swap lock
                let sl = self.core.lock(Acq::excl(LockClass::SwapLock, 0));
                let slot = self.core.swap.alloc();
                self.core.unlock(sl);
                match slot {
                    Some(slot) => self.add_to_swap_cache(pfn, slot),
                    None => {
                        self.core.frames.lru_move(pfn, LruList::ActiveAnon);
                        return false;
                    }
                }
            }
            if self.core.frames.get(pfn).mapcount > 0 {
                self.try_to_unmap(pfn);
            }
            if self.core.frames.get(pfn).mapcount > 0 {
                // The walk missed a mapping: keep the page (validation
                // reports the backend's error).
                self.core.frames.lru_move(pfn, LruList::ActiveAnon);
                return false;
            }
            let slot = self.core.frames.get(pfn).private;
            self.core.swap.slot_mut(slot).content = self.core.frames.get(pfn).content;
            self.core.counters.swapouts += 1;
            self.core.work(WorkKind::PageIo, 1);
            self.delete_from_swap_cache(pfn);
        } else {
            if f.mapcount > 0 {
                self.try_to_unmap(pfn);
            }
            let f = *self.core.frames.get(pfn);
            if f.mapcount > 0 {
                // The 2.6.7-3.19 cluster scan may leave a nonlinear mapping
                // for next time (SWAP_AGAIN: the page stays inactive); in
                // other eras the walk missed a mapping (validation reports
                // the backend's error) and the page is kept active.
                let list = if self.core.nonlinear == NonlinearEra::Cluster {
                    LruList::InactiveFile
                } else {
                    LruList::ActiveFile
                };
                self.core.frames.lru_move(pfn, list);
                return false;
            }
            let file = crate::vma::FileId(f.mapping as u32);
            let dirty = f.has(pf::DIRTY);
            let file_obj = self.core.file_mut(file);
            if dirty {
                file_obj.store.insert(f.index, f.content);
            }
            file_obj.cache.remove(&f.index);
            self.core.counters.writebacks += dirty as u64;
            self.core.work(WorkKind::PageIo, dirty as u64);
            self.core.frames.get_mut(pfn).refcount -= 1;
            self.core.counters.file_evictions += 1;
        }
        self.free_page(pfn);
        self.core.counters.reclaim_freed += 1;
        true
    }

    /// Run the backend's walk for `pfn` into the reused buffer and record
    /// the locks the walk holds (released by [`System::end_walk`], which
    /// also counts the walk's cost). `referenced` for page_referenced's
    /// walk.
    fn run_walk(&mut self, pfn: Pfn, referenced: bool, until_all_found: bool) -> Walk {
        let mut w = std::mem::take(&mut self.walkbuf);
        w.clear();
        w.referenced = referenced;
        let mapcount = self.core.frames.get(pfn).mapcount;
        w.want = (until_all_found && mapcount > 0).then_some((pfn, mapcount));
        self.rmap.walk(&self.core, pfn, &mut w);
        debug_assert!(self.walk_locks.is_empty());
        self.core.locks.mark_walk(true);
        for &a in &w.holds {
            let l = self.core.lock(a);
            self.walk_locks.push(l);
        }
        self.core.locks.mark_walk(false);
        self.rmap.walk_done(&mut self.core.ctx(), pfn);
        w
    }

    /// The walk `w` is done after its first `used` candidates: count what
    /// it cost, up to the last one used if the era's walk `stopped` there
    /// (every mapping found), else all of it; under its locks. Then
    /// release them and keep its buffer.
    fn end_walk(&mut self, mut w: Walk, used: usize, stopped: bool) {
        self.record_misses(&mut w);
        let cost = match used.checked_sub(1) {
            Some(last) if stopped => w.cands[last].cost,
            _ => w.cost(),
        };
        let s = &mut self.core.walk_stats;
        s.walks += 1;
        s.vmas_visited += cost.vmas_visited;
        s.ptes_checked += cost.ptes_scanned + used as u64;
        self.core.work(WorkKind::VmaVisit, cost.vmas_visited);
        self.core.work(WorkKind::PteCheck, cost.ptes_scanned);
        self.core.work(WorkKind::ChainBlock, cost.chain_blocks);
        self.core.locks.mark_walk(true);
        while let Some(l) = self.walk_locks.pop() {
            self.core.unlock(l);
        }
        self.core.locks.mark_walk(false);
        self.walkbuf = w;
    }

    /// The page-table lock a walk takes to check a PTE, if it takes one
    /// (`page_referenced` took none in some eras), at instance 0: the
    /// instance is the PTE's ([`System::walk_ptl`]).
    #[inline]
    fn walk_ptl_kind(&self, referenced: bool) -> Option<Acq> {
        let proto = self.core.locks.protocol();
        (!referenced || proto.referenced_ptl).then(|| {
            let mut a = Acq::excl(LockClass::Ptl, 0);
            a.try_ = proto.walk_ptl_try;
            a
        })
    }

    /// The page-table lock a walk takes to check PTE `p` of `mm`, if any.
    #[inline]
    fn walk_ptl(&self, mm: MmId, p: PtePtr, referenced: bool) -> Option<Acq> {
        let inst = self.core.ptl(mm, p);
        self.walk_ptl_kind(referenced).map(|a| Acq { inst, ..a })
    }

    /// Misses under lock `ptl` (any instance), or none, follow: a run of
    /// misses kept under another is recorded first (a run holds probes of
    /// one lock but for the instance, after the unlocked checks before
    /// it).
    #[inline]
    fn miss_run(&mut self, w: &mut Walk, ptl: Option<Acq>) {
        let other = match ptl {
            Some(a) => w.miss_acq.is_some_and(|m| Acq { inst: a.inst, ..m } != a),
            None => w.miss_acq.is_some(),
        };
        if other {
            self.record_misses(w);
        }
        if ptl.is_some() {
            w.miss_acq = ptl;
        }
    }

    /// A miss: the lock `ptl` taken, the PTE checked, the lock dropped;
    /// kept in `w` to be recorded with the walk's other misses in a row.
    #[inline]
    fn note_miss(&mut self, w: &mut Walk, ptl: Option<Acq>) {
        self.miss_run(w, ptl);
        match ptl {
            Some(a) => w.miss_insts.push(a.inst),
            None => w.misses_unlocked += 1,
        }
    }

    /// Consume the candidates from `i` on that [`Walk::visit_list`] has
    /// already found not to map the frame (what `resolve` does with a
    /// miss, without reading the PTE again); the index of the first other
    /// candidate.
    fn skip_known_misses(&mut self, pfn: Pfn, w: &mut Walk, i: usize, referenced: bool) -> usize {
        let Some(rest) = w.known_maps.get(i..) else {
            return i;
        };
        let end = rest
            .iter()
            .position(|&m| m)
            .map_or(w.known_maps.len(), |k| i + k);
        let run = i..end;
        debug_assert!(
            w.known[run.clone()]
                .iter()
                .flatten()
                .all(|&p| self.core.pt.get(p).pfn() != Some(pfn))
        );
        // as `note_miss` each in turn (all take the same lock, but for the
        // instance, or none), without a call each
        let present = w.known[run.clone()].iter().flatten().count() as u64;
        if present == 0 {
            return end;
        }
        let ptl = self.walk_ptl_kind(referenced);
        self.miss_run(w, ptl);
        if ptl.is_some() {
            for k in run {
                if let Some(p) = w.known[k] {
                    w.miss_insts.push(self.core.ptl(w.cands[k].mm, p));
                }
            }
        } else {
            w.misses_unlocked += present;
        }
        end
    }

    /// Record the misses `resolve` has kept in `w` (in order, as if each
    /// had been recorded when met: nothing else is recorded in between).
    fn record_misses(&mut self, w: &mut Walk) {
        if w.misses_unlocked > 0 {
            self.core
                .work(WorkKind::PteCheck, std::mem::take(&mut w.misses_unlocked));
        }
        if let Some(a) = w.miss_acq.take() {
            self.core
                .locks
                .probes(a, &w.miss_insts, WorkKind::PteCheck, 1);
            w.miss_insts.clear();
        }
    }

    /// The PTE of a walk candidate if it maps `pfn`, with its VMA; the
    /// page-table lock of the candidate's PTE is taken (recorded) as the
    /// era's walk takes it, and returned with it.
    fn resolve(
        &mut self,
        pfn: Pfn,
        w: &mut Walk,
        i: usize,
        referenced: bool,
    ) -> (Option<MapAt>, Lk) {
        let c = w.cands[i];
        let Some(p) = self.core.cand_pte(w, i) else {
            return (None, Lk::NONE);
        };
        let ptl = self.walk_ptl(c.mm, p, referenced);
        if self.core.pt.get(p).pfn() != Some(pfn) {
            self.note_miss(w, ptl);
            return (None, Lk::NONE);
        }
        self.record_misses(w);
        let lk = ptl.map_or(Lk::NONE, |a| self.core.lock(a));
        self.core.work(WorkKind::PteCheck, 1);
        let vma = c.vma.or_else(|| self.core.find_vma(c.mm, c.addr));
        let at = vma.map(|vma| MapAt {
            mm: c.mm,
            vma,
            addr: c.addr,
            pte: p,
        });
        (at, lk)
    }

    /// Test and clear the accessed bit of every PTE that maps `pfn`;
    /// returns how many were set (`page_referenced`). Where the era's walk
    /// stops early, it stops once it has found as many PTEs as the page
    /// has mappings (the `mapcount` countdown of `page_referenced_one`,
    /// 2.6.7 on); a mapping the walk does not report (a nonlinear VMA in
    /// 2.6.7-3.19) keeps it from stopping.
    pub fn page_referenced(&mut self, pfn: Pfn) -> u32 {
        let mut w = self.run_walk(pfn, true, true);
        let mut left = self.core.frames.get(pfn).mapcount;
        let (mut refs, mut used, mut stopped) = (0, 0, false);
        let mut i = 0;
        while i < w.cands.len() {
            // the misses found already, then one candidate
            let next = self.skip_known_misses(pfn, &mut w, i, true);
            used += next - i;
            i = next;
            if i == w.cands.len() {
                break;
            }
            used += 1;
            let (at, lk) = self.resolve(pfn, &mut w, i, true);
            i += 1;
            if let Some(at) = at {
                self.core.walk_stats.hits += 1;
                left = left.saturating_sub(1);
                let pte = self.core.pt.get(at.pte);
                if pte.accessed() {
                    self.core.pt.set(at.pte, pte.mkold());
                    refs += 1;
                }
            }
            self.core.unlock(lk);
            if w.stops && left == 0 {
                stopped = true;
                break;
            }
        }
        self.end_walk(w, used, stopped);
        refs
    }

    /// How many PTEs map `pfn`, found through the whole walk (it never
    /// stops early; in the 2.6.7-3.19 eras it does not count nonlinear
    /// mappings).
    pub fn page_mapped_count(&mut self, pfn: Pfn) -> u32 {
        let mut w = self.run_walk(pfn, false, false);
        let mut n = 0;
        for i in 0..w.cands.len() {
            let (at, lk) = self.resolve(pfn, &mut w, i, false);
            if at.is_some() {
                self.core.walk_stats.hits += 1;
                n += 1;
            }
            self.core.unlock(lk);
        }
        let used = w.cands.len();
        self.end_walk(w, used, false);
        n
    }

    /// Replace every PTE that maps `pfn` (`try_to_unmap`): a swap entry for
    /// an anonymous page in the swap cache, the file offset in a nonlinear
    /// VMA, a protection marker where the page had its own protection, else
    /// none. Where the era's walk stops early, it stops as soon as the page
    /// is no longer mapped (2.6.7 on). In the 2.6.7-3.19 eras a file page
    /// still mapped after the walk goes on to the nonlinear VMAs' cluster
    /// scan ([`crate::nonlinear`]).
    pub fn try_to_unmap(&mut self, pfn: Pfn) {
        let mut w = self.run_walk(pfn, false, true);
        let mut used = 0;
        let mut i = 0;
        while i < w.cands.len() {
            if w.stops && self.core.frames.get(pfn).mapcount == 0 {
                break;
            }
            let next = self.skip_known_misses(pfn, &mut w, i, false);
            used += next - i;
            i = next;
            if i == w.cands.len() {
                break;
            }
            used += 1;
            let (at, lk) = self.resolve(pfn, &mut w, i, false);
            i += 1;
            let Some(at) = at else {
                self.core.unlock(lk);
                continue;
            };
            self.core.walk_stats.hits += 1;
            let pte = self.core.pt.get(at.pte);
            let f = *self.core.frames.get(pfn);
            let v = self.core.vmas[at.vma];
            let saved = if v.has(vmf::MANY_PROTS) {
                pte.saved_prot()
            } else {
                None
            };
            let new = if f.has(pf::ANON) {
                debug_assert!(f.has(pf::SWAPCACHE));
                // swap_duplicate
                let sl = self.core.lock(Acq::excl(LockClass::SwapLock, 0));
                self.core.swap.slot_mut(f.private).count += 1;
                self.core.unlock(sl);
                self.core.mm_mut(at.mm).swap_ents += 1;
                Pte::swap(f.private, saved)
            } else if v.has(vmf::NONLINEAR) {
                Pte::file(f.index, saved)
            } else if let Some(s) = saved {
                Pte::prot_only(s)
            } else {
                Pte::NONE
            };
            self.core.pt.set(at.pte, new);
            self.core.work(WorkKind::PteZap, 1);
            self.unmap_one(pfn, at, pte.dirty());
            self.core.unlock(lk);
        }
        let stopped = w.stops && self.core.frames.get(pfn).mapcount == 0;
        self.end_walk(w, used, stopped);
        let f = self.core.frames.get(pfn);
        if self.core.nonlinear == NonlinearEra::Cluster && f.mapcount > 0 && !f.has(pf::ANON) {
            self.try_to_unmap_nonlinear(pfn);
        }
    }
}
