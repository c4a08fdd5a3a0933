//! Running traces: [`replay`] (a whole trace on the model, printing
//! exactly what `docs/trace-format.md` specifies) and what ops print
//! (`dump`, `stats`). One op runs through `System::apply` (in `system`).

use std::io::Write;

use serde::Serialize;

use crate::error::OpError;
use crate::ops::{ConfigItem, Op};
use crate::rmap::ReverseMap;
use crate::system::{Config, Counters, System};
use crate::trace::{Parser, TraceError};
use crate::vma::vmf;
use crate::walk::WalkStats;

/// What an op printed.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Output {
    Nothing,
    /// Lines to print (without a final newline).
    Text(String),
    /// `check` found a problem.
    CheckFailed(String),
}

/// `stats all` as one JSON object.
#[derive(Serialize, Debug, Clone)]
pub struct StatsAll {
    pub vmas: u64,
    pub processes: u64,
    pub frames_used: u64,
    pub pt_pages: u64,
    pub swap_used: u64,
    pub objects: std::collections::BTreeMap<&'static str, u64>,
    /// Kernel bytes of one object of each kind in `objects`, in the
    /// preset's era (`rmap::sizes`).
    pub object_bytes: std::collections::BTreeMap<&'static str, u64>,
    pub kernel_bytes: u64,
    pub rmap: WalkStats,
    pub kernel_bytes_peak: u64,
    pub backend: String,
    pub counters: Counters,
    /// Per lock class of the preset's era (see `rmap_core::locks`).
    pub locks: std::collections::BTreeMap<&'static str, crate::locks::ClassReport>,
    /// Work units done since the trace began, by kind.
    pub work: std::collections::BTreeMap<&'static str, u64>,
}

/// `stats PID` as one JSON object.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct StatsPid {
    pub vmas: u64,
    pub rss_anon: u64,
    pub rss_file: u64,
    pub swap_ents: u64,
}

/// Apply `config` items to a configuration.
pub fn apply_config(cfg: &mut Config, items: &[ConfigItem]) {
    for it in items {
        match *it {
            ConfigItem::Ram(b) => cfg.ram = b,
            ConfigItem::Swap(b) => cfg.swap = b,
            ConfigItem::Merge(m) => cfg.merge = m,
            ConfigItem::Seed(s) => cfg.seed = s,
            ConfigItem::Pkeys(on) => cfg.pkeys = on,
            ConfigItem::ManyProtsPatch(p) => cfg.many_prots_patch = p,
        }
    }
}

impl<R: ReverseMap> System<R> {
    /// `/proc/PID/maps`-style lines for `pid`, headed by `dump PID`.
    pub fn dump(&self, pid: u32) -> Result<String, OpError> {
        let mm = self.mm_of(pid)?;
        let mut s = format!("dump {pid}");
        for &id in self.core.mm(mm).vmas.values() {
            let v = self.core.vmas[id];
            let p = v.prot();
            let perms = format!(
                "{}{}{}{}",
                if p.read() { 'r' } else { '-' },
                if p.write() { 'w' } else { '-' },
                if p.exec() { 'x' } else { '-' },
                if v.has(vmf::MAYSHARE) { 's' } else { 'p' }
            );
            let (off, name) = match v.file {
                Some(f) => (v.pgoff << 12, self.core.file(f).name.as_str()),
                None => (0, ""),
            };
            s.push_str(&format!("\n{:x}-{:x} {perms} {off:08x}", v.start, v.end));
            if !name.is_empty() {
                s.push(' ');
                s.push_str(name);
            }
        }
        Ok(s)
    }

    pub fn stats_all(&self) -> StatsAll {
        let o = self.objects();
        StatsAll {
            vmas: self.core.vmas.live(),
            processes: self.pids.len() as u64,
            frames_used: self.core.frames.used(),
            pt_pages: self.core.pt.live(),
            swap_used: self.core.swap.used(),
            objects: o.kinds.iter().map(|(&k, &(c, _))| (k, c)).collect(),
            object_bytes: o.kinds.iter().map(|(&k, &(_, b))| (k, b)).collect(),
            kernel_bytes: o.kernel_bytes(),
            rmap: self.core.walk_stats,
            kernel_bytes_peak: self.peak_kernel_bytes.max(o.kernel_bytes()),
            backend: format!("{}:{}", self.rmap.name(), self.rmap.preset()),
            counters: self.core.counters,
            locks: self.core.locks.report(),
            work: crate::locks::WorkKind::ALL
                .iter()
                .map(|&k| (k.name(), self.core.locks.work_done()[k as usize]))
                .collect(),
        }
    }

    pub fn stats_pid(&self, pid: u32) -> Result<StatsPid, OpError> {
        let m = self.core.mm(self.mm_of(pid)?);
        Ok(StatsPid {
            vmas: m.vmas.len() as u64,
            rss_anon: m.rss_anon,
            rss_file: m.rss_file,
            swap_ents: m.swap_ents,
        })
    }
}

/// How a replay ended.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplaySummary {
    pub ops: u64,
    pub errors: u64,
    pub check_failures: u64,
    /// Per op keyword: how many ran and the wall time they took in total.
    pub time_by_op: std::collections::BTreeMap<&'static str, (u64, std::time::Duration)>,
}

/// Why a replay stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A malformed or impossible line: exit status 2.
    #[error("{0}")]
    Trace(#[from] TraceError),
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
}

/// Run the trace `text` (named `file` in messages) on a new system with
/// backend `rmap`, starting from `base` settings, writing replay output to
/// `out`. Lines before a malformed one run; nothing after it does.
pub fn replay<R: ReverseMap>(
    text: &str,
    file: &str,
    rmap: R,
    base: Config,
    out: &mut dyn Write,
) -> Result<ReplaySummary, ReplayError> {
    let mut cfg = base;
    let mut rmap = Some(rmap);
    let mut sys: Option<System<R>> = None;
    let mut sum = ReplaySummary::default();
    let err_at = |line: usize, found: String, expected: &str| TraceError {
        file: file.to_string(),
        line,
        found,
        expected: expected.to_string(),
    };
    for tl in Parser::new(text, file) {
        let tl = tl?;
        if let Op::Config(items) = &tl.op {
            apply_config(&mut cfg, items);
            continue;
        }
        if sys.is_none() {
            let r = rmap.take().expect("backend used once");
            let s = System::new(cfg.clone(), r)
                .map_err(|e| err_at(tl.line, e, "a config the model can run"))?;
            sys = Some(s);
        }
        let s = sys.as_mut().expect("system built");
        sum.ops += 1;
        let t0 = std::time::Instant::now();
        let res = s.apply(&tl.op);
        let e = sum.time_by_op.entry(tl.op.name()).or_default();
        e.0 += 1;
        e.1 += t0.elapsed();
        match res {
            Ok(Output::Nothing) => {}
            Ok(Output::Text(t)) => writeln!(out, "{t}")?,
            Ok(Output::CheckFailed(why)) => {
                sum.check_failures += 1;
                writeln!(out, "check {} failed: {why}", tl.line)?;
            }
            Err(OpError::Errno(e)) => {
                sum.errors += 1;
                writeln!(out, "err {} {} {}", tl.line, tl.op.name(), e)?;
            }
            Err(OpError::NoProcess(p)) => {
                return Err(
                    err_at(tl.line, format!("process {p}"), "a process that exists").into(),
                );
            }
            Err(OpError::ProcessExists(p)) => {
                return Err(err_at(
                    tl.line,
                    format!("process {p}"),
                    "a child id that is not in use",
                )
                .into());
            }
            Err(OpError::File(m)) => {
                return Err(err_at(tl.line, m, "a file declared once, before its use").into());
            }
            Err(OpError::LateConfig) => {
                return Err(
                    err_at(tl.line, "config".into(), "config before every other op").into(),
                );
            }
        }
    }
    Ok(sum)
}
