//! mremap against the live Linux kernel of this machine: each trace in
//! `tests/mremap/` checks one group of rules (its first lines say which;
//! `docs/linux-semantics.md`, "mremap", lists them). With `anonvma:linux`
//! the model must print the same `dump` and `err` lines as the kernel and,
//! at each `stats all`, the same `vm_area_struct`, `anon_vma` and
//! `anon_vma_chain` counts; with `scan` the same lines except where its
//! simpler anonymous state is known to differ.

use rmap_kernel::fidelity::{Comparison, compare, compare_counted};

const LIVE: bool = cfg!(all(target_os = "linux", target_arch = "x86_64"));

/// Every trace, by name.
const TRACES: &[(&str, &str)] = &[
    (
        "errnos-in-order",
        include_str!("mremap/errnos-in-order.trace"),
    ),
    (
        "fork-child-copy-and-growth-beside-unfaulted",
        include_str!("mremap/fork-child-copy-and-growth-beside-unfaulted.trace"),
    ),
    (
        "p2a-unfaulted-move-merges-both-sides",
        include_str!("mremap/p2a-unfaulted-move-merges-both-sides.trace"),
    ),
    (
        "p2b-faulted-move-keeps-pgoff-no-merge",
        include_str!("mremap/p2b-faulted-move-keeps-pgoff-no-merge.trace"),
    ),
    (
        "p2c-moved-away-and-back-remerges",
        include_str!("mremap/p2c-moved-away-and-back-remerges.trace"),
    ),
    (
        "p2d-pieces-moved-and-rejoined",
        include_str!("mremap/p2d-pieces-moved-and-rejoined.trace"),
    ),
    (
        "p2e-faulted-after-unfaulted-no-merge",
        include_str!("mremap/p2e-faulted-after-unfaulted-no-merge.trace"),
    ),
    (
        "p2f-grow-in-place-and-absorb-next",
        include_str!("mremap/p2f-grow-in-place-and-absorb-next.trace"),
    ),
    (
        "p2g-h-growth-blocked-without-maymove",
        include_str!("mremap/p2g-h-growth-blocked-without-maymove.trace"),
    ),
    ("p2i-shrinks", include_str!("mremap/p2i-shrinks.trace")),
    (
        "p2j-move-onto-mapping-and-grow-move",
        include_str!("mremap/p2j-move-onto-mapping-and-grow-move.trace"),
    ),
    (
        "p2k-multi-vma-moves",
        include_str!("mremap/p2k-multi-vma-moves.trace"),
    ),
    (
        "p2l-dontunmap-keeps-old-vma-whole",
        include_str!("mremap/p2l-dontunmap-keeps-old-vma-whole.trace"),
    ),
    (
        "p2m-dontunmap-files",
        include_str!("mremap/p2m-dontunmap-files.trace"),
    ),
    (
        "p2n-old-len-zero-duplicates",
        include_str!("mremap/p2n-old-len-zero-duplicates.trace"),
    ),
    (
        "p2o-file-pieces-keep-offsets-and-merge",
        include_str!("mremap/p2o-file-pieces-keep-offsets-and-merge.trace"),
    ),
    (
        "p6-moves-inside-one-vma",
        include_str!("mremap/p6-moves-inside-one-vma.trace"),
    ),
    (
        "p7-multi-vma-leaves-destination-gaps",
        include_str!("mremap/p7-multi-vma-leaves-destination-gaps.trace"),
    ),
    (
        "p8-dontunmap-whole-vma-drops-anon-state",
        include_str!("mremap/p8-dontunmap-whole-vma-drops-anon-state.trace"),
    ),
];

/// [`compare_counted`], panicking with the trace's name.
fn compare_counted_named(text: &str, name: &str, backend: &str) -> Comparison {
    compare_counted(text, name, backend).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_mremap_rule_agrees_with_the_live_kernel() {
    if !LIVE {
        eprintln!("skipped: the live run needs Linux on x86-64");
        return;
    }
    let mut lines = 0;
    for (name, text) in TRACES {
        let c = compare_counted_named(text, name, "anonvma:linux");
        assert!(c.agree(), "{name}:\n{}", c.diff("model (anonvma:linux)"));
        lines += c.kernel.lines().count();
    }
    assert!(lines > 150, "too little compared: {lines} lines");
}

#[test]
fn scan_agrees_but_for_its_anonymous_state() {
    if !LIVE {
        eprintln!("skipped: the live run needs Linux on x86-64");
        return;
    }
    for (name, text) in TRACES {
        let c = compare(text, name, "scan").unwrap_or_else(|e| panic!("{name}: {e}"));
        if *name == "fork-child-copy-and-growth-beside-unfaulted" {
            // scan merges the fork child's moved VMA with the unfaulted one
            assert!(
                c.diff("m")
                    .contains("-100000000000-100000004000 rw-p 00000000\n"),
                "{}",
                c.diff("m")
            );
        } else {
            assert!(c.layout_agrees(), "{name}:\n{}", c.diff("model (scan)"));
        }
    }
}
