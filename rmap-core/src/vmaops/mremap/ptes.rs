//! Moving page tables (`move_page_tables`, `move_ptes`): every PTE of the
//! old range moves to the same offset of the new one. Pages are not copied
//! and their mapcounts do not change; swap entries, nonlinear file PTEs,
//! guard and protection markers move as they are. The backend hears of
//! each moved page (`page_moved`).
//!
//! Steps, so that a failure changes nothing the caller cannot undo:
//! 1. pages the backend could not follow to a second address (anonmm:
//!    shared with another mm) are copied first, by a copy-on-write at the
//!    old address (rmap 11's `make_page_exclusive`);
//! 2. the destination's page tables are allocated (ENOMEM here moves
//!    nothing);
//! 3. the PTEs move, under the page-table locks of each pair of tables
//!    (the old table's, then the new one's nested in it), inside the rmap
//!    locks of the moved VMA (`take_rmap_locks`: its file's `i_mmap` and
//!    its anon_vma, for writing) where 6.18 takes them: when the new VMA
//!    merged into one at or before the old page offset (`need_rmap_locks`),
//!    or when a whole page table moves (an aligned 2 MiB extent, which
//!    Linux moves as one PMD entry; the model still moves its PTEs one by
//!    one and counts each).
//!
//! Work: a PTE zapped and a PTE set per PTE moved.

use crate::error::Errno;
use crate::frame::{ZERO_PFN, flags as pf};
use crate::locks::{Acq, LockClass, WorkKind};
use crate::pgtable::{PTE_TABLE_SPAN, PtePtr};
use crate::pte::PteKind;
use crate::rmap::{MapAt, ReverseMap};
use crate::system::{Lk, System};
use crate::vma::VmaId;

/// The locks held for one pair of page tables: (old table, new table),
/// the rmap locks, the two page-table locks.
struct Held {
    pair: (u32, u32),
    locks: Vec<Lk>,
}

impl<R: ReverseMap> System<R> {
    /// Move the PTEs of `len` bytes at `old.1` (in VMA `old.0`) to `new.1`
    /// (in VMA `new.0`), in one mm. ENOMEM, with nothing moved, when a
    /// page or a page table cannot be allocated.
    pub(super) fn move_page_tables(
        &mut self,
        old: (VmaId, u64),
        new: (VmaId, u64),
        len: u64,
        need_rmap_locks: bool,
    ) -> Result<(), Errno> {
        let mm = self.core.vmas[old.0].mm;
        let root = self.core.mm(mm).root;
        let mut buf = Vec::new();
        self.core.pt.collect(root, old.1, old.1 + len, &mut buf);
        let to = |va: u64| va - old.1 + new.1;
        self.copy_unfollowable(old.0, &buf, to)?;
        for &(_, va) in &buf {
            self.ensure_pte(mm, to(va))?;
        }
        // a whole table moves when both ends are table aligned
        let aligned = (new.1.wrapping_sub(old.1)) % PTE_TABLE_SPAN == 0;
        let whole = |va: u64| {
            let base = va & !(PTE_TABLE_SPAN - 1);
            aligned && base >= old.1 && base + PTE_TABLE_SPAN <= old.1 + len
        };
        let mut held: Option<Held> = None;
        for (p, va) in buf {
            let pte = self.core.pt.get(p);
            if pte.is_none() {
                continue; // reclaim unmapped it meanwhile
            }
            let np = self.core.pte_ptr(mm, to(va)).expect("allocated above");
            if held
                .as_ref()
                .is_none_or(|h| h.pair != (p.slot(), np.slot()))
            {
                self.release_held(held.take());
                held = Some(self.lock_pair(old.0, p, np, need_rmap_locks || whole(va)));
            }
            self.core.work(WorkKind::PteZap, 1);
            self.core.work(WorkKind::PteSet, 1);
            self.core.counters.ptes_moved += 1;
            self.core.pt.set(np, pte);
            self.core.pt.set(p, crate::pte::Pte::NONE);
            if let PteKind::Present(pfn) = pte.kind()
                && pfn != ZERO_PFN
            {
                let from = MapAt {
                    mm,
                    vma: old.0,
                    addr: va,
                    pte: p,
                };
                let at = MapAt {
                    mm,
                    vma: new.0,
                    addr: to(va),
                    pte: np,
                };
                self.rmap.page_moved(&mut self.core.ctx(), pfn, from, at);
            }
        }
        self.release_held(held);
        Ok(())
    }

    /// Step 1: copy, at the old address, every anonymous page the backend
    /// could not also find at its new one (`ReverseMap::anon_needs_copy`).
    fn copy_unfollowable(
        &mut self,
        vid: VmaId,
        ptes: &[(PtePtr, u64)],
        to: impl Fn(u64) -> u64,
    ) -> Result<(), Errno> {
        for &(p, va) in ptes {
            let Some(pfn) = self.core.pt.get(p).pfn() else {
                continue;
            };
            let f = self.core.frames.get(pfn);
            if pfn == ZERO_PFN
                || !f.has(pf::ANON)
                || !self.rmap.anon_needs_copy(&self.core, pfn, to(va), true)
            {
                continue;
            }
            self.cow_copy(vid, va, p, pfn)?;
            self.core.counters.move_cows += 1;
        }
        Ok(())
    }

    /// Take the locks of one pair of tables: the rmap locks of `vid` when
    /// `rmap_locks` (its file's `i_mmap`, its anon_vma), then the old
    /// table's page-table lock and the new one's nested in it (one lock
    /// when both are the same, as with the mm-wide `page_table_lock`).
    fn lock_pair(&mut self, vid: VmaId, old: PtePtr, new: PtePtr, rmap_locks: bool) -> Held {
        let mm = self.core.vmas[vid].mm;
        let mut locks = Vec::with_capacity(4);
        if rmap_locks {
            if let Some(f) = self.core.vmas[vid].file {
                locks.push(self.core.lock(Acq::excl(LockClass::IMmap, f.0 as u64)));
            }
            locks.push(self.rmap.anon_lock(&mut self.core.ctx(), vid));
        }
        let (a, b) = (self.core.ptl(mm, old), self.core.ptl(mm, new));
        locks.push(self.core.lock(Acq::excl(LockClass::Ptl, a)));
        if b != a {
            locks.push(self.core.lock(Acq::excl(LockClass::Ptl, b).nested()));
        }
        Held {
            pair: (old.slot(), new.slot()),
            locks,
        }
    }

    /// Release what [`System::lock_pair`] took, innermost first.
    fn release_held(&mut self, held: Option<Held>) {
        if let Some(h) = held {
            for l in h.locks.into_iter().rev() {
                self.core.unlock(l);
            }
        }
    }
}
