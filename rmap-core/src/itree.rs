//! An interval tree over file page offsets: a treap ordered by
//! `(first, id)` and augmented with the largest `last` of each subtree, so
//! that "every interval that contains page p" costs O(log n + hits), the
//! property Linux's prio tree and later `vma_interval_tree` give `i_mmap`.
//! Priorities come from a hash of the id: deterministic on every machine.

const NIL: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct Node {
    first: u64,
    last: u64,
    id: u32,
    prio: u64,
    max_last: u64,
    left: u32,
    right: u32,
}

/// Intervals `[first, last]` (inclusive) tagged with a `u32` id; the pair
/// `(first, id)` must be unique.
#[derive(Clone, Default, Debug)]
pub struct IntervalTree {
    nodes: Vec<Node>,
    free: Vec<u32>,
    root: u32,
    len: usize,
}

fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl IntervalTree {
    pub fn new() -> Self {
        IntervalTree {
            nodes: Vec::new(),
            free: Vec::new(),
            root: NIL,
            len: 0,
        }
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn key(&self, n: u32) -> (u64, u32) {
        let n = &self.nodes[n as usize];
        (n.first, n.id)
    }
    fn fix(&mut self, n: u32) {
        let (l, r) = (self.nodes[n as usize].left, self.nodes[n as usize].right);
        let mut m = self.nodes[n as usize].last;
        if l != NIL {
            m = m.max(self.nodes[l as usize].max_last);
        }
        if r != NIL {
            m = m.max(self.nodes[r as usize].max_last);
        }
        self.nodes[n as usize].max_last = m;
    }
    /// Split subtree `t` into keys `< k` and keys `>= k`.
    fn split(&mut self, t: u32, k: (u64, u32)) -> (u32, u32) {
        if t == NIL {
            return (NIL, NIL);
        }
        if self.key(t) < k {
            let (a, b) = self.split(self.nodes[t as usize].right, k);
            self.nodes[t as usize].right = a;
            self.fix(t);
            (t, b)
        } else {
            let (a, b) = self.split(self.nodes[t as usize].left, k);
            self.nodes[t as usize].left = b;
            self.fix(t);
            (a, t)
        }
    }
    fn merge(&mut self, a: u32, b: u32) -> u32 {
        if a == NIL {
            return b;
        }
        if b == NIL {
            return a;
        }
        if self.nodes[a as usize].prio > self.nodes[b as usize].prio {
            let r = self.merge(self.nodes[a as usize].right, b);
            self.nodes[a as usize].right = r;
            self.fix(a);
            a
        } else {
            let l = self.merge(a, self.nodes[b as usize].left);
            self.nodes[b as usize].left = l;
            self.fix(b);
            b
        }
    }

    /// Insert `[first, last]` tagged `id`.
    pub fn insert(&mut self, first: u64, last: u64, id: u32) {
        let node = Node {
            first,
            last,
            id,
            prio: mix(id as u64 ^ (first << 20)),
            max_last: last,
            left: NIL,
            right: NIL,
        };
        let n = if let Some(i) = self.free.pop() {
            self.nodes[i as usize] = node;
            i
        } else {
            self.nodes.push(node);
            (self.nodes.len() - 1) as u32
        };
        let (a, b) = self.split(self.root, (first, id));
        let a = self.merge(a, n);
        self.root = self.merge(a, b);
        self.len += 1;
    }

    /// Remove the interval starting at `first` tagged `id`; false if absent.
    pub fn remove(&mut self, first: u64, id: u32) -> bool {
        let (a, b) = self.split(self.root, (first, id));
        let upper = if id == u32::MAX {
            (first + 1, 0)
        } else {
            (first, id + 1)
        };
        let (m, c) = self.split(b, upper);
        // keys are unique, so `m` is the node itself or empty
        let found = m != NIL;
        if found {
            debug_assert!(
                self.nodes[m as usize].left == NIL && self.nodes[m as usize].right == NIL
            );
            self.free.push(m);
            self.len -= 1;
            self.root = self.merge(a, c);
        } else {
            let b = self.merge(m, c);
            self.root = self.merge(a, b);
        }
        found
    }

    /// Visit the id of every interval that contains `point`, in key order.
    pub fn query(&self, point: u64, f: &mut dyn FnMut(u32)) {
        self.query_at(self.root, point, f);
    }
    fn query_at(&self, t: u32, point: u64, f: &mut dyn FnMut(u32)) {
        if t == NIL {
            return;
        }
        let n = self.nodes[t as usize];
        if n.max_last < point {
            return;
        }
        self.query_at(n.left, point, f);
        if n.first > point {
            return;
        }
        if n.last >= point {
            f(n.id);
        }
        self.query_at(n.right, point, f);
    }

    /// Every `(first, last, id)` in key order (validation and listing).
    pub fn items(&self) -> Vec<(u64, u64, u32)> {
        let mut out = Vec::with_capacity(self.len);
        fn go(t: &IntervalTree, n: u32, out: &mut Vec<(u64, u64, u32)>) {
            if n == NIL {
                return;
            }
            let nd = t.nodes[n as usize];
            go(t, nd.left, out);
            out.push((nd.first, nd.last, nd.id));
            go(t, nd.right, out);
        }
        go(self, self.root, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn matches_brute_force(ops in proptest::collection::vec((0u64..64, 0u64..16, 0u32..20, any::<bool>()), 1..200), q in 0u64..80) {
            let mut t = IntervalTree::new();
            let mut model: Vec<(u64, u64, u32)> = vec![];
            for (first, len, id, ins) in ops {
                if ins {
                    if model.iter().any(|&(f, _, i)| f == first && i == id) { continue; }
                    t.insert(first, first + len, id);
                    model.push((first, first + len, id));
                } else {
                    let had = model.iter().position(|&(f, _, i)| f == first && i == id);
                    prop_assert_eq!(t.remove(first, id), had.is_some());
                    if let Some(p) = had { model.remove(p); }
                }
            }
            prop_assert_eq!(t.len(), model.len());
            let mut got = vec![];
            t.query(q, &mut |id| got.push(id));
            let mut want: Vec<_> = model.iter().filter(|&&(f, l, _)| f <= q && q <= l).map(|&(_, _, i)| i).collect();
            got.sort();
            want.sort();
            prop_assert_eq!(got, want);
        }
    }
}
