//! `REPORT.md` from result rows: per scenario form a table of backends
//! against the key metrics (best marked, every other value as a ratio to
//! it) and the plots; the known history checked against the run's own
//! numbers; the model beside the live kernel; and a closing "Which rmap
//! strategy" section that names a winner per class of workload from the
//! numbers. Also the ranking `rmap-bench choose` prints.
//!
//! Modules: `table` (rows indexed for look-ups; best values and ratios,
//! whose direction comes from each [`rmap_metrics::Metric`]), [`claims`]
//! (the history as data: each claim a statement, a source and a check),
//! [`classes`] (the classes of workload and their scores) and `choose`
//! (the `choose` ranking).
//!
//! Everything here reads only rows (and `meta.json`), so `rmap-bench report
//! DIR` rebuilds the same report from `DIR/results.csv` at any time.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use rmap_metrics::{
    Better, FAULT_NS_P50, FORK_NS_PER_PAGE, KERNEL_BACKEND, KERNEL_BYTES_PEAK, Metric, OP_ERRORS,
    RECLAIM_PAGES_PER_S, Row, TIME_NS, VMAS_PEAK, WALK_PTES_CHECKED_PER_WALK,
    WALK_VMAS_VISITED_PER_WALK,
};
use rmap_traces::scenario;

use crate::output::Meta;
use crate::plots::{self, human, human_unit};

mod choose;
pub mod claims;
pub mod classes;
pub mod html;
mod magnitudes;
mod scaling;
mod table;
pub mod verdict;

pub use choose::{Ranking, choose_ranking};
pub use claims::{CLAIMS, Claim, Outcome, Verdict};
pub use classes::class_scores;
pub use table::{Table, best_of, ratio, ratio_text};

/// The key metrics of a form: the scenario's own list (those present),
/// else every metric of a standard set that is present.
fn key_metrics(t: &Table, form: &str) -> Vec<Metric> {
    let present: BTreeSet<&str> = t
        .rows
        .iter()
        .filter(|r| r.scenario == form)
        .map(|r| r.metric.as_str())
        .collect();
    let base = form.split('/').next().unwrap_or(form);
    let listed: &[Metric] = scenario::find(base).map_or(&[], |s| s.key_metrics);
    let mut out: Vec<Metric> = listed
        .iter()
        .copied()
        .filter(|m| present.contains(m.name))
        .collect();
    if out.is_empty() {
        // Not a known scenario (or none of its metrics ran): every metric
        // of the standard set that is present.
        out = [
            TIME_NS,
            FORK_NS_PER_PAGE,
            FAULT_NS_P50,
            RECLAIM_PAGES_PER_S,
            WALK_VMAS_VISITED_PER_WALK,
            WALK_PTES_CHECKED_PER_WALK,
            KERNEL_BYTES_PEAK,
            VMAS_PEAK,
        ]
        .into_iter()
        .filter(|m| present.contains(m.name))
        .collect();
    }
    out
}

/// The plots the report shows: every (form, key metric).
pub fn plot_list(rows: &[Row]) -> Vec<(String, Metric)> {
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

/// A value as a table cell: the value, and for a timed metric with an
/// interval its half-width relative to the value (`12.3k ±4%`).
fn with_ci(t: &Table, form: &str, size: u64, b: &str, m: Metric, v: f64) -> String {
    match t.row(form, size, b, m.name).and_then(|r| r.ci()) {
        Some((lo, hi)) if m.is_timed() && v != 0.0 => {
            format!(
                "{} ±{:.0}%",
                human_unit(v, m.unit),
                (hi - lo) / 2.0 / v.abs() * 100.0
            )
        }
        _ => human_unit(v, m.unit),
    }
}

/// A Markdown table of `backends` against `metrics` at one size: the
/// winner in bold with a star (a timed metric's only when significant),
/// the backends tied with the best marked `=`, others as a ratio to the
/// best.
fn metric_table(
    t: &Table,
    form: &str,
    size: u64,
    backends: &[String],
    metrics: &[Metric],
) -> String {
    let mut s = String::new();
    let _ = write!(s, "| backend |");
    for m in metrics {
        let _ = write!(s, " {m} ({}) |", t.unit(m.name));
    }
    let _ = writeln!(s);
    let _ = write!(s, "|---|");
    for _ in metrics {
        let _ = write!(s, "---:|");
    }
    let _ = writeln!(s);
    let bests: Vec<Option<f64>> = metrics
        .iter()
        .map(|m| {
            best_of(
                m.better,
                backends.iter().filter_map(|b| t.get(form, size, b, m)),
            )
        })
        .collect();
    let verdicts: Vec<verdict::Verdict> = metrics
        .iter()
        .map(|m| verdict::metric_verdict(t, form, size, *m, backends))
        .collect();
    for b in backends {
        if metrics.iter().all(|m| t.get(form, size, b, m).is_none()) {
            continue;
        }
        let _ = write!(s, "| {b} |");
        for ((m, best), v) in metrics.iter().zip(&bests).zip(&verdicts) {
            let cell = match (t.get(form, size, b, m), best) {
                (None, _) => "–".to_string(),
                (Some(x), Some(best)) => {
                    let shown = with_ci(t, form, size, b, *m, x);
                    let won = matches!(v, verdict::Verdict::Winner(w) if w == b);
                    let tied = matches!(v, verdict::Verdict::Tie(l) if l.contains(b));
                    match (won, tied, ratio(m.better, x, *best)) {
                        (true, _, _) => format!("**{shown}** ★"),
                        (_, true, _) if x == *best => format!("**{shown}** ="),
                        (_, true, Some(r)) => format!("{shown} (×{}) =", ratio_text(r)),
                        (_, _, Some(r)) => format!("{shown} (×{})", ratio_text(r)),
                        _ => shown,
                    }
                }
                (Some(x), None) => human(x),
            };
            let _ = write!(s, " {cell} |");
        }
        let _ = writeln!(s);
    }
    s
}

/// Build REPORT.md. `plots_made` lists the plot files written (relative to
/// the report), by (form, metric name).
pub fn render(
    rows: &[Row],
    meta: Option<&Meta>,
    plots_made: &BTreeSet<(String, String)>,
) -> String {
    let t = Table::new(rows);
    let model_backends: Vec<String> = t
        .backends()
        .into_iter()
        .filter(|b| *b != KERNEL_BACKEND)
        .collect();
    let mut s = String::new();
    header(&mut s, rows.len(), meta);
    history_section(&mut s, &t);
    scaling::section(&mut s, &t);
    kernel_section(&mut s, &t);
    let _ = writeln!(s, "## Scenarios\n");
    for form in t.scenarios() {
        scenario_section(&mut s, &t, &form, &model_backends, plots_made);
    }
    classes::section(&mut s, &t, &model_backends);
    s
}

/// The title, where the numbers come from, the run and machine, and how
/// to read the tables.
fn header(s: &mut String, rows: usize, meta: Option<&Meta>) {
    let _ = writeln!(s, "# rmap-lab benchmark report\n");
    let _ = writeln!(
        s,
        "Made by `rmap-bench report` from this directory's `results.csv` ({rows} rows); every number below comes from that file.\n",
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
    let higher: Vec<String> = rmap_metrics::all()
        .filter(|m| m.better == Better::Higher)
        .map(|m| format!("`{m}`"))
        .collect();
    let _ = writeln!(
        s,
        "- **How to read:** each scenario's table is at its largest size. A column's winner is **bold** with ★: for a time, only when it is significantly better than every other backend (two-sided Mann-Whitney U test, p < 0.05, and more than 2% apart); otherwise the best and every backend it cannot be told apart from are marked `=` (a tie). Every other value is followed by its ratio to the best (×1.00 is as good; higher is worse). Lower is better for every metric except {}. Counts (VMAs, objects, walk lengths, work units) are exact and the same on every machine, so for them only equal values tie; times are medians over the repetitions, followed by the half-width of the median's 95% confidence interval (`±4%`; the interval, its exact coverage and every sample are in `results.csv`). A – means the metric does not apply to that backend (a PTE-chain walk visits no VMAs; a design without anon_vma_chains has no count of them). `{KERNEL_BYTES_PEAK}` is the metadata the kernel would allocate (VMAs, page tables, rmap objects) at its peak, with the x86-64 object sizes of each preset's own release (`docs/benchmarks.md`).\n",
        higher.join(", ")
    );
}

/// The claims of [`CLAIMS`] with this run's verdicts, then their notes.
fn history_section(s: &mut String, t: &Table) {
    let _ = writeln!(s, "## The known history, checked against this run\n");
    let _ = writeln!(s, "| claim | this run | verdict |");
    let _ = writeln!(s, "|---|---|---|");
    let checks = claims::check_all(t);
    for (c, v) in &checks {
        let verdict = match v.outcome {
            Outcome::Reproduced => "reproduced",
            Outcome::NotReproduced => "**differs**",
            Outcome::NotMeasured => "not measured",
        };
        let _ = writeln!(s, "| {} | {} | {verdict} |", c.statement, v.found);
    }
    if checks.iter().any(|(_, v)| !v.note.is_empty()) {
        let _ = writeln!(s);
        for (c, v) in checks.iter().filter(|(_, v)| !v.note.is_empty()) {
            let _ = writeln!(s, "- *{}*: {}", c.statement, v.note);
        }
    }
    let _ = writeln!(s, "\nWhere each claim comes from:\n");
    for (c, _) in &checks {
        let _ = writeln!(s, "- *{}*: {}", c.statement, c.source);
    }
    let _ = writeln!(s);
}

/// One scenario form: what it is, its table at its largest size, the
/// syscalls that failed, its plots.
fn scenario_section(
    s: &mut String,
    t: &Table,
    form: &str,
    model_backends: &[String],
    plots_made: &BTreeSet<(String, String)>,
) {
    let base = form.split('/').next().unwrap_or(form).to_string();
    let sc = scenario::find(&base);
    let _ = writeln!(s, "### {form}\n");
    if let Some(sc) = sc {
        let _ = writeln!(s, "{} *Exposes:* {}\n", sc.about, sc.exposes);
    }
    let Some(size) = t.largest(form) else {
        return;
    };
    let metrics = key_metrics(t, form);
    let sizes = t.sizes(form);
    let _ = writeln!(
        s,
        "At {size} {} (sizes run: {}):\n",
        t.size_unit(form),
        sizes
            .iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    s.push_str(&metric_table(t, form, size, model_backends, &metrics));
    let errs: Vec<String> = model_backends
        .iter()
        .filter_map(|b| {
            t.get(form, size, b, OP_ERRORS)
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
        if plots_made.contains(&(form.to_string(), m.name.to_string())) {
            let _ = writeln!(
                s,
                "![{form}: {m}](plots/{})",
                plots::file_name(form, m.name)
            );
        }
    }
    let _ = writeln!(s);
}

/// The live kernel's rows beside a few model backends, on the same shapes.
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

#[cfg(test)]
mod tests;
