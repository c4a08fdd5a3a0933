//! `System::validate` (every invariant of the model, and the backend's walk
//! against the scan oracle) and `System::check_integrity` (every page of
//! every process reads what the shadow model says it must).

use std::collections::{BTreeMap, BTreeSet};

use crate::addr::{PAGE_SIZE, Pfn, PgOff, TASK_SIZE};
use crate::file::initial_content;
use crate::frame::{LruList, NIL, ZERO_PFN, flags as pf};
use crate::nonlinear::NonlinearEra;
use crate::ops::MergePolicy;
use crate::pte::{Pte, PteKind};
use crate::rmap::ReverseMap;
use crate::system::System;
use crate::vma::{FileId, MmId, Vma, VmaId, vmf};
use crate::vmaops::flags_mergeable;

macro_rules! ensure {
    ($c:expr, $($arg:tt)*) => {
        if !$c {
            return Err(format!($($arg)*));
        }
    };
}

/// What a scan of every page table found: the oracle's view, which the
/// checks of frames, swap and walks compare against.
#[derive(Default)]
struct Oracle {
    /// Every present PTE of a frame: (mm, address).
    maps: BTreeMap<Pfn, Vec<(MmId, u64)>>,
    /// Swap PTEs per slot.
    swap_refs: BTreeMap<u32, u32>,
    /// Page tables reachable from every mm.
    tables: u64,
    /// VMAs listed by every mm.
    vmas: u64,
}

impl<R: ReverseMap> System<R> {
    /// Check every invariant; the error names the first one broken.
    ///
    /// Locks: nothing held between ops, every nested acquisition in the
    /// era's order (see [`crate::locks`]).
    ///
    /// Frames: free or used; used frames are page tables, anonymous pages
    /// (mapped, or held by the swap cache for a slot still named by a swap
    /// PTE) or page-cache pages, each with the right mapcount, refcount and
    /// LRU list. VMAs: sorted, non-overlapping, aligned, in their file's
    /// `i_mmap` (or nonlinear list), maximally merged under
    /// `MergePolicy::Both`. PTEs: only inside VMAs, each kind where it may
    /// be. Swap: slot counts equal the swap PTEs. Counters: RSS per mm.
    /// Reverse map: for every mapped frame, the backend's walk finds exactly
    /// the PTEs a scan of all page tables finds (in the 2.6.7-3.19 eras,
    /// those outside nonlinear VMAs, which their walks skip and the cluster
    /// scan sweeps); with the 4.0 emulation no VMA is nonlinear; the
    /// backend's own check.
    pub fn validate(&mut self) -> Result<(), String> {
        self.core.locks.check()?;
        let lru_counts = self.core.frames.check_lists()?;
        let mut o = Oracle::default();
        let mm_ids: Vec<MmId> = self.core.mm_ids().collect();
        for &mm in &mm_ids {
            self.check_mm(mm, &mut o)?;
        }
        let (vma_total, tables) = (o.vmas, o.tables);
        ensure!(
            vma_total == self.core.vmas.live(),
            "{} live VMAs but {vma_total} in mms",
            self.core.vmas.live()
        );
        ensure!(
            tables == self.core.pt.live(),
            "{} live tables but {tables} reachable",
            self.core.pt.live()
        );
        self.check_frames(&o, &lru_counts)?;
        self.check_swap(&o)?;
        self.check_files(&mm_ids)?;
        self.check_walks(&o)?;
        self.rmap.validate(&self.core)
    }

    /// One mm: its page tables, its VMAs (sorted, aligned, merged), its
    /// PTEs (gathered into the oracle), its RSS counters, and no PTE or
    /// page table outside every VMA.
    fn check_mm(&self, mm: MmId, o: &mut Oracle) -> Result<(), String> {
        let m = self.core.mm(mm);
        o.tables += self
            .core
            .pt
            .check(m.root)
            .map_err(|e| format!("mm {mm:?}: {e}"))?;
        ensure!(
            self.pids.get(&m.pid) == Some(&mm),
            "mm {mm:?} has pid {} not mapped back",
            m.pid
        );
        let mut prev_end = 0;
        let mut prev: Option<VmaId> = None;
        let mut rss = (0u64, 0u64, 0u64);
        for (&start, &id) in &m.vmas {
            o.vmas += 1;
            ensure!(
                self.core.vmas.is_live(id),
                "mm {mm:?} lists dead VMA {id:?}"
            );
            let v = self.core.vmas[id];
            ensure!(
                v.mm == mm && v.start == start,
                "VMA {id:?} tree key or mm wrong"
            );
            ensure!(
                v.start < v.end
                    && v.start % PAGE_SIZE == 0
                    && v.end % PAGE_SIZE == 0
                    && v.end <= TASK_SIZE,
                "VMA {id:?} bad range {:#x}-{:#x}",
                v.start,
                v.end
            );
            ensure!(v.start >= prev_end, "VMAs overlap at {:#x}", v.start);
            ensure!(
                !(v.has(vmf::NONLINEAR) && self.core.nonlinear == NonlinearEra::Emulated),
                "VMA {id:?} is nonlinear in an era that emulates remap_file_pages"
            );
            if let Some(p) = prev {
                self.check_not_mergeable(p, id)?;
            }
            prev_end = v.end;
            prev = Some(id);
            let (a, f, sw) = self.scan_vma_ptes(mm, id, &v, &mut o.maps, &mut o.swap_refs)?;
            rss.0 += a;
            rss.1 += f;
            rss.2 += sw;
        }
        ensure!(
            (m.rss_anon, m.rss_file, m.swap_ents) == rss,
            "mm {mm:?}: counters anon/file/swap {}/{}/{} but PTEs say {rss:?}",
            m.rss_anon,
            m.rss_file,
            m.swap_ents
        );
        self.check_no_stray(mm)?;
        Ok(())
    }

    /// Under `MergePolicy::Both` and an era whose every flag change looks
    /// for a merge, neighbours `p` and `id` could not have been merged (fork copies layouts without merging: see
    /// `Vma::merge_skipped`).
    fn check_not_mergeable(&self, p: VmaId, id: VmaId) -> Result<(), String> {
        if self.core.cfg.merge != MergePolicy::Both || !self.rmap.merge_rules().remerges_all() {
            return Ok(());
        }
        let (pv, v) = (self.core.vmas[p], self.core.vmas[id]);
        let mergeable = !(pv.merge_skipped && v.merge_skipped)
            && pv.end == v.start
            && flags_mergeable(pv.flags, v.flags)
            && pv.file == v.file
            && pv.pgoff + pv.pages() == v.pgoff
            && self.anon_mergeable(p, Some(id))
            && self.anon_mergeable(id, Some(p));
        ensure!(
            !mergeable,
            "VMAs {:#x}-{:#x} and {:#x}-{:#x} should have been merged",
            pv.start,
            pv.end,
            v.start,
            v.end
        );
        Ok(())
    }

    /// No PTE lies outside every VMA of `mm`, and `free_pgtables` left no
    /// page table where no VMA is.
    fn check_no_stray(&self, mm: MmId) -> Result<(), String> {
        let m = self.core.mm(mm);
        // no PTE outside a VMA
        let mut stray = None;
        self.core
            .pt
            .for_each(m.root, 0, TASK_SIZE, &mut |_, va, _| {
                if stray.is_none() && self.core.find_vma(mm, va).is_none() {
                    stray = Some(va);
                }
            });
        ensure!(
            stray.is_none(),
            "mm {mm:?}: PTE at {:#x} outside every VMA",
            stray.unwrap_or(0)
        );
        // free_pgtables leaves no table where no VMA is
        let mut orphan = None;
        self.core.pt.for_each_pte_table(m.root, &mut |base, _| {
            let end = base + crate::pgtable::PTE_TABLE_SPAN;
            let covered = m
                .vmas
                .range(..end)
                .next_back()
                .is_some_and(|(_, &id)| self.core.vmas[id].end > base);
            if !covered && orphan.is_none() {
                orphan = Some(base);
            }
        });
        ensure!(
            orphan.is_none(),
            "mm {mm:?}: page table at {:#x} outside every VMA",
            orphan.unwrap_or(0)
        );
        Ok(())
    }

    /// Every frame against the oracle: mapcounts, refcounts, LRU lists,
    /// owners (page table, anonymous page, page cache), free counts.
    fn check_frames(&self, o: &Oracle, lru_counts: &[u64]) -> Result<(), String> {
        let maps = &o.maps;
        let mut used = 0u64;
        let mut pt_frames = 0u64;
        let mut on_lru = 0u64;
        for pfn in self.core.frames.touched() {
            let f = *self.core.frames.get(pfn);
            if !f.has(pf::USED) {
                ensure!(
                    f.lru == crate::frame::NO_LRU,
                    "free frame {pfn:?} on an LRU list"
                );
                continue;
            }
            used += 1;
            let mapped = maps.get(&pfn).map_or(0, |v| v.len()) as u32;
            if f.has(pf::PGTABLE) {
                pt_frames += 1;
                ensure!(
                    mapped == 0 && f.lru == crate::frame::NO_LRU,
                    "page-table frame {pfn:?} mapped or on LRU"
                );
                continue;
            }
            ensure!(
                f.mapcount == mapped,
                "frame {pfn:?}: mapcount {} but {mapped} PTEs map it",
                f.mapcount
            );
            ensure!(f.has(pf::LRU), "frame {pfn:?} in use but on no LRU list");
            on_lru += 1;
            if f.has(pf::ANON) {
                self.check_anon_frame(pfn, &f)?;
            } else {
                self.check_file_frame(pfn, &f)?;
            }
        }
        ensure!(
            used == self.core.frames.used(),
            "{} frames counted used, {used} found",
            self.core.frames.used()
        );
        ensure!(
            pt_frames == self.core.pt.live(),
            "{pt_frames} table frames for {} tables",
            self.core.pt.live()
        );
        ensure!(
            on_lru == lru_counts.iter().sum::<u64>(),
            "LRU lists hold {} frames, {on_lru} flagged",
            lru_counts.iter().sum::<u64>()
        );
        let free_expected = self.core.frames.len() as u64 - 1 - used;
        ensure!(
            self.core.frames.free_count() == free_expected,
            "free count {} but {free_expected} expected",
            self.core.frames.free_count()
        );
        ensure!(!maps.contains_key(&ZERO_PFN), "zero page counted as mapped");
        Ok(())
    }

    /// A used anonymous frame: its refcount, list, and swap-cache slot.
    fn check_anon_frame(&self, pfn: Pfn, f: &crate::frame::Frame) -> Result<(), String> {
        ensure!(!f.has(pf::FILE), "frame {pfn:?} both anon and file");
        let sc = f.has(pf::SWAPCACHE);
        ensure!(
            f.refcount == f.mapcount + sc as u32,
            "anon frame {pfn:?}: refcount {}",
            f.refcount
        );
        ensure!(
            f.lru == LruList::InactiveAnon as u8 || f.lru == LruList::ActiveAnon as u8,
            "anon frame {pfn:?} on a file list"
        );
        if sc {
            let s = self.core.swap.slot(f.private);
            ensure!(
                s.in_use && s.cache == pfn.0,
                "swap-cache frame {pfn:?}: slot {} does not point back",
                f.private
            );
        }
        ensure!(
            f.mapcount > 0 || sc && self.core.swap.slot(f.private).count > 0,
            "anon frame {pfn:?} leaked: unmapped and not needed by swap"
        );
        Ok(())
    }

    /// A used page-cache frame: its refcount, list, and place in its file.
    fn check_file_frame(&self, pfn: Pfn, f: &crate::frame::Frame) -> Result<(), String> {
        ensure!(
            f.has(pf::FILE),
            "frame {pfn:?} in use but neither anon, file nor table"
        );
        ensure!(
            f.refcount == f.mapcount + 1,
            "file frame {pfn:?}: refcount {}",
            f.refcount
        );
        let file = FileId(f.mapping as u32);
        let ok = self
            .core
            .files
            .get(file.0 as usize)
            .and_then(|x| x.as_ref())
            .and_then(|x| x.cache.get(&f.index))
            == Some(&pfn);
        ensure!(ok, "file frame {pfn:?} not in its file's page cache");
        ensure!(
            f.lru == LruList::InactiveFile as u8 || f.lru == LruList::ActiveFile as u8,
            "file frame {pfn:?} on an anon list"
        );
        Ok(())
    }

    /// Swap slots: counts equal the swap PTEs; cached frames point back.
    fn check_swap(&self, o: &Oracle) -> Result<(), String> {
        let swap_refs = &o.swap_refs;
        let mut slots_used = 0;
        for s in self.core.swap.allocated() {
            slots_used += 1;
            let sl = *self.core.swap.slot(s);
            let refs = swap_refs.get(&s).copied().unwrap_or(0);
            ensure!(
                sl.count == refs,
                "swap slot {s}: count {} but {refs} swap PTEs",
                sl.count
            );
            ensure!(
                sl.count > 0 || sl.cache != NIL,
                "swap slot {s} allocated but unused"
            );
            if sl.cache != NIL {
                let f = self.core.frames.get(Pfn(sl.cache));
                ensure!(
                    f.has(pf::SWAPCACHE) && f.private == s,
                    "swap slot {s}: cached frame does not point back"
                );
            }
        }
        for s in swap_refs.keys() {
            ensure!(
                self.core.swap.slot(*s).in_use,
                "swap PTE names free slot {s}"
            );
        }
        ensure!(slots_used == self.core.swap.used(), "swap used count wrong");
        Ok(())
    }

    /// Files: map counts, `i_mmap` and `i_mmap_nonlinear` members and
    /// ranges, the page cache.
    fn check_files(&self, mm_ids: &[MmId]) -> Result<(), String> {
        for file in self.core.files.iter().flatten() {
            let mut want_lin: Vec<VmaId> = Vec::new();
            let mut want_nl: Vec<VmaId> = Vec::new();
            for &mm in mm_ids {
                for &id in self.core.mm(mm).vmas.values() {
                    let v = self.core.vmas[id];
                    if v.file == Some(file.id) {
                        if v.has(vmf::NONLINEAR) {
                            want_nl.push(id)
                        } else {
                            want_lin.push(id)
                        }
                    }
                }
            }
            ensure!(
                file.map_count == (want_lin.len() + want_nl.len()) as u64,
                "file {:?}: map_count {}",
                file.id,
                file.map_count
            );
            let mut have: Vec<VmaId> = file.i_mmap.members();
            have.sort();
            want_lin.sort();
            ensure!(
                have == want_lin,
                "file {:?}: i_mmap holds {have:?}, VMAs are {want_lin:?}",
                file.id
            );
            let mut have_nl = file.i_mmap_nonlinear.clone();
            have_nl.sort();
            want_nl.sort();
            ensure!(
                have_nl == want_nl,
                "file {:?}: i_mmap_nonlinear wrong",
                file.id
            );
            if let crate::file::IMap::Tree(t) = &file.i_mmap {
                for (first, last, id) in t.items() {
                    let v = self.core.vmas[VmaId(id)];
                    ensure!(
                        (PgOff(first), PgOff(last)) == v.pgoff_range(),
                        "interval tree range stale for VMA {id}"
                    );
                }
            }
            for (&pgoff, &pfn) in &file.cache {
                let f = self.core.frames.get(pfn);
                ensure!(
                    f.has(pf::FILE) && f.mapping == file.id.0 as u64 && f.index == pgoff,
                    "page cache of {:?} at {pgoff} wrong",
                    file.id
                );
            }
        }
        Ok(())
    }

    /// The backend's walk of every mapped frame finds exactly the PTEs the
    /// oracle found (but those of nonlinear VMAs where the era's walks skip
    /// them), and names no stale PTE address.
    fn check_walks(&mut self, o: &Oracle) -> Result<(), String> {
        let skip_nonlinear = self.core.nonlinear == NonlinearEra::Cluster;
        let linear = |core: &crate::system::Core, &(mm, a): &(MmId, u64)| {
            !skip_nonlinear
                || core
                    .find_vma(mm, a)
                    .is_none_or(|v| !core.vmas[v].has(vmf::NONLINEAR))
        };
        let mut result = Ok(());
        for (&pfn, want) in &o.maps {
            let w = {
                let mut w = std::mem::take(&mut self.walkbuf);
                w.clear();
                self.rmap.walk(&self.core, pfn, &mut w);
                w
            };
            let mut found: BTreeSet<(MmId, u64)> = BTreeSet::new();
            let mut stale = None;
            for c in &w.cands {
                let m = self.core.mms.get(c.mm.0 as usize).and_then(|m| m.as_ref());
                let p = m.and_then(|m| self.core.pt.lookup(m.root, c.addr));
                if c.pte.is_some() && c.pte != p {
                    stale = Some(c.addr);
                }
                if let Some(p) = p
                    && self.core.pt.get(p).pfn() == Some(pfn)
                    && linear(&self.core, &(c.mm, c.addr))
                {
                    found.insert((c.mm, c.addr));
                }
            }
            if let Some(a) = stale {
                result = Err(format!(
                    "{} walk of frame {pfn:?} names a stale PTE address for {a:#x}",
                    self.rmap.name()
                ));
                self.walkbuf = w;
                break;
            }
            self.walkbuf = w;
            let want: BTreeSet<(MmId, u64)> = want
                .iter()
                .filter(|m| linear(&self.core, m))
                .copied()
                .collect();
            if found != want {
                let missing: Vec<_> = want.difference(&found).take(4).collect();
                result = Err(format!(
                    "{} walk of frame {pfn:?} finds {} of {} mappings (missing e.g. {missing:x?})",
                    self.rmap.name(),
                    found.len(),
                    want.len()
                ));
                break;
            }
        }
        result
    }

    /// A present PTE at `va` of `v` mapping `pfn` fits the VMA: the zero
    /// page read-only in anonymous memory, an anonymous page private at its
    /// linear index, a page-cache page of the VMA's file at its offset.
    /// Returns whether the page is anonymous, `None` for the zero page.
    fn check_present(&self, v: &Vma, va: u64, pte: Pte, pfn: Pfn) -> Result<Option<bool>, String> {
        if pfn == ZERO_PFN {
            ensure!(
                v.file.is_none() && !pte.writable(),
                "{va:#x}: zero page in a file VMA or writable"
            );
            return Ok(None);
        }
        ensure!(
            self.core.frames.is_used(pfn),
            "{va:#x}: PTE maps free frame {pfn:?}"
        );
        let f = self.core.frames.get(pfn);
        if f.has(pf::ANON) {
            let shared_swap = f.has(pf::SWAPCACHE) && self.core.swap.slot(f.private).count > 0;
            ensure!(
                !(pte.writable() && (f.mapcount > 1 || shared_swap)),
                "{va:#x}: shared anonymous page mapped writable"
            );
            ensure!(!v.is_shared(), "{va:#x}: anonymous page in a shared VMA");
            ensure!(
                f.index == v.pgoff_at(va),
                "{va:#x}: anon page index {:#x}, VMA says {:#x}",
                f.index,
                v.pgoff_at(va)
            );
            return Ok(Some(true));
        }
        ensure!(
            f.has(pf::FILE),
            "{va:#x}: maps frame {pfn:?} that is neither anon nor file"
        );
        ensure!(
            Some(FileId(f.mapping as u32)) == v.file,
            "{va:#x}: page of another file"
        );
        ensure!(
            v.has(vmf::NONLINEAR) || f.index == v.pgoff_at(va),
            "{va:#x}: file page {:#x} at linear offset {:#x}",
            f.index,
            v.pgoff_at(va)
        );
        ensure!(
            v.is_shared() || !pte.writable(),
            "{va:#x}: page-cache page writable in a private VMA"
        );
        Ok(Some(false))
    }

    /// Check one VMA's PTEs and gather the oracle's view.
    fn scan_vma_ptes(
        &self,
        mm: MmId,
        id: VmaId,
        v: &Vma,
        maps: &mut BTreeMap<Pfn, Vec<(MmId, u64)>>,
        swap_refs: &mut BTreeMap<u32, u32>,
    ) -> Result<(u64, u64, u64), String> {
        let m = self.core.mm(mm);
        let mut err = None;
        let (mut rss_anon, mut rss_file, mut swap) = (0u64, 0u64, 0u64);
        self.core
            .pt
            .for_each(m.root, v.start, v.end, &mut |_, va, pte| {
                if err.is_some() {
                    return;
                }
                let many = v.has(vmf::MANY_PROTS);
                if pte.saved_prot().is_some() && !many {
                    err = Some(format!(
                        "{va:#x}: saved protection outside a many-prots VMA"
                    ));
                }
                match pte.kind() {
                    PteKind::Present(pfn) => match self.check_present(v, va, pte, pfn) {
                        Err(e) => err = Some(e),
                        Ok(None) => {}
                        Ok(Some(anon)) => {
                            if anon {
                                rss_anon += 1;
                            } else {
                                rss_file += 1;
                            }
                            maps.entry(pfn).or_default().push((mm, va));
                        }
                    },
                    PteKind::Swap { slot } => {
                        swap += 1;
                        *swap_refs.entry(slot).or_default() += 1;
                        if v.is_shared() {
                            err = Some(format!("{va:#x}: swap entry in a shared VMA"));
                        }
                    }
                    PteKind::File { .. } if !v.has(vmf::NONLINEAR) => {
                        err = Some(format!("{va:#x}: nonlinear file PTE in a linear VMA"));
                    }
                    PteKind::Guard if !v.has(vmf::MAYBE_GUARD) => {
                        err = Some(format!("{va:#x}: guard marker in a VMA never guarded"));
                    }
                    PteKind::ProtOnly if !many => {
                        err = Some(format!(
                            "{va:#x}: protection marker outside a many-prots VMA"
                        ));
                    }
                    _ => {}
                }
            });
        if let Some(e) = err {
            return Err(format!("mm {mm:?} VMA {id:?}: {e}"));
        }
        Ok((rss_anon, rss_file, swap))
    }

    /// Compare every readable page of every process with the shadow model:
    /// the data-integrity check. Returns the first mismatch.
    pub fn check_integrity(&self) -> Result<(), String> {
        if !self.shadow.enabled() {
            return Ok(());
        }
        for (&pid, &mm) in &self.pids {
            for &id in self.core.mm(mm).vmas.values() {
                let v = self.core.vmas[id];
                let mut addr = v.start;
                while addr < v.end {
                    if let Some((want, got)) = self.expected_and_actual(mm, &v, addr)
                        && want != got
                    {
                        return Err(format!(
                            "process {pid} page {addr:#x}: reads {got:#x}, must read {want:#x}"
                        ));
                    }
                    addr += PAGE_SIZE;
                }
            }
        }
        Ok(())
    }

    /// What a read of `addr` must return and what it would return, or
    /// `None` if the page cannot be read (guard, past end of file).
    fn expected_and_actual(&self, mm: MmId, v: &Vma, addr: u64) -> Option<(u64, u64)> {
        let pte = self.core.pte(mm, addr);
        if pte.kind() == PteKind::Guard {
            return None;
        }
        let lin = v.file.map(|_| v.pgoff_at(addr));
        let pgoff = self.shadow.nonlinear(mm, addr).or(lin);
        if let (Some(f), Some(off)) = (v.file, pgoff)
            && off >= self.core.file(f).pages()
        {
            return None;
        }
        let want = match (self.shadow.private(mm, addr), v.file, pgoff) {
            (Some(t), _, _) => t,
            (None, None, _) => 0,
            (None, Some(f), Some(off)) => self.shadow.file(f, off).unwrap_or_else(|| {
                if self.core.file(f).shmem {
                    0
                } else {
                    initial_content(f, off)
                }
            }),
            (None, Some(_), None) => 0,
        };
        let file_now = |f: FileId, off: u64| {
            let file = self.core.file(f);
            file.cache
                .get(&off)
                .map_or_else(|| file.stored(off), |&p| self.core.frames.get(p).content)
        };
        let got = match pte.kind() {
            PteKind::Present(pfn) => self.core.frames.get(pfn).content,
            PteKind::Swap { slot } => self
                .core
                .swap
                .cached(slot)
                .map_or(self.core.swap.slot(slot).content, |p| {
                    self.core.frames.get(p).content
                }),
            PteKind::File { pgoff } => file_now(v.file?, pgoff),
            _ => match v.file {
                None => 0,
                Some(f) => file_now(f, v.pgoff_at(addr)),
            },
        };
        Some((want, got))
    }
}
