//! Frames: the simulated physical memory (`struct page`) and the LRU lists.
//!
//! The frame table has a fixed size, the simulated RAM. Frame 0 is the shared
//! zero page: it is never freed, never on an LRU list and never counted in a
//! mapcount (as Linux's `ZERO_PAGE`). Each frame is 48 bytes (Linux's
//! `struct page` is 64) so that a host with 24 GiB can simulate 1 TiB.
//!
//! Who owns the words of a frame:
//! - page-table pages: `mapping` = owning mm id, `index` = first virtual
//!   address the table covers (with the level in the low bits), `private` =
//!   the table's slot in the page-table arena (like `struct ptdesc`);
//! - file (page-cache) pages: `mapping` = file id, `index` = page offset in
//!   the file; both belong to the core;
//! - anonymous pages: `index` = linear page index at first fault (Linux's
//!   `folio->index`), set by the core; `mapping` belongs to the reverse-map
//!   backend (an anon_vma, a chain head, ...);
//! - swap-cache pages: `private` = the swap slot.
//!
//! Invariants (checked by `System::validate`): a frame is free or in use,
//! never both; every in-use anon or file frame is on exactly one LRU list
//! and the list links are consistent; `mapcount` equals the present PTEs
//! that map the frame.

/// Frame flag bits.
pub mod flags {
    pub const USED: u16 = 1 << 0;
    pub const ANON: u16 = 1 << 1;
    pub const DIRTY: u16 = 1 << 2;
    /// `PG_referenced`. Nothing sets it yet: the model has no read() or
    /// write() of files, only mapped access, whose referenced bits live in
    /// the PTEs.
    pub const REFERENCED: u16 = 1 << 3;
    pub const ACTIVE: u16 = 1 << 4;
    pub const LRU: u16 = 1 << 5;
    pub const SWAPCACHE: u16 = 1 << 6;
    /// Page lock: reclaim skips a locked page (a fault holds it).
    pub const LOCKED: u16 = 1 << 7;
    pub const WRITEBACK: u16 = 1 << 8;
    /// A page-table page.
    pub const PGTABLE: u16 = 1 << 9;
    /// A page of a file's page cache.
    pub const FILE: u16 = 1 << 10;
    /// Backend-private bit (pte-chain's "direct" bit, for instance).
    pub const BACKEND: u16 = 1 << 11;
}

use crate::addr::Pfn;

/// No frame / end of a list.
pub const NIL: u32 = u32::MAX;
/// The shared zero page.
pub const ZERO_PFN: Pfn = Pfn(0);

/// One frame of simulated memory.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct Frame {
    /// Content token: what a read of this page returns (see `shadow`).
    pub content: u64,
    /// Backend- or core-owned word (see module doc).
    pub mapping: u64,
    /// Backend- or core-owned word (see module doc).
    pub index: u64,
    pub lru_prev: u32,
    pub lru_next: u32,
    /// Number of present PTEs that map the frame.
    pub mapcount: u32,
    /// Number of references: mappings plus the page cache or swap cache.
    pub refcount: u32,
    /// Swap slot (swap cache pages) or page-table slot (table pages).
    pub private: u32,
    pub flags: u16,
    /// Which LRU list holds the frame (`LruList as u8`), or `NO_LRU`.
    pub lru: u8,
    _pad: u8,
}

const _: () = assert!(std::mem::size_of::<Frame>() == 48);

impl Frame {
    #[inline]
    pub fn has(&self, f: u16) -> bool {
        self.flags & f != 0
    }
    #[inline]
    pub fn set(&mut self, f: u16) {
        self.flags |= f;
    }
    #[inline]
    pub fn clear(&mut self, f: u16) {
        self.flags &= !f;
    }
}

/// The four LRU lists.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LruList {
    InactiveAnon = 0,
    ActiveAnon = 1,
    InactiveFile = 2,
    ActiveFile = 3,
}
pub const NO_LRU: u8 = 0xff;

impl LruList {
    pub const ALL: [LruList; 4] = [
        LruList::InactiveAnon,
        LruList::ActiveAnon,
        LruList::InactiveFile,
        LruList::ActiveFile,
    ];
    pub fn of(anon: bool, active: bool) -> LruList {
        match (anon, active) {
            (true, false) => LruList::InactiveAnon,
            (true, true) => LruList::ActiveAnon,
            (false, false) => LruList::InactiveFile,
            (false, true) => LruList::ActiveFile,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct ListHead {
    head: u32,
    tail: u32,
    len: u64,
}

/// The frame table, its free pool and the LRU lists.
pub struct FrameTable {
    /// Frames handed out at least once; grows on demand up to `total`, so
    /// a large simulated RAM costs host memory only as it is used.
    frames: Vec<Frame>,
    total: u32,
    /// Frames freed and not yet reused (a stack: the most recently freed is
    /// reused first, like a per-CPU page list).
    free: Vec<u32>,
    used: u64,
    /// Allocations and frees so far (direct reclaim uses them to tell
    /// whether another pass could find anything new).
    allocs: u64,
    frees: u64,
    lists: [ListHead; 4],
}

impl FrameTable {
    /// A table of `nframes` frames (at least 2); frame 0 is the zero page.
    pub fn new(nframes: u32) -> FrameTable {
        let nframes = nframes.max(2);
        let zero = Frame {
            flags: flags::USED,
            lru: NO_LRU,
            lru_prev: NIL,
            lru_next: NIL,
            ..Frame::default()
        };
        FrameTable {
            frames: vec![zero],
            total: nframes,
            free: Vec::new(),
            used: 0,
            allocs: 0,
            frees: 0,
            lists: [ListHead {
                head: NIL,
                tail: NIL,
                len: 0,
            }; 4],
        }
    }
    /// Total frames, the zero page included.
    pub fn len(&self) -> u32 {
        self.total
    }
    /// Never: frame 0 is always the zero page.
    pub fn is_empty(&self) -> bool {
        false
    }
    /// Frames in use, not counting the zero page.
    pub fn used(&self) -> u64 {
        self.used
    }
    /// Frames that can be allocated now.
    pub fn free_count(&self) -> u64 {
        self.free.len() as u64 + (self.total as u64 - self.frames.len() as u64)
    }
    #[inline]
    pub fn get(&self, pfn: Pfn) -> &Frame {
        &self.frames[pfn.idx()]
    }
    #[inline]
    pub fn get_mut(&mut self, pfn: Pfn) -> &mut Frame {
        &mut self.frames[pfn.idx()]
    }
    /// Take a free frame, cleared, flagged `USED`, not on any list.
    pub fn alloc(&mut self) -> Option<Pfn> {
        let idx = if let Some(i) = self.free.pop() {
            i
        } else if (self.frames.len() as u32) < self.total {
            self.frames.push(Frame::default());
            self.frames.len() as u32 - 1
        } else {
            return None;
        };
        self.used += 1;
        self.allocs += 1;
        let f = &mut self.frames[idx as usize];
        *f = Frame {
            flags: flags::USED,
            lru: NO_LRU,
            lru_prev: NIL,
            lru_next: NIL,
            ..Frame::default()
        };
        Some(Pfn(idx))
    }
    /// Return a frame to the free pool. Precondition: in use, not on an LRU
    /// list, not the zero page.
    pub fn free(&mut self, pfn: Pfn) {
        debug_assert!(pfn != ZERO_PFN);
        let f = &mut self.frames[pfn.idx()];
        debug_assert!(
            f.has(flags::USED) && f.lru == NO_LRU,
            "freeing {pfn:?} in a bad state"
        );
        *f = Frame {
            lru: NO_LRU,
            ..Frame::default()
        };
        self.used -= 1;
        self.frees += 1;
        self.free.push(pfn.0);
    }
    /// Allocations and frees so far.
    pub fn events(&self) -> (u64, u64) {
        (self.allocs, self.frees)
    }
    /// Whether the frame is currently allocated (the zero page counts).
    pub fn is_used(&self, pfn: Pfn) -> bool {
        (pfn.idx()) < self.frames.len() && self.frames[pfn.idx()].has(flags::USED)
    }
    /// All frame numbers that were ever handed out (for validation scans).
    pub fn touched(&self) -> impl Iterator<Item = Pfn> + '_ {
        (1..self.frames.len() as u32).map(Pfn)
    }
    /// Number of frames on the free stack (for validation).
    pub fn free_stack_len(&self) -> usize {
        self.free.len()
    }

    // ----- LRU lists (intrusive, doubly linked through the frames) -----

    pub fn lru_len(&self, l: LruList) -> u64 {
        self.lists[l as usize].len
    }
    /// The frame at the tail (oldest end) of a list.
    pub fn lru_tail(&self, l: LruList) -> Option<Pfn> {
        let t = self.lists[l as usize].tail;
        (t != NIL).then_some(Pfn(t))
    }
    pub fn lru_head(&self, l: LruList) -> Option<Pfn> {
        let h = self.lists[l as usize].head;
        (h != NIL).then_some(Pfn(h))
    }
    /// The frame after `pfn` towards the head, for walking a list.
    pub fn lru_prev_of(&self, pfn: Pfn) -> Option<Pfn> {
        let p = self.frames[pfn.idx()].lru_prev;
        (p != NIL).then_some(Pfn(p))
    }
    pub fn lru_next_of(&self, pfn: Pfn) -> Option<Pfn> {
        let n = self.frames[pfn.idx()].lru_next;
        (n != NIL).then_some(Pfn(n))
    }
    /// Add at the head (youngest end). Precondition: on no list.
    pub fn lru_add(&mut self, pfn: Pfn, l: LruList) {
        debug_assert_eq!(self.frames[pfn.idx()].lru, NO_LRU);
        let list = &mut self.lists[l as usize];
        let old_head = list.head;
        list.head = pfn.0;
        if old_head == NIL {
            list.tail = pfn.0;
        }
        list.len += 1;
        if old_head != NIL {
            self.frames[old_head as usize].lru_prev = pfn.0;
        }
        let f = &mut self.frames[pfn.idx()];
        f.lru_prev = NIL;
        f.lru_next = old_head;
        f.lru = l as u8;
        f.set(flags::LRU);
        if matches!(l, LruList::ActiveAnon | LruList::ActiveFile) {
            f.set(flags::ACTIVE);
        } else {
            f.clear(flags::ACTIVE);
        }
    }
    /// Remove from whichever list holds it (no-op if none).
    pub fn lru_del(&mut self, pfn: Pfn) {
        let f = self.frames[pfn.idx()];
        if f.lru == NO_LRU {
            return;
        }
        let list = &mut self.lists[f.lru as usize];
        if f.lru_prev == NIL {
            list.head = f.lru_next;
        } else {
            self.frames[f.lru_prev as usize].lru_next = f.lru_next;
        }
        if f.lru_next == NIL {
            list.tail = f.lru_prev;
        } else {
            self.frames[f.lru_next as usize].lru_prev = f.lru_prev;
        }
        list.len -= 1;
        let f = &mut self.frames[pfn.idx()];
        f.lru = NO_LRU;
        f.lru_prev = NIL;
        f.lru_next = NIL;
        f.clear(flags::LRU | flags::ACTIVE);
    }
    /// Move to the head of list `l`.
    pub fn lru_move(&mut self, pfn: Pfn, l: LruList) {
        self.lru_del(pfn);
        self.lru_add(pfn, l);
    }
    /// Check the list structure: links consistent, lengths right, every
    /// member flagged with its list. Returns the members per list.
    pub fn check_lists(&self) -> Result<[u64; 4], String> {
        let mut counts = [0u64; 4];
        for l in LruList::ALL {
            let list = self.lists[l as usize];
            let mut prev = NIL;
            let mut cur = list.head;
            let mut n = 0u64;
            while cur != NIL {
                let f = &self.frames[cur as usize];
                if f.lru != l as u8 || f.lru_prev != prev || !f.has(flags::USED) {
                    return Err(format!("LRU list {l:?} broken at frame {cur}"));
                }
                n += 1;
                if n > self.total as u64 {
                    return Err(format!("LRU list {l:?} has a cycle"));
                }
                prev = cur;
                cur = f.lru_next;
            }
            if prev != list.tail || n != list.len {
                return Err(format!(
                    "LRU list {l:?}: tail or length wrong ({n} vs {})",
                    list.len
                ));
            }
            counts[l as usize] = n;
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alloc_free_and_lists() {
        let mut t = FrameTable::new(8);
        assert_eq!(t.free_count(), 7);
        let a = t.alloc().unwrap();
        let b = t.alloc().unwrap();
        let c = t.alloc().unwrap();
        assert_eq!(t.used(), 3);
        t.lru_add(a, LruList::InactiveAnon);
        t.lru_add(b, LruList::InactiveAnon);
        t.lru_add(c, LruList::ActiveFile);
        assert_eq!(t.lru_tail(LruList::InactiveAnon), Some(a));
        assert!(t.get(c).has(flags::ACTIVE));
        t.lru_move(a, LruList::ActiveAnon);
        assert_eq!(t.lru_tail(LruList::InactiveAnon), Some(b));
        assert_eq!(t.check_lists().unwrap(), [1, 1, 0, 1]);
        t.lru_del(b);
        t.free(b);
        assert_eq!(t.alloc(), Some(b), "freed frames are reused first");
        for _ in 0..4 {
            assert!(t.alloc().is_some());
        }
        assert_eq!(t.alloc(), None, "the table is full");
    }
}
