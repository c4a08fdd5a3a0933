//! Instruction counts of the model's operations under valgrind's callgrind
//! (the `gungraun` crate, formerly iai-callgrind): the operations of the
//! criterion groups in `ops.rs` (`common::Kind`: fork, exit, fault,
//! reclaim, mprotect, walk), on every backend preset at 256 pages, with
//! the setup outside the measured part. Instruction counts are nearly
//! independent of the machine's load, so they show a change of cost that
//! wall time on a busy 2-core machine hides; the suite's verdicts rest on
//! work units (`docs/benchmarks.md` says which verdict rests on what), and
//! these counts are the check that work units track real cost.
//!
//! Needs `valgrind` and `gungraun-runner` of the same version as the
//! `gungraun` crate (`cargo install gungraun-runner --version 0.20.0`; the
//! README's set-up does both). Without them the bench says what is missing
//! and exits 0, so `cargo bench` still runs the criterion benches.
//!
//! ```sh
//! cargo bench -p rmap-bench --bench instructions
//! ```

// Shared with `ops.rs`, which also uses the sizes and names.
#[allow(dead_code)]
mod common;

/// What is missing to run under callgrind, if anything.
fn missing() -> Option<String> {
    let on_path = |exe: &str| {
        std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(exe).is_file()))
    };
    if !on_path("valgrind") {
        return Some("valgrind is not installed (apt-get install valgrind)".into());
    }
    if option_env!("GUNGRAUN_RUNNER").is_none() && !on_path("gungraun-runner") {
        return Some(
            "gungraun-runner is not installed (cargo install gungraun-runner --version 0.20.0)"
                .into(),
        );
    }
    None
}

mod callgrind {
    use std::hint::black_box;

    use gungraun::prelude::*;

    use super::common::{Kind, Prepared, prepare};

    /// Pages per benchmark: the smaller criterion size (callgrind runs
    /// some 50 times slower than the machine).
    const PAGES: u64 = 256;

    fn specs() -> Vec<String> {
        rmap_registry::all_specs()
    }

    fn ready(kind: Kind) -> impl Fn(String) -> Box<dyn Prepared> {
        move |spec| prepare(kind, &spec, PAGES)
    }

    fn fork(spec: String) -> Box<dyn Prepared> {
        ready(Kind::Fork)(spec)
    }
    fn exit(spec: String) -> Box<dyn Prepared> {
        ready(Kind::Exit)(spec)
    }
    fn fault(spec: String) -> Box<dyn Prepared> {
        ready(Kind::Fault)(spec)
    }
    fn reclaim(spec: String) -> Box<dyn Prepared> {
        ready(Kind::Reclaim)(spec)
    }
    fn mprotect(spec: String) -> Box<dyn Prepared> {
        ready(Kind::Mprotect)(spec)
    }
    fn walk(spec: String) -> Box<dyn Prepared> {
        ready(Kind::Walk)(spec)
    }

    /// Runs the prepared operation; the system is returned so that its drop
    /// is not counted.
    fn go(mut p: Box<dyn Prepared>) -> Box<dyn Prepared> {
        p.run();
        black_box(p)
    }

    #[library_benchmark]
    #[benches::presets(iter = specs(), setup = fork)]
    fn bench_fork(p: Box<dyn Prepared>) -> Box<dyn Prepared> {
        go(p)
    }
    #[library_benchmark]
    #[benches::presets(iter = specs(), setup = exit)]
    fn bench_exit(p: Box<dyn Prepared>) -> Box<dyn Prepared> {
        go(p)
    }
    #[library_benchmark]
    #[benches::presets(iter = specs(), setup = fault)]
    fn bench_fault(p: Box<dyn Prepared>) -> Box<dyn Prepared> {
        go(p)
    }
    #[library_benchmark]
    #[benches::presets(iter = specs(), setup = reclaim)]
    fn bench_reclaim(p: Box<dyn Prepared>) -> Box<dyn Prepared> {
        go(p)
    }
    #[library_benchmark]
    #[benches::presets(iter = specs(), setup = mprotect)]
    fn bench_mprotect(p: Box<dyn Prepared>) -> Box<dyn Prepared> {
        go(p)
    }
    #[library_benchmark]
    #[benches::presets(iter = specs(), setup = walk)]
    fn bench_walk(p: Box<dyn Prepared>) -> Box<dyn Prepared> {
        go(p)
    }

    library_benchmark_group!(
        name = ops;
        benchmarks = bench_fork, bench_exit, bench_fault, bench_reclaim, bench_mprotect, bench_walk
    );

    main!(library_benchmark_groups = ops);

    pub fn run() {
        main();
    }
}

fn main() {
    // The runner starts this binary again under valgrind with
    // `--gungraun-run ...`: that run goes straight to the harness.
    let inner = std::env::args()
        .nth(1)
        .is_some_and(|a| a == "--gungraun-run");
    if !inner && let Some(why) = missing() {
        eprintln!("instructions: skipped: {why}");
        return;
    }
    callgrind::run();
}
