//! Who wins a metric, or a composite score, and when the answer is "tie".
//!
//! - One metric ([`metric_verdict`]): an exact metric's best value wins,
//!   shared by every backend with that value; a timed metric's best median
//!   wins only when it is significantly better than every other backend
//!   ([`crate::stats::compare_samples`]: Mann-Whitney U and the noise
//!   threshold), else it ties with each backend it cannot be told apart
//!   from.
//! - A composite score (a class of workload, `choose`) is the geometric
//!   mean of ratios to the best over some (form, metric) pairs
//!   ([`Composite`]); with timed pairs its winner needs the bootstrap
//!   ([`crate::stats::Resampler`]) to put it ahead of every other backend in
//!   `1 - ALPHA/2` of the resamples and by more than
//!   [`crate::stats::CLASS_NOISE`]; with exact pairs only, backends within
//!   [`EXACT_TIE`] of the best tie.

use std::collections::BTreeMap;

use rmap_metrics::{Better, Metric};

use super::table::{Table, best_of};
use crate::stats::{self, ALPHA, CLASS_NOISE, Difference, Resampler};

/// Exact scores within this factor of the best tie with it (0.5%: work
/// units differ by a few units between presets that do the same thing).
pub const EXACT_TIE: f64 = 1.005;

/// Who won.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// One backend, significantly (or, for exact values, strictly).
    Winner(String),
    /// The best and those it cannot be told apart from, best first.
    Tie(Vec<String>),
    /// Nothing to rank (no values, or a metric that is never ranked).
    None,
}

impl Verdict {
    /// The backends that share first place.
    pub fn leaders(&self) -> Vec<&str> {
        match self {
            Verdict::Winner(w) => vec![w.as_str()],
            Verdict::Tie(v) => v.iter().map(String::as_str).collect(),
            Verdict::None => Vec::new(),
        }
    }

    /// `W`, `tie: A, B, C` or `–`.
    pub fn text(&self) -> String {
        match self {
            Verdict::Winner(w) => w.clone(),
            Verdict::Tie(v) => format!("tie: {}", v.join(", ")),
            Verdict::None => "–".into(),
        }
    }

    fn of(mut leaders: Vec<String>) -> Verdict {
        match leaders.len() {
            0 => Verdict::None,
            1 => Verdict::Winner(leaders.remove(0)),
            _ => Verdict::Tie(leaders),
        }
    }
}

/// The samples behind a value: the row's samples for a timed metric that
/// kept them, else the value itself (exact metrics do not vary).
pub fn samples_of(t: &Table, form: &str, size: u64, b: &str, m: Metric) -> Option<Vec<f64>> {
    let row = t.row(form, size, b, m.name)?;
    if m.is_timed() {
        let s = row.sample_values().ok().filter(|s| !s.is_empty());
        Some(s.unwrap_or_else(|| vec![row.value]))
    } else {
        Some(vec![row.value])
    }
}

/// Whether the timed rows of a table kept their samples (a `results.csv`
/// from before intervals did not: its timed comparisons cannot be tested).
pub fn has_samples(t: &Table) -> bool {
    t.rows.iter().any(|r| !r.samples.is_empty())
}

/// Who wins `m` on `form` at `size` among `backends`.
pub fn metric_verdict(t: &Table, form: &str, size: u64, m: Metric, backends: &[String]) -> Verdict {
    let vals: Vec<(&String, f64)> = backends
        .iter()
        .filter_map(|b| t.get(form, size, b, m).map(|v| (b, v)))
        .filter(|(_, v)| v.is_finite())
        .collect();
    let Some(best) = best_of(m.better, vals.iter().map(|x| x.1)) else {
        return Verdict::None;
    };
    let Some(&(lead, _)) = vals.iter().find(|x| x.1 == best) else {
        return Verdict::None;
    };
    if !m.is_timed() {
        return Verdict::of(
            vals.iter()
                .filter(|x| x.1 == best)
                .map(|x| x.0.clone())
                .collect(),
        );
    }
    let lower = m.better == Better::Lower;
    let lead_s = samples_of(t, form, size, lead, m).unwrap_or_default();
    let mut tied = vec![lead.clone()];
    let mut rest: Vec<&(&String, f64)> = vals.iter().filter(|x| x.0 != lead).collect();
    rest.sort_by(|a, b| {
        let k = |v: f64| if lower { v } else { -v };
        k(a.1).total_cmp(&k(b.1))
    });
    for (b, _) in rest {
        let s = samples_of(t, form, size, b, m).unwrap_or_default();
        if stats::compare_samples(&lead_s, &s, lower) != Difference::Better {
            tied.push((*b).clone());
        }
    }
    Verdict::of(tied)
}

/// A composite score over (form, metric) pairs, each at the form's largest
/// size: per backend the geometric mean of its ratio to the pair's best.
pub struct Composite<'t> {
    t: &'t Table<'t>,
    /// (form, size, metric) of every pair that has a best value.
    pairs: Vec<(String, u64, Metric)>,
    /// Backends with a value for every pair.
    pub backends: Vec<String>,
}

impl<'t> Composite<'t> {
    /// The pairs that ran, and the backends that have all of them. A
    /// metric not present is replaced by `substitute(metric)` when given
    /// (used to price times in work units).
    pub fn new(
        t: &'t Table<'t>,
        pairs: &[(&str, Metric)],
        backends: &[String],
        substitute: impl Fn(Metric) -> Metric,
    ) -> Composite<'t> {
        let mut ps = Vec::new();
        for &(f, m) in pairs {
            let m = substitute(m);
            let Some(size) = t.largest(f) else { continue };
            if m.better == Better::Neither {
                continue;
            }
            if backends.iter().any(|b| t.value(f, size, b, m).is_some()) {
                ps.push((f.to_string(), size, m));
            }
        }
        let backends = backends
            .iter()
            .filter(|b| {
                !ps.is_empty() && ps.iter().all(|(f, s, m)| t.value(f, *s, b, *m).is_some())
            })
            .cloned()
            .collect();
        Composite {
            t,
            pairs: ps,
            backends,
        }
    }

    /// Whether any pair is timed.
    pub fn timed(&self) -> bool {
        self.pairs.iter().any(|p| p.2.is_timed())
    }

    /// ln of every backend's score from `value` (a value per backend and
    /// pair): mean over pairs of ln(v) - ln(best). A zero best (no objects
    /// at all) counts any non-zero value as 10× worse.
    fn log_scores(&self, mut value: impl FnMut(&str, usize) -> f64) -> Vec<f64> {
        let mut sums = vec![0.0; self.backends.len()];
        for (p, (_, _, m)) in self.pairs.iter().enumerate() {
            let v: Vec<f64> = self.backends.iter().map(|b| value(b, p)).collect();
            let Some(best) = best_of(m.better, v.iter().copied()) else {
                continue;
            };
            for (s, &x) in sums.iter_mut().zip(&v) {
                *s += match (m.better, best > 0.0, x > 0.0) {
                    (Better::Higher, _, true) => (best / x).ln(),
                    (Better::Lower, true, _) => (x / best).max(1e-12).ln(),
                    (_, _, false) if best == 0.0 || m.better == Better::Higher => {
                        if x == best {
                            0.0
                        } else {
                            10f64.ln()
                        }
                    }
                    _ => 10f64.ln(),
                };
            }
        }
        let n = self.pairs.len().max(1) as f64;
        sums.into_iter().map(|s| s / n).collect()
    }

    /// Every backend's score (1 = best on every pair), best first.
    pub fn scores(&self) -> Vec<(String, f64)> {
        let ls = self.log_scores(|b, p| {
            let (f, s, m) = &self.pairs[p];
            self.t.value(f, *s, b, *m).unwrap_or(f64::NAN)
        });
        let mut v: Vec<(String, f64)> = self
            .backends
            .iter()
            .cloned()
            .zip(ls.into_iter().map(f64::exp))
            .collect();
        v.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        v
    }

    /// The samples of every (backend, pair), for resampling.
    fn samples(&self) -> Vec<Vec<Vec<f64>>> {
        self.backends
            .iter()
            .map(|b| {
                self.pairs
                    .iter()
                    .map(|(f, s, m)| self.t.samples(f, *s, b, *m).unwrap_or_default())
                    .collect()
            })
            .collect()
    }

    /// Who wins: see the module documentation. `label` seeds the bootstrap.
    pub fn verdict(&self, label: &str) -> Verdict {
        let scores = self.scores();
        let Some((lead, lead_score)) = scores.first().cloned() else {
            return Verdict::None;
        };
        if !self.timed() {
            return Verdict::of(
                scores
                    .iter()
                    .filter(|(_, s)| *s <= lead_score * EXACT_TIE)
                    .map(|(b, _)| b.clone())
                    .collect(),
            );
        }
        let li = self
            .backends
            .iter()
            .position(|b| *b == lead)
            .expect("listed");
        let samples = self.samples();
        let mut wins = vec![0usize; self.backends.len()];
        let mut rs = Resampler::new(label);
        for _ in 0..stats::RESAMPLES {
            let drawn: Vec<Vec<f64>> = samples
                .iter()
                .map(|per| per.iter().map(|s| rs.median(s)).collect())
                .collect();
            let ls = self.log_scores(|b, p| {
                let i = self.backends.iter().position(|x| x == b).expect("listed");
                drawn[i][p]
            });
            for (i, l) in ls.iter().enumerate() {
                if ls[li] < *l {
                    wins[i] += 1;
                }
            }
        }
        let need = ((1.0 - ALPHA / 2.0) * stats::RESAMPLES as f64).ceil() as usize;
        let by_score: BTreeMap<&str, f64> = scores.iter().map(|(b, s)| (b.as_str(), *s)).collect();
        let tied: Vec<String> = scores
            .iter()
            .map(|(b, _)| b)
            .filter(|b| {
                if **b == lead {
                    return true;
                }
                let i = self.backends.iter().position(|x| x == *b).expect("listed");
                let clear = by_score[b.as_str()] > lead_score * (1.0 + CLASS_NOISE);
                !(clear && wins[i] >= need)
            })
            .cloned()
            .collect();
        Verdict::of(tied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmap_metrics::{KERNEL_BYTES_PEAK, Row, RowKey, TIME_NS};

    fn row(b: &str, m: Metric, samples: &[f64]) -> Row {
        let key = RowKey {
            scenario: "f".into(),
            size: 1,
            size_unit: "u".into(),
            backend: b.into(),
        };
        Row::from_samples(
            &key,
            m.name,
            m.unit,
            samples,
            samples.len() as u32,
            m.is_timed(),
        )
    }

    fn backends(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_timed_winner_must_be_significant() {
        let fast = [10.0, 10.2, 10.1, 9.9, 10.3, 10.0];
        let slow = [20.0, 20.2, 20.1, 19.9, 20.3, 20.0];
        let near = [10.1, 10.3, 9.8, 10.2, 10.0, 10.4];
        let rows = vec![
            row("a", TIME_NS, &fast),
            row("b", TIME_NS, &slow),
            row("c", TIME_NS, &near),
        ];
        let t = Table::new(&rows);
        let all = backends(&["a", "b", "c"]);
        assert_eq!(
            metric_verdict(&t, "f", 1, TIME_NS, &all),
            Verdict::Tie(backends(&["a", "c"]))
        );
        assert_eq!(
            metric_verdict(&t, "f", 1, TIME_NS, &backends(&["a", "b"])),
            Verdict::Winner("a".into())
        );
        // The same as a composite: the bootstrap agrees.
        let c = Composite::new(&t, &[("f", TIME_NS)], &all, |m| m);
        assert_eq!(c.verdict("x"), Verdict::Tie(backends(&["a", "c"])));
        let c = Composite::new(&t, &[("f", TIME_NS)], &backends(&["a", "b"]), |m| m);
        assert_eq!(c.verdict("x"), Verdict::Winner("a".into()));
    }

    #[test]
    fn exact_values_tie_only_when_equal() {
        let rows = vec![
            row("a", KERNEL_BYTES_PEAK, &[100.0]),
            row("b", KERNEL_BYTES_PEAK, &[100.0]),
            row("c", KERNEL_BYTES_PEAK, &[100.4]),
        ];
        let t = Table::new(&rows);
        let all = backends(&["a", "b", "c"]);
        assert_eq!(
            metric_verdict(&t, "f", 1, KERNEL_BYTES_PEAK, &all),
            Verdict::Tie(backends(&["a", "b"]))
        );
        // As a composite, within 0.5%: all three.
        let c = Composite::new(&t, &[("f", KERNEL_BYTES_PEAK)], &all, |m| m);
        assert_eq!(c.verdict("x").leaders(), ["a", "b", "c"]);
        assert_eq!(c.scores()[2].0, "c");
    }
}
