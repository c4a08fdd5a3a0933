//! Comparing result directories, as mmtests' compare-kernels does: per
//! scenario form, size, metric and backend, each later run's median as a
//! ratio to the first run's, with the ratio's interval and a mark saying
//! whether the change is significant. Counts and work units are exact, so
//! any difference in them is flagged: two runs of the same revision must
//! have none.
//!
//! The ratio's interval is a seeded bootstrap (percentile, 95%) of the
//! ratio of the two medians, each resampled from its run's samples; the
//! mark is the same test as everywhere in the report
//! ([`crate::stats::compare_samples`]: Mann-Whitney U at 5% and a change
//! beyond 2%), so that two runs of one revision are marked significant in
//! about 5% of comparisons or fewer, by chance alone.
//!
//! One correction makes that hold on a real machine: two runs made at
//! different times see a host that is faster or slower as a whole (another
//! build, a frequency change), which would mark nearly every time at once.
//! So each later run's *machine factor*, the median ratio over all its
//! timed comparisons, is reported on its own line, and the marks test each
//! row's samples divided by it: a mark means "this row changed relative to
//! the rest of the run". A change that slows every backend alike shows in
//! the machine factor (and in the raw ratios), not in the marks.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rmap_metrics::{Better, Metric, Row};
use serde::Serialize;

use crate::plots::human;
use crate::stats::{self, Difference, Resampler};

/// What changed in one comparison.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    /// No significant change (or no change of an exact value).
    Same,
    /// Significantly better in the metric's direction.
    Better,
    /// Significantly worse.
    Worse,
    /// An exact value of the model (count, bytes, work units) differs.
    CountChanged,
    /// A timed value without samples, or a count of the live kernel that
    /// differs (a measurement, not an exact count): nothing can be tested.
    Untested,
}

impl Mark {
    /// The mark as the Markdown table shows it.
    pub fn symbol(self) -> &'static str {
        match self {
            Mark::Same => "",
            Mark::Better => " +",
            Mark::Worse => " −",
            Mark::CountChanged => " **!**",
            Mark::Untested => " ?",
        }
    }
}

/// One comparison: a row of the first run against the same row of another.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Cell {
    pub scenario: String,
    pub size: u64,
    pub metric: String,
    pub unit: String,
    pub backend: String,
    /// Which run (1 for the second directory given, 2 for the third, ...).
    pub run: usize,
    pub base: f64,
    pub value: f64,
    /// `value / base` (`None` when the base is 0).
    pub ratio: Option<f64>,
    /// 95% bootstrap interval of the ratio (timed metrics with samples).
    pub ratio_ci: Option<(f64, f64)>,
    /// The mark, for the row's change relative to the run's machine factor.
    pub mark: Mark,
    /// The run's machine factor: the median ratio over all its timed rows.
    pub machine_factor: f64,
}

/// Rows by (scenario, size, backend, metric).
type Index<'a> = BTreeMap<(&'a str, u64, &'a str, &'a str), &'a Row>;

/// One line of a Markdown table: the base value and each later run's cell.
type Line<'a> = (f64, Vec<Option<&'a Cell>>);

/// Every comparison of `others` (later runs) against `base`, in the
/// base's row order; rows that a run lacks are left out.
pub fn compare(base: &[Row], others: &[Vec<Row>]) -> Vec<Cell> {
    let index: Vec<Index> = others
        .iter()
        .map(|rows| {
            rows.iter()
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
                .collect()
        })
        .collect();
    let factors: Vec<f64> = index
        .iter()
        .map(|idx| {
            let ratios: Vec<f64> = base
                .iter()
                .filter(|b| is_timed(b) && b.value > 0.0)
                .filter_map(|b| {
                    let key = (
                        b.scenario.as_str(),
                        b.size,
                        b.backend.as_str(),
                        b.metric.as_str(),
                    );
                    idx.get(&key).map(|o| o.value / b.value)
                })
                .filter(|r| r.is_finite() && *r > 0.0)
                .collect();
            if ratios.is_empty() {
                1.0
            } else {
                stats::median(&ratios)
            }
        })
        .collect();
    let mut out = Vec::new();
    for b in base {
        let key = (
            b.scenario.as_str(),
            b.size,
            b.backend.as_str(),
            b.metric.as_str(),
        );
        for (i, idx) in index.iter().enumerate() {
            if let Some(o) = idx.get(&key) {
                out.push(cell(b, o, i + 1, factors[i]));
            }
        }
    }
    out
}

/// Each later run's machine factor (see the module documentation).
pub fn machine_factors(cells: &[Cell]) -> Vec<f64> {
    let runs = cells.iter().map(|c| c.run).max().unwrap_or(0);
    (1..=runs)
        .map(|run| {
            cells
                .iter()
                .find(|c| c.run == run)
                .map_or(1.0, |c| c.machine_factor)
        })
        .collect()
}

/// Whether a row is timed: by its metric, or for an unknown metric by
/// whether it kept samples.
fn is_timed(r: &Row) -> bool {
    Metric::by_name(&r.metric).map_or(!r.samples.is_empty(), |m| m.is_timed())
}

fn cell(b: &Row, o: &Row, run: usize, factor: f64) -> Cell {
    let metric = Metric::by_name(&b.metric);
    let timed = is_timed(b);
    let better = metric.map_or(Better::Lower, |m| m.better);
    let (bs, os) = (
        b.sample_values().unwrap_or_default(),
        o.sample_values().unwrap_or_default(),
    );
    let (mark, ratio_ci) = if !timed {
        let same = b.value.to_bits() == o.value.to_bits() || b.value == o.value;
        // The live kernel's counts (resident pages, faults) are
        // measurements of a real system, not the model's exact counts.
        let changed = if b.backend == rmap_metrics::KERNEL_BACKEND {
            Mark::Untested
        } else {
            Mark::CountChanged
        };
        (if same { Mark::Same } else { changed }, None)
    } else if bs.is_empty() || os.is_empty() {
        (Mark::Untested, None)
    } else {
        let d = match better {
            Better::Neither => Difference::Same,
            _ => {
                let scaled: Vec<f64> = os.iter().map(|x| x / factor).collect();
                stats::compare_samples(&scaled, &bs, better == Better::Lower)
            }
        };
        let label = format!("{}|{}|{}|{}|{run}", b.scenario, b.size, b.backend, b.metric);
        let ci = Resampler::new(&label).interval(|r| r.median(&os) / r.median(&bs));
        let mark = match d {
            Difference::Better => Mark::Better,
            Difference::Worse => Mark::Worse,
            Difference::Same => Mark::Same,
        };
        (mark, ci.0.is_finite().then_some(ci))
    };
    Cell {
        scenario: b.scenario.clone(),
        size: b.size,
        metric: b.metric.clone(),
        unit: b.unit.clone(),
        backend: b.backend.clone(),
        run,
        base: b.value,
        value: o.value,
        ratio: (b.value != 0.0).then(|| o.value / b.value),
        ratio_ci,
        mark,
        machine_factor: factor,
    }
}

/// How many comparisons there are, how many timed ones were marked
/// significant, and how many exact values changed.
#[derive(Serialize, Clone, Copy, Debug, Default, PartialEq)]
pub struct Summary {
    pub compared: usize,
    pub timed: usize,
    pub significant: usize,
    pub counts_changed: usize,
}

/// The summary of `cells`.
pub fn summary(cells: &[Cell]) -> Summary {
    let mut s = Summary {
        compared: cells.len(),
        ..Summary::default()
    };
    for c in cells {
        match c.mark {
            Mark::CountChanged => s.counts_changed += 1,
            Mark::Better | Mark::Worse => {
                s.timed += 1;
                s.significant += 1;
            }
            Mark::Same if Metric::by_name(&c.metric).is_some_and(|m| m.is_timed()) => s.timed += 1,
            _ => {}
        }
    }
    s
}

/// The Markdown tables: one per scenario form and size, a line per
/// (metric, backend), the first run's value and each later run's ratio.
pub fn markdown(cells: &[Cell], names: &[String]) -> String {
    let s = summary(cells);
    let mut out = String::new();
    let _ = writeln!(out, "# rmap-bench compare\n");
    let _ = writeln!(
        out,
        "Base: `{}`; compared: {}.\n",
        names[0],
        names[1..]
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        out,
        "{} comparisons: {} of {} timed values changed significantly ({:.1}%; about 5% or fewer are expected by chance between runs of one revision), {} exact values (counts, bytes, work units) differ{}.\n",
        s.compared,
        s.significant,
        s.timed,
        if s.timed > 0 {
            s.significant as f64 * 100.0 / s.timed as f64
        } else {
            0.0
        },
        s.counts_changed,
        if s.counts_changed > 0 {
            " (**!**: the model did different work)"
        } else {
            ""
        }
    );
    for (i, f) in machine_factors(cells).iter().enumerate() {
        let _ = writeln!(
            out,
            "- machine factor of `{}`: ×{f:.3} (the median ratio of all its times: the host's speed that day, or a change common to every backend)",
            names[i + 1]
        );
    }
    let _ = writeln!(
        out,
        "\nEach later run is shown as its ratio to the base (×1.00 is unchanged) with the ratio's 95% bootstrap interval. Marks: `+` significantly better, `−` significantly worse, relative to the run's machine factor (Mann-Whitney U, p < 0.05, and beyond 2%), `!` an exact value of the model differs, `?` nothing to test (a time without samples, or a live-kernel count that moved).\n"
    );
    let mut groups: BTreeMap<(String, u64), Vec<&Cell>> = BTreeMap::new();
    let mut order: Vec<(String, u64)> = Vec::new();
    for c in cells {
        let k = (c.scenario.clone(), c.size);
        if !groups.contains_key(&k) {
            order.push(k.clone());
        }
        groups.entry(k).or_default().push(c);
    }
    for k in order {
        let cs = &groups[&k];
        let _ = writeln!(out, "## {} at {}\n", k.0, k.1);
        let _ = write!(out, "| metric | backend | {} |", names[0]);
        for n in &names[1..] {
            let _ = write!(out, " {n} |");
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "|---|---|---:|{}", "---:|".repeat(names.len() - 1));
        let mut lines: BTreeMap<(&str, &str), Line> = BTreeMap::new();
        let mut line_order = Vec::new();
        for c in cs {
            let lk = (c.metric.as_str(), c.backend.as_str());
            let e = lines.entry(lk).or_insert_with(|| {
                line_order.push(lk);
                (c.base, vec![None; names.len() - 1])
            });
            e.1[c.run - 1] = Some(c);
        }
        for lk in line_order {
            let (base, runs) = &lines[&lk];
            let _ = write!(out, "| {} | {} | {} |", lk.0, lk.1, human(*base));
            for c in runs {
                let cell = match c {
                    None => "–".to_string(),
                    Some(c) => {
                        let r = c.ratio.map_or("–".to_string(), |r| format!("×{r:.3}"));
                        let ci = c
                            .ratio_ci
                            .map_or(String::new(), |(lo, hi)| format!(" [{lo:.3}, {hi:.3}]"));
                        format!("{r}{ci}{}", c.mark.symbol())
                    }
                };
                let _ = write!(out, " {cell} |");
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(out);
    }
    out
}

/// The cells as CSV (header first).
pub fn csv(cells: &[Cell]) -> Result<String, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "scenario",
        "size",
        "metric",
        "unit",
        "backend",
        "run",
        "base",
        "value",
        "ratio",
        "ratio_lo",
        "ratio_hi",
        "mark",
        "machine_factor",
    ])
    .map_err(|e| e.to_string())?;
    let f = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x}"));
    for c in cells {
        let mark = serde_json::to_value(c.mark)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        w.write_record([
            c.scenario.clone(),
            c.size.to_string(),
            c.metric.clone(),
            c.unit.clone(),
            c.backend.clone(),
            c.run.to_string(),
            format!("{}", c.base),
            format!("{}", c.value),
            f(c.ratio),
            f(c.ratio_ci.map(|x| x.0)),
            f(c.ratio_ci.map(|x| x.1)),
            mark,
            format!("{}", c.machine_factor),
        ])
        .map_err(|e| e.to_string())?;
    }
    String::from_utf8(w.into_inner().map_err(|e| e.to_string())?).map_err(|e| e.to_string())
}
