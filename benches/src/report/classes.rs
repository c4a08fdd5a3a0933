//! "Which rmap strategy": classes of workload, each decided by a few
//! (scenario form, metric) pairs; per class the backends ranked by the
//! geometric mean of their ratio to the best, with the winner's trade-off;
//! and an overall ranking over the classes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use rmap_metrics::{
    EXIT_NS_PER_PAGE, FAULT_NS_P50, FAULT_NS_P99, FORK_NS_PER_PAGE, KERNEL_BYTES_PEAK, Metric,
    RECLAIM_PAGES_PER_S, TIME_NS, VMAS_END, WALK_PTES_CHECKED_PER_WALK, WALK_STEPS_PER_WALK,
    WALK_VMAS_VISITED_PER_WALK,
};

use super::table::{Table, best_of, ratio, ratio_text};
use crate::plots::human;

/// A class of workload the closing section names a winner for.
pub struct Class {
    pub title: &'static str,
    /// The (scenario form, metric) pairs that decide it.
    pub pairs: &'static [(&'static str, Metric)],
    /// What it is about.
    pub about: &'static str,
}

/// Every class, in the order the report lists them.
pub const CLASSES: &[Class] = &[
    Class {
        title: "Fork-heavy anonymous memory (servers that fork workers, shells)",
        pairs: &[
            ("fork-storm", FORK_NS_PER_PAGE),
            ("fork-storm", EXIT_NS_PER_PAGE),
            ("fork-storm", KERNEL_BYTES_PEAK),
            ("fork-chain", KERNEL_BYTES_PEAK),
        ],
        about: "what fork and exit cost per page and what the rmap metadata weighs",
    },
    Class {
        title: "Reclaim of anonymous memory in large fork families (AIM7, pre-fork servers under pressure)",
        pairs: &[
            ("cow-server", WALK_STEPS_PER_WALK),
            ("cow-server", RECLAIM_PAGES_PER_S),
        ],
        about: "how long an rmap walk is per reclaimed page (VMAs visited plus PTEs checked)",
    },
    Class {
        title: "Widely shared files (libraries, databases mapping windows)",
        pairs: &[
            ("file-share", WALK_STEPS_PER_WALK),
            ("file-share", KERNEL_BYTES_PEAK),
            ("file-share", RECLAIM_PAGES_PER_S),
            ("db-window", WALK_STEPS_PER_WALK),
            ("db-window", RECLAIM_PAGES_PER_S),
        ],
        about: "walk length (VMAs visited plus PTEs checked), metadata and reclaim throughput for file pages mapped many times",
    },
    Class {
        title: "Nonlinear file mappings (remap_file_pages, or one VMA per window)",
        pairs: &[
            ("nonlinear/remap", TIME_NS),
            ("nonlinear/emulated", TIME_NS),
            ("nonlinear/emulated", KERNEL_BYTES_PEAK),
        ],
        about: "time and metadata of the two ways to map a file out of order",
    },
    Class {
        title: "Memory pressure with a mixed working set",
        pairs: &[
            ("reclaim-pressure", RECLAIM_PAGES_PER_S),
            ("reclaim-pressure", TIME_NS),
        ],
        about: "reclaim throughput and total time",
    },
    Class {
        title: "Page-fault path",
        pairs: &[
            ("fault-storm", FAULT_NS_P50),
            ("fault-storm", FAULT_NS_P99),
            ("fault-storm", TIME_NS),
        ],
        about: "fault latency",
    },
    Class {
        title: "Many small mappings (UML, shared libraries, heaps)",
        pairs: &[
            ("uml/many_prots=off", KERNEL_BYTES_PEAK),
            ("glibc-libs/many_prots=off", KERNEL_BYTES_PEAK),
            ("heap-churn/merge=both", KERNEL_BYTES_PEAK),
            ("guard-fork", KERNEL_BYTES_PEAK),
            ("remerge", VMAS_END),
        ],
        about: "metadata bytes and VMA counts",
    },
];

/// A value of `m` for class scoring: a row, or [`WALK_STEPS_PER_WALK`]
/// derived from the walk rows (a chain walk has no VMAs-visited row: 0).
fn class_value(t: &Table, f: &str, size: u64, b: &str, m: Metric) -> Option<f64> {
    if m != WALK_STEPS_PER_WALK {
        return t.get(f, size, b, m);
    }
    let ptes = t.get(f, size, b, WALK_PTES_CHECKED_PER_WALK)?;
    Some(ptes + t.get(f, size, b, WALK_VMAS_VISITED_PER_WALK).unwrap_or(0.0))
}

/// Geometric mean of ratio-to-best over `pairs` at each form's largest
/// size, per backend, best first; only backends with every pair measured.
pub fn class_scores(
    t: &Table,
    pairs: &[(&str, Metric)],
    backends: &[String],
) -> Vec<(String, f64)> {
    let mut used = 0;
    let mut logs: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
    for &(f, m) in pairs {
        let Some(size) = t.largest(f) else { continue };
        let get = |b: &str| class_value(t, f, size, b, m);
        let Some(best) = best_of(m.better, backends.iter().filter_map(|b| get(b))) else {
            continue;
        };
        used += 1;
        for b in backends {
            if let Some(r) = get(b).and_then(|v| ratio(m.better, v, best)) {
                let e = logs.entry(b).or_insert((0.0, 0));
                e.0 += r.max(1e-12).ln();
                e.1 += 1;
            } else if get(b).is_some() && best == 0.0 {
                // The best is 0 (e.g. no objects at all) and this is not:
                // count it as 10× worse rather than dividing by zero.
                let e = logs.entry(b).or_insert((0.0, 0));
                e.0 += if get(b) == Some(0.0) { 0.0 } else { 10f64.ln() };
                e.1 += 1;
            }
        }
    }
    let mut v: Vec<(String, f64)> = logs
        .into_iter()
        .filter(|(_, (_, n))| *n == used && used > 0)
        .map(|(b, (s, n))| (b.to_string(), (s / n as f64).exp()))
        .collect();
    v.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// The "Which rmap strategy" section: per class the winner, runner-up,
/// worst and trade-off, then the overall ranking over the classes.
pub(super) fn section(s: &mut String, t: &Table, model_backends: &[String]) {
    let _ = writeln!(s, "## Which rmap strategy\n");
    let _ = writeln!(
        s,
        "Per class of workload, the backends are ranked by the geometric mean of their ratio to the best over the metrics that decide the class (1.00 = best on every one), at each scenario's largest size. `scan` is included as the no-rmap baseline.\n"
    );
    let mut overall: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for class in CLASSES {
        let sc = class_scores(t, class.pairs, model_backends);
        if sc.is_empty() {
            continue;
        }
        for (b, v) in &sc {
            let e = overall.entry(b.clone()).or_insert((0.0, 0));
            e.0 += v.ln();
            e.1 += 1;
        }
        let (w, wv) = &sc[0];
        let _ = writeln!(
            s,
            "- **{}** ({}): **{w}** (score {wv:.2})",
            class.title, class.about
        );
        if let Some((r, rv)) = sc.get(1) {
            let _ = write!(s, "  — then {r} ({rv:.2})");
        }
        let worst = sc.last().expect("non-empty");
        let _ = writeln!(s, "; the worst is {} ({:.2}).", worst.0, worst.1);
        let _ = writeln!(s, "  {}", tradeoff(t, w, class.pairs, model_backends));
    }
    let classes = CLASSES.len();
    let mut ov: Vec<(String, f64)> = overall
        .into_iter()
        .filter(|(_, (_, n))| *n == classes)
        .map(|(b, (l, n))| (b, (l / n as f64).exp()))
        .collect();
    ov.sort_by(|a, b| a.1.total_cmp(&b.1));
    if let Some((w, v)) = ov.first() {
        let _ = writeln!(
            s,
            "\n**Overall** (geometric mean over the classes): **{w}** ({v:.2}), then {}.",
            ov.iter()
                .skip(1)
                .take(4)
                .map(|(b, v)| format!("{b} ({v:.2})"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if w.starts_with("pte-chain") {
            let _ = writeln!(s, "\n{}", pte_chain_caveat(t, model_backends));
        }
    }
}

/// Why an overall pte-chain win does not contradict Linux dropping pte
/// chains in 2.6, with this run's own numbers.
fn pte_chain_caveat(t: &Table, backends: &[String]) -> String {
    let f = "fork-storm";
    let mut out = String::from(
        "History went the other way: Linux 2.6 replaced PTE chains by object-based rmap because of what they cost at fork and exit and in low memory on 32-bit machines with many processes, not because of walk length, where chains are hard to beat.",
    );
    if let Some(size) = t.largest(f) {
        let best_of_fam = |fam: &str, m: Metric| {
            Table::family(backends, fam)
                .into_iter()
                .filter_map(|b| t.get(f, size, b, m))
                .fold(f64::INFINITY, f64::min)
        };
        let (pc, av) = (
            best_of_fam("pte-chain", FORK_NS_PER_PAGE),
            best_of_fam("anonvma", FORK_NS_PER_PAGE),
        );
        let (pb, ab) = (
            best_of_fam("pte-chain", KERNEL_BYTES_PEAK),
            best_of_fam("anonvma", KERNEL_BYTES_PEAK),
        );
        if pc.is_finite()
            && av.is_finite()
            && pb.is_finite()
            && ab.is_finite()
            && av > 0.0
            && ab > 0.0
        {
            let _ = write!(
                out,
                " In this run, at {size} MiB of fork-storm, the cheapest pte-chain preset forks at {} ns/page against {} for anonvma (×{}) and holds ×{} the metadata. The overall score weighs every class the same; weigh them by your workload (a fork-heavy server should read the first class, a reclaim-bound one the second).",
                human(pc),
                human(av),
                ratio_text(pc / av),
                ratio_text(pb / ab)
            );
        }
    }
    out
}

/// One sentence on what the class winner gives up, from the numbers.
fn tradeoff(t: &Table, winner: &str, pairs: &[(&str, Metric)], backends: &[String]) -> String {
    // Where does the winner lose most, among every (form, metric) of the
    // forms in this class, at the largest size?
    let forms: BTreeSet<&str> = pairs.iter().map(|p| p.0).collect();
    let mut worst: Option<(f64, String, Metric, String)> = None;
    for f in forms {
        let Some(size) = t.largest(f) else { continue };
        for m in [
            TIME_NS,
            KERNEL_BYTES_PEAK,
            WALK_STEPS_PER_WALK,
            FORK_NS_PER_PAGE,
            RECLAIM_PAGES_PER_S,
        ] {
            let get = |b: &str| class_value(t, f, size, b, m);
            let Some(v) = get(winner) else {
                continue;
            };
            let Some(best) = best_of(m.better, backends.iter().filter_map(|b| get(b))) else {
                continue;
            };
            let Some(r) = ratio(m.better, v, best) else {
                continue;
            };
            let who = backends
                .iter()
                .find(|b| get(b) == Some(best))
                .cloned()
                .unwrap_or_default();
            if worst.as_ref().is_none_or(|w| r > w.0) {
                worst = Some((r, f.to_string(), m, who));
            }
        }
    }
    match worst {
        Some((r, f, m, who)) if r >= 1.5 => format!(
            "Trade-off: on {f} its {m} is ×{} that of the best ({who}).",
            ratio_text(r)
        ),
        _ => "It gives up little elsewhere in these scenarios (within ×1.5 of the best on time, metadata and walk length).".to_string(),
    }
}
