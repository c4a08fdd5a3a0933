//! The shadow model: what every read must return, kept independently of
//! frames, PTEs and swap, so that `check` can prove nothing was lost.
//!
//! Every write stores a fresh token (a counter with the top bit set) in the
//! frame and tells the shadow where it went: a private page of one mm, or a
//! page of a file object (shared mappings). A read of page `vpn` of `mm`
//! must then return: the mm's private token if it has one; otherwise, in a
//! file VMA, the file page's token (or its initial contents), at the
//! page's nonlinear offset if remap_file_pages set one, else the linear
//! one; otherwise zero (untouched anonymous memory).
//!
//! Events that change what a read returns: munmap, mmap over a range, exit,
//! exec (forget the range), MADV_DONTNEED and guard install on private
//! mappings (forget private tokens), fork (the child inherits the parent's
//! private tokens and nonlinear offsets of the VMAs it copies),
//! remap_file_pages (new offsets), mremap (the moved range's view goes to
//! its new place). When disabled, only tokens are handed
//! out.

use std::collections::BTreeMap;

use crate::addr::PAGE_SIZE;
use crate::vma::{FileId, MmId};

#[derive(Default, Clone)]
struct MmShadow {
    private: BTreeMap<u64, u64>,
    nonlinear: BTreeMap<u64, u64>,
}

/// See the module documentation.
pub(crate) struct Shadow {
    enabled: bool,
    next: u64,
    mms: Vec<MmShadow>,
    files: Vec<BTreeMap<u64, u64>>,
}

/// First write token; initial file contents never have the top bit set.
const TOKEN_BASE: u64 = 1 << 63;

fn range_keys(map: &BTreeMap<u64, u64>, start: u64, end: u64) -> Vec<u64> {
    map.range(start / PAGE_SIZE..end.div_ceil(PAGE_SIZE))
        .map(|(&k, _)| k)
        .collect()
}

impl Shadow {
    pub fn new(enabled: bool) -> Shadow {
        Shadow {
            enabled,
            next: TOKEN_BASE,
            mms: Vec::new(),
            files: Vec::new(),
        }
    }
    pub fn enabled(&self) -> bool {
        self.enabled
    }
    pub fn next_token(&mut self) -> u64 {
        self.next += 1;
        self.next
    }
    pub fn new_mm(&mut self, mm: MmId) {
        if !self.enabled {
            return;
        }
        let i = mm.0 as usize;
        if self.mms.len() <= i {
            self.mms.resize(i + 1, MmShadow::default());
        }
        self.mms[i] = MmShadow::default();
    }
    pub fn drop_mm(&mut self, mm: MmId) {
        if let Some(m) = self.mms.get_mut(mm.0 as usize) {
            *m = MmShadow::default();
        }
    }
    pub fn new_file(&mut self, f: FileId) {
        if !self.enabled {
            return;
        }
        let i = f.0 as usize;
        if self.files.len() <= i {
            self.files.resize(i + 1, BTreeMap::new());
        }
        self.files[i].clear();
    }
    pub fn drop_file(&mut self, f: FileId) {
        if let Some(m) = self.files.get_mut(f.0 as usize) {
            m.clear();
        }
    }
    pub fn write_private(&mut self, mm: MmId, addr: u64, token: u64) {
        if self.enabled {
            self.mms[mm.0 as usize]
                .private
                .insert(addr / PAGE_SIZE, token);
        }
    }
    pub fn write_file(&mut self, f: FileId, pgoff: u64, token: u64) {
        if self.enabled {
            self.files[f.0 as usize].insert(pgoff, token);
        }
    }
    /// The range no longer maps anything.
    pub fn unmap(&mut self, mm: MmId, start: u64, end: u64) {
        if !self.enabled {
            return;
        }
        let m = &mut self.mms[mm.0 as usize];
        for k in range_keys(&m.private, start, end) {
            m.private.remove(&k);
        }
        for k in range_keys(&m.nonlinear, start, end) {
            m.nonlinear.remove(&k);
        }
    }
    /// Private pages of the range read as the underlying object again.
    pub fn discard_private(&mut self, mm: MmId, start: u64, end: u64) {
        if !self.enabled {
            return;
        }
        let m = &mut self.mms[mm.0 as usize];
        for k in range_keys(&m.private, start, end) {
            m.private.remove(&k);
        }
    }
    /// Pages `start..` map file offsets `pgoff..` (remap_file_pages).
    pub fn remap(&mut self, mm: MmId, start: u64, n: u64, pgoff: u64) {
        if !self.enabled {
            return;
        }
        let m = &mut self.mms[mm.0 as usize];
        for i in 0..n {
            m.nonlinear.insert(start / PAGE_SIZE + i, pgoff + i);
        }
    }
    /// mremap moved the pages of `[from, from + len)` to `to`: what the
    /// old range read (private tokens, nonlinear offsets) the new one
    /// reads, and the old range reads its object again (or zero).
    pub fn move_range(&mut self, mm: MmId, from: u64, to: u64, len: u64) {
        if !self.enabled {
            return;
        }
        let m = &mut self.mms[mm.0 as usize];
        let (f, t) = (from / PAGE_SIZE, to / PAGE_SIZE);
        for map in [&mut m.private, &mut m.nonlinear] {
            let moved: Vec<(u64, u64)> = range_keys(map, from, from + len)
                .into_iter()
                .filter_map(|k| map.remove(&k).map(|v| (k - f + t, v)))
                .collect();
            map.extend(moved);
        }
    }
    /// The child inherits the parent's view of `[start, end)`.
    pub fn fork_range(&mut self, parent: MmId, child: MmId, start: u64, end: u64) {
        if !self.enabled {
            return;
        }
        let r = start / PAGE_SIZE..end / PAGE_SIZE;
        let p = &self.mms[parent.0 as usize];
        let priv_: Vec<_> = p.private.range(r.clone()).map(|(&k, &v)| (k, v)).collect();
        let nl: Vec<_> = p.nonlinear.range(r).map(|(&k, &v)| (k, v)).collect();
        let c = &mut self.mms[child.0 as usize];
        c.private.extend(priv_);
        c.nonlinear.extend(nl);
    }
    /// The private token of a page, if any.
    pub fn private(&self, mm: MmId, addr: u64) -> Option<u64> {
        self.mms
            .get(mm.0 as usize)?
            .private
            .get(&(addr / PAGE_SIZE))
            .copied()
    }
    /// The nonlinear file offset of a page, if remapped.
    pub fn nonlinear(&self, mm: MmId, addr: u64) -> Option<u64> {
        self.mms
            .get(mm.0 as usize)?
            .nonlinear
            .get(&(addr / PAGE_SIZE))
            .copied()
    }
    /// The last token written to a file page, if any.
    pub fn file(&self, f: FileId, pgoff: u64) -> Option<u64> {
        self.files.get(f.0 as usize)?.get(&pgoff).copied()
    }
}
