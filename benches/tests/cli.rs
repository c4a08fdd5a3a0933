//! End-to-end tests of the `rmap-bench` binary: exact replay output, exit
//! statuses, and clear errors for malformed input.

use std::io::Write;
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rmap-bench"))
}

fn replay_text(text: &str, extra: &[&str]) -> Output {
    let dir = std::env::temp_dir().join(format!("rmap-cli-{}-{}", std::process::id(), text.len()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("t.trace");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = bin().arg("replay").arg(&path).args(extra).output().unwrap();
    std::fs::remove_dir_all(&dir).ok();
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn example_trace_replays_with_exact_output() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/basic.trace");
    let o = bin().args(["replay", path]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let expected_head = "err 14 touch EFAULT
dump 1
100000000000-100000002000 rw-p 00000000
100000002000-100000003000 r--p 00000000
100000003000-100000006000 rw-p 00000000
100000010000-100000018000 r-xp 00000000 libc.so
100000018000-10000001a000 rw-p 00008000 libc.so
dump 2
100000000000-100000006000 rw-p 00000000
100000010000-100000018000 r-xp 00000000 libc.so
100000018000-10000001a000 rw-p 00008000 libc.so
";
    assert!(out.starts_with(expected_head), "{out}");
    let last = out.lines().last().unwrap();
    let v: serde_json::Value = serde_json::from_str(last).unwrap();
    for key in [
        "vmas",
        "processes",
        "frames_used",
        "pt_pages",
        "swap_used",
        "kernel_bytes",
    ] {
        assert!(v[key].is_u64(), "stats all lacks {key}: {last}");
    }
    for key in ["walks", "vmas_visited", "ptes_checked", "hits"] {
        assert!(v["rmap"][key].is_u64(), "stats all lacks rmap.{key}");
    }
    assert!(
        v["rmap"]["walks"].as_u64().unwrap() > 0,
        "reclaim walked nothing"
    );
    assert_eq!(v["objects"]["vm_area_struct"], v["vmas"]);
    // Same input, same output: determinism.
    let again = bin().args(["replay", path]).output().unwrap();
    assert_eq!(again.stdout, o.stdout);
}

#[test]
fn malformed_lines_name_file_and_line_and_exit_2() {
    let cases = [
        (
            "mmap 1 0x100000000000 4K rw- private\nmunmap 1 zz 4K\n",
            ":2: found `zz`",
        ),
        ("mmap 1 0x100000000000 4K rwz private\n", ":1: found `rwz`"),
        ("frobnicate\n", ":1: found `frobnicate`"),
        ("dump 1\nconfig ram=1M\n", ":2:"),
        ("mmap 1 0x100000000000 4K rw- private file=nope\n", ":1:"),
        ("touch 7 0x100000000000 4K r\n", ":1: found `process 7`"),
        ("fork 1 1\n", ":1: found `process 1`"),
        (
            "config ram=4K\nmmap 1 0x100000000000 4K rw- private\n",
            ":2:",
        ),
        (
            "mmap 1 0x100000000000 99999999999999999999999 rw- private\n",
            ":1:",
        ),
    ];
    for (text, want) in cases {
        let o = replay_text(text, &[]);
        assert_eq!(o.status.code(), Some(2), "{text:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("t.trace") && err.contains(want),
            "{text:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn lines_before_a_malformed_one_run() {
    let o = replay_text(
        "mmap 1 0x100000000000 4K rw- private\ndump 1\nbogus\ndump 1\n",
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stdout(&o),
        "dump 1\n100000000000-100000001000 rw-p 00000000\n"
    );
}

#[test]
fn unknown_backend_or_preset_is_a_clear_error() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/basic.trace");
    let o = bin()
        .args(["replay", path, "--backend", "nosuch"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown backend `nosuch`"),
        "{}",
        stderr(&o)
    );
    let o = bin()
        .args(["replay", path, "--backend", "scan:turbo"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no preset `turbo`"), "{}", stderr(&o));
    let o = bin()
        .args(["replay", "/nonexistent/x.trace"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn backends_lists_scan() {
    let o = bin().arg("backends").output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("scan:default"));
}

#[test]
fn the_command_writes_the_trace_or_exits_2() {
    let dir = std::env::temp_dir().join(format!("rmap-strace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("p.strace");
    std::fs::write(&log, "1 brk(NULL) = 0x5000\n1 brk(0x7000) = 0x7000\n").unwrap();
    let out = dir.join("p.trace");
    let bin = env!("CARGO_BIN_EXE_rmap-bench");
    let o = std::process::Command::new(bin)
        .arg("import-strace")
        .arg(&log)
        .arg("-o")
        .arg(&out)
        .args(["--touch-fraction", "1"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.ends_with(
            "mmap 2 0x5000 8K rw- private\ntouch 2 0x5000 8K w\nexit 1 # the launcher\n"
        ),
        "{text}"
    );
    let o = std::process::Command::new(bin)
        .arg("import-strace")
        .arg(&log)
        .args(["--touch-fraction", "1"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), text);
    std::fs::write(&log, "1 brk(NULL) = 0x5000\n1 mmap(\n").unwrap();
    let o = std::process::Command::new(bin)
        .arg("import-strace")
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("p.strace:2: "), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn replay_says_when_a_trace_asks_for_nothing() {
    let o = replay_text(
        "mmap 1 0x100000000000 8K rw- private\ntouch 1 0x100000000000 8K w\n",
        &[],
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "");
    assert!(stderr(&o).contains("asks for no output"), "{}", stderr(&o));
    // A trace that asks prints and says nothing more.
    let o = replay_text("mmap 1 0x100000000000 8K rw- private\ndump 1\n", &[]);
    assert!(!stderr(&o).contains("asks for no output"), "{}", stderr(&o));
}

#[test]
fn replay_prints_a_lock_table_and_json() {
    let t = "mmap 1 0x100000000000 64K rw- private\ntouch 1 0x100000000000 64K w\nfork 1 2\nreclaim 8\nstats all\n";
    let o = replay_text(t, &["--locks"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("acquisitions") && err.contains("mmap_lock"),
        "{err}"
    );
    // The table's own `stats all` is not printed: only the trace's one.
    assert_eq!(stdout(&o).lines().count(), 1, "{}", stdout(&o));
    let o = replay_text(t, &["--format", "json", "--backend", "scan"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["stats"][0]["backend"], "scan:default");
    assert!(v["errors"].as_array().unwrap().is_empty());
    let o = replay_text(t, &["--locks", "--lock-recording", "off"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn listings_come_as_json_and_completions_as_scripts() {
    for cmd in ["backends", "scenarios"] {
        let o = bin().args([cmd, "--format", "json"]).output().unwrap();
        assert_eq!(o.status.code(), Some(0));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert!(v.as_array().unwrap().len() >= 4, "{cmd}");
    }
    for sh in ["bash", "zsh", "fish"] {
        let o = bin().args(["completions", sh]).output().unwrap();
        assert_eq!(o.status.code(), Some(0));
        assert!(stdout(&o).contains("choose"), "{sh}");
    }
}

#[test]
fn report_still_reads_results_from_before_intervals() {
    // The committed full run predates intervals: a copy reports, and says
    // that its times cannot be tested.
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/../results/full");
    let dir = std::env::temp_dir().join(format!("rmap-oldfull-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["results.csv", "meta.json"] {
        std::fs::copy(format!("{src}/{f}"), dir.join(f)).unwrap();
    }
    let o = bin().arg("report").arg(&dir).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let md = std::fs::read_to_string(dir.join("REPORT.md")).unwrap();
    assert!(md.contains("## Which rmap strategy"));
    assert!(dir.join("report.html").is_file());
    // A directory that is not results at all: a clear error and status 2.
    std::fs::write(dir.join("results.csv"), "nonsense\n1,2\n").unwrap();
    let o = bin().arg("report").arg(&dir).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("rerun"), "{}", stderr(&o));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn shards_merge_into_one_report_and_partial_runs_keep_out_of_full() {
    let dir = std::env::temp_dir().join(format!("rmap-shards-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let run = |k: u32| {
        let out = dir.join(format!("s{k}"));
        let o = bin()
            .args([
                "run",
                "heap-churn/merge=none",
                "--backends",
                "scan,anonvma:linux",
            ])
            .args([
                "--sizes",
                "100",
                "--reps",
                "2",
                "--max-reps",
                "2",
                "--no-kernel",
            ])
            .args(["--shard", &format!("{k}/2"), "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        out
    };
    let (a, b) = (run(1), run(2));
    let merged = dir.join("merged");
    let o = bin()
        .arg("report")
        .arg(&a)
        .arg(&b)
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let csv = std::fs::read_to_string(merged.join("results.csv")).unwrap();
    assert!(
        csv.contains("scan:default") && csv.contains("anonvma:linux"),
        "{csv}"
    );
    // The same shard twice is not a sweep.
    let o = bin()
        .arg("report")
        .arg(&a)
        .arg(&a)
        .arg("--out")
        .arg(dir.join("m2"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("disjoint"), "{}", stderr(&o));
    // A filtered run aimed at a directory holding a complete run is refused.
    let full = dir.join("full");
    std::fs::create_dir_all(&full).unwrap();
    std::fs::copy(merged.join("results.csv"), full.join("results.csv")).unwrap();
    std::fs::write(
        full.join("meta.json"),
        std::fs::read_to_string(merged.join("meta.json"))
            .unwrap()
            .replace("\"complete\": false", "\"complete\": true"),
    )
    .unwrap();
    let before = std::fs::read(full.join("results.csv")).unwrap();
    let o = bin()
        .args([
            "run",
            "heap-churn/merge=none",
            "--backends",
            "scan",
            "--reps",
            "1",
            "--no-kernel",
            "--force",
            "--out",
        ])
        .arg(&full)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("may not replace"), "{}", stderr(&o));
    assert_eq!(std::fs::read(full.join("results.csv")).unwrap(), before);
    std::fs::remove_dir_all(&dir).ok();
}
