//! The system: all state of the model (`Core`) plus one reverse-map
//! backend, and [`System::apply`], the one entry point that runs an `Op`
//! ([`System::apply_observed`] also tells an [`Observer`] of each page a
//! `touch` accesses, for the benchmark runner's fault latencies).
//!
//! `Core` holds what every backend shares: frames, page tables, VMAs, mms,
//! files, swap, counters. `System<R>` pairs it with the backend `R` so that
//! every core change can tell the backend (the hooks of `ReverseMap`) with
//! both borrowed separately. The operations live in sibling modules:
//! `vmaops` (mmap, munmap, mprotect, madvise, remap_file_pages, mremap),
//! `fault`,
//! `fork` (fork, exec, exit), `reclaim`, `validate`, `replay`.
//!
//! Lock order (written once, here; the model is single-threaded per system
//! today, and `System` is `Send + Sync` so that parallel runs can hold one
//! system per thread): mmap lock -> page lock -> i_mmap lock -> anon_vma
//! (root) lock -> page-table lock -> swap lock -> LRU lock, as in the header
//! of Linux's `mm/rmap.c`.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::addr::PAGE_SIZE;
use crate::error::{Errno, OpError};
use crate::fault::Observer;
use crate::file::{File, IMapShape};
use crate::frame::FrameTable;
use crate::locks::{Acq, LockClass, LockRecorder, LockRecording, Mode, WorkKind};
use crate::nonlinear::NonlinearEra;
use crate::ops::{MergePolicy, Pid};
use crate::ops::{Op, StatsTarget};
use crate::pgtable::{PageTables, PtePtr};
use crate::pte::Pte;
use crate::replay::Output;
use crate::rmap::{Objects, ReverseMap, sizes};
use crate::shadow::Shadow;
use crate::swap::Swap;
use crate::vma::{FileId, MmId, Vma, VmaArena, VmaId};
use crate::walk::{Walk, WalkStats};

/// Instance ids of split page-table locks carry this bit, so that they
/// never equal an mm's `page_table_lock` instance (the mm id).
const SPLIT_PTL: u64 = 1 << 40;

/// A recorded acquisition to release ([`Core::lock`], [`Core::unlock`]);
/// empty when the class does not exist in the era or recording is off.
#[must_use = "release it with unlock"]
#[derive(Clone, Copy, Debug)]
pub struct Lk(Option<Acq>);

impl Lk {
    /// Nothing taken.
    pub const NONE: Lk = Lk(None);
}

/// Model settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Simulated RAM in bytes (default 1 GiB).
    pub ram: u64,
    /// Swap device in bytes (default 1 GiB).
    pub swap: u64,
    pub merge: MergePolicy,
    pub seed: u64,
    /// Linux's `vm.max_map_count` (default 65530).
    pub max_map_count: u64,
    /// Shape of every file's `i_mmap` unless the backend insists.
    pub i_mmap: IMapShape,
    /// Keep the shadow model that `check` compares reads against.
    pub integrity: bool,
    /// x86 protection keys (`config pkeys=on|off`; default on, as on this
    /// project's reference machine and any x86-64 CPU with PKU). With them,
    /// Linux gives every exec-only (`--x`) mapping an access-denying key:
    /// reads fault, and the key, held in `vm_flags`, keeps anon_vma sharing
    /// from crossing to a neighbour of another protection. Without them an
    /// exec-only page is readable, as the page tables cannot say otherwise.
    /// The live-kernel tools set it to the host's value unless a trace does.
    pub pkeys: bool,
    /// How much of the lock record to keep (default: per-class
    /// statistics, which `stats all` reports).
    pub locks: LockRecording,
    /// `many_prots` as the 2006 remap_file_pages protection patch had it
    /// (`config many_prots=patch`): only shared mappings may be many-prots
    /// (a private one: EINVAL), protections change only through
    /// `remap ... PROT` (MAP_CHGPROT), and mprotect on a many-prots VMA is
    /// refused with EACCES (the 2007 series' stop-gap, "RFP prot support:
    /// disallow mprotect() on manyprots mappings"). Default off
    /// (`many_prots=whatif`): the trace format's meaning, where mprotect
    /// inside a many-prots mapping (private too) keeps per-page
    /// protections without splitting it, a what-if the patch never offered.
    pub many_prots_patch: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ram: 1 << 30,
            swap: 1 << 30,
            merge: MergePolicy::Both,
            seed: 0,
            max_map_count: 65530,
            i_mmap: IMapShape::IntervalTree,
            integrity: true,
            pkeys: true,
            locks: LockRecording::Stats,
            many_prots_patch: false,
        }
    }
}

impl Config {
    /// Check the settings; the message says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let frames = self.ram / PAGE_SIZE;
        if frames < 16 {
            return Err(format!("ram={} is too small: at least 64K", self.ram));
        }
        if frames > u32::MAX as u64 / 2 {
            return Err(format!("ram={} is too large: at most 8T", self.ram));
        }
        if self.swap / PAGE_SIZE > u32::MAX as u64 / 2 {
            return Err(format!("swap={} is too large: at most 8T", self.swap));
        }
        Ok(())
    }
}

/// One address space.
#[derive(Clone, Debug)]
pub struct Mm {
    pub pid: Pid,
    /// VMAs by start address.
    pub vmas: BTreeMap<u64, VmaId>,
    /// Page-table root (arena slot of the PGD).
    pub root: u32,
    pub rss_anon: u64,
    pub rss_file: u64,
    pub swap_ents: u64,
}

/// Event counters beyond the walk counters.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    pub faults: u64,
    pub cow_faults: u64,
    pub swapins: u64,
    pub swapouts: u64,
    pub file_evictions: u64,
    pub writebacks: u64,
    pub reclaim_scanned: u64,
    pub reclaim_freed: u64,
    pub forks: u64,
    pub oom: u64,
    /// Anonymous pages copied because a move (mremap) or a swap-in would
    /// have mapped a shared page at a second address, which a design that
    /// records one address per page cannot follow (anonmm; "mremap moved
    /// N cows" in Hugh Dickins' rmap 11).
    pub move_cows: u64,
    /// Page table entries moved by mremap.
    pub ptes_moved: u64,
}

/// Everything the backends share.
pub struct Core {
    pub cfg: Config,
    pub frames: FrameTable,
    pub pt: PageTables,
    pub vmas: VmaArena,
    pub mms: Vec<Option<Mm>>,
    pub files: Vec<Option<File>>,
    pub swap: Swap,
    pub walk_stats: WalkStats,
    pub counters: Counters,
    /// Allocation below this many free frames starts direct reclaim.
    pub watermark: u64,
    /// The lock record and the work counters (see [`crate::locks`]).
    pub locks: LockRecorder,
    /// How the backend's era handles nonlinear mappings (asked of the
    /// backend once, at [`System::new`]).
    pub nonlinear: NonlinearEra,
    free_mm_ids: Vec<u32>,
}

impl Core {
    /// The mm, which must exist.
    #[inline]
    pub fn mm(&self, id: MmId) -> &Mm {
        self.mms[id.0 as usize].as_ref().expect("live mm")
    }
    #[inline]
    pub fn mm_mut(&mut self, id: MmId) -> &mut Mm {
        self.mms[id.0 as usize].as_mut().expect("live mm")
    }
    /// Every live mm, in id order.
    pub fn mm_ids(&self) -> impl Iterator<Item = MmId> + '_ {
        self.mms
            .iter()
            .enumerate()
            .filter(|(_, m)| m.is_some())
            .map(|(i, _)| MmId(i as u32))
    }
    #[inline]
    pub fn file(&self, id: FileId) -> &File {
        self.files[id.0 as usize].as_ref().expect("live file")
    }
    #[inline]
    pub fn file_mut(&mut self, id: FileId) -> &mut File {
        self.files[id.0 as usize].as_mut().expect("live file")
    }
    /// The VMA that contains `addr`.
    #[inline]
    pub fn find_vma(&self, mm: MmId, addr: u64) -> Option<VmaId> {
        let (_, &id) = self.mm(mm).vmas.range(..=addr).next_back()?;
        (self.vmas[id].end > addr).then_some(id)
    }
    /// The first VMA that ends after `addr` (Linux's `find_vma`).
    pub fn find_vma_after(&self, mm: MmId, addr: u64) -> Option<VmaId> {
        if let Some(v) = self.find_vma(mm, addr) {
            return Some(v);
        }
        self.mm(mm).vmas.range(addr..).next().map(|(_, &id)| id)
    }
    /// The VMA just before `vma` in its mm, if any (adjacent or not).
    pub fn vma_prev(&self, vma: VmaId) -> Option<VmaId> {
        let v = &self.vmas[vma];
        self.mm(v.mm)
            .vmas
            .range(..v.start)
            .next_back()
            .map(|(_, &id)| id)
    }
    /// The VMA just after `vma` in its mm, if any.
    pub fn vma_next(&self, vma: VmaId) -> Option<VmaId> {
        let v = &self.vmas[vma];
        self.mm(v.mm).vmas.range(v.end..).next().map(|(_, &id)| id)
    }
    /// The VMAs that intersect `[start, end)`, in address order.
    pub fn vmas_in(&self, mm: MmId, start: u64, end: u64) -> Vec<VmaId> {
        let first = self
            .find_vma(mm, start)
            .filter(|&v| self.vmas[v].start < start);
        first
            .into_iter()
            .chain(self.mm(mm).vmas.range(start..end).map(|(_, &id)| id))
            .collect()
    }
    /// The PTE slot of `addr` in `mm`, if its table exists.
    #[inline]
    pub fn pte_ptr(&self, mm: MmId, addr: u64) -> Option<PtePtr> {
        self.pt.lookup(self.mm(mm).root, addr)
    }
    /// The PTE of `addr` in `mm` (none if no table).
    #[inline]
    pub fn pte(&self, mm: MmId, addr: u64) -> Pte {
        self.pte_ptr(mm, addr).map_or(Pte::NONE, |p| self.pt.get(p))
    }

    /// Live objects of the core's own kinds; a `vm_area_struct` is
    /// `vma_bytes` kernel bytes (the era's, [`ReverseMap::vma_bytes`]).
    pub fn core_objects(&self, vma_bytes: u64, out: &mut Objects) {
        out.add("vm_area_struct", self.vmas.live(), vma_bytes);
        out.add("page_table", self.pt.live(), sizes::PAGE_TABLE);
    }

    /// Record the acquisition `a` (see [`crate::locks`]); pass the result
    /// to [`Core::unlock`].
    #[inline]
    pub fn lock(&mut self, a: Acq) -> Lk {
        Lk(self.locks.acquire(a).then_some(a))
    }
    /// Record the release of what [`Core::lock`] took.
    #[inline]
    pub fn unlock(&mut self, l: Lk) {
        if let Some(a) = l.0 {
            self.locks.release(a);
        }
    }
    /// Count `n` units of work of `kind`.
    #[inline]
    pub fn work(&mut self, kind: WorkKind, n: u64) {
        self.locks.work(kind, n);
    }
    /// The page-table lock instance that guards PTE `p` of `mm`: the
    /// table's own lock with split page-table locks, else the mm's
    /// `page_table_lock`.
    #[inline]
    pub fn ptl(&self, mm: MmId, p: PtePtr) -> u64 {
        if self.locks.protocol().split_ptl {
            SPLIT_PTL | p.slot() as u64
        } else {
            self.mm_ptl(mm)
        }
    }
    /// The mm's own `page_table_lock` (also the upper-level tables' lock
    /// and, in Linux, what `anon_vma_prepare` attaches under).
    #[inline]
    pub fn mm_ptl(&self, mm: MmId) -> u64 {
        mm.0 as u64
    }

    /// The context a backend hook gets: the core to read, the backend's
    /// own words to write.
    #[inline]
    pub fn ctx(&mut self) -> crate::rmap::Ctx<'_> {
        crate::rmap::Ctx::new(self)
    }

    fn new_mm_id(&mut self) -> MmId {
        if let Some(i) = self.free_mm_ids.pop() {
            MmId(i)
        } else {
            self.mms.push(None);
            MmId(self.mms.len() as u32 - 1)
        }
    }
}

/// The model plus one backend.
pub struct System<R: ReverseMap> {
    pub core: Core,
    pub rmap: R,
    /// Trace process ids to address spaces.
    pub pids: BTreeMap<Pid, MmId>,
    /// Trace file names to file objects.
    pub file_names: BTreeMap<String, FileId>,
    pub(crate) shadow: Shadow,
    pub(crate) rng: ChaCha8Rng,
    /// Reused walk buffer (no allocation per walk).
    pub(crate) walkbuf: Walk,
    /// Reused PTE list buffer.
    pub(crate) ptebuf: Vec<(PtePtr, u64)>,
    /// The locks the current walk holds (see `run_walk`).
    pub(crate) walk_locks: Vec<Lk>,
    /// Pages added to an LRU list since the last LRU lock (`lru_added`).
    pub(crate) lru_pending: u32,

    /// Peak kernel-equivalent bytes seen at the end of any op.
    pub peak_kernel_bytes: u64,
    /// Wall time spent in reclaim (explicit and direct), in nanoseconds.
    /// A measurement for the benchmark runner: never part of any output
    /// that must be deterministic (`stats`, `dump`).
    pub reclaim_ns: u64,
    /// Frame allocations and frees at the last direct reclaim that freed
    /// nothing (see `direct_reclaim`).
    pub(crate) futile_reclaim_at: Option<(u64, u64)>,
}

// The design promises this from the first commit.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<System<crate::rmap::Scan>>();
};

impl<R: ReverseMap> System<R> {
    /// A system with process 1 (empty) and nothing else.
    pub fn new(cfg: Config, rmap: R) -> Result<Self, String> {
        cfg.validate()?;
        let mut cfg = cfg;
        if let Some(shape) = rmap.i_mmap_shape() {
            cfg.i_mmap = shape;
        }
        let nframes = (cfg.ram / PAGE_SIZE) as u32;
        let watermark = (nframes as u64 / 256).clamp(4, 1024);
        let core = Core {
            frames: FrameTable::new(nframes),
            pt: PageTables::new(),
            vmas: VmaArena::default(),
            mms: Vec::new(),
            files: Vec::new(),
            swap: Swap::new((cfg.swap / PAGE_SIZE) as u32),
            walk_stats: WalkStats::default(),
            counters: Counters::default(),
            watermark,
            locks: LockRecorder::new(rmap.lock_protocol(), cfg.locks),
            nonlinear: rmap.nonlinear(),
            free_mm_ids: Vec::new(),
            cfg: cfg.clone(),
        };
        let mut sys = System {
            core,
            rmap,
            pids: BTreeMap::new(),
            file_names: BTreeMap::new(),
            shadow: Shadow::new(cfg.integrity),
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            walkbuf: Walk::default(),
            ptebuf: Vec::new(),
            walk_locks: Vec::new(),
            lru_pending: 0,

            peak_kernel_bytes: 0,
            reclaim_ns: 0,
            futile_reclaim_at: None,
        };
        sys.spawn(1)
            .map_err(|e| format!("cannot create process 1: {e}"))?;
        Ok(sys)
    }

    /// The seeded random generator of this system (scenarios draw from it).
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }

    /// The mm of trace process `pid`.
    pub fn mm_of(&self, pid: Pid) -> Result<MmId, OpError> {
        self.pids.get(&pid).copied().ok_or(OpError::NoProcess(pid))
    }

    /// Create an empty address space for `pid` (the PGD costs one frame).
    pub(crate) fn spawn(&mut self, pid: Pid) -> Result<MmId, Errno> {
        let pfn = self.alloc_frame()?;
        self.core.work(WorkKind::ObjAlloc, 1);
        self.core
            .frames
            .get_mut(pfn)
            .set(crate::frame::flags::PGTABLE);
        let id = self.core.new_mm_id();
        let root = self.core.pt.new_root(pfn, id.0);
        self.core.frames.get_mut(pfn).mapping = id.0 as u64;
        self.core.mms[id.0 as usize] = Some(Mm {
            pid,
            vmas: BTreeMap::new(),
            root,
            rss_anon: 0,
            rss_file: 0,
            swap_ents: 0,
        });
        self.pids.insert(pid, id);
        self.shadow.new_mm(id);
        Ok(id)
    }

    /// Forget an mm whose VMAs and tables are gone.
    pub(crate) fn release_mm(&mut self, id: MmId) {
        self.rmap.mm_release(&mut self.core.ctx(), id);
        let m = self.core.mms[id.0 as usize].take().expect("live mm");
        debug_assert!(m.vmas.is_empty());
        self.core.free_mm_ids.push(id.0);
    }

    /// Declare a file object (`file NAME SIZE`).
    pub fn declare_file(&mut self, name: &str, size: u64) -> Result<FileId, OpError> {
        if self.file_names.contains_key(name) {
            return Err(OpError::File(format!("file {name} is already declared")));
        }
        let id = self.new_file(name.to_string(), size, false);
        self.file_names.insert(name.to_string(), id);
        Ok(id)
    }

    pub(crate) fn new_file(&mut self, name: String, size: u64, shmem: bool) -> FileId {
        let slot = self
            .core
            .files
            .iter()
            .position(|f| f.is_none())
            .unwrap_or_else(|| {
                self.core.files.push(None);
                self.core.files.len() - 1
            });
        let id = FileId(slot as u32);
        self.core.files[slot] = Some(File::new(id, name, size, shmem, self.core.cfg.i_mmap));
        self.shadow.new_file(id);
        id
    }

    /// All live metadata objects, the core's and the backend's.
    pub fn objects(&self) -> Objects {
        let mut o = Objects::default();
        self.core.core_objects(self.rmap.vma_bytes(), &mut o);
        self.rmap.objects(&self.core, &mut o);
        o
    }

    /// Record the peak of kernel-equivalent bytes (called after each op).
    pub(crate) fn note_peak(&mut self) {
        let b = self.objects().kernel_bytes();
        self.peak_kernel_bytes = self.peak_kernel_bytes.max(b);
    }

    /// A VMA by id (convenience for tests and backends).
    pub fn vma(&self, id: VmaId) -> &Vma {
        &self.core.vmas[id]
    }
}

impl<R: ReverseMap> System<R> {
    /// Run one op. `Err(OpError::Errno)` is a failed syscall (the program
    /// sees the errno and goes on); other errors mean the op could not be
    /// run at all (a trace error: unknown process or file, late `config`).
    pub fn apply(&mut self, op: &Op) -> Result<Output, OpError> {
        self.apply_observed(op, &mut ())
    }

    /// [`System::apply`], telling `obs` of the steps it watches.
    pub fn apply_observed(&mut self, op: &Op, obs: &mut dyn Observer) -> Result<Output, OpError> {
        self.core.locks.begin_op();
        let out = self.apply_inner(op, obs);
        self.core.locks.end_op(op.name());
        let out = out?;
        self.note_peak();
        Ok(out)
    }

    fn apply_inner(&mut self, op: &Op, obs: &mut dyn Observer) -> Result<Output, OpError> {
        Ok(match op {
            Op::Config(_) => return Err(OpError::LateConfig),
            Op::File { name, size } => {
                self.declare_file(name, *size)?;
                Output::Nothing
            }
            Op::Fork { parent, child } => {
                self.sys_fork(*parent, *child)?;
                Output::Nothing
            }
            Op::Exec { pid } => {
                self.sys_exec(*pid)?;
                Output::Nothing
            }
            Op::Exit { pid } => {
                self.sys_exit(*pid)?;
                Output::Nothing
            }
            Op::Reclaim { pages } => {
                self.reclaim(*pages);
                Output::Nothing
            }
            Op::Dump { pid } => Output::Text(self.dump(*pid)?),
            Op::Stats(StatsTarget::All) => {
                Output::Text(serde_json::to_string(&self.stats_all()).expect("stats serialise"))
            }
            Op::Stats(StatsTarget::Pid(pid)) => Output::Text(
                serde_json::to_string(&self.stats_pid(*pid)?).expect("stats serialise"),
            ),
            Op::Check => match self.validate().and_then(|_| self.check_integrity()) {
                Ok(()) => Output::Nothing,
                Err(e) => Output::CheckFailed(e),
            },
            Op::Mmap { .. }
            | Op::Munmap { .. }
            | Op::Mprotect { .. }
            | Op::Touch { .. }
            | Op::Madvise { .. }
            | Op::Mremap { .. }
            | Op::Remap { .. } => {
                self.apply_mm_op(op, obs)?;
                Output::Nothing
            }
        })
    }

    /// The syscalls on one address space (mmap, munmap, mprotect, touch,
    /// madvise, mremap, remap): `apply` sends exactly these here. Each runs under
    /// its mm's `mmap_lock` (for writing, or reading for the advices that
    /// only zap or reclaim and for remap_file_pages, as 2.6 took it);
    /// `touch` takes locks per fault instead, and so does the 4.0 emulation
    /// of remap_file_pages (read, then write, then faults).
    fn apply_mm_op(&mut self, op: &Op, obs: &mut dyn Observer) -> Result<(), OpError> {
        let mm = self.mm_of(op.pid().expect("an op on one address space"))?;
        let mode = match *op {
            Op::Touch { .. } => None,
            Op::Madvise { advice, .. } if !advice.changes_flags() => Some(Mode::Shared),
            Op::Remap { .. } if self.core.nonlinear == NonlinearEra::Emulated => None,
            Op::Remap { .. } => Some(Mode::Shared),
            _ => Some(Mode::Exclusive),
        };
        let lk = match mode {
            Some(mode) => self.core.lock(Acq {
                mode,
                ..Acq::excl(LockClass::MmapLock, mm.0 as u64)
            }),
            None => Lk::NONE,
        };
        let r = self.mm_syscall(mm, op, obs);
        self.core.unlock(lk);
        r
    }

    fn mm_syscall(&mut self, mm: MmId, op: &Op, obs: &mut dyn Observer) -> Result<(), OpError> {
        match *op {
            Op::Mmap {
                addr,
                len,
                prot,
                flags,
                ref file,
                off,
                ..
            } => {
                let file = match file {
                    Some(n) => Some(
                        *self
                            .file_names
                            .get(n)
                            .ok_or_else(|| OpError::File(format!("file {n} is not declared")))?,
                    ),
                    None => None,
                };
                let req = crate::MmapReq {
                    addr,
                    len,
                    prot,
                    flags,
                    file,
                    off,
                };
                self.sys_mmap(mm, req)?
            }
            Op::Munmap { addr, len, .. } => self.sys_munmap(mm, addr, len)?,
            Op::Mprotect {
                addr, len, prot, ..
            } => self.sys_mprotect(mm, addr, len, prot)?,
            Op::Touch {
                addr, len, access, ..
            } => self.sys_touch_observed(mm, addr, len, access, obs)?,
            Op::Madvise {
                addr, len, advice, ..
            } => self.sys_madvise(mm, addr, len, advice)?,
            Op::Remap {
                addr,
                len,
                pgoff,
                prot,
                ..
            } => self.sys_remap(mm, addr, len, crate::PgOff(pgoff), prot)?,
            Op::Mremap {
                addr,
                old_len,
                new_len,
                flags,
                ..
            } => {
                self.sys_mremap(mm, addr, old_len, new_len, flags)?;
            }
            _ => unreachable!("not an address-space op: {op:?}"),
        }
        Ok(())
    }
}
