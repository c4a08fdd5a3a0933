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
//! Running:
//!
//! ```sh
//! cargo bench -p rmap-bench --bench ops                  # everything, ~6-7 min
//! cargo bench -p rmap-bench --bench ops -- --quick       # shorter, ~2 min
//! cargo bench -p rmap-bench --bench ops -- fork/         # one group
//! cargo bench -p rmap-bench --bench ops -- 'walk/anonvma:linux/'
//! cargo bench -p rmap-bench --bench ops -- --test        # each once, as a check
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    BatchSize, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group,
    criterion_main,
};
use rmap_core::ops::{Access, MapFlags, Prot};
use rmap_core::{Config, MmId, MmapReq, PAGE_SIZE, Pfn, Presets, ReverseMap, System};
use rmap_registry::{WithBackend, all_specs, with_backend};

// The same allocator as the `rmap-bench` binary, so that the numbers are
// comparable with the suite's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Where the anonymous and the file mappings start.
const ANON_AT: u64 = 0x1000_0000;
const FILE_AT: u64 = 0x8000_0000;

/// Page counts of every benchmark, and the smaller ones of `scan` where
/// its walks make the larger one too slow.
const SIZES: &[u64] = &[256, 4096];
const SCAN_SIZES: &[u64] = &[256, 1024];

/// Systems built ahead of each timed batch. Small, so that at most a few
/// populated systems are alive at once whatever the iteration count.
const BATCH: BatchSize = BatchSize::NumIterations(4);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Fork,
    Exit,
    Fault,
    Reclaim,
    Mprotect,
    Walk,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Fork => "fork",
            Kind::Exit => "exit",
            Kind::Fault => "fault",
            Kind::Reclaim => "reclaim",
            Kind::Mprotect => "mprotect",
            Kind::Walk => "walk",
        }
    }

    /// Warm-up and measurement time of the group: short, because every
    /// iteration also pays an untimed setup that is often dearer than the
    /// operation, and there are 14 presets × 2 sizes per group.
    fn times(self) -> (Duration, Duration) {
        let ms = Duration::from_millis;
        match self {
            Kind::Fork | Kind::Exit | Kind::Fault | Kind::Mprotect => (ms(300), ms(1500)),
            Kind::Reclaim | Kind::Walk => (ms(300), ms(2000)),
        }
    }

    fn sizes(self, backend: &str) -> &'static [u64] {
        match self {
            Kind::Walk | Kind::Reclaim if backend == "scan" => SCAN_SIZES,
            _ => SIZES,
        }
    }
}

/// A system without the integrity shadow (as the suite runner runs it),
/// with 64 MiB of RAM and of swap: room for every benchmark's working set
/// with no direct reclaim, and cheap to build.
fn new_system<R: Presets>(preset: &str) -> System<R> {
    let cfg = Config {
        ram: 64 << 20,
        swap: 64 << 20,
        integrity: false,
        ..Config::default()
    };
    let rmap = R::with_preset(preset).expect("a listed preset");
    System::new(cfg, rmap).expect("a valid config")
}

fn mm<R: ReverseMap>(sys: &System<R>, pid: u32) -> MmId {
    sys.mm_of(pid).expect("a live process")
}

/// Map `pages` private anonymous read-write pages at `ANON_AT` in process
/// 1, and write them all if `write`.
fn map_anon<R: ReverseMap>(sys: &mut System<R>, pages: u64, write: bool) -> MmId {
    let m = mm(sys, 1);
    let len = pages * PAGE_SIZE;
    sys.sys_mmap(
        m,
        MmapReq::anon(ANON_AT, len, Prot::RW, MapFlags::default()),
    )
    .expect("anonymous mmap");
    if write {
        sys.sys_touch(m, ANON_AT, len, Access::Write)
            .expect("anonymous touch");
    }
    m
}

/// Map `pages` of a new file at `FILE_AT` in process 1 (shared and
/// writable, or private and read-only) and touch them: the first
/// `written` pages by writing, the rest by reading.
fn map_file<R: ReverseMap>(sys: &mut System<R>, pages: u64, shared: bool, written: u64) {
    let m = mm(sys, 1);
    let len = pages * PAGE_SIZE;
    let file = sys.declare_file("data", len).expect("a new file");
    let (prot, flags) = if shared {
        let f = MapFlags {
            shared: true,
            ..MapFlags::default()
        };
        (Prot::RW, f)
    } else {
        (Prot::R, MapFlags::default())
    };
    let req = MmapReq {
        file: Some(file),
        ..MmapReq::anon(FILE_AT, len, prot, flags)
    };
    sys.sys_mmap(m, req).expect("file mmap");
    let wlen = written * PAGE_SIZE;
    sys.sys_touch(m, FILE_AT, wlen, Access::Write)
        .expect("file write");
    sys.sys_touch(m, FILE_AT + wlen, len - wlen, Access::Read)
        .expect("file read");
}

fn fork<R: ReverseMap>(sys: &mut System<R>, child: u32) {
    sys.sys_fork(1, child).expect("fork");
}

/// The frame mapped at `addr` in `m`.
fn frame_at<R: ReverseMap>(sys: &System<R>, m: MmId, addr: u64) -> Pfn {
    sys.core.pte(m, addr).pfn().expect("a present page")
}

/// One group's benchmarks on one backend type.
struct Bench<'g, 'c> {
    group: &'g mut BenchmarkGroup<'c, WallTime>,
    kind: Kind,
}

impl WithBackend for Bench<'_, '_> {
    type Out = ();

    // Long on purpose: one arm per group, each its setup and its timed
    // part side by side, as criterion's examples write them.
    fn run<R: Presets>(self, rmap: R) {
        let (name, preset) = (rmap.name(), rmap.preset());
        drop(rmap);
        let spec = format!("{name}:{preset}");
        for &n in self.kind.sizes(name) {
            self.group.throughput(Throughput::Elements(n));
            let id = BenchmarkId::new(&spec, n);
            let sys = || new_system::<R>(preset);
            match self.kind {
                Kind::Fork => self.group.bench_function(id, |b| {
                    b.iter_batched_ref(
                        || {
                            let mut s = sys();
                            map_anon(&mut s, n, true);
                            map_file(&mut s, n / 4, false, 0);
                            s
                        },
                        |s| fork(s, 2),
                        BATCH,
                    )
                }),
                Kind::Exit => self.group.bench_function(id, |b| {
                    b.iter_batched_ref(
                        || {
                            let mut s = sys();
                            map_anon(&mut s, n, true);
                            map_file(&mut s, n / 4, false, 0);
                            fork(&mut s, 2);
                            s
                        },
                        |s| s.sys_exit(2).expect("exit"),
                        BATCH,
                    )
                }),
                Kind::Fault => self.group.bench_function(id, |b| {
                    b.iter_batched_ref(
                        || {
                            let mut s = sys();
                            let m = map_anon(&mut s, n, false);
                            (s, m)
                        },
                        |(s, m)| {
                            s.sys_touch(*m, ANON_AT, n * PAGE_SIZE, Access::Write)
                                .expect("touch")
                        },
                        BATCH,
                    )
                }),
                Kind::Reclaim => self.group.bench_function(id, |b| {
                    b.iter_batched_ref(
                        || {
                            let mut s = sys();
                            map_anon(&mut s, n, true);
                            map_file(&mut s, n, true, n / 2);
                            fork(&mut s, 2);
                            s
                        },
                        |s| {
                            let freed = s.reclaim(n);
                            assert_eq!(freed, n, "reclaim freed too little");
                        },
                        BATCH,
                    )
                }),
                Kind::Mprotect => self.group.bench_function(id, |b| {
                    b.iter_batched_ref(
                        || {
                            let mut s = sys();
                            let m = map_anon(&mut s, n, true);
                            (s, m)
                        },
                        |(s, m)| {
                            for prot in [Prot::R, Prot::RW] {
                                for i in (0..n).step_by(2) {
                                    s.sys_mprotect(*m, ANON_AT + i * PAGE_SIZE, PAGE_SIZE, prot)
                                        .expect("mprotect");
                                }
                            }
                        },
                        BATCH,
                    )
                }),
                Kind::Walk => self.group.bench_function(id, |b| {
                    b.iter_batched_ref(
                        || {
                            let mut s = sys();
                            let half = n / 2;
                            let m = map_anon(&mut s, half, true);
                            map_file(&mut s, half, true, 0);
                            for child in 2..=4 {
                                fork(&mut s, child);
                            }
                            let pfns: Vec<Pfn> = (0..half)
                                .flat_map(|i| [ANON_AT + i * PAGE_SIZE, FILE_AT + i * PAGE_SIZE])
                                .map(|a| frame_at(&s, m, a))
                                .collect();
                            (s, pfns)
                        },
                        |(s, pfns)| {
                            let mut refs = 0;
                            for &pfn in pfns.iter() {
                                refs += s.page_referenced(pfn);
                            }
                            black_box(refs)
                        },
                        BATCH,
                    )
                }),
            };
        }
    }
}

fn bench_kind(c: &mut Criterion, kind: Kind) {
    let mut group = c.benchmark_group(kind.name());
    let (warm, measure) = kind.times();
    group
        .sample_size(20)
        .warm_up_time(warm)
        .measurement_time(measure)
        .sampling_mode(SamplingMode::Flat);
    for spec in all_specs() {
        with_backend(
            &spec,
            Bench {
                group: &mut group,
                kind,
            },
        )
        .expect("a listed backend");
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
