//! `REPORT.md` from result rows: per scenario form a table of backends
//! against the key metrics (best marked, every other value as a ratio to
//! it) and the plots; the known history checked against the run's own
//! numbers; the model beside the live kernel; and a closing "Which rmap
//! strategy" section that names a winner per class of workload from the
//! numbers. Also the ranking `rmap-bench choose` prints.
//!
//! Everything here reads only rows (and `meta.json`), so `rmap-bench report
//! DIR` rebuilds the same report from `DIR/results.csv` at any time.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::backends;
use crate::output::Meta;
use crate::plots::{self, human};
use crate::results::{KERNEL_BACKEND, Row};
use crate::runner::higher_is_better;
use crate::scenario::{self, Form};

/// Rows indexed for look-ups.
pub struct Table<'a> {
    rows: &'a [Row],
    by: BTreeMap<(&'a str, u64, &'a str, &'a str), &'a Row>,
}

impl<'a> Table<'a> {
    pub fn new(rows: &'a [Row]) -> Self {
        let by = rows
            .iter()
            .map(|r| {
                (
                    (
                        r.scenario.as_str(),
                        r.size,
                        r.backend.as_str(),
                        r.metric.as_str(),
                    ),
                    r,
                )
            })
            .collect();
        Table { rows, by }
    }
    pub fn get(&self, scenario: &str, size: u64, backend: &str, metric: &str) -> Option<f64> {
        self.by
            .get(&(scenario, size, backend, metric))
            .map(|r| r.value)
    }
    /// Sizes of a scenario form, ascending.
    pub fn sizes(&self, scenario: &str) -> Vec<u64> {
        let s: BTreeSet<u64> = self
            .rows
            .iter()
            .filter(|r| r.scenario == scenario)
            .map(|r| r.size)
            .collect();
        s.into_iter().collect()
    }
    /// The largest size a form ran at with any model backend.
    pub fn largest(&self, scenario: &str) -> Option<u64> {
        self.rows
            .iter()
            .filter(|r| r.scenario == scenario && r.backend != KERNEL_BACKEND)
            .map(|r| r.size)
            .max()
    }
    /// Backends that ran, in registry order (unknown ones after, the live
    /// kernel last).
    pub fn backends(&self) -> Vec<String> {
        let seen: BTreeSet<&str> = self.rows.iter().map(|r| r.backend.as_str()).collect();
        let mut out: Vec<String> = backends::all_specs()
            .into_iter()
            .filter(|s| seen.contains(s.as_str()))
            .collect();
        for s in &seen {
            if !out.iter().any(|o| o == s) && *s != KERNEL_BACKEND {
                out.push(s.to_string());
            }
        }
        if seen.contains(KERNEL_BACKEND) {
            out.push(KERNEL_BACKEND.to_string());
        }
        out
    }
    /// Scenario forms present, in registry order, then unknown ones.
    pub fn scenarios(&self) -> Vec<String> {
        let seen: BTreeSet<&str> = self.rows.iter().map(|r| r.scenario.as_str()).collect();
        let mut out: Vec<String> = scenario::all_forms()
            .iter()
            .map(Form::full_name)
            .filter(|n| seen.contains(n.as_str()))
            .collect();
        for s in seen {
            if !out.iter().any(|o| o == s) {
                out.push(s.to_string());
            }
        }
        out
    }
    fn unit(&self, metric: &str) -> String {
        self.rows
            .iter()
            .find(|r| r.metric == metric)
            .map_or_else(String::new, |r| r.unit.clone())
    }
    fn size_unit(&self, scenario: &str) -> String {
        self.rows
            .iter()
            .find(|r| r.scenario == scenario)
            .map_or_else(String::new, |r| r.size_unit.clone())
    }
}

/// How much worse `v` is than `best` (1 = as good).
pub fn ratio(metric: &str, v: f64, best: f64) -> Option<f64> {
    if higher_is_better(metric) {
        (v > 0.0).then(|| best / v)
    } else {
        (best > 0.0).then(|| v / best)
    }
}

fn best_of(metric: &str, vals: impl Iterator<Item = f64>) -> Option<f64> {
    let vals: Vec<f64> = vals.filter(|v| v.is_finite()).collect();
    if vals.is_empty() {
        return None;
    }
    Some(if higher_is_better(metric) {
        vals.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    } else {
        vals.iter().copied().fold(f64::INFINITY, f64::min)
    })
}

/// The key metrics of a form: the scenario's own list (those present),
/// else every metric present.
fn key_metrics(t: &Table, form: &str) -> Vec<String> {
    let present: BTreeSet<&str> = t
        .rows
        .iter()
        .filter(|r| r.scenario == form)
        .map(|r| r.metric.as_str())
        .collect();
    let base = form.split('/').next().unwrap_or(form);
    let listed: Vec<String> = scenario::SCENARIOS
        .iter()
        .find(|s| s.name == base)
        .map(|s| s.key_metrics.iter().map(|m| m.to_string()).collect())
        .unwrap_or_default();
    let mut out: Vec<String> = listed
        .into_iter()
        .filter(|m| present.contains(m.as_str()))
        .collect();
    if out.is_empty() {
        // Not a known scenario (or none of its metrics ran): every metric
        // of the standard set that is present.
        out = [
            "time_ns",
            "fork_ns_per_page",
            "fault_ns_p50",
            "reclaim_pages_per_s",
            "walk_vmas_visited_per_walk",
            "walk_ptes_checked_per_walk",
            "kernel_bytes_peak",
            "vmas_peak",
        ]
        .iter()
        .filter(|m| present.contains(*m))
        .map(|m| m.to_string())
        .collect();
    }
    out
}

/// The plots the report shows: every (form, key metric).
pub fn plot_list(rows: &[Row]) -> Vec<(String, String)> {
    let t = Table::new(rows);
    t.scenarios()
        .into_iter()
        .flat_map(|f| {
            key_metrics(&t, &f)
                .into_iter()
                .map(move |m| (f.clone(), m))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A Markdown table of `backends` against `metrics` at one size, best in
/// bold with a star, others as a ratio to the best.
fn metric_table(
    t: &Table,
    form: &str,
    size: u64,
    backends: &[String],
    metrics: &[String],
) -> String {
    let mut s = String::new();
    let _ = write!(s, "| backend |");
    for m in metrics {
        let _ = write!(s, " {m} ({}) |", t.unit(m));
    }
    let _ = writeln!(s);
    let _ = write!(s, "|---|");
    for _ in metrics {
        let _ = write!(s, "---:|");
    }
    let _ = writeln!(s);
    let bests: Vec<Option<f64>> = metrics
        .iter()
        .map(|m| best_of(m, backends.iter().filter_map(|b| t.get(form, size, b, m))))
        .collect();
    for b in backends {
        if metrics.iter().all(|m| t.get(form, size, b, m).is_none()) {
            continue;
        }
        let _ = write!(s, "| {b} |");
        for (m, best) in metrics.iter().zip(&bests) {
            let cell = match (t.get(form, size, b, m), best) {
                (None, _) => "–".to_string(),
                (Some(v), Some(best)) if v == *best => format!("**{}** ★", human(v)),
                (Some(v), Some(best)) => match ratio(m, v, *best) {
                    Some(r) => format!("{} (×{})", human(v), ratio_text(r)),
                    None => human(v),
                },
                (Some(v), None) => human(v),
            };
            let _ = write!(s, " {cell} |");
        }
        let _ = writeln!(s);
    }
    s
}

fn ratio_text(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}")
    } else if r >= 10.0 {
        format!("{r:.1}")
    } else {
        format!("{r:.2}")
    }
}

/// One check of the known history.
pub struct Check {
    pub claim: &'static str,
    pub found: String,
    /// `Some(true)` reproduced, `Some(false)` not, `None` not measured.
    pub holds: Option<bool>,
    /// Why a number differs from the history, or a caveat.
    pub note: String,
}

fn fam<'b>(backends: &'b [String], family: &str) -> Vec<&'b String> {
    backends
        .iter()
        .filter(|b| b.split(':').next() == Some(family))
        .collect()
}

/// The known history of rmap, checked against `rows`.
pub fn history(rows: &[Row]) -> Vec<Check> {
    let t = Table::new(rows);
    let bks = t.backends();
    let mut out = Vec::new();

    // 1. Fork cost per page.
    {
        let claim = "fork costs more per page with pte-chain than with anonvma and objrmap";
        let f = "fork-storm";
        let m = "fork_ns_per_page";
        match t.largest(f) {
            None => out.push(Check {
                claim,
                found: "fork-storm did not run".into(),
                holds: None,
                note: String::new(),
            }),
            Some(size) => {
                let vals = |fam_name: &str| -> Vec<(String, f64)> {
                    fam(&bks, fam_name)
                        .into_iter()
                        .filter_map(|b| t.get(f, size, b, m).map(|v| (b.clone(), v)))
                        .collect()
                };
                let pc = vals("pte-chain");
                let av = vals("anonvma");
                let ob = vals("objrmap");
                let lo = |v: &[(String, f64)]| v.iter().map(|x| x.1).fold(f64::INFINITY, f64::min);
                let hi = |v: &[(String, f64)]| v.iter().map(|x| x.1).fold(0f64, f64::max);
                let list = |v: &[(String, f64)]| {
                    v.iter()
                        .map(|(b, x)| format!("{b} {}", human(*x)))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let found = format!(
                    "at {size} MiB, ns/page: {}; {}; {}",
                    list(&pc),
                    list(&av),
                    list(&ob)
                );
                let chained: Vec<&(String, f64)> =
                    ob.iter().filter(|(_, v)| *v >= lo(&pc) * 0.8).collect();
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
                out.push(Check {
                    claim,
                    found,
                    holds,
                    note,
                });
            }
        }
    }

    // 2. db-window walks.
    {
        let claim = "db-window walks are orders of magnitude longer with the mccracken list than with an interval tree";
        let f = "db-window";
        let m = "walk_vmas_visited_per_walk";
        let size = t.largest(f);
        let mc = size.and_then(|s| t.get(f, s, "objrmap:mccracken", m));
        let pr = size.and_then(|s| t.get(f, s, "objrmap:prio", m));
        let av = size.and_then(|s| t.get(f, s, "anonvma:linux", m));
        match (size, mc, pr) {
            (Some(size), Some(mc), Some(pr)) => {
                let r = mc / pr.max(1e-9);
                out.push(Check {
                    claim,
                    found: format!(
                        "at {size} windows, VMAs visited per walk: objrmap:mccracken {}, objrmap:prio {}{}: ×{}",
                        human(mc),
                        human(pr),
                        av.map_or(String::new(), |a| format!(", anonvma:linux {}", human(a))),
                        ratio_text(r)
                    ),
                    holds: Some(r >= 100.0),
                    note: if r >= 100.0 {
                        String::new()
                    } else {
                        format!("at {size} windows the list is ×{} longer, below the ×100 of the claim: the list's walk grows with the number of windows, so a larger size widens it", ratio_text(r))
                    },
                });
            }
            _ => out.push(Check {
                claim,
                found: "db-window did not run on objrmap:mccracken and objrmap:prio".into(),
                holds: None,
                note: String::new(),
            }),
        }
    }

    // 3. fork-chain growth.
    {
        let claim = "fork-chain anon_vmas grow without bound only with avc-2.6.34";
        let f = "fork-chain";
        let m = "anon_vma_peak";
        match t.largest(f) {
            Some(size) => {
                let av: Vec<(String, f64)> = fam(&bks, "anonvma")
                    .into_iter()
                    .filter_map(|b| t.get(f, size, b, m).map(|v| (b.clone(), v)))
                    .collect();
                let grows = |v: f64| v >= size as f64 * 0.5;
                let growing: Vec<&str> = av
                    .iter()
                    .filter(|(_, v)| grows(*v))
                    .map(|(b, _)| b.as_str())
                    .collect();
                // Not measured unless avc-2.6.34, the preset the claim is
                // about, ran beside at least one other.
                let has_avc = av.iter().any(|(b, _)| b == "anonvma:avc-2.6.34");
                let holds = (has_avc && av.len() > 1).then(|| growing == ["anonvma:avc-2.6.34"]);
                let sizes = t.sizes(f);
                let mut note = String::new();
                if sizes.len() > 1 {
                    let series: Vec<String> = sizes
                        .iter()
                        .filter_map(|&s| {
                            t.get(f, s, "anonvma:avc-2.6.34", m)
                                .map(|v| format!("{s} → {}", human(v)))
                        })
                        .collect();
                    let _ = write!(note, "avc-2.6.34 by generations: {}. ", series.join(", "));
                }
                let stable: Vec<String> = av
                    .iter()
                    .filter(|(_, v)| !grows(*v))
                    .map(|(b, v)| format!("{b} {}", human(*v)))
                    .collect();
                if growing.iter().any(|b| *b != "anonvma:avc-2.6.34") {
                    let _ = write!(
                        note,
                        "the history says only avc-2.6.34 grows; here {} grow(s) too, which the model would have to explain.",
                        growing
                            .iter()
                            .filter(|b| **b != "anonvma:avc-2.6.34")
                            .copied()
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
                out.push(Check {
                    claim,
                    found: format!(
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
                    ),
                    holds,
                    note,
                });
            }
            None => out.push(Check {
                claim,
                found: "fork-chain did not run".into(),
                holds: None,
                note: String::new(),
            }),
        }
    }

    // 4. heap-churn merge policies.
    {
        let claim = "heap-churn leaves orders of magnitude fewer entries with merge=both than with merge=none";
        let m = "vmas_end";
        let (fn_, fp, fb) = (
            "heap-churn/merge=none",
            "heap-churn/merge=prev",
            "heap-churn/merge=both",
        );
        let b = "anonvma:linux";
        let pick = |f: &str| t.largest(f).and_then(|s| t.get(f, s, b, m).map(|v| (s, v)));
        match (pick(fn_), pick(fb)) {
            (Some((s, none)), Some((_, both))) => {
                let r = none / both.max(1.0);
                let prev = pick(fp).map_or(String::new(), |(_, v)| format!(", prev {}", human(v)));
                out.push(Check {
                    claim,
                    found: format!(
                        "at {s} allocations on {b}, VMAs at the end: none {}{prev}, both {}: ×{}",
                        human(none),
                        human(both),
                        ratio_text(r)
                    ),
                    holds: Some(r >= 100.0),
                    note: if r >= 100.0 {
                        String::new()
                    } else {
                        "the ratio is below 100 at this size: VMAs under merge=none grow with allocations, so a larger size widens it".into()
                    },
                });
            }
            _ => out.push(Check {
                claim,
                found: "heap-churn merge=none and merge=both did not both run on anonvma:linux"
                    .into(),
                holds: None,
                note: String::new(),
            }),
        }
    }

    // 5. many_prots.
    for (base, unit, threshold, why) in [
        ("uml", "pages", 10.0, ""),
        (
            "glibc-libs",
            "libraries",
            2.0,
            "each library's bss is anonymous memory and stays a VMA of its own, so the best many_prots can do is 2 VMAs per library instead of 5",
        ),
    ] {
        let claim = if base == "uml" {
            "uml needs far fewer VMAs with many_prots"
        } else {
            "glibc-libs needs far fewer VMAs with many_prots"
        };
        let off = format!("{base}/many_prots=off");
        let on = format!("{base}/many_prots=on");
        let b = "anonvma:linux";
        let m = "vmas_peak";
        let pick = |f: &str| t.largest(f).and_then(|s| t.get(f, s, b, m).map(|v| (s, v)));
        match (pick(&off), pick(&on)) {
            (Some((s, a)), Some((_, c))) => {
                let r = a / c.max(1.0);
                out.push(Check {
                    claim,
                    found: format!(
                        "at {s} {unit} on {b}, peak VMAs: off {}, on {}: ×{}",
                        human(a),
                        human(c),
                        ratio_text(r)
                    ),
                    holds: Some(r >= threshold),
                    note: why.to_string(),
                });
            }
            _ => out.push(Check {
                claim,
                found: format!("{base} did not run in both forms on {b}"),
                holds: None,
                note: String::new(),
            }),
        }
    }
    out
}

/// The classes of workload the closing section names a winner for: a
/// title, the (form, metric) pairs that decide it, and what it is about.
/// A class of workload: title, deciding (form, metric) pairs, what it is about.
type Class = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
);

const CLASSES: &[Class] = &[
    (
        "Fork-heavy anonymous memory (servers that fork workers, shells)",
        &[
            ("fork-storm", "fork_ns_per_page"),
            ("fork-storm", "exit_ns_per_page"),
            ("fork-storm", "kernel_bytes_peak"),
            ("fork-chain", "kernel_bytes_peak"),
        ],
        "what fork and exit cost per page and what the rmap metadata weighs",
    ),
    (
        "Reclaim of anonymous memory in large fork families (AIM7, pre-fork servers under pressure)",
        &[
            ("cow-server", WALK_STEPS),
            ("cow-server", "reclaim_pages_per_s"),
        ],
        "how long an rmap walk is per reclaimed page (VMAs visited plus PTEs checked)",
    ),
    (
        "Widely shared files (libraries, databases mapping windows)",
        &[
            ("file-share", WALK_STEPS),
            ("file-share", "kernel_bytes_peak"),
            ("file-share", "reclaim_pages_per_s"),
            ("db-window", WALK_STEPS),
            ("db-window", "reclaim_pages_per_s"),
        ],
        "walk length (VMAs visited plus PTEs checked), metadata and reclaim throughput for file pages mapped many times",
    ),
    (
        "Nonlinear file mappings (remap_file_pages, or one VMA per window)",
        &[
            ("nonlinear/remap", "time_ns"),
            ("nonlinear/emulated", "time_ns"),
            ("nonlinear/emulated", "kernel_bytes_peak"),
        ],
        "time and metadata of the two ways to map a file out of order",
    ),
    (
        "Memory pressure with a mixed working set",
        &[
            ("reclaim-pressure", "reclaim_pages_per_s"),
            ("reclaim-pressure", "time_ns"),
        ],
        "reclaim throughput and total time",
    ),
    (
        "Page-fault path",
        &[
            ("fault-storm", "fault_ns_p50"),
            ("fault-storm", "fault_ns_p99"),
            ("fault-storm", "time_ns"),
        ],
        "fault latency",
    ),
    (
        "Many small mappings (UML, shared libraries, heaps)",
        &[
            ("uml/many_prots=off", "kernel_bytes_peak"),
            ("glibc-libs/many_prots=off", "kernel_bytes_peak"),
            ("heap-churn/merge=both", "kernel_bytes_peak"),
            ("guard-fork", "kernel_bytes_peak"),
            ("remerge", "vmas_end"),
        ],
        "metadata bytes and VMA counts",
    ),
];

/// The class measure of walk cost: VMAs visited plus PTEs checked per
/// walk. A chain walk visits no VMAs and a VMA walk checks a PTE only in
/// the VMAs that cover the page, so the sum compares the two designs on
/// one scale, where either part alone would flatter one of them.
const WALK_STEPS: &str = "walk_steps_per_walk";

/// A value of `m` for class scoring: a row, or [`WALK_STEPS`] derived.
fn class_value(t: &Table, f: &str, size: u64, b: &str, m: &str) -> Option<f64> {
    if m != WALK_STEPS {
        return t.get(f, size, b, m);
    }
    let ptes = t.get(f, size, b, "walk_ptes_checked_per_walk")?;
    Some(
        ptes + t
            .get(f, size, b, "walk_vmas_visited_per_walk")
            .unwrap_or(0.0),
    )
}

/// Geometric mean of ratio-to-best over `pairs` at each form's largest
/// size, per backend; only backends with every pair measured.
pub fn class_scores(t: &Table, pairs: &[(&str, &str)], backends: &[String]) -> Vec<(String, f64)> {
    let mut used = 0;
    let mut logs: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
    for &(f, m) in pairs {
        let Some(size) = t.largest(f) else { continue };
        let get = |b: &str| class_value(t, f, size, b, m);
        let Some(best) = best_of(m, backends.iter().filter_map(|b| get(b))) else {
            continue;
        };
        used += 1;
        for b in backends {
            if let Some(r) = get(b).and_then(|v| ratio(m, v, best)) {
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

/// Build REPORT.md. `plots` lists the plot files written (relative to the
/// report), by (form, metric).
pub fn render(
    rows: &[Row],
    meta: Option<&Meta>,
    plots_made: &BTreeSet<(String, String)>,
) -> String {
    let t = Table::new(rows);
    let backends = t.backends();
    let model_backends: Vec<String> = backends
        .iter()
        .filter(|b| *b != KERNEL_BACKEND)
        .cloned()
        .collect();
    let mut s = String::new();
    let _ = writeln!(s, "# rmap-lab benchmark report\n");
    let _ = writeln!(
        s,
        "Made by `rmap-bench report` from this directory's `results.csv` ({} rows); every number below comes from that file.\n",
        rows.len()
    );
    if let Some(m) = meta {
        let _ = writeln!(
            s,
            "- **Run:** {} (revision `{}`), {:.0} s of wall time; options: `{}`",
            m.date, m.revision, m.wall_s, m.options
        );
        let _ = writeln!(
            s,
            "- **Machine:** {}, {} CPUs, {:.1} GiB, {} {} (Linux {}); {}",
            m.machine.cpu,
            m.machine.cpus,
            m.machine.mem_bytes as f64 / (1u64 << 30) as f64,
            m.machine.os,
            m.machine.arch,
            m.machine.kernel,
            m.rustc
        );
    }
    let _ = writeln!(
        s,
        "- **How to read:** each scenario's table is at its largest size. The best value of a column is **bold** with ★; every other is followed by its ratio to the best (×1.00 is as good; higher is worse). Lower is better for every metric except `reclaim_pages_per_s`. Counts (VMAs, objects, walk lengths) are exact and the same on every machine; times are medians over the repetitions (min and max are in `results.csv`). A – means the metric does not apply to that backend (a PTE-chain walk visits no VMAs; a design without anon_vma_chains has no count of them). `kernel_bytes_peak` is the metadata the kernel would allocate (VMAs, page tables, rmap objects) at its peak, with Linux's x86-64 object sizes.\n"
    );

    // The history.
    let _ = writeln!(s, "## The known history, checked against this run\n");
    let _ = writeln!(s, "| claim | this run | verdict |");
    let _ = writeln!(s, "|---|---|---|");
    let checks = history(rows);
    for c in &checks {
        let verdict = match c.holds {
            Some(true) => "reproduced",
            Some(false) => "**differs**",
            None => "not measured",
        };
        let _ = writeln!(s, "| {} | {} | {verdict} |", c.claim, c.found);
    }
    let notes: Vec<&Check> = checks.iter().filter(|c| !c.note.is_empty()).collect();
    if !notes.is_empty() {
        let _ = writeln!(s);
        for c in notes {
            let _ = writeln!(s, "- *{}*: {}", c.claim, c.note);
        }
    }
    let _ = writeln!(s);

    // The live kernel.
    kernel_section(&mut s, &t);

    // Scenarios.
    let _ = writeln!(s, "## Scenarios\n");
    for form in t.scenarios() {
        let base = form.split('/').next().unwrap_or(&form).to_string();
        let sc = scenario::SCENARIOS.iter().find(|x| x.name == base);
        let _ = writeln!(s, "### {form}\n");
        if let Some(sc) = sc {
            let _ = writeln!(s, "{} *Exposes:* {}\n", sc.about, sc.exposes);
        }
        let Some(size) = t.largest(&form) else {
            continue;
        };
        let metrics = key_metrics(&t, &form);
        let sizes = t.sizes(&form);
        let _ = writeln!(
            s,
            "At {size} {} (sizes run: {}):\n",
            t.size_unit(&form),
            sizes
                .iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        s.push_str(&metric_table(&t, &form, size, &model_backends, &metrics));
        let errs: Vec<String> = model_backends
            .iter()
            .filter_map(|b| {
                t.get(&form, size, b, "op_errors")
                    .filter(|&e| e > 0.0)
                    .map(|e| format!("{b} {e}"))
            })
            .collect();
        if !errs.is_empty() {
            let _ = writeln!(
                s,
                "\nSyscalls that failed with an errno (as the program would see them): {}.",
                errs.join(", ")
            );
        }
        let _ = writeln!(s);
        for m in &metrics {
            if plots_made.contains(&(form.clone(), m.clone())) {
                let _ = writeln!(s, "![{form}: {m}](plots/{})", plots::file_name(&form, m));
            }
        }
        let _ = writeln!(s);
    }

    // The choice.
    let _ = writeln!(s, "## Which rmap strategy\n");
    let _ = writeln!(
        s,
        "Per class of workload, the backends are ranked by the geometric mean of their ratio to the best over the metrics that decide the class (1.00 = best on every one), at each scenario's largest size. `scan` is included as the no-rmap baseline.\n"
    );
    let mut overall: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for (title, pairs, what) in CLASSES {
        let sc = class_scores(&t, pairs, &model_backends);
        if sc.is_empty() {
            continue;
        }
        for (b, v) in &sc {
            let e = overall.entry(b.clone()).or_insert((0.0, 0));
            e.0 += v.ln();
            e.1 += 1;
        }
        let (w, wv) = &sc[0];
        let runner = sc.get(1);
        let _ = writeln!(s, "- **{title}** ({what}): **{w}** (score {wv:.2})");
        if let Some((r, rv)) = runner {
            let _ = write!(s, "  — then {r} ({rv:.2})");
        }
        let worst = sc.last().expect("non-empty");
        let _ = writeln!(s, "; the worst is {} ({:.2}).", worst.0, worst.1);
        let _ = writeln!(s, "  {}", tradeoff(&t, w, pairs, &model_backends));
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
            let _ = writeln!(s, "\n{}", pte_chain_caveat(&t, &model_backends));
        }
    }
    s
}

/// Why an overall pte-chain win does not contradict Linux dropping pte
/// chains in 2.6, with this run's own numbers.
fn pte_chain_caveat(t: &Table, backends: &[String]) -> String {
    let f = "fork-storm";
    let mut out = String::from(
        "History went the other way: Linux 2.6 replaced PTE chains by object-based rmap because of what they cost at fork and exit and in low memory on 32-bit machines with many processes, not because of walk length, where chains are hard to beat.",
    );
    if let Some(size) = t.largest(f) {
        let best_of_fam = |fam: &str, m: &str| {
            backends
                .iter()
                .filter(|b| b.split(':').next() == Some(fam))
                .filter_map(|b| t.get(f, size, b, m))
                .fold(f64::INFINITY, f64::min)
        };
        let (pc, av) = (
            best_of_fam("pte-chain", "fork_ns_per_page"),
            best_of_fam("anonvma", "fork_ns_per_page"),
        );
        let (pb, ab) = (
            best_of_fam("pte-chain", "kernel_bytes_peak"),
            best_of_fam("anonvma", "kernel_bytes_peak"),
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
fn tradeoff(t: &Table, winner: &str, pairs: &[(&str, &str)], backends: &[String]) -> String {
    // Where does the winner lose most, among every (form, metric) of the
    // forms in this class, at the largest size?
    let forms: BTreeSet<&str> = pairs.iter().map(|p| p.0).collect();
    let mut worst: Option<(f64, String, String, String)> = None;
    for f in forms {
        let Some(size) = t.largest(f) else { continue };
        for m in [
            "time_ns",
            "kernel_bytes_peak",
            WALK_STEPS,
            "fork_ns_per_page",
            "reclaim_pages_per_s",
        ] {
            let get = |b: &str| class_value(t, f, size, b, m);
            let Some(v) = get(winner) else {
                continue;
            };
            let Some(best) = best_of(m, backends.iter().filter_map(|b| get(b))) else {
                continue;
            };
            let Some(r) = ratio(m, v, best) else { continue };
            let who = backends
                .iter()
                .find(|b| get(b) == Some(best))
                .cloned()
                .unwrap_or_default();
            if worst.as_ref().is_none_or(|w| r > w.0) {
                worst = Some((r, f.to_string(), m.to_string(), who));
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

fn kernel_section(s: &mut String, t: &Table) {
    let has_kernel = t.rows.iter().any(|r| r.backend == KERNEL_BACKEND);
    let _ = writeln!(s, "## The model beside the live kernel\n");
    if !has_kernel {
        let _ = writeln!(
            s,
            "No live-kernel rows in this run (`rmap-bench kernel-bench --out DIR` adds them).\n"
        );
        return;
    }
    let _ = writeln!(
        s,
        "The live kernel of the machine that ran (backend `kernel`, from `rmap-bench kernel-bench`) on the same shapes, timed the same way, beside a few model backends. The model simulates the kernel's work in a user process, so its times say which rmap design costs more, not what a kernel would take.\n"
    );
    let shown = [
        KERNEL_BACKEND,
        "scan:default",
        "pte-chain:rik",
        "objrmap:anonmm",
        "anonvma:linux",
    ];
    let _ = write!(s, "| scenario | size | metric |");
    for b in shown {
        let _ = write!(s, " {b} |");
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "|---|---:|---|{}", "---:|".repeat(shown.len()));
    let mut keys: BTreeSet<(String, u64, String)> = BTreeSet::new();
    for r in t.rows.iter().filter(|r| r.backend == KERNEL_BACKEND) {
        keys.insert((r.scenario.clone(), r.size, r.metric.clone()));
    }
    for (f, size, m) in keys {
        let _ = write!(s, "| {f} | {size} | {m} ({}) |", t.unit(&m));
        for b in shown {
            let _ = write!(
                s,
                " {} |",
                t.get(&f, size, b, &m).map_or("–".to_string(), human)
            );
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s);
}

/// The ranking `choose` prints: per backend, time, metadata bytes and walk
/// cost, with a score (geometric mean of ratio to best), best first.
pub fn choose_table(rows: &[Row], form: &str) -> (String, String) {
    let t = Table::new(rows);
    let backends = t.backends();
    let Some(size) = t.largest(form) else {
        return ("nothing ran\n".into(), String::new());
    };
    let walked = backends
        .iter()
        .any(|b| t.get(form, size, b, "walks").unwrap_or(0.0) > 0.0);
    let walk = |b: &str| {
        walked.then(|| {
            t.get(form, size, b, "walk_vmas_visited_per_walk")
                .unwrap_or(0.0)
                + t.get(form, size, b, "walk_ptes_checked_per_walk")
                    .unwrap_or(0.0)
        })
    };
    type Col<'c> = (&'static str, Box<dyn Fn(&str) -> Option<f64> + 'c>);
    let cols: Vec<Col> = vec![
        (
            "time_ns",
            Box::new(|b: &str| t.get(form, size, b, "time_ns")),
        ),
        (
            "kernel_bytes_peak",
            Box::new(|b: &str| t.get(form, size, b, "kernel_bytes_peak")),
        ),
        ("walk cost", Box::new(walk)),
    ];
    let bests: Vec<Option<f64>> = cols
        .iter()
        .map(|(_, f)| best_of("x", backends.iter().filter_map(|b| f(b))))
        .collect();
    let mut scored: Vec<(String, f64, Vec<Option<f64>>)> = backends
        .iter()
        .map(|b| {
            let vals: Vec<Option<f64>> = cols.iter().map(|(_, f)| f(b)).collect();
            let mut l = 0.0;
            let mut n = 0;
            for (v, best) in vals.iter().zip(&bests) {
                if let (Some(v), Some(best)) = (v, best) {
                    let r = if *best > 0.0 {
                        v / best
                    } else if *v > 0.0 {
                        10.0
                    } else {
                        1.0
                    };
                    l += r.max(1e-12).ln();
                    n += 1;
                }
            }
            (
                b.clone(),
                if n > 0 {
                    (l / n as f64).exp()
                } else {
                    f64::INFINITY
                },
                vals,
            )
        })
        .collect();
    scored.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<4} {:<22} {:>8} {:>12} {:>14} {:>16}",
        "rank", "backend", "score", "time", "kernel bytes", "walk (VMAs+PTEs)"
    );
    for (i, (b, sc, vals)) in scored.iter().enumerate() {
        let f = |v: &Option<f64>| v.map_or("–".to_string(), human);
        let _ = writeln!(
            out,
            "{:<4} {:<22} {:>8.2} {:>12} {:>14} {:>16}",
            i + 1,
            b,
            sc,
            vals[0].map_or("–".to_string(), |ns| format!("{:.2} ms", ns / 1e6)),
            f(&vals[1]),
            f(&vals[2])
        );
    }
    let mut rec = String::new();
    if let Some((w, _, wv)) = scored.first() {
        let _ = write!(
            rec,
            "For {form} at size {size}, choose {w}: it has the best combined score of time, metadata bytes{} (each as a ratio to the best backend, geometric mean).",
            if walked { " and rmap walk length" } else { "" }
        );
        let names = ["time", "metadata bytes", "walk length"];
        for (k, (v, best)) in wv.iter().zip(&bests).enumerate() {
            if let (Some(v), Some(best)) = (v, best)
                && *best > 0.0
                && v / best >= 1.5
            {
                let who = scored
                    .iter()
                    .find(|x| x.2[k] == Some(*best))
                    .map_or("", |x| x.0.as_str());
                let _ = write!(
                    rec,
                    " It is not the best on {}: ×{} of {who}'s.",
                    names[k],
                    ratio_text(v / best)
                );
            }
        }
        if let Some((r, rs, _)) = scored.get(1) {
            let _ = write!(rec, " The runner-up is {r} (score {rs:.2}).");
        }
        if let Some((l, ls, _)) = scored.last() {
            let _ = write!(rec, " The worst fit is {l} (score {ls:.2}).");
        }
        if !walked {
            rec.push_str(" This workload never walks the reverse map (no reclaim), so the choice rests on the cost of keeping the map up to date.");
        }
    }
    (out, rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(scenario: &str, size: u64, backend: &str, metric: &str, v: f64) -> Row {
        Row {
            scenario: scenario.into(),
            size,
            size_unit: "u".into(),
            backend: backend.into(),
            metric: metric.into(),
            value: v,
            unit: "x".into(),
            min: v,
            max: v,
            reps: 1,
        }
    }

    #[test]
    fn tables_mark_the_best_and_give_ratios() {
        let rows = vec![
            r(
                "db-window",
                10,
                "objrmap:mccracken",
                "walk_vmas_visited_per_walk",
                1000.0,
            ),
            r(
                "db-window",
                10,
                "objrmap:prio",
                "walk_vmas_visited_per_walk",
                1.0,
            ),
            r(
                "db-window",
                10,
                "objrmap:mccracken",
                "reclaim_pages_per_s",
                100.0,
            ),
            r(
                "db-window",
                10,
                "objrmap:prio",
                "reclaim_pages_per_s",
                1000.0,
            ),
        ];
        let t = Table::new(&rows);
        let s = metric_table(
            &t,
            "db-window",
            10,
            &t.backends(),
            &[
                "walk_vmas_visited_per_walk".into(),
                "reclaim_pages_per_s".into(),
            ],
        );
        assert!(s.contains("| objrmap:prio | **1** ★ | **1000** ★ |"), "{s}");
        assert!(
            s.contains("| objrmap:mccracken | 1000 (×1000) | 100 (×10.0) |"),
            "{s}"
        );
        let h = history(&rows);
        let db = h.iter().find(|c| c.claim.starts_with("db-window")).unwrap();
        assert_eq!(db.holds, Some(true), "{}", db.found);
        let fork = h
            .iter()
            .find(|c| c.claim.starts_with("fork costs"))
            .unwrap();
        assert_eq!(fork.holds, None);
    }

    #[test]
    fn history_notices_a_disagreement() {
        let rows = vec![
            r("fork-storm", 64, "pte-chain:rik", "fork_ns_per_page", 10.0),
            r("fork-storm", 64, "anonvma:linux", "fork_ns_per_page", 20.0),
            r("fork-storm", 64, "objrmap:anonmm", "fork_ns_per_page", 5.0),
        ];
        let h = history(&rows);
        let c = h
            .iter()
            .find(|c| c.claim.starts_with("fork costs"))
            .unwrap();
        assert_eq!(c.holds, Some(false), "{}", c.found);
        let md = render(&rows, None, &BTreeSet::new());
        assert!(md.contains("**differs**"), "{md}");
        assert!(md.contains("## Which rmap strategy"));
    }

    #[test]
    fn classes_rank_by_geometric_mean() {
        let rows = vec![
            r("fault-storm", 8, "a:x", "fault_ns_p50", 100.0),
            r("fault-storm", 8, "b:y", "fault_ns_p50", 200.0),
            r("fault-storm", 8, "a:x", "time_ns", 400.0),
            r("fault-storm", 8, "b:y", "time_ns", 100.0),
            r("fault-storm", 8, "a:x", "fault_ns_p99", 100.0),
            r("fault-storm", 8, "b:y", "fault_ns_p99", 100.0),
        ];
        let t = Table::new(&rows);
        let sc = class_scores(
            &t,
            &[
                ("fault-storm", "fault_ns_p50"),
                ("fault-storm", "fault_ns_p99"),
                ("fault-storm", "time_ns"),
            ],
            &t.backends(),
        );
        // a: (1 * 1 * 4)^(1/3) = 1.587; b: (2 * 1 * 1)^(1/3) = 1.26.
        assert_eq!(sc[0].0, "b:y");
        assert!((sc[0].1 - 2f64.cbrt()).abs() < 1e-9);
        assert!((sc[1].1 - 4f64.cbrt()).abs() < 1e-9);
        let (table, rec) = choose_table(&rows, "fault-storm");
        assert!(table.lines().nth(1).unwrap().contains("b:y"), "{table}");
        assert!(
            rec.contains("choose b:y") && rec.contains("never walks"),
            "{rec}"
        );
    }

    #[test]
    fn chain_walks_are_scored_by_vmas_plus_ptes() {
        // A chain walk has no VMAs-visited row; a list walk visits 400
        // VMAs and checks 1 PTE; a tree walk visits 1 and checks 1.
        let rows = vec![
            r(
                "cow-server",
                8,
                "chain:x",
                "walk_ptes_checked_per_walk",
                1.0,
            ),
            r("cow-server", 8, "list:x", "walk_ptes_checked_per_walk", 1.0),
            r(
                "cow-server",
                8,
                "list:x",
                "walk_vmas_visited_per_walk",
                400.0,
            ),
            r("cow-server", 8, "tree:x", "walk_ptes_checked_per_walk", 1.0),
            r("cow-server", 8, "tree:x", "walk_vmas_visited_per_walk", 1.0),
        ];
        let t = Table::new(&rows);
        let sc = class_scores(&t, &[("cow-server", WALK_STEPS)], &t.backends());
        let got: Vec<(&str, f64)> = sc.iter().map(|(b, v)| (b.as_str(), v.round())).collect();
        assert_eq!(
            got,
            vec![("chain:x", 1.0), ("tree:x", 2.0), ("list:x", 401.0)]
        );
    }
}
