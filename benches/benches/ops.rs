//! Criterion micro-benchmarks of the model's operations, one group per
//! operation, one benchmark per backend preset and size.
//!
//! Every benchmark id is `GROUP/BACKEND:PRESET/PAGES`, and every group
//! reports `Throughput::Elements(PAGES)`, so criterion prints pages per
//! second next to the time (divide the time by PAGES for ns/page). Each
//! timed iteration gets a freshly built and populated `System` from
//! `iter_batched_ref`: building it, populating it and dropping it are never
//! timed; only the calls listed under "timed" are.
//!
//! - `fork`: process 1 has PAGES written private anonymous pages and a
//!   private file mapping of PAGES/4 read pages. Timed: one
//!   `sys_fork(1, 2)` (VMA copies, page-table copies, rmap bookkeeping).
//! - `exit`: as `fork`, and the fork is done in setup. Timed: one
//!   `sys_exit(2)` of the child, which shares all those pages with its
//!   parent (so every page stays allocated; only unmapping is timed).
//! - `fault`: an untouched private anonymous mapping of PAGES pages.
//!   Timed: one `sys_touch` writing all of it, i.e. PAGES first-touch
//!   anonymous write faults (frame allocation, zeroing, PTE, rmap add).
//! - `reclaim`: process 1 has PAGES written anonymous pages and a shared
//!   file mapping of PAGES pages (half written, half read), and is forked
//!   once, so the working set is 2×PAGES frames each mapped twice. Timed:
//!   one `reclaim(PAGES)` (LRU scanning, `page_referenced` and
//!   `try_to_unmap` walks, swap-out and writeback); it must free PAGES.
//! - `mprotect`: PAGES written private anonymous pages in one VMA. Timed:
//!   PAGES/2 calls making every other page read-only (each splits a VMA,
//!   leaving about PAGES VMAs), then PAGES/2 calls making those pages
//!   writable again (each merges three VMAs into one): PAGES calls in all.
//! - `walk`: PAGES/2 written anonymous pages and PAGES/2 touched pages of
//!   a shared file mapping, in process 1 and three forked children, so
//!   each page is mapped by four PTEs. Timed: `page_referenced` (an rmap
//!   walk that tests and clears the accessed bits) once on each of the
//!   PAGES frames, whose numbers are looked up in setup.
//!
//! Sizes are 256 and 4096 pages, except `scan` on `walk` and `reclaim`,
//! whose every walk reads all page tables (cost grows with the square of
//! the size): 256 and 1024.
//!
//! Plots are off (pass `--plotting-backend plotters` to get them back).
//! Each group sets its own sample size (20), warm-up and measurement times
//! (`times` below), unless criterion's `--sample-size`,
//! `--warm-up-time` or `--measurement-time` is given: the user's wins.
//! Running:
//!
//! ```sh
//! cargo bench -p rmap-bench --bench ops                  # everything, ~6-7 min
//! cargo bench -p rmap-bench --bench ops -- --quick       # shorter, ~2 min
//! cargo bench -p rmap-bench --bench ops -- fork/         # one group
//! cargo bench -p rmap-bench --bench ops -- 'walk/anonvma:linux/'
//! cargo bench -p rmap-bench --bench ops -- --test        # each once, as a check
//! cargo bench -p rmap-bench --bench ops -- fork/ --warm-up-time 1 --measurement-time 5 --sample-size 50
//! ```
//!
//! The same operations, counted in instructions under valgrind, are the
//! `instructions` bench (`benches/instructions.rs`).

use std::time::Duration;

use criterion::{
    BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use rmap_registry::all_specs;

mod common;
use common::{Kind, prepare};

// The same allocator as the `rmap-bench` binary, so that the numbers are
// comparable with the suite's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Systems built ahead of each timed batch. Small, so that at most a few
/// populated systems are alive at once whatever the iteration count.
const BATCH: BatchSize = BatchSize::NumIterations(4);

/// Warm-up and measurement time of a group: short, because every
/// iteration also pays an untimed setup that is often dearer than the
/// operation, and there are 17 presets × 2 sizes per group.
fn times(kind: Kind) -> (Duration, Duration) {
    let ms = Duration::from_millis;
    match kind {
        Kind::Fork | Kind::Exit | Kind::Fault | Kind::Mprotect => (ms(300), ms(1500)),
        Kind::Reclaim | Kind::Walk => (ms(300), ms(2000)),
    }
}

/// Whether the user gave criterion's option `flag` on the command line
/// (`--flag VALUE` or `--flag=VALUE`): then the group's own default must not
/// override it.
fn user_set(flag: &str) -> bool {
    std::env::args().any(|a| a == flag || a.starts_with(&format!("{flag}=")))
}

fn bench_kind(c: &mut Criterion, kind: Kind) {
    let mut group = c.benchmark_group(kind.name());
    let (warm, measure) = times(kind);
    group.sampling_mode(SamplingMode::Flat);
    // The group's defaults, unless the user chose (criterion applies its
    // command line to `Criterion`, but a group's settings win over it).
    if !user_set("--sample-size") {
        group.sample_size(20);
    }
    if !user_set("--warm-up-time") {
        group.warm_up_time(warm);
    }
    if !user_set("--measurement-time") {
        group.measurement_time(measure);
    }
    for spec in all_specs() {
        let name = spec.split(':').next().unwrap_or(&spec);
        for &n in kind.sizes(name) {
            group.throughput(Throughput::Elements(n));
            group.bench_function(BenchmarkId::new(&spec, n), |b| {
                b.iter_batched_ref(|| prepare(kind, &spec, n), |p| p.run(), BATCH)
            });
        }
    }
    group.finish();
}

fn fork_group(c: &mut Criterion) {
    bench_kind(c, Kind::Fork);
}
fn exit_group(c: &mut Criterion) {
    bench_kind(c, Kind::Exit);
}
fn fault_group(c: &mut Criterion) {
    bench_kind(c, Kind::Fault);
}
fn reclaim_group(c: &mut Criterion) {
    bench_kind(c, Kind::Reclaim);
}
fn mprotect_group(c: &mut Criterion) {
    bench_kind(c, Kind::Mprotect);
}
fn walk_group(c: &mut Criterion) {
    bench_kind(c, Kind::Walk);
}

criterion_group! {
    name = ops;
    // Plots cost seconds per group and nobody reads them here; fewer
    // bootstrap resamples keep the analysis of 168 benchmarks short.
    config = Criterion::default().without_plots().nresamples(20_000);
    targets = fork_group, exit_group, fault_group, reclaim_group, mprotect_group, walk_group
}
criterion_main!(ops);
