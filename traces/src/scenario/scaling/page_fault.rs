//! `page-fault`: will-it-scale's page_fault1, page_fault2 and page_fault3
//! (tests/page_fault{1,2,3}.c): each task maps a region, writes every page
//! and unmaps it, in a loop.

use rmap_core::Pid;

use super::super::build::{BASE, PG, RW, bad_variant, check_size};
use super::{MAX_CPUS, Workload, config, streams};

/// Pages per iteration (will-it-scale maps 128 MiB; the model's per-page
/// work is the same at any size) and iterations per CPU.
const PAGES: u64 = 128;
const ITERS: u64 = 16;

pub(super) fn variants() -> Vec<&'static str> {
    vec!["page_fault1", "page_fault2", "page_fault3"]
}

/// `page-fault/VARIANT` at `n` CPUs: process `2 + c` (forked from the root
/// during setup) runs on CPU `c`; each iteration maps 128 pages at the
/// same address, writes them and unmaps them. `page_fault1`: private
/// anonymous memory (a zero-fill fault per page); `page_fault2`: a private
/// mapping of the task's own file (a COW fault from the page cache);
/// `page_fault3`: a shared mapping of the task's own file (a write fault
/// that dirties the page-cache page). Each task has its own file, as
/// will-it-scale's `mkstemp` gives. RAM is ample: no reclaim.
pub(super) fn page_fault(variant: &str, n: u64) -> Result<Workload, String> {
    let file = match variant {
        "page_fault1" => None,
        "page_fault2" => Some(false),
        "page_fault3" => Some(true),
        _ => return Err(bad_variant("page-fault", variant, variants())),
    };
    check_size(n, 1, MAX_CPUS, "CPUs")?;
    let mut setup = config(n * (3 * PAGES + 16) + 1024, 1024);
    let mut cpus = streams(n);
    for (c, o) in cpus.iter_mut().enumerate() {
        let pid = (2 + c) as Pid;
        let name = format!("pf{c}");
        setup.fork(1, pid);
        if file.is_some() {
            setup.file(&name, PAGES * PG);
        }
        for _ in 0..ITERS {
            match file {
                None => o.anon(pid, BASE, PAGES * PG, RW),
                Some(shared) => o.map(pid, BASE, PAGES * PG, RW, shared, false, Some((&name, 0))),
            }
            o.touch(pid, BASE, PAGES * PG, true);
            o.0.push(rmap_core::Op::Munmap {
                pid,
                addr: BASE,
                len: PAGES * PG,
            });
        }
    }
    Ok(Workload {
        setup: setup.0,
        cpus: cpus.into_iter().map(|o| o.0).collect(),
        reclaimers: 1,
        main_op: "touch",
    })
}
