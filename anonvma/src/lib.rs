//! # anonvma: anon_vma reverse maps, from 2.6.7 to today
//!
//! An anonymous page points to an `anon_vma`, the set of VMAs in which it
//! may be mapped; a walk visits those VMAs and looks at the page's address
//! in each. File pages are found through the file's `i_mmap` (objrmap's
//! interval-tree walk). Each step of the design's history is a preset:
//!
//! | preset | what it adds |
//! |---|---|
//! | `andrea-2.6.7` | one anon_vma per VMA family: a list of VMAs; fork children join the parent's; a walk visits every VMA on the list |
//! | `rmap40-2.6.7` | at the first write fault, share the anon_vma of an adjacent VMA that mprotect could make mergeable (next first, then previous) |
//! | `avc-2.6.34` | `anon_vma_chain`: every child VMA gets its own anon_vma and links to all its ancestors'; COWed pages hang off the child's anon_vma, pages swapped in while still shared off the oldest one; a walk visits only the VMAs of the page's anon_vma whose range covers it |
//! | `reuse-3.19` | at fork, reuse an anon_vma that no VMA and at most one child uses (degree < 2) instead of allocating one |
//! | `linux` (default) | Linux 6.18: reuse needs no active VMA and fewer than two children; merges refused next to a VMA with a non-singular chain; a reused page moves to the VMA's anon_vma |
//! | `unfaulted` | `linux` plus a flag bit in the VMA's anon word: guard install on a never-faulted VMA sets the flag instead of allocating an anon_vma; fork copies such a VMA's page tables; the first write fault replaces the flag by a real anon_vma; removing guards from the whole VMA clears it |
//!
//! Each preset also carries its era's VMA merge rules
//! ([`MergeRules`]: NULL-or-equal in 2.6.7 and 2.6.34, the singular
//! neighbour in 3.0-3.19, the fork-child rule in 6.18; `docs/merging.md`).
//!
//! Lifetimes follow `mm/rmap.c`: an anon_vma dies when no chain links to
//! it; a root stays until its last descendant dies (each descendant holds a
//! reference to it), so live counts match the kernel's slab counts.
//!
//! The VMA's anon word: 0 = none, 1 = the unfaulted flag, else
//! `(anon_vma id + 1) << 1` (anon_vmas are word aligned, so bit 0 is free).
//! Every path outside this crate sees the masked value
//! ([`ReverseMap::anon_state`]).
//!
//! Invariants (checked by `validate`): every chain entry of a VMA is matched
//! by the VMA in that anon_vma's set and the reverse; `num_active_vmas` and
//! `num_children` and root reference counts match the structures; a VMA's
//! own anon_vma is on its chain; every mapped anonymous page names a live
//! anon_vma.

use std::collections::BTreeSet;

use rmap_core::frame::flags as pf;
use rmap_core::locks::era;
use rmap_core::rmap::{MapAt, Objects, sizes};
use rmap_core::walk::Walk;
use rmap_core::{
    Acq, AnonNeed, Cand, Core, Ctx, Errno, IMapShape, Lk, LockClass, LockProtocol, MergeRules, Pfn,
    Presets, ReverseMap, VmaId, WorkKind, vma::vmf,
};

mod check;

const UNFAULTED: u64 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Era {
    /// 2.6.7: one list per family, no chains.
    Family,
    /// 2.6.34 and later: anon_vma_chain.
    Chains,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reuse {
    None,
    /// 3.19: `degree < 2` and not the source VMA's own anon_vma.
    Degree,
    /// today: `num_children < 2 && num_active_vmas == 0`.
    Counters,
}

/// Which anon_vma instance an anon_vma operation locks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RootLock {
    /// Its own lock (2.6.7's family list, 2.6.34).
    Own,
    /// The root's lock, taken per anon_vma of a chain (2.6.36).
    Root,
    /// The root's lock, taken once for a run of anon_vmas with one root
    /// (`lock_anon_vma_root`, 3.0 on).
    RootBatched,
}

#[derive(Clone, Copy, Debug)]
struct Preset {
    name: &'static str,
    era: Era,
    share_neighbour: bool,
    reuse: Reuse,
    /// `find_mergeable_anon_vma` shares a neighbour's anon_vma only if the
    /// neighbour's chain is singular (2.6.34 on).
    singular_rule: bool,
    /// The era's VMA merge rules (the anonymous condition of
    /// `is_mergeable_anon_vma`: NULL-or-equal in 2.6.7 and 2.6.34, the
    /// singular neighbour in 3.0-3.19, the fork-child rule in 6.18).
    merge: &'static MergeRules,
    /// A write that reuses an exclusive page moves it to the VMA's own
    /// anon_vma (`page_move_anon_rmap`).
    modern_pages: bool,
    unfaulted: bool,
    /// The era's lock protocol ([`rmap_core::locks::era`]).
    locks: &'static LockProtocol,
    root_lock: RootLock,
}

/// The 2.6.34 design; the lock presets after it change only the locks.
const AVC: Preset = Preset {
    name: "avc-2.6.34",
    era: Era::Chains,
    share_neighbour: true,
    reuse: Reuse::None,
    singular_rule: true,
    modern_pages: false,
    unfaulted: false,
    locks: &era::V2_6_34,
    root_lock: RootLock::Own,
    merge: &MergeRules::V2_6_34,
};

/// Linux 6.18.
const LINUX: Preset = Preset {
    name: "linux",
    era: Era::Chains,
    share_neighbour: true,
    reuse: Reuse::Counters,
    singular_rule: true,
    modern_pages: true,
    unfaulted: false,
    locks: &era::V6_18,
    root_lock: RootLock::RootBatched,
    merge: &MergeRules::V6_18,
};

/// 2.6.7's anon_vma (Andrea's design as merged, before rmap 40).
const ANDREA: Preset = Preset {
    name: "andrea-2.6.7",
    era: Era::Family,
    share_neighbour: false,
    reuse: Reuse::None,
    singular_rule: false,
    modern_pages: false,
    unfaulted: false,
    locks: &era::V2_6_7,
    root_lock: RootLock::Own,
    merge: &MergeRules::V2_6_7,
};

const PRESETS: [Preset; 9] = [
    LINUX,
    ANDREA,
    Preset {
        name: "rmap40-2.6.7",
        share_neighbour: true,
        ..ANDREA
    },
    AVC,
    Preset {
        name: "root-2.6.36",
        locks: &era::V2_6_36,
        root_lock: RootLock::Root,
        ..AVC
    },
    Preset {
        name: "mutex-3.0",
        locks: &era::V3_0,
        root_lock: RootLock::RootBatched,
        merge: &MergeRules::V3_0,
        ..AVC
    },
    Preset {
        name: "rwsem-3.8",
        locks: &era::V3_8,
        root_lock: RootLock::RootBatched,
        merge: &MergeRules::V3_0,
        ..AVC
    },
    Preset {
        name: "reuse-3.19",
        reuse: Reuse::Degree,
        modern_pages: true,
        locks: &era::V3_19,
        root_lock: RootLock::RootBatched,
        merge: &MergeRules::V3_0,
        ..AVC
    },
    Preset {
        name: "unfaulted",
        unfaulted: true,
        ..LINUX
    },
];
const PRESET_NAMES: [&str; 9] = [
    "linux",
    "andrea-2.6.7",
    "rmap40-2.6.7",
    "avc-2.6.34",
    "root-2.6.36",
    "mutex-3.0",
    "rwsem-3.8",
    "reuse-3.19",
    "unfaulted",
];

/// One anon_vma.
#[derive(Clone, Debug, Default)]
struct AnonVma {
    live: bool,
    root: u32,
    parent: u32,
    /// VMAs linked to it (one anon_vma_chain each, or list members in the
    /// 2.6.7 era), ordered by id. A set, so that linking and unlinking cost
    /// O(log n) as the kernel's `list_del` and interval-tree removal are
    /// cheap: a `Vec` made every unlink O(n) and mprotect over thousands of
    /// VMAs of one anon_vma quadratic, which no kernel ever was.
    vmas: BTreeSet<VmaId>,
    /// Child anon_vmas whose parent this is (a root counts itself).
    num_children: u32,
    /// VMAs whose own anon_vma this is.
    num_active_vmas: u32,
    /// References: its own, plus one per live descendant if a root.
    refcount: u32,
}

/// The anon_vma backend.
pub struct AnonVmaRmap {
    p: Preset,
    avs: Vec<AnonVma>,
    free_ids: Vec<u32>,
    live: u64,
    /// Each VMA's chain: the anon_vmas it links to, oldest first.
    chains: Vec<Vec<u32>>,
    chain_links: u64,
}

/// The protection key Linux gives a mapping with these flags: with
/// protection keys (`Config::pkeys`), key 1 for an exec-only mapping, which
/// is part of its `vm_flags`; else none.
#[inline]
fn pkey(flags: u32, pkeys: bool) -> u8 {
    (pkeys && flags & vmf::PROT_MASK == vmf::EXEC) as u8
}

#[inline]
fn word_of(id: u32) -> u64 {
    (id as u64 + 1) << 1
}
#[inline]
fn id_of(word: u64) -> Option<u32> {
    (word > UNFAULTED).then(|| ((word >> 1) - 1) as u32)
}

impl AnonVmaRmap {
    fn new(p: Preset) -> Self {
        AnonVmaRmap {
            p,
            avs: Vec::new(),
            free_ids: Vec::new(),
            live: 0,
            chains: Vec::new(),
            chain_links: 0,
        }
    }

    fn own(core: &Core, vma: VmaId) -> Option<u32> {
        id_of(core.vmas[vma].anon)
    }

    fn chain(&mut self, vma: VmaId) -> &mut Vec<u32> {
        let i = vma.0 as usize;
        if self.chains.len() <= i {
            self.chains.resize(i + 1, Vec::new());
        }
        &mut self.chains[i]
    }
    fn chain_of(&self, vma: VmaId) -> &[u32] {
        self.chains
            .get(vma.0 as usize)
            .map_or(&[], |c| c.as_slice())
    }

    /// The lock instance an operation on anon_vma `av` takes.
    fn lock_inst(&self, av: u32) -> u64 {
        match self.p.root_lock {
            RootLock::Own => av as u64,
            RootLock::Root | RootLock::RootBatched => self.avs[av as usize].root as u64,
        }
    }

    /// Take (record) the lock of anon_vma `av` for writing.
    fn lock_av(&self, ctx: &mut Ctx, av: u32) -> Lk {
        ctx.lock(Acq::excl(LockClass::AnonVma, self.lock_inst(av)))
    }

    /// Lock for one anon_vma `av` of a chain walked by clone or unlink: each
    /// in turn, unless the era batches one root lock over the whole chain
    /// (then the caller holds it and this takes nothing).
    fn lock_one(&self, ctx: &mut Ctx, av: u32) -> Lk {
        match self.p.root_lock {
            RootLock::RootBatched => Lk::NONE,
            _ => self.lock_av(ctx, av),
        }
    }

    /// Lock a whole chain's root once, where the era batches (3.0 on).
    fn lock_batch(&self, ctx: &mut Ctx, chain: &[u32]) -> Lk {
        match (self.p.root_lock, chain.first()) {
            (RootLock::RootBatched, Some(&av)) => self.lock_av(ctx, av),
            _ => Lk::NONE,
        }
    }

    /// The 2.6.7 per-page `page_map_lock`, unless reclaim holds it.
    fn page_map_lock(&self, ctx: &mut Ctx, pfn: Pfn) -> Lk {
        let inst = pfn.0 as u64;
        if self.p.era != Era::Family || ctx.locks.is_held(LockClass::PageMapLock, inst) {
            Lk::NONE
        } else {
            ctx.lock(Acq::excl(LockClass::PageMapLock, inst))
        }
    }

    fn alloc(&mut self, ctx: &mut Ctx) -> u32 {
        ctx.work(WorkKind::ObjAlloc, 1);
        let id = self.free_ids.pop().unwrap_or_else(|| {
            self.avs.push(AnonVma::default());
            self.avs.len() as u32 - 1
        });
        self.avs[id as usize] = AnonVma {
            live: true,
            root: id,
            parent: id,
            refcount: 1,
            ..AnonVma::default()
        };
        self.live += 1;
        id
    }

    /// `anon_vma_chain_link`: `vma` now links to `av`.
    fn link(&mut self, ctx: &mut Ctx, vma: VmaId, av: u32) {
        self.chain(vma).push(av);
        self.avs[av as usize].vmas.insert(vma);
        ctx.work(WorkKind::VmaVisit, 1);
        if self.p.era == Era::Chains {
            self.chain_links += 1;
            ctx.work(WorkKind::ObjAlloc, 1);
        }
    }

    fn put(&mut self, ctx: &mut Ctx, av: u32) {
        let a = &mut self.avs[av as usize];
        a.refcount -= 1;
        if a.refcount > 0 {
            return;
        }
        let root = a.root;
        *a = AnonVma::default();
        self.free_ids.push(av);
        self.live -= 1;
        ctx.work(WorkKind::ObjFree, 1);
        if root != av {
            self.put(ctx, root);
        }
    }

    /// `find_mergeable_anon_vma`: the anon_vma of an adjacent VMA that
    /// could become one VMA with this one by mprotect (next, then prev).
    fn find_mergeable(&self, core: &Core, vma: VmaId) -> Option<u32> {
        let compatible = |a: VmaId, b: VmaId| {
            let (x, y) = (&core.vmas[a], &core.vmas[b]);
            x.end == y.start
                && x.file == y.file
                && (x.flags ^ y.flags) & !(vmf::PROT_MASK | vmf::STICKY) == 0
                // access flags are ignored, but not the protection key
                // Linux gives exec-only mappings (it lives in vm_flags)
                && pkey(x.flags, core.cfg.pkeys) == pkey(y.flags, core.cfg.pkeys)
                && y.pgoff == x.pgoff + x.pages()
        };
        let usable = |old: VmaId| {
            let av = Self::own(core, old)?;
            (!self.p.singular_rule || self.chain_of(old).len() == 1).then_some(av)
        };
        if let Some(n) = core.vma_next(vma)
            && compatible(vma, n)
            && let Some(av) = usable(n)
        {
            return Some(av);
        }
        if let Some(p) = core.vma_prev(vma)
            && compatible(p, vma)
        {
            return usable(p);
        }
        None
    }

    /// `anon_vma_clone(dst, src)`: link `dst` to every anon_vma of `src`,
    /// possibly reusing one as `dst`'s own.
    fn clone_chain(&mut self, ctx: &mut Ctx, dst: VmaId, src: VmaId) {
        let chain: Vec<u32> = self.chain_of(src).to_vec();
        let src_own = Self::own(ctx, src);
        let batch = self.lock_batch(ctx, &chain);
        for av in chain {
            let l = self.lock_one(ctx, av);
            self.link(ctx, dst, av);
            ctx.unlock(l);
            if Self::own(ctx, dst).is_none() && src_own.is_some() {
                let a = &self.avs[av as usize];
                let reuse = match self.p.reuse {
                    Reuse::None => false,
                    Reuse::Degree => Some(av) != src_own && a.num_children + a.num_active_vmas < 2,
                    Reuse::Counters => a.num_children < 2 && a.num_active_vmas == 0,
                };
                if reuse {
                    ctx.set_anon(dst, word_of(av));
                }
            }
        }
        ctx.unlock(batch);
        if let Some(own) = Self::own(ctx, dst) {
            self.avs[own as usize].num_active_vmas += 1;
        }
    }

    /// `unlink_anon_vmas`.
    fn unlink(&mut self, ctx: &mut Ctx, vma: VmaId) {
        let chain = std::mem::take(self.chain(vma));
        let mut empty = Vec::new();
        let batch = self.lock_batch(ctx, &chain);
        for &av in &chain {
            let l = self.lock_one(ctx, av);
            ctx.work(WorkKind::VmaVisit, 1);
            let a = &mut self.avs[av as usize];
            a.vmas.remove(&vma);
            if self.p.era == Era::Chains {
                self.chain_links -= 1;
                ctx.work(WorkKind::ObjFree, 1);
            }
            if a.vmas.is_empty() {
                let parent = a.parent;
                self.avs[parent as usize].num_children -= 1;
                empty.push(av);
            }
            ctx.unlock(l);
        }
        ctx.unlock(batch);
        if let Some(own) = Self::own(ctx, vma) {
            self.avs[own as usize].num_active_vmas -= 1;
        }
        ctx.set_anon(vma, 0);
        for av in empty {
            self.put(ctx, av);
        }
    }

    fn page_av(core: &Core, pfn: Pfn) -> Option<u32> {
        let m = core.frames.get(pfn).mapping;
        (m != 0).then(|| (m - 1) as u32)
    }
    fn set_page_av(ctx: &mut Ctx, pfn: Pfn, av: u32) {
        ctx.set_page_mapping(pfn, av as u64 + 1);
    }

    /// Live anon_vmas (the `anon_vma` objects).
    pub fn anon_vmas(&self) -> u64 {
        self.live
    }
}

impl Presets for AnonVmaRmap {
    fn presets() -> &'static [&'static str] {
        &PRESET_NAMES
    }
    fn with_preset(preset: &str) -> Option<Self> {
        PRESETS
            .iter()
            .find(|p| p.name == preset)
            .map(|&p| AnonVmaRmap::new(p))
    }
}

impl ReverseMap for AnonVmaRmap {
    fn name(&self) -> &'static str {
        "anonvma"
    }
    fn preset(&self) -> &'static str {
        self.p.name
    }
    fn i_mmap_shape(&self) -> Option<IMapShape> {
        Some(IMapShape::IntervalTree)
    }
    fn lock_protocol(&self) -> &'static LockProtocol {
        self.p.locks
    }

    fn anon_state(&self, core: &Core, vma: VmaId) -> u64 {
        core.vmas[vma].anon & !UNFAULTED
    }

    fn merge_rules(&self) -> &'static MergeRules {
        self.p.merge
    }

    fn anon_chain_len(&self, core: &Core, vma: VmaId) -> usize {
        if Self::own(core, vma).is_none() {
            return 0;
        }
        match self.p.era {
            // a 2.6.7 VMA is on one list: there is no chain to count
            Era::Family => 1,
            Era::Chains => self.chain_of(vma).len(),
        }
    }

    fn anon_prepare(&mut self, ctx: &mut Ctx, vma: VmaId, why: AnonNeed) -> Result<(), Errno> {
        let word = ctx.vmas[vma].anon;
        if id_of(word).is_some() {
            return Ok(());
        }
        if self.p.unfaulted && why == AnonNeed::Guard {
            ctx.set_anon(vma, UNFAULTED);
            return Ok(());
        }
        let shared = if self.p.share_neighbour {
            self.find_mergeable(ctx, vma)
        } else {
            None
        };
        let av = match shared {
            Some(av) => av,
            None => {
                let av = self.alloc(ctx);
                self.avs[av as usize].num_children += 1; // self-parent link of a new root
                av
            }
        };
        // anon_vma_prepare: the anon_vma's lock (none in 2.6.7), then the
        // mm's page_table_lock to attach it
        let l = match self.p.era {
            Era::Family => Lk::NONE,
            Era::Chains => self.lock_av(ctx, av),
        };
        let ptl = ctx.lock(Acq::excl(LockClass::Ptl, ctx.mm_ptl(ctx.vmas[vma].mm)));
        ctx.set_anon(vma, word_of(av));
        self.link(ctx, vma, av);
        self.avs[av as usize].num_active_vmas += 1;
        ctx.unlock(ptl);
        ctx.unlock(l);
        Ok(())
    }

    fn vma_split(&mut self, ctx: &mut Ctx, orig: VmaId, new: VmaId) -> Result<(), Errno> {
        // `new` carries a copy of orig's word already.
        if id_of(ctx.vmas[orig].anon).is_none() {
            return Ok(());
        }
        match self.p.era {
            Era::Family => {
                let av = Self::own(ctx, orig).expect("own");
                let l = self.lock_av(ctx, av);
                self.link(ctx, new, av);
                self.avs[av as usize].num_active_vmas += 1;
                ctx.unlock(l);
            }
            Era::Chains => self.clone_chain(ctx, new, orig),
        }
        Ok(())
    }

    fn vma_absorb(&mut self, ctx: &mut Ctx, dst: VmaId, src: VmaId) {
        // dup_anon_vma: dst takes src's anon_vma if it has none.
        let (d, s) = (ctx.vmas[dst].anon, ctx.vmas[src].anon);
        if id_of(d).is_none()
            && let Some(av) = id_of(s)
        {
            ctx.set_anon(dst, s);
            match self.p.era {
                Era::Family => {
                    let l = self.lock_av(ctx, av);
                    self.link(ctx, dst, av);
                    self.avs[av as usize].num_active_vmas += 1;
                    ctx.unlock(l);
                }
                Era::Chains => self.clone_chain(ctx, dst, src),
            }
        } else if d == 0 && s == UNFAULTED {
            ctx.set_anon(dst, UNFAULTED);
        }
    }

    fn vma_unlink(&mut self, ctx: &mut Ctx, vma: VmaId) {
        self.unlink(ctx, vma);
    }

    fn fork_vma(&mut self, ctx: &mut Ctx, parent: VmaId, child: VmaId) -> Result<(), Errno> {
        let Some(pav) = Self::own(ctx, parent) else {
            // none, or just the unfaulted flag (copied with the word)
            return Ok(());
        };
        match self.p.era {
            Era::Family => {
                // anon_vma_link: the child VMA joins the family's list
                let l = self.lock_av(ctx, pav);
                self.link(ctx, child, pav);
                self.avs[pav as usize].num_active_vmas += 1;
                ctx.unlock(l);
            }
            Era::Chains => {
                // anon_vma_fork: clone the parent's chain, then link a new
                // anon_vma under its (root's) lock
                ctx.set_anon(child, 0);
                self.clone_chain(ctx, child, parent);
                if Self::own(ctx, child).is_some() {
                    return Ok(());
                }
                let av = self.alloc(ctx);
                let root = self.avs[pav as usize].root;
                let a = &mut self.avs[av as usize];
                a.root = root;
                a.parent = pav;
                a.num_active_vmas = 1;
                self.avs[root as usize].refcount += 1;
                let l = self.lock_av(ctx, av);
                ctx.set_anon(child, word_of(av));
                self.link(ctx, child, av);
                self.avs[pav as usize].num_children += 1;
                ctx.unlock(l);
            }
        }
        Ok(())
    }

    fn page_add_anon(&mut self, ctx: &mut Ctx, pfn: Pfn, at: MapAt, new_page: bool) {
        let Some(own) = Self::own(ctx, at.vma) else {
            debug_assert!(false, "anonymous page in VMA {:?} without anon_vma", at.vma);
            return;
        };
        let l = self.page_map_lock(ctx, pfn);
        let f = ctx.frames.get(pfn);
        if new_page {
            // Swapped in while other swap entries still name it: not
            // exclusive, so it must go to the oldest anon_vma of the chain
            // (the root), which every VMA that may map it links to (2.6.34
            // took the chain's oldest entry, later kernels the root).
            let shared = f.has(pf::SWAPCACHE) && ctx.swap.slot(f.private).count > 1;
            let av = if self.p.era == Era::Chains && shared {
                self.avs[own as usize].root
            } else {
                own
            };
            Self::set_page_av(ctx, pfn, av);
        } else if Self::page_av(ctx, pfn).is_none_or(|av| !self.avs[av as usize].live) {
            Self::set_page_av(ctx, pfn, own);
        }
        ctx.unlock(l);
    }
    fn page_add_file(&mut self, ctx: &mut Ctx, pfn: Pfn, _at: MapAt) {
        let l = self.page_map_lock(ctx, pfn);
        ctx.unlock(l);
    }
    fn page_dup(&mut self, ctx: &mut Ctx, pfn: Pfn, _parent: MapAt, _child: MapAt) {
        let l = self.page_map_lock(ctx, pfn);
        ctx.unlock(l);
    }
    fn page_remove(&mut self, ctx: &mut Ctx, pfn: Pfn, _at: MapAt) {
        let l = self.page_map_lock(ctx, pfn);
        ctx.unlock(l);
    }
    fn page_reuse(&mut self, ctx: &mut Ctx, pfn: Pfn, at: MapAt) {
        if self.p.modern_pages
            && let Some(own) = Self::own(ctx, at.vma)
        {
            Self::set_page_av(ctx, pfn, own);
        }
    }
    fn guards_removed(&mut self, ctx: &mut Ctx, vma: VmaId, start: u64, end: u64) {
        let v = &ctx.vmas[vma];
        if v.anon == UNFAULTED && start == v.start && end == v.end {
            ctx.set_anon(vma, 0);
        }
    }

    fn walk(&self, core: &Core, pfn: Pfn, out: &mut Walk) {
        let f = *core.frames.get(pfn);
        if self.p.era == Era::Family {
            // 2.6.7's reclaim holds the page's page_map_lock around both
            // walks (shrink_list, refill_inactive_zone)
            out.hold(Acq::excl(LockClass::PageMapLock, pfn.0 as u64));
        }
        if !f.has(pf::ANON) {
            return core.walk_file(pfn, out);
        }
        let Some(av) = Self::page_av(core, pfn) else {
            return;
        };
        let aw = core.locks.protocol().anon_walk;
        out.hold(aw.acq(LockClass::AnonVma, self.lock_inst(av), out.referenced));
        let a = &self.avs[av as usize];
        for &vid in &a.vmas {
            let v = &core.vmas[vid];
            let covers = v.pgoff <= f.index && f.index < v.pgoff + v.pages();
            // A 2.6.7 list is walked whole; the chain era's interval tree
            // yields only the covering VMAs.
            if self.p.era == Era::Family || covers {
                out.vmas_visited += 1;
            }
            if covers {
                out.cands.push(Cand {
                    mm: v.mm,
                    vma: Some(vid),
                    addr: v.start + ((f.index - v.pgoff) << 12),
                    pte: None,
                });
            }
        }
    }

    fn objects(&self, _core: &Core, out: &mut Objects) {
        out.add("anon_vma", self.live, sizes::ANON_VMA);
        // The 2.6.7 presets have no anon_vma_chain objects at all (not zero
        // of them): leaving the kind out keeps reports from ranking a design
        // best on a structure it does not have.
        if self.p.era == Era::Chains {
            out.add("anon_vma_chain", self.chain_links, sizes::ANON_VMA_CHAIN);
        }
    }

    fn validate(&self, core: &Core) -> Result<(), String> {
        self.check(core)
    }
}

#[cfg(test)]
mod tests;
