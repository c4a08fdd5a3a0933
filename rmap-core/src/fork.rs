//! Process lifetime: fork (`dup_mmap`), exit (`exit_mmap`) and exec.
//!
//! Fork copies every VMA except `VM_DONTCOPY` ones, in address order and
//! without merging. A `VM_WIPEONFORK` child VMA starts empty and without
//! anonymous state. Page tables are copied when the backend says the VMA
//! needs it (it has anonymous state), or when its PTEs hold state that
//! would be lost otherwise: guard markers (`VM_MAYBE_GUARD`), nonlinear
//! offsets, per-page protections. Private pages become copy-on-write in
//! both, mapcounts rise, and the backend records each new mapping through
//! `page_dup`. A fork that runs out of memory is undone and reports ENOMEM.

use crate::error::{Errno, OpError};
use crate::frame::{ZERO_PFN, flags as pf};
use crate::locks::{Acq, LockClass, WorkKind};
use crate::ops::Pid;
use crate::pte::PteKind;
use crate::rmap::{MapAt, ReverseMap};
use crate::system::Lk;
use crate::system::System;
use crate::vma::{MmId, Vma, VmaId, vmf};
use crate::vmaops::Zap;

impl<R: ReverseMap> System<R> {
    /// Fork trace process `parent` into a new process `child`.
    pub fn sys_fork(&mut self, parent: Pid, child: Pid) -> Result<(), OpError> {
        let pm = self.mm_of(parent)?;
        if self.pids.contains_key(&child) {
            return Err(OpError::ProcessExists(child));
        }
        let cm = self.spawn(child)?;
        self.core.counters.forks += 1;
        // dup_mmap write-locks the parent's mmap_lock, and the child's
        // nested inside it from 2.6.15 on
        let pl = self.core.lock(Acq::excl(LockClass::MmapLock, pm.0 as u64));
        let cl = if self.core.locks.protocol().fork_locks_child {
            self.core
                .lock(Acq::excl(LockClass::MmapLock, cm.0 as u64).nested())
        } else {
            Lk::NONE
        };
        let res = self
            .rmap
            .fork_mm(&mut self.core.ctx(), pm, cm)
            .and_then(|_| self.dup_mmap(pm, cm));
        self.core.unlock(cl);
        self.core.unlock(pl);
        if let Err(e) = res {
            self.teardown(cm);
            self.pids.remove(&child);
            self.shadow.drop_mm(cm);
            self.release_mm(cm);
            return Err(e.into());
        }
        Ok(())
    }

    fn dup_mmap(&mut self, pm: MmId, cm: MmId) -> Result<(), Errno> {
        let parents: Vec<VmaId> = self.core.mm(pm).vmas.values().copied().collect();
        for pv in parents {
            let v = self.core.vmas[pv];
            self.core.work(WorkKind::VmaVisit, 1);
            if v.has(vmf::DONTCOPY) {
                continue;
            }
            let wipe = v.has(vmf::WIPEONFORK);
            let child = Vma {
                mm: cm,
                anon: if wipe { 0 } else { v.anon },
                merge_skipped: true,
                ..v
            };
            let cv = self.insert_vma_raw(child);
            if wipe {
                self.rmap.vma_link(&mut self.core.ctx(), cv);
                continue;
            }
            if self.rmap.anon_state(&self.core, pv) != 0 {
                // Mach: the copy takes a reference to (a shadow of) the object
                self.core.vmas[pv].obj_shared = true;
                self.core.vmas[cv].obj_shared = true;
            }
            self.rmap.fork_vma(&mut self.core.ctx(), pv, cv)?;
            let needs = self.rmap.fork_needs_copy(&self.core, pv)
                || v.has(vmf::MAYBE_GUARD | vmf::NONLINEAR | vmf::MANY_PROTS);
            if needs {
                self.copy_page_range(pv, cv)?;
            }
            // What the child must read: the parent's private pages and
            // nonlinear offsets. If the backend wrongly skipped the copy,
            // `check` finds the loss.
            self.shadow.fork_range(pm, cm, v.start, v.end);
        }
        Ok(())
    }

    /// Copy the PTEs of parent VMA `pv` into child VMA `cv`
    /// (`copy_page_range`).
    fn copy_page_range(&mut self, pv: VmaId, cv: VmaId) -> Result<(), Errno> {
        let v = self.core.vmas[pv];
        let (pm, cm) = (v.mm, self.core.vmas[cv].mm);
        let root = self.core.mm(pm).root;
        let mut buf = Vec::new();
        self.core.pt.collect(root, v.start, v.end, &mut buf);
        // The child's table lock, then the parent's nested in it, held per
        // pair of tables (copy_pte_range); released around an allocation.
        let mut held: Option<(u32, u32, Lk, Lk)> = None;
        for (pp, va) in buf {
            let cp = match self.core.pte_ptr(cm, va) {
                Some(cp) => cp,
                None => {
                    self.release_pair(held.take());
                    self.ensure_pte(cm, va)?
                }
            };
            if held.is_none_or(|(c, p, ..)| (c, p) != (cp.slot(), pp.slot())) {
                self.release_pair(held.take());
                let dl = self
                    .core
                    .lock(Acq::excl(LockClass::Ptl, self.core.ptl(cm, cp)));
                let sl = self
                    .core
                    .lock(Acq::excl(LockClass::Ptl, self.core.ptl(pm, pp)).nested());
                held = Some((cp.slot(), pp.slot(), dl, sl));
            }
            // Read the parent's entry only now: allocating the child's table
            // may have reclaimed the page it mapped.
            let pte = self.core.pt.get(pp);
            if !pte.is_none() {
                self.core.work(WorkKind::PteCopy, 1);
            }
            match pte.kind() {
                PteKind::None => {}
                PteKind::Present(pfn) if pfn == ZERO_PFN => self.core.pt.set(cp, pte.mkold()),
                PteKind::Present(pfn) => {
                    let f = self.core.frames.get(pfn);
                    let cow = !v.is_shared();
                    let (ppte, cpte) = if cow {
                        (pte.wrprotect(), pte.wrprotect().mkold())
                    } else {
                        (pte, pte.mkclean().mkold())
                    };
                    let anon = f.has(pf::ANON);
                    self.core.pt.set(pp, ppte);
                    self.core.pt.set(cp, cpte);
                    let fm = self.core.frames.get_mut(pfn);
                    fm.mapcount += 1;
                    fm.refcount += 1;
                    let m = self.core.mm_mut(cm);
                    if anon {
                        m.rss_anon += 1;
                    } else {
                        m.rss_file += 1;
                    }
                    let pat = MapAt {
                        mm: pm,
                        vma: pv,
                        addr: va,
                        pte: pp,
                    };
                    let cat = MapAt {
                        mm: cm,
                        vma: cv,
                        addr: va,
                        pte: cp,
                    };
                    self.rmap.page_dup(&mut self.core.ctx(), pfn, pat, cat);
                }
                PteKind::Swap { slot } => {
                    // swap_duplicate
                    let l = self.core.lock(Acq::excl(LockClass::SwapLock, 0));
                    self.core.swap.slot_mut(slot).count += 1;
                    self.core.unlock(l);
                    self.core.mm_mut(cm).swap_ents += 1;
                    self.core.pt.set(cp, pte);
                }
                PteKind::Guard | PteKind::File { .. } | PteKind::ProtOnly => {
                    self.core.pt.set(cp, pte)
                }
            }
        }
        self.release_pair(held);
        Ok(())
    }

    /// Release the pair of page-table locks fork's copy holds.
    fn release_pair(&mut self, held: Option<(u32, u32, Lk, Lk)>) {
        if let Some((_, _, dl, sl)) = held {
            self.core.unlock(sl);
            self.core.unlock(dl);
        }
    }

    /// Zap and remove every VMA of `mm` and free its page tables (the mm
    /// itself stays allocated).
    ///
    /// `exit_mmap` write-locks the mm in the eras that do (6.x); before,
    /// the last user of an mm tore it down with no `mmap_lock`.
    pub(crate) fn teardown(&mut self, mm: MmId) {
        let l = if self.core.locks.protocol().exit_takes_mmap {
            self.core.lock(Acq::excl(LockClass::MmapLock, mm.0 as u64))
        } else {
            Lk::NONE
        };
        let ids: Vec<VmaId> = self.core.mm(mm).vmas.values().copied().collect();
        for id in ids {
            let v = self.core.vmas[id];
            self.core.work(WorkKind::VmaVisit, 1);
            self.zap_range(id, v.start, v.end, Zap::Unmap);
            self.remove_vma(id);
        }
        let root = self.core.mm(mm).root;
        let mut freed = Vec::new();
        self.core.pt.free_all(root, &mut freed);
        self.core.work(WorkKind::ObjFree, freed.len() as u64);
        for pfn in freed {
            self.core.frames.free(pfn);
        }
        self.core.unlock(l);
    }

    /// End process `pid` and free its address space.
    pub fn sys_exit(&mut self, pid: Pid) -> Result<(), OpError> {
        let mm = self.mm_of(pid)?;
        self.teardown(mm);
        self.pids.remove(&pid);
        self.shadow.drop_mm(mm);
        self.release_mm(mm);
        Ok(())
    }

    /// Replace `pid`'s address space by an empty one.
    pub fn sys_exec(&mut self, pid: Pid) -> Result<(), OpError> {
        self.sys_exit(pid)?;
        self.spawn(pid)?;
        Ok(())
    }
}
