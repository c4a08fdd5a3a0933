//! The engine's semantics on tiny hand-made cases: each CPU runs a list
//! of hand-written scripts; every expected time is worked out by hand
//! (picoseconds; see `costs()` for the prices).

use rmap_core::locks::{Acq, LockClass, LockKind};
use rmap_vcpu::costs::{Costs, LockCost, Time};
use rmap_vcpu::engine::{Next, Source, run};
use rmap_vcpu::script::Script;

/// op entry 1; lock operations free; hand-over 10 for spinning kinds, 500
/// for sleeping ones; work prices do not matter (scripts carry times).
fn costs() -> Costs {
    let mut c = Costs::default_table();
    c.op = 1;
    c.wakeup = 7;
    for (i, l) in c.lock.iter_mut().enumerate() {
        *l = LockCost {
            acquire: 0,
            release: 0,
            handover: if i < 2 { 10 } else { 500 },
        };
    }
    c
}

/// Each CPU runs its scripts in order; all are workers; `main` for all.
struct Scripts {
    cpus: Vec<Vec<Script>>,
    at: Vec<usize>,
}

impl Scripts {
    fn new(cpus: Vec<Vec<Script>>) -> Self {
        let n = cpus.len();
        Scripts {
            cpus,
            at: vec![0; n],
        }
    }
}

impl Source for Scripts {
    fn cpus(&self) -> usize {
        self.cpus.len()
    }
    fn is_worker(&self, _cpu: usize) -> bool {
        true
    }
    fn next(&mut self, cpu: usize, script: &mut Script) -> Result<Next, String> {
        let i = self.at[cpu];
        let Some(s) = self.cpus[cpu].get(i) else {
            return Ok(Next::Done);
        };
        self.at[cpu] += 1;
        *script = s.clone();
        Ok(Next::Op { main: true })
    }
}

const A: LockClass = LockClass::AnonVma;
const B: LockClass = LockClass::Ptl;

fn excl(c: LockClass) -> Acq {
    Acq::excl(c, 1)
}

/// One section: `pre` of work, take `acq` (kind `k`), `hold` under it,
/// release, `post` after.
fn section(k: LockKind, acq: Acq, pre: Time, hold: Time, post: Time) -> Script {
    let mut s = Script::default();
    s.acquire(k, acq, false, pre).release(k, acq, false, hold);
    s.tail = post;
    s.link();
    s
}

#[test]
fn spinlock_waiter_spins_fifo_and_pays_the_hand_over() {
    let k = LockKind::Spin;
    let s = section(k, excl(A), 0, 100, 0);
    let mut src = Scripts::new(vec![vec![s.clone()], vec![s.clone()], vec![s]]);
    let r = run(&mut src, &costs()).unwrap();
    // cpu 0 holds 1..101; cpu 1 gets it at 101 + 10, holds to 211; cpu 2
    // at 221, to 321.
    assert_eq!(r.makespan, 321);
    assert_eq!(r.wait[A as usize], 110 + 220);
    assert_eq!(r.spin[A as usize], 110 + 220, "spinning is spinning");
    assert_eq!(r.contended[A as usize], 2);
    assert_eq!(r.acquired[A as usize], 3);
    // in ops, from each op's start at 0 (the op entry included)
    assert_eq!(r.inflight, 101 + 211 + 321);
    assert_eq!(r.worker_ops, 3);
}

#[test]
fn mutex_waiter_sleeps_and_pays_a_wake_up() {
    let k = LockKind::Mutex;
    let s = section(k, excl(A), 0, 100, 0);
    let mut src = Scripts::new(vec![vec![s.clone()], vec![s]]);
    let r = run(&mut src, &costs()).unwrap();
    assert_eq!(r.makespan, 101 + 500 + 100);
    assert_eq!(r.wait[A as usize], 600);
    assert_eq!(r.spin[A as usize], 0, "a sleeper does not spin");
}

#[test]
fn rwsem_readers_share() {
    let k = LockKind::Rwsem;
    let s = section(k, Acq::shared(A, 1), 0, 100, 0);
    let mut src = Scripts::new(vec![vec![s.clone()], vec![s.clone()], vec![s]]);
    let r = run(&mut src, &costs()).unwrap();
    assert_eq!(r.makespan, 101);
    assert_eq!(r.wait_total(), 0);
    // the same on a spinlock serialises: shared mode means nothing there
    let s = section(LockKind::Spin, Acq::shared(A, 1), 0, 100, 0);
    let mut src = Scripts::new(vec![vec![s.clone()], vec![s]]);
    assert_eq!(run(&mut src, &costs()).unwrap().makespan, 211);
}

#[test]
fn rwsem_writer_preference_blocks_new_readers() {
    let k = LockKind::Rwsem;
    // cpu 0 reads 1..1001; cpu 1 wants to write at 11; cpu 2 wants to
    // read at 21: it queues behind the writer although a reader holds.
    let reader0 = section(k, Acq::shared(A, 1), 0, 1000, 0);
    let writer = section(k, excl(A), 10, 100, 0);
    let reader2 = section(k, Acq::shared(A, 1), 20, 100, 0);
    let mut src = Scripts::new(vec![vec![reader0], vec![writer], vec![reader2]]);
    let r = run(&mut src, &costs()).unwrap();
    // writer: gets it at 1001 + 500, holds to 1601; reader 2 at 2101,
    // done at 2201.
    assert_eq!(r.makespan, 2201);
    assert_eq!(r.wait[A as usize], (1501 - 11) + (2101 - 21));
    assert_eq!(r.contended[A as usize], 2);
}

#[test]
fn failed_trylock_skips_the_work_under_it_and_counts() {
    let k = LockKind::Semaphore;
    let holder = section(k, excl(A), 0, 100, 0);
    // a walk that trylocks at 11, would do 1000 under the lock, then 5
    let mut walk = Script::default();
    walk.acquire(k, excl(A).try_lock(), true, 10)
        .acquire(LockKind::Spin, excl(B), false, 0)
        .release(LockKind::Spin, excl(B), false, 1000)
        .release(k, excl(A).try_lock(), true, 0);
    walk.tail = 5;
    walk.link();
    let mut src = Scripts::new(vec![vec![holder], vec![walk.clone()]]);
    let r = run(&mut src, &costs()).unwrap();
    assert_eq!(r.failed_trylocks[A as usize], 1);
    assert_eq!(r.pages_skipped, 1, "a walk that gave up is a page skipped");
    assert_eq!(r.acquired[B as usize], 0, "nothing under it ran");
    assert_eq!(r.wait_total(), 0, "a trylock never waits");
    // cpu 1: 1 + 10, fails, then 5 of work: ends at 16; cpu 0 at 101
    assert_eq!(r.inflight, 101 + 16);
    // alone, the same walk takes the lock and does the work
    let mut src = Scripts::new(vec![vec![walk]]);
    let r = run(&mut src, &costs()).unwrap();
    assert_eq!((r.failed_trylocks[A as usize], r.pages_skipped), (0, 0));
    assert_eq!(r.makespan, 1 + 10 + 1000 + 5);
    assert_eq!(r.walks, 1);
    assert_eq!(r.walk_hold_ns.len(), 1);
}

#[test]
fn a_failed_trylock_under_a_walk_lock_skips_the_page() {
    // cpu 0 holds B (the page-table lock) 1..101; cpu 1's walk holds A and
    // trylocks B at 11: it skips that mapping, and the page counts as
    // skipped when the walk lock is released.
    let spin = LockKind::Spin;
    let holder = section(spin, excl(B), 0, 100, 0);
    let mut walk = Script::default();
    walk.acquire(spin, excl(A), true, 0)
        .acquire(spin, excl(B).try_lock(), false, 10)
        .release(spin, excl(B), false, 50)
        .release(spin, excl(A), true, 0);
    walk.link();
    let mut src = Scripts::new(vec![vec![holder], vec![walk]]);
    let r = run(&mut src, &costs()).unwrap();
    assert_eq!(r.failed_trylocks[B as usize], 1);
    assert_eq!(r.pages_skipped, 1);
    // cpu 1 ends at 11: the 50 under the page-table lock are skipped
    assert_eq!(r.inflight, 101 + 11);
}

#[test]
fn nested_locks_hold_the_outer_one_while_waiting() {
    let spin = LockKind::Spin;
    // cpu 0 holds B 1..201. cpu 1 takes A at 1 then wants B at 11: waits,
    // holding A, until 201 + 10, holds B 10 more, releases both at 221.
    // cpu 2 wants A at 21: waits until 221 + 10.
    let holder = section(spin, excl(B), 0, 200, 0);
    let mut nested = Script::default();
    nested
        .acquire(spin, excl(A), false, 0)
        .acquire(spin, excl(B), false, 10)
        .release(spin, excl(B), false, 10)
        .release(spin, excl(A), false, 0);
    nested.link();
    let late = section(spin, excl(A), 20, 5, 0);
    let mut src = Scripts::new(vec![vec![holder], vec![nested], vec![late]]);
    let r = run(&mut src, &costs()).unwrap();
    assert_eq!(r.wait[B as usize], 211 - 11);
    assert_eq!(r.wait[A as usize], 231 - 21);
    assert_eq!(r.makespan, 236);
}

#[test]
fn a_lock_order_inversion_is_a_deadlock_error_not_a_hang() {
    let spin = LockKind::Spin;
    let mut ab = Script::default();
    ab.acquire(spin, excl(A), false, 0)
        .acquire(spin, excl(B), false, 10)
        .release(spin, excl(B), false, 0)
        .release(spin, excl(A), false, 0);
    ab.link();
    let mut ba = Script::default();
    ba.acquire(spin, excl(B), false, 0)
        .acquire(spin, excl(A), false, 10)
        .release(spin, excl(A), false, 0)
        .release(spin, excl(B), false, 0);
    ba.link();
    let mut src = Scripts::new(vec![vec![ab], vec![ba]]);
    let e = run(&mut src, &costs()).unwrap_err();
    assert!(
        e.contains("deadlock") && e.contains("cpu 0") && e.contains("cpu 1"),
        "{e}"
    );
}

#[test]
fn ties_go_to_the_lowest_cpu_and_runs_are_identical() {
    // a pseudo-random mix of sections on a few locks, run twice
    let mut seed: u64 = 0x1234_5678;
    let mut rnd = |m: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % m
    };
    let kinds = [LockKind::Spin, LockKind::Mutex, LockKind::Rwsem];
    let mut cpus = Vec::new();
    for _ in 0..8 {
        let mut v = Vec::new();
        for _ in 0..50 {
            let k = kinds[rnd(3) as usize];
            let inst = rnd(3);
            let acq = if rnd(2) == 0 {
                Acq::shared(A, inst)
            } else {
                Acq::excl(A, inst)
            };
            let acq = if rnd(5) == 0 { acq.try_lock() } else { acq };
            v.push(section(k, acq, rnd(100), rnd(100), rnd(10)));
        }
        cpus.push(v);
    }
    let a = run(&mut Scripts::new(cpus.clone()), &costs()).unwrap();
    let b = run(&mut Scripts::new(cpus.clone()), &costs()).unwrap();
    assert_eq!(
        (a.makespan, a.wait, a.inflight, a.failed_trylocks),
        (b.makespan, b.wait, b.inflight, b.failed_trylocks)
    );
    assert_eq!(a.op_ns, b.op_ns);
    // two CPUs want the same lock at the same time: cpu 0 gets it (else
    // the makespan would be 1051)
    let first = section(LockKind::Spin, excl(A), 0, 100, 0);
    let second = section(LockKind::Spin, excl(A), 0, 50, 1000);
    let mut src = Scripts::new(vec![vec![first], vec![second]]);
    let r = run(&mut src, &costs()).unwrap();
    assert_eq!(r.makespan, 1 + 100 + 10 + 50 + 1000);
}

#[test]
fn an_adaptive_mutex_waiter_spins_and_gets_a_cache_line_hand_over() {
    let k = LockKind::Mutex;
    let mut s = Script::default();
    s.acquire(k, excl(A), false, 0)
        .adaptive()
        .release(k, excl(A), false, 100);
    s.link();
    let mut src = Scripts::new(vec![vec![s.clone()], vec![s]]);
    let r = run(&mut src, &costs()).unwrap();
    // the spinlock's hand-over (10), not the mutex's wake-up (500)
    assert_eq!(r.makespan, 101 + 10 + 100);
    assert_eq!(r.spin[A as usize], 110);
}

#[test]
fn a_run_of_probes_fails_where_another_cpu_holds_the_lock() {
    use rmap_core::locks::{LockEvent, WORK_KINDS, WorkKind};
    // a walk (anon_vma held) that trylocks 10 page-table locks, each with
    // one PTE check under it, as the model records it
    let c = costs();
    let kinds = rmap_vcpu::script::Kinds::of(&rmap_core::locks::era::V2_6_7);
    let mut ev = Vec::new();
    let mut w = [0u64; WORK_KINDS];
    let av = Acq::excl(A, 1);
    ev.push(LockEvent {
        acq: av,
        acquire: true,
        work: w,
        walk: true,
    });
    for mm in 0..10u64 {
        let p = Acq::excl(B, mm).try_lock();
        ev.push(LockEvent {
            acq: p,
            acquire: true,
            work: w,
            walk: false,
        });
        w[WorkKind::PteCheck as usize] += 1;
        ev.push(LockEvent {
            acq: p,
            acquire: false,
            work: w,
            walk: false,
        });
    }
    ev.push(LockEvent {
        acq: av,
        acquire: false,
        work: w,
        walk: true,
    });
    let mut walk = Script::default();
    walk.build(&ev, &w, &c, &kinds, &mut Default::default());
    assert_eq!(walk.steps.len(), 3, "the 10 probes are one step");
    assert_eq!(walk.runs[0].ids.len(), 10);
    let check = c.work[WorkKind::PteCheck as usize];
    // alone: every probe succeeds and does its check
    let r = run(&mut Scripts::new(vec![vec![walk.clone()]]), &c).unwrap();
    assert_eq!(r.makespan, 1 + 10 * check);
    assert_eq!(
        (r.acquired[B as usize], r.failed_trylocks[B as usize]),
        (10, 0)
    );
    // cpu 0 holds mm 3's page-table lock while the run starts: that probe
    // fails, its check is skipped, and the page counts as skipped
    let holder = section(LockKind::Spin, Acq::excl(B, 3), 0, 100 * check, 0);
    let r = run(&mut Scripts::new(vec![vec![holder], vec![walk]]), &c).unwrap();
    assert_eq!(r.failed_trylocks[B as usize], 1);
    assert_eq!(r.pages_skipped, 1);
    assert_eq!(r.inflight, (1 + 100 * check) + (1 + 9 * check));
}
