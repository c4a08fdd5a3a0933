//! # pte-chain: per-page chains of PTE pointers (the 2.5-era rmap)
//!
//! Every mapped page, anonymous or file, keeps the addresses of the PTEs
//! that map it. A walk is a list traversal with no search at all; the price
//! is paid on every mapping made or broken (fault, fork, unmap, exit), and
//! in memory: a page mapped by N processes needs ⌈N / NRPTE⌉ chain blocks.
//!
//! Layout, after the 2.5 kernels:
//! - **direct mode** (`PageDirect`): a page mapped once keeps its single PTE
//!   address in the page itself, with no chain; the second mapping converts
//!   it to a chain; a chain that has shrunk back to one entry is collapsed
//!   to direct mode by the next walk of that page (as reclaim did), not at
//!   unmap time;
//! - **chain blocks** of one cache line: NRPTE PTE addresses plus a link
//!   (NRPTE = 7 for 64-byte lines and 8-byte addresses; 15 and 31 for 128-
//!   and 256-byte blocks), from a counted pool (the `pte_chain` slab);
//! - **compaction**: only the head block of a chain may be partly empty; an
//!   unmap moves the head's last entry into the hole it leaves and frees the
//!   head block when it empties.
//!
//! Presets: `rik` (default: direct mode, NRPTE 7), `naive` (one PTE address
//! per 16-byte node, no direct mode: the first rmap patches), `nrpte15`,
//! `nrpte31`.
//!
//! Era facts (every preset is the 2.5/2.6.0 PTE-chain rmap; the sources
//! are Linux 2.6.0 and 2.5.27 as kept in the BitKeeper-era history):
//! - **Object sizes**: `rik` is x86-64 (64-byte line, 8-byte `pte_addr_t`,
//!   NRPTE = (64 - 8) / 8 = 7: a 64-byte block; 2.6.0 `mm/rmap.c`);
//!   `nrpte31` is the i386 Pentium 4 layout it names (128-byte line,
//!   4-byte entries: (128 - 4) / 4 = 31 in a 128-byte block); `nrpte15` is
//!   ppc64, a 64-bit machine with 128-byte lines ((128 - 8) / 8 = 15 in a
//!   128-byte block; i386 on a K7 gives 15 too, in 64 bytes); `naive` is
//!   2.5.27's `struct pte_chain { next; ptep; }`, 16 bytes per mapping
//!   (2.5.27 `mm/rmap.c`, "minimal rmap"). The `vm_area_struct` is 2.6.0's
//!   128 bytes (2.5.52 on), 2.5.27's 136 for `naive`
//!   ([`rmap_core::rmap::sizes`]).
//! - **Fork copies every PTE** of every VMA but `VM_DONTCOPY` ones, file
//!   pages included, and adds a chain entry for each (2.6.0
//!   `kernel/fork.c` `dup_mmap`, `mm/memory.c` `copy_page_range` calling
//!   `page_add_rmap`); lazy fork came in 2.6.14.
//! - **Walks do not stop early**: the chain holds exactly the mappings, and
//!   2.6.0's `page_referenced` and `try_to_unmap` go through every entry
//!   (only `SWAP_FAIL` ends the latter).
//! - **Nonlinear pages** are on their chains like any other
//!   (`install_page` calls `page_add_rmap`): nothing to scan.
//!
//! Anonymous state: this design has no anon_vma; a VMA's word only records
//! "has anonymous pages" (so fork copies its page tables), and anonymous
//! state never blocks a VMA merge, as in 2.5.
//!
//! Invariants (checked by `validate`): each page's entry count equals its
//! mapcount; every entry is distinct; only head blocks are partial; live
//! block count equals the blocks reachable from pages; direct mode holds
//! exactly one entry.

use rmap_core::locks::era;
use rmap_core::merge_rules::MergeRules;
use rmap_core::pgtable::PtePtr;
use rmap_core::rmap::{MapAt, Objects, sizes};
use rmap_core::walk::Walk;
use rmap_core::{
    Acq, AnonNeed, Core, Ctx, Errno, Lk, LockClass, LockProtocol, MmId, NonlinearEra, Pfn, Presets,
    ReverseMap, VmaId, WorkKind,
};

/// Anonymous state in the designs before anon_vma (2.5 PTE chains, the
/// objrmap patches): a VMA's word only says "has anonymous pages", so that
/// fork copies its page tables; it never blocks a merge, and a merged VMA
/// has anonymous pages if either part had.
pub mod anon_flag {
    use rmap_core::{Ctx, VmaId};

    /// `anon_prepare`: the VMA now has anonymous pages.
    pub fn prepare(ctx: &mut Ctx, vma: VmaId) {
        ctx.set_anon(vma, 1);
    }
    /// `vma_absorb`: `dst` took over (part of) `src`.
    pub fn absorb(ctx: &mut Ctx, dst: VmaId, src: VmaId) {
        let a = ctx.vmas[dst].anon | ctx.vmas[src].anon;
        ctx.set_anon(dst, a);
    }
}

/// Largest NRPTE of any preset.
const MAX_NRPTE: usize = 31;

/// One preset's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Shape {
    name: &'static str,
    direct: bool,
    nrpte: usize,
    /// Kernel bytes of one block (a cache line, or a 16-byte node) on the
    /// machine the preset names (module docs).
    block_bytes: u64,
    /// Kernel bytes of one `vm_area_struct` in the preset's release.
    vma_bytes: u64,
}

const PRESETS: [Shape; 4] = [
    Shape {
        name: "rik",
        direct: true,
        nrpte: 7,
        block_bytes: 64,
        vma_bytes: sizes::VMA_2_6_0,
    },
    Shape {
        name: "naive",
        direct: false,
        nrpte: 1,
        block_bytes: 16,
        vma_bytes: sizes::VMA_2_5_27,
    },
    Shape {
        name: "nrpte15",
        direct: true,
        nrpte: 15,
        block_bytes: 128,
        vma_bytes: sizes::VMA_2_6_0,
    },
    Shape {
        name: "nrpte31",
        direct: true,
        nrpte: 31,
        block_bytes: 128,
        vma_bytes: sizes::VMA_2_6_0,
    },
];

const PRESET_NAMES: [&str; 4] = ["rik", "naive", "nrpte15", "nrpte31"];

/// A page's reverse map: nothing, one PTE address held in the page, or the
/// head block of a chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
enum Head {
    #[default]
    None,
    Direct(PtePtr),
    Chain(u32),
}

/// One chain block: a link and up to NRPTE entries, filled from slot 0
/// (only the head block may be partial).
#[derive(Clone, Copy, Debug)]
struct Block {
    next: Option<u32>,
    len: u8,
    ptes: [u32; MAX_NRPTE],
}

/// The pte-chain backend.
pub struct PteChain {
    shape: Shape,
    /// Work not yet reported to the core: blocks touched, allocated, freed.
    pending: [u64; 3],
    /// Only anonymous pages are tracked (objrmap's anonymous fallback);
    /// file pages are the caller's business.
    anon_only: bool,
    heads: Vec<Head>,
    blocks: Vec<Block>,
    free_blocks: Vec<u32>,
    live_blocks: u64,
}

impl PteChain {
    fn new(shape: Shape) -> Self {
        PteChain {
            shape,
            pending: [0; 3],
            anon_only: false,
            heads: Vec::new(),
            blocks: Vec::new(),
            free_blocks: Vec::new(),
            live_blocks: 0,
        }
    }

    /// An instance that will be told of anonymous pages only (objrmap keeps
    /// anonymous memory on PTE chains and finds file pages through
    /// `i_mmap`); its validation then checks anonymous pages only.
    pub fn for_anon_pages(preset: &str) -> Option<Self> {
        Self::with_preset(preset).map(|c| PteChain {
            anon_only: true,
            ..c
        })
    }

    /// Live chain blocks (the `pte_chain` objects).
    pub fn live_blocks(&self) -> u64 {
        self.live_blocks
    }

    fn head(&mut self, pfn: Pfn) -> &mut Head {
        let i = pfn.idx();
        if self.heads.len() <= i {
            self.heads.resize(i + 1, Head::None);
        }
        &mut self.heads[i]
    }

    fn alloc_block(&mut self, next: Option<u32>, first: PtePtr) -> u32 {
        let mut b = Block {
            next,
            len: 1,
            ptes: [0; MAX_NRPTE],
        };
        b.ptes[0] = first.0;
        self.live_blocks += 1;
        self.pending[1] += 1;
        if let Some(i) = self.free_blocks.pop() {
            self.blocks[i as usize] = b;
            i
        } else {
            self.blocks.push(b);
            self.blocks.len() as u32 - 1
        }
    }

    fn free_block(&mut self, b: u32) {
        self.live_blocks -= 1;
        self.pending[2] += 1;
        self.free_blocks.push(b);
    }

    /// `page_add_rmap`: record that `pte` maps `pfn`.
    fn add(&mut self, pfn: Pfn, pte: PtePtr) {
        let (direct, nrpte) = (self.shape.direct, self.shape.nrpte);
        let head = *self.head(pfn);
        let new = match head {
            Head::None if direct => Head::Direct(pte),
            Head::None => Head::Chain(self.alloc_block(None, pte)),
            Head::Direct(old) => {
                let b = self.alloc_block(None, old);
                let blk = &mut self.blocks[b as usize];
                blk.ptes[1] = pte.0;
                blk.len = 2;
                Head::Chain(b)
            }
            Head::Chain(h) => {
                self.pending[0] += 1;
                let blk = &mut self.blocks[h as usize];
                if (blk.len as usize) < nrpte {
                    blk.ptes[blk.len as usize] = pte.0;
                    blk.len += 1;
                    Head::Chain(h)
                } else {
                    Head::Chain(self.alloc_block(Some(h), pte))
                }
            }
        };
        *self.head(pfn) = new;
    }

    /// `page_remove_rmap`: forget that `pte` maps `pfn`, filling the hole
    /// with the head block's last entry.
    fn remove(&mut self, pfn: Pfn, pte: PtePtr) {
        match *self.head(pfn) {
            Head::None => debug_assert!(false, "removing {pte:?} from unmapped {pfn:?}"),
            Head::Direct(p) => {
                debug_assert_eq!(p, pte);
                *self.head(pfn) = Head::None;
            }
            Head::Chain(h) => {
                // find the entry
                let mut b = Some(h);
                let mut at = None;
                while let Some(bi) = b {
                    self.pending[0] += 1;
                    let blk = &self.blocks[bi as usize];
                    if let Some(i) = blk.ptes[..blk.len as usize]
                        .iter()
                        .position(|&x| x == pte.0)
                    {
                        at = Some((bi, i));
                        break;
                    }
                    b = blk.next;
                }
                let Some((bi, i)) = at else {
                    debug_assert!(false, "{pte:?} not on the chain of {pfn:?}");
                    return;
                };
                let hb = &mut self.blocks[h as usize];
                hb.len -= 1;
                let last = hb.ptes[hb.len as usize];
                let (empty, next) = (hb.len == 0, hb.next);
                self.blocks[bi as usize].ptes[i] = last;
                if empty {
                    self.free_block(h);
                    *self.head(pfn) = next.map_or(Head::None, Head::Chain);
                }
            }
        }
    }

    /// mremap moved the PTE of `pfn` from `from` to `to`: 2.6.5's
    /// `move_one_page` allocated a spare chain block first
    /// (`pte_chain_alloc`), then `copy_one_pte` removed the old PTE's entry
    /// (a search of the chain) and added the new one (which may consume the
    /// spare); an unused spare is freed.
    fn moved(&mut self, pfn: Pfn, from: PtePtr, to: PtePtr) {
        self.pending[1] += 1; // the spare
        self.remove(pfn, from);
        let allocs = self.pending[1];
        self.add(pfn, to);
        if self.pending[1] == allocs {
            self.pending[2] += 1; // the spare goes back unused
        } else {
            self.pending[1] -= 1; // the block add made was the spare
        }
    }

    /// Run `f` (an add or remove for `pfn`) under the page's chain lock,
    /// unless reclaim already holds it around its walk, and report the
    /// chain work it did.
    fn locked(&mut self, ctx: &mut Ctx, pfn: Pfn, f: impl FnOnce(&mut Self)) {
        let inst = pfn.0 as u64;
        let l = if ctx.locks.is_held(LockClass::PteChain, inst) {
            Lk::NONE
        } else {
            ctx.lock(Acq::excl(LockClass::PteChain, inst))
        };
        f(self);
        self.report_work(ctx);
        ctx.unlock(l);
    }

    /// Hand the work counted since the last report to the core.
    fn report_work(&mut self, ctx: &mut Ctx) {
        let [touched, alloc, free] = std::mem::take(&mut self.pending);
        ctx.work(WorkKind::ChainBlock, touched);
        ctx.work(WorkKind::ObjAlloc, alloc);
        ctx.work(WorkKind::ObjFree, free);
    }

    /// Every entry of a page's map, in chain order.
    fn entries(&self, pfn: Pfn, out: &mut Vec<PtePtr>) {
        out.clear();
        match self.heads.get(pfn.idx()).copied().unwrap_or_default() {
            Head::None => {}
            Head::Direct(p) => out.push(p),
            Head::Chain(h) => {
                let mut b = Some(h);
                while let Some(bi) = b {
                    let blk = &self.blocks[bi as usize];
                    out.extend(blk.ptes[..blk.len as usize].iter().map(|&x| PtePtr(x)));
                    b = blk.next;
                }
            }
        }
    }

    /// Every PTE of `pfn`'s map as a candidate, in chain order.
    fn walk_entries(&self, core: &Core, pfn: Pfn, out: &mut Walk) {
        // reclaim holds the page's chain lock around its walks
        // (shrink_list, refill_inactive_zone: 2.6.0)
        out.hold(Acq::excl(LockClass::PteChain, pfn.0 as u64));
        let push = |out: &mut Walk, p: PtePtr| {
            out.push(MmId(core.pt.owner(p)), None, core.pt.address(p), Some(p));
        };
        match self.heads.get(pfn.idx()).copied().unwrap_or_default() {
            Head::None => {}
            Head::Direct(p) => push(out, p),
            Head::Chain(h) => {
                let mut b = Some(h);
                while let Some(bi) = b {
                    out.chain_blocks += 1;
                    let blk = &self.blocks[bi as usize];
                    for &x in &blk.ptes[..blk.len as usize] {
                        push(out, PtePtr(x));
                    }
                    b = blk.next;
                }
            }
        }
    }

    /// After a reclaim walk: a chain that shrank to one entry goes back to
    /// direct mode (as the 2.5 `page_referenced` did).
    fn collapse(&mut self, pfn: Pfn) {
        if !self.shape.direct {
            return;
        }
        if let Some(&Head::Chain(h)) = self.heads.get(pfn.idx()) {
            let blk = self.blocks[h as usize];
            if blk.len == 1 && blk.next.is_none() {
                self.free_block(h);
                self.heads[pfn.idx()] = Head::Direct(PtePtr(blk.ptes[0]));
            }
        }
    }
}

impl Presets for PteChain {
    fn presets() -> &'static [&'static str] {
        &PRESET_NAMES
    }
    fn with_preset(preset: &str) -> Option<Self> {
        PRESETS
            .iter()
            .find(|s| s.name == preset)
            .map(|&s| PteChain::new(s))
    }
}

impl ReverseMap for PteChain {
    fn name(&self) -> &'static str {
        "pte-chain"
    }
    fn preset(&self) -> &'static str {
        self.shape.name
    }

    fn anon_prepare(&mut self, ctx: &mut Ctx, vma: VmaId, _why: AnonNeed) -> Result<(), Errno> {
        anon_flag::prepare(ctx, vma);
        Ok(())
    }
    fn vma_absorb(&mut self, ctx: &mut Ctx, dst: VmaId, src: VmaId) {
        anon_flag::absorb(ctx, dst, src);
    }

    fn lock_protocol(&self) -> &'static LockProtocol {
        &era::V2_6_0
    }
    /// 2.5/2.6.0 merging: no anonymous condition; mprotect merges private
    /// anonymous VMAs only (Linux 2.6.0 `mm/mmap.c` `vma_merge`,
    /// `mm/mprotect.c` `mprotect_attempt_merge`).
    fn merge_rules(&self) -> &'static MergeRules {
        &MergeRules::V2_6_0
    }
    fn nonlinear(&self) -> NonlinearEra {
        NonlinearEra::Tracked
    }
    fn vma_bytes(&self) -> u64 {
        self.shape.vma_bytes
    }
    /// 2.6.0 `copy_page_range` copies every VMA's PTEs.
    fn fork_needs_copy(&self, _core: &Core, _parent: VmaId) -> bool {
        true
    }

    fn page_add_anon(&mut self, ctx: &mut Ctx, pfn: Pfn, at: MapAt, _new_page: bool) {
        self.locked(ctx, pfn, |c| c.add(pfn, at.pte));
    }
    fn page_add_file(&mut self, ctx: &mut Ctx, pfn: Pfn, at: MapAt) {
        self.locked(ctx, pfn, |c| c.add(pfn, at.pte));
    }
    fn page_dup(&mut self, ctx: &mut Ctx, pfn: Pfn, _parent: MapAt, child: MapAt) {
        self.locked(ctx, pfn, |c| c.add(pfn, child.pte));
    }
    fn page_remove(&mut self, ctx: &mut Ctx, pfn: Pfn, at: MapAt) {
        self.locked(ctx, pfn, |c| c.remove(pfn, at.pte));
    }
    /// A moved PTE changes the chain entry's PTE pointer (anonymous and
    /// file pages alike, 2.5 to 2.6.5: `copy_one_pte`'s `page_remove_rmap`
    /// and `page_add_rmap`, mm/mremap.c).
    fn page_moved(&mut self, ctx: &mut Ctx, pfn: Pfn, from: MapAt, to: MapAt) {
        self.locked(ctx, pfn, |c| c.moved(pfn, from.pte, to.pte));
    }
    /// 2.5/2.6.0 mremap: the old range must lie in one VMA ("can't remap
    /// across vm area boundaries", `do_mremap`).
    fn mremap_multi_vma(&self) -> bool {
        false
    }
    fn page_freed(&mut self, _ctx: &mut Ctx, pfn: Pfn) {
        if let Some(h) = self.heads.get(pfn.idx()) {
            debug_assert_eq!(*h, Head::None, "freeing {pfn:?} with a reverse map");
        }
    }

    fn walk(&self, core: &Core, pfn: Pfn, out: &mut Walk) {
        self.walk_entries(core, pfn, out);
    }
    fn walk_done(&mut self, ctx: &mut Ctx, pfn: Pfn) {
        self.collapse(pfn);
        self.report_work(ctx);
    }

    fn objects(&self, _core: &Core, out: &mut Objects) {
        out.add("pte_chain", self.live_blocks, self.shape.block_bytes);
    }

    fn validate(&self, core: &Core) -> Result<(), String> {
        let anon = |pfn: Pfn| core.frames.get(pfn).has(rmap_core::frame::flags::ANON);
        self.validate_tracked(core, &|pfn| !self.anon_only || anon(pfn))
    }
}

impl PteChain {
    /// [`ReverseMap::validate`] for a chain told of the pages `tracked`
    /// selects only (objrmap: anonymous pages, and file pages moved onto
    /// chains): their entry counts must equal their mapcounts, every other
    /// page's be zero.
    pub fn validate_tracked(
        &self,
        core: &Core,
        tracked: &dyn Fn(Pfn) -> bool,
    ) -> Result<(), String> {
        let mut reachable = 0u64;
        let mut buf = Vec::new();
        for (i, &h) in self.heads.iter().enumerate() {
            let pfn = Pfn(i as u32);
            self.entries(pfn, &mut buf);
            let used = core.frames.is_used(pfn) && tracked(pfn);
            let mapcount = if used {
                core.frames.get(pfn).mapcount as usize
            } else {
                0
            };
            if buf.len() != mapcount {
                return Err(format!(
                    "pte-chain: {pfn:?} has {} entries, mapcount {mapcount}",
                    buf.len()
                ));
            }
            let mut sorted = buf.clone();
            sorted.sort();
            sorted.dedup();
            if sorted.len() != buf.len() {
                return Err(format!("pte-chain: {pfn:?} lists a PTE twice"));
            }
            match h {
                Head::Direct(_) if !self.shape.direct => {
                    return Err("pte-chain: direct mode in a preset without it".into());
                }
                Head::Chain(hb) => {
                    let mut b = Some(hb);
                    let mut first = true;
                    while let Some(bi) = b {
                        let blk = &self.blocks[bi as usize];
                        reachable += 1;
                        if blk.len == 0 || (!first && blk.len as usize != self.shape.nrpte) {
                            return Err(format!(
                                "pte-chain: {pfn:?} has a partial block behind its head"
                            ));
                        }
                        first = false;
                        b = blk.next;
                    }
                }
                _ => {}
            }
        }
        if reachable != self.live_blocks {
            return Err(format!(
                "pte-chain: {} live blocks but {reachable} reachable",
                self.live_blocks
            ));
        }
        if self.live_blocks + self.free_blocks.len() as u64 != self.blocks.len() as u64 {
            return Err("pte-chain: block pool accounting broken".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmap_core::conformance::{run_suite, run_trace};

    fn each_preset() -> impl Iterator<Item = &'static str> {
        PRESET_NAMES.into_iter()
    }

    #[test]
    fn every_preset_passes_the_conformance_suite() {
        for p in each_preset() {
            run_suite(|| PteChain::with_preset(p).unwrap());
        }
    }

    #[test]
    fn every_preset_passes_the_property_tests() {
        for p in each_preset() {
            rmap_core::props::random_ops_under_pressure(|| PteChain::with_preset(p).unwrap(), 192);
            rmap_core::props::read_only_ops_under_pressure(
                || PteChain::with_preset(p).unwrap(),
                64,
            );
        }
    }

    fn pte_chain_count(out: &str) -> u64 {
        let line = out
            .lines()
            .find(|l| l.contains("\"objects\""))
            .expect("stats all line");
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        v["objects"]["pte_chain"].as_u64().unwrap_or(0)
    }

    /// One process writes 100 pages, then 8 children are forked: each page
    /// is mapped 9 times, which takes two 7-entry blocks.
    fn fork8() -> String {
        let mut t = String::from(
            "mmap 1 0x100000000000 400K rw- private\ntouch 1 0x100000000000 400K w\nstats all\n",
        );
        for c in 2..=9 {
            t.push_str(&format!("fork 1 {c}\n"));
        }
        t.push_str("stats all\ncheck\n");
        t
    }

    #[test]
    fn nine_mappings_take_two_blocks_per_page() {
        let out = run_trace(PteChain::with_preset("rik").unwrap(), &fork8()).unwrap();
        let counts: Vec<u64> = out
            .lines()
            .filter(|l| l.contains("\"objects\""))
            .map(pte_chain_count)
            .collect();
        assert_eq!(counts, vec![0, 200], "{out}");
        assert!(!out.contains(" failed: "), "{out}");
        // the other presets: 15 and 31 entries hold 9 in one block; naive
        // needs a node per mapping
        let expect = [("nrpte15", 100), ("nrpte31", 100), ("naive", 900)];
        for (p, want) in expect {
            let out = run_trace(PteChain::with_preset(p).unwrap(), &fork8()).unwrap();
            assert_eq!(
                out.lines()
                    .filter(|l| l.contains("\"objects\""))
                    .map(pte_chain_count)
                    .next_back(),
                Some(want),
                "{p}"
            );
        }
    }

    /// A move rewrites each page's chain entry (2.6.5's `copy_one_pte`):
    /// 100 pages mapped 9 times keep their two blocks each; every moved
    /// page costs a spare block allocated and freed and a chain search;
    /// `check` finds every entry pointing at the new PTEs.
    #[test]
    fn a_move_rewrites_every_chain_entry() {
        let mut t = fork8();
        t.push_str(
            "mremap 1 0x100000000000 400K 400K maymove fixed=0x100000200000
stats all
             reclaim 400
check
",
        );
        for p in ["rik", "naive"] {
            let out = run_trace(PteChain::with_preset(p).unwrap(), &t).unwrap();
            assert!(
                !out.contains(" failed: ") && !out.contains("err "),
                "{p}: {out}"
            );
            let stats: Vec<serde_json::Value> = out
                .lines()
                .filter(|l| l.contains("\"objects\""))
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            let (before, after) = (&stats[1], &stats[2]);
            assert_eq!(before["objects"], after["objects"], "{p}");
            let work = |s: &serde_json::Value, k: &str| s["work"][k].as_u64().unwrap();
            for k in ["obj_alloc", "obj_free"] {
                assert!(work(after, k) - work(before, k) >= 100, "{p}: {k}");
            }
            assert!(work(after, "chain_block") - work(before, "chain_block") >= 100);
        }
    }

    /// Before 6.17 a move may not span VMAs.
    #[test]
    fn a_move_across_vmas_is_refused() {
        let t = "mmap 1 0x100000000000 8K rw- private\nmmap 1 0x100000002000 8K r-- private\n\
                 mremap 1 0x100000000000 16K 16K maymove fixed=0x100000100000\n";
        let out = run_trace(PteChain::with_preset("rik").unwrap(), t).unwrap();
        assert_eq!(out, "err 3 mremap EFAULT\n");
    }

    #[test]
    fn chains_shrink_and_collapse_to_direct_on_the_next_walk() {
        let mut c = PteChain::with_preset("rik").unwrap();
        let pfn = Pfn(5);
        for i in 0..9 {
            c.add(pfn, PtePtr(100 + i));
        }
        assert_eq!(c.live_blocks, 2);
        for i in 0..8 {
            c.remove(pfn, PtePtr(100 + i));
        }
        assert_eq!(c.live_blocks, 1, "compaction frees the emptied head block");
        assert!(
            matches!(c.heads[5], Head::Chain(_)),
            "no collapse at unmap time"
        );
        let mut v = Vec::new();
        c.entries(pfn, &mut v);
        assert_eq!(v, vec![PtePtr(108)]);
        c.remove(pfn, PtePtr(108));
        assert_eq!((c.live_blocks, c.heads[5]), (0, Head::None));
    }

    #[test]
    fn a_walk_collapses_a_single_entry_chain() {
        // two pages, each mapped twice then once: two chains of one;
        // reclaim walks both (they were referenced, so the first walks
        // only clear the bits) and frees one page; the other stays mapped
        let t = "mmap 1 0x100000000000 8K rw- private
touch 1 0x100000000000 8K w
fork 1 2
exit 2
stats all
reclaim 1
stats all
stats 1
check
";
        let out = run_trace(PteChain::with_preset("rik").unwrap(), t).unwrap();
        let counts: Vec<u64> = out
            .lines()
            .filter(|l| l.contains("\"objects\""))
            .map(pte_chain_count)
            .collect();
        assert_eq!(counts, vec![2, 0], "{out}");
        // one page is still mapped: the block went by collapse, not unmap
        assert!(out.contains(r#"{"vmas":1,"rss_anon":1,"#), "{out}");
        assert!(!out.contains(" failed: "), "{out}");
    }

    /// Fork in the PTE-chain era copies the PTEs of a shared file mapping
    /// and gives every copy a chain entry (2.6.0 `copy_page_range` ->
    /// `page_add_rmap`): 16 file pages mapped twice take 16 blocks, and the
    /// child has them mapped without a fault. Blocks and VMAs are charged
    /// at the preset's machine's and release's sizes.
    #[test]
    fn fork_copies_file_ptes_onto_chains_and_sizes_are_the_eras() {
        let t = rmap_core::conformance::SHARED_FILE_READ_FORK;
        for (p, block, vma) in [
            ("rik", 64, 128),
            ("naive", 16, 136),
            ("nrpte15", 128, 128),
            ("nrpte31", 128, 128),
        ] {
            let out = run_trace(PteChain::with_preset(p).unwrap(), t).unwrap();
            assert!(!out.contains(" failed: "), "{p}: {out}");
            assert!(
                out.starts_with(r#"{"vmas":1,"rss_anon":0,"rss_file":16,"#),
                "{p}: {out}"
            );
            let line = out.lines().find(|l| l.contains("\"objects\"")).unwrap();
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            // two mappings per page: one block each, or a node per mapping
            let blocks = if p == "naive" { 32 } else { 16 };
            assert_eq!(v["objects"]["pte_chain"].as_u64(), Some(blocks), "{p}");
            assert_eq!(v["object_bytes"]["pte_chain"].as_u64(), Some(block), "{p}");
            assert_eq!(
                v["object_bytes"]["vm_area_struct"].as_u64(),
                Some(vma),
                "{p}"
            );
        }
    }
}
