//! The operations both benches measure (criterion's `ops`, in time, and
//! gungraun's `instructions`, in instructions under callgrind): one
//! [`Kind`] per operation, each prepared on a freshly built and populated
//! `System` ([`prepare`]) so that only the operation itself runs in the
//! measured part. `ops.rs`'s module documentation says exactly what each
//! kind does and times.

use std::hint::black_box;

use rmap_core::ops::{Access, MapFlags, Prot};
use rmap_core::{Config, MmId, MmapReq, PAGE_SIZE, Pfn, Presets, ReverseMap, System};
use rmap_registry::{WithBackend, with_backend};

/// Where the anonymous and the file mappings start.
const ANON_AT: u64 = 0x1000_0000;
const FILE_AT: u64 = 0x8000_0000;

/// Page counts of every benchmark, and the smaller ones of `scan` where
/// its walks make the larger one too slow.
pub const SIZES: &[u64] = &[256, 4096];
pub const SCAN_SIZES: &[u64] = &[256, 1024];

/// One operation under measurement.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Fork,
    Exit,
    Fault,
    Reclaim,
    Mprotect,
    Walk,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Fork => "fork",
            Kind::Exit => "exit",
            Kind::Fault => "fault",
            Kind::Reclaim => "reclaim",
            Kind::Mprotect => "mprotect",
            Kind::Walk => "walk",
        }
    }

    /// The sizes of `backend` (a backend name, without preset).
    pub fn sizes(self, backend: &str) -> &'static [u64] {
        match self {
            Kind::Walk | Kind::Reclaim if backend == "scan" => SCAN_SIZES,
            _ => SIZES,
        }
    }
}

/// A system set up for one operation; [`Prepared::run`] does it once.
pub trait Prepared {
    fn run(&mut self);
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

/// One kind's system, populated, with what its operation needs.
struct Ready<R: ReverseMap> {
    sys: System<R>,
    kind: Kind,
    n: u64,
    mm: MmId,
    pfns: Vec<Pfn>,
}

impl<R: ReverseMap> Prepared for Ready<R> {
    fn run(&mut self) {
        let (s, n, m) = (&mut self.sys, self.n, self.mm);
        match self.kind {
            Kind::Fork => fork(s, 2),
            Kind::Exit => s.sys_exit(2).expect("exit"),
            Kind::Fault => s
                .sys_touch(m, ANON_AT, n * PAGE_SIZE, Access::Write)
                .expect("touch"),
            Kind::Reclaim => {
                let freed = s.reclaim(n);
                assert_eq!(freed, n, "reclaim freed too little");
            }
            Kind::Mprotect => {
                for prot in [Prot::R, Prot::RW] {
                    for i in (0..n).step_by(2) {
                        s.sys_mprotect(m, ANON_AT + i * PAGE_SIZE, PAGE_SIZE, prot)
                            .expect("mprotect");
                    }
                }
            }
            Kind::Walk => {
                let mut refs = 0;
                for &pfn in &self.pfns {
                    refs += s.page_referenced(pfn);
                }
                black_box(refs);
            }
        }
    }
}

/// Builds a [`Ready`] for one backend type.
struct Prepare {
    kind: Kind,
    n: u64,
}

impl WithBackend for Prepare {
    type Out = Box<dyn Prepared>;

    // One arm per kind: its setup, as `ops.rs`'s documentation states it.
    fn run<R: Presets>(self, rmap: R) -> Box<dyn Prepared> {
        let preset = rmap.preset();
        drop(rmap);
        let (kind, n) = (self.kind, self.n);
        let mut s = new_system::<R>(preset);
        let mut pfns = Vec::new();
        let m = match kind {
            Kind::Fork | Kind::Exit => {
                let m = map_anon(&mut s, n, true);
                map_file(&mut s, n / 4, false, 0);
                if kind == Kind::Exit {
                    fork(&mut s, 2);
                }
                m
            }
            Kind::Fault => map_anon(&mut s, n, false),
            Kind::Reclaim => {
                let m = map_anon(&mut s, n, true);
                map_file(&mut s, n, true, n / 2);
                fork(&mut s, 2);
                m
            }
            Kind::Mprotect => map_anon(&mut s, n, true),
            Kind::Walk => {
                let half = n / 2;
                let m = map_anon(&mut s, half, true);
                map_file(&mut s, half, true, 0);
                for child in 2..=4 {
                    fork(&mut s, child);
                }
                pfns = (0..half)
                    .flat_map(|i| [ANON_AT + i * PAGE_SIZE, FILE_AT + i * PAGE_SIZE])
                    .map(|a| frame_at(&s, m, a))
                    .collect();
                m
            }
        };
        Box::new(Ready {
            sys: s,
            kind,
            n,
            mm: m,
            pfns,
        })
    }
}

/// `kind` prepared on the backend `spec` with `n` pages.
pub fn prepare(kind: Kind, spec: &str, n: u64) -> Box<dyn Prepared> {
    with_backend(spec, Prepare { kind, n }).expect("a listed backend")
}
