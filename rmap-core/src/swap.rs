//! The swap device and the swap cache.
//!
//! A device of fixed size; each slot has a count of the swap PTEs that name
//! it, the content written to it, and the frame that caches it, if any (the
//! swap cache: slot to frame). A full device is reported to reclaim, which
//! then keeps the page; it is never a panic.
//!
//! Invariant: a slot is allocated iff its count is non-zero or a frame
//! caches it; `count` equals the swap PTEs that name the slot.

use crate::addr::Pfn;
use crate::frame::NIL;

#[derive(Clone, Copy, Debug)]
pub struct Slot {
    /// Swap PTEs naming the slot.
    pub count: u32,
    /// Frame in the swap cache for this slot, or `NIL`.
    pub cache: u32,
    pub content: u64,
    pub in_use: bool,
}

const EMPTY: Slot = Slot {
    count: 0,
    cache: NIL,
    content: 0,
    in_use: false,
};

/// The swap device.
pub struct Swap {
    slots: Vec<Slot>,
    free: Vec<u32>,
    cap: u32,
    used: u64,
}

impl Swap {
    /// A device of `nslots` pages.
    pub fn new(nslots: u32) -> Swap {
        Swap {
            slots: Vec::new(),
            free: Vec::new(),
            cap: nslots,
            used: 0,
        }
    }
    pub fn capacity(&self) -> u32 {
        self.cap
    }
    /// Slots in use.
    pub fn used(&self) -> u64 {
        self.used
    }
    /// Allocate a slot; `None` when the device is full.
    pub fn alloc(&mut self) -> Option<u32> {
        let s = if let Some(s) = self.free.pop() {
            s
        } else if (self.slots.len() as u32) < self.cap {
            self.slots.push(EMPTY);
            self.slots.len() as u32 - 1
        } else {
            return None;
        };
        self.slots[s as usize] = Slot {
            in_use: true,
            ..EMPTY
        };
        self.used += 1;
        Some(s)
    }
    #[inline]
    pub fn slot(&self, s: u32) -> &Slot {
        &self.slots[s as usize]
    }
    #[inline]
    pub fn slot_mut(&mut self, s: u32) -> &mut Slot {
        &mut self.slots[s as usize]
    }
    /// The swap-cache frame for slot `s`.
    pub fn cached(&self, s: u32) -> Option<Pfn> {
        let c = self.slots[s as usize].cache;
        (c != NIL).then_some(Pfn(c))
    }
    /// Free the slot if nothing names or caches it any more; true if freed.
    pub fn release_if_unused(&mut self, s: u32) -> bool {
        let sl = &mut self.slots[s as usize];
        if sl.in_use && sl.count == 0 && sl.cache == NIL {
            *sl = EMPTY;
            self.used -= 1;
            self.free.push(s);
            true
        } else {
            false
        }
    }
    /// Every allocated slot number (validation).
    pub fn allocated(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.in_use)
            .map(|(i, _)| i as u32)
    }
}
