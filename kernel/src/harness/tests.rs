//! The live run against this machine's kernel: exact output, refusals,
//! errors worded as the model words them, and cleaning up.

use super::controller::{Trail, run_with_trail};
use super::*;

fn run(text: &str) -> (Result<KernelSummary, KernelError>, String) {
    let mut out = Vec::new();
    let r = kernel_run(text, "t.trace", &mut out);
    (r, String::from_utf8(out).unwrap())
}

const TOUR: &str = "\
# split, re-merge, fork, faults, guards
file lib.so 10000
mmap 1 0x100000000000 16K rw- private
mprotect 1 0x100000001000 4K r--
dump 1
mprotect 1 0x100000001000 4K rw-
dump 1
mmap 1 0x100000010000 8K --- private
touch 1 0x100000010000 4K r
mmap 1 0x100000020000 16K r-- private file=lib.so
touch 1 0x100000020000 16K r
mmap 1 0x100000030000 8K rw- shared
mmap 1 0x100000040000 8K rw- shared,many_prots file=lib.so off=0x1000
mprotect 1 0x100000001000 4K r-x  # comment

mprotect 1 0x100000001000 4K rw-
mprotect 1 0x100000001001 4K rw-
munmap 1 0x100000000000 0
madvise 1 0x100000020000 4K wipeonfork
mprotect 1 0x100000008000 8K r--
stats 1
reclaim 10
check
fork 1 2
madvise 2 0x100000001000 4K guard_install
touch 2 0x100000000000 8K r
touch 1 0x100000000000 8K w
touch 2 0x100000040000 8K w
dump 1
dump 2
exit 2
dump 1
";

const TOUR_OUT: &str = "\
dump 1
100000000000-100000001000 rw-p 00000000
100000001000-100000002000 r--p 00000000
100000002000-100000004000 rw-p 00000000
dump 1
100000000000-100000004000 rw-p 00000000
err 9 touch EFAULT
err 11 touch EFAULT
err 17 mprotect EINVAL
err 18 munmap EINVAL
err 19 madvise EINVAL
err 20 mprotect ENOMEM
err 26 touch EFAULT
dump 1
100000000000-100000004000 rw-p 00000000
100000010000-100000012000 ---p 00000000
100000020000-100000024000 r--p 00000000 lib.so
100000030000-100000032000 rw-s 00000000
100000040000-100000042000 rw-s 00001000 lib.so
dump 2
100000000000-100000004000 rw-p 00000000
100000010000-100000012000 ---p 00000000
100000020000-100000024000 r--p 00000000 lib.so
100000030000-100000032000 rw-s 00000000
100000040000-100000042000 rw-s 00001000 lib.so
dump 1
100000000000-100000004000 rw-p 00000000
100000010000-100000012000 ---p 00000000
100000020000-100000024000 r--p 00000000 lib.so
100000030000-100000032000 rw-s 00000000
100000040000-100000042000 rw-s 00001000 lib.so
";

#[test]
fn tour_matches_expected_output() {
    let (r, out) = run(TOUR);
    assert_eq!(out, TOUR_OUT);
    let sum = r.unwrap();
    assert_eq!(sum.errors, 7);
    assert_eq!(sum.ops, 30);
}

#[test]
fn two_runs_give_identical_output() {
    let (a, oa) = run(TOUR);
    let (b, ob) = run(TOUR);
    assert_eq!(oa, ob);
    assert_eq!(a.unwrap(), b.unwrap());
}

const EOF_TRACE: &str = "file f 4196\nmmap 1 0x100000000000 16K rw- shared file=f\n\
    touch 1 0x100000000000 8K w\ntouch 1 0x100000000000 12K r\n\
    mmap 1 0x100000010000 4K r-- private file=f off=0x2000\n\
    touch 1 0x100000010000 1 r\nmmap 1 0x100000020000 4K --x private\n\
    touch 1 0x100000020000 4K r\nmmap 1 0x100000030000 4K -w- private\n\
    touch 1 0x100000030000 4K r\ntouch 1 0x100000030000 4K w\n";

/// What [`EOF_TRACE`] prints on a host with (`true`) or without protection
/// keys: the exec-only read of line 8 faults only with keys.
fn eof_expected(pkeys: bool) -> &'static str {
    if pkeys {
        "err 4 touch EFAULT\nerr 6 touch EFAULT\nerr 8 touch EFAULT\n"
    } else {
        "err 4 touch EFAULT\nerr 6 touch EFAULT\n"
    }
}

#[test]
fn partial_eof_page_is_accessible_and_the_next_faults() {
    let (r, out) = run(EOF_TRACE);
    r.unwrap();
    assert_eq!(out, eof_expected(crate::host::host_pkeys()));
}

/// Both hosts' expectations are the model's with that setting, so the
/// live test above checks the right thing wherever it runs.
#[test]
fn the_eof_expectation_is_the_model_s_for_either_host() {
    for pkeys in [true, false] {
        let text = format!(
            "config pkeys={}\n{EOF_TRACE}",
            if pkeys { "on" } else { "off" }
        );
        let mut out = Vec::new();
        rmap_core::replay::replay(
            &text,
            "t.trace",
            rmap_core::Scan,
            rmap_core::Config::default(),
            &mut out,
        )
        .unwrap();
        // the config line shifts every line number by one
        let want = eof_expected(pkeys)
            .replace("err 8 ", "err 9 ")
            .replace("err 6 ", "err 7 ")
            .replace("err 4 ", "err 5 ");
        assert_eq!(String::from_utf8(out).unwrap(), want, "pkeys={pkeys}");
    }
}

#[test]
fn pkeys_on_is_refused_on_a_host_without_keys() {
    let text = "config pkeys=on\nmmap 1 0x100000000000 4K --x private\n";
    let mut out = Vec::new();
    let e = kernel_run_on(text, "k.trace", &mut out, &KernelOptions::default(), false).unwrap_err();
    assert!(matches!(e, KernelError::Refused { line: 1, .. }), "{e}");
    assert!(e.to_string().contains("pkeys=on"), "{e}");
    assert!(out.is_empty());
    // with keys the same trace runs
    let mut out = Vec::new();
    kernel_run_on(text, "k.trace", &mut out, &KernelOptions::default(), true).unwrap();
}

#[test]
fn refuses_ranges_outside_the_window_before_running() {
    for t in [
        "mmap 1 0x7f0000000000 4K rw- private\n",
        "dump 1\nmunmap 1 0x0 4K\n",
        "touch 1 0x1ffffffff000 8K r\n",
        "mprotect 1 0x1ffffffff000 4097 r--\n",
        "madvise 1 0xfffffffffff 4K dontneed\n",
        "mmap 1 0x100000000000 0xffffffffffffffff rw- private\n",
    ] {
        let (r, out) = run(t);
        let e = r.unwrap_err();
        assert!(matches!(e, KernelError::Refused { .. }), "{t}: {e}");
        assert!(e.to_string().contains("outside the live-run window"), "{e}");
        assert!(e.to_string().starts_with("t.trace:"), "{e}");
        assert_eq!(out, "", "{t}");
    }
    // zero length inside the window, and the last page of the window
    let (r, out) = run("munmap 1 0x1ffffffff000 0\nmunmap 1 0x1ffffffff000 4K\n");
    r.unwrap();
    assert_eq!(out, "err 1 munmap EINVAL\n");
}

/// `remap` runs remap_file_pages, which this kernel emulates with a new
/// mapping (4.0 on); `exec` is refused, and so is a remap off the window.
#[test]
fn runs_remap_and_refuses_exec() {
    let (r, out) = run("file f 8K\nmmap 1 0x100000000000 8K rw- shared file=f\n\
                        remap 1 0x100000000000 4K 1\nremap 1 0x100000000000 4K 0 rw-\ndump 1\n");
    r.unwrap();
    assert_eq!(
        out,
        "err 4 remap EINVAL
dump 1
100000000000-100000001000 rw-s 00001000 f
100000001000-100000002000 rw-s 00001000 f
"
    );
    let (r, _) = run("remap 1 0x7f0000000000 4K 1\n");
    assert!(
        r.unwrap_err()
            .to_string()
            .contains("outside the live-run window")
    );
    let (r, _) = run("dump 1\nexec 1\n");
    assert!(r.unwrap_err().to_string().starts_with("t.trace:2: exec"));
}

#[test]
fn process_errors_are_trace_errors() {
    let (r, out) = run("dump 1\ndump 2\n");
    let e = r.unwrap_err();
    assert!(matches!(e, KernelError::Trace(_)));
    assert_eq!(
        e.to_string(),
        "t.trace:2: found `process 2`, expected a process that exists"
    );
    assert_eq!(out, "dump 1\n");
    let (r, _) = run("fork 1 2\nfork 1 2\n");
    assert_eq!(
        r.unwrap_err().to_string(),
        "t.trace:2: found `process 2`, expected a child id that is not in use"
    );
    let (r, _) = run("fork 1 2\nexit 2\nmunmap 2 0x100000000000 4K\n");
    assert!(
        r.unwrap_err()
            .to_string()
            .starts_with("t.trace:3: found `process 2`")
    );
    // a malformed line: the lines before it run
    let (r, out) = run("dump 1\nmmap 1 0x100000000000 4K rwx- private\n");
    assert!(matches!(r.unwrap_err(), KernelError::Trace(e) if e.line == 2));
    assert_eq!(out, "dump 1\n");
}

#[test]
fn fork_tree_and_exits_leave_no_processes_or_files() {
    let t = "file a 8K\nfile b 3K\nmmap 1 0x100000000000 8K rw- private file=a\n\
             fork 1 2\nfork 2 3\nmmap 3 0x100000002000 4K rw- private file=a off=0x2000\n\
             mmap 3 0x100000003000 4K r-- shared file=b\nfork 3 4\nexit 2\nexit 3\n\
             fork 4 2\ndump 2\ndump 1\nexit 1\nfork 4 1\ndump 1\ndump 9\n";
    let mut trail = Trail::default();
    let mut out = Vec::new();
    let e = run_with_trail(t, &mut out, &mut trail).unwrap_err();
    assert!(
        e.to_string().starts_with("t.trace:17: found `process 9`"),
        "{e}"
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        // the inherited file mapping merges with the new one: one
        // struct file for all processes, no anon_vma
        "dump 2\n100000000000-100000003000 rw-p 00000000 a\n\
         100000003000-100000004000 r--s 00000000 b\n\
         dump 1\n100000000000-100000002000 rw-p 00000000 a\n\
         dump 1\n100000000000-100000003000 rw-p 00000000 a\n\
         100000003000-100000004000 r--s 00000000 b\n"
    );
    assert_eq!(trail.hosts.len(), 6);
    for h in trail.hosts {
        // reaped: no such process (a zombie would still answer)
        let r = unsafe { libc::kill(h, 0) };
        assert_eq!(r, -1, "process {h} still exists");
    }
    assert!(!trail.dir.unwrap().exists());
}

#[test]
fn odd_inputs_never_panic() {
    for t in [
        "",
        "config ram=1M\n",
        "file . 4K\n",
        "file big 0\nmmap 1 0x100000000000 4K rw- private file=big\ntouch 1 0x100000000000 4K r\n",
        "mmap 1 0x100000000000 4K rw- private\ntouch 1 0x100000000000 0xffffffffffff r\n",
        "mmap 1 0x100000000001 4K rw- private\nmmap 1 0x100000000000 0 rw- private\n",
        "file f 4K\nmmap 1 0x100000000000 4K rw- private file=f off=0xfffffffffffff000\n",
    ] {
        let (_r, _out) = run(t);
    }
    let (r, out) = run(
        "file big 0\nmmap 1 0x100000000000 4K rw- private file=big\ntouch 1 0x100000000000 4K r\n\
                        mmap 1 0x100000000001 4K rw- private\nmmap 1 0x100000000000 0 rw- private\n\
                        file f 4K\nmmap 1 0x100000000000 4K rw- private file=f off=0xfffffffffffff000\n",
    );
    r.unwrap();
    assert_eq!(
        out,
        "err 3 touch EFAULT\nerr 4 mmap EINVAL\nerr 5 mmap EINVAL\nerr 7 mmap EOVERFLOW\n"
    );
}
