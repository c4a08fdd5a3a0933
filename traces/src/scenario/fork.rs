//! Fork-heavy scenarios: fork-storm (anonymous, and its file-backed form
//! fork-storm-file), fork-chain and cow-server.

use super::build::{BASE, MIB, Ops, PG, RW, check_size, no_variant};
use rmap_core::{Op, Pid};

/// `fork-storm`, size N MiB: process 1 maps N MiB of private anonymous
/// memory and writes every page, then forks 4 children one after another,
/// all alive together; child `i` writes pages `[i*n/8, (i+1)*n/8)` of the
/// `n` pages (COW). The children exit, then the parent.
///
/// This is the shape the live-kernel benchmark (`rmap-kernel`'s `bench` module) measures
/// with the same sizes in MiB, so the model's `fork_ns_per_page` and
/// `exit_ns_per_page` sit beside the kernel's. 16 MiB (4096 pages) is the
/// quick size; 16, 64 and 256 MiB are the kernel benchmark's defaults. RAM
/// is twice the working set, so nothing is reclaimed.
pub(super) fn fork_storm(variant: &str, size: u64) -> Result<Vec<Op>, String> {
    no_variant("fork-storm", variant)?;
    check_size(size, 1, 4096, "MiB")?;
    let len = size * MIB;
    let n = len / PG;
    let mut o = Ops::new(2 * len + 64 * MIB, 64 * MIB, None);
    o.anon(1, BASE, len, RW);
    o.touch(1, BASE, len, true);
    storm(&mut o, n);
    Ok(o.0)
}

/// The storm of `fork-storm` and its file-backed form, over process 1's
/// `n` pages at `BASE`: 4 children forked one after another, all alive
/// together, child `i` writing pages `[i*n/8, (i+1)*n/8)`; then the
/// children exit, then the parent.
fn storm(o: &mut Ops, n: u64) {
    for i in 0..4u64 {
        let child = 2 + i as Pid;
        o.fork(1, child);
        let (a, b) = (i * n / 8, (i + 1) * n / 8);
        if b > a {
            o.touch(child, BASE + a * PG, (b - a) * PG, true);
        }
    }
    for i in 0..4 {
        o.exit(2 + i);
    }
    o.exit(1);
}

/// `fork-storm-file`, size N MiB: the file-backed form of `fork-storm`.
/// Process 1 maps an N MiB file shared and reads every page, then forks 4
/// children one after another, all alive together; child `i` writes pages
/// `[i*n/8, (i+1)*n/8)` of the file (no COW: the mapping is shared). The
/// children exit, then the parent.
///
/// It shows what lazy fork (2.6.14) changed: before it, `copy_page_range`
/// copied every present PTE of every VMA and recorded each copy in the
/// reverse map (a chain entry per file page under pte-chain, a mapcount
/// under objrmap and 2.6.7), so a fork of a process with a large file
/// mapping cost as much as one with as much anonymous memory; from 2.6.14
/// a VMA without anonymous state is not copied and its pages fault in
/// again where the child touches them. The Dave McCracken objrmap mail
/// (linux-mm, 2003-02-20) reports about 50% off a fork/exit test of
/// file-backed tasks. It is its own scenario, not a variant of
/// `fork-storm`, so that the anonymous form keeps its name in results and
/// beside the live kernel's rows. Same sizes and RAM as `fork-storm`.
pub(super) fn fork_storm_file(variant: &str, size: u64) -> Result<Vec<Op>, String> {
    no_variant("fork-storm-file", variant)?;
    check_size(size, 1, 4096, "MiB")?;
    let len = size * MIB;
    let n = len / PG;
    let f = "storm.dat";
    let mut o = Ops::new(2 * len + 64 * MIB, 64 * MIB, None);
    o.file(f, len);
    o.map(1, BASE, len, RW, true, false, Some((f, 0)));
    o.touch(1, BASE, len, false);
    storm(&mut o, n);
    Ok(o.0)
}

/// `fork-chain`, size G generations: process 1 writes a 16-page heap; then
/// generation `g` forks generation `g+1`, which writes one page of the heap
/// (a COW fault), and `g` exits. One process (two during a fork) is alive
/// at any time.
///
/// With `anon_vma_chain` and no reuse (avc-2.6.34) every child's VMA links
/// to every ancestor's anon_vma, which stays alive while it is linked: one
/// more anon_vma per generation, without bound. Reuse (3.19, today) hands
/// an exited ancestor's anon_vma to the next child, so the count stays
/// constant. A few hundred generations already separate them by two orders
/// of magnitude; 8000 makes the growth unmistakable and stays fast.
pub(super) fn fork_chain(variant: &str, size: u64) -> Result<Vec<Op>, String> {
    no_variant("fork-chain", variant)?;
    check_size(size, 1, 1_000_000, "generations")?;
    const HEAP: u64 = 16;
    let mut o = Ops::new(64 * MIB, 64 * MIB, None);
    o.anon(1, BASE, HEAP * PG, RW);
    o.touch(1, BASE, HEAP * PG, true);
    for g in 1..=size {
        let (parent, child) = (g as Pid, g as Pid + 1);
        o.fork(parent, child);
        o.touch(child, BASE + (g % HEAP) * PG, PG, true);
        o.exit(parent);
    }
    Ok(o.0)
}

/// `cow-server`, size C children: a pre-forking server. Process 1 maps a
/// 32-page heap and writes its first 8 pages (state the workers inherit),
/// then forks C workers; each worker writes its whole heap: 8 COW faults
/// and 24 first-touch faults in the VMA it inherited. Then reclaim asks for
/// half of the workers' pages.
///
/// Every worker page is private to its worker, so an rmap that knows that
/// (anon_vma_chain: the page hangs off the worker's own anon_vma) visits
/// one VMA per walk, while 2.6.7's one anon_vma per family makes every walk
/// visit all C+1 VMAs: the AIM7 problem. 100 to 400 workers show the
/// linear growth; the total is quadratic in C for the family list and for
/// scan, which is what bounds the sizes.
pub(super) fn cow_server(variant: &str, size: u64) -> Result<Vec<Op>, String> {
    no_variant("cow-server", variant)?;
    check_size(size, 1, 20_000, "children")?;
    const HEAP: u64 = 32;
    const SHARED: u64 = 8;
    let mut o = Ops::new(
        size * HEAP * PG * 2 + 64 * MIB,
        size * HEAP * PG + 64 * MIB,
        None,
    );
    o.anon(1, BASE, HEAP * PG, RW);
    o.touch(1, BASE, SHARED * PG, true);
    for c in 0..size {
        let pid = 2 + c as Pid;
        o.fork(1, pid);
        o.touch(pid, BASE, HEAP * PG, true);
    }
    o.reclaim(size * HEAP / 2);
    Ok(o.0)
}
