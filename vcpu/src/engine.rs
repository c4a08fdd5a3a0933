//! The discrete-event engine: N virtual CPUs, each running a stream of ops,
//! in one global virtual time.
//!
//! Functional first: when a CPU starts an op, the op runs at once and whole
//! in the model ([`Source::next`]), so the model's state is exactly what a
//! sequential replay of the ops in the order of their start gives (ties:
//! the lowest CPU id first). The op's recorded lock acquisitions and work
//! ([`Script`]) then drive its timing, event by event, against every other
//! CPU's in the same virtual time:
//! - between two steps, time advances by the priced work between them;
//! - an acquisition takes the lock if it is free for its mode (costing the
//!   kind's `acquire`), else the CPU waits in the instance's queue
//!   ([`crate::lockq`]): a spinner burns its CPU, a sleeper sleeps; the
//!   lock reaches it at the holder's release plus the kind's `handover`
//!   (a cache-line transfer, or a wake-up). A sleeping lock that the era
//!   spins on while the owner runs (mutex from 2.6.29, rwsem writers from
//!   3.16, readers from 5.3: [`crate::script::spins_on_owner`]) waits
//!   spinning and hands over at the spinlock's cost (the model does not
//!   check that the owner is running: it always is, unless it waits
//!   itself);
//! - a trylock on a lock that is not free fails at once (costing an
//!   `acquire`): the CPU jumps to the matching release, skipping the work
//!   done under it in the model (the model's state is not changed: it
//!   did that work; only the timing skips it);
//! - a release costs the kind's `release` and hands the lock over.
//!
//! An op ends after its last step and the work after it; the CPU's next op
//! starts then (plus `op_ns` for entering it). Reclaimers (kswapd) sleep
//! when the source says they have nothing to do and are woken when an op
//! start leaves memory low ([`Source::wake`]).
//!
//! Determinism: the engine reads no clock; events are ordered by (virtual
//! time, CPU id); every quantity is an integer number of picoseconds. The
//! same source and costs give the same [`Report`] on every run and host.
//!
//! A CPU that acquires a lock it already holds (which the model's lock
//! order check allows only for trylocks and nested classes) gets it at once
//! without touching the instance (counted in [`Report::recursive`]).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use hdrhistogram::Histogram;
use rmap_core::locks::{CLASSES, LockClass};

use crate::costs::{Costs, LOCK_KINDS, PS_PER_NS, Time};
use crate::lockq::{LockTable, Waiter};
use crate::script::{Key, Probes, Script, Step, class_of, flag};

/// What a CPU does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// An op ran in the model and its script is filled; `main` when it is
    /// the scenario's main op (its latency goes to the histogram).
    Op { main: bool },
    /// Nothing to do: sleep until [`Source::wake`] says so.
    Sleep,
    /// Nothing to do for this long (then ask again).
    Pause(Time),
    /// The stream is over.
    Done,
}

/// Where the CPUs' ops come from.
pub trait Source {
    /// Number of CPUs (workers and reclaimers).
    fn cpus(&self) -> usize;
    /// Whether `cpu` runs a worker stream (its ops are the throughput; the
    /// run ends when every worker is done) or is a reclaimer.
    fn is_worker(&self, cpu: usize) -> bool;
    /// Start `cpu`'s next op: run it in the model and fill `script`.
    /// Errors end the run.
    fn next(&mut self, cpu: usize, script: &mut Script) -> Result<Next, String>;
    /// Whether the sleeping `cpu` should wake now (asked after every op
    /// start).
    fn wake(&mut self, _cpu: usize) -> bool {
        false
    }
}

/// What a run measured (virtual time in picoseconds).
#[derive(Clone, Debug)]
pub struct Report {
    pub cpus: usize,
    /// When the last worker finished.
    pub makespan: Time,
    /// The run reached its horizon ([`run_until`]) before every worker's
    /// stream was done: the workers stopped starting ops there, and the
    /// throughput is that of the window.
    pub cut_off: bool,
    /// Ops started, by workers and by everyone.
    pub worker_ops: u64,
    pub ops: u64,
    /// Σ over ops of (end − start): the CPU time the ops occupied, running,
    /// spinning or sleeping on locks.
    pub inflight: Time,
    /// Waiting for locks, by class (spinning and sleeping).
    pub wait: [Time; CLASSES],
    /// Of [`Report::wait`], spinning.
    pub spin: [Time; CLASSES],
    /// Holding locks, by class (from getting the lock to releasing it).
    pub hold: [Time; CLASSES],
    /// Acquisitions that got the lock (at once or after waiting).
    pub acquired: [u64; CLASSES],
    /// Acquisitions that had to wait.
    pub contended: [u64; CLASSES],
    /// Trylocks that failed.
    pub failed_trylocks: [u64; CLASSES],
    /// Reclaim walks that gave up on a failed trylock (of the walk's own
    /// lock, or of a page-table lock under it): pages skipped.
    pub pages_skipped: u64,
    /// Walk-lock acquisitions that got the lock, and their waiting.
    pub walks: u64,
    pub walk_wait: Time,
    /// Reacquisitions of a lock the CPU already held.
    pub recursive: u64,
    /// Latency of every main op, in ns.
    pub op_ns: Histogram<u64>,
    /// How long each walk lock was held, in ns.
    pub walk_hold_ns: Histogram<u64>,
}

impl Report {
    fn new(cpus: usize) -> Report {
        let h = || Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid bounds");
        Report {
            cpus,
            makespan: 0,
            cut_off: false,
            worker_ops: 0,
            ops: 0,
            inflight: 0,
            wait: [0; CLASSES],
            spin: [0; CLASSES],
            hold: [0; CLASSES],
            acquired: [0; CLASSES],
            contended: [0; CLASSES],
            failed_trylocks: [0; CLASSES],
            pages_skipped: 0,
            walks: 0,
            walk_wait: 0,
            recursive: 0,
            op_ns: h(),
            walk_hold_ns: h(),
        }
    }

    /// All waiting.
    pub fn wait_total(&self) -> Time {
        self.wait.iter().sum()
    }

    /// Waiting over CPU time in ops (0 when nothing ran).
    pub fn wait_share(&self) -> f64 {
        share(self.wait_total(), self.inflight)
    }

    /// One class's holding over CPU time in ops (nested holds overlap).
    pub fn hold_share_of(&self, c: LockClass) -> f64 {
        share(self.hold[c as usize], self.inflight)
    }

    /// One class's waiting over CPU time in ops.
    pub fn wait_share_of(&self, c: LockClass) -> f64 {
        share(self.wait[c as usize], self.inflight)
    }

    /// Worker ops per virtual second.
    pub fn ops_per_s(&self) -> f64 {
        if self.makespan == 0 {
            0.0
        } else {
            self.worker_ops as f64 * 1e12 / self.makespan as f64
        }
    }
}

fn share(a: Time, b: Time) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

fn ns(t: Time) -> u64 {
    (t / PS_PER_NS).max(1)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// Ready to start its next op.
    Start,
    /// Inside an op, at step `pc` (the work before it done).
    Run,
    /// Queued on a lock; resumed when it is handed over.
    Waiting,
    Sleeping,
    Done,
}

#[derive(Clone, Copy, Debug)]
struct Held {
    key: Key,
    shared: bool,
    walk: bool,
    recursive: bool,
    since: Time,
}

struct Cpu {
    script: Script,
    pc: usize,
    phase: Phase,
    worker: bool,
    main: bool,
    op_start: Time,
    wait_since: Time,
    held: Vec<Held>,
    /// A trylock failed under the walk lock now held.
    walk_gave_up: bool,
}

impl Cpu {
    #[inline]
    fn before(&self, pc: usize) -> Time {
        self.script
            .steps
            .get(pc)
            .map_or(self.script.tail, |s| s.before)
    }
    fn in_walk(&self) -> bool {
        self.held.iter().any(|h| h.walk)
    }
}

enum Take {
    /// Got it; the lock operation took this long.
    Got(Time),
    /// A trylock failed (this long).
    Failed(Time),
    Wait,
}

struct Sim<'a, S: Source> {
    src: &'a mut S,
    costs: &'a Costs,
    cpus: Vec<Cpu>,
    heap: BinaryHeap<Reverse<(Time, u32)>>,
    locks: LockTable,
    granted: Vec<Waiter>,
    sleepers: Vec<u32>,
    workers_left: usize,
    /// No worker starts an op at or after this virtual time.
    horizon: Time,
    rep: Report,
}

/// Run every CPU's stream to its end. Errors: the source failed, or the
/// CPUs deadlocked (every remaining CPU waits for a lock; the message says
/// which).
pub fn run<S: Source>(src: &mut S, costs: &Costs) -> Result<Report, String> {
    run_until(src, costs, None)
}

/// As [`run`], but with a window: no worker starts an op at or after
/// virtual time `horizon` (ops already started finish), as AIM7 counts
/// the jobs done in a fixed time. A design that collapses then costs the
/// host the window's work, not its whole stream's (its throughput is the
/// window's; [`Report::cut_off`] says the window ended the run).
pub fn run_until<S: Source>(
    src: &mut S,
    costs: &Costs,
    horizon: Option<Time>,
) -> Result<Report, String> {
    let n = src.cpus();
    let cpus: Vec<Cpu> = (0..n)
        .map(|c| Cpu {
            script: Script::default(),
            pc: 0,
            phase: Phase::Start,
            worker: src.is_worker(c),
            main: false,
            op_start: 0,
            wait_since: 0,
            held: Vec::new(),
            walk_gave_up: false,
        })
        .collect();
    let workers_left = cpus.iter().filter(|c| c.worker).count();
    let mut sim = Sim {
        src,
        costs,
        heap: (0..n as u32).map(|c| Reverse((0, c))).collect(),
        cpus,
        locks: LockTable::default(),
        granted: Vec::new(),
        sleepers: Vec::new(),
        workers_left,
        horizon: horizon.unwrap_or(Time::MAX),
        rep: Report::new(n),
    };
    while let Some(Reverse((t, c))) = sim.heap.pop() {
        sim.resume(c as usize, t)?;
    }
    sim.check_all_done()?;
    Ok(sim.rep)
}

impl<S: Source> Sim<'_, S> {
    fn check_all_done(&self) -> Result<(), String> {
        let stuck: Vec<String> = self
            .cpus
            .iter()
            .enumerate()
            .filter(|(_, c)| c.phase == Phase::Waiting)
            .map(|(i, c)| {
                let k = c.script.steps[c.pc].key;
                format!(
                    "cpu {i} waits for {} {:#x} holding [{}]",
                    LockClass::ALL[class_of(k)].name(),
                    k & ((1 << 56) - 1),
                    c.held
                        .iter()
                        .map(|h| format!(
                            "{} {:#x}",
                            LockClass::ALL[class_of(h.key)].name(),
                            h.key & ((1 << 56) - 1)
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect();
        if stuck.is_empty() {
            Ok(())
        } else {
            Err(format!("deadlock: {}", stuck.join("; ")))
        }
    }

    /// Run `c` from virtual time `now` until it must wait for something or
    /// another CPU's event comes first.
    fn resume(&mut self, c: usize, mut now: Time) -> Result<(), String> {
        loop {
            match self.cpus[c].phase {
                Phase::Done => return Ok(()),
                Phase::Sleeping => self.cpus[c].phase = Phase::Start,
                Phase::Start => match self.start(c, now)? {
                    Some(t) => now = t,
                    None => return Ok(()),
                },
                Phase::Waiting => now = self.granted_at(c, now),
                Phase::Run => {
                    let cpu = &mut self.cpus[c];
                    let Some(&s) = cpu.script.steps.get(cpu.pc) else {
                        // the op is over; the next starts at the same time
                        // (after any event that comes first)
                        self.end_op(c, now);
                        if let Some(&Reverse(first)) = self.heap.peek()
                            && first < (now, c as u32)
                        {
                            self.heap.push(Reverse((now, c as u32)));
                            return Ok(());
                        }
                        continue;
                    };
                    now = if s.is(flag::PROBES) {
                        let dt = self.probes(c, s);
                        let cpu = &mut self.cpus[c];
                        cpu.pc += 1;
                        now + dt + cpu.before(cpu.pc)
                    } else if s.is(flag::ACQUIRE) {
                        match self.acquire(c, s, now) {
                            Take::Got(dt) => {
                                let cpu = &mut self.cpus[c];
                                cpu.pc += 1;
                                now + dt + cpu.before(cpu.pc)
                            }
                            Take::Failed(dt) => {
                                let cpu = &mut self.cpus[c];
                                cpu.pc = s.release_at as usize + 1;
                                now + dt + cpu.before(cpu.pc)
                            }
                            Take::Wait => return Ok(()),
                        }
                    } else {
                        let dt = self.release(c, s, now);
                        let cpu = &mut self.cpus[c];
                        cpu.pc += 1;
                        now + dt + cpu.before(cpu.pc)
                    };
                }
            }
            // Go on at once unless another CPU's event comes first.
            if let Some(&Reverse(first)) = self.heap.peek()
                && first < (now, c as u32)
            {
                self.heap.push(Reverse((now, c as u32)));
                return Ok(());
            }
        }
    }

    /// `c` starts no more ops: the last worker to retire ends the run
    /// (its time is the makespan) and puts the sleeping reclaimers to rest.
    fn retire(&mut self, c: usize, now: Time) {
        self.cpus[c].phase = Phase::Done;
        if self.cpus[c].worker {
            self.workers_left -= 1;
            if self.workers_left == 0 {
                self.rep.makespan = now;
                for s in std::mem::take(&mut self.sleepers) {
                    self.cpus[s as usize].phase = Phase::Done;
                }
            }
        }
    }

    /// Start `c`'s next op at `now`; the time its first step is reached,
    /// or `None` when it sleeps, pauses or is done.
    fn start(&mut self, c: usize, now: Time) -> Result<Option<Time>, String> {
        if !self.cpus[c].worker && self.workers_left == 0 {
            self.cpus[c].phase = Phase::Done;
            return Ok(None);
        }
        if self.cpus[c].worker && now >= self.horizon {
            self.rep.cut_off = true;
            self.retire(c, now);
            return Ok(None);
        }
        let next = self.src.next(c, &mut self.cpus[c].script)?;
        match next {
            Next::Done => {
                self.retire(c, now);
                Ok(None)
            }
            Next::Sleep => {
                self.cpus[c].phase = Phase::Sleeping;
                self.sleepers.push(c as u32);
                Ok(None)
            }
            Next::Pause(d) => {
                self.heap.push(Reverse((now + d.max(1), c as u32)));
                Ok(None)
            }
            Next::Op { main } => {
                let cpu = &mut self.cpus[c];
                cpu.op_start = now;
                cpu.main = main;
                cpu.pc = 0;
                cpu.phase = Phase::Run;
                let first = now + self.costs.op + cpu.before(0);
                self.rep.ops += 1;
                if cpu.worker {
                    self.rep.worker_ops += 1;
                }
                self.wake_sleepers(now);
                Ok(Some(first))
            }
        }
    }

    /// After an op start changed the model: wake the sleepers that have
    /// work now.
    fn wake_sleepers(&mut self, now: Time) {
        if self.sleepers.is_empty() {
            return;
        }
        let mut i = 0;
        while i < self.sleepers.len() {
            let s = self.sleepers[i];
            if self.src.wake(s as usize) {
                self.sleepers.remove(i);
                self.heap.push(Reverse((now + self.costs.wakeup, s)));
            } else {
                i += 1;
            }
        }
    }

    fn end_op(&mut self, c: usize, now: Time) {
        let cpu = &mut self.cpus[c];
        let lat = now - cpu.op_start;
        self.rep.inflight += lat;
        if cpu.main {
            self.rep.op_ns.saturating_record(ns(lat));
        }
        // Locks the op never released (the model flags that as a broken
        // rule): release them here so that nobody waits for ever.
        while let Some(h) = self.cpus[c].held.pop() {
            if !h.recursive {
                self.granted.clear();
                self.locks.release(h.key, h.shared, &mut self.granted);
                self.hand_over(h.key, now);
            }
        }
        self.cpus[c].script.trim();
        self.cpus[c].phase = Phase::Start;
    }

    fn acquire(&mut self, c: usize, s: Step, now: Time) -> Take {
        let lc = self.costs.lock[s.kind as usize];
        let class = class_of(s.key);
        let shared = s.is(flag::SHARED);
        let walk = s.is(flag::WALK);
        let cpu = &mut self.cpus[c];
        if cpu.held.iter().any(|h| h.key == s.key) {
            self.rep.recursive += 1;
            cpu.held.push(Held {
                key: s.key,
                shared,
                walk,
                recursive: true,
                since: now,
            });
            return Take::Got(lc.acquire);
        }
        if self.locks.try_take(s.key, shared) {
            self.rep.acquired[class] += 1;
            if walk {
                self.rep.walks += 1;
            }
            cpu.held.push(Held {
                key: s.key,
                shared,
                walk,
                recursive: false,
                since: now + lc.acquire,
            });
            return Take::Got(lc.acquire);
        }
        if s.is(flag::TRY) {
            self.rep.failed_trylocks[class] += 1;
            if walk {
                self.rep.pages_skipped += 1;
            } else if cpu.in_walk() {
                cpu.walk_gave_up = true;
            }
            return Take::Failed(lc.acquire);
        }
        self.rep.contended[class] += 1;
        self.locks.enqueue(
            s.key,
            Waiter {
                cpu: c as u32,
                shared,
                since: now,
            },
        );
        cpu.phase = Phase::Waiting;
        cpu.wait_since = now;
        Take::Wait
    }

    /// A run of page-table-lock trylocks in a walk (one step, see
    /// [`crate::script::Run`]): each probe of an instance that another CPU
    /// holds (or waits for) when the run starts fails, and its share of
    /// the run's work is skipped; the others take and release their lock.
    /// Returns the run's time.
    fn probes(&mut self, c: usize, s: Step) -> Time {
        let run = &self.cpus[c].script.runs[s.release_at as usize];
        let fails = match &run.ids {
            Probes::List(ids) => ids
                .iter()
                .filter(|&&id| self.locks.busy(s.key | id as u64))
                .count() as u64,
            set => self.locks.busy_ids(s.key).map(|id| set.count(id)).sum(),
        };
        let (n, inner_all) = (run.ids.len(), run.inner);
        let lc = self.costs.lock[s.kind as usize];
        let class = class_of(s.key);
        let ok = n - fails;
        self.rep.acquired[class] += ok;
        self.rep.failed_trylocks[class] += fails;
        if fails > 0 && self.cpus[c].in_walk() {
            self.cpus[c].walk_gave_up = true;
        }
        let inner = (inner_all as u128 * ok as u128 / n.max(1) as u128) as Time;
        self.rep.hold[class] += inner;
        ok * (lc.acquire + lc.release) + fails * lc.acquire + inner
    }

    /// `c` got the lock it waited for, at `now`: count the wait; the time
    /// its next step is reached.
    fn granted_at(&mut self, c: usize, now: Time) -> Time {
        let cpu = &mut self.cpus[c];
        let s = cpu.script.steps[cpu.pc];
        let class = class_of(s.key);
        let waited = now - cpu.wait_since;
        self.rep.wait[class] += waited;
        if !LOCK_KINDS[s.kind as usize].sleeps() || s.is(flag::ADAPTIVE) {
            self.rep.spin[class] += waited;
        }
        self.rep.acquired[class] += 1;
        if s.is(flag::WALK) {
            self.rep.walks += 1;
            self.rep.walk_wait += waited;
        }
        cpu.held.push(Held {
            key: s.key,
            shared: s.is(flag::SHARED),
            walk: s.is(flag::WALK),
            recursive: false,
            since: now,
        });
        cpu.phase = Phase::Run;
        cpu.pc += 1;
        now + cpu.before(cpu.pc)
    }

    /// Release at `now`; returns the time the release takes.
    fn release(&mut self, c: usize, s: Step, now: Time) -> Time {
        let lc = self.costs.lock[s.kind as usize];
        let cpu = &mut self.cpus[c];
        let Some(i) = cpu.held.iter().rposition(|h| h.key == s.key) else {
            // the release of a trylock that failed is skipped with it; any
            // other unmatched release is the model's broken rule, ignored
            return 0;
        };
        let h = cpu.held.remove(i);
        if h.recursive {
            return lc.release;
        }
        self.rep.hold[class_of(s.key)] += now.saturating_sub(h.since);
        if h.walk {
            self.rep
                .walk_hold_ns
                .saturating_record(ns(now.saturating_sub(h.since)));
            if cpu.walk_gave_up && !cpu.in_walk() {
                cpu.walk_gave_up = false;
                self.rep.pages_skipped += 1;
            }
        }
        self.granted.clear();
        self.locks.release(s.key, h.shared, &mut self.granted);
        self.hand_over(s.key, now + lc.release);
        lc.release
    }

    /// The waiters just granted `key` resume after the hand-over.
    fn hand_over(&mut self, key: Key, at: Time) {
        for i in 0..self.granted.len() {
            let w = self.granted[i];
            let cpu = &self.cpus[w.cpu as usize];
            let s = cpu.script.steps[cpu.pc];
            debug_assert_eq!(s.key, key);
            // an adaptive waiter was spinning: a cache-line transfer
            let kind = if s.is(flag::ADAPTIVE) { 0 } else { s.kind };
            let t = at + self.costs.lock[kind as usize].handover;
            self.heap.push(Reverse((t, w.cpu)));
        }
    }
}
