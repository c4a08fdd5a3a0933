//! The model against the live Linux kernel this machine runs: seeded random
//! traces that create no anonymous state (read faults only, no guard
//! regions), with forks, files, mprotect, munmap and madvise, must give the
//! same `dump` and `err` lines on both, every one.

use rmap_bench::fidelity::compare;
use rmap_bench::tracegen::{GenOptions, gen_random_text};

#[test]
fn read_only_random_traces_match_the_live_kernel() {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        eprintln!("skipped: the live run needs Linux on x86-64");
        return;
    }
    let mut lines = 0;
    for seed in 0..300 {
        let opts = GenOptions {
            seed,
            anon_state: false,
            ..GenOptions::default()
        };
        let text = gen_random_text(&opts);
        let c = compare(&text, &format!("seed{seed}.trace"), "scan")
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert!(
            c.agree(),
            "seed {seed} differs:\n{}\ntrace:\n{text}",
            c.diff("model (scan)")
        );
        lines += c.kernel.lines().count();
    }
    assert!(
        lines > 5000,
        "the traces printed too little to compare: {lines} lines"
    );
}

#[test]
fn a_known_merge_case_matches_with_writes() {
    // A private file VMA written past EOF still gets anonymous state
    // (do_cow_fault prepares the anon_vma first), which decides a later merge.
    let text = "file f 4K
mmap 1 0x100000000000 4K rw- private file=f off=0x1000
touch 1 0x100000000000 4K w
mmap 1 0x100000002000 4K rw- private file=f off=0x3000
touch 1 0x100000002000 4K w
mmap 1 0x100000001000 4K rw- private file=f off=0x2000
dump 1
";
    let c = compare(text, "eof.trace", "scan").unwrap();
    assert!(c.agree(), "{}", c.diff("model"));
    assert_eq!(
        c.kernel.lines().filter(|l| l.starts_with("1000")).count(),
        2
    );
}
