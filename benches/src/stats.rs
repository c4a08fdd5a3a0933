//! The statistics behind every verdict: the Mann-Whitney U test (exact,
//! ties handled), seeded bootstrap resampling, and the decision whether one
//! sample of times is significantly better than another.
//!
//! Choices (docs/benchmarks.md explains them to users):
//! - a row's interval is the exact order-statistic interval of the median
//!   ([`rmap_metrics::median_ci`]): no distribution assumed, no resampling;
//! - two backends differ on a timed metric only when a two-sided
//!   Mann-Whitney U test gives `p <` [`ALPHA`] *and* their medians differ by
//!   more than [`NOISE`] (criterion's noise threshold: a significant 1%
//!   shift is not a difference a user should act on). The U test compares
//!   whole samples by rank, so one outlier from the host cannot decide it,
//!   and it is exact for the sample sizes the suite takes: the null
//!   distribution of the rank sum is counted over every split of the pooled
//!   sample (ties get midranks, and the count is of the tied ranks
//!   themselves, so ties need no correction); beyond [`EXACT_MAX`] pooled
//!   samples the normal approximation with the tie correction is used;
//! - composite scores (a class of workload, `choose`) combine several
//!   metrics, so no rank test applies: their intervals come from a seeded
//!   bootstrap over the repetitions ([`Resampler`]), and a winner needs its
//!   score to be better than every other backend's in at least
//!   `1 - ALPHA/2` of the resamples and by more than [`CLASS_NOISE`].
//!
//! Invariants: every function here is deterministic (the bootstrap's
//! generator is seeded from [`BOOTSTRAP_SEED`] and a label); no input
//! panics (empty samples give "not significant").

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Significance level of every test.
pub const ALPHA: f64 = 0.05;
/// Smallest relative difference of medians that counts (2%).
pub const NOISE: f64 = 0.02;
/// Smallest relative difference of composite scores that counts (5%).
pub const CLASS_NOISE: f64 = 0.05;
/// Pooled sample sizes up to this get the exact U distribution.
pub const EXACT_MAX: usize = 60;
/// Bootstrap resamples of a composite score.
pub const RESAMPLES: usize = 1000;
/// The seed of every bootstrap (mixed with what is resampled).
pub const BOOTSTRAP_SEED: u64 = 0x5245_5355_4c54_5321;

/// The two-sided p-value of the Mann-Whitney U test that `a` and `b` come
/// from the same distribution; 1 when either is empty.
pub fn mann_whitney_p(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 {
        return 1.0;
    }
    let r = ranked(a, b);
    let n = r.ranks2.len();
    // E[2·R1] = n1·(n+1)
    let mean2 = (n1 * (n + 1)) as f64;
    let dev = (r.obs2 as f64 - mean2).abs();
    if n <= EXACT_MAX {
        exact_p(&r.ranks2, n1, mean2, dev)
    } else {
        normal_p(n1, n2, &r.ties, dev / 2.0)
    }
}

/// The pooled sample ranked: doubled midranks (integers even with ties),
/// the sizes of the groups of ties, and the doubled rank sum of `a`.
struct Ranked {
    ranks2: Vec<u64>,
    ties: Vec<u64>,
    obs2: u64,
}

fn ranked(a: &[f64], b: &[f64]) -> Ranked {
    let mut pooled: Vec<(f64, bool)> = a
        .iter()
        .map(|&x| (x, true))
        .chain(b.iter().map(|&x| (x, false)))
        .collect();
    pooled.sort_by(|x, y| x.0.total_cmp(&y.0));
    let n = pooled.len();
    let mut ranks2 = vec![0u64; n];
    let mut ties: Vec<u64> = Vec::new();
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && pooled[j + 1].0 == pooled[i].0 {
            j += 1;
        }
        // ranks i+1 ..= j+1, doubled midrank = i+1 + j+1
        for r in &mut ranks2[i..=j] {
            *r = (i + j + 2) as u64;
        }
        ties.push((j - i + 1) as u64);
        i = j + 1;
    }
    let obs2 = (0..n).filter(|&k| pooled[k].1).map(|k| ranks2[k]).sum();
    Ranked { ranks2, ties, obs2 }
}

/// P(|2R - mean2| >= dev) over every choice of `n1` of the (doubled)
/// ranks, counted by dynamic programming over (items chosen, rank sum).
fn exact_p(ranks2: &[u64], n1: usize, mean2: f64, dev: f64) -> f64 {
    let max: usize = ranks2.iter().sum::<u64>() as usize;
    // ways[j][s]: ways to choose j items with doubled-rank sum s (f64:
    // counts up to C(60, 30) ~ 1e17 are exact enough, and only ratios
    // matter).
    let mut ways = vec![vec![0f64; max + 1]; n1 + 1];
    ways[0][0] = 1.0;
    for &r in ranks2 {
        let r = r as usize;
        for j in (1..=n1).rev() {
            let (lo, hi) = ways.split_at_mut(j);
            let (prev, cur) = (&lo[j - 1], &mut hi[0]);
            for s in (r..=max).rev() {
                if prev[s - r] != 0.0 {
                    cur[s] += prev[s - r];
                }
            }
        }
    }
    let total: f64 = ways[n1].iter().sum();
    let extreme: f64 = ways[n1]
        .iter()
        .enumerate()
        .filter(|&(s, _)| (s as f64 - mean2).abs() >= dev - 1e-9)
        .map(|(_, w)| w)
        .sum();
    (extreme / total).min(1.0)
}

/// The normal approximation of the rank-sum test with the tie correction
/// (and a continuity correction of 1/2).
fn normal_p(n1: usize, n2: usize, ties: &[u64], dev: f64) -> f64 {
    let (n1, n2) = (n1 as f64, n2 as f64);
    let n = n1 + n2;
    let tie_term: f64 = ties.iter().map(|&t| (t * t * t - t) as f64).sum::<f64>() / (n * (n - 1.0));
    let var = n1 * n2 / 12.0 * ((n + 1.0) - tie_term);
    if var <= 0.0 {
        return 1.0;
    }
    let z = ((dev - 0.5).max(0.0)) / var.sqrt();
    (2.0 * normal_upper_tail(z)).min(1.0)
}

/// P(Z > z) for a standard normal Z (Abramowitz and Stegun 7.1.26 for
/// erfc, absolute error below 1.5e-7).
fn normal_upper_tail(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erfc = poly * (-x * x).exp();
    if x >= 0.0 {
        erfc / 2.0
    } else {
        1.0 - erfc / 2.0
    }
}

/// How one sample of a metric compares with another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Difference {
    /// Significantly and noticeably better (in the metric's direction).
    Better,
    /// Significantly and noticeably worse.
    Worse,
    /// Not significant, or within [`NOISE`].
    Same,
}

/// Whether `a` is better or worse than `b` for a metric where lower is
/// better (`lower`) or higher is: U test at [`ALPHA`] and a difference of
/// medians beyond [`NOISE`].
pub fn compare_samples(a: &[f64], b: &[f64], lower: bool) -> Difference {
    if a.is_empty() || b.is_empty() {
        return Difference::Same;
    }
    let (ma, mb) = (median(a), median(b));
    let rel = if mb != 0.0 {
        (ma - mb).abs() / mb.abs()
    } else if ma != 0.0 {
        f64::INFINITY
    } else {
        0.0
    };
    if rel <= NOISE || mann_whitney_p(a, b) >= ALPHA {
        return Difference::Same;
    }
    if (ma < mb) == lower {
        Difference::Better
    } else {
        Difference::Worse
    }
}

/// The median of unsorted values (NaN for none).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    rmap_metrics::median_sorted(&s)
}

/// A seeded bootstrap: resamples with replacement, the same sequence for
/// the same label on every run.
pub struct Resampler {
    rng: ChaCha8Rng,
    buf: Vec<f64>,
}

impl Resampler {
    /// A resampler seeded from [`BOOTSTRAP_SEED`] and `label` (FNV-1a).
    pub fn new(label: &str) -> Resampler {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in label.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        Resampler {
            rng: ChaCha8Rng::seed_from_u64(BOOTSTRAP_SEED ^ h),
            buf: Vec::new(),
        }
    }

    /// The median of one resample of `v` (NaN for none).
    pub fn median(&mut self, v: &[f64]) -> f64 {
        if v.is_empty() {
            return f64::NAN;
        }
        self.buf.clear();
        for _ in 0..v.len() {
            let i = self.rng.random_range(0..v.len());
            self.buf.push(v[i]);
        }
        self.buf.sort_by(f64::total_cmp);
        rmap_metrics::median_sorted(&self.buf)
    }

    /// A percentile interval (`1 - ALPHA`) of `stat` over [`RESAMPLES`]
    /// resamples; `stat` gets this resampler and returns one value.
    pub fn interval(&mut self, mut stat: impl FnMut(&mut Resampler) -> f64) -> (f64, f64) {
        let mut v: Vec<f64> = (0..RESAMPLES).map(|_| stat(self)).collect();
        v.retain(|x| x.is_finite());
        if v.is_empty() {
            return (f64::NAN, f64::NAN);
        }
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        (at(ALPHA / 2.0), at(1.0 - ALPHA / 2.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_u_matches_the_tables() {
        // 3 vs 3, complete separation: 2 of 20 splits are as extreme.
        let p = mann_whitney_p(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]);
        assert!((p - 0.1).abs() < 1e-12, "{p}");
        // 5 vs 5, complete separation: 2/252.
        let p = mann_whitney_p(&[1.0, 2.0, 3.0, 4.0, 5.0], &[6.0, 7.0, 8.0, 9.0, 10.0]);
        assert!((p - 2.0 / 252.0).abs() < 1e-12, "{p}");
        // Identical samples: p = 1.
        assert_eq!(mann_whitney_p(&[1.0, 1.0, 1.0], &[1.0, 1.0, 1.0]), 1.0);
        // Interleaved: nowhere near significant.
        assert!(mann_whitney_p(&[1.0, 3.0, 5.0, 7.0], &[2.0, 4.0, 6.0, 8.0]) > 0.5);
        assert_eq!(mann_whitney_p(&[], &[1.0]), 1.0);
    }

    #[test]
    fn ties_are_counted_exactly() {
        // a = {1,1,2}, b = {2,3,3}: midranks 1.5,1.5,3.5 | 3.5,5.5,5.5.
        // By enumeration of the 20 splits, 4 have a rank sum at least as far
        // from the mean (10.5) as 6.5: p = 0.2.
        let p = mann_whitney_p(&[1.0, 1.0, 2.0], &[2.0, 3.0, 3.0]);
        assert!((p - 0.2).abs() < 1e-12, "{p}");
        // Symmetric in the two samples.
        let q = mann_whitney_p(&[2.0, 3.0, 3.0], &[1.0, 1.0, 2.0]);
        assert_eq!(p, q);
    }

    #[test]
    fn the_normal_approximation_agrees_with_the_exact_count() {
        let a: Vec<f64> = (0..30).map(|i| f64::from(i) * 1.1).collect();
        let b: Vec<f64> = (0..30).map(|i| f64::from(i) * 1.1 + 7.0).collect();
        let exact = mann_whitney_p(&a, &b);
        let r = ranked(&a, &b);
        assert_eq!(r.ties, vec![1; 60]);
        let approx = normal_p(
            30,
            30,
            &r.ties,
            (r.obs2 as f64 / 2.0 - 30.0 * 61.0 / 2.0).abs(),
        );
        assert!((exact - approx).abs() < 0.01, "{exact} {approx}");
        assert!(exact < 0.05);
    }

    #[test]
    fn differences_need_significance_and_size() {
        let a = [10.0, 11.0, 10.5, 10.2, 10.8];
        let b = [20.0, 21.0, 20.5, 20.2, 20.8];
        assert_eq!(compare_samples(&a, &b, true), Difference::Better);
        assert_eq!(compare_samples(&b, &a, true), Difference::Worse);
        assert_eq!(compare_samples(&a, &b, false), Difference::Worse);
        // Separated but by 1%: within the noise threshold.
        let c = [10.1, 11.1, 10.6, 10.3, 10.9];
        let d: Vec<f64> = c.iter().map(|x| x * 1.01).collect();
        assert_eq!(compare_samples(&c, &d, true), Difference::Same);
        // Only 3 each: cannot be significant at 5%.
        assert_eq!(compare_samples(&a[..3], &b[..3], true), Difference::Same);
    }

    #[test]
    fn bootstrap_is_seeded() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
        let i1 = Resampler::new("x").interval(|r| r.median(&v));
        let i2 = Resampler::new("x").interval(|r| r.median(&v));
        assert_eq!(i1, i2);
        assert!(i1.0 <= 4.0 && i1.1 >= 4.0 && i1.0 < i1.1, "{i1:?}");
        assert!(Resampler::new("x").median(&[]).is_nan());
    }
}
