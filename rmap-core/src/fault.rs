//! Page faults and page access (`touch`), after Linux's `mm/memory.c`.
//!
//! - anonymous read: maps the shared zero page (no anonymous state, no
//!   reverse mapping, no RSS);
//! - anonymous write: `anon_prepare`, a new zeroed page;
//! - file read: the page-cache page, read-only; SIGBUS (EFAULT here) past
//!   the end of the file;
//! - file write: shared maps the page-cache page writable and dirty;
//!   private copies it to a new anonymous page (COW);
//! - write to a read-only present page: reuse if the page is exclusively
//!   mapped anonymous memory, else copy (COW); the zero page is always
//!   copied;
//! - swap entry: swap in through the swap cache;
//! - nonlinear file entry: the file page it names;
//! - guard marker: EFAULT (SIGSEGV).
//!
//! Access rights are the VMA's protection, or in a many-prots VMA the
//! page's own saved protection. Write implies read (x86); exec-only is
//! readable unless protection keys are on (`Config::pkeys`: Linux then
//! gives exec-only mappings an access-denying protection key).

use crate::addr::{PAGE_SIZE, Pfn};
use crate::error::Errno;
use crate::frame::{ZERO_PFN, flags as pf};
use crate::locks::{Acq, LockClass, WorkKind};
use crate::ops::{Access, Prot};
use crate::pgtable::PtePtr;
use crate::pte::{Pte, PteKind};
use crate::rmap::{AnonNeed, MapAt, ReverseMap};
use crate::system::Lk;
use crate::system::System;
use crate::vma::{MmId, Vma, VmaId, vmf};

/// Whether protection `prot` allows the access: write implies read (x86
/// page tables have no write-only pages), and so does exec unless
/// protection keys make an exec-only page unreadable (`Config::pkeys`).
#[inline]
fn allowed(prot: Prot, acc: Access, pkeys: bool) -> bool {
    match acc {
        Access::Read => prot.read() || prot.write() || (prot.exec() && !pkeys),
        Access::Write => prot.write(),
    }
}

/// Record in `taken` the kind of a fault that ran (an error still counts
/// as a fault taken, named by its VMA).
#[inline]
fn note(taken: &mut Option<FaultKind>, k: Result<FaultKind, Errno>, v: &Vma) {
    let k = k.unwrap_or(FaultKind::of_vma(v));
    *taken = Some(taken.map_or(k, |t| t.max(k)));
}

/// The protection in force for a page: its own in a many-prots VMA.
#[inline]
pub(crate) fn page_prot(v: &Vma, pte: Pte) -> Prot {
    if v.has(vmf::MANY_PROTS) {
        pte.saved_prot().unwrap_or(v.prot())
    } else {
        v.prot()
    }
}

/// Saved protection to carry into a new PTE (many-prots VMAs only).
#[inline]
fn carried(v: &Vma, pte: Pte) -> Option<Prot> {
    if v.has(vmf::MANY_PROTS) {
        pte.saved_prot()
    } else {
        None
    }
}

/// What kind of fault a page access took, as the suite reports fault
/// latencies. When one access takes several faults (a swap-in, then a
/// write-protect fault), the first kind in this order names it: swap-in,
/// copy-on-write, then file or anonymous by the VMA.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum FaultKind {
    /// A fault in an anonymous VMA: a new zeroed page, the zero page, or
    /// the reuse of an exclusive page.
    Anon,
    /// A fault in a file VMA that mapped the page-cache page itself.
    File,
    /// A copy on write (of a private file page, a shared anonymous page or
    /// the zero page).
    Cow,
    /// A swap-in (through the swap cache).
    SwapIn,
}

impl FaultKind {
    /// A fault that neither copied nor swapped in, named by its VMA.
    #[inline]
    fn of_vma(v: &Vma) -> FaultKind {
        if v.file.is_some() {
            FaultKind::File
        } else {
            FaultKind::Anon
        }
    }
}

/// Watches the steps of an op that the benchmark runner times one by one.
/// Every method has a do-nothing default; `()` is the observer that
/// watches nothing.
pub trait Observer {
    /// One page of a `touch` was accessed (successfully or not); `fault` is
    /// the fault it took, if any.
    fn page_accessed(&mut self, _fault: Option<FaultKind>) {}
}

impl Observer for () {}

impl<R: ReverseMap> System<R> {
    /// `touch`: access every page of `[addr, addr+len)` in order; the first
    /// page that cannot be accessed ends it with its errno.
    pub fn sys_touch(&mut self, mm: MmId, addr: u64, len: u64, acc: Access) -> Result<(), Errno> {
        self.sys_touch_observed(mm, addr, len, acc, &mut ())
    }

    /// `touch`, telling `obs` of every page accessed.
    pub fn sys_touch_observed(
        &mut self,
        mm: MmId,
        addr: u64,
        len: u64,
        acc: Access,
        obs: &mut dyn Observer,
    ) -> Result<(), Errno> {
        if len == 0 {
            return Ok(());
        }
        let first = addr & !(PAGE_SIZE - 1);
        let last = addr.checked_add(len - 1).ok_or(Errno::EFAULT)? & !(PAGE_SIZE - 1);
        let mut a = first;
        loop {
            let mut fault = None;
            let r = self.access(mm, a, acc, &mut fault);
            obs.page_accessed(fault);
            r?;
            if a == last {
                return Ok(());
            }
            a += PAGE_SIZE;
        }
    }

    /// Read or write one page, faulting as needed; returns the kind of
    /// fault taken, if any.
    pub fn access_page(
        &mut self,
        mm: MmId,
        addr: u64,
        acc: Access,
    ) -> Result<Option<FaultKind>, Errno> {
        let mut fault = None;
        self.access(mm, addr, acc, &mut fault).map(|()| fault)
    }

    /// One page access; `fault` learns the kind of fault taken even when
    /// the access then fails.
    fn access(
        &mut self,
        mm: MmId,
        addr: u64,
        acc: Access,
        fault: &mut Option<FaultKind>,
    ) -> Result<(), Errno> {
        for _ in 0..4 {
            let vid = self.core.find_vma(mm, addr).ok_or(Errno::EFAULT)?;
            let v = self.core.vmas[vid];
            let ptep = self.core.pte_ptr(mm, addr);
            let pte = ptep.map_or(Pte::NONE, |p| self.core.pt.get(p));
            if pte.kind() == PteKind::Guard
                || !allowed(page_prot(&v, pte), acc, self.core.cfg.pkeys)
            {
                return Err(Errno::EFAULT);
            }
            if let (Some(p), Some(pfn)) = (ptep, pte.pfn()) {
                if acc == Access::Read {
                    self.core.pt.set(p, pte.mkyoung());
                    return Ok(());
                }
                if pte.writable() {
                    self.core.pt.set(p, pte.mkdirty());
                    self.write_page(mm, &v, addr, pfn);
                    return Ok(());
                }
                self.core.counters.faults += 1;
                let fl = self.fault_lock(mm, vid);
                let k = self.wp_fault(vid, addr, p, pfn);
                self.core.unlock(fl);
                note(fault, k, &v);
                k?;
            } else {
                self.core.counters.faults += 1;
                let fl = self.fault_lock(mm, vid);
                let k = self.fault(vid, addr, pte, acc);
                self.core.unlock(fl);
                note(fault, k, &v);
                k?;
            }
        }
        debug_assert!(false, "fault at {addr:#x} did not resolve");
        Err(Errno::EFAULT)
    }

    /// The lock a page fault runs under: the VMA's own lock for reading
    /// where the era has per-VMA locks (`lock_vma_under_rcu`), else the
    /// mm's `mmap_lock` for reading.
    fn fault_lock(&mut self, mm: MmId, vid: VmaId) -> Lk {
        let a = if self.core.locks.protocol().vma_lock_faults {
            Acq::shared(LockClass::VmaLock, vid.0 as u64)
        } else {
            Acq::shared(LockClass::MmapLock, mm.0 as u64)
        };
        self.core.lock(a)
    }

    /// `anon_prepare` for a write fault. A fault that runs under the per-VMA
    /// lock must trylock `mmap_lock` for reading to attach anonymous state
    /// (`__vmf_anon_prepare`, 6.x; on failure it retries under mmap_lock).
    fn prepare_anon(&mut self, vid: VmaId) -> Result<(), Errno> {
        let l = if self.core.locks.protocol().vma_lock_faults
            && self.rmap.anon_state(&self.core, vid) == 0
        {
            let mm = self.core.vmas[vid].mm;
            let a = Acq::shared(LockClass::MmapLock, mm.0 as u64).try_lock();
            self.core.lock(a)
        } else {
            Lk::NONE
        };
        let r = self
            .rmap
            .anon_prepare(&mut self.core.ctx(), vid, AnonNeed::WriteFault);
        self.core.unlock(l);
        r
    }

    /// Map `pfn` at `at` with `pte` under the PTE's page-table lock, as a
    /// fault installs a page (`set_pte_at` and the rmap update under
    /// `pte_offset_map_lock`).
    fn map_locked(&mut self, pfn: Pfn, at: MapAt, pte: Pte, new_page: bool) {
        let l = self
            .core
            .lock(Acq::excl(LockClass::Ptl, self.core.ptl(at.mm, at.pte)));
        self.core.work(WorkKind::PteSet, 1);
        self.map_one(pfn, at, pte, new_page);
        self.core.unlock(l);
    }

    /// Store a new content token in `pfn` and tell the shadow model.
    fn write_page(&mut self, mm: MmId, v: &Vma, addr: u64, pfn: Pfn) {
        let token = self.shadow.next_token();
        let f = self.core.frames.get_mut(pfn);
        f.content = token;
        if f.has(pf::FILE) {
            f.set(pf::DIRTY);
            let (file, pgoff) = (crate::vma::FileId(f.mapping as u32), f.index);
            self.shadow.write_file(file, pgoff, token);
        } else {
            debug_assert!(!v.is_shared());
            self.shadow.write_private(mm, addr, token);
        }
    }

    /// A fault on a non-present entry.
    fn fault(&mut self, vid: VmaId, addr: u64, pte: Pte, acc: Access) -> Result<FaultKind, Errno> {
        let v = self.core.vmas[vid];
        match pte.kind() {
            PteKind::Swap { slot } => self.swap_fault(vid, addr, slot, pte),
            PteKind::File { pgoff } => self.file_fault(vid, addr, pgoff, acc, pte),
            _ if v.file.is_some() => self.file_fault(vid, addr, v.pgoff_at(addr), acc, pte),
            _ => self.anon_fault(vid, addr, acc, pte),
        }
    }

    fn anon_fault(
        &mut self,
        vid: VmaId,
        addr: u64,
        acc: Access,
        old: Pte,
    ) -> Result<FaultKind, Errno> {
        let v = self.core.vmas[vid];
        let prot = page_prot(&v, old);
        let saved = carried(&v, old);
        if acc == Access::Read {
            let p = self.ensure_pte(v.mm, addr)?;
            let l = self
                .core
                .lock(Acq::excl(LockClass::Ptl, self.core.ptl(v.mm, p)));
            self.core.work(WorkKind::PteSet, 1);
            self.core.pt.set(
                p,
                Pte::present(ZERO_PFN, Prot(prot.0 & !Prot::WRITE), saved),
            );
            self.core.unlock(l);
            return Ok(FaultKind::Anon);
        }
        self.prepare_anon(vid)?;
        let p = self.ensure_pte(v.mm, addr)?;
        let pfn = self.alloc_frame()?;
        self.core.work(WorkKind::PageCopy, 1); // zeroed
        self.init_anon(pfn, v.pgoff_at(addr), 0);
        let at = MapAt {
            mm: v.mm,
            vma: vid,
            addr,
            pte: p,
        };
        self.map_locked(pfn, at, Pte::present(pfn, prot, saved).mkdirty(), true);
        Ok(FaultKind::Anon)
    }

    /// The page-cache page of `(file, pgoff)`, read in if absent.
    pub(crate) fn find_get_page(
        &mut self,
        file: crate::vma::FileId,
        pgoff: u64,
    ) -> Result<Pfn, Errno> {
        if let Some(&p) = self.core.file(file).cache.get(&pgoff) {
            return Ok(p);
        }
        let pfn = self.alloc_frame()?;
        self.core.work(WorkKind::PageIo, 1); // read in
        let content = self.core.file(file).stored(pgoff);
        let f = self.core.frames.get_mut(pfn);
        f.set(pf::FILE);
        f.mapping = file.0 as u64;
        f.index = pgoff;
        f.content = content;
        f.refcount = 1;
        self.core
            .frames
            .lru_add(pfn, crate::frame::LruList::InactiveFile);
        self.lru_added();
        self.core.file_mut(file).cache.insert(pgoff, pfn);
        Ok(pfn)
    }

    fn file_fault(
        &mut self,
        vid: VmaId,
        addr: u64,
        pgoff: u64,
        acc: Access,
        old: Pte,
    ) -> Result<FaultKind, Errno> {
        let v = self.core.vmas[vid];
        let file = v.file.expect("file VMA");
        let cow = acc == Access::Write && !v.is_shared();
        if cow {
            // Linux's do_cow_fault prepares the anon_vma before it asks the
            // file for the page, so even a write that ends in SIGBUS leaves
            // the VMA with anonymous state (it decides later merges).
            self.prepare_anon(vid)?;
        }
        if pgoff >= self.core.file(file).pages() {
            return Err(Errno::EFAULT); // SIGBUS
        }
        let prot = page_prot(&v, old);
        let saved = carried(&v, old);
        let p = self.ensure_pte(v.mm, addr)?;
        let page = self.find_get_page(file, pgoff)?;
        let at = MapAt {
            mm: v.mm,
            vma: vid,
            addr,
            pte: p,
        };
        if cow {
            self.lock_page(page);
            let new = self.alloc_frame();
            self.unlock_page(page);
            let new = new?;
            self.core.counters.cow_faults += 1;
            self.core.work(WorkKind::PageCopy, 1);
            let content = self.core.frames.get(page).content;
            self.init_anon(new, v.pgoff_at(addr), content);
            self.map_locked(new, at, Pte::present(new, prot, saved).mkdirty(), true);
            return Ok(FaultKind::Cow);
        }
        if v.has(vmf::NONLINEAR) && pgoff != v.pgoff_at(addr) {
            // install_page: the era's rmap may have work to do before the
            // page-table lock (McCracken's page_convert_anon)
            self.rmap
                .page_install_nonlinear(&mut self.core.ctx(), page, vid, addr);
        }
        let mut pte = Pte::present(page, Prot(prot.0 & !Prot::WRITE), saved);
        if acc == Access::Write {
            pte = pte.mkwrite().mkdirty();
            self.core.frames.get_mut(page).set(pf::DIRTY);
        }
        self.map_locked(page, at, pte, false);
        Ok(FaultKind::File)
    }

    /// Write to a present, write-protected page whose protection allows it.
    fn wp_fault(&mut self, vid: VmaId, addr: u64, p: PtePtr, pfn: Pfn) -> Result<FaultKind, Errno> {
        let v = self.core.vmas[vid];
        let pte = self.core.pt.get(p);
        if pfn != ZERO_PFN {
            let f = *self.core.frames.get(pfn);
            let reuse = if f.has(pf::ANON) {
                f.mapcount == 1
                    && (!f.has(pf::SWAPCACHE) || self.core.swap.slot(f.private).count == 0)
            } else {
                v.is_shared()
            };
            if reuse {
                // a swap-cache page is reused only under its page lock,
                // which the fault trylocks (do_wp_page, wp_can_reuse_anon_folio)
                let pl = if f.has(pf::SWAPCACHE) {
                    let l = Acq::excl(LockClass::PageLock, pfn.0 as u64).try_lock();
                    self.core.lock(l)
                } else {
                    Lk::NONE
                };
                if f.has(pf::SWAPCACHE) {
                    self.delete_from_swap_cache(pfn);
                }
                self.core.unlock(pl);
                if !f.has(pf::ANON) {
                    self.core.frames.get_mut(pfn).set(pf::DIRTY);
                }
                let l = self
                    .core
                    .lock(Acq::excl(LockClass::Ptl, self.core.ptl(v.mm, p)));
                self.core.work(WorkKind::PteSet, 1);
                self.core.pt.set(p, pte.mkwrite().mkdirty());
                if f.has(pf::ANON) {
                    let at = MapAt {
                        mm: v.mm,
                        vma: vid,
                        addr,
                        pte: p,
                    };
                    self.rmap.page_reuse(&mut self.core.ctx(), pfn, at);
                }
                self.core.unlock(l);
                return Ok(FaultKind::of_vma(&v));
            }
        }
        self.cow_copy(vid, addr, p, pfn)?;
        Ok(FaultKind::Cow)
    }

    /// Copy on write: give `addr` of `vid` (whose PTE `p` maps `pfn`, the
    /// zero page or a page shared with other mappings) a private copy of
    /// the page, mapped with the page's protection.
    pub(crate) fn cow_copy(
        &mut self,
        vid: VmaId,
        addr: u64,
        p: PtePtr,
        pfn: Pfn,
    ) -> Result<(), Errno> {
        let v = self.core.vmas[vid];
        let pte = self.core.pt.get(p);
        let is_zero = pfn == ZERO_PFN;
        if !is_zero {
            self.lock_page(pfn);
        }
        let new = self.prepare_anon(vid).and_then(|_| self.alloc_frame());
        if !is_zero {
            self.unlock_page(pfn);
        }
        let new = new?;
        debug_assert_eq!(
            self.core.pt.get(p).pfn(),
            Some(pfn),
            "a locked page's PTE changed"
        );
        self.core.counters.cow_faults += 1;
        self.core.work(WorkKind::PageCopy, 1);
        let content = self.core.frames.get(pfn).content;
        self.init_anon(new, v.pgoff_at(addr), content);
        let at = MapAt {
            mm: v.mm,
            vma: vid,
            addr,
            pte: p,
        };
        let prot = page_prot(&v, pte);
        let saved = carried(&v, pte);
        let l = self
            .core
            .lock(Acq::excl(LockClass::Ptl, self.core.ptl(v.mm, p)));
        self.core.pt.set(p, Pte::NONE);
        if !is_zero {
            self.unmap_one(pfn, at, pte.dirty());
        }
        self.core.work(WorkKind::PteSet, 1);
        self.map_one(new, at, Pte::present(new, prot, saved).mkdirty(), true);
        self.core.unlock(l);
        Ok(())
    }

    /// Swap in through the swap cache. The page is mapped read-only; a
    /// write then takes the write-protect path (reusing it if exclusive).
    fn swap_fault(
        &mut self,
        vid: VmaId,
        addr: u64,
        slot: u32,
        old: Pte,
    ) -> Result<FaultKind, Errno> {
        let v = self.core.vmas[vid];
        let (page, fresh) = match self.core.swap.cached(slot) {
            Some(p)
                if self.core.frames.get(p).mapcount > 0
                    && self.rmap.anon_needs_copy(&self.core, p, addr, false) =>
            {
                return self.swap_copy(vid, addr, slot, old, p);
            }
            Some(p) => (p, false),
            None => {
                let pfn = self.alloc_frame()?;
                let content = self.core.swap.slot(slot).content;
                self.init_anon(pfn, v.pgoff_at(addr), content);
                self.add_to_swap_cache(pfn, slot);
                self.core.counters.swapins += 1;
                self.core.work(WorkKind::PageIo, 1);
                (pfn, true)
            }
        };
        // do_swap_page: lock_page (sleeping), then the page-table lock
        let pl = self
            .core
            .lock(Acq::excl(LockClass::PageLock, page.0 as u64));
        debug_assert_eq!(self.core.pte(v.mm, addr), old);
        let prot = page_prot(&v, old);
        let pte = Pte::present(page, Prot(prot.0 & !Prot::WRITE), carried(&v, old)).mkyoung();
        self.map_swapped(vid, addr, slot, page, pte, fresh);
        self.core.unlock(pl);
        // a swap-cache hit reads nothing from the device
        Ok(if fresh {
            FaultKind::SwapIn
        } else {
            FaultKind::of_vma(&v)
        })
    }

    /// Installs `pte`, which maps `page` (`fresh`: its first mapping), in
    /// place of the swap entry `slot` at `addr` of `vid`, under the page
    /// table lock, and drops that swap entry.
    fn map_swapped(&mut self, vid: VmaId, addr: u64, slot: u32, page: Pfn, pte: Pte, fresh: bool) {
        let v = self.core.vmas[vid];
        let p = self
            .core
            .pte_ptr(v.mm, addr)
            .expect("a swap PTE has a table");
        let at = MapAt {
            mm: v.mm,
            vma: vid,
            addr,
            pte: p,
        };
        let l = self
            .core
            .lock(Acq::excl(LockClass::Ptl, self.core.ptl(v.mm, p)));
        self.core.work(WorkKind::PteSet, 1);
        self.map_one(page, at, pte, fresh);
        self.core.mm_mut(v.mm).swap_ents -= 1;
        self.swap_put(slot);
        self.core.unlock(l);
    }

    /// A swap-in of a swap-cache page that other PTEs map at an address
    /// where the backend could not also find it here (see
    /// `ReverseMap::anon_needs_copy`: anonmm after an mremap): this mapping
    /// gets a private copy of the page instead, and its swap entry goes.
    fn swap_copy(
        &mut self,
        vid: VmaId,
        addr: u64,
        slot: u32,
        old: Pte,
        page: Pfn,
    ) -> Result<FaultKind, Errno> {
        let v = self.core.vmas[vid];
        self.lock_page(page);
        let new = self.alloc_frame();
        self.unlock_page(page);
        let new = new?;
        self.core.counters.cow_faults += 1;
        self.core.counters.move_cows += 1;
        self.core.work(WorkKind::PageCopy, 1);
        let content = self.core.frames.get(page).content;
        self.init_anon(new, v.pgoff_at(addr), content);
        let pte = Pte::present(new, page_prot(&v, old), carried(&v, old)).mkdirty();
        self.map_swapped(vid, addr, slot, new, pte, true);
        Ok(FaultKind::Cow)
    }
}
