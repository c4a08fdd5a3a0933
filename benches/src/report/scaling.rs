//! The scaling scenarios in the report: the history checks about
//! contention (values of [`super::claims::CLAIMS`]) and the scalability
//! section (speedup by CPUs, where the CPU time went, the live kernel's
//! 1 → 2 process speedup beside the engine's at 2 CPUs).
//!
//! Every number comes from the rows of the virtual-CPU engine
//! (`rmap-vcpu`, size unit `CPUs`) and, for the kernel, from
//! `kernel-bench`'s rows of the same shapes.

use std::fmt::Write as _;

use rmap_metrics::{
    FAILED_TRYLOCKS, KERNEL_BACKEND, LOCK_WAIT_SHARE, LOCK_WAIT_SHARE_ANON_VMA,
    LOCK_WAIT_SHARE_BY_CLASS, LOCK_WAIT_SHARE_I_MMAP, PAGES_SKIPPED, SPEEDUP, WALK_WAIT_NS_MEAN,
};

use super::claims::Verdict;
use super::table::Table;
use crate::plots::human;

const AIM7: &str = "aim7";
const FAMILY: &str = "fork-family-reclaim";
const LIBC: &str = "libc-storm";

/// The largest size above 1 CPU a form ran at.
fn top(t: &Table, form: &str) -> Option<u64> {
    t.largest(form).filter(|&n| n > 1)
}

/// `backend value` pairs of `metric` at `size`, for the backends that ran.
fn vals(t: &Table, form: &str, size: u64, bks: &[&str], metric: &str) -> Vec<(String, f64)> {
    bks.iter()
        .filter_map(|b| t.get(form, size, b, metric).map(|v| (b.to_string(), v)))
        .collect()
}

fn list(v: &[(String, f64)]) -> String {
    v.iter()
        .map(|(b, x)| format!("{b} {}", human(*x)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn pct(x: f64) -> String {
    format!("{:.0}%", 100.0 * x)
}

/// AIM7: avc-2.6.34's speedup at the largest size at least 4 times that of
/// the family-wide anon_vma presets, which spend most of their CPU time
/// waiting for the anon_vma lock.
pub(super) fn aim7(t: &Table) -> Verdict {
    let Some(n) = top(t, AIM7) else {
        return Verdict::not_measured("aim7 did not run above 1 CPU");
    };
    let wide = ["anonvma:andrea-2.6.7", "anonvma:rmap40-2.6.7"];
    let avc = "anonvma:avc-2.6.34";
    let sp_wide = vals(t, AIM7, n, &wide, SPEEDUP.name);
    let Some(sp_avc) = t.get(AIM7, n, avc, SPEEDUP) else {
        return Verdict::not_measured("aim7 did not run on anonvma:avc-2.6.34");
    };
    if sp_wide.is_empty() {
        return Verdict::not_measured("aim7 did not run on andrea-2.6.7 or rmap40-2.6.7");
    }
    let waits = vals(t, AIM7, n, &wide, LOCK_WAIT_SHARE_ANON_VMA.name);
    let found = format!(
        "at {n} CPUs, speedup over 1 CPU: {avc} {}, {}; anon_vma wait share: {}",
        human(sp_avc),
        list(&sp_wide),
        waits
            .iter()
            .map(|(b, w)| format!("{b} {}", pct(*w)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let collapses = sp_wide.iter().all(|(_, s)| sp_avc >= 4.0 * s);
    let stuck = waits.iter().all(|(_, w)| *w > 0.5);
    let note = if collapses && stuck {
        String::new()
    } else if !collapses {
        format!(
            "avc-2.6.34 scales less than 4 times better than the family-wide list at {n} CPUs: at this size the family ({} processes) is too small for a walk of it to hold the lock long",
            30 * n.min(1000)
        )
    } else {
        "the family-wide presets scale badly but do not spend most of their CPU time waiting for the anon_vma lock".into()
    };
    Verdict::new(Some(collapses && stuck), found, note)
}

/// The root lock and the mutex against the rwsem with shared walks, on
/// fork-family-reclaim: both wait longer for the anon_vma lock than the
/// rwsem presets at the largest size.
pub(super) fn root_lock(t: &Table) -> Verdict {
    let Some(n) = top(t, FAMILY) else {
        return Verdict::not_measured("fork-family-reclaim did not run above 1 CPU");
    };
    let old = ["anonvma:root-2.6.36", "anonvma:mutex-3.0"];
    let new = ["anonvma:rwsem-3.8", "anonvma:linux"];
    let m = LOCK_WAIT_SHARE_ANON_VMA.name;
    let (o, w) = (vals(t, FAMILY, n, &old, m), vals(t, FAMILY, n, &new, m));
    if o.is_empty() || w.is_empty() {
        return Verdict::not_measured(
            "fork-family-reclaim did not run on root-2.6.36 or mutex-3.0 and on rwsem-3.8 or linux",
        );
    }
    let sp = vals(t, FAMILY, n, &[old, new].concat(), SPEEDUP.name);
    let found = format!(
        "at {n} CPUs, anon_vma wait share: {}; {}; speedup: {}",
        o.iter()
            .map(|(b, x)| format!("{b} {}", pct(*x)))
            .collect::<Vec<_>>()
            .join(", "),
        w.iter()
            .map(|(b, x)| format!("{b} {}", pct(*x)))
            .collect::<Vec<_>>()
            .join(", "),
        list(&sp)
    );
    let worst_new = w.iter().map(|x| x.1).fold(0.0, f64::max);
    let holds = o.iter().all(|(_, x)| *x > worst_new);
    let note = if holds {
        String::new()
    } else {
        "the rwsem presets wait as long as the root lock or the mutex: their walks share the lock, but every fork, exit and VMA split in the family still takes it for writing, and writers exclude each other as before".into()
    };
    Verdict::new(Some(holds), found, note)
}

/// The i_mmap spinlock against the rwsem with shared walks, on libc-storm.
pub(super) fn i_mmap(t: &Table) -> Verdict {
    let Some(n) = top(t, LIBC) else {
        return Verdict::not_measured("libc-storm did not run above 1 CPU");
    };
    let spin = [
        "anonvma:avc-2.6.34",
        "anonvma:root-2.6.36",
        "anonvma:andrea-2.6.7",
    ];
    let rwsem = ["anonvma:reuse-3.19", "anonvma:linux"];
    let m = LOCK_WAIT_SHARE_I_MMAP.name;
    let (s, r) = (vals(t, LIBC, n, &spin, m), vals(t, LIBC, n, &rwsem, m));
    if s.is_empty() || r.is_empty() {
        return Verdict::not_measured(
            "libc-storm did not run on an i_mmap spinlock preset and an i_mmap rwsem preset",
        );
    }
    let found = format!(
        "at {n} CPUs, i_mmap wait share: spinlock {}; rwsem {}",
        s.iter()
            .map(|(b, x)| format!("{b} {}", pct(*x)))
            .collect::<Vec<_>>()
            .join(", "),
        r.iter()
            .map(|(b, x)| format!("{b} {}", pct(*x)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let worst = r.iter().map(|x| x.1).fold(0.0, f64::max);
    let holds = s.iter().all(|(_, x)| *x > worst);
    // A spinlock preset below the rwsem whose walks skipped pages: 2.6.7's
    // walks spin_trylock i_mmap (and the page-table locks) and give up
    // instead of holding the lock while writers queue.
    let skipped = |b: &str| t.get(LIBC, n, b, PAGES_SKIPPED).unwrap_or(0.0);
    let (trying, waiting): (Vec<_>, Vec<_>) = s.iter().partition(|(b, _)| skipped(b) > 0.0);
    let below: Vec<&(String, f64)> = s.iter().filter(|(_, x)| *x <= worst).collect();
    let note = if holds {
        String::new()
    } else if below.iter().all(|(b, _)| skipped(b) > 0.0) {
        let tried = trying
            .iter()
            .map(|(b, _)| format!("{b} skipped {}", human(skipped(b))))
            .collect::<Vec<_>>()
            .join(", ");
        let rest = if waiting.is_empty() {
            String::new()
        } else if waiting.iter().all(|(_, x)| *x > worst) {
            "; the spinlock presets whose walks wait for the lock do wait longer than the rwsem ones".into()
        } else {
            "; and the spinlock presets whose walks wait for the lock do not wait longer than the rwsem ones either".into()
        };
        format!(
            "the spinlock presets below the rwsem ones trylock i_mmap in their walks (2.6.7 and 2.6.8) and give up on a held lock instead of holding it while mmap and exit queue: they pay in pages skipped ({tried}){rest}"
        )
    } else {
        "an i_mmap rwsem is still taken for writing by every mmap and exit of a library, and those writers exclude each other and the walks: shared walks help only as far as walks are the contention".into()
    };
    Verdict::new(Some(holds), found, note)
}

/// 2.6.0's `down_trylock` of `i_shared_sem` in objrmap's walk: reclaim
/// never waits for the lock, and skips the pages whose lock was taken.
pub(super) fn trylock(t: &Table) -> Verdict {
    let b = "objrmap:mccracken";
    if top(t, LIBC).is_none() {
        return Verdict::not_measured("libc-storm did not run above 1 CPU");
    }
    // the largest size at which a reclaim walk ran: one took its lock, or
    // a trylock failed (and skipped its page)
    let walked = |n: u64| {
        let some = |m: &str| t.get(LIBC, n, b, m).is_some_and(|v| v > 0.0);
        t.get(LIBC, n, b, WALK_WAIT_NS_MEAN).is_some()
            || some(PAGES_SKIPPED.name)
            || some(FAILED_TRYLOCKS.name)
    };
    let ran: Vec<u64> = t
        .sizes(LIBC)
        .into_iter()
        .filter(|&n| n > 1 && t.get(LIBC, n, b, PAGES_SKIPPED).is_some())
        .collect();
    if ran.is_empty() {
        return Verdict::not_measured("libc-storm did not run on objrmap:mccracken");
    }
    let Some(n) = ran.iter().rev().copied().find(|&n| walked(n)) else {
        return Verdict::not_measured(
            "no reclaim walk ran on objrmap:mccracken in libc-storm above 1 CPU",
        );
    };
    let above: Vec<String> = ran.iter().filter(|&&z| z > n).map(u64::to_string).collect();
    let skipped = t.get(LIBC, n, b, PAGES_SKIPPED).unwrap_or(0.0);
    // no mean wait when no walk got its lock: every trylock failed, and
    // none waited
    let took = t.get(LIBC, n, b, WALK_WAIT_NS_MEAN);
    let wait = took.unwrap_or(0.0);
    let others = vals(
        t,
        LIBC,
        n,
        &["objrmap:prio", "anonvma:avc-2.6.34", "anonvma:linux"],
        WALK_WAIT_NS_MEAN.name,
    );
    let found = format!(
        "at {n} CPUs on {b}: {} pages skipped, a walk waits {} ns for its lock on average (others: {})",
        human(skipped),
        human(wait),
        list(&others)
    );
    let holds = skipped > 0.0 && others.iter().all(|(_, w)| wait <= *w);
    let mut note = if took.is_none() {
        "no walk got its lock at this size: every i_shared_sem trylock failed, so the walk never waited and reclaim skipped every file page it met".to_string()
    } else if skipped == 0.0 {
        "no trylock failed: at this size no walk met a held i_shared_sem".to_string()
    } else if !holds {
        "the walk's i_shared_sem trylock never waits, but its anonymous pages' PTE-chain lock (a bit spinlock) does".to_string()
    } else {
        String::new()
    };
    if !above.is_empty() {
        let why = format!(
            "no reclaim walk ran on {b} at {} CPUs (no lock taken, no trylock failed, no page skipped), so the check is at {n}",
            above.join(" and ")
        );
        note = if note.is_empty() {
            why
        } else {
            format!("{why}; {note}")
        };
    }
    Verdict::new(Some(holds), found, note)
}

/// The scalability section: per scaling form, each preset's speedup at
/// every CPU count and the lock it waits for most at the largest; then the
/// live kernel beside the engine at 2.
pub(super) fn section(s: &mut String, t: &Table) {
    let forms: Vec<String> = t
        .scenarios()
        .into_iter()
        .filter(|f| t.size_unit(f) == "CPUs")
        .collect();
    if forms.is_empty() {
        return;
    }
    let _ = writeln!(s, "## Scalability (virtual CPUs)\n");
    let _ = writeln!(
        s,
        "The scaling scenarios run on the virtual-CPU engine (`rmap-vcpu`, docs/benchmarks.md): each op runs whole in the model when it starts, and its recorded lock acquisitions and work then drive its timing against every other CPU's, with each era's lock kinds. Speedup is the throughput (worker ops per virtual second) over the same preset's on 1 CPU; the numbers are exact and the same on every machine.\n"
    );
    let bks: Vec<String> = t
        .backends()
        .into_iter()
        .filter(|b| b != KERNEL_BACKEND)
        .collect();
    for f in &forms {
        let sizes: Vec<u64> = t.sizes(f).into_iter().filter(|&n| n > 0).collect();
        let Some(n) = t.largest(f) else { continue };
        let _ = writeln!(s, "### {f}: speedup by CPUs\n");
        let _ = write!(s, "| backend |");
        for z in &sizes {
            let _ = write!(s, " {z} |");
        }
        let _ = writeln!(s, " waiting at {n} | most waited-for lock at {n} |");
        let _ = writeln!(s, "|---|{}---:|---|", "---:|".repeat(sizes.len()));
        for b in &bks {
            if t.get(f, n, b, SPEEDUP).is_none() {
                continue;
            }
            let _ = write!(s, "| {b} |");
            for &z in &sizes {
                let _ = write!(
                    s,
                    " {} |",
                    t.get(f, z, b, SPEEDUP).map_or("–".into(), human)
                );
            }
            let top_class = LOCK_WAIT_SHARE_BY_CLASS
                .iter()
                .filter_map(|m| t.get(f, n, b, m).map(|v| (m, v)))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .filter(|(_, v)| *v > 0.0)
                .map_or("–".into(), |(m, v)| {
                    format!(
                        "{} {}",
                        m.name.trim_start_matches("lock_wait_share_"),
                        pct(v)
                    )
                });
            let _ = writeln!(
                s,
                " {} | {top_class} |",
                t.get(f, n, b, LOCK_WAIT_SHARE).map_or("–".into(), pct)
            );
        }
        let _ = writeln!(s);
    }
    kernel_beside(s, t, &forms, &bks);
}

/// The kernel's 1 → 2 process speedup beside the engine's at 2 CPUs.
fn kernel_beside(s: &mut String, t: &Table, forms: &[String], bks: &[String]) {
    let with_kernel: Vec<&String> = forms
        .iter()
        .filter(|f| t.get(f, 2, KERNEL_BACKEND, SPEEDUP).is_some())
        .collect();
    let _ = writeln!(s, "### The live kernel beside the engine, 1 → 2 CPUs\n");
    if with_kernel.is_empty() {
        let _ = writeln!(
            s,
            "No live-kernel scaling rows in this run (`rmap-bench kernel-bench --scaling page-fault/page_fault1,aim7 --out DIR` adds them).\n"
        );
        return;
    }
    let shown: Vec<&String> = bks
        .iter()
        .filter(|b| {
            [
                "anonvma:linux",
                "anonvma:avc-2.6.34",
                "anonvma:andrea-2.6.7",
            ]
            .contains(&b.as_str())
        })
        .collect();
    let _ = write!(s, "| shape | kernel (real processes) |");
    for b in &shown {
        let _ = write!(s, " {b} (engine) |");
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "|---|---:|{}", "---:|".repeat(shown.len()));
    for f in with_kernel {
        let _ = write!(
            s,
            "| {f} | {} |",
            t.get(f, 2, KERNEL_BACKEND, SPEEDUP)
                .map_or("–".into(), human)
        );
        for b in &shown {
            let _ = write!(
                s,
                " {} |",
                t.get(f, 2, b, SPEEDUP).map_or("–".into(), human)
            );
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(
        s,
        "\nThe kernel's figure is real: 1 and 2 processes of the same shape on this machine's CPUs (the live kernel is 6.18, the era of `anonvma:linux`); the live aim7 shape has no memory pressure (this machine has no swap), so it measures fork, fault and exit scaling without reclaim.\n"
    );
}
