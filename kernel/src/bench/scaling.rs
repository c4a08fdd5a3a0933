//! The live kernel on two scaling shapes with 1 and 2 real processes (this
//! host has 2 CPUs), so that the report can put the kernel's 1 → 2
//! speedup beside the virtual-CPU engine's at 2 CPUs.
//!
//! - `page-fault/page_fault1` (will-it-scale's page_fault1): each process
//!   maps 128 pages of private anonymous memory, writes every page and
//!   unmaps them, 16 times per round, for as many rounds as fit in the
//!   measured interval. An op is a page written.
//! - `aim7` (scaled down, without memory pressure: this host has no swap):
//!   each process writes a 16-page heap, then forks a user that COW-writes
//!   the whole heap, forks a grandchild that writes a page and exits,
//!   reaps it and exits; an op is each fork, page write and exit, as in
//!   the model's stream.
//!
//! The processes are forked from the measuring process, run their loop for
//! a fixed number of rounds with system calls only (no allocation, no
//! locks), and exit; throughput is the ops of all processes over the wall
//! time from the first fork to the last reap. Rows: `vcpu_ops_per_s` and
//! `speedup` (the 2-process throughput over the 1-process one) at sizes 1
//! and 2 (`CPUs`), backend `kernel`; median over the repetitions.

use std::time::Instant;

use rmap_metrics::{KERNEL_BACKEND, Row, RowKey, SPEEDUP, VCPU_OPS_PER_S};

/// The shapes, by scenario form name.
pub const SHAPES: &[&str] = &["page-fault/page_fault1", "aim7"];

const PAGE: usize = 4096;

/// One process's loop; returns its ops. System calls only.
fn body(shape: usize, rounds: u64) -> u64 {
    let mut ops = 0;
    for _ in 0..rounds {
        if shape == 0 {
            for _ in 0..16 {
                ops += map_write_unmap(128);
            }
        } else {
            ops += aim7_round();
        }
    }
    ops
}

fn map(pages: usize) -> *mut u8 {
    // SAFETY: a fresh private anonymous mapping.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            pages * PAGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        crate::sys::exit_now(3);
    }
    p.cast()
}

fn write(p: *mut u8, pages: usize) {
    for i in 0..pages {
        // SAFETY: the caller maps `pages` writable pages at `p`.
        unsafe { std::ptr::write_volatile(p.wrapping_add(i * PAGE), 1) };
    }
}

fn map_write_unmap(pages: usize) -> u64 {
    let p = map(pages);
    write(p, pages);
    // SAFETY: our own mapping.
    unsafe { libc::munmap(p.cast(), pages * PAGE) };
    pages as u64
}

/// Fork a child that runs `f` and exits 0; wait for it.
fn fork_wait(f: impl FnOnce()) {
    // SAFETY: the child only makes system calls and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        f();
        crate::sys::exit_now(0);
    }
    if pid > 0 {
        let mut st = 0;
        // SAFETY: waiting for our child.
        unsafe { libc::waitpid(pid, &mut st, 0) };
    }
}

fn aim7_round() -> u64 {
    let heap = map(16);
    write(heap, 16);
    fork_wait(|| {
        write(heap, 16);
        fork_wait(|| write(heap, 1));
    });
    // SAFETY: our own mapping.
    unsafe { libc::munmap(heap.cast(), 16 * PAGE) };
    // as in the model: 2 forks, 17 page writes, 2 exits (and the heap)
    21
}

/// Ops per second of `procs` processes running `shape` for `rounds`.
fn measure(shape: usize, procs: usize, rounds: u64) -> Result<f64, String> {
    let t0 = Instant::now();
    let mut kids = Vec::new();
    for _ in 0..procs {
        // SAFETY: the child only makes system calls and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            body(shape, rounds);
            crate::sys::exit_now(0);
        }
        if pid < 0 {
            return Err("kernel-bench scaling: fork failed".into());
        }
        kids.push(pid);
    }
    for pid in kids {
        let mut st = 0;
        // SAFETY: waiting for our child.
        unsafe { libc::waitpid(pid, &mut st, 0) };
        if !(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0) {
            return Err(format!(
                "kernel-bench scaling: a process failed (status {st})"
            ));
        }
    }
    let ops = procs as f64 * per_process_ops(shape, rounds) as f64;
    Ok(ops / t0.elapsed().as_secs_f64())
}

fn per_process_ops(shape: usize, rounds: u64) -> u64 {
    if shape == 0 {
        rounds * 16 * 128
    } else {
        rounds * 21
    }
}

/// The rows of `shapes` (names from [`SHAPES`]), `reps` repetitions each.
/// Errors: an unknown shape, or a process that failed.
pub fn run(
    shapes: &[String],
    reps: u32,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for name in shapes {
        let shape = SHAPES.iter().position(|s| s == name).ok_or_else(|| {
            format!(
                "no live scaling shape `{name}`; known: {}",
                SHAPES.join(", ")
            )
        })?;
        let rounds = if shape == 0 { 40 } else { 2000 };
        let (mut one, mut two) = (Vec::new(), Vec::new());
        for r in 0..reps.max(1) {
            progress(&format!("kernel {name}: rep {}/{}", r + 1, reps.max(1)));
            one.push(measure(shape, 1, rounds)?);
            two.push(measure(shape, 2, rounds)?);
        }
        let speedups: Vec<f64> = one.iter().zip(&two).map(|(a, b)| b / a).collect();
        // Live-kernel measurements: host time, so samples and an interval.
        let row = |size: u64, m: rmap_metrics::Metric, v: &[f64]| {
            let key = RowKey {
                scenario: name.clone(),
                size,
                size_unit: "CPUs".into(),
                backend: KERNEL_BACKEND.into(),
            };
            Row::from_samples(&key, m.name, m.unit, v, v.len() as u32, true)
        };
        rows.push(row(1, VCPU_OPS_PER_S, &one));
        rows.push(row(1, SPEEDUP, &vec![1.0; one.len()]));
        rows.push(row(2, VCPU_OPS_PER_S, &two));
        rows.push(row(2, SPEEDUP, &speedups));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_shapes_measure_and_unknown_ones_are_errors() {
        let rows = run(&["aim7".to_string()], 1, &mut |_| {}).unwrap();
        assert_eq!(rows.len(), 4);
        assert!(
            rows.iter()
                .all(|r| r.value > 0.0 && r.backend == KERNEL_BACKEND)
        );
        assert!(run(&["nope".to_string()], 1, &mut |_| {}).is_err());
    }
}
