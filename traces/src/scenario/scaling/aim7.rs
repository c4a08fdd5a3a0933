//! `aim7`: the fork family of the AIM7 story (Rik van Riel's anon_vma_chain
//! motivation: "one CPU walking the page tables of 1000 processes while all
//! other CPUs are stuck on the anon_vma lock").

use rmap_core::Pid;

use super::super::build::{BASE, PG, RW, check_size, no_variant};
use super::{MAX_CPUS, Workload, config, streams};

/// Users per CPU, and the cap on users.
const USERS_PER_CPU: u64 = 30;
const MAX_USERS: u64 = 30_000;
/// The root's heap, in pages; each user writes all of it.
const HEAP: u64 = 16;
/// Rounds of grandchild fork, write and exit per user.
const ROUNDS: u64 = 2;

/// Pages of RAM short of the peak: 5% of the anonymous pages, at least 64
/// and at most 4096 (reclaim runs throughout at every size, and the
/// largest runs stay within minutes: every reclaimed page costs a walk of
/// the whole family under 2.6.7's anon_vma).
fn deficit(anon: u64) -> u64 {
    (anon / 20).clamp(64, 4096)
}

/// Users at `n` CPUs: 30 per CPU, at most 30,000 (1,920 at 64 CPUs).
pub(super) fn users(n: u64) -> u64 {
    (USERS_PER_CPU * n).min(MAX_USERS)
}

/// `aim7` at `n` CPUs. Process 1 (the root) writes a 16-page heap during
/// setup, and forks a leader `2 + c` for each CPU `c` (so that every CPU
/// starts at once, not queued on the root's `mmap_lock`). CPU `c` forks
/// each of its users (`u = c, c + n, ...`) from the leader; a user COW-writes
/// the whole heap, so that every page it maps is its own (the pages
/// Rik van Riel's AIM7 report found walked through the whole family's
/// list). Then, twice, each user forks a grandchild, which COW-writes one
/// page and exits (a page reclaim took is faulted back from swap). Then the users exit, then the leader. One
/// reclaimer (kswapd).
///
/// RAM: every page table (4 per process: PGD, PUD, PMD, PTE) and the
/// anonymous pages at the peak, less a [`deficit`], so reclaim runs
/// throughout; swap holds twice the anonymous pages.
pub(super) fn aim7(variant: &str, n: u64) -> Result<Workload, String> {
    no_variant("aim7", variant)?;
    check_size(n, 1, MAX_CPUS, "CPUs")?;
    let p = users(n);
    let tables = 4 * (1 + n + p + n);
    let anon = HEAP * (1 + p) + n;
    let mut setup = config(tables + anon - deficit(anon), 2 * anon);
    setup.anon(1, BASE, HEAP * PG, RW);
    setup.touch(1, BASE, HEAP * PG, true);
    let mut cpus = streams(n);
    for (c, o) in cpus.iter_mut().enumerate() {
        let c = c as u64;
        let leader = (2 + c) as Pid;
        let grandchild = (2 + n + p + c) as Pid;
        let mine: Vec<u64> = (c..p).step_by(n as usize).collect();
        let user = |u: u64| (2 + n + u) as Pid;
        setup.fork(1, leader);
        for &u in &mine {
            o.fork(leader, user(u));
            o.touch(user(u), BASE, HEAP * PG, true);
        }
        for r in 0..ROUNDS {
            for &u in &mine {
                o.fork(user(u), grandchild);
                o.touch(grandchild, BASE + ((u + r) % HEAP) * PG, PG, true);
                o.exit(grandchild);
            }
        }
        for &u in &mine {
            o.exit(user(u));
        }
        o.exit(leader);
    }
    Ok(Workload {
        setup: setup.0,
        cpus: cpus.into_iter().map(|o| o.0).collect(),
        reclaimers: 1,
        main_op: "fork",
    })
}
