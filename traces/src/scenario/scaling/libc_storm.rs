//! `libc-storm`: processes that map the same shared libraries come and go
//! on every CPU while kswapd reclaims library pages: the `i_mmap` lock of
//! each library is taken for writing at every mmap and exit and by every
//! reclaim walk of a library page.

use rmap_core::Pid;

use super::super::build::{BASE, MIB, PG, RO, RW, RX, check_size, no_variant};
use super::{MAX_CPUS, Workload, config, streams};

/// Libraries, and each one's text, read-only data and data pages.
const LIBS: u64 = 4;
const TEXT: u64 = 32;
const RODATA: u64 = 8;
const DATA: u64 = 8;
/// Pages between two libraries' first pages.
const STRIDE: u64 = 64;
/// The heap each process writes.
const HEAP: u64 = 32;
/// Processes each CPU spawns.
const SPAWNS: u64 = 8;
/// A child's page tables once it has touched its libraries and its heap:
/// PGD, PUD, PMD, a PTE table for the libraries and one for the heap.
const TABLES: u64 = 5;

/// The frames a child holds just before it exits: its page tables, its
/// copies of the libraries' data pages and its heap.
pub(super) fn peak_child_frames() -> u64 {
    TABLES + LIBS * DATA + HEAP
}

/// The frames a child holds, averaged over its ops (one op per page it
/// touches, as the engine runs them), rounded up: nothing from fork to its
/// first fault, then the library table levels (4 frames) and one copy per
/// data page written, then the heap's PTE table and pages, nothing after
/// exit. About a third of [`peak_child_frames`]; a test checks it against
/// the frames a run of one CPU uses.
pub(super) fn mean_child_frames() -> u64 {
    let (mut ops, mut sum) = (2u64, 0u64); // fork, exec
    let mut held = 0;
    for _ in 0..LIBS {
        sum += 3 * held; // the three mmaps
        held = held.max(TABLES - 1);
        sum += (TEXT + RODATA) * held;
        for _ in 0..DATA {
            held += 1;
            sum += held;
        }
        ops += 3 + TEXT + RODATA + DATA;
    }
    sum += held; // the heap's mmap
    held += 1; // its PTE table
    for _ in 0..HEAP {
        held += 1;
        sum += held;
    }
    ops += 1 + HEAP + 1; // and exit, after which it holds nothing
    sum.div_ceil(ops)
}

/// `libc-storm` at `n` CPUs: libraries `lib0.so` .. `lib3.so` (48 pages
/// each) and a shell per CPU (`2 + c`, forked from the root) are set up
/// first. Each CPU then, 8 times: forks a child of its shell, execs it,
/// maps each library as ld.so does (`r-x` text, `r--` read-only data,
/// `rw-` private data), reads the text and read-only data, writes the data
/// (COW), maps and writes a 32-page heap, and exits the child. One
/// reclaimer. RAM: 85% of what the libraries, one child at its peak and
/// every other CPU's child at its mean ([`mean_child_frames`]) hold, each
/// CPU's shell a frame more, so kswapd reclaims library pages at every CPU
/// count.
///
/// Why the mean: the CPUs' children do not stay in step (they queue on the
/// libraries' `i_mmap` writers and on reclaim), so from a few CPUs on what
/// they hold together is close to the mean per child, a third of the
/// peak. RAM sized for every child at its peak left reclaim to the first
/// burst, when all CPUs start in step, and at 256 CPUs and more to none.
pub(super) fn libc_storm(variant: &str, n: u64) -> Result<Workload, String> {
    no_variant("libc-storm", variant)?;
    check_size(n, 1, MAX_CPUS, "CPUs")?;
    let lib_pages = TEXT + RODATA + DATA;
    let total = LIBS * lib_pages + peak_child_frames() + 1 + (n - 1) * (mean_child_frames() + 1);
    let mut setup = config(total * 85 / 100, 2 * n * peak_child_frames());
    for l in 0..LIBS {
        setup.file(&format!("lib{l}.so"), lib_pages * PG);
    }
    let mut cpus = streams(n);
    for (c, o) in cpus.iter_mut().enumerate() {
        let shell = (2 + c) as Pid;
        let child = (2 + n + c as u64) as Pid;
        setup.fork(1, shell);
        for _ in 0..SPAWNS {
            o.fork(shell, child);
            o.0.push(rmap_core::Op::Exec { pid: child });
            for l in 0..LIBS {
                let name = format!("lib{l}.so");
                let at = BASE + l * STRIDE * PG;
                o.map(child, at, TEXT * PG, RX, false, false, Some((&name, 0)));
                let ro = at + TEXT * PG;
                o.map(
                    child,
                    ro,
                    RODATA * PG,
                    RO,
                    false,
                    false,
                    Some((&name, TEXT * PG)),
                );
                let data = ro + RODATA * PG;
                let off = (TEXT + RODATA) * PG;
                o.map(child, data, DATA * PG, RW, false, false, Some((&name, off)));
                o.touch(child, at, (TEXT + RODATA) * PG, false);
                o.touch(child, data, DATA * PG, true);
            }
            let heap = BASE + 4 * MIB;
            o.anon(child, heap, HEAP * PG, RW);
            o.touch(child, heap, HEAP * PG, true);
            o.exit(child);
        }
    }
    Ok(Workload {
        setup: setup.0,
        cpus: cpus.into_iter().map(|o| o.0).collect(),
        reclaimers: 1,
        main_op: "mmap",
    })
}
