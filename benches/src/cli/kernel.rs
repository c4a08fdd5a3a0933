//! The live-kernel commands: `kernel-run`, `kernel-diff`, `fidelity` and
//! `kernel-bench`.

use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use rmap_kernel::bench::KernelBenchOptions;
use rmap_kernel::fidelity::{FidelityOptions, compare_with, fidelity as run_fidelity};
use rmap_kernel::harness::{KernelOptions, OBJECT_KINDS, kernel_run_with};
use rmap_kernel::tracegen::GenOptions;
use rmap_metrics::{KERNEL_BACKEND, Row};

use super::read_trace;
use crate::output;

/// `kernel-run FILE`: the trace's `dump` and `err` lines from the live
/// kernel. Exit status 2 for an unreadable, malformed or refused trace or
/// a harness failure.
pub(super) fn kernel_run(file: &Path, slab_reps: usize, slab_samples: bool) -> i32 {
    let text = match read_trace(file) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let opts = KernelOptions { slab_reps };
    let res = kernel_run_with(&text, &file.display().to_string(), &mut out, &opts);
    let _ = out.flush();
    match res {
        Ok(sum) => {
            if slab_samples {
                for at in &sum.objects {
                    for (k, kind) in OBJECT_KINDS.iter().enumerate() {
                        eprintln!(
                            "stats line {}: {kind}: trace {:?} shadow {:?} (measurement {})",
                            at.line, at.real[k], at.shadow[k], at.attempts
                        );
                    }
                }
            }
            0
        }
        Err(e) => {
            eprintln!("{e}");
            2
        }
    }
}

/// `kernel-diff FILE`: exit status 0 when the model and the kernel agree,
/// 1 when not, 2 when either cannot run the trace.
pub(super) fn kernel_diff(file: &Path, backend: &str, slab_reps: usize) -> i32 {
    let text = match read_trace(file) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let opts = KernelOptions { slab_reps };
    match compare_with(&text, &file.display().to_string(), backend, &opts) {
        Ok(c)
            if c.model.is_empty()
                && c.kernel.is_empty()
                && c.objects.iter().all(|o| o.kernel.is_none()) =>
        {
            eprintln!(
                "rmap-bench kernel-diff: nothing compared: {} has no `dump` line, no syscall failed on either side, and no `stats all` object count was measured on the live kernel (add `dump PID` lines, or `stats all` with --slab-reps and root)",
                file.display()
            );
            2
        }
        Ok(c) => {
            if c.layout_agrees() {
                println!(
                    "agree: {} lines of dump and err output",
                    c.kernel.lines().count()
                );
            } else {
                print!("{}", c.layout_diff(&format!("model ({backend})")));
            }
            print!("{}", c.objects_report());
            i32::from(!c.agree())
        }
        Err(e) => {
            eprintln!("{e}");
            2
        }
    }
}

/// `fidelity` (its options as `rmap-bench fidelity --help` lists them):
/// exit status 0 when every trace agrees, 1 when one does not, 2 for an
/// unknown backend or a seed that could not be compared.
pub(super) fn fidelity(
    seeds: Range<u64>,
    read_only: bool,
    backend: &str,
    ops: usize,
    objects: bool,
    slab_reps: usize,
    show: usize,
) -> i32 {
    let o = FidelityOptions {
        seeds,
        generator: GenOptions {
            ops,
            anon_state: !read_only,
            ..GenOptions::default()
        },
        backend: backend.to_string(),
        objects,
        kernel: KernelOptions { slab_reps },
        keep: show,
        host_pkeys: rmap_kernel::host::host_pkeys(),
    };
    if let Err(e) = rmap_registry::resolve(backend) {
        eprintln!("rmap-bench: {e}");
        return 2;
    }
    let rep = run_fidelity(&o, |_, _| {});
    for d in &rep.disagreements {
        println!("=== seed {} differs", d.seed);
        print!("{}", d.comparison.diff(&format!("model ({backend})")));
    }
    for (seed, e) in &rep.failures {
        println!("=== seed {seed} failed: {e}");
    }
    println!(
        "agree: {}/{} traces ({:.1}%); dump and err lines agree in {}/{}",
        rep.agree,
        rep.traces,
        rep.rate(),
        rep.layout_agree,
        rep.traces
    );
    if objects {
        println!(
            "object counts: {}/{} agree; {} not counted by the kernel (null)",
            rep.counts_agree, rep.counts, rep.counts_missing
        );
    }
    if !rep.failures.is_empty() {
        2
    } else {
        i32::from(rep.agree < rep.traces)
    }
}

/// `kernel-bench`: measure the live kernel; print the rows, or merge them
/// into `out`'s results (replacing earlier kernel rows) and rebuild its
/// report. Exit status 2 when the measurement or the merge fails.
pub(super) fn kernel_bench(
    fork_sizes: Vec<u64>,
    fault_sizes: Vec<u64>,
    reps: u32,
    out: Option<PathBuf>,
    scaling: Vec<String>,
) -> i32 {
    let mut res = rmap_kernel::bench::run(
        &KernelBenchOptions {
            fork_sizes,
            fault_sizes,
            reps: reps.max(1),
        },
        &mut |m: &str| eprintln!("kernel-bench: {m}"),
    );
    // the scaling shapes with 1 and 2 real processes (rmap-kernel's
    // bench::scaling)
    #[cfg(target_os = "linux")]
    if let Ok(rows) = &mut res
        && !scaling.is_empty()
    {
        match rmap_kernel::bench::scaling::run(&scaling, reps.max(1), &mut |m: &str| {
            eprintln!("kernel-bench: {m}")
        }) {
            Ok(more) => rows.extend(more),
            Err(e) => res = Err(e),
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = scaling;
    let rows = match res {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rmap-bench kernel-bench: {e}");
            return 2;
        }
    };
    let Some(dir) = out else {
        return match output::csv_text(&rows) {
            Ok(t) => {
                print!("{t}");
                0
            }
            Err(e) => {
                eprintln!("rmap-bench kernel-bench: {e}");
                2
            }
        };
    };
    match merge_kernel_rows(&dir, rows) {
        Ok(n) => {
            eprintln!(
                "rmap-bench kernel-bench: {n} kernel rows merged into {}/results.csv; report rebuilt",
                dir.display()
            );
            0
        }
        Err(e) => {
            eprintln!("rmap-bench kernel-bench: {e}");
            2
        }
    }
}

/// Replaces the kernel rows of `dir`'s results by `rows` and rebuilds its
/// report; the number of rows merged.
fn merge_kernel_rows(dir: &Path, rows: Vec<Row>) -> Result<usize, String> {
    let mut all: Vec<Row> = output::read_rows(dir)?
        .into_iter()
        .filter(|r| r.backend != KERNEL_BACKEND)
        .collect();
    let n = rows.len();
    all.extend(rows);
    output::write_file_atomic(&dir.join("results.csv"), output::csv_text(&all)?.as_bytes())?;
    let meta = output::read_meta(dir)?;
    output::write_report(dir, &all, meta.as_ref())?;
    Ok(n)
}
