//! The VMAs linked to one anon_vma, in the order its era's walk meets them.
//!
//! A list era (2.6.7's `anon_vma->head`, 2.6.34 to 3.6's `same_anon_vma`)
//! walks in list order, which is insertion order: at the head (`list_add`),
//! at the tail (`list_add_tail`), or right after another member
//! (`__anon_vma_merge` puts the survivor where the dying VMA was). The
//! interval tree (3.7 on) yields VMAs by `vm_pgoff`, equal offsets in
//! insertion order: its members are kept in insertion order here and the
//! walk orders them by their current offset (`hooks::walk`). Each member
//! has a key that sorts in list order; linking and unlinking cost
//! O(log n), as `list_del` and a tree removal are cheap (a `Vec` made every
//! unlink O(n), and mprotect over thousands of VMAs of one anon_vma
//! quadratic, which no kernel ever was).

use std::collections::{BTreeMap, BTreeSet};

use rmap_core::VmaId;

/// Where a new member goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// `list_add`: before every member.
    Head,
    /// `list_add_tail`: after every member.
    Tail,
    /// Right after this member (or at the tail if it is not one).
    After(VmaId),
}

/// A member's sort key: the list position, then an offset after that
/// position (for [`Place::After`]), then the VMA (which makes every key
/// unique).
type Key = (i64, i64, VmaId);

/// The members of one anon_vma.
#[derive(Clone, Debug, Default)]
pub struct Members {
    keys: BTreeMap<VmaId, Key>,
    order: BTreeSet<Key>,
}

impl Members {
    /// Link `vma` at `place`; `seq` is a number that grows with every link
    /// of the backend (the insertion clock).
    pub fn insert(&mut self, vma: VmaId, place: Place, seq: i64) {
        self.remove(vma);
        let key = match place {
            Place::Head => (-seq, 0, vma),
            Place::Tail => (seq, 0, vma),
            Place::After(m) => match self.keys.get(&m) {
                Some(&(p, s, _)) => (p, s + 1, vma),
                None => (seq, 0, vma),
            },
        };
        self.keys.insert(vma, key);
        self.order.insert(key);
    }

    /// Unlink `vma`; whether it was a member.
    pub fn remove(&mut self, vma: VmaId) -> bool {
        match self.keys.remove(&vma) {
            Some(k) => {
                self.order.remove(&k);
                true
            }
            None => false,
        }
    }

    pub fn contains(&self, vma: VmaId) -> bool {
        self.keys.contains_key(&vma)
    }
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
    /// The members in walk order.
    pub fn iter(&self) -> impl Iterator<Item = VmaId> + '_ {
        self.order.iter().map(|&(_, _, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_tail_and_after_orders() {
        let v = VmaId;
        let mut m = Members::default();
        m.insert(v(1), Place::Head, 1);
        m.insert(v(2), Place::Head, 2);
        m.insert(v(3), Place::Tail, 3);
        m.insert(v(4), Place::After(v(2)), 4);
        assert_eq!(m.iter().collect::<Vec<_>>(), [v(2), v(4), v(1), v(3)]);
        assert!(m.remove(v(2)) && !m.remove(v(2)));
        assert_eq!(m.iter().count(), 3);
        m.insert(v(5), Place::After(v(4)), 5);
        m.insert(v(6), Place::After(v(9)), 6);
        assert_eq!(m.iter().collect::<Vec<_>>(), [v(4), v(5), v(1), v(3), v(6)]);
    }
}
