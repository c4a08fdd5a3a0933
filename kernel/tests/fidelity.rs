//! The model against the live Linux kernel this machine runs: seeded random
//! traces that create no anonymous state (read faults only, no guard
//! regions), with forks, files, mprotect, munmap and madvise, must give the
//! same `dump` and `err` lines on both, every one. The live run itself must
//! be repeatable, and its `stats all` object counts must be Linux's.

use rmap_kernel::fidelity::{Comparison, comparable, compare, compare_with, stats_objects};
use rmap_kernel::harness::{KernelOptions, kernel_run_with};
use rmap_kernel::tracegen::{GenOptions, gen_random_text};

const LIVE: bool = cfg!(all(target_os = "linux", target_arch = "x86_64"));

fn live(text: &str, reps: usize) -> String {
    let mut out = Vec::new();
    kernel_run_with(
        text,
        "t.trace",
        &mut out,
        &KernelOptions { slab_reps: reps },
    )
    .unwrap_or_else(|e| panic!("{e}\n{text}"));
    String::from_utf8(out).unwrap()
}

/// [`live`] with object counts, run again (up to three times in all) when
/// a count comes out `null`: too noisy to tell, which a busy machine may
/// cause now and then. A wrong count is never retried away.
fn live_counted(text: &str) -> String {
    let mut out = String::new();
    for _ in 0..3 {
        out = live(text, 5);
        if !out.contains("null") {
            break;
        }
    }
    out
}

/// [`compare`], run again like [`live_counted`] while a kernel count is
/// `null`.
fn compare_counted(text: &str, name: &str) -> Comparison {
    rmap_kernel::fidelity::compare_counted(text, name, "scan").unwrap()
}

/// Whether this process may read exact slab counts (root, SLUB sysfs).
fn slab_counts_available() -> bool {
    ["vm_area_struct", "anon_vma", "anon_vma_chain"]
        .iter()
        .all(|k| {
            let d = std::path::Path::new("/sys/kernel/slab").join(k);
            std::fs::OpenOptions::new()
                .write(true)
                .open(d.join("shrink"))
                .is_ok()
                && std::fs::read_to_string(d.join("objects")).is_ok()
        })
}

#[test]
fn read_only_random_traces_match_the_live_kernel() {
    if !LIVE {
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
        let c = compare(&text, &format!("seed{seed}.trace"), "anonvma:linux")
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert!(
            c.agree(),
            "seed {seed} differs:\n{}\ntrace:\n{text}",
            c.diff("model (anonvma:linux)")
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
    let c = compare(text, "eof.trace", "anonvma:linux").unwrap();
    assert!(c.agree(), "{}", c.diff("model"));
    assert_eq!(
        c.kernel.lines().filter(|l| l.starts_with("1000")).count(),
        2
    );
}

#[test]
fn two_live_runs_print_the_same_layout_and_errors() {
    if !LIVE {
        eprintln!("skipped: the live run needs Linux on x86-64");
        return;
    }
    // writes, guards, forks and exits: everything the generator makes
    for seed in 0..40 {
        let text = gen_random_text(&GenOptions {
            seed,
            ..GenOptions::default()
        });
        let a = live(&text, 0);
        let b = live(&text, 0);
        assert_eq!(a, b, "seed {seed}:\n{text}");
        assert!(a.contains("dump "), "seed {seed}: {a}");
    }
}

/// Three separate anonymous VMAs, written, then two forks.
const FORK_TRACE: &str = include_str!("fork.trace");

/// remap_file_pages on a 4.0-or-later kernel: splits, a remap over two
/// VMAs that merges back, the errors (a protection, another file, a
/// private or missing mapping, other flags, an offset past any file, an
/// empty range), a fork child's remap, shared anonymous memory.
const REMAP_TRACE: &str = include_str!("remap.trace");

/// What this machine's kernel (6.18) printed for [`REMAP_TRACE`].
const REMAP_KERNEL: &str = include_str!("remap.expected");

/// The model's 4.0-and-later presets emulate remap_file_pages as the
/// kernel does: same layouts and errors as the live run recorded (this
/// part runs on every host); presets before 4.0 keep nonlinear VMAs.
#[test]
fn remap_emulation_matches_the_kernel() {
    for b in ["anonvma:linux", "anonvma:unfaulted"] {
        let out = rmap_registry::with_backend(b, Replay(REMAP_TRACE)).unwrap();
        assert_eq!(comparable(&out), REMAP_KERNEL, "{b}");
    }
    let old = rmap_registry::with_backend("anonvma:reuse-3.19", Replay(REMAP_TRACE)).unwrap();
    assert_ne!(comparable(&old), REMAP_KERNEL);
    if !LIVE {
        eprintln!("skipped the live part: it needs Linux on x86-64");
        return;
    }
    if !kernel_emulates_remap() {
        eprintln!("skipped the live part: this kernel predates the 4.0 emulation");
        return;
    }
    let c = compare(REMAP_TRACE, "remap.trace", "anonvma:linux").unwrap();
    assert!(c.agree(), "{}", c.diff("model (anonvma:linux)"));
    assert_eq!(c.kernel, REMAP_KERNEL);
}

/// Whether this machine's kernel is 4.0 or later (whose remap_file_pages
/// is the emulation), from `/proc/sys/kernel/osrelease`.
fn kernel_emulates_remap() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .and_then(|r| r.split('.').next()?.trim().parse::<u32>().ok())
        .is_some_and(|major| major >= 4)
}

/// Replays a trace on a registry backend; the output, `check` included.
struct Replay(&'static str);

impl rmap_registry::WithBackend for Replay {
    type Out = String;
    fn run<R: rmap_core::Presets>(self, rmap: R) -> String {
        let mut buf = Vec::new();
        rmap_core::replay::replay(self.0, "remap.trace", rmap, Default::default(), &mut buf)
            .unwrap();
        String::from_utf8(buf).unwrap()
    }
}

#[test]
fn object_counts_of_a_fork_trace_are_linux_s() {
    if !LIVE {
        eprintln!("skipped: the live run needs Linux on x86-64");
        return;
    }
    if !slab_counts_available() {
        // the run must still work, with null counts
        let out = live(FORK_TRACE, 5);
        let objs = stats_objects(&out);
        assert_eq!(objs.len(), 3, "{out}");
        eprintln!("skipped: /sys/kernel/slab is not writable here");
        return;
    }
    let out = live_counted(FORK_TRACE);
    // Each written VMA has its own anon_vma (none is adjacent to another)
    // and one chain link. A fork gives each child VMA a new anon_vma and two
    // links (its own and the parent's): 3 + 3 + 3 anon_vmas, 3 + 6 + 6
    // links, 9 VMAs. When process 1 exits, its anon_vmas stay: they are the
    // roots of process 2's, which hold a reference to them.
    let expected = "\
{\"objects\":{\"anon_vma\":9,\"anon_vma_chain\":15,\"vm_area_struct\":9}}
{\"objects\":{\"anon_vma\":6,\"anon_vma_chain\":9,\"vm_area_struct\":6}}
{\"objects\":{\"anon_vma\":6,\"anon_vma_chain\":6,\"vm_area_struct\":3}}
dump 2
100000000000-100000002000 rw-p 00000000
100000010000-100000012000 rw-p 00000000
100000020000-100000022000 rw-p 00000000
";
    assert_eq!(out, expected);
    // kernel-diff compares the kind both sides count (scan has no anon_vma)
    let c = compare_counted(FORK_TRACE, "fork.trace");
    assert!(c.agree(), "{}", c.diff("model"));
    assert_eq!(
        c.objects_report(),
        "stats line 9: vm_area_struct model 9 kernel 9\n\
         stats line 11: vm_area_struct model 6 kernel 6\n\
         stats line 13: vm_area_struct model 3 kernel 3\n"
    );
}

#[test]
fn object_counts_follow_anon_vma_preparation() {
    if !LIVE || !slab_counts_available() {
        eprintln!("skipped: no live run or no writable /sys/kernel/slab");
        return;
    }
    let text = "\
mmap 1 0x100000000000 8K rw- private
touch 1 0x100000000000 8K r
stats all
madvise 1 0x100000000000 4K guard_install
stats all
mmap 1 0x100000010000 4K rw- private
mmap 1 0x100000011000 4K -w- private
touch 1 0x100000010000 4K w
touch 1 0x100000011000 4K w
stats all
mprotect 1 0x100000011000 4K rw-
stats all
";
    // a read fault maps the zero page: no anon_vma; a guard installs one;
    // the second write fault reuses its neighbour's anon_vma
    // (find_mergeable_anon_vma), which later lets the two merge
    let out = live_counted(text);
    let objs = stats_objects(&out);
    let got: Vec<[u64; 3]> = objs
        .iter()
        .map(|o| {
            ["anon_vma", "anon_vma_chain", "vm_area_struct"]
                .map(|k| o[k].unwrap_or_else(|| panic!("no count: {out}")))
        })
        .collect();
    assert_eq!(got, [[0, 0, 1], [1, 1, 1], [2, 3, 3], [2, 2, 2]], "{out}");
    // scan has no anonymous state and merges as 2.6.0 did, with no
    // anonymous condition (issue 16, item 10): mprotect joins the two
    // written VMAs as the kernel does here (through the shared anon_vma),
    // and the VMA counts agree
    let c = compare_counted(text, "c.trace");
    assert!(c.agree(), "{}", c.diff("model"));
    assert!(
        c.objects_report()
            .contains("stats line 12: vm_area_struct model 2 kernel 2"),
        "{}",
        c.objects_report()
    );
}

#[test]
fn without_slab_counts_stats_all_prints_null_counts() {
    if !LIVE {
        eprintln!("skipped: the live run needs Linux on x86-64");
        return;
    }
    let out = live(
        "mmap 1 0x100000000000 4K rw- private\nstats all\nstats 1\n",
        0,
    );
    assert_eq!(
        out,
        "{\"objects\":{\"anon_vma\":null,\"anon_vma_chain\":null,\"vm_area_struct\":null}}\n"
    );
    // kernel-diff then compares the layout only
    let c = compare_with(
        "mmap 1 0x100000000000 4K rw- private\nstats all\ndump 1\n",
        "n.trace",
        "scan",
        &KernelOptions { slab_reps: 0 },
    )
    .unwrap();
    assert!(c.agree(), "{c:?}");
    assert_eq!(
        c.objects_report(),
        "stats line 2: vm_area_struct model 1 kernel null\n"
    );
    assert_eq!(comparable(&out), "");
}
