//! The strace importer: each syscall kind, strace's line forms, errors, and
//! the committed real-program traces.

use rmap_traces::strace::{ImportError, ImportOptions, import};

/// Imports `log` with no touches (so only the syscalls show) and returns
/// the op lines of the trace, comments stripped.
fn ops_of(log: &str) -> Vec<String> {
    let opts = ImportOptions {
        touch_fraction: 0.0,
        stack_touch: 0,
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

#[test]
fn file_mmap_uses_the_path_of_the_fd_and_its_fstat_size() {
    let log = "\
7 openat(AT_FDCWD, \"/lib/libc.so.6\", O_RDONLY|O_CLOEXEC) = 3
7 newfstatat(3, \"\", {st_mode=S_IFREG|0755, st_size=10000, ...}, AT_EMPTY_PATH) = 0
7 mmap(NULL, 16384, PROT_READ, MAP_PRIVATE|MAP_DENYWRITE, 3, 0) = 0x7f0000000000
7 mmap(0x7f0000001000, 4096, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE, 3, 0x1000) = 0x7f0000001000
7 dup(3) = 5
7 close(3) = 0
7 mmap(NULL, 4096, PROT_READ, MAP_SHARED, 5, 0x2000) = 0x7f0000100000
";
    let opts = ImportOptions {
        touch_fraction: 1.0,
        ..ImportOptions::default()
    };
    let text = import(log, "t.strace", &opts).unwrap().to_text();
    assert!(text.contains("\nfile libc.so.6 10000\n"), "{text}");
    let ops = body(&text);
    assert_eq!(
        ops,
        [
            "fork 1 2",
            "mmap 2 0x7f0000000000 16K r-- private file=libc.so.6",
            // pages past the end of the 10000-byte file are not touched
            "touch 2 0x7f0000000000 12K r",
            "mmap 2 0x7f0000001000 4K r-x private file=libc.so.6 off=0x1000",
            "touch 2 0x7f0000001000 4K r",
            "mmap 2 0x7f0000100000 4K r-- shared file=libc.so.6 off=0x2000",
            "touch 2 0x7f0000100000 4K r",
            "exit 1",
        ]
    );
}

#[test]
fn unknown_fd_and_size_follow_the_documented_rule() {
    // fd 9 was never opened in the log: a file named after it, sized by
    // the largest extent mapped
    let log = "1 mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, 9, 0x1000) = 0x10000\n";
    let text = import(log, "t", &ImportOptions::default())
        .unwrap()
        .to_text();
    assert!(text.contains("\nfile fd9-of-1 12K\n"), "{text}");
    assert!(text.contains("mmap 2 0x10000 8K r-- private file=fd9-of-1 off=0x1000"));
}

#[test]
fn unfinished_and_resumed_lines_join() {
    let log = "\
10 mmap(NULL, 4096, PROT_READ|PROT_WRITE,  <unfinished ...>
11 mmap(NULL, 8192, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x20000
10 <... mmap resumed>MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x10000
";
    assert_eq!(
        ops_of(log),
        [
            // processes are numbered in the order of their first finished call
            "fork 1 2",
            "mmap 2 0x20000 8K r-- private",
            "fork 1 3",
            "mmap 3 0x10000 4K rw- private",
            "exit 1",
        ]
    );
}

#[test]
fn prefixes_timestamps_and_signals() {
    let log = "\
[pid  300] 12:00:01.000001 brk(NULL) = 0x555000
--- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED} ---
12:00:01.000002 brk(0x557000) = 0x557000 <0.000010>
";
    // a line without a prefix belongs to the first process
    assert_eq!(
        ops_of(log),
        ["fork 1 2", "mmap 2 0x555000 8K rw- private", "exit 1"]
    );
}

#[test]
fn brk_grows_and_shrinks_the_heap() {
    let log = "\
5 brk(NULL) = 0x5000
5 brk(0x8800) = 0x8800
5 brk(0x9000) = 0x9000
5 brk(0x6000) = 0x6000
5 brk(0xffffffff000) = 0x6000
";
    assert_eq!(
        ops_of(log),
        [
            "fork 1 2",
            "mmap 2 0x5000 16K rw- private",
            // 0x8800 was rounded up to 0x9000 already
            "munmap 2 0x6000 12K",
            "exit 1",
        ]
    );
}

#[test]
fn failed_calls_change_nothing() {
    let log = "\
5 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = -1 ENOMEM (Cannot allocate memory)
5 munmap(0x1000, 4096) = -1 EINVAL (Invalid argument)
5 execve(\"/nope\", [\"nope\"], 0x1 /* 0 vars */) = -1 ENOENT (No such file or directory)
5 openat(AT_FDCWD, \"/x\", O_RDONLY) = -1 ENOENT (No such file or directory)
5 frobnicate(1, 2) = 0
";
    let im = import(log, "t", &ImportOptions::default()).unwrap();
    assert_eq!(body(&im.to_text()), ["exit 1"]);
    assert_eq!((im.stats.calls, im.stats.failed), (5, 4));
}

#[test]
fn fork_copies_fds_and_mappings_and_clone_vm_threads_share_the_mm() {
    let log = "\
1 openat(AT_FDCWD, \"/data\", O_RDONLY) = 3
1 mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x10000
1 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f) = 2
2 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 3, 0) = 0x20000
2 mprotect(0x10000, 4096, PROT_READ) = 0
1 clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM, exit_signal=0, stack=0x7f, stack_size=0x7fff80} => {parent_tid=[4]}, 88) = 4
4 mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_STACK, -1, 0) = 0x30000
4 exit(0) = ?
4 +++ exited with 0 +++
2 exit_group(0) = ?
2 +++ exited with 0 +++
1 exit_group(0) = ?
1 +++ exited with 0 +++
";
    assert_eq!(
        ops_of(log),
        [
            "fork 1 2",
            "mmap 2 0x10000 4K rw- private",
            "fork 2 3",
            "mmap 3 0x20000 4K r-- private file=data",
            "mprotect 3 0x10000 4K r--",
            // the thread's mapping is in its parent's address space
            "mmap 2 0x30000 4K rw- private",
            "exit 3",
            "exit 2",
            "exit 1",
        ]
    );
}

#[test]
fn a_vfork_child_shares_until_exec_and_may_appear_before_the_parent_resumes() {
    let log = "\
1 vfork( <unfinished ...>
9 execve(\"/usr/bin/as\", [\"as\"], 0x1 /* 1 var */ <unfinished ...>
1 <... vfork resumed>) = 9
9 <... execve resumed>) = 0
9 brk(NULL) = 0x1000
9 exit_group(0) = ?
9 +++ exited with 0 +++
1 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x10000
";
    assert_eq!(
        ops_of(log),
        [
            "fork 1 2",
            // the child's new address space starts empty, as exec makes it
            "fork 1 3",
            "exec 3",
            "exit 3",
            "mmap 2 0x10000 4K r-- private",
            "exit 1",
        ]
    );
}

#[test]
fn mremap_madvise_and_clipping_to_known_memory() {
    let log = "\
1 mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x10000
1 mremap(0x10000, 8192, 16384, MREMAP_MAYMOVE) = 0x10000
1 mremap(0x10000, 16384, 4096, 0) = 0x10000
1 mremap(0x10000, 4096, 8192, MREMAP_MAYMOVE) = 0x40000
1 madvise(0x40000, 8192, MADV_DONTNEED) = 0
1 madvise(0x40000, 8192, MADV_WILLNEED) = 0
1 mprotect(0x3f000, 16384, PROT_READ) = 0
1 madvise(0x40000, 4096, MADV_DONTFORK) = 0
1 fork() = 2
2 munmap(0x40000, 8192) = 0
";
    assert_eq!(
        ops_of(log),
        [
            "fork 1 2",
            "mmap 2 0x10000 8K rw- private",
            // the real calls: grown in place, shrunk, moved where the
            // kernel put it (and grown)
            "mremap 2 0x10000 8K 16K",
            "mremap 2 0x10000 16K 4K",
            "mremap 2 0x10000 4K 8K maymove fixed=0x40000",
            "madvise 2 0x40000 8K dontneed",
            // only the known part of the range: the rest was never seen mapped
            "mprotect 2 0x40000 8K r--",
            "madvise 2 0x40000 4K dontfork",
            "fork 2 3",
            // the child has the second page only; munmap keeps its range
            "munmap 3 0x40000 8K",
            "exit 1",
        ]
    );
}

/// DONTUNMAP keeps the old range known (empty, still mapped); `old_size`
/// 0 duplicates a shared mapping and is dropped for a private one; a call
/// on memory partly unknown is dropped; the moved pages are not touched
/// again, a growth's new pages are.
#[test]
fn mremap_dontunmap_duplicates_and_touches() {
    let log = "\
1 mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x10000
1 mremap(0x10000, 8192, 8192, MREMAP_MAYMOVE|MREMAP_DONTUNMAP) = 0x50000
1 mprotect(0x10000, 8192, PROT_READ) = 0
1 mmap(NULL, 16384, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS, -1, 0) = 0x20000
1 mremap(0x21000, 0, 8192, MREMAP_MAYMOVE) = 0x60000
1 mremap(0x10000, 0, 8192, MREMAP_MAYMOVE) = 0x70000
1 mremap(0x30000, 4096, 8192, MREMAP_MAYMOVE) = 0x80000
1 mremap(0x50000, 8192, 16384, MREMAP_MAYMOVE) = 0x90000
";
    assert_eq!(
        ops_of(log),
        [
            "fork 1 2",
            "mmap 2 0x10000 8K rw- private",
            "mremap 2 0x10000 8K 8K maymove fixed=0x50000 dontunmap",
            "mprotect 2 0x10000 8K r--",
            "mmap 2 0x20000 16K rw- shared",
            "mremap 2 0x21000 0 8K maymove fixed=0x60000",
            "mremap 2 0x50000 8K 16K maymove fixed=0x90000",
            "exit 1",
        ]
    );
    let opts = ImportOptions {
        touch_fraction: 1.0,
        stack_touch: 0,
        ..ImportOptions::default()
    };
    let text = import(log, "t.strace", &opts).unwrap().to_text();
    let touches: Vec<String> = body(&text)
        .into_iter()
        .filter(|l| l.starts_with("touch"))
        .collect();
    assert_eq!(
        touches,
        [
            "touch 2 0x10000 8K w",
            "touch 2 0x20000 16K w",
            "touch 2 0x60000 8K w",
            "touch 2 0x92000 8K w",
        ]
    );
}

/// `strace -y` and `-yy`: descriptors carry their path (or socket and
/// pipe details) in angle brackets, `AT_FDCWD` the working directory; an
/// opened descriptor's path is the resolved one.
#[test]
fn y_and_yy_decorations_are_read() {
    let log = "\
9 openat(AT_FDCWD</home/u/src>, \"lib/x.so\", O_RDONLY|O_CLOEXEC) = 3</home/u/src/lib/x.so>
9 newfstatat(3</home/u/src/lib/x.so>, \"\", {st_mode=S_IFREG|0755, st_size=8192, ...}, AT_EMPTY_PATH) = 0
9 newfstatat(AT_FDCWD</home/u/src>, \"data\", {st_mode=S_IFREG|0644, st_size=4096, ...}, 0) = 0
9 pipe2([4<pipe:[123]>, 5<pipe:[123]>], O_CLOEXEC) = 0
9 socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0) = 6<UNIX-STREAM:[4567]>
9 connect(6<UNIX-STREAM:[4567,\"@/tmp/.X11-unix/X0\"]>, {sa_family=AF_UNIX, sun_path=@\"/tmp/.X11-unix/X0\"}, 20) = 0
9 mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, 3</home/u/src/lib/x.so>, 0) = 0x7f0000000000
9 dup2(3</home/u/src/lib/x.so>, 7</dev/null<char 1:3>>) = 7</home/u/src/lib/x.so>
9 close(3</home/u/src/lib/x.so>) = 0
9 mmap(NULL, 4096, PROT_READ, MAP_SHARED, 7</home/u/src/lib/x.so>, 0x1000) = 0x7f0000100000
9 mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_SHARED, 4<pipe:[123]>, 0) = 0x7f0000200000
";
    let text = import(log, "y.strace", &ImportOptions::default())
        .unwrap()
        .to_text();
    assert!(text.contains("\nfile x.so 8K\n"), "{text}");
    let ops: Vec<String> = body(&text)
        .into_iter()
        .filter(|l| l.starts_with("mmap"))
        .collect();
    assert_eq!(
        ops,
        [
            "mmap 2 0x7f0000000000 8K r-- private file=x.so",
            "mmap 2 0x7f0000100000 4K r-- shared file=x.so off=0x1000",
            "mmap 2 0x7f0000200000 4K rw- shared file=pipe__123_",
        ]
    );
}

#[test]
fn malformed_lines_name_their_line() {
    for (log, line, expected) in [
        ("1 brk(NULL) = 0x1000\nhello world\n", 2, "an strace line"),
        ("1 mmap(NULL, 4096, PROT_READ\n", 1, "`)`"),
        ("1 brk(NULL) = banana\n", 1, "`= RET`"),
        ("\n\n1 <... mmap resumed>) = 0x1000\n", 3, "unfinished"),
        (
            "1 mmap(NULL, lots, PROT_READ, MAP_PRIVATE, -1, 0) = 0x1000\n",
            1,
            "a length",
        ),
        ("1 mmap(NULL, 4096) = 0x1000\n", 1, "argument 3 of mmap"),
        (
            "1 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0xffffffffffff000\n",
            1,
            "below 2^47",
        ),
        ("1 clone(child_stack=NULL) = 5\n", 1, "flags="),
        ("[pid x] brk(NULL) = 0\n", 1, "an strace line"),
    ] {
        let (got_line, got_expected) = malformed(log);
        assert_eq!(got_line, line, "{log:?}: {got_expected}");
        assert!(got_expected.contains(expected), "{log:?}: {got_expected}");
    }
    let e = import("x\n", "dir/bad.strace", &ImportOptions::default()).unwrap_err();
    assert!(e.to_string().starts_with("dir/bad.strace:1: "), "{e}");
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut x: u64 = 1;
    let alphabet = b"0123456789 ()[]{}<>=,|\"-x.?+NULLmmap brk clone execve PROT_READ MAP_FIXED unfinished resumed...\n\\/*";
    for _ in 0..3000 {
        let mut s = String::new();
        for _ in 0..(x % 200) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.push(alphabet[(x % alphabet.len() as u64) as usize] as char);
        }
        let _ = import(&s, "fuzz", &ImportOptions::default());
    }
}

#[test]
fn stacks_are_touched_at_the_top_and_the_fraction_is_deterministic() {
    let log = "1 mmap(NULL, 1048576, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_STACK, -1, 0) = 0x100000\n\
               1 mmap(NULL, 4194304, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x400000\n";
    let opts = ImportOptions::default();
    let a = import(log, "t", &opts).unwrap().to_text();
    assert_eq!(a, import(log, "t", &opts).unwrap().to_text());
    assert!(a.contains("\ntouch 2 0x1f0000 64K w\n"), "{a}");
    let touched: u64 = body(&a)
        .iter()
        .filter(|l| l.starts_with("touch 2 0x") && !l.contains("0x1f0000"))
        .map(|l| {
            let len = l.split(' ').nth(3).unwrap();
            rmap_core::trace::parse_size(len).unwrap()
        })
        .sum();
    // half of 4M, give or take the luck of 128 chunks
    assert!((1 << 20..3 << 20).contains(&touched), "{touched}");
    let other = ImportOptions {
        seed: 1,
        ..ImportOptions::default()
    };
    assert_ne!(a, import(log, "t", &other).unwrap().to_text());
}

#[test]
fn options_out_of_range_are_errors() {
    let opts = ImportOptions {
        touch_fraction: 1.5,
        ..ImportOptions::default()
    };
    assert!(matches!(
        import("", "t", &opts),
        Err(ImportError::Options(_))
    ));
}

const REAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/real");

#[test]
fn committed_logs_import_to_the_committed_traces() {
    for name in ["gcc", "python", "realloc", "sort"] {
        let log = std::fs::read_to_string(format!("{REAL}/{name}.strace")).unwrap();
        let want = std::fs::read_to_string(format!("{REAL}/{name}.trace")).unwrap();
        let got = import(&log, &format!("{name}.strace"), &ImportOptions::default())
            .unwrap()
            .to_text();
        assert!(got == want, "{name}.trace differs from a fresh import");
        let embedded = rmap_traces::real::REAL_TRACES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t);
        assert_eq!(embedded, Some(want.as_str()), "{name} in REAL_TRACES");
    }
}

struct Replay<'a>(&'a str, &'a str);

impl rmap_registry::WithBackend for Replay<'_> {
    type Out = (rmap_core::replay::ReplaySummary, String);
    fn run<R: rmap_core::ReverseMap>(self, rmap: R) -> Self::Out {
        let mut out = Vec::new();
        let text = format!("{}check\n", self.1);
        let sum =
            rmap_core::replay::replay(&text, self.0, rmap, rmap_core::Config::default(), &mut out)
                .unwrap();
        (sum, String::from_utf8(out).unwrap())
    }
}

#[test]
fn real_traces_replay_cleanly_on_every_preset() {
    assert_eq!(rmap_traces::real::REAL_TRACES.len(), 4);
    for (name, text) in rmap_traces::real::REAL_TRACES {
        assert!(text.lines().filter(|l| l.starts_with("touch")).count() > 10);
        for spec in rmap_registry::all_specs() {
            let (sum, out) = rmap_registry::with_backend(&spec, Replay(name, text)).unwrap();
            assert_eq!(
                (sum.errors, sum.check_failures),
                (0, 0),
                "{name} on {spec}:\n{out}"
            );
            assert!(sum.ops > 100, "{name}: {} ops", sum.ops);
        }
    }
}

#[test]
fn execve_in_a_thread_ends_the_other_threads() {
    let log = "\
1 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x10000
1 clone(child_stack=0x7f, flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM) = 2
2 execve(\"/bin/y\", [\"y\"], 0x1 /* 0 vars */ <unfinished ...>
1 +++ superseded by execve in pid 2 +++
1 <... execve resumed>) = 0
1 brk(NULL) = 0x5000
1 brk(0x6000) = 0x6000
1 exit_group(0) = ?
1 +++ exited with 0 +++
";
    assert_eq!(
        ops_of(log),
        [
            "fork 1 2",
            "mmap 2 0x10000 4K r-- private",
            "exec 2",
            "mmap 2 0x5000 4K rw- private",
            "exit 2",
            "exit 1",
        ]
    );
    let (line, expected) = malformed("1 clone(child_stack=NULL, flags=SIGCHLD) = 1\n");
    assert_eq!(line, 1);
    assert!(expected.contains("other than the caller"), "{expected}");
}

#[test]
fn a_stderr_log_names_the_first_process_once_a_second_exists() {
    // Without -o, strace leaves the only process unprefixed and then
    // prefixes every process, the first one included, once it forks.
    let log = "\
execve(\"/bin/x\", [\"x\"], 0x7ffd /* 3 vars */) = 0
mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000
clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|SIGCHLD, child_tidptr=0x7f00 <unfinished ...>
[pid 1235] munmap(0x7f0000000000, 4096) = 0
[pid 1234] <... clone resumed>) = 1235
[pid 1234] munmap(0x7f0000001000, 4096) = 0
[pid 1235] exit_group(0) = ?
[pid 1235] +++ exited with 0 +++
exit_group(0) = ?
+++ exited with 0 +++
";
    assert_eq!(
        ops_of(log),
        [
            "fork 1 2",
            "exec 2",
            "mmap 2 0x7f0000000000 8K rw- private",
            "fork 2 3",
            "munmap 3 0x7f0000000000 4K",
            "munmap 2 0x7f0000001000 4K",
            "exit 3",
            "exit 2",
            "exit 1",
        ]
    );
}

#[test]
fn unaligned_mapping_addresses_are_malformed() {
    let log = "\
1 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000001
";
    let (line, expected) = malformed(log);
    assert_eq!(line, 1);
    assert!(expected.contains("page-aligned"), "{expected}");
}
