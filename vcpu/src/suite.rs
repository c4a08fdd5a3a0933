//! The engine in the benchmark suite: one scaling form × CPU count ×
//! backend preset → result rows ([`rows`]), which `rmap-bench run` writes
//! beside every other scenario's.
//!
//! The rows are exact (one run: the engine is deterministic, so min = max
//! = value and `reps` = 1). `speedup` divides the throughput by the same
//! form's and preset's throughput on 1 CPU, which is computed once per
//! process and cached (also when 1 CPU is not among the sizes run).
//!
//! The cost table is the committed default unless [`set_costs`] chose
//! another (`rmap-bench run --costs FILE`).

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use rmap_core::ReverseMap;
use rmap_core::locks::LockClass;
use rmap_metrics::*;
use rmap_registry::WithBackend;
use rmap_traces::scenario::Form;
use rmap_traces::scenario::scaling::{CPUS_UNIT, Workload};

use crate::costs::{Costs, PS_PER_NS};
use crate::engine::{self, Report};
use crate::model::ModelSource;

/// One engine run of a workload on one backend.
#[derive(Debug)]
pub struct Outcome {
    pub report: Report,
    pub op_errors: u64,
    /// The classes the era has, in lock order.
    pub classes: Vec<LockClass>,
    /// Host time the run took (never written to results: it varies).
    pub wall: Duration,
}

struct Job<'a> {
    w: Workload,
    costs: &'a Costs,
}

impl WithBackend for Job<'_> {
    type Out = Result<Outcome, String>;
    fn run<R: rmap_core::Presets>(self, rmap: R) -> Self::Out {
        run_model(self.w, rmap, self.costs)
    }
}

/// Run `w` on `rmap` with `costs`.
pub fn run_model<R: ReverseMap>(w: Workload, rmap: R, costs: &Costs) -> Result<Outcome, String> {
    let t0 = Instant::now();
    let mut src = ModelSource::new(w, rmap, costs)?;
    let classes = src
        .sys
        .core
        .locks
        .protocol()
        .order
        .iter()
        .map(|s| s.class)
        .collect();
    let report = engine::run(&mut src, costs)?;
    Ok(Outcome {
        report,
        op_errors: src.op_errors,
        classes,
        wall: t0.elapsed(),
    })
}

/// Run the workload of `form` at `cpus` on the backend `spec`. Errors: not
/// a scaling form, a CPU count it cannot build, an unknown backend, or a
/// failed run.
pub fn run_form(form: &Form, cpus: u64, spec: &str, costs: &Costs) -> Result<Outcome, String> {
    let w = rmap_traces::scenario::scaling::workload(form, cpus)
        .ok_or_else(|| format!("`{}` is not a scaling scenario", form.full_name()))??;
    rmap_registry::with_backend(spec, Job { w, costs })?
        .map_err(|e| format!("{} at {cpus} CPUs on {spec}: {e}", form.full_name()))
}

static COSTS: OnceLock<Costs> = OnceLock::new();

/// Use `c` instead of the default cost table for every later [`rows`] call
/// of this process. Errors when a table was already chosen.
pub fn set_costs(c: Costs) -> Result<(), String> {
    COSTS
        .set(c)
        .map_err(|_| "the cost table was already chosen".to_string())
}

/// The cost table [`rows`] uses.
pub fn costs() -> &'static Costs {
    COSTS.get_or_init(Costs::default_table)
}

/// 1-CPU throughputs by (form, spec).
static BASELINE: Mutex<BTreeMap<(String, String), f64>> = Mutex::new(BTreeMap::new());

fn baseline(form: &Form, spec: &str, costs: &Costs) -> Result<f64, String> {
    let key = (form.full_name(), spec.to_string());
    if let Some(v) = BASELINE.lock().map_err(|e| e.to_string())?.get(&key) {
        return Ok(*v);
    }
    let v = run_form(form, 1, spec, costs)?.report.ops_per_s();
    BASELINE.lock().map_err(|e| e.to_string())?.insert(key, v);
    Ok(v)
}

/// The result rows of `form` at `cpus` CPUs on backend `spec`
/// ([`rmap_metrics::SCALING`]; the per-class wait shares for the classes
/// the era has). Errors as [`run_form`].
pub fn rows(form: &Form, cpus: u64, spec: &str) -> Result<Vec<Row>, String> {
    let costs = costs();
    let out = run_form(form, cpus, spec, costs)?;
    let thr = out.report.ops_per_s();
    if cpus == 1 {
        BASELINE
            .lock()
            .map_err(|e| e.to_string())?
            .insert((form.full_name(), spec.to_string()), thr);
    }
    let base = if cpus == 1 {
        thr
    } else {
        baseline(form, spec, costs)?
    };
    let speedup = if base > 0.0 { thr / base } else { 0.0 };
    let key = RowKey {
        scenario: form.full_name(),
        size: cpus,
        size_unit: CPUS_UNIT.to_string(),
        backend: spec.to_string(),
    };
    // Virtual time is exact: one sample, no interval.
    Ok(values(&out, speedup)
        .into_iter()
        .map(|(metric, value)| {
            Row::from_samples(&key, metric.name, metric.unit, &[value], 1, false)
        })
        .collect())
}

/// The metric values of one run, in [`rmap_metrics::SCALING`] order.
pub fn values(out: &Outcome, speedup: f64) -> Vec<(Metric, f64)> {
    let r = &out.report;
    let mut v = vec![
        (VCPU_OPS_PER_S, r.ops_per_s()),
        (SPEEDUP, speedup),
        (LOCK_WAIT_SHARE, r.wait_share()),
    ];
    for (c, m) in LockClass::ALL.iter().zip(LOCK_WAIT_SHARE_BY_CLASS) {
        if out.classes.contains(c) {
            v.push((*m, r.wait_share_of(*c)));
        }
    }
    let p99 = |h: &hdrhistogram::Histogram<u64>| {
        if h.is_empty() {
            None
        } else {
            Some(h.value_at_quantile(0.99) as f64)
        }
    };
    if let Some(x) = p99(&r.op_ns) {
        v.push((OP_NS_P99, x));
    }
    if let Some(x) = p99(&r.walk_hold_ns) {
        v.push((WALK_HOLD_NS_P99, x));
    }
    if r.walks > 0 {
        v.push((
            WALK_WAIT_NS_MEAN,
            r.walk_wait as f64 / PS_PER_NS as f64 / r.walks as f64,
        ));
    }
    v.push((
        FAILED_TRYLOCKS,
        r.failed_trylocks.iter().sum::<u64>() as f64,
    ));
    v.push((PAGES_SKIPPED, r.pages_skipped as f64));
    v.push((VIRTUAL_NS, r.makespan as f64 / PS_PER_NS as f64));
    v.push((OP_ERRORS, out.op_errors as f64));
    v
}
