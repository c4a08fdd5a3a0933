//! Raw structure changes: insert, resize, re-flag and remove a VMA, keeping
//! its mm's VMA tree and its file's `i_mmap` (or `i_mmap_nonlinear`) in
//! step. No backend hook runs here except `vma_unlink` in
//! `remove_vma`; the callers (split, merge, mmap) tell the backend.
//!
//! Locks: a change to a file VMA takes its file's `i_mmap` lock for
//! writing around the `i_mmap` edit (`vma_prepare` / `vma_link` take it
//! for the whole change in Linux; here once per raw change), with the
//! caller's `mmap_lock` held.

use crate::file::IMap;
use crate::locks::{Acq, LockClass, WorkKind};
use crate::rmap::ReverseMap;
use crate::system::Lk;
use crate::system::System;
use crate::vma::{FileId, Vma, VmaId, vmf};

impl<R: ReverseMap> System<R> {
    /// Take (record) the `i_mmap` lock of VMA `id`'s file for writing, if
    /// it has a file.
    fn imap_lock(&mut self, id: VmaId) -> Lk {
        match self.core.vmas[id].file {
            Some(f) => self.core.lock(Acq::excl(LockClass::IMmap, f.0 as u64)),
            None => Lk::NONE,
        }
    }

    fn imap_link(&mut self, id: VmaId) {
        let v = self.core.vmas[id];
        if let Some(f) = v.file {
            let file = self.core.file_mut(f);
            if v.has(vmf::NONLINEAR) {
                file.i_mmap_nonlinear.push(id);
            } else {
                let (first, last) = v.pgoff_range();
                file.i_mmap.insert(id, first, last);
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
                let found = file.i_mmap.remove(id, v.pgoff_range().0);
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
        self.core.work(WorkKind::ObjAlloc, 1);
        let l = self.imap_lock(id);
        self.imap_link(id);
        self.core.unlock(l);
        id
    }

    /// Change a VMA's range and page offset, keeping the mm tree and
    /// `i_mmap` in step.
    pub(crate) fn set_range(&mut self, id: VmaId, start: u64, end: u64, pgoff: u64) {
        let l = self.imap_lock(id);
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
        self.core.unlock(l);
    }

    /// Set a VMA's flags, moving it between `i_mmap` lists if the
    /// nonlinear bit changes.
    pub(crate) fn set_flags(&mut self, id: VmaId, flags: u32) {
        let l = self.imap_lock(id);
        self.imap_unlink(id);
        self.core.vmas[id].flags = flags;
        self.imap_link(id);
        self.core.unlock(l);
    }

    pub(super) fn remove_vma_raw(&mut self, id: VmaId) {
        let l = self.imap_lock(id);
        self.imap_unlink(id);
        self.core.unlock(l);
        self.core.work(WorkKind::ObjFree, 1);
        let v = self.core.vmas[id];
        self.core.mm_mut(v.mm).vmas.remove(&v.start);
        self.core.vmas.free(id);
        if let Some(f) = v.file {
            self.core.file_mut(f).nl_cursor.remove(&id);
            self.file_put(f);
        }
    }

    /// Drop one reference to file object `f` (a mapping of it, or a
    /// syscall's hold); a shared anonymous object dies with its last.
    pub(super) fn file_put(&mut self, f: FileId) {
        let file = self.core.file_mut(f);
        file.map_count -= 1;
        if file.shmem && file.map_count == 0 {
            self.free_shmem(f);
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

    /// The i_mmap of a file (for backends and tests).
    pub fn i_mmap(&self, f: FileId) -> &IMap {
        &self.core.file(f).i_mmap
    }
}
