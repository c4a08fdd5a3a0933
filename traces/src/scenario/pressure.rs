//! Memory-pressure and fault scenarios: reclaim-pressure and fault-storm.

use rmap_core::Op;
use rmap_core::ops::Advice;

use super::build::{BASE, MIB, Ops, RO, RW, check_size, no_variant};

/// `reclaim-pressure`, size N MiB: a working set of N/2 MiB of anonymous
/// memory and an N/2 MiB file, in RAM of 3N/4 MiB with N MiB of swap.
/// Process 1 writes the anonymous half and reads the file, forks a child,
/// and then three times the parent and then the child read both. Reads do
/// not break copy-on-write, so every page stays shared by the two and the
/// working set stays N MiB, a third larger than RAM (writes after the fork
/// would give each process its own copy and double the anonymous half).
/// Reclaim runs whenever free memory runs out (direct reclaim inside
/// faults); a page swapped out and read back is mapped again only in the
/// process that read it.
///
/// Every pass evicts most of what the previous one brought in: reclaim
/// throughput, walk cost (pages mapped twice), swap-ins. 2 to 8 MiB: the
/// scan backend walks every page table per reclaimed page, so it is slow.
pub(super) fn reclaim_pressure(variant: &str, size: u64) -> Result<Vec<Op>, String> {
    no_variant("reclaim-pressure", variant)?;
    check_size(size, 2, 4096, "MiB")?;
    let half = size * MIB / 2;
    let anon = BASE;
    let file = BASE + 0x1_0000_0000;
    let f = "working-set.dat";
    let mut o = Ops::new(size * MIB * 3 / 4, size * MIB, None);
    o.file(f, half);
    o.anon(1, anon, half, RW);
    o.map(1, file, half, RO, false, false, Some((f, 0)));
    o.touch(1, anon, half, true);
    o.touch(1, file, half, false);
    o.fork(1, 2);
    for _ in 0..3 {
        o.touch(1, anon, half, false);
        o.touch(1, file, half, false);
        o.touch(2, anon, half, false);
        o.touch(2, file, half, false);
    }
    Ok(o.0)
}

/// `fault-storm`, size N MiB: the four kinds of page fault, N MiB each:
/// first-touch anonymous writes, reads of a private read-only mapping of an
/// N MiB file, a forked child writing all the anonymous pages (COW; it
/// exits), then `madvise(MADV_PAGEOUT)` of the anonymous memory and reads
/// of it (swap-in).
///
/// The same four passes in the same order and the same sizes in MiB as the
/// live-kernel benchmark (`rmap-kernel`'s `bench` module), so that the fault latencies
/// compare (the kernel benchmark's default sizes are 16 and 64 MiB). RAM
/// holds everything (4N MiB), swap holds the anonymous part twice. Sizes
/// stop at 64 MiB because the scan backend's pageout walks grow with the
/// square of the pages (256 MiB takes it over a minute).
pub(super) fn fault_storm(variant: &str, size: u64) -> Result<Vec<Op>, String> {
    no_variant("fault-storm", variant)?;
    check_size(size, 1, 4096, "MiB")?;
    let len = size * MIB;
    let anon = BASE;
    let file = BASE + 0x10_0000_0000;
    let f = "fault-storm.dat";
    let mut o = Ops::new(4 * len + 64 * MIB, 2 * len + 64 * MIB, None);
    o.file(f, len);
    o.anon(1, anon, len, RW);
    o.touch(1, anon, len, true);
    o.map(1, file, len, RO, false, false, Some((f, 0)));
    o.touch(1, file, len, false);
    o.fork(1, 2);
    o.touch(2, anon, len, true);
    o.exit(2);
    o.madvise(1, anon, len, Advice::PageOut);
    o.touch(1, anon, len, false);
    Ok(o.0)
}
