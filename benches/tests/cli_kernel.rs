//! The live-kernel commands of the `rmap-bench` binary: `fidelity` and
//! `kernel-diff` print what they compare and exit 0, 1 or 2.

const LIVE: bool = cfg!(all(target_os = "linux", target_arch = "x86_64"));

/// Three separate anonymous VMAs, written, then two forks (the trace the
/// kernel crate's fidelity tests count objects of).
const FORK_TRACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../kernel/tests/fork.trace");

fn bench(args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rmap-bench"))
        .args(args)
        .output()
        .expect("run rmap-bench");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn the_fidelity_command_reports_the_agreement_rate() {
    if !LIVE {
        eprintln!("skipped: the live run needs Linux on x86-64");
        return;
    }
    let (code, out) = bench(&["fidelity", "--seeds", "0..20", "--read-only"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out,
        "agree: 20/20 traces (100.0%); dump and err lines agree in 20/20\n"
    );
    // seed 116 with writes is a known class-A disagreement of scan
    let (code, out) = bench(&["fidelity", "--seeds", "116..117", "--show", "1"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with("=== seed 116 differs\n--- model (scan)\n"),
        "{out}"
    );
    assert!(out.ends_with("agree: 0/1 traces (0.0%); dump and err lines agree in 0/1\n"));
    let (code, out) = bench(&["fidelity", "--seeds", "5..2"]);
    assert_eq!(code, 2, "{out}");
}

#[test]
fn kernel_diff_prints_the_object_counts_it_compares() {
    if !LIVE {
        eprintln!("skipped: the live run needs Linux on x86-64");
        return;
    }
    let (code, out) = bench(&["kernel-diff", FORK_TRACE, "--slab-reps", "0"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out,
        "agree: 4 lines of dump and err output\n\
         stats line 9: vm_area_struct model 9 kernel null\n\
         stats line 11: vm_area_struct model 6 kernel null\n\
         stats line 13: vm_area_struct model 3 kernel null\n"
    );
}

#[test]
fn kernel_diff_with_nothing_compared_says_so_and_fails() {
    if !LIVE {
        eprintln!("skipped: the live run needs Linux on x86-64");
        return;
    }
    let dir = std::env::temp_dir().join(format!("rmap-kd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let t = dir.join("quiet.trace");
    std::fs::write(
        &t,
        "mmap 1 0x100000000000 8K rw- private\ntouch 1 0x100000000000 8K w\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rmap-bench"))
        .args(["kernel-diff", t.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nothing compared"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
