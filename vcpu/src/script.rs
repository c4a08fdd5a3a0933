//! An op's script: the lock acquisitions and releases it recorded, each
//! with the virtual time of the work done since the previous one, and the
//! time of the work after the last one.
//!
//! The model records, per op, every acquisition and release with the op's
//! work vector so far ([`rmap_core::locks::LockEvent`]); a script prices
//! the work between two events with the cost table once, so that the
//! engine only adds numbers. Each acquisition knows where its release is,
//! so that a failed trylock can jump over everything done under it.

use std::sync::Arc;

use rmap_core::locks::{
    Acq, CLASSES, EventSink, LockClass, LockEvent, LockKind, LockProtocol, Mode, WorkKind, WorkVec,
    each_probe,
};

use crate::costs::{Costs, Time};

/// A lock instance as one number: the class in the top byte, the instance
/// below (the model's instance ids are far below 2^56).
pub type Key = u64;

/// The key of `acq`.
#[inline]
pub fn key_of(class: LockClass, inst: u64) -> Key {
    ((class as u64) << 56) | (inst & ((1 << 56) - 1))
}

/// The class of a key.
#[inline]
pub fn class_of(key: Key) -> usize {
    (key >> 56) as usize
}

/// Step flags.
pub mod flag {
    /// An acquisition (else a release).
    pub const ACQUIRE: u8 = 1;
    /// Shared mode on a kind that shares (an rwsem's read side).
    pub const SHARED: u8 = 2;
    /// A trylock: fails at once when the lock is not free for it.
    pub const TRY: u8 = 4;
    /// A reclaim walk's own lock (the walk's anon_vma, anonmm, i_mmap or
    /// chain lock).
    pub const WALK: u8 = 8;
    /// A sleeping lock whose waiter spins while the owner runs (adaptive
    /// or optimistic spinning, see [`super::spins_on_owner`]): it waits
    /// spinning and gets the lock at a spinlock's hand-over cost.
    pub const ADAPTIVE: u8 = 16;
    /// A run of page-table-lock trylocks inside a walk, each with its work
    /// ([`super::Run`], indexed by `release_at`).
    pub const PROBES: u8 = 32;
}

/// Runs of at least this many probes are kept as one step.
pub const RUN_MIN: usize = 8;

/// A run of probes: a walk's trylocks of one page-table lock after another
/// (2.5 to 2.6.8's `try_to_unmap_one` and `page_referenced_one`), each
/// taken and released with a PTE check between. Kept as one step, not two
/// steps per VMA: the engine needs only how many probes meet a busy
/// instance ([`Probes`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// The work inside the run: under each lock and between the probes.
    pub inner: Time,
    /// The instances are `hi | id` for each id.
    pub hi: u64,
    pub ids: Probes,
}

/// The ids a run probes, each as often as it is probed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probes {
    /// In walk order, as a list shared with equal lists ([`Interner`]).
    List(Arc<[u32]>),
    /// A long run as a set: bit `id` of `bits` for the first probe of each
    /// id, and `again` (sorted) for each further one. Every VMA of a family
    /// of 30,000 processes costs the script a bit (4 KB per walk, not
    /// 120 KB: a thousand CPUs each in such a reclaim hold thousands of
    /// walks at once), and the engine counts the busy ones through the few
    /// held instances rather than each id ([`Probes::count`]).
    Set {
        bits: Box<[u64]>,
        again: Box<[u32]>,
        n: u64,
    },
}

/// Runs at least this long are kept as a [`Probes::Set`] when that is the
/// smaller form.
const SET_MIN: usize = 256;

impl Probes {
    /// The form of `ids` that takes less memory.
    fn of(ids: &[u32], lists: &mut Interner) -> Probes {
        let max = ids.iter().copied().max().unwrap_or(0) as usize;
        let words = max / 64 + 1;
        if ids.len() < SET_MIN || words * 8 >= ids.len() * 4 {
            return Probes::List(lists.intern(ids));
        }
        let mut bits = vec![0u64; words];
        let mut again = Vec::new();
        for &id in ids {
            let (w, b) = (id as usize / 64, 1u64 << (id % 64));
            if bits[w] & b != 0 {
                again.push(id);
            }
            bits[w] |= b;
        }
        again.sort_unstable();
        Probes::Set {
            bits: bits.into(),
            again: again.into(),
            n: ids.len() as u64,
        }
    }

    /// How many probes the run makes.
    pub fn len(&self) -> u64 {
        match self {
            Probes::List(l) => l.len() as u64,
            Probes::Set { n, .. } => *n,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many of the probes are of `id`.
    pub fn count(&self, id: u32) -> u64 {
        match self {
            Probes::List(l) => l.iter().filter(|&&x| x == id).count() as u64,
            Probes::Set { bits, again, .. } => {
                let first = bits
                    .get(id as usize / 64)
                    .is_some_and(|w| w & (1 << (id % 64)) != 0);
                if !first {
                    return 0;
                }
                let lo = again.partition_point(|&x| x < id);
                let hi = again.partition_point(|&x| x <= id);
                1 + (hi - lo) as u64
            }
        }
    }
}

/// The last few probe lists seen, so that equal lists are shared.
#[derive(Default, Debug)]
pub struct Interner {
    recent: Vec<Arc<[u32]>>,
}

impl Interner {
    /// A shared list equal to `ids`.
    pub fn intern(&mut self, ids: &[u32]) -> Arc<[u32]> {
        if let Some(i) = self.recent.iter().position(|r| &r[..] == ids) {
            let r = self.recent.remove(i);
            self.recent.push(r.clone());
            return r;
        }
        let r: Arc<[u32]> = ids.into();
        if self.recent.len() >= 8 {
            self.recent.remove(0);
        }
        self.recent.push(r.clone());
        r
    }
}

/// A kernel version from an era name ("2.6.7-rc1 prio" → (2, 6, 7)).
pub fn version(era: &str) -> (u32, u32, u32) {
    let mut it = era
        .split(|c: char| !c.is_ascii_digit())
        .take_while(|p| !p.is_empty())
        .map(|p| p.parse().unwrap_or(0));
    (
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
    )
}

/// Whether, in `era`, a waiter for a lock of `kind` in mode `shared` spins
/// on the running owner instead of sleeping at once: mutexes from 2.6.29
/// ("mutex: implement adaptive spinning", kernel/mutex.c), rwsem writers
/// from 3.16 ("rwsem: Support optimistic spinning",
/// kernel/locking/rwsem-xadd.c), rwsem readers from 5.3 ("locking/rwsem:
/// Enable readers spinning on writer"). Semaphores never spin.
pub fn spins_on_owner(era: &str, kind: LockKind, shared: bool) -> bool {
    let v = version(era);
    match kind {
        LockKind::Mutex => v >= (2, 6, 29),
        LockKind::Rwsem if shared => v >= (5, 3, 0),
        LockKind::Rwsem => v >= (3, 16, 0),
        _ => false,
    }
}

/// One acquisition or release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub key: Key,
    /// Virtual time of the work done since the previous step (or the op's
    /// start).
    pub before: Time,
    /// For an acquisition: the index of its release (the script's length
    /// when the op never releases it).
    pub release_at: u32,
    /// [`flag`] bits.
    pub flags: u8,
    /// The lock kind, by [`crate::costs::kind_index`].
    pub kind: u8,
}

impl Step {
    #[inline]
    pub fn is(&self, f: u8) -> bool {
        self.flags & f != 0
    }
}

/// One op's timing input.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Script {
    pub steps: Vec<Step>,
    /// Virtual time of the work after the last step.
    pub tail: Time,
    /// The probe runs ([`flag::PROBES`] steps).
    pub runs: Vec<Run>,
}

/// The kind of each class in one era (`None`: the era has no such class),
/// and the era's name (for [`spins_on_owner`]).
#[derive(Clone, Copy, Debug)]
pub struct Kinds {
    pub kinds: [Option<LockKind>; CLASSES],
    pub era: &'static str,
}

impl Kinds {
    pub fn of(p: &LockProtocol) -> Kinds {
        let mut k = [None; CLASSES];
        for s in p.order {
            k[s.class as usize] = Some(s.kind);
        }
        Kinds {
            kinds: k,
            era: p.era,
        }
    }
}

impl Script {
    /// Empty the script, keeping its buffer.
    pub fn clear(&mut self) {
        self.steps.clear();
        self.runs.clear();
        self.tail = 0;
    }

    /// Give back the memory of an exceptionally long script (a CPU keeps
    /// its buffers from op to op).
    pub fn trim(&mut self) {
        const KEEP: usize = 1 << 16;
        if self.steps.capacity() > KEEP {
            self.steps = Vec::with_capacity(KEEP);
        }
        if self.runs.capacity() > KEEP {
            self.runs = Vec::with_capacity(KEEP);
        }
    }

    /// Append an acquisition (tests and hand-made scripts): `before` ns of
    /// work first.
    pub fn acquire(&mut self, kind: LockKind, acq: Acq, walk: bool, before: Time) -> &mut Self {
        let mut flags = flag::ACQUIRE;
        if acq.mode == Mode::Shared && kind == LockKind::Rwsem {
            flags |= flag::SHARED;
        }
        if acq.try_ {
            flags |= flag::TRY;
        }
        if walk {
            flags |= flag::WALK;
        }
        self.steps.push(Step {
            key: key_of(acq.class, acq.inst),
            before,
            release_at: u32::MAX,
            flags,
            kind: crate::costs::kind_index(kind) as u8,
        });
        self
    }

    /// Append the release of `acq` after `before` of work.
    pub fn release(&mut self, kind: LockKind, acq: Acq, walk: bool, before: Time) -> &mut Self {
        self.steps.push(Step {
            key: key_of(acq.class, acq.inst),
            before,
            release_at: u32::MAX,
            flags: if walk { flag::WALK } else { 0 },
            kind: crate::costs::kind_index(kind) as u8,
        });
        self
    }

    /// Mark the last step as an acquisition whose waiter spins on the
    /// owner ([`flag::ADAPTIVE`]).
    pub fn adaptive(&mut self) -> &mut Self {
        if let Some(s) = self.steps.last_mut() {
            s.flags |= flag::ADAPTIVE;
        }
        self
    }

    /// Link each acquisition to its release: the first later release of
    /// the same key (as the recorder pairs them). Call after building.
    pub fn link(&mut self) {
        let n = self.steps.len() as u32;
        // open acquisitions, innermost last; few at a time
        let mut open: Vec<u32> = Vec::new();
        for i in 0..self.steps.len() {
            let s = self.steps[i];
            if s.is(flag::PROBES) {
                continue;
            }
            if s.is(flag::ACQUIRE) {
                self.steps[i].release_at = n;
                open.push(i as u32);
            } else if let Some(p) = open
                .iter()
                .rposition(|&a| self.steps[a as usize].key == s.key)
            {
                let a = open.remove(p);
                self.steps[a as usize].release_at = i as u32;
            }
        }
    }

    /// Build from the model's record of one op: `events` and the op's
    /// total work `total`, priced with `costs`, as [`Builder`] does.
    pub fn build(
        &mut self,
        events: &[LockEvent],
        total: &WorkVec,
        costs: &Costs,
        kinds: &Kinds,
        lists: &mut Interner,
    ) {
        let mut b = Builder::new(costs.clone(), *kinds);
        std::mem::swap(&mut b.lists, lists);
        for e in events {
            b.push(e);
        }
        b.finish(total, self);
        std::mem::swap(&mut b.lists, lists);
    }

    /// The total work time, without lock operations or waiting.
    pub fn work_time(&self) -> Time {
        self.steps.iter().map(|s| s.before).sum::<Time>()
            + self.runs.iter().map(|r| r.inner).sum::<Time>()
            + self.tail
    }
}

/// Builds an op's script from its events as they come (the model's
/// [`EventSink`]): classes the era lacks (none are recorded) are skipped,
/// and runs of at least [`RUN_MIN`] page-table-lock trylocks inside a walk,
/// each released by the very next event, become one [`flag::PROBES`] step.
#[derive(Debug)]
pub struct Builder {
    costs: Costs,
    kinds: Kinds,
    pub lists: Interner,
    script: Script,
    /// Work at the last step.
    prev: WorkVec,
    walk_depth: u32,
    /// A probe's acquisition waiting for its release.
    pending: Option<LockEvent>,
    /// The current run: its pairs while short, its ids always.
    pairs: Vec<(LockEvent, LockEvent)>,
    ids: Vec<u32>,
    run_hi: u64,
    run_last: WorkVec,
}

impl Builder {
    pub fn new(costs: Costs, kinds: Kinds) -> Builder {
        Builder {
            costs,
            kinds,
            lists: Interner::default(),
            script: Script::default(),
            prev: [0; rmap_core::locks::WORK_KINDS],
            walk_depth: 0,
            pending: None,
            pairs: Vec::new(),
            ids: Vec::new(),
            run_hi: 0,
            run_last: [0; rmap_core::locks::WORK_KINDS],
        }
    }

    fn price(&self, w: &WorkVec, from: &WorkVec) -> Time {
        let mut d = *w;
        for (x, p) in d.iter_mut().zip(from) {
            *x -= p;
        }
        self.costs.of_work(&d)
    }

    /// One event of the op, in order.
    pub fn push(&mut self, e: &LockEvent) {
        let Some(kind) = self.kinds.kinds[e.acq.class as usize] else {
            return;
        };
        if let Some(a) = self.pending.take() {
            if !e.acquire && e.acq.class == a.acq.class && e.acq.inst == a.acq.inst {
                return self.append_probe(&a, e);
            }
            self.flush_run();
            self.emit(&a);
        }
        if self.starts_probe(e) {
            self.pending = Some(*e);
            return;
        }
        self.flush_run();
        let _ = kind;
        self.emit(e);
    }

    /// Whether `e` may begin a probe: a page-table-lock trylock inside a
    /// walk.
    fn starts_probe(&self, e: &LockEvent) -> bool {
        self.walk_depth > 0 && e.acquire && e.acq.try_ && e.acq.class == LockClass::Ptl && !e.walk
    }

    /// The probe `a`, released by `r`, joins the current run.
    fn append_probe(&mut self, a: &LockEvent, r: &LockEvent) {
        let hi = a.acq.inst & !0xffff_ffff;
        if !self.ids.is_empty() && hi != self.run_hi {
            self.flush_run();
        }
        self.run_hi = hi;
        self.ids.push(a.acq.inst as u32);
        if self.pairs.len() < RUN_MIN {
            self.pairs.push((*a, *r));
        }
        self.run_last = r.work;
    }

    /// One plain step.
    fn emit(&mut self, e: &LockEvent) {
        let kind = self.kinds.kinds[e.acq.class as usize].expect("a known class");
        let before = self.price(&e.work, &self.prev);
        self.prev = e.work;
        if e.acquire {
            if e.walk {
                self.walk_depth += 1;
            }
            self.script.acquire(kind, e.acq, e.walk, before);
            if spins_on_owner(self.kinds.era, kind, e.acq.mode == Mode::Shared) {
                self.script.adaptive();
            }
        } else {
            if e.walk {
                self.walk_depth = self.walk_depth.saturating_sub(1);
            }
            self.script.release(kind, e.acq, e.walk, before);
        }
    }

    /// End the current run: one step when long, its pairs when short.
    fn flush_run(&mut self) {
        if self.ids.is_empty() {
            return;
        }
        if self.ids.len() < RUN_MIN {
            let pairs = std::mem::take(&mut self.pairs);
            for (a, r) in &pairs {
                self.emit(a);
                self.emit(r);
            }
            self.pairs = pairs;
        } else {
            let (a, _) = self.pairs[0];
            let kind = self.kinds.kinds[a.acq.class as usize].expect("a known class");
            let before = self.price(&a.work, &self.prev);
            let inner = self.price(&self.run_last, &a.work);
            self.prev = self.run_last;
            let ids = Probes::of(&self.ids, &mut self.lists);
            self.script.runs.push(Run {
                inner,
                hi: self.run_hi,
                ids,
            });
            self.script.steps.push(Step {
                key: key_of(a.acq.class, self.run_hi),
                before,
                release_at: self.script.runs.len() as u32 - 1,
                flags: flag::PROBES | flag::TRY,
                kind: crate::costs::kind_index(kind) as u8,
            });
        }
        self.pairs.clear();
        self.ids.clear();
    }

    /// The op is over, its total work `total`: the script goes to `out`
    /// (whose buffers the builder keeps for the next op).
    pub fn finish(&mut self, total: &WorkVec, out: &mut Script) {
        if let Some(a) = self.pending.take() {
            self.flush_run();
            self.emit(&a);
        }
        self.flush_run();
        self.script.tail = self.price(total, &self.prev);
        self.script.link();
        std::mem::swap(&mut self.script, out);
        self.script.clear();
        self.prev = [0; rmap_core::locks::WORK_KINDS];
        self.walk_depth = 0;
    }
}

impl EventSink for Builder {
    fn event(&mut self, e: &LockEvent) {
        self.push(e);
    }
    fn probes(&mut self, first: &LockEvent, insts: &[u64], kind: WorkKind, n: u64) {
        if !(self.pending.is_none()
            && self.kinds.kinds[first.acq.class as usize].is_some()
            && self.starts_probe(first))
        {
            return each_probe(first, insts, kind, n, |a, r| {
                self.push(a);
                self.push(r);
            });
        }
        // as `append_probe` each, without making the events where only the
        // id is kept (a long run of one lock class and id space)
        let mut a = *first;
        let mut k = 0;
        while k < insts.len() {
            let inst = insts[k];
            if self.pairs.len() < RUN_MIN || inst & !0xffff_ffff != self.run_hi {
                a.acq.inst = inst;
                let mut r = a;
                r.acquire = false;
                r.work[kind as usize] += n;
                self.append_probe(&a, &r);
                a.work[kind as usize] += n;
                k += 1;
                continue;
            }
            // the run goes on: keep the ids of the same high part at once
            let same = insts[k..]
                .iter()
                .position(|&i| i & !0xffff_ffff != self.run_hi)
                .unwrap_or(insts.len() - k);
            self.ids
                .extend(insts[k..k + same].iter().map(|&i| i as u32));
            a.work[kind as usize] += n * same as u64;
            k += same;
        }
        self.run_last = a.work;
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmap_core::locks::WORK_KINDS;

    #[test]
    fn builds_prices_and_links() {
        let costs = Costs::default_table();
        let proto = &rmap_core::locks::era::V2_6_7;
        let kinds = Kinds::of(proto);
        let a = Acq::excl(LockClass::AnonVma, 3);
        let p = Acq::excl(LockClass::Ptl, 9).try_lock();
        let mut w = [0; WORK_KINDS];
        let mut ev = Vec::new();
        let mut push = |acq: Acq, acquire: bool, w: WorkVec| {
            ev.push(LockEvent {
                acq,
                acquire,
                work: w,
                walk: acq.class == LockClass::AnonVma,
            })
        };
        push(a, true, w);
        w[WorkKind::VmaVisit as usize] = 2;
        push(p, true, w);
        w[WorkKind::PteCheck as usize] = 1;
        push(p, false, w);
        push(a, false, w);
        // a class 2.6.7 does not have is skipped
        push(Acq::excl(LockClass::VmaLock, 1), true, w);
        let mut total = w;
        total[WorkKind::PteZap as usize] = 5;
        let mut s = Script::default();
        s.build(&ev, &total, &costs, &kinds, &mut Interner::default());
        assert_eq!(s.steps.len(), 4);
        assert_eq!(s.steps[0].release_at, 3);
        assert_eq!(s.steps[1].release_at, 2);
        assert!(s.steps[1].is(flag::TRY) && !s.steps[1].is(flag::WALK));
        assert!(s.steps[0].is(flag::WALK) && s.steps[3].is(flag::WALK));
        assert_eq!(
            s.steps[1].before,
            2 * costs.work[WorkKind::VmaVisit as usize]
        );
        assert_eq!(s.steps[2].before, costs.work[WorkKind::PteCheck as usize]);
        assert_eq!(s.tail, 5 * costs.work[WorkKind::PteZap as usize]);
        assert_eq!(class_of(s.steps[0].key), LockClass::AnonVma as usize);
    }

    /// A long run of probes (ids with repeats) inside a walk lock: fed
    /// event by event, one probe per call or all in one call, the same
    /// script; kept as a set that
    /// counts each id as often as it was probed.
    #[test]
    fn probe_runs_as_pairs_or_events_and_as_a_set() {
        let costs = Costs::default_table();
        let kinds = Kinds::of(&rmap_core::locks::era::V2_6_7);
        let walk = Acq::excl(LockClass::AnonVma, 3);
        let ids: Vec<u64> = (0..600).map(|i| (i * 7) % 500).collect();
        let mut w = [0; WORK_KINDS];
        let ev = |acq: Acq, acquire: bool, w: WorkVec| LockEvent {
            acq,
            acquire,
            work: w,
            walk: acq.class == LockClass::AnonVma,
        };
        let mut events = vec![ev(walk, true, w)];
        let mut pairs = Vec::new();
        for &id in &ids {
            let p = Acq::excl(LockClass::Ptl, id).try_lock();
            let a = ev(p, true, w);
            w[WorkKind::PteCheck as usize] += 1;
            let r = ev(p, false, w);
            events.extend([a, r]);
            pairs.push((a, r));
        }
        let end = ev(walk, false, w);
        events.push(end);
        let by_events = {
            let mut s = Script::default();
            s.build(&events, &w, &costs, &kinds, &mut Interner::default());
            s
        };
        let by_pairs = {
            let mut b = Builder::new(costs.clone(), kinds);
            b.push(&events[0]);
            for (a, _) in &pairs {
                EventSink::probes(&mut b, a, &[a.acq.inst], WorkKind::PteCheck, 1);
            }
            b.push(&end);
            let mut s = Script::default();
            b.finish(&w, &mut s);
            s
        };
        let by_bulk = {
            let mut b = Builder::new(costs.clone(), kinds);
            b.push(&events[0]);
            EventSink::probes(&mut b, &pairs[0].0, &ids, WorkKind::PteCheck, 1);
            b.push(&end);
            let mut s = Script::default();
            b.finish(&w, &mut s);
            s
        };
        assert_eq!(by_events, by_pairs);
        assert_eq!(by_events, by_bulk);
        assert_eq!(by_events.steps.len(), 3);
        let run = &by_events.runs[0];
        assert!(matches!(run.ids, Probes::Set { .. }), "{:?}", run.ids);
        assert_eq!(run.ids.len(), 600);
        for id in [0u32, 7, 499, 500, 1000] {
            let want = ids.iter().filter(|&&x| x == id as u64).count() as u64;
            assert_eq!(run.ids.count(id), want, "id {id}");
        }
        // a short run stays a list, with the same counts
        let short = Probes::of(&[4, 9, 4], &mut Interner::default());
        assert!(matches!(short, Probes::List(_)));
        assert_eq!((short.count(4), short.count(9), short.len()), (2, 1, 3));
    }

    #[test]
    fn optimistic_spinning_by_era() {
        assert_eq!(version("2.6.7-rc1 prio"), (2, 6, 7));
        assert_eq!(version("6.18"), (6, 18, 0));
        assert!(!spins_on_owner("2.6.0", LockKind::Semaphore, false));
        assert!(spins_on_owner("3.0", LockKind::Mutex, false));
        assert!(!spins_on_owner("3.8", LockKind::Rwsem, false));
        assert!(spins_on_owner("3.19", LockKind::Rwsem, false));
        assert!(!spins_on_owner("3.19", LockKind::Rwsem, true));
        assert!(spins_on_owner("6.18", LockKind::Rwsem, true));
        assert!(!spins_on_owner("6.18", LockKind::Spin, false));
    }

    #[test]
    fn shared_mode_is_kept_only_for_an_rwsem() {
        let mut s = Script::default();
        let r = Acq::shared(LockClass::AnonVma, 1);
        s.acquire(LockKind::Rwsem, r, false, 0);
        s.acquire(LockKind::Spin, r, false, 0);
        assert!(s.steps[0].is(flag::SHARED));
        assert!(!s.steps[1].is(flag::SHARED));
        s.link();
        // never released: the release index is the end
        assert_eq!(s.steps[0].release_at, 2);
    }
}
