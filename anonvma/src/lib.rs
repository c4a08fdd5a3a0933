//! # anonvma: anon_vma reverse maps, from 2.6.7 to today
//!
//! An anonymous page points to an `anon_vma`, the set of VMAs in which it
//! may be mapped; a walk visits those VMAs and looks at the page's address
//! in each. File pages are found through the file's `i_mmap` (objrmap's
//! interval-tree walk). Each step of the design's history is a preset:
//!
//! | preset | what it adds |
//! |---|---|
//! | `andrea-2.6.7` | Andrea Arcangeli's design as his -aa tree had it: one anon_vma per VMA family, a list of VMAs; fork children join the parent's; a walk visits every VMA on the list; a new mapping that a touching neighbour would merge with but for its flags takes that neighbour's anon_vma at mmap time |
//! | `rmap40-2.6.7` | mainline 2.6.7 instead (rmap 39 + rmap 40): no mmap-time sharing; at the first write fault, share the anon_vma of an adjacent VMA that mprotect could make mergeable (next first, then previous) |
//! | `avc-2.6.34` | `anon_vma_chain`: every child VMA gets its own anon_vma and links to all its ancestors'; COWed pages hang off the child's anon_vma, swapped-in pages off the chain's oldest one; a walk goes down the page's anon_vma's whole list |
//! | `root-2.6.36` | the root anon_vma: its lock serves the whole tree, descendants pin it, pages not exclusive to a VMA go to it |
//! | `mutex-3.0` | the anon_vma lock becomes a mutex, taken once per chain |
//! | `rwsem-3.8` | a read-write semaphore, walks share it; the interval tree (3.7): a walk visits only the VMAs whose range covers the page |
//! | `reuse-3.19` | at fork, reuse an anon_vma that no VMA and at most one child uses (degree < 2) instead of allocating one |
//! | `linux` (default) | Linux 6.18: reuse needs no active VMA and fewer than two children; merges refused beside a fork child (a VMA with an anon_vma and a non-singular chain); a reused page moves to the VMA's anon_vma |
//! | `unfaulted` | `linux` plus a flag bit in the VMA's anon word: guard install on a never-faulted VMA sets the flag instead of allocating an anon_vma; fork copies such a VMA's page tables; the first write fault replaces the flag by a real anon_vma; removing guards from the whole VMA clears it |
//!
//! Each preset's era facts are data ([`Preset`], module `presets`, with
//! the source of each): the anon_vma list's order and whether the walk
//! goes down the whole list or the interval tree; where neighbour sharing
//! is decided; where swapped-in pages go; whether descendants pin the
//! root; the lock protocol; how nonlinear mappings are handled; the
//! object sizes. Every walk stops once it has found every mapping of the
//! page (2.6.7's `mapcount` countdown, `try_to_unmap` at mapcount 0).
//! Before 2.6.14 fork copied every VMA's page tables, so `andrea-2.6.7`
//! and `rmap40-2.6.7` do (`page_dup_rmap`: a mapcount under
//! `page_map_lock`, for file pages too).
//!
//! Corrections to the premises this was first built on (sources in the
//! `presets` module): "rmap 40" is Hugh
//! Dickins' mainline patch, and mainline 2.6.7 *does* share at the first
//! write fault; Andrea's own code shared at mmap time. `list_add_tail`
//! reached anon_vma lists in 2.6.18, not 2.6.17. The 2.6.34
//! `anon_vma_chain` is 48 bytes (two of its four members are list heads),
//! not 32. `page_move_anon_rmap` is already in 2.6.34; the root and its
//! reference counting came in 2.6.36.
//!
//! Each preset carries its era's VMA merge rules ([`Preset::merge`]:
//! NULL-or-equal in 2.6.7 and 2.6.34, the singular neighbour in
//! 3.0-3.19, the fork-child rule in 6.18; `docs/merging.md`), which the
//! core's one merge engine follows.
//!
//! Simplifications: the interval
//! tree's order among VMAs of equal offset is their insertion order (Linux
//! re-inserts a VMA whose range changes); a 2.6.7 VMA that takes another's
//! anon_vma by a merge is linked right after it (`__anon_vma_merge`) also
//! when the other survives (mprotect's boundary shift links the importer
//! at the head).
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

use rmap_core::{Acq, Core, Ctx, Lk, LockClass, Pfn, VmaId, WorkKind, vma::vmf};

mod check;
mod hooks;
mod members;
mod presets;

use members::{Members, Place};
#[cfg(test)]
use presets::PRESET_NAMES;
pub use presets::{AnonWalk, Era, Preset, Reuse, RootLock, SwapIn};

const UNFAULTED: u64 = 1;

/// One anon_vma.
#[derive(Clone, Debug, Default)]
struct AnonVma {
    live: bool,
    root: u32,
    parent: u32,
    /// VMAs linked to it (one anon_vma_chain each, or list members in the
    /// 2.6.7 era), in list order.
    members: Members,
    /// Child anon_vmas whose parent this is (a root counts itself).
    num_children: u32,
    /// VMAs whose own anon_vma this is.
    num_active_vmas: u32,
    /// References: its own, plus one per live descendant if a root and
    /// the era pins roots.
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
    /// The insertion clock of list positions ([`Members::insert`]).
    seq: i64,
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
            seq: 0,
        }
    }

    /// The preset's era facts.
    pub fn facts(&self) -> &Preset {
        &self.p
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

    /// `anon_vma_chain_link` (2.6.7: `anon_vma_link` and friends): `vma`
    /// now links to `av`, at `place` in its list (the tail in the tree
    /// era, whose walk orders by offset).
    fn link(&mut self, ctx: &mut Ctx, vma: VmaId, av: u32, place: Place) {
        let place = match self.p.walk {
            AnonWalk::List => place,
            AnonWalk::Tree => Place::Tail,
        };
        self.seq += 1;
        self.chain(vma).push(av);
        self.avs[av as usize].members.insert(vma, place, self.seq);
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
        if root != av && self.p.root_refs {
            self.put(ctx, root);
        }
    }

    /// Where `anon_vma_prepare` links a VMA in its era.
    fn prepare_place(&self) -> Place {
        if self.p.prepare_at_head {
            Place::Head
        } else {
            Place::Tail
        }
    }

    /// Where a VMA that joins by a split or a fork goes: the head in 2.6.7
    /// (`__anon_vma_link`, `anon_vma_link`), the tail with chains
    /// (`anon_vma_chain_link`).
    fn join_place(&self) -> Place {
        match self.p.era {
            Era::Family => Place::Head,
            Era::Chains => Place::Tail,
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
            (!self.p.find_mergeable_singular || self.chain_of(old).len() == 1).then_some(av)
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

    /// `new` carries a copy of `orig`'s word (a split, or a move's new
    /// VMA) and covers some of its pages: link it where `orig` is linked
    /// (2.6.7: `__insert_vm_struct` -> `__anon_vma_link`, at the head).
    fn clone_into(&mut self, ctx: &mut Ctx, orig: VmaId, new: VmaId) {
        if id_of(ctx.vmas[orig].anon).is_none() {
            return;
        }
        match self.p.era {
            Era::Family => {
                let av = Self::own(ctx, orig).expect("own");
                let l = self.lock_av(ctx, av);
                self.link(ctx, new, av, Place::Head);
                self.avs[av as usize].num_active_vmas += 1;
                ctx.unlock(l);
            }
            Era::Chains => self.clone_chain(ctx, new, orig),
        }
    }

    /// `anon_vma_clone(dst, src)`: link `dst` to every anon_vma of `src`,
    /// possibly reusing one as `dst`'s own.
    fn clone_chain(&mut self, ctx: &mut Ctx, dst: VmaId, src: VmaId) {
        let chain: Vec<u32> = self.chain_of(src).to_vec();
        let src_own = Self::own(ctx, src);
        let batch = self.lock_batch(ctx, &chain);
        for av in chain {
            let l = self.lock_one(ctx, av);
            self.link(ctx, dst, av, Place::Tail);
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
            a.members.remove(vma);
            if self.p.era == Era::Chains {
                self.chain_links -= 1;
                ctx.work(WorkKind::ObjFree, 1);
            }
            if a.members.is_empty() {
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

    /// Andrea's `anon_vma_cache` (2.6.5-rc3-aa2 `is_mergeable_vma`, read
    /// by `do_mmap_pgoff` and `do_brk`): the anon_vma of the first
    /// neighbour, previous then next, that touches `vma`, maps the same
    /// file (or none) at the contiguous offset and differs from it only in
    /// `vm_flags` (a neighbour without anon_vma leaves the choice to the
    /// next one).
    fn anon_vma_cache(core: &Core, vma: VmaId) -> Option<u32> {
        let v = &core.vmas[vma];
        if v.has(vmf::DONTCOPY) {
            return None; // VM_SPECIAL: vma_merge gives up at once
        }
        let lends = |n: VmaId, before: bool| {
            let x = &core.vmas[n];
            let (lo, hi) = if before { (x, v) } else { (v, x) };
            (lo.end == hi.start
                && x.file == v.file
                && hi.pgoff == lo.pgoff + lo.pages()
                && (x.flags ^ v.flags) & !vmf::STICKY != 0)
                .then(|| Self::own(core, n))
                .flatten()
        };
        core.vma_prev(vma)
            .and_then(|p| lends(p, true))
            .or_else(|| core.vma_next(vma).and_then(|n| lends(n, false)))
    }

    /// The anon_vma a newly mapped anonymous page of `vma` (whose own is
    /// `own`) is filed under, or `None` to leave it as it is
    /// (`page_add_anon_rmap`, `page_add_new_anon_rmap` of the era).
    fn file_page_under(
        &self,
        core: &Core,
        pfn: Pfn,
        vma: VmaId,
        own: u32,
        new_page: bool,
    ) -> Option<u32> {
        let f = core.frames.get(pfn);
        let first = f.mapcount == 1;
        let swapped = f.has(rmap_core::frame::flags::SWAPCACHE);
        let stale = Self::page_av(core, pfn).is_none_or(|av| !self.avs[av as usize].live);
        match self.p.swap_in {
            SwapIn::Own => (new_page || first || stale).then_some(own),
            SwapIn::OldestOfChain if swapped && first => self.chain_of(vma).first().copied(),
            SwapIn::Root if swapped && new_page => Some(self.avs[own as usize].root),
            SwapIn::OldestOfChain | SwapIn::Root => (new_page || stale).then_some(own),
            SwapIn::Exclusive if new_page => {
                // Swapped in while other swap entries still name it: not
                // exclusive, so it goes to the root, which every VMA that
                // may map it links to.
                let shared = swapped && core.swap.slot(f.private).count > 1;
                Some(if shared {
                    self.avs[own as usize].root
                } else {
                    own
                })
            }
            SwapIn::Exclusive => stale.then_some(own),
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

#[cfg(test)]
mod tests;
