//! `rmap-bench calibrate`: this host's costs, as a cost file.
//!
//! Two measurements, both on the host (so the file they make is host
//! dependent by design; the engine that reads it stays deterministic):
//!
//! 1. **The model's own cost per unit of work.** Workloads (the scaling
//!    scenarios' sequential forms at a few CPUs, on presets of every rmap
//!    family, so that every work kind occurs) are replayed op by op; each
//!    op's wall time (`Instant`) and its work vector (the recorder's
//!    `op_work`) make one observation. A non-negative least-squares fit of
//!    `time = op_ns + Σ ns[kind] × units[kind]` over all observations
//!    (coordinate descent on the normal equations) attributes the time to
//!    the kinds; `op_ns` is the intercept. A kind the workloads never
//!    exercise keeps the default.
//! 2. **Real lock costs with real threads.** A spinlock (test-and-set on an
//!    `AtomicBool`), a bit spinlock (`fetch_or` of one bit of an
//!    `AtomicU64`) and parking_lot's `Mutex` and `RwLock`: uncontended
//!    acquire and release (a thread alone, over an array of locks so that
//!    acquire and release are timed apart); hand-over between 2 threads
//!    (spinning kinds: two threads pass a turn through the lock, and the
//!    time per pass is the hand-over; sleeping kinds: one thread holds the
//!    lock until the other has parked on it, then releases, and the time
//!    from the release to the other's acquisition is the wake-up; median
//!    of many). A semaphore costs what the mutex does; kswapd's wake-up
//!    (`wakeup_ns`) is the mutex's wake-up.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rmap_core::locks::{LockRecording, WORK_KINDS, WorkKind};
use rmap_core::replay::apply_config;
use rmap_core::{Config, Op, ReverseMap};
use rmap_registry::WithBackend;

use crate::costs::{CostFile, DEFAULT_JSON, LockCostNs};

/// How long to measure.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Fewer repetitions (seconds instead of a minute).
    pub quick: bool,
}

/// One op's wall time and work.
type Obs = (f64, [u64; WORK_KINDS]);

struct Replay<'a>(&'a [Op]);

impl WithBackend for Replay<'_> {
    type Out = Result<Vec<Obs>, String>;
    fn run<R: rmap_core::Presets>(self, rmap: R) -> Self::Out {
        replay_timed(self.0, rmap)
    }
}

fn replay_timed<R: ReverseMap>(ops: &[Op], rmap: R) -> Result<Vec<Obs>, String> {
    let mut cfg = Config {
        integrity: false,
        locks: LockRecording::Stats,
        ..Config::default()
    };
    let mut start = 0;
    while let Some(Op::Config(items)) = ops.get(start) {
        apply_config(&mut cfg, items);
        start += 1;
    }
    let mut sys = rmap_core::System::new(cfg, rmap)?;
    let mut out = Vec::with_capacity(ops.len());
    for op in &ops[start..] {
        let t0 = Instant::now();
        let _ = sys.apply(op);
        let dt = t0.elapsed().as_nanos() as f64;
        out.push((dt, sys.core.locks.op_work()));
    }
    Ok(out)
}

/// Non-negative least squares with an intercept: `(intercept, coefs)`.
/// Coordinate descent on the normal equations, a fixed number of sweeps
/// (deterministic for given observations).
pub fn fit(obs: &[Obs]) -> (f64, [f64; WORK_KINDS]) {
    const K: usize = WORK_KINDS + 1;
    // features: 1, then the units (scaled to keep the equations balanced)
    let mut ata = [[0f64; K]; K];
    let mut atb = [0f64; K];
    for (t, w) in obs {
        let mut x = [0f64; K];
        x[0] = 1.0;
        for k in 0..WORK_KINDS {
            x[k + 1] = w[k] as f64;
        }
        for i in 0..K {
            atb[i] += x[i] * t;
            for j in 0..K {
                ata[i][j] += x[i] * x[j];
            }
        }
    }
    let mut c = [0f64; K];
    for _ in 0..2000 {
        for i in 0..K {
            if ata[i][i] <= 0.0 {
                continue;
            }
            let mut r = atb[i];
            for j in 0..K {
                if j != i {
                    r -= ata[i][j] * c[j];
                }
            }
            c[i] = (r / ata[i][i]).max(0.0);
        }
    }
    let mut coefs = [0f64; WORK_KINDS];
    coefs.copy_from_slice(&c[1..]);
    (c[0], coefs)
}

/// The model's own cost per unit on this host: `(op_ns, ns per kind,
/// units seen per kind)`.
pub fn model_costs(opts: Options) -> Result<(f64, [f64; WORK_KINDS], [u64; WORK_KINDS]), String> {
    let cpus = if opts.quick { 2 } else { 4 };
    let specs = [
        "anonvma:andrea-2.6.7",
        "anonvma:linux",
        "pte-chain:rik",
        "objrmap:mccracken",
    ];
    let mut obs = Vec::new();
    for form in rmap_traces::scenario::all_forms()
        .into_iter()
        .filter(|f| f.is_scaling())
    {
        let ops = form.build(cpus)?;
        for spec in specs {
            obs.extend(rmap_registry::with_backend(spec, Replay(&ops))??);
        }
    }
    let mut seen = [0u64; WORK_KINDS];
    for (_, w) in &obs {
        for k in 0..WORK_KINDS {
            seen[k] += w[k];
        }
    }
    let (op, c) = fit(&obs);
    Ok((op, c, seen))
}

/// A test-and-set spinlock.
struct Spin(AtomicBool);

impl Spin {
    #[inline]
    fn lock(&self) {
        while self
            .0
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
    }
    #[inline]
    fn unlock(&self) {
        self.0.store(false, Ordering::Release);
    }
}

/// A bit spinlock on bit 0.
struct BitSpin(AtomicU64);

impl BitSpin {
    #[inline]
    fn lock(&self) {
        while self.0.fetch_or(1, Ordering::Acquire) & 1 != 0 {
            std::hint::spin_loop();
        }
    }
    #[inline]
    fn unlock(&self) {
        self.0.fetch_and(!1, Ordering::Release);
    }
}

fn per(n: usize, d: Duration) -> f64 {
    d.as_nanos() as f64 / n as f64
}

/// Uncontended acquire and release of `n` locks made by `mk`, timed apart.
fn uncontended<L>(
    n: usize,
    mk: impl Fn() -> L,
    lock: impl Fn(&L),
    unlock: impl Fn(&L),
) -> (f64, f64) {
    let locks: Vec<L> = (0..n).map(|_| mk()).collect();
    let t0 = Instant::now();
    for l in &locks {
        lock(l);
    }
    let a = t0.elapsed();
    let t0 = Instant::now();
    for l in &locks {
        unlock(l);
    }
    let r = t0.elapsed();
    black_box(&locks);
    (per(n, a), per(n, r))
}

/// Two threads pass a turn through a spinning lock `passes` times; ns per
/// pass.
fn spin_handover<L: Send + Sync + 'static>(passes: u64, l: L, lock: fn(&L), unlock: fn(&L)) -> f64 {
    let shared = Arc::new((l, AtomicU64::new(0)));
    let run = |me: u64, s: Arc<(L, AtomicU64)>| {
        move || {
            let mut mine = 0;
            while mine < passes / 2 {
                lock(&s.0);
                let t = s.1.load(Ordering::Relaxed);
                if t % 2 == me {
                    s.1.store(t + 1, Ordering::Relaxed);
                    mine += 1;
                }
                unlock(&s.0);
            }
        }
    };
    let t0 = Instant::now();
    let h = std::thread::spawn(run(1, shared.clone()));
    run(0, shared.clone())();
    let _ = h.join();
    per(passes as usize, t0.elapsed())
}

/// The wake-up of a parked waiter: median ns from release to acquisition.
fn sleep_handover(reps: usize, rw: bool) -> f64 {
    let mut v = Vec::with_capacity(reps);
    for _ in 0..reps {
        let m = Arc::new(parking_lot::Mutex::new(()));
        let r = Arc::new(parking_lot::RwLock::new(()));
        let released = Arc::new(AtomicU64::new(0));
        let epoch = Instant::now();
        let (g_m, g_r) = (m.lock(), r.write());
        let (m2, r2, rel2) = (m.clone(), r.clone(), released.clone());
        let h = std::thread::spawn(move || {
            if rw {
                let _g = r2.write();
            } else {
                let _g = m2.lock();
            }
            let got = epoch.elapsed().as_nanos() as u64;
            got.saturating_sub(rel2.load(Ordering::Acquire))
        });
        // long enough for the waiter to spin out and park
        std::thread::sleep(Duration::from_millis(2));
        released.store(epoch.elapsed().as_nanos() as u64, Ordering::Release);
        drop(g_m);
        drop(g_r);
        if let Ok(ns) = h.join() {
            v.push(ns as f64);
        }
    }
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Measure this host; the cost file (the default's sources replaced by
/// what was measured). `progress` gets a line per step.
pub fn calibrate(opts: Options, progress: &mut dyn FnMut(&str)) -> Result<CostFile, String> {
    let mut f: CostFile = serde_json::from_str(DEFAULT_JSON).map_err(|e| e.to_string())?;
    f.sources.clear();
    progress("the model's cost per unit of work (replaying the scaling scenarios)");
    let (op, coefs, seen) = model_costs(opts)?;
    f.op_ns = round(op.max(1.0));
    f.sources.insert(
        "op_ns".into(),
        "the intercept of the fit of op times on this host".into(),
    );
    for k in WorkKind::ALL {
        if seen[k as usize] > 0 {
            f.work_ns.insert(k.name().into(), round(coefs[k as usize]));
            f.sources.insert(
                k.name().into(),
                format!(
                    "the model's own cost on this host (fit over {} units)",
                    seen[k as usize]
                ),
            );
        }
    }
    let n = if opts.quick { 1 << 16 } else { 1 << 20 };
    let passes = if opts.quick { 20_000 } else { 200_000 };
    let reps = if opts.quick { 21 } else { 101 };
    progress("spinlocks, uncontended and between 2 threads");
    let (sa, sr) = uncontended(n, || Spin(AtomicBool::new(false)), Spin::lock, Spin::unlock);
    let sh = spin_handover(
        passes,
        Spin(AtomicBool::new(false)),
        Spin::lock,
        Spin::unlock,
    );
    let (ba, br) = uncontended(
        n,
        || BitSpin(AtomicU64::new(0)),
        BitSpin::lock,
        BitSpin::unlock,
    );
    let bh = spin_handover(
        passes,
        BitSpin(AtomicU64::new(0)),
        BitSpin::lock,
        BitSpin::unlock,
    );
    progress("parking_lot Mutex and RwLock, uncontended and a parked waiter's wake-up");
    let (ma, mr) = uncontended(
        n,
        || parking_lot::Mutex::new(()),
        |m| std::mem::forget(m.lock()),
        // SAFETY: the lock was taken (and its guard forgotten) just before
        |m| unsafe { m.force_unlock() },
    );
    let mh = sleep_handover(reps, false);
    let (wa, wr) = uncontended(
        n,
        || parking_lot::RwLock::new(()),
        |m| std::mem::forget(m.write()),
        // SAFETY: the lock was taken (and its guard forgotten) just before
        |m| unsafe { m.force_unlock_write() },
    );
    let wh = sleep_handover(reps, true);
    let lc = |a: f64, r: f64, h: f64| LockCostNs {
        acquire_ns: round(a),
        release_ns: round(r),
        handover_ns: round(h),
    };
    f.locks.insert("spin".into(), lc(sa, sr, sh));
    f.locks.insert("bit_spin".into(), lc(ba, br, bh));
    f.locks.insert("mutex".into(), lc(ma, mr, mh));
    f.locks.insert("semaphore".into(), lc(ma, mr, mh));
    f.locks.insert("rwsem".into(), lc(wa, wr, wh));
    f.wakeup_ns = round(mh);
    f.sources.insert("locks".into(), "real threads on this host: a test-and-set spinlock, a bit spinlock, parking_lot Mutex (also the semaphore) and RwLock; uncontended acquire and release timed apart over an array of locks; spinning hand-over = time per turn passed between 2 threads; sleeping hand-over = median time from a release to a parked waiter's acquisition".into());
    f.sources.insert(
        "wakeup_ns".into(),
        "the parking_lot Mutex wake-up measured above".into(),
    );
    f.about = format!(
        "rmap-vcpu cost table measured by `rmap-bench calibrate`{} on this host",
        if opts.quick { " --quick" } else { "" }
    );
    Ok(f)
}

fn round(x: f64) -> f64 {
    if x.is_finite() {
        (x * 100.0).round() / 100.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fit_recovers_known_costs() {
        let mut obs = Vec::new();
        for i in 0..200u64 {
            let mut w = [0u64; WORK_KINDS];
            w[0] = i % 7;
            w[3] = (i * 3) % 11;
            let t = 100.0 + 20.0 * w[0] as f64 + 5.0 * w[3] as f64;
            obs.push((t, w));
        }
        let (op, c) = fit(&obs);
        assert!((op - 100.0).abs() < 0.5, "{op}");
        assert!(
            (c[0] - 20.0).abs() < 0.1 && (c[3] - 5.0).abs() < 0.1,
            "{c:?}"
        );
        assert!(c[1] == 0.0, "a kind never seen costs nothing");
    }

    #[test]
    fn lock_measurements_are_positive() {
        let (a, r) = uncontended(
            1000,
            || Spin(AtomicBool::new(false)),
            Spin::lock,
            Spin::unlock,
        );
        assert!(a > 0.0 && r > 0.0);
        assert!(spin_handover(200, Spin(AtomicBool::new(false)), Spin::lock, Spin::unlock) > 0.0);
        assert!(sleep_handover(3, false) > 0.0);
    }
}
