//! Page tables: a 4-level radix tree of 512-entry tables per mm.
//!
//! Tables live in one arena shared by every mm; a table is named by its arena
//! slot, and an upper-level entry holds `child slot + 1` (0 = empty). Every
//! table occupies one frame of simulated RAM, allocated by the caller (the
//! system, which may have to reclaim for it) and handed in, so fork and exit
//! pay for page tables as they do in Linux. Tables are allocated only where
//! something is mapped.
//!
//! A [`PtePtr`] names one PTE slot (table slot × 512 + index): the model's
//! "PTE address", from which the owning mm and the virtual address follow,
//! as `ptep_to_mm` / `ptep_to_address` did in the 2.5 rmap.
//!
//! Invariant: `used[slot]` counts the non-zero entries of the table.

use crate::addr::Pfn;
use crate::pte::Pte;

/// Entries per table.
pub const ENTRIES: usize = 512;
/// Bytes of address space one PTE table covers (2 MiB).
pub const PTE_TABLE_SPAN: u64 = 1 << 21;
const LEVELS: u32 = 4;

/// Address of one PTE: table slot × 512 + index in the table.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct PtePtr(pub u32);

impl PtePtr {
    #[inline]
    pub fn slot(self) -> u32 {
        self.0 >> 9
    }
    #[inline]
    pub fn index(self) -> usize {
        (self.0 & 511) as usize
    }
}

/// The shift of the address bits that index a table at `level` (4 = PGD).
#[inline]
fn shift(level: u32) -> u32 {
    12 + 9 * (level - 1)
}

#[inline]
fn idx_at(vaddr: u64, level: u32) -> usize {
    ((vaddr >> shift(level)) & 511) as usize
}

/// A table's owner mm, level (0: free) and first address.
#[derive(Clone, Copy, Default)]
struct Meta {
    base: u64,
    mm: u32,
    level: u8,
}

/// The tables' storage: table `slot` is entry `slot % CHUNK` of chunk
/// `slot / CHUNK`. Chunks of tables rather than one allocation each: a
/// table's address is one short step from its slot (the chunk list stays in
/// cache), not a load from a list as long as the tables are many (a family
/// walk reads one PTE in each of thousands of tables).
#[derive(Default)]
struct Store {
    chunks: Vec<Box<[[u64; ENTRIES]]>>,
    len: u32,
}

/// Tables per chunk of [`Store`] (256 KiB).
const CHUNK: u32 = 64;

impl Store {
    /// A new zeroed table; its slot.
    fn push(&mut self) -> u32 {
        if self.len % CHUNK == 0 {
            self.chunks
                .push(vec![[0; ENTRIES]; CHUNK as usize].into_boxed_slice());
        }
        self.len += 1;
        self.len - 1
    }
}

impl std::ops::Index<u32> for Store {
    type Output = [u64; ENTRIES];
    #[inline]
    fn index(&self, slot: u32) -> &Self::Output {
        &self.chunks[(slot / CHUNK) as usize][(slot % CHUNK) as usize]
    }
}

impl std::ops::IndexMut<u32> for Store {
    #[inline]
    fn index_mut(&mut self, slot: u32) -> &mut Self::Output {
        &mut self.chunks[(slot / CHUNK) as usize][(slot % CHUNK) as usize]
    }
}

/// The page-table arena.
#[derive(Default)]
pub struct PageTables {
    tables: Store,
    used: Vec<u16>,
    pfn: Vec<u32>,
    /// Owner, level and first address of each table, side by side (a
    /// hinted lookup checks all three of one table: one cache line).
    meta: Vec<Meta>,
    free_slots: Vec<u32>,
    live: u64,
    /// By mm id: the leaf table `ensure` last reached for that mm (a hint:
    /// checked against the table's level, owner and base before use).
    leaf_hint: Vec<u32>,
    /// By frame: the PTE `set` last made map it (a hint: checked against
    /// the PTE before use; `u32::MAX`: none yet).
    mapper: Vec<u32>,
}

impl PageTables {
    pub fn new() -> Self {
        Self::default()
    }
    /// Live tables (each one frame).
    pub fn live(&self) -> u64 {
        self.live
    }

    fn new_table(&mut self, pfn: Pfn, mm: u32, base: u64, level: u32) -> u32 {
        let slot = if let Some(s) = self.free_slots.pop() {
            self.tables[s].fill(0);
            s
        } else {
            self.used.push(0);
            self.pfn.push(0);
            self.meta.push(Meta::default());
            self.tables.push()
        };
        let s = slot as usize;
        self.used[s] = 0;
        self.pfn[s] = pfn.0;
        self.meta[s] = Meta {
            base,
            mm,
            level: level as u8,
        };
        self.live += 1;
        slot
    }

    fn drop_table(&mut self, slot: u32) -> Pfn {
        let s = slot as usize;
        debug_assert_eq!(self.used[s], 0);
        self.live -= 1;
        self.free_slots.push(slot);
        self.meta[s].level = 0;
        Pfn(self.pfn[s])
    }

    /// A new top-level table for mm `mm`, in frame `pfn`.
    pub fn new_root(&mut self, pfn: Pfn, mm: u32) -> u32 {
        self.new_table(pfn, mm, 0, LEVELS)
    }

    /// The mm that owns the table holding `p`.
    #[inline]
    pub fn owner(&self, p: PtePtr) -> u32 {
        self.meta[p.slot() as usize].mm
    }
    /// The virtual address that the PTE at `p` maps.
    #[inline]
    pub fn address(&self, p: PtePtr) -> u64 {
        self.meta[p.slot() as usize].base + ((p.index() as u64) << 12)
    }
    /// The frame that holds the table of `p`.
    pub fn table_pfn(&self, slot: u32) -> Pfn {
        Pfn(self.pfn[slot as usize])
    }

    #[inline]
    pub fn get(&self, p: PtePtr) -> Pte {
        Pte(self.tables[p.slot()][p.index()])
    }
    #[inline]
    pub fn set(&mut self, p: PtePtr, pte: Pte) {
        let s = p.slot() as usize;
        let e = &mut self.tables[s as u32][p.index()];
        match (*e == 0, pte.0 == 0) {
            (true, false) => self.used[s] += 1,
            (false, true) => self.used[s] -= 1,
            _ => {}
        }
        *e = pte.0;
        if let Some(f) = pte.pfn() {
            let f = f.0 as usize;
            if self.mapper.len() <= f {
                self.mapper.resize(f + 1, u32::MAX);
            }
            self.mapper[f] = p.0;
        }
    }

    /// The PTE that maps frame `pfn` if the frame has exactly one mapping
    /// (`mapcount` is 1) and it is the one last set to map it; else `None`,
    /// which says nothing. A reverse-map walk looking for that one mapping
    /// compares PTE addresses instead of reading each PTE (host speed
    /// only). Precondition: `mapcount` counts the present PTEs that map
    /// the frame (`System::validate` checks it).
    #[inline]
    pub fn sole_mapping(&self, pfn: Pfn, mapcount: u32) -> Option<PtePtr> {
        let h = *self.mapper.get(pfn.0 as usize).filter(|_| mapcount == 1)?;
        let p = PtePtr(h);
        (h != u32::MAX && self.get(p).pfn() == Some(pfn)).then_some(p)
    }

    /// The PTE slot for `vaddr` if its table exists.
    #[inline]
    pub fn lookup(&self, root: u32, vaddr: u64) -> Option<PtePtr> {
        let mut slot = root;
        for level in (2..=LEVELS).rev() {
            let e = self.tables[slot][idx_at(vaddr, level)];
            if e == 0 {
                return None;
            }
            slot = (e - 1) as u32;
        }
        Some(PtePtr(slot * ENTRIES as u32 + idx_at(vaddr, 1) as u32))
    }

    /// [`PageTables::lookup`] of each `(root, vaddr)` of `reqs` (no root:
    /// no table), appended to `out` in order. The lookups go level by level
    /// across a batch, so that their loads, independent of each other,
    /// overlap on the host: a walk of a family's 30,000 VMAs is bound by
    /// these cache misses, not by its arithmetic. Same results as `lookup`.
    pub fn lookup_many(&self, reqs: &[(Option<u32>, u64)], out: &mut Vec<Option<PtePtr>>) {
        const BATCH: usize = 32;
        for chunk in reqs.chunks(BATCH) {
            let mut slot = [None::<u32>; BATCH];
            for (s, &(root, _)) in slot.iter_mut().zip(chunk) {
                *s = root;
            }
            for level in (2..=LEVELS).rev() {
                for (s, &(_, vaddr)) in slot.iter_mut().zip(chunk) {
                    if let Some(t) = *s {
                        let e = self.tables[t][idx_at(vaddr, level)];
                        *s = (e != 0).then(|| (e - 1) as u32);
                    }
                }
            }
            out.extend(slot.iter().zip(chunk).map(|(s, &(_, vaddr))| {
                s.map(|t| PtePtr(t * ENTRIES as u32 + idx_at(vaddr, 1) as u32))
            }));
        }
    }

    /// How many tables `ensure` would have to create for `vaddr`.
    pub fn missing(&self, root: u32, vaddr: u64) -> usize {
        let mut slot = root;
        for level in (2..=LEVELS).rev() {
            let e = self.tables[slot][idx_at(vaddr, level)];
            if e == 0 {
                return (level - 1) as usize;
            }
            slot = (e - 1) as u32;
        }
        0
    }

    /// The PTE slot for `vaddr`, creating tables from `frames` (which must
    /// hold at least `missing(root, vaddr)` frames; those used are popped).
    pub fn ensure(&mut self, root: u32, vaddr: u64, frames: &mut Vec<Pfn>) -> PtePtr {
        let mut slot = root;
        let mm = self.meta[root as usize].mm;
        for level in (2..=LEVELS).rev() {
            let i = idx_at(vaddr, level);
            let e = self.tables[slot][i];
            slot = if e == 0 {
                let pfn = frames.pop().expect("caller preallocates page-table frames");
                let span_shift = shift(level);
                let base = (vaddr >> span_shift) << span_shift;
                let child = self.new_table(pfn, mm, base, level - 1);
                self.tables[slot][i] = child as u64 + 1;
                self.used[slot as usize] += 1;
                child
            } else {
                (e - 1) as u32
            };
        }
        let m = mm as usize;
        if self.leaf_hint.len() <= m {
            self.leaf_hint.resize(m + 1, u32::MAX);
        }
        self.leaf_hint[m] = slot;
        PtePtr(slot * ENTRIES as u32 + idx_at(vaddr, 1) as u32)
    }

    /// The PTE slot of `vaddr` in mm `mm` if the leaf table that `ensure`
    /// last reached for that mm is live, still the mm's, and covers
    /// `vaddr`: the answer of `lookup` without reading the upper levels
    /// (the PTE table of a live mm for an address is unique). `None` says
    /// nothing: use `lookup`.
    #[inline]
    pub fn lookup_hinted(&self, mm: u32, vaddr: u64) -> Option<PtePtr> {
        let h = *self.leaf_hint.get(mm as usize)?;
        let s = h as usize;
        let leaf_base = vaddr & !((1u64 << shift(2)) - 1);
        let m = self.meta.get(s)?;
        (m.level == 1 && m.mm == mm && m.base == leaf_base)
            .then(|| PtePtr(h * ENTRIES as u32 + idx_at(vaddr, 1) as u32))
    }

    /// Visit every non-none PTE with address in `[start, end)`, in address
    /// order, skipping absent tables. The visitor may not change tables.
    pub fn for_each(&self, root: u32, start: u64, end: u64, f: &mut dyn FnMut(PtePtr, u64, Pte)) {
        if start < end {
            self.visit(root, LEVELS, start, end, f);
        }
    }

    fn visit(
        &self,
        slot: u32,
        level: u32,
        start: u64,
        end: u64,
        f: &mut dyn FnMut(PtePtr, u64, Pte),
    ) {
        let base = self.meta[slot as usize].base;
        let sh = shift(level);
        let span = 1u64 << sh;
        let t = &self.tables[slot];
        let first = if start > base {
            ((start - base) >> sh) as usize
        } else {
            0
        };
        for (i, &e) in t.iter().enumerate().skip(first) {
            let lo = base + i as u64 * span;
            if lo >= end {
                break;
            }
            if e == 0 {
                continue;
            }
            if level == 1 {
                f(PtePtr(slot * ENTRIES as u32 + i as u32), lo, Pte(e));
            } else {
                self.visit((e - 1) as u32, level - 1, start, end, f);
            }
        }
    }

    /// Collect the non-none PTEs of `[start, end)` (for callers that must
    /// change tables while iterating).
    pub fn collect(&self, root: u32, start: u64, end: u64, out: &mut Vec<(PtePtr, u64)>) {
        out.clear();
        self.for_each(root, start, end, &mut |p, va, _| out.push((p, va)));
    }

    /// Free every table under `root` that holds no entries and whose span
    /// lies in `[start, end)` rounded out to the table's span, unless
    /// `in_use(lo, hi)` says a VMA still intersects the span. Freed frames
    /// are pushed to `freed`. The root itself is never freed here.
    pub fn free_unused(
        &mut self,
        root: u32,
        start: u64,
        end: u64,
        in_use: &dyn Fn(u64, u64) -> bool,
        freed: &mut Vec<Pfn>,
    ) {
        self.free_level(root, LEVELS, start, end, in_use, freed);
    }

    fn free_level(
        &mut self,
        slot: u32,
        level: u32,
        start: u64,
        end: u64,
        in_use: &dyn Fn(u64, u64) -> bool,
        freed: &mut Vec<Pfn>,
    ) {
        if level == 1 {
            return;
        }
        let base = self.meta[slot as usize].base;
        let sh = shift(level);
        let span = 1u64 << sh;
        for i in 0..ENTRIES {
            let lo = base + i as u64 * span;
            let hi = lo + span;
            if hi <= start {
                continue;
            }
            if lo >= end {
                break;
            }
            let e = self.tables[slot][i];
            if e == 0 {
                continue;
            }
            let child = (e - 1) as u32;
            self.free_level(child, level - 1, start, end, in_use, freed);
            if self.used[child as usize] == 0 && !in_use(lo, hi) {
                freed.push(self.drop_table(child));
                self.tables[slot][i] = 0;
                self.used[slot as usize] -= 1;
            }
        }
    }

    /// Free every table of an address space, root included. Precondition:
    /// every PTE is none (the caller zapped them).
    pub fn free_all(&mut self, root: u32, freed: &mut Vec<Pfn>) {
        self.free_level(root, LEVELS, 0, u64::MAX, &|_, _| false, freed);
        debug_assert_eq!(self.used[root as usize], 0);
        freed.push(self.drop_table(root));
    }

    /// Visit every PTE table (level 1) under `root`: its first address and
    /// how many entries it holds.
    pub fn for_each_pte_table(&self, root: u32, f: &mut dyn FnMut(u64, u16)) {
        fn go(pt: &PageTables, slot: u32, level: u32, f: &mut dyn FnMut(u64, u16)) {
            if level == 1 {
                return f(pt.meta[slot as usize].base, pt.used[slot as usize]);
            }
            for &e in pt.tables[slot].iter() {
                if e != 0 {
                    go(pt, (e - 1) as u32, level - 1, f);
                }
            }
        }
        go(self, root, LEVELS, f);
    }

    /// Check the used counts and parent links of every live table reachable
    /// from `root`; returns the number of tables (root included).
    pub fn check(&self, root: u32) -> Result<u64, String> {
        fn go(pt: &PageTables, slot: u32, level: u32, n: &mut u64) -> Result<(), String> {
            *n += 1;
            if pt.meta[slot as usize].level as u32 != level {
                return Err(format!(
                    "table {slot} at level {level} says level {}",
                    pt.meta[slot as usize].level
                ));
            }
            let nz = pt.tables[slot].iter().filter(|&&e| e != 0).count();
            if nz != pt.used[slot as usize] as usize {
                return Err(format!(
                    "table {slot}: used count {} but {nz} entries",
                    pt.used[slot as usize]
                ));
            }
            if level > 1 {
                for &e in pt.tables[slot].iter() {
                    if e != 0 {
                        go(pt, (e - 1) as u32, level - 1, n)?;
                    }
                }
            }
            Ok(())
        }
        let mut n = 0;
        go(self, root, LEVELS, &mut n)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ensure_lookup_iterate_free() {
        let mut pt = PageTables::new();
        let root = pt.new_root(Pfn(1), 7);
        let va = 0x1000_0000_0000u64;
        assert_eq!(pt.lookup(root, va), None);
        assert_eq!(pt.missing(root, va), 3);
        let mut frames = vec![Pfn(2), Pfn(3), Pfn(4)];
        let p = pt.ensure(root, va, &mut frames);
        assert!(frames.is_empty());
        assert_eq!(pt.live(), 4);
        assert_eq!(pt.owner(p), 7);
        assert_eq!(pt.address(p), va);
        pt.set(p, Pte::GUARD);
        let q = pt.lookup(root, va + 0x5000).unwrap();
        pt.set(q, Pte::GUARD);
        assert_eq!(pt.missing(root, va + PTE_TABLE_SPAN), 1);
        let mut seen = vec![];
        pt.for_each(root, va + 0x1000, va + 0x10000, &mut |_, a, _| seen.push(a));
        assert_eq!(seen, vec![va + 0x5000]);
        assert_eq!(pt.check(root).unwrap(), 4);
        let mut freed = vec![];
        pt.free_unused(root, va, va + 0x1000, &|_, _| false, &mut freed);
        assert!(freed.is_empty(), "a table with entries is kept");
        pt.set(p, Pte::NONE);
        pt.set(q, Pte::NONE);
        pt.free_unused(root, va, va + 0x1000, &|_, _| true, &mut freed);
        assert!(freed.is_empty(), "a table under a VMA is kept");
        pt.free_unused(root, va, va + 0x1000, &|_, _| false, &mut freed);
        assert_eq!(freed.len(), 3);
        assert_eq!(pt.live(), 1);
        pt.free_all(root, &mut freed);
        assert_eq!(pt.live(), 0);
    }

    /// A frame's sole mapping is the PTE last set to map it, while that PTE
    /// still does and the frame has one mapping.
    #[test]
    fn sole_mapping_follows_the_last_pte_set() {
        use crate::ops::Prot;
        let mut pt = PageTables::new();
        let root = pt.new_root(Pfn(1), 7);
        let va = 0x1000_0000_0000u64;
        let mut frames = vec![Pfn(2), Pfn(3), Pfn(4)];
        let (p, q) = (
            pt.ensure(root, va, &mut frames),
            pt.ensure(root, va + 0x1000, &mut frames),
        );
        let (f, g) = (Pfn(40), Pfn(41));
        let maps = |f| Pte::present(f, Prot::new(true, false, false), None);
        assert_eq!(pt.sole_mapping(f, 1), None, "never mapped");
        pt.set(p, maps(f));
        assert_eq!(pt.sole_mapping(f, 1), Some(p));
        assert_eq!(pt.sole_mapping(f, 2), None, "more than one mapping");
        pt.set(q, maps(f));
        assert_eq!(pt.sole_mapping(f, 1), Some(q), "the last set");
        pt.set(q, maps(g));
        assert_eq!(pt.sole_mapping(f, 1), None, "the hint no longer maps it");
        assert_eq!(pt.sole_mapping(g, 1), Some(q));
        pt.set(q, Pte::NONE);
        assert_eq!(pt.sole_mapping(g, 1), None, "cleared");
    }

    /// The batched and the hinted lookups give `lookup`'s answers, and a
    /// hint is not trusted once its table is freed or another leaf was
    /// reached.
    #[test]
    fn batched_and_hinted_lookups_agree_with_lookup() {
        let mut pt = PageTables::new();
        let (a, b) = (pt.new_root(Pfn(1), 3), pt.new_root(Pfn(2), 4));
        let va = 0x1000_0000_0000u64;
        let far = va + 5 * PTE_TABLE_SPAN;
        let mut frames: Vec<Pfn> = (10..30).map(Pfn).collect();
        let pa = pt.ensure(a, va + 0x3000, &mut frames);
        assert_eq!(pt.lookup_hinted(3, va + 0x7000), pt.lookup(a, va + 0x7000));
        assert_eq!(pt.lookup_hinted(3, va + 0x3000), Some(pa));
        assert_eq!(pt.lookup_hinted(3, far), None, "another leaf");
        assert_eq!(pt.lookup_hinted(4, va), None, "nothing reached yet");
        let pb = pt.ensure(b, far, &mut frames);
        let reqs = [
            (Some(a), va + 0x3000),
            (Some(b), far),
            (Some(a), far),
            (None, va),
            (Some(b), va),
        ];
        let mut out = vec![Some(PtePtr(0))];
        pt.lookup_many(&reqs, &mut out);
        assert_eq!(
            out,
            vec![Some(PtePtr(0)), Some(pa), Some(pb), None, None, None]
        );
        for &(root, v) in &reqs {
            let mut one = vec![];
            pt.lookup_many(&[(root, v)], &mut one);
            assert_eq!(one[0], root.and_then(|r| pt.lookup(r, v)));
        }
        // a second leaf of mm 3 moves its hint; the first is found by lookup
        let pf = pt.ensure(a, far, &mut frames);
        assert_eq!(pt.lookup_hinted(3, far), Some(pf));
        assert_eq!(pt.lookup_hinted(3, va + 0x3000), None);
        // freed tables are never trusted
        let mut freed = vec![];
        pt.free_all(a, &mut freed);
        assert_eq!(pt.lookup_hinted(3, far), None);
        assert_eq!(pt.lookup_hinted(4, far), Some(pb));
    }
}
