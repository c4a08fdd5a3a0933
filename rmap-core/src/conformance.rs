//! The conformance suite: one set of behavioural checks, generic over the
//! `ReverseMap` trait, that every backend's tests run (`run_suite`). The
//! shared property tests are in `props`.
//!
//! Each case is a small trace with the exact output the model must print
//! and a `check` (full validation, the walk-against-scan oracle, and data
//! integrity) after the interesting steps. A case fails with a message that
//! names it, the backend, and what differed.

use crate::nonlinear::NonlinearEra;
use crate::replay::replay;
use crate::rmap::ReverseMap;
use crate::system::Config;

/// Replay `text` with backend `rmap`; returns the printed output, or the
/// trace error. Any failed `check` shows up in the output.
pub fn run_trace<R: ReverseMap>(rmap: R, text: &str) -> Result<String, String> {
    let mut out = Vec::new();
    replay(text, "case", rmap, Config::default(), &mut out).map_err(|e| e.to_string())?;
    Ok(String::from_utf8(out).expect("replay prints UTF-8"))
}

/// One case: a name, a trace, and the exact expected output.
pub struct Case {
    pub name: &'static str,
    pub trace: &'static str,
    pub expect: &'static str,
}

/// A shared file mapping of 16 pages read by process 1, then a fork; the
/// child's and the system's statistics (the fork-time copying of file
/// PTEs, which the eras do differently).
pub const SHARED_FILE_READ_FORK: &str = "file f 64K
mmap 1 0x100000000000 64K rw- shared file=f
touch 1 0x100000000000 64K r
fork 1 2
stats 2
stats all
check
";

/// The cases of the suite (shared so that tools can list them).
pub const CASES: &[Case] = &[
    Case {
        name: "anon-cow-fork",
        trace: "
mmap 1 0x100000000000 16K rw- private
touch 1 0x100000000000 16K w
fork 1 2
touch 2 0x100000000000 8K w
check
stats 1
stats 2
exit 2
check
stats 1
",
        expect: r#"{"vmas":1,"rss_anon":4,"rss_file":0,"swap_ents":0}
{"vmas":1,"rss_anon":4,"rss_file":0,"swap_ents":0}
{"vmas":1,"rss_anon":4,"rss_file":0,"swap_ents":0}
"#,
    },
    Case {
        // With protection keys an exec-only page cannot be read (Linux
        // gives the mapping an access-denying key); a write never works.
        name: "exec-only-unreadable-with-pkeys",
        trace: "config pkeys=on
mmap 1 0x100000000000 8K --x private
touch 1 0x100000000000 4K r
touch 1 0x100000001000 4K w
dump 1
",
        expect: "err 3 touch EFAULT
err 4 touch EFAULT
dump 1
100000000000-100000002000 --xp 00000000
",
    },
    Case {
        // Without protection keys x86 page tables cannot forbid reading an
        // executable page: the read maps the zero page.
        name: "exec-only-readable-without-pkeys",
        trace: "config pkeys=off
mmap 1 0x100000000000 8K --x private
touch 1 0x100000000000 4K r
touch 1 0x100000001000 4K w
stats 1
check
",
        expect: r#"err 4 touch EFAULT
{"vmas":1,"rss_anon":0,"rss_file":0,"swap_ents":0}
"#,
    },
    Case {
        name: "zero-page-read-is-not-anon",
        trace: "
mmap 1 0x100000000000 8K rw- private
touch 1 0x100000000000 8K r
stats 1
touch 1 0x100000000000 4K w
stats 1
check
",
        expect: r#"{"vmas":1,"rss_anon":0,"rss_file":0,"swap_ents":0}
{"vmas":1,"rss_anon":1,"rss_file":0,"swap_ents":0}
"#,
    },
    Case {
        name: "swap-out-and-in-through-fork",
        trace: "
config ram=512K swap=4M
mmap 1 0x100000000000 64K rw- private
touch 1 0x100000000000 64K w
fork 1 2
touch 2 0x100000000000 16K w
reclaim 1000
check
touch 1 0x100000000000 64K r
touch 2 0x100000000000 64K w
check
exit 1
check
",
        expect: "",
    },
    Case {
        name: "shared-file-writeback",
        trace: "
config ram=512K swap=1M
file data 32K
mmap 1 0x100000000000 32K rw- shared file=data
fork 1 2
touch 2 0x100000000000 32K w
mmap 1 0x100000100000 32K r-- shared file=data
touch 1 0x100000100000 32K r
reclaim 1000
check
touch 1 0x100000000000 32K r
check
",
        expect: "",
    },
    Case {
        name: "private-file-cow-and-eof",
        trace: "
file lib 10000
mmap 1 0x100000000000 16K rw- private file=lib
touch 1 0x100000000000 8K w
touch 1 0x100000000000 12K r
touch 1 0x100000003000 4K r
stats 1
check
",
        expect: "err 6 touch EFAULT
{\"vmas\":1,\"rss_anon\":2,\"rss_file\":1,\"swap_ents\":0}
",
    },
    Case {
        // MADV_PAGEOUT swaps out what only this process maps and leaves
        // what a child shares; the data comes back intact.
        name: "pageout-exclusive-pages-only",
        trace: "
mmap 1 0x100000000000 32K rw- private
touch 1 0x100000000000 32K w
fork 1 2
touch 1 0x100000000000 16K w
madvise 1 0x100000000000 32K pageout
stats 1
check
touch 1 0x100000000000 32K r
stats 1
check
",
        expect: r#"{"vmas":1,"rss_anon":4,"rss_file":0,"swap_ents":4}
{"vmas":1,"rss_anon":8,"rss_file":0,"swap_ents":0}
"#,
    },
    Case {
        // Review findings: remap offsets past what a file PTE holds;
        // guard install over nonlinear pages; a many-prots VMA given its
        // own protection again as a whole; mmap's errno order (offset
        // checks before length, TASK_SIZE before alignment, EOVERFLOW for a
        // file range past 2^63).
        name: "edge-errnos-and-nonlinear-guards",
        trace: "
file f 16K
mmap 1 0x100000000000 16K rw- shared file=f
remap 1 0x100000000000 4K 0x10000000000002
remap 1 0x100000000000 4K 3
touch 1 0x100000000000 4K w
madvise 1 0x100000000000 4K guard_install
madvise 1 0x100000000000 4K guard_remove
touch 1 0x100000000000 4K r
check
mmap 1 0x100000010000 16K rw- private,many_prots
mprotect 1 0x100000010000 4K r--
mprotect 1 0x100000010000 16K rw-
touch 1 0x100000010000 4K w
mmap 1 0x100000000800 0xfffffffffffff001 rw- private
mmap 1 0x7ffffffff800 8K rw- private
mmap 1 0x100000020000 8K rw- private file=f off=0x8000000000000000
mmap 1 0x100000020800 8K rw- private file=f off=0x800
check
",
        expect: "err 4 remap EINVAL
err 15 mmap ENOMEM
err 16 mmap ENOMEM
err 17 mmap EOVERFLOW
err 18 mmap EINVAL
",
    },
    Case {
        name: "mprotect-split-and-remerge",
        trace: "
mmap 1 0x100000000000 32K r-- private
mprotect 1 0x100000002000 8K rw-
dump 1
mprotect 1 0x100000002000 8K r--
dump 1
mprotect 1 0x100000000000 4K rw-
mprotect 1 0x100000001000 4K rw-
dump 1
mprotect 1 0x100000006000 16K r-x
check
",
        expect: "dump 1
100000000000-100000002000 r--p 00000000
100000002000-100000004000 rw-p 00000000
100000004000-100000008000 r--p 00000000
dump 1
100000000000-100000008000 r--p 00000000
dump 1
100000000000-100000002000 rw-p 00000000
100000002000-100000008000 r--p 00000000
err 10 mprotect ENOMEM
",
    },
    Case {
        name: "account-flag-decides-merging",
        trace: "
mmap 1 0x100000000000 8K rw- private
mmap 1 0x100000002000 8K rw- private,noreserve
mmap 1 0x100000004000 8K r-- private
mprotect 1 0x100000004000 8K rw-
dump 1
",
        expect: "dump 1
100000000000-100000002000 rw-p 00000000
100000002000-100000004000 rw-p 00000000
100000004000-100000006000 rw-p 00000000
",
    },
    Case {
        name: "madvise-holes-and-wipeonfork",
        trace: "
file f 16K
mmap 1 0x100000000000 8K rw- private
mmap 1 0x100000004000 8K rw- shared file=f
mmap 1 0x100000008000 8K rw- private
madvise 1 0x100000000000 40K dontfork
madvise 1 0x100000000000 24K wipeonfork
touch 1 0x100000000000 8K w
fork 1 2
dump 2
madvise 1 0x100000000000 40K dofork
dump 1
fork 1 3
dump 3
touch 3 0x100000000000 8K r
stats 3
check
",
        expect: r#"err 6 madvise ENOMEM
err 7 madvise EINVAL
dump 2
err 11 madvise ENOMEM
dump 1
100000000000-100000002000 rw-p 00000000
100000004000-100000006000 rw-s 00000000 f
100000008000-10000000a000 rw-p 00000000
dump 3
100000000000-100000002000 rw-p 00000000
100000004000-100000006000 rw-s 00000000 f
100000008000-10000000a000 rw-p 00000000
{"vmas":3,"rss_anon":0,"rss_file":0,"swap_ents":0}
"#,
    },
    Case {
        name: "guards-survive-fork-dontneed-pageout",
        trace: "
file f 16K
mmap 1 0x100000000000 16K rw- private
mmap 1 0x100000010000 16K rw- shared file=f
touch 1 0x100000000000 16K w
madvise 1 0x100000001000 4K guard_install
madvise 1 0x100000011000 4K guard_install
madvise 1 0x100000000000 80K dontneed
madvise 1 0x100000000000 80K pageout
fork 1 2
touch 2 0x100000001000 4K r
touch 2 0x100000011000 4K w
touch 2 0x100000000000 4K r
madvise 2 0x100000001000 4K guard_remove
touch 2 0x100000001000 4K w
dump 2
check
",
        expect: "err 8 madvise ENOMEM
err 9 madvise ENOMEM
err 11 touch EFAULT
err 12 touch EFAULT
dump 2
100000000000-100000004000 rw-p 00000000
100000010000-100000014000 rw-s 00000000 f
",
    },
    Case {
        name: "remap-reverse-reclaim-refault",
        trace: "
config ram=512K swap=1M
file db 32K
mmap 1 0x100000000000 32K rw- shared file=db
remap 1 0x100000000000 4K 7
remap 1 0x100000001000 4K 6
remap 1 0x100000002000 4K 5
remap 1 0x100000003000 4K 4
remap 1 0x100000004000 4K 3
remap 1 0x100000005000 4K 2
remap 1 0x100000006000 4K 1
remap 1 0x100000007000 4K 0
touch 1 0x100000000000 32K w
fork 1 2
reclaim 1000
check
touch 2 0x100000000000 32K r
touch 1 0x100000000000 32K w
reclaim 1000
check
remap 1 0x100000000000 4K 0 r--
mmap 1 0x100000100000 8K rw- private
remap 1 0x100000100000 4K 0
",
        expect: "err 21 remap EINVAL
err 23 remap EINVAL
",
    },
    Case {
        // remap_file_pages with MAP_CHGPROT inside a many-prots shared
        // mapping of shared anonymous memory: per-page protections and
        // nonlinear offsets survive reclaim (written back to the object),
        // the refault finds the right offsets, and the fork child keeps both.
        name: "remap-chgprot-many-prots-reclaim",
        trace: "
config ram=512K swap=1M
mmap 1 0x100000000000 32K rw- shared,many_prots
touch 1 0x100000000000 32K w
remap 1 0x100000000000 4K 7 r--
remap 1 0x100000001000 4K 6
remap 1 0x100000002000 4K 5 ---
remap 1 0x100000007000 4K 0 rw-
touch 1 0x100000001000 4K w
reclaim 1000
check
touch 1 0x100000000000 4K w
touch 1 0x100000002000 4K r
fork 1 2
touch 2 0x100000000000 8K r
touch 2 0x100000002000 4K r
touch 2 0x100000007000 4K w
reclaim 1000
check
dump 2
",
        expect: "err 12 touch EFAULT
err 13 touch EFAULT
err 16 touch EFAULT
dump 2
100000000000-100000008000 rw-s 00000000
",
    },
    Case {
        // the 2006 patch's semantics (issue 16, item 8): many-prots only
        // for shared mappings, mprotect refused (EACCES); before the knob
        // both calls succeeded
        name: "many-prots-as-the-2006-patch",
        trace: "
config many_prots=patch
file f 16K
mmap 1 0x100000000000 16K rw- private,many_prots file=f
mmap 1 0x100000010000 16K rw- shared,many_prots file=f
mprotect 1 0x100000010000 4K r--
touch 1 0x100000010000 4K w
dump 1
check
",
        expect: "err 4 mmap EINVAL
err 6 mprotect EACCES
dump 1
100000010000-100000014000 rw-s 00000000 f
",
    },
    Case {
        name: "many-prots-no-split-and-swap",
        trace: "
config ram=512K swap=4M
mmap 1 0x100000000000 64K rw- private,many_prots
touch 1 0x100000000000 64K w
mprotect 1 0x100000004000 4K r--
mprotect 1 0x100000008000 8K ---
dump 1
reclaim 1000
check
touch 1 0x100000004000 4K r
touch 1 0x100000004000 4K w
touch 1 0x100000009000 4K r
touch 1 0x100000003000 4K w
fork 1 2
touch 2 0x100000008000 4K r
check
",
        expect: "dump 1
100000000000-100000010000 rw-p 00000000
err 11 touch EFAULT
err 12 touch EFAULT
err 15 touch EFAULT
",
    },
    Case {
        name: "shared-anon-is-one-object",
        trace: "
mmap 1 0x100000000000 16K rw- shared
mmap 1 0x100000004000 16K rw- shared
fork 1 2
touch 2 0x100000000000 16K w
mprotect 1 0x100000002000 4K r--
mprotect 1 0x100000002000 4K rw-
dump 1
check
",
        expect: "dump 1
100000000000-100000004000 rw-s 00000000
100000004000-100000008000 rw-s 00000000
",
    },
    Case {
        name: "out-of-memory-is-an-errno",
        trace: "
config ram=64K swap=0
mmap 1 0x100000000000 1M rw- private
touch 1 0x100000000000 1M w
check
munmap 1 0x100000000000 1M
stats all
",
        // after munmap: only process 1's PGD remains
        expect: "err 4 touch ENOMEM
stats vmas=0 processes=1 frames=1 pt_pages=1 swap=0
",
    },
    Case {
        name: "exit-frees-everything",
        trace: "
config ram=1M swap=1M
file f 64K
mmap 1 0x100000000000 64K rw- private file=f
touch 1 0x100000000000 64K w
fork 1 2
fork 2 3
touch 3 0x100000000000 64K w
exit 2
exit 3
munmap 1 0x100000000000 64K
check
stats 1
stats all
",
        // the file's 16 page-cache pages stay; the PGD; nothing else
        expect: "{\"vmas\":0,\"rss_anon\":0,\"rss_file\":0,\"swap_ents\":0}
stats vmas=0 processes=1 frames=17 pt_pages=1 swap=0
",
    },
    Case {
        // mremap: a shrink, growth in place that absorbs an unfaulted next VMA,
        // a FIXED move of written pages (data checked), a shrink across VMAs
        // and a hole, same-size calls that do nothing (checked live: kernel-diff)
        name: "mremap-shrink-grow-move",
        trace: "
mmap 1 0x100000000000 16K rw- private
touch 1 0x100000000000 16K w
mremap 1 0x100000000000 16K 8K
mmap 1 0x100000004000 8K rw- private
mremap 1 0x100000000000 8K 12K
mremap 1 0x100000000000 12K 16K
dump 1
check
mremap 1 0x100000000000 8K 8K maymove fixed=0x100000100000
touch 1 0x100000100000 8K r
dump 1
stats 1
check
mmap 1 0x100000010000 8K rw- private
mmap 1 0x100000012000 4K r-- private
mmap 1 0x100000014000 4K rw- private
mremap 1 0x100000010000 32K 4K
dump 1
mremap 1 0x100000010000 4K 4K maymove
mremap 1 0x100000010000 1M 1M
check
",
        expect: "dump 1
100000000000-100000006000 rw-p 00000000
dump 1
100000002000-100000006000 rw-p 00000000
100000100000-100000102000 rw-p 00000000
{\"vmas\":2,\"rss_anon\":2,\"rss_file\":0,\"swap_ents\":0}
dump 1
100000002000-100000006000 rw-p 00000000
100000010000-100000011000 rw-p 00000000
100000100000-100000102000 rw-p 00000000
",
    },
    Case {
        // DONTUNMAP leaves the old range mapped and empty (it reads zero, the
        // fork child keeps its copy); then each errno in the kernel's order
        // of checks, and a shrink with FIXED (checked live, but for line 19)
        name: "mremap-dontunmap-and-errnos",
        trace: "
mmap 1 0x100000000000 8K rw- private
touch 1 0x100000000000 8K w
fork 1 2
mremap 1 0x100000000000 8K 8K maymove dontunmap fixed=0x100000010000
touch 1 0x100000000000 8K r
touch 2 0x100000000000 8K w
dump 1
stats 1
check
mremap 1 0x100000000001 4K 8K
mremap 1 0x100000000000 4K 0
mremap 1 0x100000000000 4K 4K fixed=0x100000020000
mremap 1 0x100000000000 4K 8K maymove dontunmap fixed=0x100000030000
mremap 1 0x100000000000 8K 8K maymove fixed=0x100000001000
mremap 1 0x100000030000 4K 8K
mremap 1 0x100000000000 4K 8K
mremap 1 0x100000000000 0 8K maymove
mremap 1 0x100000000000 4K 8K maymove fixed=0x7ffffffff000
mremap 1 0x100000010000 8K 4K maymove fixed=0x100000020000
dump 1
check
",
        expect: "dump 1
100000000000-100000002000 rw-p 00000000
100000010000-100000012000 rw-p 00000000
{\"vmas\":2,\"rss_anon\":2,\"rss_file\":0,\"swap_ents\":0}
err 11 mremap EINVAL
err 12 mremap EINVAL
err 13 mremap EINVAL
err 14 mremap EINVAL
err 15 mremap EINVAL
err 16 mremap EFAULT
err 17 mremap ENOMEM
err 18 mremap EINVAL
err 19 mremap EINVAL
dump 1
100000000000-100000002000 rw-p 00000000
100000020000-100000021000 rw-p 00000000
",
    },
    Case {
        // moves of pages shared with a fork child and on swap (anonmm copies
        // them), growth in place, a shrinking FIXED move; data checked
        name: "mremap-shared-pages-swap",
        trace: "
config ram=512K swap=4M
mmap 1 0x100000000000 64K rw- private
touch 1 0x100000000000 64K w
fork 1 2
reclaim 1000
mremap 1 0x100000000000 64K 64K maymove fixed=0x100000100000
check
touch 1 0x100000100000 64K r
touch 2 0x100000000000 64K r
check
touch 1 0x100000100000 32K w
touch 2 0x100000000000 64K w
check
mremap 2 0x100000000000 64K 128K
touch 2 0x100000000000 128K w
mremap 1 0x100000100000 64K 32K maymove fixed=0x100000000000
exit 2
check
",
        expect: "",
    },
    Case {
        // moves of a nonlinear shared file VMA (offsets move with the PTEs), a
        // private file VMA with COWed pages grown past EOF, guard markers and
        // per-page protections; then reclaim and a fork
        name: "mremap-files-nonlinear-guards-prots",
        trace: "
config ram=1M swap=1M
file f 32K
mmap 1 0x100000000000 16K rw- shared file=f
touch 1 0x100000000000 16K w
remap 1 0x100000000000 4K 3
mmap 1 0x100000010000 16K rw- private file=f off=16K
touch 1 0x100000010000 8K w
touch 1 0x100000012000 8K r
mmap 1 0x100000020000 16K rw- private
touch 1 0x100000020000 16K w
madvise 1 0x100000021000 4K guard_install
mmap 1 0x100000030000 16K rw- private,many_prots
touch 1 0x100000030000 16K w
mprotect 1 0x100000031000 4K r--
mremap 1 0x100000000000 16K 16K maymove fixed=0x100000100000
mremap 1 0x100000010000 16K 24K maymove fixed=0x100000200000
mremap 1 0x100000020000 16K 16K maymove fixed=0x100000300000
mremap 1 0x100000030000 16K 16K maymove fixed=0x100000400000
dump 1
check
touch 1 0x100000100000 16K r
touch 1 0x100000200000 24K r
touch 1 0x100000301000 4K r
touch 1 0x100000401000 4K w
reclaim 1000
check
fork 1 2
touch 2 0x100000100000 16K w
touch 2 0x100000300000 4K w
check
",
        expect: "dump 1
100000100000-100000104000 rw-s 00000000 f
100000200000-100000206000 rw-p 00004000 f
100000300000-100000304000 rw-p 00000000
100000400000-100000404000 rw-p 00000000
err 23 touch EFAULT
err 24 touch EFAULT
err 25 touch EFAULT
",
    },
    Case {
        // MAYMOVE without FIXED: growth in place where there is room, else a
        // move top-down from MMAP_BASE (2 MiB aligned for 2 MiB multiples of
        // private anonymous memory); old_len 0 duplicates a shared mapping
        name: "mremap-placement-and-duplicates",
        trace: "
mmap 1 0x100000000000 8K rw- private
touch 1 0x100000000000 8K w
mremap 1 0x100000000000 8K 16K maymove
mmap 1 0x100000004000 4K r-- private
mremap 1 0x100000000000 16K 2M maymove
mremap 1 0x100000004000 4K 12K maymove
mmap 1 0x100000010000 16K rw- shared
mremap 1 0x100000010000 0 8K maymove fixed=0x100000020000
touch 1 0x100000020000 8K w
mremap 1 0x100000010000 0 8K maymove
mremap 1 0x100000010000 0 8K
mremap 1 0x7ffff7c00000 4K 12K maymove
dump 1
check
",
        expect: "err 12 mremap ENOMEM
dump 1
100000004000-100000007000 r--p 00000000
100000010000-100000014000 rw-s 00000000
100000020000-100000022000 rw-s 00000000
7ffff7c01000-7ffff7e00000 rw-p 00000000
7ffff7ffa000-7ffff7ffd000 rw-p 00000000
7ffff7ffd000-7ffff7fff000 rw-s 00000000
",
    },
];

/// The cases whose output differs where `remap_file_pages` is the 4.0
/// emulation ([`NonlinearEra::Emulated`]), with that output: no offset
/// limit of a file PTE (an offset past any file is mmap's EOVERFLOW), no
/// MAP_CHGPROT (a protection other than none is EINVAL), and each remap a
/// VMA of its own (checked against the live kernel in
/// `kernel/tests/fidelity.rs`, but for the many-prots mapping, which the
/// kernel does not have).
pub const EMULATED: &[(&str, &str)] = &[
    (
        // the emulated remap split the shared mapping in two VMAs (file
        // pages 3, then 1-3); the 6.17+ multi-VMA move keeps them apart
        "mremap-files-nonlinear-guards-prots",
        "dump 1
100000100000-100000101000 rw-s 00003000 f
100000101000-100000104000 rw-s 00001000 f
100000200000-100000206000 rw-p 00004000 f
100000300000-100000304000 rw-p 00000000
100000400000-100000404000 rw-p 00000000
err 23 touch EFAULT
err 24 touch EFAULT
err 25 touch EFAULT
",
    ),
    (
        "edge-errnos-and-nonlinear-guards",
        "err 4 remap EOVERFLOW
err 15 mmap ENOMEM
err 16 mmap ENOMEM
err 17 mmap EOVERFLOW
err 18 mmap EINVAL
",
    ),
    (
        "remap-chgprot-many-prots-reclaim",
        "err 5 remap EINVAL
err 8 remap EINVAL
dump 2
100000000000-100000001000 rw-s 00000000
100000001000-100000002000 rw-s 00006000
100000002000-100000003000 rw-s 00005000
100000003000-100000008000 rw-s 00003000
",
    ),
];

/// The output `case` must print under a backend whose era handles
/// nonlinear mappings as `era`.
pub fn expected(case: &Case, era: NonlinearEra) -> &'static str {
    match era {
        NonlinearEra::Emulated => EMULATED
            .iter()
            .find(|(n, _)| *n == case.name)
            .map_or(case.expect, |(_, e)| e),
        _ => case.expect,
    }
}

/// Replace each `stats all` line by its backend-independent counts
/// (`stats vmas=.. processes=.. frames=.. pt_pages=.. swap=..`): the
/// objects and walk costs differ by design, the rest must not.
pub fn normalize(out: &str) -> String {
    out.lines()
        .map(|l| match serde_json::from_str::<serde_json::Value>(l) {
            Ok(v) if v.get("objects").is_some() => format!(
                "stats vmas={} processes={} frames={} pt_pages={} swap={}\n",
                v["vmas"], v["processes"], v["frames_used"], v["pt_pages"], v["swap_used"]
            ),
            _ => format!("{l}\n"),
        })
        .collect()
}

/// The cases whose expected output depends on the era's merge rules
/// ([`crate::merge_rules`]), with the output under that era's rules: `(case,
/// era, expect)`. Every other era expects the case's own output.
pub const ERA_EXPECT: &[(&str, &str, &str)] = &[(
    // 2.6.0's mprotect merges private anonymous VMAs only: the shared
    // object's pieces stay apart
    "shared-anon-is-one-object",
    "2.6.0",
    "dump 1
100000000000-100000002000 rw-s 00000000
100000002000-100000003000 rw-s 00002000
100000003000-100000004000 rw-s 00003000
100000004000-100000008000 rw-s 00000000
",
)];

/// Run every case with a fresh backend from `make`; panics naming the
/// first case that fails. Every backend's test suite calls this.
pub fn run_suite<R: ReverseMap>(make: impl Fn() -> R) {
    for case in CASES {
        let rmap = make();
        let era = rmap.merge_rules().era;
        let name = format!("{}:{}", rmap.name(), rmap.preset());
        let expect = ERA_EXPECT
            .iter()
            .find(|(c, e, _)| *c == case.name && *e == era)
            .map_or_else(|| expected(case, rmap.nonlinear()), |x| x.2);
        let out = run_trace(rmap, case.trace)
            .unwrap_or_else(|e| panic!("case {} ({name}): trace error {e}", case.name));
        let out = normalize(&out);
        assert_eq!(
            out, expect,
            "case {} with {name}: output differs",
            case.name
        );
    }
}
