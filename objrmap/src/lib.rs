//! # objrmap: object-based reverse maps
//!
//! A file page needs no per-page record: its file and page offset lead to
//! the file's `i_mmap`, and every VMA there that covers the offset gives the
//! virtual address (`vm_start + (index - vm_pgoff)` pages). Keeping this
//! map costs nothing beyond what the core keeps anyway; walking it costs a
//! visit to every candidate VMA, which is the figure under study:
//! - `i_mmap` as a **list** (the 2003 objrmap patch) visits every VMA of the
//!   file, including all those that cannot map the page;
//! - as an **interval tree** (the later prio tree and `vma_interval_tree`)
//!   visits only the VMAs whose offset range covers the page;
//! - VMAs made **nonlinear** by remap_file_pages, as each era did
//!   ([`rmap_core::nonlinear`]): `mccracken` and `prio` move a page that a
//!   fault installs out of its linear place onto a PTE chain
//!   (`page_convert_anon`: every mapping of it found through `i_mmap` gets
//!   a chain entry, and so does every later one, until the page is freed),
//!   and walk nonlinear VMAs like the others at their linear addresses;
//!   `anonmm` (2.6.7-rc1, rmap 8 on) skips them in its walks and leaves
//!   them to `try_to_unmap`'s cluster scan.
//!
//! Anonymous pages, in one of two ways:
//! - **PTE chains**, as the original patch left them (the `pte-chain`
//!   crate, `rik` preset, told of anonymous pages only);
//! - **anonmm**: one record per mm, linked into the family of every mm
//!   forked from the same exec; the page remembers its family and its
//!   virtual address, and a walk looks at that address in every mm of the
//!   family (one VMA lookup each).
//!
//! Presets: `mccracken` (default: list + PTE chains), `prio` (interval
//! tree + PTE chains), `anonmm` (interval tree + anonmm).
//!
//! Era facts, per preset (sources: Dave McCracken, "[PATCH 2.5.62] Full
//! updated partial object-based rmap", linux-mm 2003-02-20, and "[PATCH
//! 2.5.66-mm3] New page_convert_anon", 2003-04-03, for `mccracken`; Rajesh
//! Venkatasubramanian, "[RFC][PATCH 2/3] Dave & Hugh's objrmap patch",
//! LKML 2004-03-21, for `prio`; Hugh Dickins' rmap 7-38 of the 2.6.7-rc1
//! merge, "rmap 10 add anonmm rmap" and "rmap 11 mremap moves" for
//! `anonmm`):
//! - **Walk termination**: `mccracken` never stops early
//!   (`page_referenced_obj` and `try_to_unmap_obj` walk both lists whole);
//!   `prio` and `anonmm` stop once every mapping is found (the mapcount
//!   countdown Hugh added in rmap 7; try_to_unmap at mapcount 0). anonmm
//!   tries the page's own mm first (the mm that mapped it first), then the
//!   rest of the family, circularly from there (`page_referenced_anon`,
//!   `try_to_unmap_anon`; children join at the tail, `dup_rmap`'s
//!   `list_add_tail`). PTE chains hold exactly the mappings: no stop needed.
//! - **Fork copies every PTE** (lazy fork is 2.6.14): anonymous pages get a
//!   chain entry, file pages only a mapcount (McCracken's `page_add_rmap`
//!   on a non-`PG_anon` page; anonmm's `page_dup_rmap`) unless moved onto
//!   chains.
//! - **Object sizes** (x86-64): `pte_chain` blocks of 64 bytes (NRPTE 7);
//!   `struct anonmm` 40 bytes (rmap 11 `mm/rmap.c`: count, lock, mm, head,
//!   list); `vm_area_struct` 128 bytes for `mccracken` (2.6.0's layout) and
//!   144 for `prio` and `anonmm` (2.6.7's prio-tree `shared` union without
//!   the anon_vma fields) ([`rmap_core::rmap::sizes`]).
//!
//! Anonymous state: none of these designs has an anon_vma; a VMA's word
//! only records "has anonymous pages" (so fork copies its page tables) and
//! never blocks a merge.
//!
//! Invariants (checked by `validate`): every anonymous page is on exactly
//! one of the anonymous maps (chains: entry count = mapcount; anonmm: the
//! page names a live family and its address); a file page moved onto a
//! chain has one entry per mapping; every live mm with anonymous memory is
//! in exactly one family.

use pte_chain::PteChain;
use rmap_core::frame::flags as pf;
use rmap_core::locks::era;
use rmap_core::merge_rules::MergeRules;
use rmap_core::rmap::{MapAt, Objects, sizes};
use rmap_core::vma::FileId;
use rmap_core::walk::Walk;
use rmap_core::{
    Acq, AnonNeed, Core, Ctx, Errno, IMapShape, Lk, LockClass, LockProtocol, MmId, NonlinearEra,
    Pfn, Presets, ReverseMap, VmaId, WorkKind,
};

/// Kernel size of one `struct anonmm` (count, list head, head and mm
/// pointers: 40 bytes on x86-64).
pub const ANONMM_BYTES: u64 = 40;

/// anonmm: families of mms that share anonymous pages through fork.
#[derive(Default)]
pub struct AnonMm {
    /// Family of each mm (by mm id), if it has a record.
    family_of: Vec<Option<u32>>,
    /// Members of each family; an emptied family's id is reused.
    families: Vec<Vec<MmId>>,
    free_families: Vec<u32>,
    records: u64,
    /// Each anonymous page's own mm (+ 1; 0 for none), by pfn: the mm that
    /// mapped it first, whose anonmm `page->mapping` names (rmap 11).
    owner: Vec<u32>,
}

impl AnonMm {
    fn set_owner(&mut self, pfn: Pfn, mm: MmId) {
        let i = pfn.idx();
        if self.owner.len() <= i {
            self.owner.resize(i + 1, 0);
        }
        self.owner[i] = mm.0 + 1;
    }
    fn owner(&self, pfn: Pfn) -> Option<MmId> {
        match self.owner.get(pfn.idx()) {
            Some(&o) if o > 0 => Some(MmId(o - 1)),
            _ => None,
        }
    }
    fn family(&mut self, mm: MmId) -> u32 {
        let i = mm.0 as usize;
        if self.family_of.len() <= i {
            self.family_of.resize(i + 1, None);
        }
        if let Some(f) = self.family_of[i] {
            return f;
        }
        let f = match self.free_families.pop() {
            Some(f) => {
                self.families[f as usize] = vec![mm];
                f
            }
            None => {
                self.families.push(vec![mm]);
                self.families.len() as u32 - 1
            }
        };
        assert!(
            f < FAMILY_MASK as u32,
            "anonmm: more than 2^28 live families"
        );
        self.family_of[i] = Some(f);
        self.records += 1;
        f
    }
    /// The family of `mm`, if it has a record.
    fn family_of(&self, mm: MmId) -> Option<u32> {
        self.family_of.get(mm.0 as usize).copied().flatten()
    }

    fn join(&mut self, parent: MmId, child: MmId) {
        let Some(f) = self.family_of.get(parent.0 as usize).copied().flatten() else {
            return;
        };
        let i = child.0 as usize;
        if self.family_of.len() <= i {
            self.family_of.resize(i + 1, None);
        }
        debug_assert!(self.family_of[i].is_none());
        self.family_of[i] = Some(f);
        self.families[f as usize].push(child);
        self.records += 1;
    }
    fn leave(&mut self, mm: MmId) {
        if let Some(Some(f)) = self.family_of.get(mm.0 as usize).copied() {
            self.family_of[mm.0 as usize] = None;
            self.families[f as usize].retain(|&m| m != mm);
            self.records -= 1;
            if self.families[f as usize].is_empty() {
                // Pages that still name it are unmapped; a page is given its
                // mm's family again whenever it is mapped.
                self.free_families.push(f);
            }
        }
    }
}

/// How anonymous pages are found.
enum Anon {
    Chains(Box<PteChain>),
    Mm(AnonMm),
}

/// The objrmap backend.
pub struct ObjRmap {
    preset: &'static str,
    shape: IMapShape,
    anon: Anon,
    /// The era's lock protocol.
    locks: &'static LockProtocol,
    /// The per-page lock that guards a page's mapcount and reverse map:
    /// `pte_chain_lock` with PTE chains, `page_map_lock` with anonmm.
    page_lock: LockClass,
    /// Walks stop once every mapping is found (rmap 7 on).
    stops: bool,
    /// How the era treats nonlinear VMAs: `Tracked` moves pages mapped out
    /// of place onto PTE chains (`page_convert_anon`).
    nonlinear: NonlinearEra,
    vma_bytes: u64,
    /// File pages moved onto PTE chains (McCracken's `PG_anon` on a file
    /// page), one bit per pfn.
    converted: Vec<u64>,
}

const PRESETS: [&str; 3] = ["mccracken", "prio", "anonmm"];

/// Bits of the page's `mapping` word that hold the family (+ 1); the
/// virtual page number sits above them (35 bits for 47-bit addresses).
const FAMILY_BITS: u32 = 28;
const FAMILY_MASK: u64 = (1 << FAMILY_BITS) - 1;

/// Page `mapping` word under anonmm: family + 1 and the virtual page.
fn anonmm_word(family: u32, addr: u64) -> u64 {
    (addr >> 12) << FAMILY_BITS | (family as u64 + 1)
}

/// Take `class` (a page's chain or map lock) on `pfn`, unless reclaim
/// already holds it around its walk.
fn lock_page(ctx: &mut Ctx, class: LockClass, pfn: Pfn) -> Lk {
    let inst = pfn.0 as u64;
    if ctx.locks.is_held(class, inst) {
        Lk::NONE
    } else {
        ctx.lock(Acq::excl(class, inst))
    }
}

impl ObjRmap {
    /// The anonmm walk: the page's address in every mm of its family, its
    /// own mm first and then the others circularly from there, under the
    /// family's head lock (plain spin, held for the whole walk:
    /// `page_referenced_anon`, rmap 10-37); it stops once every mapping is
    /// found.
    fn walk_anonmm(a: &AnonMm, core: &Core, pfn: Pfn, out: &mut Walk) {
        let word = core.frames.get(pfn).mapping;
        if word == 0 {
            return;
        }
        let fam = ((word & FAMILY_MASK) - 1) as usize;
        let aw = core.locks.protocol().anon_walk;
        out.hold(aw.acq(LockClass::Anonmm, fam as u64, out.referenced));
        out.stops = true;
        let addr = (word >> FAMILY_BITS) << 12;
        let members = &a.families[fam];
        let first = a
            .owner(pfn)
            .and_then(|o| members.iter().position(|&m| m == o))
            .unwrap_or(0);
        let (before, from) = members.split_at(first);
        for &mm in from.iter().chain(before) {
            out.vmas_visited += 1;
            if let Some(vid) = core.find_vma(mm, addr) {
                out.push(mm, Some(vid), addr, None);
            }
        }
    }

    fn is_converted(&self, pfn: Pfn) -> bool {
        self.converted
            .get(pfn.idx() / 64)
            .is_some_and(|w| w >> (pfn.idx() % 64) & 1 == 1)
    }

    fn set_converted(&mut self, pfn: Pfn, on: bool) {
        let (i, b) = (pfn.idx() / 64, pfn.idx() % 64);
        if self.converted.len() <= i {
            self.converted.resize(i + 1, 0);
        }
        if on {
            self.converted[i] |= 1 << b;
        } else {
            self.converted[i] &= !(1 << b);
        }
    }

    /// Whether `pfn`'s mappings are on PTE chains: anonymous pages with
    /// chains, and file pages moved there.
    fn on_chains(&self, ctx: &Core, pfn: Pfn) -> bool {
        matches!(self.anon, Anon::Chains(_))
            && (ctx.frames.get(pfn).has(pf::ANON) || self.is_converted(pfn))
    }

    /// `page_convert_anon` (McCracken, 2.5.66-mm3; the prio-tree RFC's
    /// version walks the tree): under the page lock that `install_page`
    /// takes, the file's `i_mmap` lock and, briefly, the page's chain lock
    /// to mark it, find every mapping of the page through `i_mmap` (each
    /// VMA's page-table lock around its PTE) and give each a chain entry.
    fn convert(&mut self, ctx: &mut Ctx, pfn: Pfn) {
        let Anon::Chains(chains) = &mut self.anon else {
            return;
        };
        let file = FileId(ctx.frames.get(pfn).mapping as u32);
        let pl = ctx.lock(Acq::excl(LockClass::PageLock, pfn.0 as u64));
        let il = ctx.lock(Acq::excl(LockClass::IMmap, file.0 as u64));
        let cl = ctx.lock(Acq::excl(LockClass::PteChain, pfn.0 as u64));
        ctx.unlock(cl);
        let mut w = Walk::default();
        ctx.walk_file(pfn, &mut w);
        ctx.work(WorkKind::VmaVisit, w.vmas_visited);
        for c in &w.cands {
            let Some(p) = ctx.pte_ptr(c.mm, c.addr) else {
                continue;
            };
            let l = ctx.lock(Acq::excl(LockClass::Ptl, ctx.ptl(c.mm, p)));
            ctx.work(WorkKind::PteCheck, 1);
            if ctx.pt.get(p).pfn() == Some(pfn) {
                let at = MapAt {
                    mm: c.mm,
                    vma: c.vma.expect("the file walk names VMAs"),
                    addr: c.addr,
                    pte: p,
                };
                chains.page_add_file(ctx, pfn, at);
            }
            ctx.unlock(l);
        }
        ctx.unlock(il);
        ctx.unlock(pl);
        self.set_converted(pfn, true);
    }
}

impl Presets for ObjRmap {
    fn presets() -> &'static [&'static str] {
        &PRESETS
    }
    fn with_preset(preset: &str) -> Option<Self> {
        let chains = || {
            Anon::Chains(Box::new(
                PteChain::for_anon_pages("rik").expect("rik preset"),
            ))
        };
        let (preset, shape, anon, locks, page_lock, stops, nonlinear, vma_bytes) = match preset {
            "mccracken" => (
                "mccracken",
                IMapShape::List,
                chains(),
                &era::V2_6_0_OBJRMAP,
                LockClass::PteChain,
                false,
                NonlinearEra::Tracked,
                sizes::VMA_2_6_0,
            ),
            "prio" => (
                "prio",
                IMapShape::IntervalTree,
                chains(),
                &era::V2_6_7_PRIO,
                LockClass::PteChain,
                true,
                NonlinearEra::Tracked,
                sizes::VMA_2_6_7_PRIO,
            ),
            "anonmm" => (
                "anonmm",
                IMapShape::IntervalTree,
                Anon::Mm(AnonMm::default()),
                &era::V2_6_7_ANONMM,
                LockClass::PageMapLock,
                true,
                NonlinearEra::Cluster,
                sizes::VMA_2_6_7_PRIO,
            ),
            _ => return None,
        };
        Some(ObjRmap {
            preset,
            shape,
            anon,
            locks,
            page_lock,
            stops,
            nonlinear,
            vma_bytes,
            converted: Vec::new(),
        })
    }
}

impl ReverseMap for ObjRmap {
    fn name(&self) -> &'static str {
        "objrmap"
    }
    fn preset(&self) -> &'static str {
        self.preset
    }
    fn i_mmap_shape(&self) -> Option<IMapShape> {
        Some(self.shape)
    }
    fn lock_protocol(&self) -> &'static LockProtocol {
        self.locks
    }
    /// McCracken's objrmap and the prio RFC sat on 2.5/2.6.5 trees with
    /// 2.6.0's merge code ([`MergeRules::V2_6_0`]); anonmm (rmap 10-37)
    /// merged through `vma_merge` everywhere, still with no anonymous
    /// condition ([`MergeRules::ANONMM`]).
    fn merge_rules(&self) -> &'static MergeRules {
        match self.anon {
            Anon::Mm(_) => &MergeRules::ANONMM,
            Anon::Chains(_) => &MergeRules::V2_6_0,
        }
    }
    fn nonlinear(&self) -> NonlinearEra {
        self.nonlinear
    }
    fn vma_bytes(&self) -> u64 {
        self.vma_bytes
    }
    /// Every era here copied every VMA's PTEs at fork (before 2.6.14).
    fn fork_needs_copy(&self, _core: &Core, _parent: VmaId) -> bool {
        true
    }

    fn fork_mm(&mut self, ctx: &mut Ctx, parent: MmId, child: MmId) -> Result<(), Errno> {
        if let Anon::Mm(a) = &mut self.anon
            && let Some(fam) = a.family_of(parent)
        {
            // dup_rmap links the child under the family's head lock
            let l = ctx.lock(Acq::excl(LockClass::Anonmm, fam as u64));
            a.join(parent, child);
            ctx.work(WorkKind::ObjAlloc, 1);
            ctx.unlock(l);
        }
        Ok(())
    }
    fn mm_release(&mut self, ctx: &mut Ctx, mm: MmId) {
        if let Anon::Mm(a) = &mut self.anon
            && let Some(fam) = a.family_of(mm)
        {
            // exit_rmap unlinks it under the head lock
            let l = ctx.lock(Acq::excl(LockClass::Anonmm, fam as u64));
            a.leave(mm);
            ctx.work(WorkKind::ObjFree, 1);
            ctx.unlock(l);
        }
    }

    fn anon_prepare(&mut self, ctx: &mut Ctx, vma: VmaId, _why: AnonNeed) -> Result<(), Errno> {
        pte_chain::anon_flag::prepare(ctx, vma);
        Ok(())
    }
    fn vma_absorb(&mut self, ctx: &mut Ctx, dst: VmaId, src: VmaId) {
        pte_chain::anon_flag::absorb(ctx, dst, src);
    }

    fn page_add_anon(&mut self, ctx: &mut Ctx, pfn: Pfn, at: MapAt, new_page: bool) {
        match &mut self.anon {
            Anon::Chains(c) => c.page_add_anon(ctx, pfn, at, new_page),
            Anon::Mm(a) => {
                // Always the family of the mm that maps it now: a page shared
                // by fork is mapped only within one family, and a stale id
                // (an unmapped swap-cache page outliving its family) is
                // replaced.
                let l = lock_page(ctx, self.page_lock, pfn);
                let new_family = a.family_of(at.mm).is_none();
                let fam = a.family(at.mm);
                if new_family {
                    ctx.work(WorkKind::ObjAlloc, 1);
                }
                ctx.set_page_mapping(pfn, anonmm_word(fam, at.addr));
                if ctx.frames.get(pfn).mapcount == 1 {
                    // the first mapping names its mm's anonmm
                    a.set_owner(pfn, at.mm);
                }
                ctx.unlock(l);
            }
        }
    }
    fn page_add_file(&mut self, ctx: &mut Ctx, pfn: Pfn, at: MapAt) {
        if self.is_converted(pfn)
            && let Anon::Chains(c) = &mut self.anon
        {
            return c.page_add_file(ctx, pfn, at);
        }
        // the page's mapcount, under its chain / map lock
        let l = lock_page(ctx, self.page_lock, pfn);
        ctx.unlock(l);
    }
    fn page_install_nonlinear(&mut self, ctx: &mut Ctx, pfn: Pfn, _vma: VmaId, _addr: u64) {
        if self.nonlinear == NonlinearEra::Tracked && !self.is_converted(pfn) {
            self.convert(ctx, pfn);
        }
    }
    fn page_dup(&mut self, ctx: &mut Ctx, pfn: Pfn, parent: MapAt, child: MapAt) {
        if self.on_chains(ctx, pfn)
            && let Anon::Chains(c) = &mut self.anon
        {
            return c.page_dup(ctx, pfn, parent, child);
        }
        let l = lock_page(ctx, self.page_lock, pfn);
        ctx.unlock(l);
    }
    fn page_remove(&mut self, ctx: &mut Ctx, pfn: Pfn, at: MapAt) {
        if self.on_chains(ctx, pfn)
            && let Anon::Chains(c) = &mut self.anon
        {
            return c.page_remove(ctx, pfn, at);
        }
        let l = lock_page(ctx, self.page_lock, pfn);
        ctx.unlock(l);
    }
    fn page_freed(&mut self, ctx: &mut Ctx, pfn: Pfn) {
        if let Anon::Chains(c) = &mut self.anon {
            c.page_freed(ctx, pfn);
        }
        self.set_converted(pfn, false);
    }

    /// A moved file page needs nothing: the walk finds it through
    /// `i_mmap` at its index ("rmap 7 object-based rmap" keeps
    /// `copy_one_pte`'s chain update for anonymous pages only). An
    /// anonymous page's chain entry moves; under anonmm the page records
    /// its new address ("rmap 11 mremap moves": `mremap_move_anon_rmap`,
    /// under the page's map lock; `anon_needs_copy` made it exclusive).
    fn page_moved(&mut self, ctx: &mut Ctx, pfn: Pfn, from: MapAt, to: MapAt) {
        if !ctx.frames.get(pfn).has(pf::ANON) {
            return;
        }
        match &mut self.anon {
            Anon::Chains(c) => c.page_moved(ctx, pfn, from, to),
            Anon::Mm(_) => {
                let l = lock_page(ctx, self.page_lock, pfn);
                let fam = (ctx.frames.get(pfn).mapping & FAMILY_MASK) - 1;
                ctx.set_page_mapping(pfn, anonmm_word(fam as u32, to.addr));
                ctx.unlock(l);
            }
        }
    }

    /// anonmm records one virtual address per page, the same in every mm
    /// of its family: a page that other PTEs map (at its recorded address)
    /// cannot be found at a second one, so it is copied first (rmap 11:
    /// `make_page_exclusive` on a move, `do_swap_page`'s copy when a page
    /// still mapped elsewhere is swapped in at another address).
    fn anon_needs_copy(&self, core: &Core, pfn: Pfn, addr: u64, leaving: bool) -> bool {
        let Anon::Mm(_) = &self.anon else {
            return false;
        };
        let f = core.frames.get(pfn);
        let others = f.mapcount - u32::from(leaving);
        others > 0 && (f.mapping >> FAMILY_BITS) << 12 != addr
    }

    /// Before 6.17 the old range of a move must lie in one VMA.
    fn mremap_multi_vma(&self) -> bool {
        false
    }

    fn walk(&self, core: &Core, pfn: Pfn, out: &mut Walk) {
        if self.on_chains(core, pfn)
            && let Anon::Chains(c) = &self.anon
        {
            return c.walk(core, pfn, out);
        }
        if !core.frames.get(pfn).has(pf::ANON) {
            // reclaim holds the page's chain / map lock around its walks;
            // the file walk then (try)locks i_mmap
            out.hold(Acq::excl(self.page_lock, pfn.0 as u64));
            out.stops = self.stops;
            return core.walk_file(pfn, out);
        }
        if let Anon::Mm(a) = &self.anon {
            out.hold(Acq::excl(self.page_lock, pfn.0 as u64));
            Self::walk_anonmm(a, core, pfn, out)
        }
    }
    fn walk_done(&mut self, ctx: &mut Ctx, pfn: Pfn) {
        if self.on_chains(ctx, pfn)
            && let Anon::Chains(c) = &mut self.anon
        {
            c.walk_done(ctx, pfn);
        }
    }

    fn objects(&self, core: &Core, out: &mut Objects) {
        match &self.anon {
            Anon::Chains(c) => c.objects(core, out),
            Anon::Mm(a) => out.add("anonmm", a.records, ANONMM_BYTES),
        }
    }

    fn validate(&self, core: &Core) -> Result<(), String> {
        match &self.anon {
            Anon::Chains(c) => c.validate_tracked(core, &|pfn| {
                core.frames.get(pfn).has(pf::ANON) || self.is_converted(pfn)
            }),
            Anon::Mm(a) => {
                let members: usize = a.families.iter().map(Vec::len).sum();
                if members as u64 != a.records {
                    return Err(format!(
                        "anonmm: {} records but {members} family members",
                        a.records
                    ));
                }
                for (fam, ms) in a.families.iter().enumerate() {
                    for &mm in ms {
                        if core.mms.get(mm.0 as usize).is_none_or(|m| m.is_none()) {
                            return Err(format!("anonmm: family {fam} lists dead mm {mm:?}"));
                        }
                        if a.family_of[mm.0 as usize] != Some(fam as u32) {
                            return Err(format!(
                                "anonmm: mm {mm:?} in family {fam} points elsewhere"
                            ));
                        }
                    }
                }
                for pfn in core.frames.touched() {
                    let f = core.frames.get(pfn);
                    if f.has(pf::USED) && f.has(pf::ANON) {
                        let fam = (f.mapping & FAMILY_MASK) as usize;
                        if fam == 0 || fam > a.families.len() {
                            return Err(format!("anonmm: anonymous {pfn:?} names no family"));
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests;
