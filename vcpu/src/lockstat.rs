//! A lock_stat-like summary of one engine run (`rmap-bench vcpu`): per
//! class, acquisitions, how many waited, the wait and hold time and their
//! share of the CPU time in ops, failed trylocks; then the run's totals.

use std::fmt::Write as _;

use rmap_core::locks::LockClass;

use crate::costs::{PS_PER_NS, Time};
use crate::suite::Outcome;

fn ms(t: Time) -> f64 {
    t as f64 / (PS_PER_NS as f64 * 1e6)
}

/// The summary as text (a table, then one line per total).
pub fn text(o: &Outcome) -> String {
    let r = &o.report;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<14} {:>10} {:>10} {:>12} {:>7} {:>12} {:>7} {:>9}",
        "class", "acquired", "contended", "wait_ms", "wait%", "hold_ms", "hold%", "try_fail"
    );
    for &c in &o.classes {
        let i = c as usize;
        let _ = writeln!(
            s,
            "{:<14} {:>10} {:>10} {:>12.3} {:>6.1}% {:>12.3} {:>6.1}% {:>9}",
            c.name(),
            r.acquired[i],
            r.contended[i],
            ms(r.wait[i]),
            100.0 * r.wait_share_of(c),
            ms(r.hold[i]),
            100.0 * r.hold_share_of(c),
            r.failed_trylocks[i]
        );
    }
    let spin: Time = r.spin.iter().sum();
    let p = |h: &hdrhistogram::Histogram<u64>, q: f64| {
        if h.is_empty() {
            0
        } else {
            h.value_at_quantile(q)
        }
    };
    let _ = writeln!(
        s,
        "\ncpus {} ({} ops by workers, {} in all); virtual time {:.3} ms{}; {:.0} ops/s",
        r.cpus,
        r.worker_ops,
        r.ops,
        ms(r.makespan),
        if r.cut_off {
            " (cut off: the window ended before the streams did)"
        } else {
            ""
        },
        r.ops_per_s()
    );
    let _ = writeln!(
        s,
        "CPU time in ops {:.3} ms: waiting {:.1}% (spinning {:.1}%, sleeping {:.1}%)",
        ms(r.inflight),
        100.0 * r.wait_share(),
        100.0 * spin as f64 / r.inflight.max(1) as f64,
        100.0 * (r.wait_total() - spin) as f64 / r.inflight.max(1) as f64
    );
    let _ = writeln!(
        s,
        "main op latency p50 {} ns, p99 {} ns, max {} ns",
        p(&r.op_ns, 0.5),
        p(&r.op_ns, 0.99),
        r.op_ns.max()
    );
    let _ = writeln!(
        s,
        "walk locks: {} taken, mean wait {:.0} ns, hold p50 {} ns, p99 {} ns; pages skipped {}",
        r.walks,
        r.walk_wait as f64 / PS_PER_NS as f64 / r.walks.max(1) as f64,
        p(&r.walk_hold_ns, 0.5),
        p(&r.walk_hold_ns, 0.99),
        r.pages_skipped
    );
    let _ = writeln!(
        s,
        "syscalls failed {}; recursive acquisitions {}; host time {:.2} s",
        o.op_errors,
        r.recursive,
        o.wall.as_secs_f64()
    );
    s
}

/// Every class name (for tests and help).
pub fn class_names() -> Vec<&'static str> {
    LockClass::ALL.iter().map(|c| c.name()).collect()
}
