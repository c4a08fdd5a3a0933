//! The ranking `rmap-bench choose` prints for one workload: time, metadata
//! bytes and walk cost per backend, a score, and a recommendation.

use std::fmt::Write as _;

use rmap_metrics::{
    Better, KERNEL_BYTES_PEAK, Row, TIME_NS, WALK_PTES_CHECKED_PER_WALK,
    WALK_VMAS_VISITED_PER_WALK, WALKS,
};

use super::table::{Table, best_of, ratio_text};
use crate::plots::human;

/// One backend's line of the ranking: its name, score, and its time,
/// metadata bytes and walk cost (`None` where it has none).
type Scored = (String, f64, Vec<Option<f64>>);

/// The ranking `choose` prints: per backend, time, metadata bytes and walk
/// cost, with a score (geometric mean of ratio to best), best first; and
/// the recommendation. `("nothing ran\n", "")` when `form` has no rows.
pub fn choose_table(rows: &[Row], form: &str) -> (String, String) {
    let t = Table::new(rows);
    let backends = t.backends();
    let Some(size) = t.largest(form) else {
        return ("nothing ran\n".into(), String::new());
    };
    let walked = backends
        .iter()
        .any(|b| t.get(form, size, b, WALKS).unwrap_or(0.0) > 0.0);
    let (bests, scored) = score(&t, form, size, walked, &backends);
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
    let rec = recommendation(form, size, walked, &bests, &scored);
    (out, rec)
}

/// The best value of each column, and every backend scored, best first.
fn score(
    t: &Table,
    form: &str,
    size: u64,
    walked: bool,
    backends: &[String],
) -> (Vec<Option<f64>>, Vec<Scored>) {
    let walk = |b: &str| {
        walked.then(|| {
            t.get(form, size, b, WALK_VMAS_VISITED_PER_WALK)
                .unwrap_or(0.0)
                + t.get(form, size, b, WALK_PTES_CHECKED_PER_WALK)
                    .unwrap_or(0.0)
        })
    };
    // time, metadata bytes, walk cost: lower is better for all three
    type Col<'c> = Box<dyn Fn(&str) -> Option<f64> + 'c>;
    let cols: Vec<Col> = vec![
        Box::new(|b: &str| t.get(form, size, b, TIME_NS)),
        Box::new(|b: &str| t.get(form, size, b, KERNEL_BYTES_PEAK)),
        Box::new(walk),
    ];
    let bests: Vec<Option<f64>> = cols
        .iter()
        .map(|f| best_of(Better::Lower, backends.iter().filter_map(|b| f(b))))
        .collect();
    let mut scored: Vec<Scored> = backends
        .iter()
        .map(|b| {
            let vals: Vec<Option<f64>> = cols.iter().map(|f| f(b)).collect();
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
    (bests, scored)
}

/// The recommendation under the ranking: the winner, where it is not the
/// best, the runner-up and the worst fit.
fn recommendation(
    form: &str,
    size: u64,
    walked: bool,
    bests: &[Option<f64>],
    scored: &[Scored],
) -> String {
    let mut rec = String::new();
    let Some((w, _, wv)) = scored.first() else {
        return rec;
    };
    let _ = write!(
        rec,
        "For {form} at size {size}, choose {w}: it has the best combined score of time, metadata bytes{} (each as a ratio to the best backend, geometric mean).",
        if walked { " and rmap walk length" } else { "" }
    );
    let names = ["time", "metadata bytes", "walk length"];
    for (k, (v, best)) in wv.iter().zip(bests).enumerate() {
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
    rec
}
