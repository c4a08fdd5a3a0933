//! The real-program scenario: k overlapping instances of a committed
//! real-program trace.

use rmap_core::ops::ConfigItem;
use rmap_core::{Op, Pid};

use super::build::{Ops, bad_variant, check_size, real_variants};

/// `real-program`, variant = a trace of [`crate::real::REAL_TRACES`], size
/// k instances: k copies of the program's trace run at once. Copy `c`'s
/// process ids are offset by `c` times the trace's largest pid; its first
/// process is forked from process 1 before anything runs (process 1 is
/// empty then, as a trace expects). Files are declared once (first
/// declaration wins); the copies' ops are interleaved one by one, so their
/// lifetimes overlap. `dump`, `stats` and `check` lines are dropped.
/// The config is the trace's own, with `ram` and `swap` multiplied by k.
/// 1 to 64 instances (the full run uses 1 to 8).
pub(super) fn real_program(variant: &str, size: u64) -> Result<Vec<Op>, String> {
    let traces = crate::real::REAL_TRACES;
    if traces.is_empty() {
        return Err(
            "no real-program traces are compiled in (crate::real::REAL_TRACES is empty)".into(),
        );
    }
    let text = traces
        .iter()
        .find(|(n, _)| *n == variant)
        .map(|(_, t)| *t)
        .ok_or_else(|| bad_variant("real-program", variant, real_variants()))?;
    real_instances(variant, text, size)
}

/// The ops of `k` overlapping instances of the trace `text` (named `name`
/// in parse errors), as the `real-program` scenario describes.
pub fn real_instances(name: &str, text: &str, size: u64) -> Result<Vec<Op>, String> {
    check_size(size, 1, 64, "instances")?;
    let lines = rmap_core::trace::parse(text, name).map_err(|e| e.to_string())?;
    let mut cfg = rmap_core::Config::default();
    let mut merge = None;
    let mut files: Vec<Op> = Vec::new();
    let mut body: Vec<Op> = Vec::new();
    let mut max_pid: Pid = 1;
    for l in lines {
        match l.op {
            Op::Config(items) => {
                for it in &items {
                    if let ConfigItem::Merge(m) = it {
                        merge = Some(*m);
                    }
                }
                rmap_core::replay::apply_config(&mut cfg, &items);
            }
            Op::File { name, size } => {
                if !files
                    .iter()
                    .any(|f| matches!(f, Op::File { name: n, .. } if *n == name))
                {
                    files.push(Op::File { name, size });
                }
            }
            Op::Dump { .. } | Op::Stats(_) | Op::Check => {}
            mut op => {
                max_pid = max_pid.max(largest_pid(&mut op));
                body.push(op);
            }
        }
    }
    let k = size;
    let too_many = || format!("{k} instances need process ids beyond 2^32");
    let stride = max_pid as u64;
    if stride.checked_mul(k).is_none_or(|v| v > u32::MAX as u64) {
        return Err(too_many());
    }
    let ram = cfg.ram.checked_mul(k).ok_or_else(too_many)?;
    let swap = cfg.swap.checked_mul(k).ok_or_else(too_many)?;
    let mut o = Ops::new(ram, swap, merge);
    o.0.extend(files);
    for c in 1..k {
        o.fork(1, 1 + (c * stride) as Pid);
    }
    for op in &body {
        for c in 0..k {
            o.0.push(offset_pids(op, (c * stride) as Pid));
        }
    }
    Ok(o.0)
}

/// The largest process id an op names (1 when it names none).
fn largest_pid(op: &mut Op) -> Pid {
    match op {
        Op::Fork { parent, child } => (*parent).max(*child),
        other => other.pid_mut().map_or(1, |p| *p),
    }
}

/// `op` with every process id raised by `by` (the caller keeps the sums
/// below 2^32).
fn offset_pids(op: &Op, by: Pid) -> Op {
    let mut op = op.clone();
    if let Op::Fork { parent, child } = &mut op {
        *parent = parent.saturating_add(by);
        *child = child.saturating_add(by);
    } else if let Some(pid) = op.pid_mut() {
        *pid = pid.saturating_add(by);
    }
    op
}
