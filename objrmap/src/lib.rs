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
//! - VMAs made **nonlinear** by remap_file_pages sit on `i_mmap_nonlinear`
//!   and are scanned PTE by PTE on every walk of the file's pages (their
//!   PTEs do not follow `vm_pgoff`); reclaim leaves a nonlinear file PTE
//!   behind so that the next fault finds the right offset (the core does
//!   that in `try_to_unmap`).
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
//! Anonymous state: none of these designs has an anon_vma; a VMA's word
//! only records "has anonymous pages" (so fork copies its page tables) and
//! never blocks a merge.
//!
//! Invariants (checked by `validate`): every anonymous page is on exactly
//! one of the anonymous maps (chains: entry count = mapcount; anonmm: the
//! page names a live family and its address); every live mm with anonymous
//! memory is in exactly one family.

use pte_chain::PteChain;
use rmap_core::frame::flags as pf;
use rmap_core::locks::era;
use rmap_core::merge_rules::MergeRules;
use rmap_core::rmap::{MapAt, Objects};
use rmap_core::walk::Walk;
use rmap_core::{
    Acq, AnonNeed, Cand, Core, Ctx, Errno, IMapShape, Lk, LockClass, LockProtocol, MmId, Pfn,
    Presets, ReverseMap, VmaId, WorkKind,
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
}

impl AnonMm {
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
    /// The anonmm walk: the page's address in every mm of its family, under
    /// the family's head lock (plain spin, held for the whole walk:
    /// page_referenced_anon, rmap 10-37).
    fn walk_anonmm(a: &AnonMm, core: &Core, pfn: Pfn, out: &mut Walk) {
        let word = core.frames.get(pfn).mapping;
        if word == 0 {
            return;
        }
        let fam = ((word & FAMILY_MASK) - 1) as usize;
        let aw = core.locks.protocol().anon_walk;
        out.hold(aw.acq(LockClass::Anonmm, fam as u64, out.referenced));
        let addr = (word >> FAMILY_BITS) << 12;
        for &mm in &a.families[fam] {
            out.vmas_visited += 1;
            if let Some(vid) = core.find_vma(mm, addr) {
                out.cands.push(Cand {
                    mm,
                    vma: Some(vid),
                    addr,
                    pte: None,
                });
            }
        }
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
        let (preset, shape, anon, locks, page_lock) = match preset {
            "mccracken" => (
                "mccracken",
                IMapShape::List,
                chains(),
                &era::V2_6_0_OBJRMAP,
                LockClass::PteChain,
            ),
            "prio" => (
                "prio",
                IMapShape::IntervalTree,
                chains(),
                &era::V2_6_7_PRIO,
                LockClass::PteChain,
            ),
            "anonmm" => (
                "anonmm",
                IMapShape::IntervalTree,
                Anon::Mm(AnonMm::default()),
                &era::V2_6_7_ANONMM,
                LockClass::PageMapLock,
            ),
            _ => return None,
        };
        Some(ObjRmap {
            preset,
            shape,
            anon,
            locks,
            page_lock,
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
                ctx.unlock(l);
            }
        }
    }
    fn page_add_file(&mut self, ctx: &mut Ctx, pfn: Pfn, _at: MapAt) {
        // the page's mapcount, under its chain / map lock
        let l = lock_page(ctx, self.page_lock, pfn);
        ctx.unlock(l);
    }
    fn page_dup(&mut self, ctx: &mut Ctx, pfn: Pfn, parent: MapAt, child: MapAt) {
        match &mut self.anon {
            Anon::Chains(c) if ctx.frames.get(pfn).has(pf::ANON) => {
                c.page_dup(ctx, pfn, parent, child)
            }
            _ => {
                let l = lock_page(ctx, self.page_lock, pfn);
                ctx.unlock(l);
            }
        }
    }
    fn page_remove(&mut self, ctx: &mut Ctx, pfn: Pfn, at: MapAt) {
        match &mut self.anon {
            Anon::Chains(c) if ctx.frames.get(pfn).has(pf::ANON) => c.page_remove(ctx, pfn, at),
            _ => {
                let l = lock_page(ctx, self.page_lock, pfn);
                ctx.unlock(l);
            }
        }
    }
    fn page_freed(&mut self, ctx: &mut Ctx, pfn: Pfn) {
        if let Anon::Chains(c) = &mut self.anon {
            c.page_freed(ctx, pfn);
        }
    }

    fn walk(&self, core: &Core, pfn: Pfn, out: &mut Walk) {
        if !core.frames.get(pfn).has(pf::ANON) {
            // reclaim holds the page's chain / map lock around its walks;
            // the file walk then (try)locks i_mmap
            out.hold(Acq::excl(self.page_lock, pfn.0 as u64));
            return core.walk_file(pfn, out);
        }
        match &self.anon {
            Anon::Chains(c) => c.walk(core, pfn, out),
            Anon::Mm(a) => {
                out.hold(Acq::excl(self.page_lock, pfn.0 as u64));
                Self::walk_anonmm(a, core, pfn, out)
            }
        }
    }
    fn walk_done(&mut self, ctx: &mut Ctx, pfn: Pfn) {
        if let Anon::Chains(c) = &mut self.anon
            && ctx.frames.get(pfn).has(pf::ANON)
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
            Anon::Chains(c) => c.validate(core),
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
mod tests {
    use super::*;
    use rmap_core::conformance::{run_suite, run_trace};

    #[test]
    fn every_preset_passes_the_conformance_suite() {
        for p in PRESETS {
            run_suite(|| ObjRmap::with_preset(p).unwrap());
        }
    }

    #[test]
    fn every_preset_passes_the_property_tests() {
        for p in PRESETS {
            rmap_core::props::random_ops_under_pressure(|| ObjRmap::with_preset(p).unwrap(), 192);
            rmap_core::props::read_only_ops_under_pressure(|| ObjRmap::with_preset(p).unwrap(), 64);
        }
    }

    fn rmap_stats(out: &str) -> (u64, u64, u64) {
        let line = out
            .lines()
            .rfind(|l| l.contains("\"rmap\""))
            .expect("stats all");
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let r = &v["rmap"];
        (
            r["walks"].as_u64().unwrap(),
            r["vmas_visited"].as_u64().unwrap(),
            r["hits"].as_u64().unwrap(),
        )
    }

    /// The database "indirect buffer cache": one process maps one shared
    /// file as 1000 VMAs of 8 pages at distinct offsets, touches them, and
    /// reclaim unmaps pages. A list visits every VMA per walk, the tree
    /// only the one that covers the page.
    #[test]
    fn db_window_list_walks_visit_100x_more_vmas_than_the_tree() {
        let mut t = String::from("config ram=64M swap=64M\nfile db 32M\n");
        for i in 0..1000u64 {
            // windows two pages apart in address space never merge
            let addr = 0x1000_0000_0000u64 + i * 10 * 4096;
            let off = ((i * 7919) % 1000) * 8 * 4096;
            t.push_str(&format!(
                "mmap 1 {addr:#x} 32K rw- shared file=db off={off:#x}\ntouch 1 {addr:#x} 32K r\n"
            ));
        }
        t.push_str("reclaim 2000\ncheck\nstats all\n");
        let mut per_walk = vec![];
        for p in ["mccracken", "prio", "anonmm"] {
            let out = run_trace(ObjRmap::with_preset(p).unwrap(), &t).unwrap();
            assert!(!out.contains(" failed: "), "{p}: {out}");
            let (walks, visited, hits) = rmap_stats(&out);
            assert!(
                walks >= 2000 && hits >= 2000,
                "{p}: {walks} walks, {hits} hits"
            );
            per_walk.push(visited as f64 / walks as f64);
        }
        assert!(
            per_walk[0] >= 100.0 * per_walk[1],
            "list {} vs tree {} VMAs per walk",
            per_walk[0],
            per_walk[1]
        );
        assert!(
            (per_walk[1] - 1.0).abs() < 1e-9,
            "the tree visits exactly the covering VMA: {}",
            per_walk[1]
        );
        // and the scan oracle agrees on what they found: `check` above ran
        // validate, which compares every walk with a scan of all PTEs.
    }

    #[test]
    fn anonmm_walk_visits_each_mm_of_the_family() {
        let mut t =
            String::from("mmap 1 0x100000000000 4K rw- private\ntouch 1 0x100000000000 4K w\n");
        for c in 2..=5 {
            t.push_str(&format!("fork 1 {c}\n"));
        }
        t.push_str("exec 5\nreclaim 1\ncheck\nstats all\n");
        let out = run_trace(ObjRmap::with_preset("anonmm").unwrap(), &t).unwrap();
        assert!(!out.contains(" failed: "), "{out}");
        let line = out.lines().last().unwrap();
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        // process 5 exec'd: a new mm with no family yet; four records remain
        assert_eq!(v["objects"]["anonmm"], 4, "{line}");
        let (walks, visited, hits) = rmap_stats(&out);
        assert!(walks >= 1 && hits == 4 * walks, "{walks} walks {hits} hits");
        assert_eq!(visited, 4 * walks);
    }

    /// The lock protocols of the objrmap eras: McCracken's `i_shared_sem`
    /// (a semaphore the walks only trylock), the 2.6.7 `i_mmap_lock`
    /// spinlock (also trylocked), anonmm's family lock; every page's
    /// mapcount under its chain or map lock.
    #[test]
    fn lock_classes_of_each_era() {
        let mut t = String::from(
            "config ram=16M\nfile f 64K\nmmap 1 0x100000000000 64K rw- shared file=f\n\
             touch 1 0x100000000000 64K w\nmmap 1 0x100000100000 64K rw- private\n\
             touch 1 0x100000100000 64K w\n",
        );
        for c in 2..=4 {
            t.push_str(&format!("fork 1 {c}\ntouch {c} 0x100000000000 64K r\n"));
        }
        t.push_str("reclaim 128\nstats all\ncheck\n");
        let locks = |p: &str| -> serde_json::Value {
            let out = run_trace(ObjRmap::with_preset(p).unwrap(), &t).unwrap();
            assert!(!out.contains(" failed: "), "{p}: {out}");
            let line = out.lines().rfind(|l| l.contains("\"locks\"")).unwrap();
            serde_json::from_str::<serde_json::Value>(line).unwrap()["locks"].clone()
        };
        let m = locks("mccracken");
        assert_eq!(m["i_mmap"]["kind"], "semaphore", "{m}");
        assert_eq!(m["pte_chain"]["kind"], "bit_spin", "{m}");
        assert!(m["pte_chain"]["acquired"].as_u64().unwrap() > 0, "{m}");
        let p = locks("prio");
        assert_eq!(p["i_mmap"]["kind"], "spin", "{p}");
        let a = locks("anonmm");
        assert_eq!(a["anonmm"]["kind"], "spin", "{a}");
        assert_eq!(a["anonmm"]["instances"], 1, "one family: {a}");
        assert!(a["page_map_lock"]["acquired"].as_u64().unwrap() > 0, "{a}");
        assert!(a.get("pte_chain").is_none(), "{a}");
        for l in [&m, &p, &a] {
            assert!(l["i_mmap"]["acquired"].as_u64().unwrap() > 0, "{l}");
        }
    }
}
