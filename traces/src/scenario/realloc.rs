//! `realloc-grow`: a heap of large blocks grown by mremap, as glibc's
//! `realloc` grows blocks above its mmap threshold, with forks in between.

use rmap_core::Op;

use super::build::{BASE, MIB, Ops, PG, RW, check_size, no_variant};

/// Pages of a block when it is first allocated: a 128 KiB request (glibc's
/// default `M_MMAP_THRESHOLD`, the smallest size `malloc` serves with its
/// own mmap) plus the chunk header, rounded up to pages.
pub(super) const FIRST_PAGES: u64 = 33;
/// Times each block doubles.
pub(super) const ROUNDS: u32 = 5;
/// The round after which the workers are forked.
pub(super) const FORK_AFTER: u32 = 2;
/// Worker processes forked (they stay alive, sharing the heap, until the
/// end).
pub(super) const WORKERS: u32 = 2;

/// A block's pages after one more doubling: glibc's `realloc` of an
/// mmapped chunk asks `mremap` for twice the data plus the header page, as
/// the recorded `realloc` trace shows (33, 65, 129, ... pages).
pub(super) fn doubled(pages: u64) -> u64 {
    (pages - 1) * 2 + 1
}

/// `realloc-grow`, size B blocks: process 1 allocates B blocks of
/// [`FIRST_PAGES`] pages side by side (one mapping each, which merge into
/// one VMA as the kernel's top-down placement packs them) and writes them;
/// then [`ROUNDS`] times it doubles every block with `realloc`: an mremap
/// with MAYMOVE that cannot grow in place (the next block is in the way)
/// and moves to a free place (`fixed=` the next free address of the
/// window, where a live kernel would pick one), after which the program
/// writes the block's new half. After round [`FORK_AFTER`] it forks
/// [`WORKERS`] workers, which keep sharing the heap to the end, so the
/// later moves move pages mapped by three processes.
///
/// What a move costs per design: nothing per page for anon_vma (the new
/// VMA joins the old one's anon_vmas) and for file pages under objrmap, a
/// chain entry rewritten per page for PTE chains, and for anonmm a copy of
/// every page shared with a worker (the page records one address).
/// Final blocks are 1025 pages (4 MiB); RAM holds twice the final heap, so
/// nothing is reclaimed. Sizes: 16 blocks is the quick size (64 MiB at the
/// end), 8 to 64 the full ones.
pub(super) fn realloc_grow(variant: &str, size: u64) -> Result<Vec<Op>, String> {
    no_variant("realloc-grow", variant)?;
    check_size(size, 1, 1024, "blocks")?;
    let final_pages = (0..ROUNDS).fold(FIRST_PAGES, |p, _| doubled(p));
    let heap = size * final_pages * PG;
    let mut o = Ops::new(2 * heap + 64 * MIB, 64 * MIB, None);
    let mut blocks: Vec<(u64, u64)> = (0..size)
        .map(|i| (BASE + i * FIRST_PAGES * PG, FIRST_PAGES))
        .collect();
    for &(a, n) in &blocks {
        o.anon(1, a, n * PG, RW);
        o.touch(1, a, n * PG, true);
    }
    let mut free = BASE + size * FIRST_PAGES * PG;
    for round in 1..=ROUNDS {
        for b in blocks.iter_mut() {
            let (a, n) = *b;
            let m = doubled(n);
            o.mremap_to(1, a, n * PG, m * PG, free);
            o.touch(1, free + n * PG, (m - n) * PG, true);
            *b = (free, m);
            free += m * PG;
        }
        if round == FORK_AFTER {
            for w in 0..WORKERS {
                o.fork(1, 2 + w);
            }
        }
    }
    for w in 0..WORKERS {
        o.exit(2 + w);
    }
    o.exit(1);
    Ok(o.0)
}
