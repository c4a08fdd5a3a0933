//! The live-kernel commands of the `rmap-bench` binary: `fidelity` and
//! `kernel-diff` print what they compare and exit 0, 1 or 2.

const LIVE: bool = cfg!(all(target_os = "linux", target_arch = "x86_64"));

/// Three separate anonymous VMAs, written, then two forks (the trace the
/// kernel crate's fidelity tests count objects of).
const FORK_TRACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../kernel/tests/fork.trace");

fn bench(args: &[&str]) -> (i32, String) {
    bench_on(None, args).0
}

/// Runs rmap-bench, with the host's protection keys forced `on` or `off`
/// when given (`RMAP_HOST_PKEYS`); exit status, stdout, and stderr.
fn bench_on(pkeys: Option<bool>, args: &[&str]) -> ((i32, String), String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rmap-bench"));
    cmd.args(args);
    if let Some(on) = pkeys {
        cmd.env(rmap_kernel::host::PKEYS_ENV, if on { "on" } else { "off" });
    }
    let out = cmd.output().expect("run rmap-bench");
    (
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ),
        String::from_utf8_lossy(&out.stderr).into_owned(),
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
    // seed 207 with writes is a known class-A disagreement of scan (it
    // merges two faulted VMAs whose anon_vmas keep them apart in Linux)
    // (scan is named: the default backend is anonvma:linux)
    let (code, out) = bench(&[
        "fidelity",
        "--seeds",
        "207..208",
        "--show",
        "1",
        "--backend",
        "scan",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with("=== seed 207 differs\n--- model (scan)\n"),
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
    let (code, out) = bench(&[
        "kernel-diff",
        FORK_TRACE,
        "--slab-reps",
        "0",
        "--backend",
        "scan",
    ]);
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

/// The other host's path, forced on this one: with the host's keys said to
/// be the opposite of what this kernel does, the read-only traces differ
/// from the kernel in nothing but exec-only reads (the model follows the
/// setting it is given, and that is the whole difference), and a trace
/// that asks for `pkeys=on` on a host said to have no keys is refused.
#[test]
fn fidelity_follows_the_host_s_protection_keys() {
    if !LIVE {
        eprintln!("skipped: the live run needs Linux on x86-64");
        return;
    }
    let real = rmap_kernel::host::detect_pkeys();
    let ((code, out), _) = bench_on(
        Some(!real),
        &[
            "fidelity",
            "--seeds",
            "0..40",
            "--read-only",
            "--show",
            "40",
        ],
    );
    assert_eq!(code, 1, "{out}");
    let mut differs = 0;
    for line in out.lines().filter(|l| l.starts_with(['-', '+'])) {
        if line.starts_with("---") || line.starts_with("+++") {
            continue;
        }
        differs += 1;
        // with keys said off (really on) the model misses the kernel's
        // fault; said on (really off) it reports one the kernel does not
        let (sign, body) = line.split_at(1);
        assert_eq!(sign, if real { "+" } else { "-" }, "{line}\n{out}");
        assert!(
            body.starts_with("err ") && body.ends_with(" touch EFAULT"),
            "{line}\n{out}"
        );
    }
    assert!(differs > 0, "{out}");
    // and each such line is a read of an exec-only mapping: the model with
    // the real setting agrees on every trace
    let ((code, out), _) = bench_on(Some(real), &["fidelity", "--seeds", "0..40", "--read-only"]);
    assert_eq!(code, 0, "{out}");
    // refusal: pkeys=on with no keys
    let dir = std::env::temp_dir().join(format!("rmap-pkeys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let t = dir.join("on.trace");
    std::fs::write(
        &t,
        "config pkeys=on\nmmap 1 0x100000000000 4K --x private\ndump 1\n",
    )
    .unwrap();
    let t = t.to_str().unwrap();
    for cmd in ["kernel-run", "kernel-diff"] {
        let ((code, out), err) = bench_on(Some(false), &[cmd, t]);
        assert_eq!((code, out.as_str()), (2, ""), "{cmd}: {err}");
        assert!(
            err.contains(":1: the trace asks for pkeys=on"),
            "{cmd}: {err}"
        );
    }
    let ((code, _), err) = bench_on(Some(true), &["kernel-run", t]);
    assert_eq!(code, 0, "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
