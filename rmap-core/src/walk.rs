//! Reverse-map walks: what a walk reports, and the walks the core shares.
//!
//! Walk protocol: a backend's [`ReverseMap::walk`](crate::ReverseMap::walk)
//! reports candidate `(mm, vma, addr)` triples with [`Walk::push`], in the
//! order its era's walk visits them, and counts what it visited itself
//! (`vmas_visited`, `chain_blocks`, and `ptes_scanned` for PTEs it examined
//! on its own, as a scan needs); each candidate carries the walk's cost so
//! far ([`WalkCost`]). The core then reads each candidate's PTE (one more
//! PTE checked each) and counts hits. A walk must report every PTE that
//! maps the frame (except, in the 2.6.7-3.19 eras, those of nonlinear VMAs:
//! see [`crate::nonlinear`]); extra candidates only cost.
//!
//! Where the era's walk stops once it has found every mapping
//! ([`Walk::stops`]: the mapcount countdown of `page_referenced_one` and
//! `try_to_unmap`'s "page no longer mapped" test, 2.6.7 on), the core
//! consumes candidates only until then and counts only the cost spent up to
//! the last one it consumed; otherwise it consumes them all and counts the
//! whole walk. A backend whose list is long visits it with
//! [`Walk::visit_list`], which ends there: it reports the same, and the
//! host does not build candidates the core would never consume.
//!
//! Host speed, not the model: the core reads candidates' page tables a
//! batch at a time (their cache misses overlap), finds a page's one mapping
//! by its PTE's address rather than by reading every candidate's PTE, and
//! records a run of misses in one call; the recorded events and work are
//! those of one candidate after another.
//!
//! The shared walks live here as methods of [`Core`], for any backend:
//! [`Core::scan_walk`] (no reverse map: every page table of every mm, the
//! `scan` baseline and the oracle) and [`Core::walk_file`] (a file page
//! through its file's `i_mmap`, and the nonlinear VMAs as the era treats
//! them: object-based rmap, used by `objrmap` and `anonvma`).

use crate::addr::{Pfn, PgOff};
use crate::file::IMapShape;
use crate::locks::{Acq, LockClass};
use crate::nonlinear::NonlinearEra;
use crate::pgtable::PtePtr;
use crate::system::Core;
use crate::vma::{FileId, MmId, VmaId};

/// What a walk has spent so far, in its own units (the core adds one PTE
/// check per candidate it consumes).
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct WalkCost {
    pub vmas_visited: u64,
    pub ptes_scanned: u64,
    pub chain_blocks: u64,
}

/// One candidate of a walk: the PTE of `addr` in `mm` may map the frame.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Cand {
    pub mm: MmId,
    /// The VMA if the backend knows it; else the core looks it up.
    pub vma: Option<VmaId>,
    pub addr: u64,
    /// The PTE's address if the backend keeps it (PTE chains do); else
    /// the core walks the page table to it.
    pub pte: Option<PtePtr>,
    /// The walk's cost when it reached this candidate, its own visit
    /// included (set by [`Walk::push`]).
    pub cost: WalkCost,
}

/// The output of one walk.
#[derive(Default, Debug)]
pub struct Walk {
    pub cands: Vec<Cand>,
    pub vmas_visited: u64,
    pub ptes_scanned: u64,
    /// PTE-chain blocks the walk went through (a work unit).
    pub chain_blocks: u64,
    /// The locks the walk holds around its whole traversal, outermost
    /// first (the anon_vma, `i_mmap`, a page's chain lock), as the era
    /// takes them; the core records them around the walk's work.
    pub holds: Vec<Acq>,
    /// Which walk this is: `page_referenced`'s (else `try_to_unmap`'s or
    /// a count), for eras whose walks trylock differently.
    pub referenced: bool,
    /// The era's walk stops as soon as every mapping of the page has been
    /// found (2.6.7 on); set by the backend's walk. Unset, the core
    /// consumes every candidate (the PTE-chain era, whose chain holds
    /// exactly the mappings, and McCracken's objrmap, which never stopped).
    pub stops: bool,
    /// The core's page-table lookups of candidates `ptes_from..` (a batch
    /// ahead of the candidate it consumes; see [`Core::cand_pte`]).
    pub(crate) ptes: Vec<Option<PtePtr>>,
    pub(crate) ptes_from: usize,
    /// Set by the core for a walk it consumes only until every mapping is
    /// found: the frame, and how many mappings are still to be found among
    /// the candidates pushed (see [`Walk::visit_list`]).
    pub(crate) want: Option<(Pfn, u32)>,
    /// The PTE slots of candidates `0..known.len()`, as
    /// [`Walk::visit_list`] checked them (what [`Core::cand_pte`] answers).
    pub(crate) known: Vec<Option<PtePtr>>,
    /// Whether each of those PTEs mapped the frame when checked (a walk
    /// changes only the PTEs it has consumed, so it still does).
    pub(crate) known_maps: Vec<bool>,
    /// Misses the core has not recorded yet (see `System::record_misses`):
    /// the page-table lock each probed (all alike but for the instance),
    /// and how many were checked without a lock.
    pub(crate) miss_acq: Option<Acq>,
    pub(crate) miss_insts: Vec<u64>,
    pub(crate) misses_unlocked: u64,
}

impl Walk {
    pub fn clear(&mut self) {
        self.cands.clear();
        self.vmas_visited = 0;
        self.ptes_scanned = 0;
        self.chain_blocks = 0;
        self.holds.clear();
        self.stops = false;
        self.ptes.clear();
        self.ptes_from = 0;
        self.want = None;
        self.known.clear();
        self.known_maps.clear();
        self.miss_acq = None;
        self.miss_insts.clear();
        self.misses_unlocked = 0;
    }
    /// Report a candidate: the PTE of `addr` in `mm` may map the frame.
    /// It carries the walk's cost so far, so count the visit that found it
    /// first.
    #[inline]
    pub fn push(&mut self, mm: MmId, vma: Option<VmaId>, addr: u64, pte: Option<PtePtr>) {
        let cost = self.cost();
        self.cands.push(Cand {
            mm,
            vma,
            addr,
            pte,
            cost,
        });
    }
    /// The walk's cost so far.
    #[inline]
    pub fn cost(&self) -> WalkCost {
        WalkCost {
            vmas_visited: self.vmas_visited,
            ptes_scanned: self.ptes_scanned,
            chain_blocks: self.chain_blocks,
        }
    }
    /// Visit `members` in order, as a list walk does: each is one VMA
    /// visited, and `at(vma)` says whether it covers the page (`Some((mm,
    /// the page's address in it))`), which makes it a candidate. Where the
    /// core consumes this walk only until it has found every mapping of the
    /// frame (the walk [`Walk::stops`]; `page_referenced`, `try_to_unmap`),
    /// the visit ends at the candidate that holds the last of them, and the
    /// walk's cost is that candidate's: exactly what the core would consume
    /// of the whole list, without the host building the rest (a family's
    /// 30,000 VMAs searched for a page's one mapping). Otherwise every
    /// member is visited.
    ///
    /// Host speed only: a list the core may stop in is checked a chunk at a
    /// time, growing from [`FIRST_CHUNK`] to [`MAX_CHUNK`] members (their
    /// page-table reads overlap; the chunk that holds the last mapping is
    /// checked past it), and where the frame has one mapping, candidates
    /// are compared with its PTE's address instead of each reading its PTE
    /// ([`sole_mapping`](crate::pgtable::PageTables::sole_mapping)); the
    /// outcome is that of visiting one member after another. Precondition:
    /// the candidates pushed before name their VMA.
    pub fn visit_list<I, F>(&mut self, core: &Core, members: I, at: F)
    where
        I: IntoIterator<Item = VmaId>,
        F: Fn(VmaId) -> Option<(MmId, u64)>,
    {
        let mut members = members.into_iter();
        let pfn = match self.want {
            Some((pfn, _)) if self.stops => pfn,
            _ => {
                for vid in members {
                    self.vmas_visited += 1;
                    if let Some((mm, addr)) = at(vid) {
                        self.push(mm, Some(vid), addr, None);
                    }
                }
                return;
            }
        };
        if self.check_pending(core) {
            return;
        }
        let sole = core.pt.sole_mapping(pfn, core.frames.get(pfn).mapcount);
        let mut chunk = Vec::new();
        let mut size = FIRST_CHUNK;
        loop {
            chunk.clear();
            chunk.extend(members.by_ref().take(size));
            if chunk.is_empty() {
                return;
            }
            let checked = core.check_members(&chunk, &at, pfn, sole, self.cost());
            self.vmas_visited += chunk.len() as u64;
            if self.take_checked(checked) {
                return;
            }
            size = (size * 2).min(MAX_CHUNK);
        }
    }

    /// Append candidates checked by [`Core::check_cands`], up to the one
    /// that holds the last wanted mapping; true if it was among them (the
    /// walk then ends there, at that candidate's cost).
    fn take_checked(&mut self, c: Checked) -> bool {
        let Some((_, left)) = self.want.as_mut() else {
            return false;
        };
        let mut cut = None;
        for (k, _) in c.maps.iter().enumerate().filter(|&(_, &m)| m) {
            *left -= 1;
            if *left == 0 {
                cut = Some(k + 1);
                break;
            }
        }
        let n = cut.unwrap_or(c.cands.len());
        self.cands.extend_from_slice(&c.cands[..n]);
        self.known.extend_from_slice(&c.slots[..n]);
        self.known_maps.extend_from_slice(&c.maps[..n]);
        if cut.is_some() {
            self.end_at_last();
        }
        cut.is_some()
    }

    /// Check the candidates not yet checked; true (and the candidates
    /// after it dropped) when one of them maps the last wanted mapping.
    fn check_pending(&mut self, core: &Core) -> bool {
        let Some((pfn, _)) = self.want else {
            return false;
        };
        let pending = self.cands.split_off(self.known.len());
        self.take_checked(core.check_cands(pending, pfn, None))
    }

    /// The walk ends at its last candidate: its cost is that candidate's.
    fn end_at_last(&mut self) {
        if let Some(c) = self.cands.last() {
            self.vmas_visited = c.cost.vmas_visited;
            self.ptes_scanned = c.cost.ptes_scanned;
            self.chain_blocks = c.cost.chain_blocks;
        }
    }
    /// The walk holds `a` around its traversal.
    #[inline]
    pub fn hold(&mut self, a: Acq) {
        self.holds.push(a);
    }
}

/// Cumulative cost of all walks.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq, serde::Serialize)]
pub struct WalkStats {
    pub walks: u64,
    pub vmas_visited: u64,
    pub ptes_checked: u64,
    pub hits: u64,
}

/// How many candidates' page tables [`Core::cand_pte`] looks up at once.
const LOOKAHEAD: usize = 64;
/// [`Walk::visit_list`]'s chunks: the first and the largest. Small in
/// debug builds, so that the tests' families take every path.
#[cfg(not(debug_assertions))]
const FIRST_CHUNK: usize = 32;
#[cfg(not(debug_assertions))]
const MAX_CHUNK: usize = 256;
#[cfg(debug_assertions)]
const FIRST_CHUNK: usize = 2;
#[cfg(debug_assertions)]
const MAX_CHUNK: usize = 16;

/// Candidates checked by [`Core::check_cands`]: each one's PTE slot and
/// whether it maps the frame.
struct Checked {
    cands: Vec<Cand>,
    slots: Vec<Option<PtePtr>>,
    maps: Vec<bool>,
}

impl Core {
    /// The candidates among `vids` (visited after the walk's cost `base`),
    /// checked by [`Core::check_cands`].
    fn check_members<F>(
        &self,
        vids: &[VmaId],
        at: &F,
        pfn: Pfn,
        sole: Option<PtePtr>,
        base: WalkCost,
    ) -> Checked
    where
        F: Fn(VmaId) -> Option<(MmId, u64)>,
    {
        let mut cands = Vec::with_capacity(vids.len());
        for (k, &vid) in vids.iter().enumerate() {
            if let Some((mm, addr)) = at(vid) {
                let cost = WalkCost {
                    vmas_visited: base.vmas_visited + k as u64 + 1,
                    ..base
                };
                cands.push(Cand {
                    mm,
                    vma: Some(vid),
                    addr,
                    pte: None,
                    cost,
                });
            }
        }
        self.check_cands(cands, pfn, sole)
    }

    /// `cands` with their PTE slots, and whether each maps `pfn`: whether
    /// it is the PTE `sole` when that is the frame's one mapping
    /// ([`sole_mapping`](crate::pgtable::PageTables::sole_mapping)), else
    /// read.
    fn check_cands(&self, cands: Vec<Cand>, pfn: Pfn, sole: Option<PtePtr>) -> Checked {
        let mut slots = Vec::with_capacity(cands.len());
        self.pte_slots(&cands, &mut slots, false);
        let reads = |p: &Option<PtePtr>| p.is_some_and(|p| self.pt.get(p).pfn() == Some(pfn));
        let maps: Vec<bool> = match sole {
            Some(s) => {
                debug_assert!(slots.iter().all(|p| (*p == Some(s)) == reads(p)));
                slots.iter().map(|p| *p == Some(s)).collect()
            }
            None => slots.iter().map(reads).collect(),
        };
        debug_assert!(
            maps.iter().zip(&cands).all(|(&m, c)| !m || c.vma.is_some()),
            "a candidate without its VMA"
        );
        Checked { cands, slots, maps }
    }

    /// Append the PTE slot of each candidate of `cands` to `out` (as
    /// [`Core::cand_pte`] answers: the backend's if its mm is live, else the
    /// page table's): by the mm's last-reached PTE table where it covers the
    /// address ([`lookup_hinted`](crate::pgtable::PageTables::lookup_hinted)),
    /// the others together level by level
    /// ([`lookup_many`](crate::pgtable::PageTables::lookup_many)); then, if
    /// `touch`, read each PTE found once (for a caller that reads them
    /// later, one at a time). Host speed only: the loads of a batch are
    /// independent, so their cache misses overlap instead of coming one per
    /// candidate (a walk of a family of 30,000 processes is bound by them).
    fn pte_slots(&self, cands: &[Cand], out: &mut Vec<Option<PtePtr>>, touch: bool) {
        let base = out.len();
        let mut reqs = Vec::new();
        let mut at = Vec::new();
        for (k, c) in cands.iter().enumerate() {
            let live = || self.mms.get(c.mm.0 as usize).and_then(|m| m.as_ref());
            let p = match c.pte {
                Some(p) => live().map(|_| p),
                None => self.pt.lookup_hinted(c.mm.0, c.addr),
            };
            out.push(p);
            if p.is_none() && c.pte.is_none() {
                reqs.push((live().map(|m| m.root), c.addr));
                at.push(base + k);
            }
        }
        if !reqs.is_empty() {
            let mut found = Vec::with_capacity(reqs.len());
            self.pt.lookup_many(&reqs, &mut found);
            for (k, p) in at.into_iter().zip(found) {
                out[k] = p;
            }
        }
        if touch {
            for p in out[base..].iter().flatten() {
                std::hint::black_box(self.pt.get(*p));
            }
        }
    }

    /// The PTE slot of candidate `i` of `w`: the backend's (if its mm is
    /// live), else the page table's if it has the table (`None` also when
    /// the mm is gone). Call with `i` rising through one walk: the lookups
    /// are done [`LOOKAHEAD`] candidates at a time ([`Core::look_ahead`]).
    /// A walk changes PTEs, never tables, so a batch stays valid while it
    /// is consumed (debug builds check each answer against a plain
    /// lookup).
    pub(crate) fn cand_pte(&self, w: &mut Walk, i: usize) -> Option<PtePtr> {
        let c = w.cands[i];
        let live = || self.mms.get(c.mm.0 as usize).and_then(|m| m.as_ref());
        let p = if let Some(&p) = w.known.get(i) {
            p
        } else if c.pte.is_some() {
            return c.pte.filter(|_| live().is_some());
        } else {
            if i < w.ptes_from || i >= w.ptes_from + w.ptes.len() {
                self.look_ahead(w, i);
            }
            w.ptes[i - w.ptes_from]
        };
        debug_assert_eq!(
            p,
            live().and_then(|m| c.pte.or_else(|| self.pt.lookup(m.root, c.addr))),
            "a batched or hinted lookup went stale"
        );
        p
    }

    /// Look up the PTE slots of candidates `i..i + LOOKAHEAD` into
    /// `w.ptes` ([`Core::pte_slots`]).
    fn look_ahead(&self, w: &mut Walk, i: usize) {
        let end = (i + LOOKAHEAD).min(w.cands.len());
        w.ptes.clear();
        w.ptes_from = i;
        self.pte_slots(&w.cands[i..end], &mut w.ptes, true);
    }

    /// The `scan` walk: examine every present PTE of every mm.
    pub fn scan_walk(&self, pfn: Pfn, out: &mut Walk) {
        for mm in self.mm_ids() {
            let m = self.mm(mm);
            for (_, &vid) in m.vmas.iter() {
                out.vmas_visited += 1;
                self.scan_vma(vid, pfn, out);
            }
        }
    }

    /// Every present PTE of VMA `vid`: a candidate if it maps `pfn`, else
    /// one PTE scanned.
    fn scan_vma(&self, vid: VmaId, pfn: Pfn, out: &mut Walk) {
        let v = &self.vmas[vid];
        let root = self.mm(v.mm).root;
        self.pt.for_each(root, v.start, v.end, &mut |_, va, pte| {
            if pte.is_present() {
                if pte.pfn() == Some(pfn) {
                    out.push(v.mm, Some(vid), va, None);
                } else {
                    out.ptes_scanned += 1;
                }
            }
        });
    }

    /// The object-based walk of file page `pfn`: every VMA that `i_mmap`
    /// yields for the page's offset (all of them for a list, the covering
    /// ones for a tree) gives its address for the page. Nonlinear VMAs, as
    /// the era treats them ([`Core::nonlinear`]):
    /// - [`NonlinearEra::Tracked`] (McCracken's objrmap and the prio-tree
    ///   RFC, which kept nonlinear VMAs among the others and moved pages
    ///   mapped out of place onto PTE chains, `page_convert_anon`): each is
    ///   one more VMA of the list (or, for a tree, one more when it covers
    ///   the offset), tried at its linear address;
    /// - [`NonlinearEra::Cluster`] (2.6.7 to 3.19, which kept them on
    ///   `i_mmap_nonlinear`): skipped (`page_referenced_file` never looks;
    ///   `try_to_unmap` goes on to [`crate::nonlinear`]'s cluster scan);
    /// - [`NonlinearEra::Emulated`] (4.0 on): there are none.
    ///
    /// The walk holds the file's `i_mmap` lock as the era's reclaim takes
    /// it (`LockProtocol::file_walk`).
    pub fn walk_file(&self, pfn: Pfn, out: &mut Walk) {
        let f = self.frames.get(pfn);
        let (file, pgoff) = (FileId(f.mapping as u32), PgOff(f.index));
        let fw = self.locks.protocol().file_walk;
        out.hold(fw.acq(LockClass::IMmap, file.0 as u64, out.referenced));
        let file = self.file(file);
        let linear = |out: &mut Walk, vid: VmaId| {
            out.vmas_visited += 1;
            let v = &self.vmas[vid];
            if let Some(addr) = v.addr_of(pgoff) {
                out.push(v.mm, Some(vid), addr, None);
            }
        };
        file.i_mmap
            .candidates(pgoff, &mut |vid| linear(&mut *out, vid));
        if self.nonlinear == NonlinearEra::Tracked {
            let list = self.cfg.i_mmap == IMapShape::List;
            for &vid in &file.i_mmap_nonlinear {
                if list || self.vmas[vid].addr_of(pgoff).is_some() {
                    linear(out, vid);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::flags as pf;
    use crate::rmap::{AnonNeed, Ctx, MapAt, ReverseMap, Scan};
    use crate::{Errno, conformance::run_trace};

    /// A family-list walk of an anonymous page, in the manner of 2.6.7's
    /// anon_vma: every VMA of every mm, in mm order, each a candidate where
    /// it covers the page's address. Through [`Walk::visit_list`], or by
    /// pushing each member (what the core then consumes is the reference).
    struct FamilyList {
        chunked: bool,
    }

    impl ReverseMap for FamilyList {
        fn name(&self) -> &'static str {
            "family-list"
        }
        fn preset(&self) -> &'static str {
            "default"
        }
        fn anon_prepare(&mut self, ctx: &mut Ctx, vma: VmaId, why: AnonNeed) -> Result<(), Errno> {
            Scan.anon_prepare(ctx, vma, why)
        }
        fn page_add_anon(&mut self, _: &mut Ctx, _: Pfn, _: MapAt, _: bool) {}
        fn walk(&self, core: &Core, pfn: Pfn, out: &mut Walk) {
            if !core.frames.get(pfn).has(pf::ANON) {
                return core.walk_file(pfn, out);
            }
            out.stops = true;
            // the page's address, from the oracle (the family shares it)
            let mut found = Walk::default();
            core.scan_walk(pfn, &mut found);
            let Some(addr) = found.cands.first().map(|c| c.addr) else {
                return;
            };
            let members = core
                .mm_ids()
                .flat_map(|mm| core.mm(mm).vmas.values().copied().collect::<Vec<_>>());
            let at = |vid: VmaId| {
                let v = &core.vmas[vid];
                (v.start <= addr && addr < v.end).then_some((v.mm, addr))
            };
            if self.chunked {
                return out.visit_list(core, members, at);
            }
            for vid in members {
                out.vmas_visited += 1;
                if let Some((mm, a)) = at(vid) {
                    out.push(mm, Some(vid), a, None);
                }
            }
        }
    }

    /// A family of 40 processes sharing a heap, each with a page of its
    /// own (one mapping: compared by PTE address) beside pages all share
    /// (read one by one), reclaimed: the chunked visit (debug builds use
    /// chunks of 2 to 16 members) consumes and counts exactly what the
    /// plain list does, walks, visits, PTE checks, hits and locks alike.
    #[test]
    fn a_chunked_list_walk_reports_what_the_plain_list_does() {
        let heap = 0x1000_0000_0000u64;
        let mut t = format!("config swap=1M\nmmap 1 {heap:#x} 64K rw- private\n");
        t += &format!("touch 1 {heap:#x} 64K w\n");
        for c in 2..=40u64 {
            let page = heap + ((c % 16) << 12);
            t += &format!("fork 1 {c}\ntouch {c} {page:#x} 4K w\n");
        }
        t += "reclaim 8\nstats all\nreclaim 100\ncheck\nstats all\n";
        let chunked = run_trace(FamilyList { chunked: true }, &t).unwrap();
        let plain = run_trace(FamilyList { chunked: false }, &t).unwrap();
        assert_eq!(chunked, plain);
        // and the walks did run: more visits than hits, under locks
        let last = chunked.lines().last().unwrap();
        let v: serde_json::Value = serde_json::from_str(last).unwrap();
        let (walks, visited, hits) = (
            v["rmap"]["walks"].as_u64().unwrap(),
            v["rmap"]["vmas_visited"].as_u64().unwrap(),
            v["rmap"]["hits"].as_u64().unwrap(),
        );
        assert!(walks >= 100 && hits > 0 && visited > 2 * hits, "{last}");
        assert!(last.contains("\"ptl\""), "{last}");
    }
}
