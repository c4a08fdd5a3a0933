//! "Which rmap strategy": classes of workload, each decided by a few
//! (scenario form, metric) pairs; per class the backends ranked by the
//! geometric mean of their ratio to the best, with the winner's trade-off;
//! and an overall ranking over the classes.
//!
//! Every class gets two verdicts (see [`super::verdict`]): *by time*, on
//! its pairs as they are (a winner only when the bootstrap separates it from
//! every other backend, else a tie listing the backends it cannot be told
//! from), and *by exact cost*, with each timed metric replaced by its
//! work-unit twin ([`Metric::work_twin`]): the same on every run and
//! machine, so it still decides when times tie.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use rmap_metrics::{
    EXIT_NS_PER_PAGE, FAULT_NS_P50, FAULT_NS_P99, FORK_NS_PER_PAGE, KERNEL_BYTES_PEAK, Metric,
    RECLAIM_PAGES_PER_S, TIME_NS, VMAS_END, WALK_STEPS_PER_WALK,
};

use super::table::{Table, best_of, ratio, ratio_text};
use super::verdict::{Composite, Verdict, has_samples};
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
            ("guard-fork/anon", KERNEL_BYTES_PEAK),
            ("remerge", VMAS_END),
        ],
        about: "metadata bytes and VMA counts",
    },
];

/// Geometric mean of ratio-to-best over `pairs` at each form's largest
/// size, per backend, best first; only backends with every pair measured.
pub fn class_scores(
    t: &Table,
    pairs: &[(&str, Metric)],
    backends: &[String],
) -> Vec<(String, f64)> {
    Composite::new(t, pairs, backends, |m| m).scores()
}

/// A timed metric's work-unit twin, or the metric itself.
fn exact_twin(m: Metric) -> Metric {
    m.work_twin().unwrap_or(m)
}

/// A class's two verdicts and its ranking by time.
struct ClassResult {
    /// Whether any pair of the class is timed (else both verdicts are the
    /// same exact one).
    timed: bool,
    by_time: Verdict,
    by_exact: Verdict,
    scores: Vec<(String, f64)>,
}

impl ClassResult {
    /// `by time X; by exact cost Y`, or `exact: X` for a class of counts.
    fn text(&self, bold: bool) -> String {
        let b = |v: &Verdict| {
            if bold {
                format!("**{}**", v.text())
            } else {
                v.text()
            }
        };
        if self.timed {
            format!(
                "by time {}; by exact cost {}",
                b(&self.by_time),
                b(&self.by_exact)
            )
        } else {
            format!(
                "{} (exact counts only: no times in this class)",
                b(&self.by_exact)
            )
        }
    }
}

fn judge(t: &Table, class: &Class, backends: &[String]) -> Option<ClassResult> {
    let timed = Composite::new(t, class.pairs, backends, |m| m);
    let scores = timed.scores();
    if scores.is_empty() {
        return None;
    }
    let by_time = if timed.timed() && !has_samples(t) {
        Verdict::None
    } else {
        timed.verdict(class.title)
    };
    let by_exact = Composite::new(t, class.pairs, backends, exact_twin).verdict(class.title);
    Some(ClassResult {
        timed: timed.timed(),
        by_time,
        by_exact,
        scores,
    })
}

/// One line per class with its two verdicts (what `run` prints).
pub fn verdict_lines(t: &Table) -> Vec<String> {
    let backends: Vec<String> = t
        .backends()
        .into_iter()
        .filter(|b| b != rmap_metrics::KERNEL_BACKEND)
        .collect();
    CLASSES
        .iter()
        .filter_map(|c| {
            let r = judge(t, c, &backends)?;
            let short = c.title.split(" (").next().unwrap_or(c.title);
            Some(format!("{short}: {}", r.text(false)))
        })
        .collect()
}

/// The "Which rmap strategy" section: per class the two verdicts,
/// runner-up, worst and trade-off, then the overall ranking over the
/// classes.
pub(super) fn section(s: &mut String, t: &Table, model_backends: &[String]) {
    let _ = writeln!(s, "## Which rmap strategy\n");
    let _ = writeln!(
        s,
        "Per class of workload, the backends are ranked by the geometric mean of their ratio to the best over the metrics that decide the class (1.00 = best on every one), at each scenario's largest size. `scan` is included as the no-rmap baseline. Each class has two verdicts. **By time**: a backend wins only when a bootstrap over the repetitions (seeded, {} resamples) puts its score ahead of every other backend's in 97.5% of resamples and by more than {:.0}%; otherwise the verdict is a *tie* listing the backends it cannot be told apart from. **By exact cost**: the same pairs with every time replaced by its work units (the model's exact count of the work each op does; the same on every run and every machine), backends within 0.5% tying; it decides where times tie.\n",
        crate::stats::RESAMPLES,
        crate::stats::CLASS_NOISE * 100.0
    );
    if !has_samples(t) {
        let _ = writeln!(
            s,
            "*This `results.csv` predates confidence intervals: it kept no samples, so no time verdict can be tested. Rerun `rmap-bench run` for them.*\n"
        );
    }
    let mut overall: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    let mut counted = 0;
    for class in CLASSES {
        let Some(r) = judge(t, class, model_backends) else {
            continue;
        };
        counted += 1;
        for (b, v) in &r.scores {
            let e = overall.entry(b.clone()).or_insert((0.0, 0));
            e.0 += v.ln();
            e.1 += 1;
        }
        let (w, wv) = &r.scores[0];
        let _ = writeln!(
            s,
            "- **{}** ({}): {}.",
            class.title,
            class.about,
            r.text(true)
        );
        let _ = write!(s, "  Best score {w} ({wv:.2})");
        if let Some((rn, rv)) = r.scores.get(1) {
            let _ = write!(s, ", then {rn} ({rv:.2})");
        }
        let worst = r.scores.last().expect("non-empty");
        let _ = writeln!(s, "; the worst is {} ({:.2}).", worst.0, worst.1);
        let _ = writeln!(s, "  {}", tradeoff(t, w, class.pairs, model_backends));
    }
    let mut ov: Vec<(String, f64)> = overall
        .into_iter()
        .filter(|(_, (_, n))| *n == counted && counted > 0)
        .map(|(b, (l, n))| (b, (l / n as f64).exp()))
        .collect();
    ov.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    if let Some((w, v)) = ov.first() {
        let _ = writeln!(
            s,
            "\n**Overall** (geometric mean of the class scores, by time; no verdict: read the class that matches your workload): {w} ({v:.2}), then {}.",
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
            let get = |b: &str| t.value(f, size, b, m);
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
