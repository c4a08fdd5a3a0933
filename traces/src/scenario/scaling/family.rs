//! `fork-family-reclaim`: many children of one root change their address
//! spaces while several reclaimers walk the family's pages: the root
//! anon_vma's lock (2.6.36 on) is taken by every fork, exit, VMA split and
//! merge in the family and by every walk.

use rmap_core::Pid;

use super::super::build::{BASE, PG, RO, RW, check_size, no_variant};
use super::{MAX_CPUS, Workload, config, streams};

/// The root's heap, children per CPU, pages each child writes, rounds.
const HEAP: u64 = 64;
const CHILDREN: u64 = 4;
const WRITE: u64 = 8;
const ROUNDS: u64 = 4;

/// Reclaimers at `n` CPUs: 2, or one per 16 CPUs.
pub(super) fn reclaimers(n: u64) -> usize {
    (n / 16).max(2) as usize
}

/// `fork-family-reclaim` at `n` CPUs: the root writes a 64-page heap and
/// forks 4 children per CPU during setup. CPU `c` runs its children
/// (`2 + 4c + k`); 4 rounds, each child: writes its 8 pages of the heap
/// (COW the first time, a swap-in when reclaim took one), forks a
/// grandchild that writes one page and exits, and write-protects one page
/// of its heap and makes it writable again (a VMA split and a merge). Then
/// the children exit. Reclaimers: [`reclaimers`]. RAM holds the page
/// tables and 80% of the anonymous pages.
pub(super) fn family(variant: &str, n: u64) -> Result<Workload, String> {
    no_variant("fork-family-reclaim", variant)?;
    check_size(n, 1, MAX_CPUS, "CPUs")?;
    let kids = CHILDREN * n;
    let tables = 4 * (1 + kids + n);
    let anon = HEAP + kids * WRITE + n;
    let mut setup = config(tables + anon * 80 / 100, 2 * anon);
    setup.anon(1, BASE, HEAP * PG, RW);
    setup.touch(1, BASE, HEAP * PG, true);
    let mut cpus = streams(n);
    for (c, o) in cpus.iter_mut().enumerate() {
        let c = c as u64;
        let child = |k: u64| (2 + CHILDREN * c + k) as Pid;
        let grandchild = (2 + kids + c) as Pid;
        for k in 0..CHILDREN {
            setup.fork(1, child(k));
        }
        for r in 0..ROUNDS {
            for k in 0..CHILDREN {
                let ch = child(k);
                let own = BASE + ((CHILDREN * c + k) % (HEAP / WRITE)) * WRITE * PG;
                o.touch(ch, own, WRITE * PG, true);
                o.fork(ch, grandchild);
                o.touch(grandchild, BASE + ((c + k + r) % HEAP) * PG, PG, true);
                o.exit(grandchild);
                o.mprotect(ch, own, PG, RO);
                o.mprotect(ch, own, PG, RW);
            }
        }
        for k in 0..CHILDREN {
            o.exit(child(k));
        }
    }
    Ok(Workload {
        setup: setup.0,
        cpus: cpus.into_iter().map(|o| o.0).collect(),
        reclaimers: reclaimers(n),
        main_op: "fork",
    })
}
