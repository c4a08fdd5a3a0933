//! Locks: each era's lock protocol, recorded with the work done under it.
//!
//! The model runs one op at a time, so no lock is ever contended here; what
//! it records is *which* locks each op takes, in which mode and order, and
//! how much work it does while holding each one. The virtual-CPU engine
//! turns that record into time under contention. One small API serves every
//! path: [`Core::lock`] / [`Core::unlock`] (and [`Ctx`](crate::Ctx) for
//! backend hooks), [`Core::work`] for work units, and the walk's own lock
//! list ([`Walk::hold`](crate::walk::Walk::hold)).
//!
//! # Classes, kinds, order
//!
//! A lock *class* is one kind of lock with many instances (lockdep's word):
//! `mmap_lock` per mm, `ptl` per page-table page (split page-table locks,
//! 2.6.15 on) or per mm (`page_table_lock`), `page_lock` per page, and so
//! on ([`LockClass`]). Each era's [`LockProtocol`] (declared by the preset,
//! see [`ReverseMap::lock_protocol`](crate::ReverseMap::lock_protocol))
//! says which classes exist, the kind of each ([`LockKind`]), and the lock
//! ORDER, outermost first. This is the one place the order is written:
//!
//! | era | order (outermost first) |
//! |---|---|
//! | 2.4 (`scan`) | mmap_lock, page_lock, ptl, swap_lock, lru_lock |
//! | 2.5/2.6.0 (pte-chain, `mccracken`) | mmap_lock, page_lock, i_mmap, ptl, pte_chain, swap_lock, lru_lock |
//! | 2.6.7-rc1 / 2.6.7 (`prio`, `anonmm`, `andrea-2.6.7`, `rmap40-2.6.7`) | mmap_lock, page_lock, i_mmap, ptl, page_map_lock (pte_chain for `prio`), anonmm / anon_vma, swap_lock, lru_lock |
//! | 2.6.9 to 6.18 (`avc-2.6.34` on) | mmap_lock, vma_lock (6.4 on), page_lock, i_mmap, anon_vma, ptl, swap_lock, lru_lock |
//!
//! (mm/rmap.c's header comment of each version; `docs/locking.md` has the
//! table per preset with sources.) Reclaim in the eras before 2.6.9 ran
//! "inside out" (page-level lock first) and therefore *trylocked* the
//! mm-side locks: a trylock is exempt from the order check, as it cannot
//! deadlock. Two instances of one class may nest only when the acquisition
//! says so ([`Acq::nested`], lockdep's `_nested` annotation: fork takes the
//! child's page-table lock inside the parent's).
//!
//! # Work units
//!
//! Work is counted in exact, machine-independent units ([`WorkKind`]):
//! VMAs visited, PTEs checked, set, copied or zapped, objects allocated or
//! freed, chain blocks touched, pages zeroed or copied, pages of I/O. The
//! counters are always kept (a counter bump); the lock record is kept only
//! when [`LockRecording`] says so.
//!
//! Invariants (checked by `System::validate`): no lock is held between
//! ops; every non-trylock, non-nested acquisition comes after every lock
//! already held in the protocol's order; every acquired class is declared
//! by the protocol.

mod instances;
use instances::InstanceCounts;

use serde::Serialize;

pub mod era;

/// A lock class.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[repr(u8)]
pub enum LockClass {
    /// `mm->mmap_lock` (`mmap_sem` before 5.8): per mm.
    MmapLock,
    /// The per-VMA lock (6.4 on): per VMA; page faults take it instead of
    /// `mmap_lock` when they can.
    VmaLock,
    /// `PG_locked`: per page (a sleeping bit lock).
    PageLock,
    /// The file's `i_mmap` lock: `i_shared_sem`, `i_mmap_lock`,
    /// `i_mmap_mutex`, `i_mmap_rwsem` by era; per file.
    IMmap,
    /// The anon_vma lock: per anon_vma, or per root anon_vma (2.6.36 on).
    AnonVma,
    /// anonmm's family lock (in the family's head record).
    Anonmm,
    /// The page-table lock: per page-table page with split page-table
    /// locks (2.6.15 on), else the mm's `page_table_lock`.
    Ptl,
    /// The 2.5 rmap's per-page `pte_chain_lock` (bit spinlock
    /// `PG_chainlock`).
    PteChain,
    /// 2.6.6/2.6.7's per-page `page_map_lock` (the same bit, `PG_maplock`,
    /// guarding the mapcount once chains were gone).
    PageMapLock,
    /// The swap locks (`swap_list_lock` + `swap_device_lock`, `swap_lock`,
    /// `si->lock`): one instance, the model's one swap device.
    SwapLock,
    /// The LRU lock (`pagemap_lru_lock`, `zone->lru_lock`, `lruvec`):
    /// one instance, the model's one zone and memcg.
    LruLock,
}

/// Number of lock classes.
pub const CLASSES: usize = 11;

impl LockClass {
    pub const ALL: [LockClass; CLASSES] = [
        LockClass::MmapLock,
        LockClass::VmaLock,
        LockClass::PageLock,
        LockClass::IMmap,
        LockClass::AnonVma,
        LockClass::Anonmm,
        LockClass::Ptl,
        LockClass::PteChain,
        LockClass::PageMapLock,
        LockClass::SwapLock,
        LockClass::LruLock,
    ];
    /// The name used in `stats` output and reports.
    pub fn name(self) -> &'static str {
        match self {
            LockClass::MmapLock => "mmap_lock",
            LockClass::VmaLock => "vma_lock",
            LockClass::PageLock => "page_lock",
            LockClass::IMmap => "i_mmap",
            LockClass::AnonVma => "anon_vma",
            LockClass::Anonmm => "anonmm",
            LockClass::Ptl => "ptl",
            LockClass::PteChain => "pte_chain",
            LockClass::PageMapLock => "page_map_lock",
            LockClass::SwapLock => "swap_lock",
            LockClass::LruLock => "lru_lock",
        }
    }
}

/// What kind of lock a class is in an era.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LockKind {
    /// A spinlock: a waiter burns its CPU.
    Spin,
    /// A bit spinlock in a word of the object (`PG_chainlock`).
    BitSpin,
    /// A sleeping exclusive lock.
    Mutex,
    /// A counting semaphore used as a sleeping exclusive lock.
    Semaphore,
    /// A reader-writer semaphore: readers share, a writer excludes.
    Rwsem,
}

impl LockKind {
    pub fn name(self) -> &'static str {
        match self {
            LockKind::Spin => "spin",
            LockKind::BitSpin => "bit_spin",
            LockKind::Mutex => "mutex",
            LockKind::Semaphore => "semaphore",
            LockKind::Rwsem => "rwsem",
        }
    }
    /// Whether a waiter sleeps (else it spins).
    pub fn sleeps(self) -> bool {
        matches!(
            self,
            LockKind::Mutex | LockKind::Semaphore | LockKind::Rwsem
        )
    }
}

/// How a reclaim walk takes the lock of the structure it walks (the
/// file's `i_mmap`, the page's anon_vma).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct WalkLock {
    /// Shared (rwsem read side, 3.8/3.19 on) or exclusive.
    pub mode: Mode,
    /// `page_referenced`'s walk trylocks it and gives up when it is
    /// contended (2.6.0-2.6.8; 5.19 on with `rwc->try_lock`).
    pub referenced_try: bool,
    /// `try_to_unmap`'s walk trylocks it (2.6.0-2.6.8).
    pub unmap_try: bool,
}

impl WalkLock {
    /// A plain exclusive acquisition by every walk.
    pub const EXCL: WalkLock = WalkLock {
        mode: Mode::Exclusive,
        referenced_try: false,
        unmap_try: false,
    };
    /// Trylocked by every walk (the 2.6.0 objrmap `down_trylock`, 2.6.7's
    /// `spin_trylock`).
    pub const TRY: WalkLock = WalkLock {
        mode: Mode::Exclusive,
        referenced_try: true,
        unmap_try: true,
    };
    /// Shared by every walk (3.8 / 3.19 to 5.18).
    pub const SHARED: WalkLock = WalkLock {
        mode: Mode::Shared,
        referenced_try: false,
        unmap_try: false,
    };

    /// The acquisition a walk makes of `class` instance `inst`;
    /// `referenced` for page_referenced's walk, else try_to_unmap's.
    pub fn acq(self, class: LockClass, inst: u64, referenced: bool) -> Acq {
        Acq {
            class,
            inst,
            mode: self.mode,
            try_: if referenced {
                self.referenced_try
            } else {
                self.unmap_try
            },
            nested: false,
        }
    }
}

/// How one class exists in one era.
#[derive(Clone, Copy, Debug)]
pub struct ClassSpec {
    pub class: LockClass,
    pub kind: LockKind,
    /// Per what one instance is ("mm", "page-table page", "root anon_vma").
    pub per: &'static str,
    /// Where the era's code was read (file, version, function).
    pub source: &'static str,
}

/// One era's lock protocol: its classes and their order.
#[derive(Debug)]
pub struct LockProtocol {
    /// The era, as a kernel version ("2.6.0", "6.18").
    pub era: &'static str,
    /// The classes that exist, in lock order, outermost first.
    pub order: &'static [ClassSpec],
    /// Page-table locks are per page-table page (2.6.15 on).
    pub split_ptl: bool,
    /// Page faults take the per-VMA lock instead of `mmap_lock` (6.4 on).
    pub vma_lock_faults: bool,
    /// Reclaim's walks trylock the page-table lock (before 2.6.9) and give
    /// up on that mapping when it fails.
    pub walk_ptl_try: bool,
    /// `page_referenced` takes the page-table lock of each mapping (not in
    /// 2.5/2.6.0, which tested young bits through the chain under the
    /// page's chain lock alone).
    pub referenced_ptl: bool,
    /// fork takes the child's `mmap_lock` too (2.6.15 on).
    pub fork_locks_child: bool,
    /// exit takes `mmap_lock` for writing around the teardown (6.x).
    pub exit_takes_mmap: bool,
    /// Pages added to the LRU per `lru_lock` acquisition (the pagevec or
    /// folio batch).
    pub lru_batch: u32,
    /// How reclaim's file walk takes `i_mmap`.
    pub file_walk: WalkLock,
    /// How reclaim's anonymous walk takes its lock (anon_vma, anonmm).
    pub anon_walk: WalkLock,
}

impl LockProtocol {
    /// The spec of `class`, if the era has it.
    pub fn spec(&self, class: LockClass) -> Option<&ClassSpec> {
        self.order.iter().find(|s| s.class == class)
    }
}

/// Exclusive or shared.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Mode {
    Exclusive,
    Shared,
}

/// One acquisition request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Acq {
    pub class: LockClass,
    /// The instance (an mm id, a pfn, a file id, an anon_vma id, ...).
    pub inst: u64,
    pub mode: Mode,
    /// A trylock: in a contended run it may fail at once (the model never
    /// contends, so here it always succeeds); exempt from the order check.
    pub try_: bool,
    /// A second instance of a class already held, on purpose (lockdep's
    /// `_nested`).
    pub nested: bool,
}

impl Acq {
    /// An exclusive acquisition of `class` instance `inst`.
    pub fn excl(class: LockClass, inst: u64) -> Acq {
        Acq {
            class,
            inst,
            mode: Mode::Exclusive,
            try_: false,
            nested: false,
        }
    }
    /// A shared acquisition (the kind decides whether it really shares).
    pub fn shared(class: LockClass, inst: u64) -> Acq {
        Acq {
            mode: Mode::Shared,
            ..Acq::excl(class, inst)
        }
    }
    /// As a trylock.
    pub fn try_lock(self) -> Acq {
        Acq { try_: true, ..self }
    }
    /// As a nested acquisition of a class already held.
    pub fn nested(self) -> Acq {
        Acq {
            nested: true,
            ..self
        }
    }
}

/// A kind of work unit.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u8)]
pub enum WorkKind {
    /// A VMA visited (by an rmap walk, or by fork/unmap/mprotect per VMA).
    VmaVisit,
    /// A PTE read and tested (a walk's candidate, a scan).
    PteCheck,
    /// A PTE written by a fault, mprotect or remap.
    PteSet,
    /// A PTE copied at fork.
    PteCopy,
    /// A PTE cleared by unmap, zap or reclaim.
    PteZap,
    /// A metadata object allocated (VMA, anon_vma, chain, page table, ...).
    ObjAlloc,
    /// A metadata object freed.
    ObjFree,
    /// A PTE-chain block touched.
    ChainBlock,
    /// A page zeroed or copied (anonymous fault, COW).
    PageCopy,
    /// A page read from or written to swap or a file.
    PageIo,
}

/// Number of work kinds.
pub const WORK_KINDS: usize = 10;

impl WorkKind {
    pub const ALL: [WorkKind; WORK_KINDS] = [
        WorkKind::VmaVisit,
        WorkKind::PteCheck,
        WorkKind::PteSet,
        WorkKind::PteCopy,
        WorkKind::PteZap,
        WorkKind::ObjAlloc,
        WorkKind::ObjFree,
        WorkKind::ChainBlock,
        WorkKind::PageCopy,
        WorkKind::PageIo,
    ];
    pub fn name(self) -> &'static str {
        match self {
            WorkKind::VmaVisit => "vma_visit",
            WorkKind::PteCheck => "pte_check",
            WorkKind::PteSet => "pte_set",
            WorkKind::PteCopy => "pte_copy",
            WorkKind::PteZap => "pte_zap",
            WorkKind::ObjAlloc => "obj_alloc",
            WorkKind::ObjFree => "obj_free",
            WorkKind::ChainBlock => "chain_block",
            WorkKind::PageCopy => "page_copy",
            WorkKind::PageIo => "page_io",
        }
    }
}

/// Work done, by kind.
pub type WorkVec = [u64; WORK_KINDS];

/// How much of the lock record to keep.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum LockRecording {
    /// Nothing (work units are still counted).
    Off,
    /// Per-class statistics (`stats all`'s `locks`).
    #[default]
    Stats,
    /// Statistics and every acquisition and release of the current op, for
    /// the virtual-CPU engine ([`LockRecorder::take_events`]).
    Events,
}

/// One recorded acquisition or release.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct LockEvent {
    pub acq: Acq,
    /// Acquisition (else release).
    pub acquire: bool,
    /// The op's work so far when it happened.
    pub work: WorkVec,
    /// Taken by a reclaim walk around its traversal (the walk's own
    /// `holds`: the anon_vma, anonmm, `i_mmap` or chain lock), as opposed
    /// to any other path; see [`LockRecorder::mark_walk`].
    pub walk: bool,
}

/// Receives each event of [`LockRecording::Events`] as it is recorded,
/// instead of the event list (see [`LockRecorder::set_sink`]): the
/// virtual-CPU engine prices events into its script as they come, so that
/// an op that records millions of events (a reclaim walking a family of
/// thousands of processes) never holds them all.
pub trait EventSink: std::any::Any + Send + Sync + std::fmt::Debug {
    /// One acquisition or release, in order.
    fn event(&mut self, e: &LockEvent);
    /// Probes of `first`'s lock at each instance of `insts` in turn, `n`
    /// units of `kind` under each ([`LockRecorder::probes`]); `first` is
    /// the first acquisition. The same as their events ([`each_probe`]) in
    /// order.
    fn probes(&mut self, first: &LockEvent, insts: &[u64], kind: WorkKind, n: u64) {
        each_probe(first, insts, kind, n, |a, r| {
            self.event(a);
            self.event(r);
        });
    }
    /// For the owner to get its sink back.
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any;
}

/// The acquisition and release events of probes of `first`'s lock at each
/// of `insts`, `n` units of `kind` under each, in order.
pub fn each_probe(
    first: &LockEvent,
    insts: &[u64],
    kind: WorkKind,
    n: u64,
    mut f: impl FnMut(&LockEvent, &LockEvent),
) {
    let mut a = *first;
    for &inst in insts {
        a.acq.inst = inst;
        let mut r = a;
        r.acquire = false;
        r.work[kind as usize] += n;
        f(&a, &r);
        a.work = r.work;
    }
}

/// Per-class statistics, as `stats all` reports them.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct ClassStats {
    pub acquired: u64,
    pub shared: u64,
    pub failed_trylocks: u64,
    /// Work units done while held (all kinds, summed).
    pub hold_units: u64,
}

/// One class in `stats all`'s `locks` object.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct ClassReport {
    pub kind: &'static str,
    pub acquired: u64,
    pub shared: u64,
    pub failed_trylocks: u64,
    /// Distinct instances ever taken.
    pub instances: u64,
    /// The busiest instance's share of the acquisitions.
    pub top_share: f64,
    /// The busiest instance (the lowest id among equals), if any.
    pub busiest: Option<u64>,
    pub hold_units: u64,
}

#[derive(Clone, Copy, Debug)]
struct Held {
    acq: Acq,
    /// Total work (all kinds) when acquired.
    at: u64,
}

/// Records lock acquisitions and work for one system.
#[derive(Debug)]
pub struct LockRecorder {
    recording: LockRecording,
    proto: &'static LockProtocol,
    /// Position of each class in the protocol's order (`u8::MAX`: absent).
    rank: [u8; CLASSES],
    held: Vec<Held>,
    /// Work since the system began, by kind, and in all.
    work: WorkVec,
    work_total: u64,
    /// Work at the start of the current op.
    op_start: WorkVec,
    stats: [ClassStats; CLASSES],
    per_instance: [InstanceCounts; CLASSES],
    events: Vec<LockEvent>,
    /// Acquisitions recorded now are a reclaim walk's own locks.
    walk_marking: bool,
    /// Where events go instead of `events`, if set.
    sink: Option<Box<dyn EventSink>>,
    /// The first broken rule, for `validate`.
    violation: Option<String>,
}

impl LockRecorder {
    pub fn new(proto: &'static LockProtocol, recording: LockRecording) -> Self {
        let mut rank = [u8::MAX; CLASSES];
        for (i, s) in proto.order.iter().enumerate() {
            rank[s.class as usize] = i as u8;
        }
        LockRecorder {
            recording,
            proto,
            rank,
            held: Vec::with_capacity(8),
            work: [0; WORK_KINDS],
            work_total: 0,
            op_start: [0; WORK_KINDS],
            stats: [ClassStats::default(); CLASSES],
            per_instance: Default::default(),
            events: Vec::new(),
            walk_marking: false,
            sink: None,
            violation: None,
        }
    }

    pub fn protocol(&self) -> &'static LockProtocol {
        self.proto
    }
    pub fn recording(&self) -> LockRecording {
        self.recording
    }
    pub fn set_recording(&mut self, r: LockRecording) {
        self.recording = r;
    }

    /// Count `n` units of work.
    #[inline]
    pub fn work(&mut self, kind: WorkKind, n: u64) {
        self.work[kind as usize] += n;
        self.work_total += n;
    }

    /// Work done since the system began, by kind.
    pub fn work_done(&self) -> &WorkVec {
        &self.work
    }

    #[inline]
    fn total(&self) -> u64 {
        self.work_total
    }

    /// Record `acq`'s lock at each instance of `insts` in turn acquired,
    /// `n` units of `kind` done under it, and released: exactly what
    /// [`LockRecorder::acquire`], [`LockRecorder::work`] and
    /// [`LockRecorder::release`] record in that order for each (a reclaim
    /// walk's run of misses: one page-table lock per VMA it visits, tens of
    /// thousands per walk in a large fork family), in one call.
    pub fn probes(&mut self, acq: Acq, insts: &[u64], kind: WorkKind, n: u64) {
        let count = insts.len() as u64;
        let rank = match self.recording {
            LockRecording::Off => u8::MAX,
            _ => self.rank[acq.class as usize],
        };
        if rank == u8::MAX || count == 0 {
            return self.work(kind, count * n);
        }
        // the order check depends on the class and flags, not the instance
        self.check_order(acq, rank);
        let s = &mut self.stats[acq.class as usize];
        s.acquired += count;
        if acq.mode == Mode::Shared && self.proto.order[rank as usize].kind == LockKind::Rwsem {
            s.shared += count;
        }
        s.hold_units += count * n;
        self.per_instance[acq.class as usize].bump_all(insts);
        if self.recording == LockRecording::Events {
            let first = self.event_now(
                Acq {
                    inst: insts[0],
                    ..acq
                },
                true,
            );
            match &mut self.sink {
                Some(sink) => sink.probes(&first, insts, kind, n),
                None => {
                    let events = &mut self.events;
                    each_probe(&first, insts, kind, n, |a, r| events.extend([*a, *r]));
                }
            }
        }
        self.work(kind, count * n);
    }

    /// Record an acquisition. Returns whether it was recorded (the class is
    /// declared and recording is on); the caller passes the same `Acq` to
    /// [`LockRecorder::release`].
    #[inline]
    pub fn acquire(&mut self, acq: Acq) -> bool {
        if self.recording == LockRecording::Off {
            return false;
        }
        let r = self.rank[acq.class as usize];
        if r == u8::MAX {
            return false;
        }
        self.check_order(acq, r);
        let s = &mut self.stats[acq.class as usize];
        s.acquired += 1;
        if acq.mode == Mode::Shared && self.proto.order[r as usize].kind == LockKind::Rwsem {
            s.shared += 1;
        }
        self.per_instance[acq.class as usize].bump(acq.inst);
        self.held.push(Held {
            acq,
            at: self.total(),
        });
        if self.recording == LockRecording::Events {
            self.push_event(acq, true);
        }
        true
    }

    /// Record the release of an acquisition that [`LockRecorder::acquire`]
    /// recorded.
    #[inline]
    pub fn release(&mut self, acq: Acq) {
        let Some(i) = self
            .held
            .iter()
            .rposition(|h| h.acq.class == acq.class && h.acq.inst == acq.inst)
        else {
            self.violate(format!(
                "release of {} {:#x} that is not held",
                acq.class.name(),
                acq.inst
            ));
            return;
        };
        let h = self.held.remove(i);
        self.stats[acq.class as usize].hold_units += self.total() - h.at;
        if self.recording == LockRecording::Events {
            self.push_event(acq, false);
        }
    }

    #[inline]
    fn event_now(&self, acq: Acq, acquire: bool) -> LockEvent {
        let mut work = self.work;
        for (w, s) in work.iter_mut().zip(self.op_start) {
            *w -= s;
        }
        LockEvent {
            acq,
            acquire,
            work,
            walk: self.walk_marking,
        }
    }

    fn push_event(&mut self, acq: Acq, acquire: bool) {
        let e = self.event_now(acq, acquire);
        match &mut self.sink {
            Some(s) => s.event(&e),
            None => self.events.push(e),
        }
    }

    /// Send the events of [`LockRecording::Events`] to `sink` from now on
    /// (the event list stays empty), or back to the list with `None`.
    pub fn set_sink(&mut self, sink: Option<Box<dyn EventSink>>) {
        self.sink = sink;
    }

    /// The sink, if one is set.
    pub fn sink_mut(&mut self) -> Option<&mut dyn EventSink> {
        self.sink.as_deref_mut()
    }

    /// Mark the acquisitions and releases recorded from now on as a
    /// reclaim walk's own locks (`on`), or stop marking them. Only the
    /// event list carries the mark (the virtual-CPU engine measures how
    /// long walks hold their locks); statistics do not change.
    #[inline]
    pub fn mark_walk(&mut self, on: bool) {
        self.walk_marking = on;
    }

    fn check_order(&mut self, acq: Acq, rank: u8) {
        if acq.try_ || self.violation.is_some() {
            return;
        }
        for h in &self.held {
            let hr = self.rank[h.acq.class as usize];
            let ok = hr < rank || (hr == rank && acq.nested);
            if !ok {
                let msg = format!(
                    "lock order ({}): {} taken while holding {}",
                    self.proto.era,
                    acq.class.name(),
                    h.acq.class.name()
                );
                self.violate(msg);
                return;
            }
        }
    }

    fn violate(&mut self, msg: String) {
        if self.violation.is_none() {
            self.violation = Some(msg);
        }
    }

    /// Whether instance `inst` of `class` is held now (recorded).
    pub fn is_held(&self, class: LockClass, inst: u64) -> bool {
        self.held
            .iter()
            .any(|h| h.acq.class == class && h.acq.inst == inst)
    }

    /// An op begins: its events start empty, its work from zero.
    pub fn begin_op(&mut self) {
        self.events.clear();
        self.op_start = self.work;
    }

    /// An op ended: nothing may be held any more.
    pub fn end_op(&mut self, op: &str) {
        if let Some(h) = self.held.first() {
            let msg = format!(
                "{} {:#x} still held after `{op}`",
                h.acq.class.name(),
                h.acq.inst
            );
            self.violate(msg);
            self.held.clear();
        }
    }

    /// The current op's events (empty unless recording `Events` without a
    /// sink).
    pub fn events(&self) -> &[LockEvent] {
        &self.events
    }

    /// The current op's work so far, by kind.
    pub fn op_work(&self) -> WorkVec {
        let mut w = self.work;
        for (w, s) in w.iter_mut().zip(self.op_start) {
            *w -= s;
        }
        w
    }

    /// The lock discipline so far: nothing held, no order broken.
    pub fn check(&self) -> Result<(), String> {
        if let Some(v) = &self.violation {
            return Err(v.clone());
        }
        if let Some(h) = self.held.first() {
            return Err(format!(
                "{} {:#x} held between ops",
                h.acq.class.name(),
                h.acq.inst
            ));
        }
        Ok(())
    }

    /// Per-class statistics.
    pub fn class_stats(&self, class: LockClass) -> ClassStats {
        self.stats[class as usize]
    }

    /// `stats all`'s `locks` object: every class the era declares, by
    /// name, in a deterministic order.
    pub fn report(&self) -> std::collections::BTreeMap<&'static str, ClassReport> {
        self.proto
            .order
            .iter()
            .map(|spec| {
                let c = spec.class as usize;
                let s = self.stats[c];
                let inst = &self.per_instance[c];
                // most acquisitions, then the lowest id
                let busiest = inst.busiest();
                let top = busiest.map_or(0, |(_, n)| n);
                let top_share = if s.acquired == 0 {
                    0.0
                } else {
                    top as f64 / s.acquired as f64
                };
                (
                    spec.class.name(),
                    ClassReport {
                        kind: spec.kind.name(),
                        acquired: s.acquired,
                        shared: s.shared,
                        failed_trylocks: s.failed_trylocks,
                        instances: inst.len(),
                        top_share,
                        busiest: busiest.map(|(id, _)| id),
                        hold_units: s.hold_units,
                    },
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "test";
    static PROTO: LockProtocol = LockProtocol {
        era: "test",
        order: &[
            ClassSpec {
                class: LockClass::MmapLock,
                kind: LockKind::Rwsem,
                per: "mm",
                source: SRC,
            },
            ClassSpec {
                class: LockClass::Ptl,
                kind: LockKind::Spin,
                per: "mm",
                source: SRC,
            },
        ],
        split_ptl: false,
        vma_lock_faults: false,
        walk_ptl_try: false,
        referenced_ptl: true,
        fork_locks_child: false,
        exit_takes_mmap: false,
        lru_batch: 16,
        file_walk: WalkLock::EXCL,
        anon_walk: WalkLock::EXCL,
    };

    #[test]
    fn order_nesting_and_hold_units() {
        let mut r = LockRecorder::new(&PROTO, LockRecording::Events);
        r.begin_op();
        let m = Acq::shared(LockClass::MmapLock, 1);
        let p = Acq::excl(LockClass::Ptl, 1);
        assert!(r.acquire(m));
        r.work(WorkKind::VmaVisit, 2);
        assert!(r.acquire(p));
        r.work(WorkKind::PteSet, 3);
        r.release(p);
        r.release(m);
        r.end_op("touch");
        assert_eq!(r.check(), Ok(()));
        assert_eq!(r.class_stats(LockClass::Ptl).hold_units, 3);
        assert_eq!(r.class_stats(LockClass::MmapLock).hold_units, 5);
        assert_eq!(r.class_stats(LockClass::MmapLock).shared, 1);
        assert_eq!(r.events().len(), 4);
        assert!(r.events().iter().all(|e| !e.walk));
        assert_eq!(r.events()[1].work[WorkKind::VmaVisit as usize], 2);
        // a walk's own locks carry the mark, acquisition and release
        r.begin_op();
        r.mark_walk(true);
        r.acquire(p);
        r.mark_walk(false);
        r.work(WorkKind::PteCheck, 1);
        r.mark_walk(true);
        r.release(p);
        r.mark_walk(false);
        assert_eq!(
            r.events().iter().map(|e| e.walk).collect::<Vec<_>>(),
            [true, true]
        );
        // an undeclared class is not recorded
        assert!(!r.acquire(Acq::excl(LockClass::AnonVma, 7)));
        // the wrong order is a violation, a trylock is not
        r.begin_op();
        r.acquire(p);
        r.acquire(m.try_lock());
        r.release(m);
        assert_eq!(r.check().err(), Some("ptl 0x1 held between ops".into()));
        r.acquire(m);
        assert!(
            r.check()
                .unwrap_err()
                .contains("mmap_lock taken while holding ptl")
        );
    }

    /// A probe records what acquire, work and release record, in every
    /// recording mode, for a declared class and for one the era lacks.
    #[test]
    fn a_probe_is_an_acquire_work_release() {
        let run = |rec: LockRecording, split: bool| {
            let mut r = LockRecorder::new(&PROTO, rec);
            r.begin_op();
            // as `Core::lock` and `Core::unlock` use the recorder: only
            // what was recorded is released
            let m = Acq::shared(LockClass::MmapLock, 1);
            let held_m = r.acquire(m);
            r.work(WorkKind::VmaVisit, 2);
            for (i, inst) in [5, 6, 5].into_iter().enumerate() {
                let p = Acq::excl(LockClass::Ptl, inst).try_lock();
                let undeclared = Acq::excl(LockClass::AnonVma, inst);
                if split {
                    for (a, kind, n) in [
                        (p, WorkKind::PteCheck, i as u64 + 1),
                        (undeclared, WorkKind::PteZap, 1),
                    ] {
                        let got = r.acquire(a);
                        r.work(kind, n);
                        if got {
                            r.release(a);
                        }
                    }
                } else {
                    r.probes(p, &[p.inst], WorkKind::PteCheck, i as u64 + 1);
                    r.probes(undeclared, &[undeclared.inst], WorkKind::PteZap, 1);
                }
            }
            if held_m {
                r.release(m);
            }
            r.end_op("reclaim");
            (r.events().to_vec(), r.report(), *r.work_done(), r.check())
        };
        for rec in [
            LockRecording::Off,
            LockRecording::Stats,
            LockRecording::Events,
        ] {
            let (probe, split) = (run(rec, false), run(rec, true));
            assert_eq!(probe, split, "{rec:?}");
        }
        let (events, rep, ..) = run(LockRecording::Events, false);
        assert_eq!(events.len(), 8);
        assert_eq!(rep["ptl"].hold_units, 6);
        assert_eq!(rep["ptl"].busiest, Some(5));
        // a run of probes is one probe at each instance in turn, with or
        // without a sink, and whatever the class
        let insts = [5, 6, 5, 9];
        let record = |rec: LockRecording, class: LockClass, bulk: bool| {
            let mut r = LockRecorder::new(&PROTO, rec);
            r.begin_op();
            r.work(WorkKind::VmaVisit, 1);
            let a = Acq::excl(class, 0).try_lock();
            if bulk {
                r.probes(a, &insts, WorkKind::PteCheck, 1);
            } else {
                for inst in insts {
                    r.probes(a, &[inst], WorkKind::PteCheck, 1);
                }
            }
            r.end_op("reclaim");
            (r.events().to_vec(), r.report(), *r.work_done())
        };
        for rec in [LockRecording::Off, LockRecording::Events] {
            for class in [LockClass::Ptl, LockClass::AnonVma] {
                assert_eq!(record(rec, class, true), record(rec, class, false));
            }
        }
        assert_eq!(
            record(LockRecording::Events, LockClass::Ptl, true).0.len(),
            8
        );
    }

    #[test]
    fn held_after_an_op_is_a_failed_check() {
        let mut r = LockRecorder::new(&PROTO, LockRecording::Stats);
        r.begin_op();
        r.acquire(Acq::excl(LockClass::Ptl, 3));
        r.end_op("fork");
        assert_eq!(
            r.check().err(),
            Some("ptl 0x3 still held after `fork`".into())
        );
    }

    #[test]
    fn report_counts_instances_and_the_busiest_share() {
        let mut r = LockRecorder::new(&PROTO, LockRecording::Stats);
        for inst in [1, 1, 1, 2] {
            let a = Acq::excl(LockClass::Ptl, inst);
            r.acquire(a);
            r.release(a);
        }
        let rep = r.report();
        assert_eq!(rep["ptl"].instances, 2);
        assert_eq!(rep["ptl"].top_share, 0.75);
        assert_eq!(rep["ptl"].busiest, Some(1));
        assert_eq!(rep["ptl"].kind, "spin");
        assert_eq!(rep["mmap_lock"].acquired, 0);
        // with recording off nothing is kept
        let mut off = LockRecorder::new(&PROTO, LockRecording::Off);
        assert!(!off.acquire(Acq::excl(LockClass::Ptl, 1)));
        assert_eq!(off.report()["ptl"].acquired, 0);
    }
}
