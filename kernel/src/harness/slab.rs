//! Object counts at `stats all` (the module docs of `harness`, "Object
//! counts"): slab caches read around a kill, real and shadow replays of
//! the prefix, and the most frequent difference.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rmap_core::trace::TraceLine;

use super::controller::{Env, Mode, Proc, Procs, Trail, run_ops, spawn_worker, start_first};
use super::locks::{measure_guard, op_guard};
use super::maps::window_vmas;
use super::{KernelError, KernelOptions, LiveObjects, OBJECT_KINDS, ObjectsAt};

/// The slab caches of [`OBJECT_KINDS`] whose counts this process can
/// read.
pub(super) struct Slab {
    dirs: [Option<PathBuf>; 3],
}

impl Slab {
    fn probe() -> Slab {
        let dirs = OBJECT_KINDS.map(|k| {
            let d = Path::new("/sys/kernel/slab").join(k);
            Self::count(&d).ok().map(|_| d)
        });
        Slab { dirs }
    }

    fn any(&self) -> bool {
        self.dirs.iter().any(Option::is_some)
    }

    /// Flushes the cache's per-CPU slabs and sheaves, then reads its
    /// count of allocated objects.
    fn count_once(dir: &Path) -> io::Result<u64> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join("shrink"))?;
        f.write_all(b"1")?;
        drop(f);
        let text = std::fs::read_to_string(dir.join("objects"))?;
        text.split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| io::Error::other(format!("unexpected slab count `{text}`")))
    }

    /// [`Slab::count_once`] until two counts in a row agree (at most
    /// [`SHRINK_ROUNDS`] times). One shrink is not always enough: right
    /// after a process exit, the first shrink of `vm_area_struct` (a
    /// cache with per-CPU sheaves) leaves about half of the freed
    /// objects counted, and the second one gets them all.
    fn count(dir: &Path) -> io::Result<u64> {
        let mut last = Self::count_once(dir)?;
        for _ in 1..SHRINK_ROUNDS {
            let n = Self::count_once(dir)?;
            if n == last {
                break;
            }
            last = n;
        }
        Ok(last)
    }

    /// Every readable count, read in [`OBJECT_KINDS`] order or, with
    /// `reverse`, the other way round: the readings before a kill end
    /// with `vm_area_struct` and those after it start with it, so that
    /// the noisiest cache (every mmap of every process changes it) is
    /// read closest to the kill.
    fn read(&self, reverse: bool) -> [Option<u64>; 3] {
        let mut r = [None; 3];
        let mut order = [0, 1, 2];
        if reverse {
            order.reverse();
        }
        for k in order {
            r[k] = self.dirs[k].as_deref().and_then(|d| Self::count(d).ok());
        }
        r
    }
}

/// At most this many shrink-and-count rounds per reading of one cache.
const SHRINK_ROUNDS: usize = 4;

/// Counts the objects of `stats all` lines (module docs, "Object
/// counts").
pub(super) struct Meter {
    reps: usize,
    slab: Slab,
    /// The idle worker both kinds of replay fork their process 1 from
    /// (key 0), started at the first measurement.
    zygote: Option<Procs>,
}

impl Meter {
    /// A meter for `opts` (one that measures nothing with `slab_reps` 0
    /// or no readable slab counts).
    pub(super) fn new(opts: &KernelOptions) -> Meter {
        let slab = if opts.slab_reps == 0 {
            Slab {
                dirs: [None, None, None],
            }
        } else {
            Slab::probe()
        };
        Meter {
            reps: opts.slab_reps,
            slab,
            zygote: None,
        }
    }

    /// The objects the trace's processes hold after `prefix` (the lines
    /// before the `stats all` at `line`); `live` are the processes of
    /// the run being measured, paused at that line.
    pub(super) fn measure(
        &mut self,
        env: &Env,
        prefix: &[TraceLine],
        line: usize,
        live: &Procs,
        trail: &mut Trail,
    ) -> Result<ObjectsAt, KernelError> {
        let mut at = ObjectsAt {
            line,
            ..ObjectsAt::default()
        };
        if !self.slab.any() {
            return Ok(at);
        }
        if self.zygote.is_none() {
            let _g = op_guard();
            let z = spawn_worker(env.files, trail)?;
            let mut p = Procs::default();
            p.0.insert(0, z);
            self.zygote = Some(p);
        }
        let zygote = &self.zygote.as_ref().expect("started above").0[&0];
        // The VMAs in the window, from the processes' maps: the slab
        // count of vm_area_struct must come out the same, or something
        // else disturbed the samples consistently, and the measurement
        // is taken again.
        let expected = window_vmas(live);
        for attempt in 1..=CHECK_ATTEMPTS {
            at = self.sample(env, prefix, line, zygote, trail)?;
            at.attempts = attempt;
            match (at.counts.0[VMA_KIND], expected) {
                (Some(got), Some(want)) if got != want => {}
                _ => return Ok(at),
            }
        }
        // consistently wrong: say nothing
        at.counts = LiveObjects::default();
        Ok(at)
    }

    /// One measurement: samples until settled, or the most allowed.
    fn sample(
        &self,
        env: &Env,
        prefix: &[TraceLine],
        line: usize,
        zygote: &Proc,
        trail: &mut Trail,
    ) -> Result<ObjectsAt, KernelError> {
        let mut at = ObjectsAt {
            line,
            ..ObjectsAt::default()
        };
        let readable: Vec<usize> = (0..OBJECT_KINDS.len())
            .filter(|&k| self.slab.dirs[k].is_some())
            .collect();
        for round in 0..self.reps * MAX_REPS_FACTOR {
            // Enough once every readable kind has, on both sides, one
            // clearly most frequent value.
            if round >= self.reps
                && readable
                    .iter()
                    .all(|&k| settled(&at.real[k], self.reps) && settled(&at.shadow[k], self.reps))
            {
                break;
            }
            for mode in [Mode::Real, Mode::Shadow] {
                let mut procs = Procs::default();
                let sum = run_ops(
                    env,
                    prefix,
                    mode,
                    &mut io::sink(),
                    trail,
                    &mut procs,
                    Some(zygote),
                    None,
                )?;
                if sum.ops == 0 {
                    // nothing before the stats line: process 1 exists,
                    // empty, as in the model
                    let _g = op_guard();
                    start_first(env, &mut procs, Some(zygote), trail)?;
                }
                let (before, after) = {
                    let _w = measure_guard();
                    let before = self.slab.read(false);
                    drop(procs);
                    (before, self.slab.read(true))
                };
                let samples = match mode {
                    Mode::Real => &mut at.real,
                    Mode::Shadow => &mut at.shadow,
                };
                for k in 0..OBJECT_KINDS.len() {
                    if let (Some(b), Some(a)) = (before[k], after[k]) {
                        samples[k].push(b as i64 - a as i64);
                    }
                }
            }
        }
        for &k in &readable {
            // no clear value even after the extra samples: too noisy
            // to tell, so no count
            if settled(&at.real[k], self.reps) && settled(&at.shadow[k], self.reps) {
                let c = typical(&at.real[k]) - typical(&at.shadow[k]);
                at.counts.0[k] = u64::try_from(c).ok();
            }
        }
        Ok(at)
    }
}

/// The index of `vm_area_struct` in [`OBJECT_KINDS`].
const VMA_KIND: usize = 2;

/// Measurements of one `stats all` whose `vm_area_struct` count
/// disagrees with the processes' maps before the counts are given up.
const CHECK_ATTEMPTS: usize = 3;

/// A measurement takes up to this many times `reps` samples per side
/// when the first ones disagree.
const MAX_REPS_FACTOR: usize = 6;

/// Whether the most frequent value is clear: more than half of all the
/// samples, at least a majority of `reps`, and at least twice as
/// frequent as any other value.
fn settled(v: &[i64], reps: usize) -> bool {
    let mut freq: Vec<usize> = Vec::new();
    let mut s = v.to_vec();
    s.sort_unstable();
    for run in s.chunk_by(|a, b| a == b) {
        freq.push(run.len());
    }
    freq.sort_unstable_by(|a, b| b.cmp(a));
    let best = freq.first().copied().unwrap_or(0);
    let second = freq.get(1).copied().unwrap_or(0);
    best > reps / 2 && 2 * best > v.len() && best >= 2 * second
}

/// The most frequent sample; among equally frequent ones, the one
/// nearest the median (the lower one of two).
fn typical(v: &[i64]) -> i64 {
    let mut s = v.to_vec();
    s.sort_unstable();
    let med = s[(s.len() - 1) / 2];
    let freq = |x: i64| s.iter().filter(|&&y| y == x).count();
    let best = s.iter().map(|&x| freq(x)).max().unwrap_or(0);
    s.iter()
        .copied()
        .filter(|&x| freq(x) == best)
        .min_by_key(|&x| ((x - med).abs(), x))
        .unwrap_or(med)
}
