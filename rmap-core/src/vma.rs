//! VMAs (`struct vm_area_struct`) and their arena.
//!
//! A VMA covers `[start, end)` of one mm with one set of flags, an optional
//! file and the page offset of `start` in it. `anon` is the backend's word
//! (Linux's `vma->anon_vma`; a backend may keep flag bits in its low bits).
//! VMAs live in one arena and are named by `VmaId`; each mm keeps its VMAs
//! ordered by address (see `mm`).

use crate::addr::PgOff;
use crate::ops::Prot;

/// Names one VMA in the arena.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct VmaId(pub u32);
/// Names one address space.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct MmId(pub u32);
/// Names one file object (a declared file or a shared-anonymous object).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct FileId(pub u32);

/// VMA flag bits, named after Linux's `VM_*`.
pub mod vmf {
    pub const READ: u32 = 1 << 0;
    pub const WRITE: u32 = 1 << 1;
    pub const EXEC: u32 = 1 << 2;
    pub const SHARED: u32 = 1 << 3;
    pub const MAYREAD: u32 = 1 << 4;
    pub const MAYWRITE: u32 = 1 << 5;
    pub const MAYEXEC: u32 = 1 << 6;
    pub const MAYSHARE: u32 = 1 << 7;
    /// Commit-charged (private writable, or made writable by mprotect).
    pub const ACCOUNT: u32 = 1 << 8;
    pub const NORESERVE: u32 = 1 << 9;
    pub const DONTCOPY: u32 = 1 << 10;
    pub const WIPEONFORK: u32 = 1 << 11;
    /// Made nonlinear by remap_file_pages; lives on `i_mmap_nonlinear`.
    pub const NONLINEAR: u32 = 1 << 12;
    /// The model's many-protection VMA: per-page protections in PTEs.
    pub const MANY_PROTS: u32 = 1 << 13;
    /// Guard markers may be present (Linux's sticky `VM_MAYBE_GUARD`, shown
    /// as `gu` in smaps): set by guard install, never cleared, inherited by
    /// splits, ignored by merge comparisons and kept by the merged VMA; it
    /// makes fork copy the page tables.
    pub const MAYBE_GUARD: u32 = 1 << 14;
    /// Flags that merging ignores and the merged VMA keeps if any part had
    /// them (`VM_STICKY`).
    pub const STICKY: u32 = MAYBE_GUARD;
    pub const PROT_MASK: u32 = READ | WRITE | EXEC;
}

/// One VMA.
#[derive(Clone, Copy, Debug)]
pub struct Vma {
    pub mm: MmId,
    pub start: u64,
    pub end: u64,
    /// Page offset of `start` in the file (for anonymous private memory,
    /// `start >> 12` at creation, as Linux sets it).
    pub pgoff: u64,
    pub flags: u32,
    pub file: Option<FileId>,
    /// The backend's word (`vma->anon_vma`).
    pub anon: u64,
    /// Left by an operation that does not merge (fork copies layouts as
    /// they are; a flag change that fails half-way leaves its first split)
    /// and not considered for a merge since. Such a VMA may sit beside
    /// another it could merge with (a `VM_WIPEONFORK` child has no
    /// anon_vma, for instance), as in Linux; validation allows that for a
    /// pair of such VMAs. mmap and flag changes, which look at the
    /// neighbours, clear it; splits keep it.
    pub merge_skipped: bool,
    /// GNU Mach's object test as the model maps it (`merge=prev`): the
    /// VMA's anonymous state, standing for its Mach VM object, has been
    /// shared with another VMA by a split or a fork (the object's
    /// `ref_count` became 2, or it got a shadow), so old GNU Mach's
    /// `vm_object_coalesce` would never grow it again. Never cleared: Mach
    /// would accept again once the other reference dies, which the model
    /// does not track.
    pub obj_shared: bool,
}

impl Vma {
    #[inline]
    pub fn pages(&self) -> u64 {
        (self.end - self.start) >> 12
    }
    #[inline]
    pub fn has(&self, f: u32) -> bool {
        self.flags & f != 0
    }
    #[inline]
    pub fn prot(&self) -> Prot {
        Prot((self.flags & vmf::PROT_MASK) as u8)
    }
    #[inline]
    pub fn is_shared(&self) -> bool {
        self.has(vmf::SHARED)
    }
    /// Private anonymous memory (no file object at all).
    #[inline]
    pub fn is_anonymous(&self) -> bool {
        self.file.is_none()
    }
    /// Page offset in the file of virtual address `addr` (linear mapping).
    #[inline]
    pub fn pgoff_at(&self, addr: u64) -> u64 {
        self.pgoff + ((addr - self.start) >> 12)
    }
    /// Virtual address of file page `pgoff`, if this VMA maps it linearly.
    #[inline]
    pub fn addr_of(&self, pgoff: PgOff) -> Option<u64> {
        let p = pgoff.0;
        (p >= self.pgoff && p < self.pgoff + self.pages())
            .then(|| self.start + ((p - self.pgoff) << 12))
    }
    #[inline]
    pub fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }
    /// The file pages the VMA maps linearly, first and last (inclusive):
    /// its key in `i_mmap`.
    #[inline]
    pub fn pgoff_range(&self) -> (PgOff, PgOff) {
        (PgOff(self.pgoff), PgOff(self.pgoff + self.pages() - 1))
    }
}

/// The arena of every VMA of every mm.
#[derive(Default)]
pub struct VmaArena {
    slots: Vec<Option<Vma>>,
    free: Vec<u32>,
    live: u64,
}

impl VmaArena {
    pub fn alloc(&mut self, v: Vma) -> VmaId {
        self.live += 1;
        if let Some(i) = self.free.pop() {
            self.slots[i as usize] = Some(v);
            VmaId(i)
        } else {
            self.slots.push(Some(v));
            VmaId(self.slots.len() as u32 - 1)
        }
    }
    pub fn free(&mut self, id: VmaId) {
        debug_assert!(self.slots[id.0 as usize].is_some());
        self.slots[id.0 as usize] = None;
        self.free.push(id.0);
        self.live -= 1;
    }
    /// Live VMAs in all mms.
    pub fn live(&self) -> u64 {
        self.live
    }
    /// One past the highest id ever used (backends size side tables by it).
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }
    pub fn is_live(&self, id: VmaId) -> bool {
        self.slots.get(id.0 as usize).is_some_and(|s| s.is_some())
    }
    pub fn try_get(&self, id: VmaId) -> Option<&Vma> {
        self.slots.get(id.0 as usize).and_then(|s| s.as_ref())
    }
}

impl std::ops::Index<VmaId> for VmaArena {
    type Output = Vma;
    #[inline]
    fn index(&self, id: VmaId) -> &Vma {
        self.slots[id.0 as usize].as_ref().expect("live VMA")
    }
}
impl std::ops::IndexMut<VmaId> for VmaArena {
    #[inline]
    fn index_mut(&mut self, id: VmaId) -> &mut Vma {
        self.slots[id.0 as usize].as_mut().expect("live VMA")
    }
}
