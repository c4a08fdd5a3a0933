//! The backend's hooks and walk: `ReverseMap` for [`AnonVmaRmap`], each
//! step as its preset's era took it ([`Preset`]).

use rmap_core::frame::flags as pf;
use rmap_core::rmap::{MapAt, Objects};
use rmap_core::walk::Walk;
use rmap_core::{
    Acq, AnonNeed, Core, Ctx, Errno, IMapShape, Lk, LockClass, LockProtocol, MergeRules,
    NonlinearEra, Pfn, Presets, ReverseMap, VmaId, vma::vmf,
};

use crate::members::Place;
use crate::presets::{PRESET_NAMES, PRESETS};
use crate::{AnonVmaRmap, AnonWalk, Era, UNFAULTED, id_of, word_of};

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
    fn nonlinear(&self) -> NonlinearEra {
        self.p.nonlinear
    }
    fn vma_bytes(&self) -> u64 {
        self.p.vma_bytes
    }
    /// 2.6.7 copied every VMA's page tables at fork (lazy fork is 2.6.14);
    /// later eras only those with anonymous state (or the unfaulted flag).
    fn fork_needs_copy(&self, core: &Core, parent: VmaId) -> bool {
        self.p.era == Era::Family || core.vmas[parent].anon != 0
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
        let shared = if self.p.share_at_fault {
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
        let place = self.prepare_place();
        self.link(ctx, vma, av, place);
        self.avs[av as usize].num_active_vmas += 1;
        ctx.unlock(ptl);
        ctx.unlock(l);
        Ok(())
    }

    fn vma_split(&mut self, ctx: &mut Ctx, orig: VmaId, new: VmaId) -> Result<(), Errno> {
        self.clone_into(ctx, orig, new);
        Ok(())
    }

    /// copy_vma: the moved VMA joins the old one's anon_vma (2.6.7's
    /// `__anon_vma_link` of the struct copy) or all of them
    /// (`anon_vma_clone`, 2.6.34 on); pages keep their anon_vma and index.
    fn vma_moved(&mut self, ctx: &mut Ctx, old: VmaId, new: VmaId) {
        self.clone_into(ctx, old, new);
    }

    /// `dontunmap_complete`: `unlink_anon_vmas` of the emptied VMA.
    fn vma_anon_dropped(&mut self, ctx: &mut Ctx, vma: VmaId) {
        self.unlink(ctx, vma);
    }

    /// `take_rmap_locks`' `anon_vma_lock_write` (its root's lock from
    /// 2.6.36). 2.6.7's mremap took no anon_vma lock: its lock ranks after
    /// the page-table lock there.
    fn anon_lock(&mut self, ctx: &mut Ctx, vma: VmaId) -> Lk {
        match (self.p.era, Self::own(ctx, vma)) {
            (Era::Chains, Some(av)) => self.lock_av(ctx, av),
            _ => Lk::NONE,
        }
    }

    fn mremap_multi_vma(&self) -> bool {
        self.p.multi_vma
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
                    // __anon_vma_merge: where src was
                    let l = self.lock_av(ctx, av);
                    self.link(ctx, dst, av, Place::After(src));
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
                // anon_vma_link: the child VMA joins the family's list, at
                // the head (walked before its parent)
                let l = self.lock_av(ctx, pav);
                let place = self.join_place();
                self.link(ctx, child, pav, place);
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
                if self.p.root_refs {
                    self.avs[root as usize].refcount += 1;
                }
                let l = self.lock_av(ctx, av);
                ctx.set_anon(child, word_of(av));
                self.link(ctx, child, av, Place::Tail);
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
        if let Some(av) = self.file_page_under(ctx, pfn, at.vma, own, new_page) {
            Self::set_page_av(ctx, pfn, av);
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
        if self.p.move_reused
            && let Some(own) = Self::own(ctx, at.vma)
        {
            Self::set_page_av(ctx, pfn, own);
        }
    }
    /// The RFC sets the flag after any guard install that placed a marker
    /// where no anon_vma exists, file-backed mappings included (its 2/2,
    /// "utilise anon_vma unfaulted flag on guard region install").
    fn guards_installed(&mut self, ctx: &mut Ctx, vma: VmaId) {
        if self.p.unfaulted && ctx.vmas[vma].anon == 0 {
            ctx.set_anon(vma, UNFAULTED);
        }
    }
    fn guards_removed(&mut self, ctx: &mut Ctx, vma: VmaId, start: u64, end: u64) {
        let v = &ctx.vmas[vma];
        if v.anon == UNFAULTED && start == v.start && end == v.end {
            ctx.set_anon(vma, 0);
        }
    }

    fn vma_link(&mut self, ctx: &mut Ctx, vma: VmaId) {
        let v = &ctx.vmas[vma];
        if !self.p.share_at_mmap || v.anon != 0 || v.has(vmf::WIPEONFORK) {
            return; // (a fork child with VM_WIPEONFORK starts without)
        }
        if let Some(av) = Self::anon_vma_cache(ctx, vma) {
            // vma_link -> __anon_vma_link, under the anon_vma's lock
            let l = self.lock_av(ctx, av);
            ctx.set_anon(vma, word_of(av));
            self.link(ctx, vma, av, Place::Head);
            self.avs[av as usize].num_active_vmas += 1;
            ctx.unlock(l);
        }
    }

    fn walk(&self, core: &Core, pfn: Pfn, out: &mut Walk) {
        let f = *core.frames.get(pfn);
        if self.p.era == Era::Family {
            // 2.6.7's reclaim holds the page's page_map_lock around both
            // walks (shrink_list, refill_inactive_zone)
            out.hold(Acq::excl(LockClass::PageMapLock, pfn.0 as u64));
        }
        // every era here counts the mapcount down and stops at zero
        out.stops = true;
        if !f.has(pf::ANON) {
            return core.walk_file(pfn, out);
        }
        let Some(av) = Self::page_av(core, pfn) else {
            return;
        };
        let aw = core.locks.protocol().anon_walk;
        out.hold(aw.acq(LockClass::AnonVma, self.lock_inst(av), out.referenced));
        let a = &self.avs[av as usize];
        // the page's mm and address in a member, if the member covers it
        let at = |vid: VmaId| {
            let v = &core.vmas[vid];
            let covers = v.pgoff <= f.index && f.index < v.pgoff + v.pages();
            covers.then(|| (v.mm, v.start + ((f.index - v.pgoff) << 12)))
        };
        let covers = |vid: VmaId| at(vid).is_some();
        let push = |out: &mut Walk, vid: VmaId| {
            if let Some((mm, addr)) = at(vid) {
                out.push(mm, Some(vid), addr, None);
            }
        };
        match self.p.walk {
            // the whole list, in list order; each member is a visit
            // (`vma_address` returns -EFAULT for one that does not cover)
            AnonWalk::List => {
                out.visit_list(core, a.members.iter(), at);
            }
            // the tree yields the covering VMAs by offset, then insertion
            AnonWalk::Tree => {
                let mut pgoff = None;
                let mut one_offset = true;
                for vid in a.members.iter().filter(|&v| covers(v)) {
                    let p = core.vmas[vid].pgoff;
                    one_offset &= *pgoff.get_or_insert(p) == p;
                }
                if one_offset {
                    for vid in a.members.iter().filter(|&v| covers(v)) {
                        out.vmas_visited += 1;
                        push(out, vid);
                    }
                } else {
                    let mut vs: Vec<VmaId> = a.members.iter().filter(|&v| covers(v)).collect();
                    vs.sort_by_key(|&v| core.vmas[v].pgoff);
                    for vid in vs {
                        out.vmas_visited += 1;
                        push(out, vid);
                    }
                }
            }
        }
    }

    fn objects(&self, _core: &Core, out: &mut Objects) {
        out.add("anon_vma", self.live, self.p.anon_vma_bytes);
        // The 2.6.7 presets have no anon_vma_chain objects at all (not zero
        // of them): leaving the kind out keeps reports from ranking a design
        // best on a structure it does not have.
        if self.p.era == Era::Chains {
            out.add("anon_vma_chain", self.chain_links, self.p.avc_bytes);
        }
    }

    fn validate(&self, core: &Core) -> Result<(), String> {
        self.check(core)
    }
}
