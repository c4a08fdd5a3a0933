//! Lock instances under contention: who holds each, who waits, and who
//! gets it next.
//!
//! Semantics, by kind (the kind comes from the era's protocol):
//! - `spin`, `bit_spin`, `mutex`, `semaphore`: one holder; waiters queue
//!   FIFO and the head gets the lock at the release (ticket spinlocks from
//!   2.6.25 are FIFO; older test-and-set spinlocks and bit spinlocks were
//!   unfair, which the model does not reproduce). Whether a waiter spins or
//!   sleeps is the engine's business (it decides how the wait is counted
//!   and what the hand-over costs).
//! - `rwsem`: readers share, a writer excludes. Writer preference: a reader
//!   gets the lock at once only when no writer holds it and nobody waits,
//!   so a queued writer blocks new readers. At a release that frees the
//!   lock, a writer at the head gets it alone; readers at the head get it
//!   together, up to the first writer in the queue (the 2.6 rwsem's
//!   `__rwsem_do_wake`).
//! - A trylock ([`LockTable::try_take`]) succeeds under the same condition
//!   as an immediate grant and never queues.
//!
//! The lock is reserved for a waiter from the moment it is handed over, so
//! others that come during the hand-over queue behind it.
//!
//! Invariant: an instance is in the table only while it is held or has
//! waiters (so the table stays as small as the contention).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use crate::costs::Time;
use crate::script::Key;

/// A waiter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waiter {
    pub cpu: u32,
    /// Wants the read side of an rwsem.
    pub shared: bool,
    /// When it began waiting.
    pub since: Time,
}

#[derive(Default, Debug)]
struct Inst {
    excl: bool,
    readers: u32,
    queue: VecDeque<Waiter>,
}

impl Inst {
    #[inline]
    fn grantable(&self, shared: bool) -> bool {
        !self.excl && self.queue.is_empty() && (shared || self.readers == 0)
    }
    #[inline]
    fn take(&mut self, shared: bool) {
        if shared {
            self.readers += 1;
        } else {
            self.excl = true;
        }
    }
}

/// A multiplicative hash for lock keys (a key is already well spread in
/// its low bits; the class sits in the top byte). Deterministic: the table
/// is only looked up, never iterated into output.
#[derive(Default)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    #[inline]
    fn write_u64(&mut self, k: u64) {
        let x = (k ^ (k >> 56).wrapping_mul(0x9e37_79b9)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = x ^ (x >> 29);
    }
}

/// Every lock instance that is held or waited for.
#[derive(Default)]
pub struct LockTable {
    map: HashMap<Key, Inst, BuildHasherDefault<KeyHasher>>,
}

impl LockTable {
    /// Take `key` now if it is free for this mode (see the module docs);
    /// true when taken.
    #[inline]
    pub fn try_take(&mut self, key: Key, shared: bool) -> bool {
        let e = self.map.entry(key).or_default();
        if e.grantable(shared) {
            e.take(shared);
            true
        } else {
            if !e.excl && e.readers == 0 && e.queue.is_empty() {
                self.map.remove(&key);
            }
            false
        }
    }

    /// Queue `w` for `key` (which [`LockTable::try_take`] just refused).
    pub fn enqueue(&mut self, key: Key, w: Waiter) {
        self.map.entry(key).or_default().queue.push_back(w);
    }

    /// Release one hold of `key` (`shared`: a reader's). The waiters that
    /// get the lock now are appended to `granted`, in queue order.
    pub fn release(&mut self, key: Key, shared: bool, granted: &mut Vec<Waiter>) {
        let Some(e) = self.map.get_mut(&key) else {
            return;
        };
        if shared {
            e.readers = e.readers.saturating_sub(1);
        } else {
            e.excl = false;
        }
        if !e.excl && e.readers == 0 {
            match e.queue.front() {
                Some(h) if !h.shared => {
                    let h = e.queue.pop_front().expect("head");
                    e.excl = true;
                    granted.push(h);
                }
                Some(_) => {
                    while let Some(h) = e.queue.front().copied().filter(|h| h.shared) {
                        e.queue.pop_front();
                        e.readers += 1;
                        granted.push(h);
                    }
                }
                None => {
                    self.map.remove(&key);
                }
            }
        }
    }

    /// Whether anybody holds or waits for `key`.
    pub fn busy(&self, key: Key) -> bool {
        self.map.contains_key(&key)
    }

    /// The waiters of `key`, head first (for deadlock reports and tests).
    pub fn waiters(&self, key: Key) -> Vec<Waiter> {
        self.map
            .get(&key)
            .map(|e| e.queue.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The low 32 bits of each busy key whose other bits are `prefix`'s
    /// (whose low 32 bits are zero), in no particular order.
    pub fn busy_ids(&self, prefix: Key) -> impl Iterator<Item = u32> + '_ {
        self.map
            .keys()
            .filter(move |&&k| k & !0xffff_ffff == prefix)
            .map(|&k| k as u32)
    }

    /// Instances held or waited for now.
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(cpu: u32, shared: bool) -> Waiter {
        Waiter {
            cpu,
            shared,
            since: 0,
        }
    }

    #[test]
    fn busy_ids_are_the_held_or_waited_keys_under_a_prefix() {
        let mut t = LockTable::default();
        let hi = 7u64 << 56;
        for k in [hi | 3, hi | 9, (6u64 << 56) | 3, hi | (1 << 32) | 4] {
            assert!(t.try_take(k, false));
        }
        let mut got: Vec<u32> = t.busy_ids(hi).collect();
        got.sort_unstable();
        assert_eq!(got, [3, 9]);
        let mut g = Vec::new();
        t.release(hi | 3, false, &mut g);
        assert_eq!(t.busy_ids(hi).collect::<Vec<_>>(), [9]);
    }

    #[test]
    fn exclusive_fifo() {
        let mut t = LockTable::default();
        let mut g = Vec::new();
        assert!(t.try_take(1, false));
        assert!(!t.try_take(1, false));
        t.enqueue(1, w(2, false));
        t.enqueue(1, w(3, false));
        t.release(1, false, &mut g);
        assert_eq!(g, [w(2, false)]);
        g.clear();
        t.release(1, false, &mut g);
        assert_eq!(g, [w(3, false)]);
        g.clear();
        t.release(1, false, &mut g);
        assert!(g.is_empty() && t.is_empty());
    }

    #[test]
    fn rwsem_readers_share_and_a_queued_writer_blocks_new_readers() {
        let mut t = LockTable::default();
        let mut g = Vec::new();
        assert!(t.try_take(1, true));
        assert!(t.try_take(1, true));
        assert!(!t.try_take(1, false));
        t.enqueue(1, w(5, false));
        // writer preference: a new reader queues behind the writer
        assert!(!t.try_take(1, true));
        t.enqueue(1, w(6, true));
        t.enqueue(1, w(7, true));
        t.enqueue(1, w(8, false));
        t.enqueue(1, w(9, true));
        t.release(1, true, &mut g);
        assert!(g.is_empty(), "one reader still holds");
        t.release(1, true, &mut g);
        assert_eq!(g, [w(5, false)]);
        g.clear();
        t.release(1, false, &mut g);
        // the readers at the head, up to the next writer
        assert_eq!(g, [w(6, true), w(7, true)]);
        g.clear();
        t.release(1, true, &mut g);
        t.release(1, true, &mut g);
        assert_eq!(g, [w(8, false)]);
        g.clear();
        t.release(1, false, &mut g);
        assert_eq!(g, [w(9, true)]);
    }

    #[test]
    fn a_refused_trylock_leaves_no_trace() {
        let mut t = LockTable::default();
        assert!(t.try_take(4, false));
        assert!(!t.try_take(4, true));
        assert_eq!(t.len(), 1);
        let mut g = Vec::new();
        t.release(4, false, &mut g);
        assert!(t.is_empty() && !t.busy(4));
    }
}
