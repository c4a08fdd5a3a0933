//! History checks that set a published magnitude beside the model's
//! (issue 16, item 13): Andrew Morton's PTE-chain blocks, Kirill A.
//! Shutemov's cost of the 4.0 remap_file_pages emulation, and the what
//! many_prots costs in memory and time (item 14: not the VMA count the
//! scenario constructs). Each names the published figure in its `found`
//! text; [`super::claims::CLAIMS`] holds the statements and sources.

use rmap_metrics::{
    EXIT_CHAIN_LINES_PER_PAGE, EXIT_NS_PER_PAGE, KERNEL_BYTES_PEAK, Metric, TIME_NS, VMAS_PEAK,
};

use super::claims::Verdict;
use super::table::{Table, ratio_text};
use crate::plots::human;
use crate::stats::{Difference, compare_samples};

/// `a` against `b` on a timed metric (lower is better) at `size` of form
/// `f`: "faster", "slower" or "a tie" by the report's rank test, from the
/// samples when the run kept them, else by medians beyond 2%.
fn time_word(t: &Table, f: &str, size: u64, a: &str, b: &str, m: Metric) -> &'static str {
    let d = match (t.samples(f, size, a, m), t.samples(f, size, b, m)) {
        (Some(x), Some(y)) if x.len() > 1 && y.len() > 1 => compare_samples(&x, &y, true),
        _ => match (t.get(f, size, a, m), t.get(f, size, b, m)) {
            (Some(x), Some(y)) if (x - y).abs() > 0.02 * y.abs() => {
                if x < y {
                    Difference::Better
                } else {
                    Difference::Worse
                }
            }
            _ => Difference::Same,
        },
    };
    match d {
        Difference::Better => "faster",
        Difference::Worse => "slower",
        Difference::Same => "a tie",
    }
}

/// Exit with 2.5.35's cache-line blocks (`pte-chain:rik`) against 2.5.27's
/// one node per PTE (`pte-chain:naive`) at fork-storm's largest size: the
/// chain cache lines an exit touches per page, with time per page beside
/// it. Morton measured 3-4× on Anton Blanchard's 10,000 concurrently
/// exiting shells. Reproduced when naive touches more lines per page.
pub fn exit_blocks(t: &Table) -> Verdict {
    let f = "fork-storm";
    let (rik, naive) = ("pte-chain:rik", "pte-chain:naive");
    let Some(size) = t.largest(f) else {
        return Verdict::not_measured("fork-storm did not run");
    };
    let lines = |b: &str| t.get(f, size, b, EXIT_CHAIN_LINES_PER_PAGE);
    let ns = |b: &str| t.get(f, size, b, EXIT_NS_PER_PAGE);
    let (Some(lr), Some(ln)) = (lines(rik), lines(naive)) else {
        return Verdict::not_measured(
            "fork-storm did not run on pte-chain:rik and pte-chain:naive",
        );
    };
    let r = ln / lr.max(1e-9);
    let time = match (ns(rik), ns(naive)) {
        (Some(a), Some(b)) => format!(
            "; exit time per page: naive {}, rik {} ns (×{}; rik against naive by rank test: {})",
            human(b),
            human(a),
            ratio_text(b / a.max(1e-9)),
            time_word(t, f, size, rik, naive, EXIT_NS_PER_PAGE)
        ),
        _ => String::new(),
    };
    let found = format!(
        "at {size} MiB, chain cache lines touched per page at exit: naive {}, rik {}: ×{}{time} (published: 3-4× faster exit of 10,000 shells)",
        human(ln),
        human(lr),
        ratio_text(r)
    );
    let note = "fork-storm's pages have at most five mappings, where Anton's shells shared each page among 10,000 processes: a removal searches the page's chain, so the gap grows with the number of mappings; the host's time hides most of the memory traffic, which the cache-line count shows (a 64-byte block is one line, a 16-byte node of naive sits on a line of its own)".to_string();
    Verdict::new(Some(r > 1.0), found, note)
}

/// The 4.0 emulation of remap_file_pages (one VMA per remapped page)
/// against nonlinear VMAs, at nonlinear's largest size, on the last preset
/// with true nonlinear VMAs (`anonvma:reuse-3.19`): time of the run,
/// emulated over remap. Shutemov measured 1.88× (23.3 s → 43.9 s).
/// Reproduced when the emulation is not faster.
pub fn emulation(t: &Table) -> Verdict {
    let b = "anonvma:reuse-3.19";
    let (fr, fe) = ("nonlinear/remap", "nonlinear/emulated");
    let Some(size) = t.largest(fr) else {
        return Verdict::not_measured("nonlinear did not run");
    };
    let (Some(r), Some(e)) = (t.get(fr, size, b, TIME_NS), t.get(fe, size, b, TIME_NS)) else {
        return Verdict::not_measured(format!("nonlinear did not run in both forms on {b}"));
    };
    let ratio = e / r.max(1e-9);
    let found = format!(
        "at {size} pages on {b}, time: emulated {} ns, nonlinear {} ns: emulated/nonlinear ×{} (published: ×1.88, 23.3 s → 43.9 s)",
        human(e),
        human(r),
        ratio_text(ratio)
    );
    let note = "the published run remapped every page of a 4 GiB shmem file in reverse order ten times (about a million VMAs) and timed faults and page-cache work as well; the model's run maps in reverse order, reads every page and reclaims them all, so its ratio weighs reverse-map walks (one VMA per page through i_mmap against a scan of the nonlinear VMA's page table) far more".to_string();
    Verdict::new(Some(ratio >= 1.0 / 1.02), found, note)
}

/// many_prots against one VMA per protection, at `base`'s largest size on
/// backend `b`: kernel bytes at the peak (exact) and time (rank test).
/// The VMA counts follow from how the scenario is built, so they are
/// printed as such, not judged. Reproduced when many_prots needs fewer
/// bytes.
pub fn many_prots_cost(t: &Table, base: &str, unit: &str, b: &str, what_if: &str) -> Verdict {
    let off = format!("{base}/many_prots=off");
    let on = format!("{base}/many_prots=on");
    let Some(size) = t.largest(&off) else {
        return Verdict::not_measured(format!("{base} did not run"));
    };
    let get = |f: &str, m| t.get(f, size, b, m);
    let (Some(boff), Some(bon)) = (get(&off, KERNEL_BYTES_PEAK), get(&on, KERNEL_BYTES_PEAK))
    else {
        return Verdict::not_measured(format!("{base} did not run in both forms on {b}"));
    };
    let time = match (get(&off, TIME_NS), get(&on, TIME_NS)) {
        (Some(a), Some(c)) => format!(
            "; time: off {} ns, on {} ns (on against off by rank test: {})",
            human(a),
            human(c),
            time_word(t, &on, size, b, &off, TIME_NS)
        ),
        _ => String::new(),
    };
    let vmas = match (get(&off, VMAS_PEAK), get(&on, VMAS_PEAK)) {
        (Some(a), Some(c)) => format!(
            " (VMAs, as the scenario builds them: off {}, on {})",
            human(a),
            human(c)
        ),
        _ => String::new(),
    };
    let found = format!(
        "at {size} {unit} on {b}, kernel bytes at the peak: off {}, on {}: ×{}{time}{vmas}",
        human(boff),
        human(bon),
        ratio_text(boff / bon.max(1.0))
    );
    Verdict::new(Some(bon < boff), found, what_if.to_string())
}
