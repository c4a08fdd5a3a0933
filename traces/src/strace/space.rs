//! The known mappings of one traced address space: segments by start
//! address, split and replaced as the program maps, unmaps and protects.
//!
//! Invariant: segments are disjoint and none is empty.

use std::collections::BTreeMap;

use rmap_core::Prot;

/// One mapping, or the part of one that shares its attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Seg {
    pub(super) end: u64,
    pub(super) prot: Prot,
    pub(super) shared: bool,
    /// File index and the file offset of the segment's start.
    pub(super) file: Option<(usize, u64)>,
    pub(super) dontfork: bool,
}

/// The known mappings of one address space.
#[derive(Clone, Debug, Default)]
pub(super) struct Space {
    /// Start address -> segment.
    pub(super) segs: BTreeMap<u64, Seg>,
}

impl Space {
    /// Splits the segment that contains `at` so that a segment starts there.
    pub(super) fn split(&mut self, at: u64) {
        let Some((&s, &seg)) = self.segs.range(..at).next_back() else {
            return;
        };
        if seg.end <= at {
            return;
        }
        let mut left = seg;
        left.end = at;
        let mut right = seg;
        if let Some((f, off)) = seg.file {
            right.file = Some((f, off.saturating_add(at - s)));
        }
        self.segs.insert(s, left);
        self.segs.insert(at, right);
    }

    /// Removes `[start, end)`; whether anything was mapped there.
    pub(super) fn remove(&mut self, start: u64, end: u64) -> bool {
        self.split(start);
        self.split(end);
        let keys: Vec<u64> = self.segs.range(start..end).map(|(&k, _)| k).collect();
        for k in &keys {
            self.segs.remove(k);
        }
        !keys.is_empty()
    }

    /// Maps `[start, seg.end)`, replacing whatever was there.
    pub(super) fn insert(&mut self, start: u64, seg: Seg) {
        self.remove(start, seg.end);
        self.segs.insert(start, seg);
    }

    /// The known pieces of `[start, end)`, split at its ends.
    pub(super) fn pieces(&mut self, start: u64, end: u64) -> Vec<(u64, Seg)> {
        self.split(start);
        self.split(end);
        self.segs.range(start..end).map(|(&k, &v)| (k, v)).collect()
    }

    /// Joins the segment that ends at `at` with the one that starts there
    /// when nothing but the boundary tells them apart (same attributes,
    /// contiguous file offsets): one mapping grown by mremap.
    pub(super) fn coalesce(&mut self, at: u64) {
        let (Some((&s, &left)), Some(&right)) =
            (self.segs.range(..at).next_back(), self.segs.get(&at))
        else {
            return;
        };
        let file_next = left.file.map(|(f, off)| (f, off.saturating_add(at - s)));
        let same = Seg {
            end: right.end,
            file: file_next,
            ..left
        } == right;
        if left.end == at && same {
            self.segs.remove(&at);
            self.segs.insert(
                s,
                Seg {
                    end: right.end,
                    ..left
                },
            );
        }
    }

    /// The segment that contains `addr`, with its start.
    pub(super) fn at(&self, addr: u64) -> Option<(u64, Seg)> {
        let (&s, &seg) = self.segs.range(..=addr).next_back()?;
        (seg.end > addr).then_some((s, seg))
    }
}
