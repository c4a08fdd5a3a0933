//! The model as the engine's [`Source`]: one `System<R>` for the whole
//! machine, the workers' op streams of a [`Workload`], and reclaimer CPUs
//! that behave as kswapd.
//!
//! Every op runs with `LockRecording::Events`, so that after
//! `System::apply` the recorder holds that op's lock events and work, which
//! become its [`Script`]. A `touch` runs as one op per page (each access,
//! each fault, is a kernel entry of its own); every other op is one op. A syscall that fails with an errno is timed like
//! any op and counted ([`ModelSource::op_errors`]); an op that cannot run at
//! all (unknown process or file) ends the run with an error naming the CPU
//! and the op.
//!
//! Reclaimers: a reclaimer sleeps while free frames are at or above its
//! high mark and is woken when an op start leaves them under its low mark;
//! awake, it runs `reclaim` ops of at most `SWAP_CLUSTER_MAX` pages until
//! free frames reach the high mark. The marks are 2 and 3 times the
//! model's direct-reclaim watermark (2.4's `pages_low` / `pages_high` over
//! `pages_min`, mm/page_alloc.c). A reclaim op that frees nothing is
//! followed by a pause of [`FUTILE_PAUSE_NS`] (kswapd's back-off when it
//! cannot make progress) instead of a busy loop.

use rmap_core::locks::LockRecording;
use rmap_core::replay::apply_config;
use rmap_core::{Config, Op, OpError, PAGE_SIZE, ReverseMap, SWAP_CLUSTER_MAX, System};
use rmap_traces::scenario::scaling::Workload;

use crate::costs::{Costs, PS_PER_NS, Time};
use crate::engine::{Next, Source};
use crate::script::{Builder, Kinds, Script};

/// The pause after a reclaim op that freed nothing, in ns.
pub const FUTILE_PAUSE_NS: u64 = 100_000;

/// The model on N virtual CPUs.
pub struct ModelSource<R: ReverseMap> {
    pub sys: System<R>,
    streams: Vec<Vec<Op>>,
    pos: Vec<usize>,
    /// The pages of a `touch` still to access, per CPU: (next page, last
    /// page), in bytes.
    touching: Vec<Option<(u64, u64)>>,
    reclaimers: usize,
    main_op: &'static str,
    /// Syscalls that failed with an errno.
    pub op_errors: u64,
    futile: Vec<bool>,
    low: u64,
    high: u64,
}

impl<R: ReverseMap> ModelSource<R> {
    /// A system for `w` on backend `rmap`, with `w.setup` applied. Errors:
    /// a bad `config`, or a setup op that fails.
    pub fn new(w: Workload, rmap: R, costs: &Costs) -> Result<Self, String> {
        let mut cfg = Config {
            integrity: false,
            locks: LockRecording::Events,
            ..Config::default()
        };
        let mut start = 0;
        while let Some(Op::Config(items)) = w.setup.get(start) {
            apply_config(&mut cfg, items);
            start += 1;
        }
        let mut sys = System::new(cfg, rmap)?;
        for (i, op) in w.setup.iter().enumerate().skip(start) {
            sys.apply(op)
                .map_err(|e| format!("setup op {} (`{}`): {e}", i + 1, op.name()))?;
        }
        let kinds = Kinds::of(sys.core.locks.protocol());
        // events go straight into the script as they are recorded
        sys.core
            .locks
            .set_sink(Some(Box::new(Builder::new(costs.clone(), kinds))));
        let mark = sys.core.watermark;
        let n = w.cpus.len();
        Ok(ModelSource {
            sys,
            pos: vec![0; n],
            touching: vec![None; n],
            streams: w.cpus,
            reclaimers: w.reclaimers,
            main_op: w.main_op,
            op_errors: 0,
            futile: vec![false; w.reclaimers],
            low: 2 * mark,
            high: 3 * mark,
        })
    }

    /// Worker CPUs.
    pub fn workers(&self) -> usize {
        self.streams.len()
    }

    fn record(&mut self, script: &mut Script) {
        let total = self.sys.core.locks.op_work();
        let b = self
            .sys
            .core
            .locks
            .sink_mut()
            .and_then(|s| s.as_any_mut().downcast_mut::<Builder>())
            .expect("the model source's sink");
        b.finish(&total, script);
    }

    fn reclaimer_next(&mut self, r: usize, script: &mut Script) -> Next {
        if std::mem::take(&mut self.futile[r]) {
            return Next::Pause(FUTILE_PAUSE_NS * PS_PER_NS as Time);
        }
        let free = self.sys.core.frames.free_count();
        if free >= self.high {
            return Next::Sleep;
        }
        let before = self.sys.core.counters.reclaim_freed;
        let pages = (self.high - free).min(SWAP_CLUSTER_MAX);
        // reclaim cannot fail
        let _ = self.sys.apply(&Op::Reclaim { pages });
        self.futile[r] = self.sys.core.counters.reclaim_freed == before;
        self.record(script);
        Next::Op { main: false }
    }
}

impl<R: ReverseMap> Source for ModelSource<R> {
    fn cpus(&self) -> usize {
        self.streams.len() + self.reclaimers
    }

    fn is_worker(&self, cpu: usize) -> bool {
        cpu < self.streams.len()
    }

    fn next(&mut self, cpu: usize, script: &mut Script) -> Result<Next, String> {
        let n = self.streams.len();
        if cpu >= n {
            return Ok(self.reclaimer_next(cpu - n, script));
        }
        let i = self.pos[cpu];
        let Some(op) = self.streams[cpu].get(i) else {
            return Ok(Next::Done);
        };
        // A `touch` is one op per page: each page access (each fault) is a
        // kernel entry of its own, as on a real CPU.
        let r = if let Op::Touch {
            pid,
            addr,
            len,
            access,
        } = *op
        {
            let (page, last) = match self.touching[cpu] {
                Some(t) => t,
                None if len == 0 => (addr, addr),
                None => (
                    addr & !(PAGE_SIZE - 1),
                    addr.saturating_add(len - 1) & !(PAGE_SIZE - 1),
                ),
            };
            self.sys.core.locks.begin_op();
            let r = self.sys.mm_of(pid).and_then(|mm| {
                self.sys
                    .access_page(mm, page, access)
                    .map(|_| ())
                    .map_err(OpError::Errno)
            });
            self.sys.core.locks.end_op("touch");
            self.touching[cpu] = (page < last && r.is_ok()).then(|| (page + PAGE_SIZE, last));
            if self.touching[cpu].is_none() {
                self.pos[cpu] += 1;
            }
            r
        } else {
            self.pos[cpu] += 1;
            self.sys.apply(op).map(|_| ())
        };
        match r {
            Ok(()) => {}
            Err(OpError::Errno(_)) => self.op_errors += 1,
            Err(e) => {
                return Err(format!(
                    "cpu {cpu}, op {} of its stream (`{}`): {e}",
                    i + 1,
                    op.name()
                ));
            }
        }
        let main = op.name() == self.main_op;
        self.record(script);
        Ok(Next::Op { main })
    }

    fn wake(&mut self, _cpu: usize) -> bool {
        self.sys.core.frames.free_count() < self.low
    }
}
