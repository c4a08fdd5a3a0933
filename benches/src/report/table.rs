//! Result rows indexed for look-ups, and the comparisons every part of the
//! report makes: which value of a metric is best, and how far another is
//! from it.

use std::collections::{BTreeMap, BTreeSet};

use rmap_metrics::{
    Better, KERNEL_BACKEND, Metric, Row, WALK_PTES_CHECKED_PER_WALK, WALK_STEPS_PER_WALK,
    WALK_VMAS_VISITED_PER_WALK,
};
use rmap_traces::scenario::{self, Form};

/// Rows indexed for look-ups.
pub struct Table<'a> {
    pub(super) rows: &'a [Row],
    by: BTreeMap<(&'a str, u64, &'a str, &'a str), &'a Row>,
}

impl<'a> Table<'a> {
    /// Indexes `rows` (a later row with the same scenario, size, backend
    /// and metric wins).
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

    /// The value of `metric` (a [`Metric`](rmap_metrics::Metric) or a metric name) for one
    /// scenario form, size and backend, if a row has it.
    pub fn get(
        &self,
        scenario: &str,
        size: u64,
        backend: &str,
        metric: impl AsRef<str>,
    ) -> Option<f64> {
        self.by
            .get(&(scenario, size, backend, metric.as_ref()))
            .map(|r| r.value)
    }

    /// The row of one scenario form, size, backend and metric name.
    pub fn row(&self, scenario: &str, size: u64, backend: &str, metric: &str) -> Option<&'a Row> {
        self.by.get(&(scenario, size, backend, metric)).copied()
    }

    /// The value of `m`, a row's or a derived one:
    /// [`WALK_STEPS_PER_WALK`] is VMAs visited plus PTEs checked per walk
    /// (a chain walk has no VMAs-visited row: 0).
    pub fn value(&self, f: &str, size: u64, b: &str, m: Metric) -> Option<f64> {
        if m != WALK_STEPS_PER_WALK {
            return self.get(f, size, b, m);
        }
        let ptes = self.get(f, size, b, WALK_PTES_CHECKED_PER_WALK)?;
        Some(
            ptes + self
                .get(f, size, b, WALK_VMAS_VISITED_PER_WALK)
                .unwrap_or(0.0),
        )
    }

    /// The samples behind [`Table::value`]: a timed row's kept samples (its
    /// value alone when it kept none), the value alone for exact metrics.
    pub fn samples(&self, f: &str, size: u64, b: &str, m: Metric) -> Option<Vec<f64>> {
        if m.is_timed() {
            super::verdict::samples_of(self, f, size, b, m)
        } else {
            self.value(f, size, b, m).map(|v| vec![v])
        }
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
        let mut out: Vec<String> = rmap_registry::all_specs()
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

    /// The backends of `family` (`pte-chain`, `anonvma`, ...) among
    /// `backends`.
    pub fn family<'b>(backends: &'b [String], family: &str) -> Vec<&'b String> {
        backends
            .iter()
            .filter(|b| b.split(':').next() == Some(family))
            .collect()
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

    /// The unit the rows give `metric` (empty if no row has it).
    pub(super) fn unit(&self, metric: &str) -> String {
        self.rows
            .iter()
            .find(|r| r.metric == metric)
            .map_or_else(String::new, |r| r.unit.clone())
    }

    /// The size unit the rows give a scenario form (empty if none).
    pub(super) fn size_unit(&self, scenario: &str) -> String {
        self.rows
            .iter()
            .find(|r| r.scenario == scenario)
            .map_or_else(String::new, |r| r.size_unit.clone())
    }
}

/// How much worse `v` is than `best` for a metric that is `better` one way
/// (1 = as good); `None` when the ratio is undefined (a zero, or a metric
/// that is never ranked).
pub fn ratio(better: Better, v: f64, best: f64) -> Option<f64> {
    match better {
        Better::Higher => (v > 0.0).then(|| best / v),
        Better::Lower => (best > 0.0).then(|| v / best),
        Better::Neither => None,
    }
}

/// The best of the finite `vals` for a metric that is `better` one way;
/// `None` when there is none, or the metric is never ranked.
pub fn best_of(better: Better, vals: impl Iterator<Item = f64>) -> Option<f64> {
    let vals: Vec<f64> = vals.filter(|v| v.is_finite()).collect();
    if vals.is_empty() {
        return None;
    }
    match better {
        Better::Higher => Some(vals.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
        Better::Lower => Some(vals.iter().copied().fold(f64::INFINITY, f64::min)),
        Better::Neither => None,
    }
}

/// A ratio as the report writes it: 3 significant digits or so.
pub fn ratio_text(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}")
    } else if r >= 10.0 {
        format!("{r:.1}")
    } else {
        format!("{r:.2}")
    }
}
