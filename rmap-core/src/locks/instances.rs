//! Acquisitions per lock instance, counted without a hash per acquisition.
//!
//! Instance ids are small dense numbers (mm, page frame, anon_vma, file,
//! VMA ids), some with a tag in the high bits (the split page-table lock's
//! `1 << 40`). A reclaim walk of a 30,000-process family takes 30,000 of
//! them per page, so a hash map lookup per acquisition (two cache misses in
//! a large table) was most of a 1024-CPU `aim7` run; a vector per tag
//! indexed by the low bits is walked in order instead. Ids whose low part
//! is too large for a vector fall back to a map.

use std::collections::HashMap;

/// Largest low part (exclusive) counted in a vector: 4 Mi instances,
/// 32 MiB per tag and class at most.
const DENSE_MAX: u64 = 1 << 22;
const LOW_BITS: u32 = 32;

/// Acquisitions per instance of one lock class.
#[derive(Debug, Default)]
pub(super) struct InstanceCounts {
    /// Per tag (the id's bits above `LOW_BITS`): counts by the low part.
    dense: Vec<(u64, Vec<u64>)>,
    sparse: HashMap<u64, u64>,
    /// Distinct instances in `dense`.
    dense_distinct: u64,
}

impl InstanceCounts {
    /// Count one acquisition of instance `id`.
    #[inline]
    pub(super) fn bump(&mut self, id: u64) {
        self.bump_all(std::slice::from_ref(&id));
    }

    /// Count one acquisition of each instance of `ids` (a run of them
    /// mostly shares one tag: its vector is found once).
    pub(super) fn bump_all(&mut self, ids: &[u64]) {
        let mut cur: Option<(u64, usize)> = None;
        for &id in ids {
            let (tag, low) = (id >> LOW_BITS, id & ((1 << LOW_BITS) - 1));
            if low >= DENSE_MAX {
                *self.sparse.entry(id).or_insert(0) += 1;
                continue;
            }
            let i = match cur {
                Some((t, i)) if t == tag => i,
                _ => {
                    let i = match self.dense.iter().position(|(t, _)| *t == tag) {
                        Some(i) => i,
                        None => {
                            self.dense.push((tag, Vec::new()));
                            self.dense.len() - 1
                        }
                    };
                    cur = Some((tag, i));
                    i
                }
            };
            let v = &mut self.dense[i].1;
            let low = low as usize;
            if low >= v.len() {
                v.resize((low + 1).next_power_of_two(), 0);
            }
            if v[low] == 0 {
                self.dense_distinct += 1;
            }
            v[low] += 1;
        }
    }

    /// Distinct instances ever counted.
    pub(super) fn len(&self) -> u64 {
        self.dense_distinct + self.sparse.len() as u64
    }

    /// The busiest instance and its count: most acquisitions, then the
    /// lowest id (deterministic whatever the storage order).
    pub(super) fn busiest(&self) -> Option<(u64, u64)> {
        let dense = self.dense.iter().flat_map(|(tag, v)| {
            v.iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(move |(low, &n)| ((tag << LOW_BITS) | low as u64, n))
        });
        dense
            .chain(self.sparse.iter().map(|(&id, &n)| (id, n)))
            .map(|(id, n)| (n, std::cmp::Reverse(id)))
            .max()
            .map(|(n, std::cmp::Reverse(id))| (id, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_dense_tagged_and_sparse_ids_alike() {
        let mut c = InstanceCounts::default();
        assert_eq!(c.busiest(), None);
        let tagged = (1 << 40) | 5;
        let big = DENSE_MAX + 3;
        for id in [7, 7, tagged, tagged, big, big, 2] {
            c.bump(id);
        }
        assert_eq!(c.len(), 4);
        // three ids with 2 each: the lowest wins
        assert_eq!(c.busiest(), Some((7, 2)));
        c.bump(big);
        assert_eq!(c.busiest(), Some((big, 3)));
        c.bump(tagged);
        c.bump(tagged);
        assert_eq!(c.busiest(), Some((tagged, 4)));
        assert_eq!(c.len(), 4);
    }

    #[test]
    fn a_run_counts_as_its_ids_one_by_one() {
        let tagged = |x: u64| (1 << 40) | x;
        let ids = [
            3,
            tagged(3),
            tagged(3),
            3,
            DENSE_MAX + 1,
            9,
            tagged(1),
            9,
            9,
        ];
        let (mut one, mut run) = (InstanceCounts::default(), InstanceCounts::default());
        for &id in &ids {
            one.bump(id);
        }
        run.bump_all(&ids);
        assert_eq!((run.len(), run.busiest()), (one.len(), one.busiest()));
        assert_eq!(run.busiest(), Some((9, 3)));
        assert_eq!(run.len(), 5);
    }
}
