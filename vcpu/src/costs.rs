//! The cost table: what a unit of work and a lock operation cost in
//! virtual time.
//!
//! A cost file is JSON (the committed default is `vcpu/costs.json`, compiled
//! in; `rmap-bench calibrate` writes one for this host; `--costs FILE`
//! loads another):
//!
//! ```json
//! { "op_ns": 150, "wakeup_ns": 5000,
//!   "work_ns": { "vma_visit": 30, "pte_check": 40, ... every WorkKind },
//!   "locks": { "spin": { "acquire_ns": 10, "release_ns": 5, "handover_ns": 100 },
//!              ... every LockKind },
//!   "sources": { "vma_visit": "where the number comes from", ... } }
//! ```
//!
//! Numbers are nanoseconds (fractions allowed); the engine works in integer
//! picoseconds ([`Time`]), rounded once at load, so that every sum it makes
//! is exact and the same on every machine. Every work kind and every lock
//! kind must be present; a missing or negative number is an error naming
//! it. `op_ns` must be positive: it is the least an op costs, so that
//! virtual time always advances.

use std::collections::BTreeMap;

use rmap_core::locks::{LockKind, WORK_KINDS, WorkKind, WorkVec};
use serde::{Deserialize, Serialize};

/// Virtual time, in picoseconds.
pub type Time = u64;

/// Picoseconds per nanosecond.
pub const PS_PER_NS: u64 = 1000;

/// The lock kinds, in the order [`Costs::lock`] indexes them.
pub const LOCK_KINDS: [LockKind; 5] = [
    LockKind::Spin,
    LockKind::BitSpin,
    LockKind::Mutex,
    LockKind::Semaphore,
    LockKind::Rwsem,
];

/// The index of `k` in [`LOCK_KINDS`].
pub fn kind_index(k: LockKind) -> usize {
    match k {
        LockKind::Spin => 0,
        LockKind::BitSpin => 1,
        LockKind::Mutex => 2,
        LockKind::Semaphore => 3,
        LockKind::Rwsem => 4,
    }
}

/// The cost of one lock kind's operations, as written in a cost file (ns).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LockCostNs {
    /// Taking the lock when it is free.
    pub acquire_ns: f64,
    /// Releasing it.
    pub release_ns: f64,
    /// From the holder's release to the next waiter running with the lock:
    /// a cache-line transfer for a spinner, a wake-up for a sleeper.
    pub handover_ns: f64,
}

/// A cost file, as written (nanoseconds).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CostFile {
    #[serde(default)]
    pub about: String,
    /// Entering and leaving an op (a system call or a fault), once per op.
    pub op_ns: f64,
    /// Waking a sleeping reclaimer (kswapd).
    pub wakeup_ns: f64,
    /// Per unit of each work kind, by [`WorkKind::name`].
    pub work_ns: BTreeMap<String, f64>,
    /// Per lock kind, by [`LockKind::name`].
    pub locks: BTreeMap<String, LockCostNs>,
    /// Where each number comes from (free text, by the same keys).
    #[serde(default)]
    pub sources: BTreeMap<String, String>,
}

/// One lock kind's costs in picoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct LockCost {
    pub acquire: Time,
    pub release: Time,
    pub handover: Time,
}

/// The cost table the engine uses (picoseconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Costs {
    pub op: Time,
    pub wakeup: Time,
    pub work: [Time; WORK_KINDS],
    /// By [`kind_index`].
    pub lock: [LockCost; 5],
}

/// The committed default cost file.
pub const DEFAULT_JSON: &str = include_str!("../costs.json");

fn ps(name: &str, ns: f64) -> Result<Time, String> {
    if !ns.is_finite() || !(0.0..=1e12).contains(&ns) {
        return Err(format!(
            "cost `{name}` = {ns}: expected a number of nanoseconds from 0 to 1e12"
        ));
    }
    Ok((ns * PS_PER_NS as f64).round() as Time)
}

impl Costs {
    /// The committed defaults.
    pub fn default_table() -> Costs {
        Costs::from_json(DEFAULT_JSON, "vcpu/costs.json").expect("the committed cost file is valid")
    }

    /// Parse a cost file; `name` is for messages. Errors: malformed JSON
    /// (with line and column), a missing work or lock kind, a bad number.
    pub fn from_json(text: &str, name: &str) -> Result<Costs, String> {
        let f: CostFile = serde_json::from_str(text)
            .map_err(|e| format!("{name}: {e} (expected a cost file)"))?;
        Costs::from_file(&f).map_err(|e| format!("{name}: {e}"))
    }

    /// Load a cost file from disk.
    pub fn load(path: &std::path::Path) -> Result<Costs, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        Costs::from_json(&text, &path.display().to_string())
    }

    /// Convert a parsed file. Errors as [`Costs::from_json`].
    pub fn from_file(f: &CostFile) -> Result<Costs, String> {
        let mut work = [0; WORK_KINDS];
        for k in WorkKind::ALL {
            let v = f
                .work_ns
                .get(k.name())
                .ok_or_else(|| format!("work_ns lacks `{}`", k.name()))?;
            work[k as usize] = ps(k.name(), *v)?;
        }
        if let Some(extra) = f
            .work_ns
            .keys()
            .find(|n| !WorkKind::ALL.iter().any(|k| k.name() == n.as_str()))
        {
            return Err(format!("work_ns has an unknown kind `{extra}`"));
        }
        let mut lock = [LockCost::default(); 5];
        for k in LOCK_KINDS {
            let c = f
                .locks
                .get(k.name())
                .ok_or_else(|| format!("locks lacks `{}`", k.name()))?;
            lock[kind_index(k)] = LockCost {
                acquire: ps("acquire_ns", c.acquire_ns)?,
                release: ps("release_ns", c.release_ns)?,
                handover: ps("handover_ns", c.handover_ns)?,
            };
        }
        if let Some(extra) = f
            .locks
            .keys()
            .find(|n| !LOCK_KINDS.iter().any(|k| k.name() == n.as_str()))
        {
            return Err(format!("locks has an unknown kind `{extra}`"));
        }
        let op = ps("op_ns", f.op_ns)?;
        if op == 0 {
            return Err("op_ns must be positive (an op must take time)".into());
        }
        Ok(Costs {
            op,
            wakeup: ps("wakeup_ns", f.wakeup_ns)?,
            work,
            lock,
        })
    }

    /// The time of `w` units of work.
    #[inline]
    pub fn of_work(&self, w: &WorkVec) -> Time {
        let mut t: Time = 0;
        for (n, c) in w.iter().zip(self.work) {
            t = t.saturating_add(n.saturating_mul(c));
        }
        t
    }

    /// The costs of lock kind `k`.
    #[inline]
    pub fn lock_of(&self, k: LockKind) -> LockCost {
        self.lock[kind_index(k)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_table_loads_and_is_positive() {
        let c = Costs::default_table();
        assert!(c.op > 0);
        assert!(c.work.iter().all(|&w| w > 0));
        for k in LOCK_KINDS {
            assert!(c.lock_of(k).handover > 0, "{k:?}");
        }
        // sleeping locks hand over slower than spinning ones
        assert!(c.lock_of(LockKind::Mutex).handover > c.lock_of(LockKind::Spin).handover);
    }

    #[test]
    fn bad_files_are_errors_that_name_the_problem() {
        let mut f: CostFile = serde_json::from_str(DEFAULT_JSON).unwrap();
        f.work_ns.remove("pte_copy");
        assert!(Costs::from_file(&f).unwrap_err().contains("pte_copy"));
        let mut f: CostFile = serde_json::from_str(DEFAULT_JSON).unwrap();
        f.work_ns.insert("pte_copy".into(), -1.0);
        assert!(Costs::from_file(&f).unwrap_err().contains("pte_copy"));
        f.work_ns.insert("pte_copy".into(), 1.0);
        f.work_ns.insert("nope".into(), 1.0);
        assert!(Costs::from_file(&f).unwrap_err().contains("nope"));
        let mut f: CostFile = serde_json::from_str(DEFAULT_JSON).unwrap();
        f.op_ns = 0.0;
        assert!(Costs::from_file(&f).unwrap_err().contains("op_ns"));
        let e = Costs::from_json("{", "x.json").unwrap_err();
        assert!(e.starts_with("x.json: "), "{e}");
        let mut f: CostFile = serde_json::from_str(DEFAULT_JSON).unwrap();
        f.locks.remove("rwsem");
        assert!(Costs::from_file(&f).unwrap_err().contains("rwsem"));
    }

    #[test]
    fn work_is_priced_exactly() {
        let c = Costs::default_table();
        let mut w = [0; WORK_KINDS];
        w[WorkKind::PteCopy as usize] = 3;
        w[WorkKind::VmaVisit as usize] = 2;
        assert_eq!(
            c.of_work(&w),
            3 * c.work[WorkKind::PteCopy as usize] + 2 * c.work[WorkKind::VmaVisit as usize]
        );
    }
}
