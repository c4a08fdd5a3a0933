//! The strace importer: each syscall kind, strace's line forms, errors, and
//! the committed real-program traces.

use rmap_bench::strace::{ImportError, ImportOptions, import};

/// Imports `log` with no touches (so only the syscalls show) and returns
/// the op lines of the trace, comments stripped.
fn ops_of(log: &str) -> Vec<String> {
    let opts = ImportOptions {
        touch_fraction: 0.0,
        ..ImportOptions::default()
    };
    body(&import(log, "t.strace", &opts).unwrap().to_text())
}

fn body(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap().trim().to_string())
        .filter(|l| !l.is_empty() && !l.starts_with("config") && !l.starts_with("file "))
        .collect()
}

fn malformed(log: &str) -> (usize, String) {
    match import(log, "bad.strace", &ImportOptions::default()) {
        Err(ImportError::Malformed { line, expected, .. }) => (line, expected),
        other => panic!("expected a malformed-line error, got {other:?}"),
    }
}

#[test]
fn anonymous_mmap_munmap_mprotect() {
    let log = "\
100 execve(\"/bin/x\", [\"x\"], 0x7ffd /* 3 vars */) = 0
100 mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000
100 mprotect(0x7f0000000000, 4096, PROT_NONE) = 0
100 munmap(0x7f0000001000, 4096) = 0
100 exit_group(0) = ?
100 +++ exited with 0 +++
";
    assert_eq!(
        ops_of(log),
        [
            "fork 1 2",
            "exec 2",
            "mmap 2 0x7f0000000000 8K rw- private",
            "mprotect 2 0x7f0000000000 4K ---",
            "munmap 2 0x7f0000001000 4K",
            "exit 2",
            "exit 1",
        ]
    );
}
