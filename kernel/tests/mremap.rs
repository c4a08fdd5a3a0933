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

/// `dump` and `err` lines with every run of VMAs that could be one (end
/// meets start, same permissions and name, contiguous offsets) joined: the
/// layout as the pages see it, whatever the merge rules.
fn coalesced(out: &str) -> Vec<String> {
    let mut v: Vec<(u64, u64, String, u64, String)> = Vec::new();
    let mut lines = Vec::new();
    let flush = |v: &mut Vec<(u64, u64, String, u64, String)>, lines: &mut Vec<String>| {
        for (a, b, p, o, n) in v.drain(..) {
            lines.push(format!("{a:x}-{b:x} {p} {o:x} {n}"));
        }
    };
    for l in out.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let range = f.first().and_then(|r| r.split_once('-'));
        let (Some((a, b)), true) = (range, f.len() >= 3) else {
            flush(&mut v, &mut lines);
            lines.push(l.to_string());
            continue;
        };
        let a = u64::from_str_radix(a, 16).unwrap();
        let b = u64::from_str_radix(b, 16).unwrap();
        let off = u64::from_str_radix(f[2], 16).unwrap();
        let name = f.get(3).copied().unwrap_or("").to_string();
        let anon = name.is_empty() && f[1].ends_with('p');
        match v.last_mut() {
            Some(last)
                if last.1 == a
                    && last.2 == f[1]
                    && last.4 == name
                    && (anon || last.3 + (last.1 - last.0) == off) =>
            {
                last.1 = b;
            }
            _ => v.push((a, b, f[1].to_string(), off, name)),
        }
    }
    flush(&mut v, &mut lines);
    lines
}

/// scan has no anonymous state and merges as 2.6.0 did (issue 16, item
/// 10): no anonymous condition, and mprotect and mremap merge private
/// anonymous VMAs only. So it agrees with the kernel on every error and
/// on every page's mapping, and may differ only in where VMAs are split.
#[test]
fn scan_agrees_but_for_its_eras_merges() {
    if !LIVE {
        eprintln!("skipped: the live run needs Linux on x86-64");
        return;
    }
    let mut agree = 0;
    for (name, text) in TRACES {
        let c = compare(text, name, "scan").unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            coalesced(&c.model),
            coalesced(&c.kernel),
            "{name}:\n{}",
            c.diff("model (scan)")
        );
        agree += c.layout_agrees() as usize;
    }
    assert!(agree * 2 > TRACES.len(), "{agree} of {}", TRACES.len());
}
