//! Every preset merges VMAs as its era's code did (issue 16, items 10 and
//! 11): the same traces, run on every preset, give the layouts of
//! `rmap_core::merge_rules`. Each case names the rule that decides it.

use rmap_core::{Config, Presets, merge_rules};
use rmap_registry::{WithBackend, all_specs, with_backend};

struct Run<'a>(&'a str);

impl WithBackend for Run<'_> {
    type Out = String;
    fn run<R: Presets>(self, rmap: R) -> String {
        let mut out = Vec::new();
        rmap_core::replay::replay(self.0, "case", rmap, Config::default(), &mut out)
            .unwrap_or_else(|e| panic!("{e}"));
        String::from_utf8(out).expect("UTF-8")
    }
}

/// VMA lines printed by `trace` under each preset, as `(spec, count)`.
fn vma_counts(trace: &str) -> Vec<(String, usize)> {
    all_specs()
        .into_iter()
        .map(|spec| {
            let out = with_backend(&spec, Run(trace)).expect("listed");
            let n = out.lines().filter(|l| l.starts_with("1000")).count();
            (spec, n)
        })
        .collect()
}

/// The presets whose count is `n`.
fn with_count(counts: &[(String, usize)], n: usize) -> Vec<&str> {
    counts
        .iter()
        .filter(|(_, c)| *c == n)
        .map(|(s, _)| s.as_str())
        .collect()
}

/// issue 16's trace: a new mapping beside a written VMA inherited through
/// fork. No anonymous condition (2.6.0, anonmm, scan) and NULL-or-equal
/// (2.6.7, 2.6.34 with no singular test in `is_mergeable_anon_vma`) merge;
/// 3.0's singular-chain test and 6.18's fork-child rule refuse.
#[test]
fn a_new_mapping_beside_a_fork_child() {
    let counts = vma_counts(merge_rules::FORK_NEIGHBOUR);
    assert_eq!(
        with_count(&counts, 2),
        [
            "anonvma:linux",
            "anonvma:mutex-3.0",
            "anonvma:rwsem-3.8",
            "anonvma:reuse-3.19",
            "anonvma:unfaulted"
        ],
        "{counts:?}"
    );
    assert_eq!(with_count(&counts, 1).len(), counts.len() - 5);
}

/// mprotect turns a written VMA into its unwritten neighbour's twin. 3.0-3.19
/// refuse: one side has no anon_vma and the neighbour's chain is empty,
/// not singular (the case Jann Horn called nerfed); every other era merges
/// (6.18: neither side is a fork child).
#[test]
fn mprotect_into_a_neighbour_without_anonymous_state() {
    let trace = "mmap 1 0x100000000000 4K r-- private,noreserve
mmap 1 0x100000001000 4K rw- private,noreserve
touch 1 0x100000001000 4K w
mprotect 1 0x100000001000 4K r--
dump 1
";
    let counts = vma_counts(trace);
    assert_eq!(
        with_count(&counts, 2),
        [
            "anonvma:mutex-3.0",
            "anonvma:rwsem-3.8",
            "anonvma:reuse-3.19"
        ],
        "{counts:?}"
    );
}

/// A shared file mapping split by mprotect and made whole again: 2.6.0's
/// mprotect merges private anonymous VMAs only, so the pte-chain era (and
/// scan, McCracken, prio) keep two VMAs; from anonmm on mprotect merges
/// through `vma_merge` and gives one.
#[test]
fn mprotect_merges_file_vmas_from_vma_merge_on() {
    let trace = "file f 16K
mmap 1 0x100000000000 8K r-- shared file=f off=0
mprotect 1 0x100000001000 4K rw-
mprotect 1 0x100000001000 4K r--
dump 1
";
    let counts = vma_counts(trace);
    assert_eq!(
        with_count(&counts, 2),
        [
            "scan:default",
            "pte-chain:rik",
            "pte-chain:naive",
            "pte-chain:nrpte15",
            "pte-chain:nrpte31",
            "objrmap:mccracken",
            "objrmap:prio"
        ],
        "{counts:?}"
    );
}

/// scan has no anonymous state, so it merges as the pre-anon_vma presets
/// of 2.6.0 do on every trace here (issue 16, item 10).
#[test]
fn scan_layouts_equal_the_pte_chain_era() {
    let traces = [
        merge_rules::FORK_NEIGHBOUR,
        "mmap 1 0x100000000000 8K rw- private
touch 1 0x100000000000 8K w
fork 1 2
touch 2 0x100000000000 4K w
mmap 2 0x100000002000 4K rw- private
touch 2 0x100000002000 4K w
mprotect 2 0x100000001000 4K r--
mprotect 2 0x100000001000 4K rw-
dump 2
",
    ];
    for t in traces {
        let scan = with_backend("scan:default", Run(t)).unwrap();
        for spec in ["pte-chain:rik", "objrmap:mccracken", "objrmap:prio"] {
            assert_eq!(with_backend(spec, Run(t)).unwrap(), scan, "{spec}\n{t}");
        }
    }
}
