//! Result rows: the tidy table every run writes (`results.csv`) and every
//! report reads, and how a row summarises its repetitions (median, extremes
//! and the exact distribution-free confidence interval of the median).

use serde::{Deserialize, Serialize};

/// The coverage the median's confidence interval aims for.
pub const CI_LEVEL: f64 = 0.95;

/// One measured value: a metric of one scenario form at one size on one
/// backend, summarised over the repetitions.
///
/// The last four columns came with confidence intervals; a `results.csv`
/// written before them still reads (they are then empty).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// `BASE` or `BASE/VARIANT`, or a trace file's name.
    pub scenario: String,
    pub size: u64,
    /// What `size` counts (`MiB`, `children`, ..., `trace` for a trace file).
    pub size_unit: String,
    /// `NAME:PRESET`, or [`KERNEL_BACKEND`] for the live Linux kernel.
    pub backend: String,
    /// A [`crate::Metric`]'s name.
    pub metric: String,
    /// Median over the repetitions.
    pub value: f64,
    pub unit: String,
    pub min: f64,
    pub max: f64,
    /// Repetitions behind the value.
    pub reps: u32,
    /// Lower end of the confidence interval of the median (timed metrics
    /// only; empty for exact ones, which do not vary).
    #[serde(default)]
    pub ci_lo: Option<f64>,
    /// Upper end of that interval.
    #[serde(default)]
    pub ci_hi: Option<f64>,
    /// The interval's exact coverage (at least [`CI_LEVEL`] from 6
    /// samples on; with fewer, that of `[min, max]`, e.g. 0.9375 for 5).
    #[serde(default)]
    pub ci_level: Option<f64>,
    /// Every sample, `;`-separated, in the order they were taken (timed
    /// metrics only).
    #[serde(default)]
    pub samples: String,
}

/// The backend name used for rows measured on the live kernel.
pub const KERNEL_BACKEND: &str = "kernel";

/// Where a row belongs: scenario form, size, backend.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RowKey {
    pub scenario: String,
    pub size: u64,
    pub size_unit: String,
    pub backend: String,
}

impl Row {
    /// A row summarising `samples` (at least one) of metric `metric` (in
    /// `unit`): the median, the extremes, and for a timed metric the
    /// median's confidence interval ([`median_ci`]) and the samples
    /// themselves. `reps` is how many repetitions gave the samples.
    pub fn from_samples(
        key: &RowKey,
        metric: &str,
        unit: &str,
        samples: &[f64],
        reps: u32,
        timed: bool,
    ) -> Row {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let (ci_lo, ci_hi, ci_level) = match (timed, median_ci(&sorted)) {
            (true, Some((lo, hi, level))) => (Some(lo), Some(hi), Some(level)),
            _ => (None, None, None),
        };
        Row {
            scenario: key.scenario.clone(),
            size: key.size,
            size_unit: key.size_unit.clone(),
            backend: key.backend.clone(),
            metric: metric.to_string(),
            value: median_sorted(&sorted),
            unit: unit.to_string(),
            min: sorted.first().copied().unwrap_or(f64::NAN),
            max: sorted.last().copied().unwrap_or(f64::NAN),
            reps,
            ci_lo,
            ci_hi,
            ci_level,
            samples: if timed {
                samples
                    .iter()
                    .map(|v| format!("{v}"))
                    .collect::<Vec<_>>()
                    .join(";")
            } else {
                String::new()
            },
        }
    }

    /// The samples of the row (empty when it keeps none); a sample that
    /// does not parse is an error naming it.
    pub fn sample_values(&self) -> Result<Vec<f64>, String> {
        self.samples
            .split(';')
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<f64>()
                    .map_err(|e| format!("sample `{s}` of {}: {e}", self.metric))
            })
            .collect()
    }

    /// Where the row belongs.
    pub fn key(&self) -> RowKey {
        RowKey {
            scenario: self.scenario.clone(),
            size: self.size,
            size_unit: self.size_unit.clone(),
            backend: self.backend.clone(),
        }
    }

    /// The confidence interval, when the row has one.
    pub fn ci(&self) -> Option<(f64, f64)> {
        Some((self.ci_lo?, self.ci_hi?))
    }
}

/// The median of sorted values (the mean of the middle two for an even
/// count; NaN for none).
pub fn median_sorted(v: &[f64]) -> f64 {
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The exact, distribution-free confidence interval of the median of
/// sorted samples: `[x(k), x(n+1-k)]` with the largest `k` whose coverage
/// `1 - 2·P(Binomial(n, 1/2) < k)` is at least [`CI_LEVEL`]; with fewer
/// than 6 samples no interval reaches it and `[min, max]` is returned with
/// its own coverage. Returns `(lo, hi, coverage)`; `None` for no samples.
///
/// Why this interval: it assumes nothing about the distribution of times
/// (which is skewed, with outliers from the host), it is exact rather than
/// asymptotic, and it needs no random resampling (same samples, same
/// interval).
pub fn median_ci(sorted: &[f64]) -> Option<(f64, f64, f64)> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let mut k = 1;
    let mut cover = coverage(n, 1);
    while k < n.div_ceil(2) && coverage(n, k + 1) >= CI_LEVEL {
        k += 1;
        cover = coverage(n, k);
    }
    Some((sorted[k - 1], sorted[n - k], cover))
}

/// Coverage of `[x(k), x(n+1-k)]` for the median: `1 - 2·P(B <= k-1)`,
/// `B ~ Binomial(n, 1/2)` (computed in logs, so any `n` works).
fn coverage(n: usize, k: usize) -> f64 {
    let mut tail = 0.0;
    let mut log_c = 0.0f64; // ln C(n, 0)
    let ln_half_n = n as f64 * 0.5f64.ln();
    for i in 0..k {
        if i > 0 {
            log_c += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (log_c + ln_half_n).exp();
    }
    (1.0 - 2.0 * tail).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_interval_is_exact() {
        // n = 5: only [min, max], coverage 1 - 2/32.
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(median_ci(&v), Some((1.0, 5.0, 0.9375)));
        // n = 6: [x1, x6] covers 1 - 2/64 = 0.96875 >= 0.95; [x2, x5] only 0.78.
        let v: Vec<f64> = (1..=6).map(f64::from).collect();
        assert_eq!(median_ci(&v), Some((1.0, 6.0, 0.96875)));
        // n = 20: k = 6 (coverage 0.9586), k = 7 gives 0.8847.
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        let (lo, hi, c) = median_ci(&v).unwrap();
        assert_eq!((lo, hi), (6.0, 15.0));
        assert!((c - 0.9586).abs() < 1e-4, "{c}");
        assert_eq!(median_ci(&[]), None);
        assert_eq!(median_ci(&[7.0]), Some((7.0, 7.0, 0.0)));
    }

    #[test]
    fn rows_keep_samples_of_timed_metrics_only() {
        let key = RowKey {
            scenario: "s".into(),
            size: 1,
            size_unit: "u".into(),
            backend: "b".into(),
        };
        let r = Row::from_samples(&key, "time_ns", "ns", &[3.0, 1.0, 2.0], 3, true);
        assert_eq!((r.value, r.min, r.max, r.reps), (2.0, 1.0, 3.0, 3));
        assert_eq!(r.samples, "3;1;2");
        assert_eq!(r.sample_values().unwrap(), vec![3.0, 1.0, 2.0]);
        assert_eq!(r.ci(), Some((1.0, 3.0)));
        let e = Row::from_samples(&key, "vmas_end", "VMAs", &[4.0, 4.0], 2, false);
        assert_eq!((e.value, e.ci(), e.samples.as_str()), (4.0, None, ""));
        assert_eq!(median_sorted(&[1.0, 2.0, 3.0, 4.0]), 2.5);
    }
}
