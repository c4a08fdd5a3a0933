//! The scenarios show the history they are there to show, measured by the
//! suite runner at small sizes: anon_vma growth along a fork chain only
//! with avc-2.6.34, family-wide walks before anon_vma_chain, list walks
//! over every db window, merge policies, many_prots, guard regions and
//! remerging.

use rmap_bench::runner::measure_spec;
use rmap_metrics::{self as metrics, Metric};
use rmap_traces::scenario::{self, Form};

fn form(name: &str) -> Form {
    let v = scenario::resolve(name).unwrap();
    assert_eq!(v.len(), 1, "{name}");
    v[0]
}

fn metric(name: &str, size: u64, spec: &str, m: Metric) -> f64 {
    let ops = form(name).build(size).unwrap();
    let r = measure_spec(&ops, spec).unwrap();
    r.get(m)
        .unwrap_or_else(|| panic!("{name} on {spec}: no {m} in {r:?}"))
}

#[test]
fn fork_chain_grows_only_with_avc() {
    let g = 60;
    let avc = metric(
        "fork-chain",
        g,
        "anonvma:avc-2.6.34",
        metrics::ANON_VMA_PEAK,
    );
    let avc2 = metric(
        "fork-chain",
        2 * g,
        "anonvma:avc-2.6.34",
        metrics::ANON_VMA_PEAK,
    );
    assert!(avc >= g as f64 / 2.0 && avc2 > avc * 1.5, "{avc} {avc2}");
    for p in ["linux", "reuse-3.19"] {
        let v = metric(
            "fork-chain",
            2 * g,
            &format!("anonvma:{p}"),
            metrics::ANON_VMA_PEAK,
        );
        assert!(v <= 5.0, "{p}: {v}");
    }
}

#[test]
fn cow_server_walks_the_family_list_only_before_chains() {
    let c = 30;
    let m = metrics::WALK_VMAS_VISITED_PER_WALK;
    let andrea = metric("cow-server", c, "anonvma:andrea-2.6.7", m);
    let avc = metric("cow-server", c, "anonvma:avc-2.6.34", m);
    let linux = metric("cow-server", c, "anonvma:linux", m);
    // 2.6.7's walk stops at the page's VMA, which lies on average halfway
    // down the family list (children are linked at its head)
    assert!(andrea >= c as f64 / 2.0, "{andrea}");
    assert!(
        andrea >= 10.0 * avc && andrea >= 10.0 * linux,
        "{andrea} {avc} {linux}"
    );
}

#[test]
fn db_window_list_walks_every_window() {
    let w = 300;
    let m = metrics::WALK_VMAS_VISITED_PER_WALK;
    let list = metric("db-window", w, "objrmap:mccracken", m);
    let tree = metric("db-window", w, "objrmap:prio", m);
    assert!(list >= 100.0 * tree, "{list} {tree}");
}

#[test]
fn heap_churn_merge_policies_differ_by_orders_of_magnitude() {
    let a = 400;
    let v = |p: &str| {
        metric(
            &format!("heap-churn/merge={p}"),
            a,
            "anonvma:linux",
            metrics::VMAS_END,
        )
    };
    let (none, prev, both) = (v("none"), v("prev"), v("both"));
    // old GNU Mach (prev) against Linux and GNU Mach's 2023 series (both)
    assert!(prev >= 100.0 * both, "{prev} {both}");
    assert!(none > prev && prev > both, "{none} {prev} {both}");
}

#[test]
fn mach_ext2fs_entries_fall_with_the_2023_series() {
    let n = 400;
    let v = |p: &str| {
        metric(
            &format!("mach-ext2fs/merge={p}"),
            n,
            "anonvma:linux",
            metrics::VMAS_END,
        )
    };
    let (none, prev, both) = (v("none"), v("prev"), v("both"));
    // the disk map, the RW heap and the no-access reserve
    assert_eq!(both, 3.0, "{none} {prev} {both}");
    assert!(prev >= 10.0 * both && none >= prev, "{none} {prev} {both}");
}

#[test]
fn many_prots_needs_fewer_vmas() {
    // uml's many_prots form (a what-if) places pages by remap_file_pages
    // with a protection: 3.19 is the last era that can run it; from 4.0
    // every such call fails (EINVAL)
    let u = |f: &str| metric(f, 200, "anonvma:reuse-3.19", metrics::VMAS_PEAK);
    let (off, on) = (u("uml/many_prots=off"), u("uml/many_prots=on"));
    assert!(off >= 10.0 * on, "uml {off} {on}");
    let refused = metric(
        "uml/many_prots=on",
        200,
        "anonvma:linux",
        metrics::OP_ERRORS,
    );
    // 200 placements and 50 pages reprotected twice, each by
    // remap_file_pages with a protection
    assert_eq!(refused, 300.0);
    let v = |f: &str, n| metric(f, n, "anonvma:linux", metrics::VMAS_PEAK);
    let (off, on) = (
        v("glibc-libs/many_prots=off", 20),
        v("glibc-libs/many_prots=on", 20),
    );
    assert!(off >= 2.0 * on, "glibc {off} {on}");
}

#[test]
fn guards_need_anon_vmas_except_with_the_unfaulted_flag() {
    let n = 50;
    let linux = metric(
        "guard-fork/anon",
        n,
        "anonvma:linux",
        metrics::ANON_VMA_PEAK,
    );
    let unf = metric(
        "guard-fork/anon",
        n,
        "anonvma:unfaulted",
        metrics::ANON_VMA_PEAK,
    );
    assert!(linux >= n as f64, "{linux}");
    assert_eq!(unf, 0.0);
}

/// The unfaulted flag's life cycle (issue 16, item 9): on file-backed
/// mappings neither design allocates for the guard itself, and a write
/// replaces the flag by a real anon_vma (one per fourth VMA, and the
/// child's); removing guards from whole VMAs clears the flag, and split
/// and merge keep it, with no anon_vma on the way.
#[test]
fn the_unfaulted_flag_life_cycle() {
    let n = 48;
    let av = |f: &str, spec: &str| metric(f, n, spec, metrics::ANON_VMA_PEAK);
    let written = (n / 4) as f64;
    for spec in ["anonvma:linux", "anonvma:unfaulted"] {
        assert_eq!(av("guard-fork/file", spec), 2.0 * written, "{spec}");
    }
    assert_eq!(av("guard-fork/remove", "anonvma:unfaulted"), 0.0);
    assert!(av("guard-fork/remove", "anonvma:linux") >= n as f64);
    for f in ["guard-fork/file", "guard-fork/remove"] {
        let errors = metric(f, n, "anonvma:unfaulted", metrics::OP_ERRORS);
        assert_eq!(errors, 0.0, "{f}");
    }
}

#[test]
fn remerge_depends_on_anon_vmas() {
    let r = 50;
    let v = |spec: &str| metric("remerge", r, spec, metrics::VMAS_END);
    let (chain, linux, andrea) = (
        v("pte-chain:rik"),
        v("anonvma:linux"),
        v("anonvma:andrea-2.6.7"),
    );
    // without anon_vmas everything merges that mprotect made compatible
    assert!(chain < linux && linux < andrea, "{chain} {linux} {andrea}");
}
