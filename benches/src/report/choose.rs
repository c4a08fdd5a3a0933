//! The ranking `rmap-bench choose` prints for one workload.
//!
//! The rank rests on exact cost, so that the same workload ranks the same
//! way on every run: each backend's score is the geometric mean of its
//! ratio to the best on work units (the model's exact count of the work of
//! every op), metadata bytes at the peak and, when the workload walks the
//! reverse map, walk length; backends within 0.5% of each other share a
//! rank. Time is shown beside it with its confidence interval, and has a
//! verdict of its own: a backend is fastest only when significantly so
//! (see [`super::verdict`]), else the times tie.

use std::fmt::Write as _;

use rmap_metrics::{KERNEL_BYTES_PEAK, Row, TIME_NS, WALK_STEPS_PER_WALK, WALKS, WORK_UNITS};
use serde::Serialize;

use super::table::Table;
use super::verdict::{Composite, EXACT_TIE, Verdict, metric_verdict};
use crate::plots::human;

/// One backend's line of the ranking.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Ranked {
    /// 1 for the best; backends that tie share the rank of the first.
    pub rank: usize,
    pub backend: String,
    /// Exact-cost score (1 = best on every column).
    pub score: f64,
    pub time_ns: Option<f64>,
    /// The median time's confidence interval.
    pub time_ci: Option<(f64, f64)>,
    pub work_units: Option<f64>,
    pub kernel_bytes: Option<f64>,
    pub walk_steps: Option<f64>,
}

/// The ranking of one workload.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Ranking {
    pub workload: String,
    pub size: u64,
    pub size_unit: String,
    /// Whether the workload walks the reverse map (walk length counts).
    pub walked: bool,
    pub ranking: Vec<Ranked>,
    /// The fastest backend, or `None` when times tie.
    pub fastest: Option<String>,
    /// The backends whose times cannot be told apart from the fastest
    /// median's (one when `fastest` is set).
    pub time_leaders: Vec<String>,
    pub recommendation: String,
}

/// The ranking of `form` (`None` when it has no rows).
pub fn choose_ranking(rows: &[Row], form: &str) -> Option<Ranking> {
    let t = Table::new(rows);
    let backends = t.backends();
    let size = t.largest(form)?;
    let walked = backends
        .iter()
        .any(|b| t.get(form, size, b, WALKS).unwrap_or(0.0) > 0.0);
    let mut pairs = vec![(form, WORK_UNITS), (form, KERNEL_BYTES_PEAK)];
    if walked {
        pairs.push((form, WALK_STEPS_PER_WALK));
    }
    let comp = Composite::new(&t, &pairs, &backends, |m| m);
    let scores = comp.scores();
    let mut ranking: Vec<Ranked> = Vec::new();
    for (i, (b, sc)) in scores.iter().enumerate() {
        let rank = match ranking.last() {
            Some(prev) if *sc <= scores[prev.rank - 1].1 * EXACT_TIE => prev.rank,
            _ => i + 1,
        };
        ranking.push(Ranked {
            rank,
            backend: b.clone(),
            score: *sc,
            time_ns: t.get(form, size, b, TIME_NS),
            time_ci: t.row(form, size, b, TIME_NS.name).and_then(|r| r.ci()),
            work_units: t.get(form, size, b, WORK_UNITS),
            kernel_bytes: t.get(form, size, b, KERNEL_BYTES_PEAK),
            walk_steps: walked
                .then(|| t.value(form, size, b, WALK_STEPS_PER_WALK))
                .flatten(),
        });
    }
    let by_time = metric_verdict(&t, form, size, TIME_NS, &backends);
    let mut r = Ranking {
        workload: form.to_string(),
        size,
        size_unit: t.size_unit(form),
        walked,
        ranking,
        fastest: match &by_time {
            Verdict::Winner(w) => Some(w.clone()),
            _ => None,
        },
        time_leaders: by_time.leaders().iter().map(|s| s.to_string()).collect(),
        recommendation: String::new(),
    };
    r.recommendation = recommendation(&r);
    Some(r)
}

impl Ranking {
    /// `size 64 MiB`, or `trace` for a trace file.
    pub fn size_text(&self) -> String {
        if self.size_unit == crate::runner::TRACE_UNIT {
            "trace".to_string()
        } else {
            format!("size {} {}", self.size, self.size_unit)
        }
    }

    /// The table `choose` prints.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<5} {:<22} {:>7} {:>12} {:>9} {:>12} {:>14} {:>10}",
            "rank",
            "backend",
            "score",
            "work units",
            "time ms",
            "time CI ±",
            "kernel bytes",
            "walk"
        );
        let f = |v: Option<f64>| v.map_or("–".to_string(), human);
        for x in &self.ranking {
            let ci = match (x.time_ci, x.time_ns) {
                (Some((lo, hi)), Some(v)) if v > 0.0 => {
                    format!("{:.0}%", (hi - lo) / 2.0 / v * 100.0)
                }
                _ => "–".to_string(),
            };
            let tied = self.ranking.iter().filter(|y| y.rank == x.rank).count() > 1;
            let _ = writeln!(
                out,
                "{:<5} {:<22} {:>7.3} {:>12} {:>9} {:>12} {:>14} {:>10}",
                format!("{}{}", x.rank, if tied { "=" } else { "" }),
                x.backend,
                x.score,
                f(x.work_units),
                x.time_ns
                    .map_or("–".to_string(), |ns| format!("{:.2}", ns / 1e6)),
                ci,
                x.kernel_bytes
                    .map_or("–".to_string(), crate::plots::human_bytes),
                f(x.walk_steps)
            );
        }
        out
    }
}

/// The recommendation under the ranking.
fn recommendation(r: &Ranking) -> String {
    let mut rec = String::new();
    let Some(first) = r.ranking.first() else {
        return rec;
    };
    let top: Vec<&str> = r
        .ranking
        .iter()
        .filter(|x| x.rank == first.rank)
        .map(|x| x.backend.as_str())
        .collect();
    let what = format!(
        "work units, metadata bytes{}",
        if r.walked {
            " and rmap walk length"
        } else {
            ""
        }
    );
    if top.len() == 1 {
        let _ = write!(
            rec,
            "For {} ({}), choose {}: the lowest exact cost ({what}, each as a ratio to the best backend, geometric mean).",
            r.workload,
            r.size_text(),
            top[0]
        );
    } else {
        let _ = write!(
            rec,
            "For {} ({}), a tie on exact cost ({what}): {}.",
            r.workload,
            r.size_text(),
            top.join(", ")
        );
    }
    match (&r.fastest, r.time_leaders.len()) {
        (Some(f), _) => {
            let _ = write!(rec, " By time, {f} is significantly the fastest.");
        }
        (None, n) if n > 1 => {
            let _ = write!(
                rec,
                " By time, {} cannot be told apart (Mann-Whitney U, 95%).",
                r.time_leaders.join(", ")
            );
        }
        _ => {}
    }
    if let Some(last) = r.ranking.last() {
        let _ = write!(
            rec,
            " The worst fit is {} (score {:.2}).",
            last.backend, last.score
        );
    }
    if !r.walked {
        rec.push_str(" This workload never walks the reverse map (no reclaim), so the choice rests on the cost of keeping the map up to date.");
    }
    rec
}
