//! The known history of rmap, held as data: each [`Claim`] is a statement
//! the history makes, where it comes from, and a check that reads a run's
//! [`Table`] and says whether the run reproduces it ([`Verdict`]).
//!
//! Adding a claim is adding a value to [`CLAIMS`] (and, usually, its check
//! function below). The report lists the claims in [`CLAIMS`] order with
//! their verdicts and notes; `rmap-bench run` prints the verdicts.

use std::fmt::Write as _;

use rmap_metrics::{
    ANON_VMA_PEAK, FORK_NS_PER_PAGE, FORK_WORK_PER_PAGE, VMAS_END, VMAS_PEAK,
    WALK_VMAS_VISITED_PER_WALK,
};

use super::table::{Table, ratio_text};
use crate::plots::human;

/// One claim of the history.
pub struct Claim {
    /// What the history says, as the report states it.
    pub statement: &'static str,
    /// Where the claim comes from: the Linux history it summarises.
    pub source: &'static str,
    /// Whether a run reproduces it, from the run's rows.
    pub check: fn(&Table) -> Verdict,
}

/// Whether a run reproduced a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Reproduced,
    NotReproduced,
    /// The run lacks the scenarios or backends the claim needs.
    NotMeasured,
}

/// A claim checked against a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub outcome: Outcome,
    /// What the run measured, or why it measured nothing.
    pub found: String,
    /// Why a number differs from the history, or a caveat (may be empty).
    pub note: String,
}

impl Verdict {
    /// A verdict from `holds` (`None`: not measured).
    pub(super) fn new(holds: Option<bool>, found: String, note: String) -> Verdict {
        let outcome = match holds {
            Some(true) => Outcome::Reproduced,
            Some(false) => Outcome::NotReproduced,
            None => Outcome::NotMeasured,
        };
        Verdict {
            outcome,
            found,
            note,
        }
    }

    /// Nothing to check: `why` says what did not run.
    pub(super) fn not_measured(why: impl Into<String>) -> Verdict {
        Verdict::new(None, why.into(), String::new())
    }
}

/// Every claim, in the order the report lists them.
pub const CLAIMS: &[Claim] = &[
    Claim {
        statement: "fork costs more per page with pte-chain than with anonvma and objrmap",
        source: "Linux 2.5's rmap kept a PTE chain per page (\"minimal rmap\", Rik van Riel, ported by Craig Kulesa, 2.5.27); fork and exit paid for it per page. Mainline 2.6.0 still had PTE chains for every page; Hugh Dickins' rmap series removed them in 2.6.7: rmap 7, the mainline form of Dave McCracken's object-based rmap for file pages (2.5.62-mm), and rmap 39-40, Andrea Arcangeli's anon_vma as Hugh Dickins merged it (Hugh Dickins' anonmm, rmap 10-37, lived in -mm only)",
        check: fork_cost,
    },
    Claim {
        statement: "db-window walks are orders of magnitude longer with the mccracken list than with an interval tree",
        source: "object-based rmap (Dave McCracken, 2.5.62-mm, 2003) walked a file's whole i_mmap list; Andrew Morton's rmap-test of many VMAs (100 tasks × 100 VMAs) took 1143.26 s of system time with objrmap against 86.91 s on 2.5.66-mm4 (LKML, April 2003), and Linux 2.6.7 replaced the list by a priority search tree (Rajesh Venkatasubramanian's prio_tree, merged in Hugh Dickins' rmap 16-17), an interval tree since 3.7",
        check: db_window,
    },
    Claim {
        statement: "fork-chain anon_vmas grow without bound only with anon_vma_chain before 3.19 (avc-2.6.34 to rwsem-3.8)",
        source: "anon_vma_chain (Rik van Riel, 5beb49305251, Linux 2.6.34) linked every child to every ancestor's anon_vma, so a long chain of forks kept one per generation alive; Konstantin Khlebnikov's 7a3ef208e662 \"mm: prevent endless growth of anon_vma hierarchy\" (Linux 3.19) reuses an anon_vma no VMA and at most one child uses, which bounds anon_vmas to at most twice the VMAs",
        check: fork_chain,
    },
    Claim {
        statement: "heap-churn leaves orders of magnitude fewer entries with merge=both than with merge=prev",
        source: "GNU Mach before 2023: vm_map_enter extends only the entry below, only for a request without an object, and only if vm_object_coalesce accepts (one reference, no shadow, no copy, no pager); vm_map_protect never re-coalesces (GNU Mach vm/vm_map.c, vm/vm_object.c at 505ecd7b). Linux's vma_merge, and GNU Mach's 2023 series (Sergey Bugaev: forward merging, vm_map_coalesce_entry after vm_protect), merge with both neighbours and again after a protection change",
        check: heap_churn,
    },
    Claim {
        statement: "mach-ext2fs leaves far fewer map entries with merge=both than with merge=prev",
        source: "Hurd wiki, open_issues/gnumach_vm_map_entry_forward_merging (Sergey Bugaev's text, 2023-10-11): the root ext2fs after a recursive grep over /usr had about 5,000 to 20,000 entries, 93 with GNU Mach's 2023 merging series; glibc's Hurd brk (sysdeps/mach/hurd/brk.c) grows the heap by vm_protect and shrinks it by deallocate and remap",
        check: mach_ext2fs,
    },
    Claim {
        statement: "uml needs less kernel memory with many_prots (a what-if: never merged)",
        source: "User-Mode Linux maps each guest page on its own with the guest's protection: one VMA per page without per-page protections. The remap_file_pages protection patches (Ingo Molnar's in -mm, 2004; Paolo Giarrusso's series 2005-2007, e.g. \"[patch 00/14] remap_file_pages protection support\", 2006-04-30) kept protections in the PTEs of one shared VMA, changed only by remap_file_pages with MAP_CHGPROT; never merged",
        check: uml,
    },
    Claim {
        statement: "glibc-libs needs far fewer VMAs with many_prots (a what-if: mprotect inside a private many_prots mapping)",
        source: "Ulrich Drepper, linux-kernel 2006-05-06 <445CC949.7050900@redhat.com>: a DSO takes up to 5 VMAs; 3 if mprotect did not split, 2 (-60%) if remap_file_pages could change protections in the data mapping. The protection patches never supported private mappings nor mprotect on VM_MANYPROTS areas (-EACCES, 2007 series), so this form is Drepper's wish, not the patch",
        check: glibc_libs,
    },
    Claim {
        statement: "exit touches fewer chain cache lines with pte_chain blocks than with one node per PTE",
        source: "Andrew Morton, \"[PATCH] rmap pte_chain speedup and space saving\" (2002-09-09, Linux 2.5.35): pte_chain blocks of a cache line instead of one node per PTE \"sped up Anton's 10,000 concurrently exiting shells test by 3x or 4x\"",
        check: super::magnitudes::exit_blocks,
    },
    Claim {
        statement: "the 4.0 emulation of remap_file_pages costs more than nonlinear VMAs",
        source: "Kirill A. Shutemov, c8d78c1823f4 \"mm: replace remap_file_pages() syscall with emulation\" (Linux 4.0; linux-mm 2014-05-08): his worst case, every page of a 4 GiB shmem file remapped in reverse order ten times, went from 23.3 s to 43.9 s (1.88x)",
        check: super::magnitudes::emulation,
    },
    Claim {
        statement: "AIM7 collapses with the family-wide anon_vma lock (andrea-2.6.7, rmap40-2.6.7), which takes most of the CPU time, and scales with avc-2.6.34",
        source: "Rik van Riel's anon_vma_chain rework, Linux 2.6.34 (commit 5beb49305251, 'mm: change anon_vma linking to fix multi-process server scalability issue'): on AIM7, one CPU walked the page tables of 1000 processes in page_referenced_one while all other CPUs were stuck on the anon_vma lock",
        check: super::scaling::aim7,
    },
    Claim {
        statement: "under fork-family-reclaim, the root anon_vma spinlock (root-2.6.36) and mutex (mutex-3.0) are waited for longer than the rwsem whose walks share it (rwsem-3.8, linux)",
        source: "Rik van Riel's 'always lock the root (oldest) anon_vma' (2.6.36) put a family's anon_vma operations under one lock; Peter Zijlstra made it a mutex (3.0, 'mm: Convert anon_vma->lock to a mutex'); Ingo Molnar made it an rwsem taken for reading by rmap walks (3.8, 5a505085f043 and 4fc3f1d66b1e), because migration storms serialised on the exclusive lock",
        check: super::scaling::root_lock,
    },
    Claim {
        statement: "under libc-storm, the i_mmap spinlock is waited for longer than the i_mmap rwsem whose walks share it",
        source: "Davidlohr Bueso's 'mm: convert i_mmap_mutex to rwsem' and 'mm/rmap: share the i_mmap_rwsem' (3.19); his first posting reported AIM7 gains beyond 500 users (alltests +14.5%, shared +15%) on an 80-core machine",
        check: super::scaling::i_mmap,
    },
    Claim {
        statement: "2.6.0's trylock (objrmap:mccracken) buys reclaim that never waits for i_mmap and costs pages skipped",
        source: "Dave McCracken's objrmap (linux-mm, 2003-02-20): page_referenced_obj and try_to_unmap_obj down_trylock the mapping's i_shared_sem and give up on the page when it is held",
        check: super::scaling::trylock,
    },
];

/// Every claim with its verdict on `t`, in [`CLAIMS`] order.
pub fn check_all(t: &Table) -> Vec<(&'static Claim, Verdict)> {
    CLAIMS.iter().map(|c| (c, (c.check)(t))).collect()
}

/// `(backend, value)` pairs, as the report lists them: `b 1.2k, c 3`.
fn list(v: &[(String, f64)]) -> String {
    v.iter()
        .map(|(b, x)| format!("{b} {}", human(*x)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Fork cost per page at fork-storm's largest size: every pte-chain preset
/// above every anonvma preset (and above objrmap:anonmm when it ran).
fn fork_cost(t: &Table) -> Verdict {
    let f = "fork-storm";
    let Some(size) = t.largest(f) else {
        return Verdict::not_measured("fork-storm did not run");
    };
    // Exact work units where the run has them (the same verdict on every
    // run); fork time per page in results from before them.
    let exact = t
        .rows
        .iter()
        .any(|r| r.scenario == f && r.metric == FORK_WORK_PER_PAGE.name);
    let m = if exact {
        FORK_WORK_PER_PAGE
    } else {
        FORK_NS_PER_PAGE
    };
    let bks = t.backends();
    let vals = |fam_name: &str| -> Vec<(String, f64)> {
        Table::family(&bks, fam_name)
            .into_iter()
            .filter_map(|b| t.get(f, size, b, m).map(|v| (b.clone(), v)))
            .collect()
    };
    let pc = vals("pte-chain");
    let av = vals("anonvma");
    let ob = vals("objrmap");
    let lo = |v: &[(String, f64)]| v.iter().map(|x| x.1).fold(f64::INFINITY, f64::min);
    let hi = |v: &[(String, f64)]| v.iter().map(|x| x.1).fold(0f64, f64::max);
    let found = format!(
        "at {size} MiB, {}: {}; {}; {}",
        m.unit,
        list(&pc),
        list(&av),
        list(&ob)
    );
    let chained: Vec<&(String, f64)> = ob.iter().filter(|(_, v)| *v >= lo(&pc) * 0.8).collect();
    let anonmm = ob.iter().find(|(b, _)| b.ends_with(":anonmm"));
    let holds = (!pc.is_empty() && !av.is_empty())
        .then(|| lo(&pc) > hi(&av) && anonmm.is_none_or(|a| lo(&pc) > a.1));
    let mut note = String::new();
    if let Some(a) = anonmm {
        let _ = write!(
            note,
            "cheapest pte-chain preset / dearest anonvma preset = ×{}; pte-chain / objrmap:anonmm = ×{}. ",
            ratio_text(lo(&pc) / hi(&av).max(1e-9)),
            ratio_text(lo(&pc) / a.1.max(1e-9))
        );
    }
    if !chained.is_empty() {
        let _ = write!(
            note,
            "{} pay(s) like pte-chain: those objrmap presets keep anonymous pages on PTE chains (object-based rmap covered file pages first; anonymous pages left the chains only with anonmm and anon_vma in 2.6.7), so the history's claim holds for objrmap:anonmm, not for them.",
            chained
                .iter()
                .map(|(b, _)| b.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Verdict::new(holds, found, note)
}

/// VMAs visited per walk at db-window's largest size: the mccracken list
/// at least ×100 the prio tree.
fn db_window(t: &Table) -> Verdict {
    let f = "db-window";
    let m = WALK_VMAS_VISITED_PER_WALK;
    let size = t.largest(f);
    let mc = size.and_then(|s| t.get(f, s, "objrmap:mccracken", m));
    let pr = size.and_then(|s| t.get(f, s, "objrmap:prio", m));
    let av = size.and_then(|s| t.get(f, s, "anonvma:linux", m));
    let (Some(size), Some(mc), Some(pr)) = (size, mc, pr) else {
        return Verdict::not_measured(
            "db-window did not run on objrmap:mccracken and objrmap:prio",
        );
    };
    let r = mc / pr.max(1e-9);
    let found = format!(
        "at {size} windows, VMAs visited per walk: objrmap:mccracken {}, objrmap:prio {}{}: ×{} (published: Morton's rmap-test, 100 tasks × 100 VMAs, 1143.26 s against 86.91 s of system time, ×13, with the list)",
        human(mc),
        human(pr),
        av.map_or(String::new(), |a| format!(", anonvma:linux {}", human(a))),
        ratio_text(r)
    );
    let note = if r >= 100.0 {
        String::new()
    } else {
        format!(
            "at {size} windows the list is ×{} longer, below the ×100 of the claim: the list's walk grows with the number of windows, so a larger size widens it",
            ratio_text(r)
        )
    };
    Verdict::new(Some(r >= 100.0), found, note)
}

/// Peak anon_vmas at fork-chain's largest size: only avc-2.6.34 grows (at
/// least one per two generations). Measured only when avc-2.6.34 ran
/// beside another anonvma preset.
fn fork_chain(t: &Table) -> Verdict {
    const AVC: &str = "anonvma:avc-2.6.34";
    // The presets of the eras between anon_vma_chain (2.6.34) and the reuse
    // of an exited ancestor's anon_vma (3.19): each grows like avc-2.6.34.
    const UNBOUNDED: &[&str] = &[
        AVC,
        "anonvma:root-2.6.36",
        "anonvma:mutex-3.0",
        "anonvma:rwsem-3.8",
    ];
    let f = "fork-chain";
    let m = ANON_VMA_PEAK;
    let Some(size) = t.largest(f) else {
        return Verdict::not_measured("fork-chain did not run");
    };
    let bks = t.backends();
    let av: Vec<(String, f64)> = Table::family(&bks, "anonvma")
        .into_iter()
        .filter_map(|b| t.get(f, size, b, m).map(|v| (b.clone(), v)))
        .collect();
    let grows = |v: f64| v >= size as f64 * 0.5;
    let growing: Vec<&str> = av
        .iter()
        .filter(|(_, v)| grows(*v))
        .map(|(b, _)| b.as_str())
        .collect();
    // Not measured unless avc-2.6.34, the preset the claim is about, ran
    // beside at least one other.
    let has_avc = av.iter().any(|(b, _)| b == AVC);
    let expected: Vec<&str> = UNBOUNDED
        .iter()
        .copied()
        .filter(|b| av.iter().any(|(x, _)| x == b))
        .collect();
    let holds = (has_avc && av.len() > 1).then(|| growing == expected);
    let sizes = t.sizes(f);
    let mut note = String::new();
    if sizes.len() > 1 {
        let series: Vec<String> = sizes
            .iter()
            .filter_map(|&s| t.get(f, s, AVC, m).map(|v| format!("{s} → {}", human(v))))
            .collect();
        let _ = write!(note, "avc-2.6.34 by generations: {}. ", series.join(", "));
    }
    let stable: Vec<String> = av
        .iter()
        .filter(|(_, v)| !grows(*v))
        .map(|(b, v)| format!("{b} {}", human(*v)))
        .collect();
    let odd: Vec<&str> = growing
        .iter()
        .chain(&expected)
        .filter(|b| growing.contains(b) != expected.contains(b))
        .copied()
        .collect();
    if !odd.is_empty() {
        let _ = write!(
            note,
            "the history says only the anon_vma_chain presets before 3.19's reuse grow ({}); here {} differ(s), which the model would have to explain.",
            UNBOUNDED.join(", "),
            odd.join(", ")
        );
    }
    // Khlebnikov's bound for the presets that reuse (3.19 on): anon_vmas
    // at most twice the VMAs
    let reusing: Vec<(String, f64, f64)> = av
        .iter()
        .filter(|(b, _)| b.ends_with(":reuse-3.19") || b.ends_with(":linux"))
        .filter_map(|(b, v)| t.get(f, size, b, VMAS_PEAK).map(|n| (b.clone(), *v, n)))
        .collect();
    let bound_holds = reusing.iter().all(|(_, a, n)| *a <= 2.0 * n);
    if !reusing.is_empty() {
        let _ = write!(
            note,
            "Khlebnikov's bound (anon_vmas ≤ 2 × VMAs, 7a3ef208e662): {}. ",
            reusing
                .iter()
                .map(|(b, a, n)| format!(
                    "{b} {} anon_vmas for {} VMAs ({})",
                    human(*a),
                    human(*n),
                    if *a <= 2.0 * n { "holds" } else { "broken" }
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let holds = holds.map(|h| h && bound_holds);
    let found = format!(
        "after {size} generations, peak anon_vmas: {}{}",
        growing
            .iter()
            .map(|b| format!("{b} {}", human(t.get(f, size, b, m).unwrap_or(0.0))))
            .collect::<Vec<_>>()
            .join(", "),
        if stable.is_empty() {
            String::new()
        } else {
            format!("; bounded: {}", stable.join(", "))
        }
    );
    Verdict::new(holds, found, note)
}

/// VMAs left at the end of heap-churn on anonvma:linux: merge=prev (GNU
/// Mach before its 2023 series) at least ×100 merge=both (Linux, and Mach
/// after the series).
fn heap_churn(t: &Table) -> Verdict {
    let m = VMAS_END;
    let (fn_, fp, fb) = (
        "heap-churn/merge=none",
        "heap-churn/merge=prev",
        "heap-churn/merge=both",
    );
    let b = "anonvma:linux";
    let pick = |f: &str| t.largest(f).and_then(|s| t.get(f, s, b, m).map(|v| (s, v)));
    let (Some((s, prev)), Some((_, both))) = (pick(fp), pick(fb)) else {
        return Verdict::not_measured(
            "heap-churn merge=prev and merge=both did not both run on anonvma:linux",
        );
    };
    let r = prev / both.max(1.0);
    let none = pick(fn_).map_or(String::new(), |(_, v)| format!("none {}, ", human(v)));
    let found = format!(
        "at {s} allocations on {b}, VMAs at the end: {none}prev {}, both {}: prev/both ×{}",
        human(prev),
        human(both),
        ratio_text(r)
    );
    let note = if r >= 100.0 {
        String::new()
    } else {
        "the ratio is below 100 at this size: entries under merge=prev grow with allocations, so a larger size widens it".into()
    };
    Verdict::new(Some(r >= 100.0), found, note)
}

/// Map entries left by mach-ext2fs on anonvma:linux under merge=prev and
/// merge=both, beside the Hurd's published 5,000-20,000 → 93: prev at
/// least ×10 both (the published drop is ×50 to ×200).
fn mach_ext2fs(t: &Table) -> Verdict {
    use rmap_traces::scenario::mach::{HURD_EXT2FS_ENTRIES_AFTER, HURD_EXT2FS_ENTRIES_BEFORE};
    let m = VMAS_END;
    let b = "anonvma:linux";
    let pick = |f: &str| t.largest(f).and_then(|s| t.get(f, s, b, m).map(|v| (s, v)));
    let (Some((s, prev)), Some((_, both))) = (
        pick("mach-ext2fs/merge=prev"),
        pick("mach-ext2fs/merge=both"),
    ) else {
        return Verdict::not_measured(
            "mach-ext2fs merge=prev and merge=both did not both run on anonvma:linux",
        );
    };
    let r = prev / both.max(1.0);
    let (lo, hi) = HURD_EXT2FS_ENTRIES_BEFORE;
    let found = format!(
        "at {s} files read on {b}, entries at the end: prev {}, both {}: ×{} (published: {}-{} → {HURD_EXT2FS_ENTRIES_AFTER}, ×{}-×{})",
        human(prev),
        human(both),
        ratio_text(r),
        human(lo as f64),
        human(hi as f64),
        ratio_text(lo as f64 / HURD_EXT2FS_ENTRIES_AFTER as f64),
        ratio_text(hi as f64 / HURD_EXT2FS_ENTRIES_AFTER as f64),
    );
    let note = format!(
        "the model's count is of its own recipe (heap growth by vm_protect, trims by deallocate and remap, transient I/O buffers; docs/merging.md), not of a real ext2fs: the published counts also hold entries the recipe leaves out (libraries, threads' stacks, the pager's own mappings), so compare the ratio, not the counts{}",
        if prev < lo as f64 {
            format!(
                "; at {s} files the recipe leaves fewer entries under prev than the published low end: entries grow with files read"
            )
        } else {
            String::new()
        }
    );
    Verdict::new(Some(r >= 10.0), found, note)
}

/// uml on anonvma:reuse-3.19 (the last era whose remap_file_pages takes
/// a protection): kernel bytes and time with and without many_prots; the
/// VMA counts are the scenario's construction, printed, not judged.
fn uml(t: &Table) -> Verdict {
    super::magnitudes::many_prots_cost(
        t,
        "uml",
        "pages",
        "anonvma:reuse-3.19",
        "a what-if: per-page protections were never merged; the many_prots form reprotects by remap_file_pages with a protection (MAP_CHGPROT) inside one shared VMA, as the 2006 patch did, and its reclaim form keeps the protections in nonlinear file PTEs",
    )
}

/// Peak VMAs of glibc-libs on anonvma:linux: many_prots=off at least ×2
/// on. A what-if (Drepper's wish; `docs/merging.md` has no part in it).
fn glibc_libs(t: &Table) -> Verdict {
    let mut v = many_prots(
        t,
        "glibc-libs",
        "libraries",
        2.0,
        "anonvma:linux",
        "a what-if, not the 2006 patch: mprotect inside a private many_prots mapping, which the patch refused (EACCES) and never offered for private mappings; each library's bss is anonymous memory and stays a VMA of its own, so the best it can do is 2 VMAs per library instead of 5",
    );
    if v.outcome != Outcome::NotMeasured {
        v.found
            .push_str(" (published: 5 → 2 per DSO, -60%, Drepper's estimate)");
    }
    v
}

/// Peak VMAs of `base`'s two many_prots forms on backend `b`: off at
/// least `threshold` times on; `why` is the note.
fn many_prots(t: &Table, base: &str, unit: &str, threshold: f64, b: &str, why: &str) -> Verdict {
    let off = format!("{base}/many_prots=off");
    let on = format!("{base}/many_prots=on");
    let m = VMAS_PEAK;
    let pick = |f: &str| t.largest(f).and_then(|s| t.get(f, s, b, m).map(|v| (s, v)));
    let (Some((s, a)), Some((_, c))) = (pick(&off), pick(&on)) else {
        return Verdict::not_measured(format!("{base} did not run in both forms on {b}"));
    };
    let r = a / c.max(1.0);
    let found = format!(
        "at {s} {unit} on {b}, peak VMAs: off {}, on {}: ×{}",
        human(a),
        human(c),
        ratio_text(r)
    );
    Verdict::new(Some(r >= threshold), found, why.to_string())
}
