//! Property tests shared by every backend: random operation sequences
//! under memory pressure with swap, every merge policy and both `i_mmap`
//! shapes. After every step the full validation (invariants and the walk
//! against the scan oracle) and the data-integrity check must pass, no input
//! may panic, and at the end everything must come apart cleanly. Each
//! backend's tests call [`random_ops_under_pressure`] and
//! [`read_only_ops_under_pressure`] for each of its presets.

use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};

use crate::addr::TASK_SIZE;
use crate::ops::{Access, Advice, MapFlags, MergePolicy, Op, Prot, RemapFlags, StatsTarget};
use crate::rmap::ReverseMap;
use crate::{Config, IMapShape, OpError, System};

const BASE: u64 = 0x1000_0000_0000;
const PAGES: u64 = 24;

fn addr() -> impl Strategy<Value = u64> {
    prop_oneof![
        12 => (0..PAGES).prop_map(|p| BASE + p * 4096),
        1 => Just(TASK_SIZE - 4096),
        1 => Just(u64::MAX - 4095),
        1 => (0..PAGES).prop_map(|p| BASE + p * 4096 + 100),
    ]
}

fn len() -> impl Strategy<Value = u64> {
    prop_oneof![
        12 => (1..8u64).prop_map(|n| n * 4096),
        1 => Just(0),
        1 => Just(5000),
        1 => Just(u64::MAX),
        1 => Just(1 << 47),
    ]
}

fn prot() -> impl Strategy<Value = Prot> {
    prop_oneof![4 => Just(Prot::RW), 2 => Just(Prot::R), 1 => (0u8..8).prop_map(Prot)]
}

fn pid() -> impl Strategy<Value = u32> {
    1u32..5
}

fn op(writes: bool) -> impl Strategy<Value = Op> {
    let access = if writes {
        prop_oneof![Just(Access::Read), Just(Access::Write)].boxed()
    } else {
        Just(Access::Read).boxed()
    };
    prop_oneof![
        6 => (pid(), addr(), len(), prot(), any::<(bool, bool, bool)>(), prop::option::of(0..2usize), 0..4u64).prop_map(
            |(pid, addr, len, prot, (shared, noreserve, many), file, off)| Op::Mmap {
                pid, addr, len, prot,
                flags: MapFlags { shared, noreserve, many_prots: many },
                file: file.map(|i| ["f0", "f1"][i].to_string()),
                off: if file.is_some() { off * 4096 } else { 0 },
            }),
        2 => (pid(), addr(), len()).prop_map(|(pid, addr, len)| Op::Munmap { pid, addr, len }),
        3 => (pid(), addr(), len(), prot()).prop_map(|(pid, addr, len, prot)| Op::Mprotect { pid, addr, len, prot }),
        8 => (pid(), addr(), len(), access).prop_map(|(pid, addr, len, access)| Op::Touch { pid, addr, len, access }),
        3 => (pid(), addr(), len(), prop::sample::select(Advice::ALL.to_vec())).prop_map(|(pid, addr, len, advice)| Op::Madvise { pid, addr, len, advice }),
        1 => (pid(), addr(), len(), 0..6u64, prop::option::of(prot())).prop_map(|(pid, addr, len, pgoff, prot)| Op::Remap { pid, addr, len, pgoff, prot }),
        3 => (pid(), addr(), len(), len(), any::<(bool, bool, bool)>(), addr()).prop_map(
            |(pid, addr, old_len, new_len, (maymove, fixed, dontunmap), to)| Op::Mremap {
                pid, addr, old_len, new_len,
                flags: RemapFlags { maymove: maymove || fixed, fixed: fixed.then_some(to), dontunmap },
            }),
        2 => (pid(), pid()).prop_map(|(parent, child)| Op::Fork { parent, child }),
        1 => pid().prop_map(|pid| Op::Exit { pid }),
        1 => pid().prop_map(|pid| Op::Exec { pid }),
        1 => (0..64u64).prop_map(|pages| Op::Reclaim { pages }),
        1 => pid().prop_map(|pid| Op::Stats(StatsTarget::Pid(pid))),
        1 => pid().prop_map(|pid| Op::Dump { pid }),
    ]
}

/// Totals over every case, so a test can assert that its cases really
/// exercised swap, COW and fork (a generator that drifted into trivial
/// sequences would otherwise pass silently).
#[derive(Default, Debug, Clone, Copy)]
struct Seen {
    /// Most anonymous pages (in RAM outside the swap cache, or in swap)
    /// alive after any step.
    max_anon: u64,
    swapouts: u64,
    swapins: u64,
    cow: u64,
    forks: u64,
    writebacks: u64,
    ok_ops: u64,
    /// mremap calls that succeeded, and those that moved pages.
    remaps: u64,
    moves: u64,
    /// Anonymous pages copied because a backend could not follow a page to
    /// a second address (anonmm).
    move_cows: u64,
}

/// Point an op at live processes: a generated pid picks one of the live
/// ones; a fork's child is the lowest unused id (at most 6 processes);
/// the last process never exits.
fn materialize(op: &Op, live: &[u32]) -> Option<Op> {
    let pick = |p: u32| live[p as usize % live.len()];
    let mut op = op.clone();
    match &mut op {
        Op::Fork { parent, child } => {
            if live.len() >= 6 {
                return None;
            }
            *parent = pick(*parent);
            *child = (1..).find(|c| !live.contains(c)).expect("a free id");
        }
        Op::Exit { pid } => {
            if live.len() == 1 {
                return None;
            }
            *pid = pick(*pid);
        }
        other => {
            if let Some(pid) = other.pid_mut() {
                *pid = pick(*pid);
            }
        }
    }
    Some(op)
}

/// The start of every case: two files, 12 anonymous pages and 6 pages of a
/// shared file mapping, all written.
fn prelude() -> [Op; 5] {
    [
        Op::File {
            name: "f0".into(),
            size: 6 * 4096,
        },
        Op::File {
            name: "f1".into(),
            size: 3 * 4096 + 10,
        },
        Op::Mmap {
            pid: 1,
            addr: BASE,
            len: 12 * 4096,
            prot: Prot::RW,
            flags: MapFlags::default(),
            file: None,
            off: 0,
        },
        Op::Mmap {
            pid: 1,
            addr: BASE + 12 * 4096,
            len: 6 * 4096,
            prot: Prot::RW,
            flags: MapFlags {
                shared: true,
                ..MapFlags::default()
            },
            file: Some("f0".into()),
            off: 0,
        },
        Op::Touch {
            pid: 1,
            addr: BASE,
            len: 18 * 4096,
            access: Access::Write,
        },
    ]
}

/// PTEs zapped and set so far.
fn pte_moves<R: ReverseMap>(sys: &System<R>) -> (u64, u64) {
    let w = sys.core.locks.work_done();
    (
        w[crate::locks::WorkKind::PteZap as usize],
        w[crate::locks::WorkKind::PteSet as usize],
    )
}

fn run<R: ReverseMap>(
    rmap: R,
    ops: &[Op],
    cfg: Config,
    seen: &mut Seen,
) -> Result<(), TestCaseError> {
    let mut sys = System::new(cfg, rmap).map_err(TestCaseError::fail)?;
    for op in &prelude() {
        sys.apply(op)
            .map_err(|e| TestCaseError::fail(format!("prelude {op:?}: {e}")))?;
    }
    for (i, op) in ops.iter().enumerate() {
        let live: Vec<u32> = sys.pids.keys().copied().collect();
        let Some(op) = materialize(op, &live) else {
            continue;
        };
        let before = pte_moves(&sys);
        match sys.apply(&op) {
            Ok(_) => {
                seen.ok_ops += 1;
                if matches!(op, Op::Mremap { .. }) {
                    seen.remaps += 1;
                    // a moved PTE is zapped and set; a shrink only zaps
                    let after = pte_moves(&sys);
                    seen.moves += u64::from(after.0 > before.0 && after.1 > before.1);
                }
            }
            Err(OpError::Errno(_)) => {}
            Err(e) => return Err(TestCaseError::fail(format!("step {i} {op:?}: {e}"))),
        }
        if let Err(e) = sys.validate() {
            return Err(TestCaseError::fail(format!("step {i} {op:?}: {e}")));
        }
        if let Err(e) = sys.check_integrity() {
            return Err(TestCaseError::fail(format!(
                "step {i} {op:?}: integrity: {e}"
            )));
        }
        let in_ram = sys
            .core
            .frames
            .touched()
            .filter(|&p| {
                let f = sys.core.frames.get(p);
                f.has(crate::frame::flags::USED)
                    && f.has(crate::frame::flags::ANON)
                    && !f.has(crate::frame::flags::SWAPCACHE)
            })
            .count() as u64;
        seen.max_anon = seen.max_anon.max(in_ram + sys.core.swap.used());
    }
    let c = sys.core.counters;
    seen.swapouts += c.swapouts;
    seen.swapins += c.swapins;
    seen.cow += c.cow_faults;
    seen.forks += c.forks;
    seen.writebacks += c.writebacks;
    seen.move_cows += c.move_cows;
    // Everything must come apart cleanly.
    for pid in sys.pids.keys().copied().collect::<Vec<_>>() {
        sys.apply(&Op::Exit { pid }).unwrap();
    }
    sys.validate().map_err(TestCaseError::fail)?;
    prop_assert_eq!(sys.core.vmas.live(), 0);
    prop_assert_eq!(sys.core.pt.live(), 0);
    prop_assert_eq!(sys.core.swap.used(), 0, "swap slots leaked");
    Ok(())
}

/// The model settings of one case; protection keys are on for an even
/// RAM size, so that both settings are exercised without another draw.
fn config(merge: MergePolicy, tree: bool, ram_pages: u64) -> Config {
    Config {
        ram: ram_pages * 4096,
        pkeys: ram_pages % 2 == 0,
        many_prots_patch: ram_pages % 3 == 0,
        swap: 64 * 4096,
        merge,
        i_mmap: if tree {
            IMapShape::IntervalTree
        } else {
            IMapShape::List
        },
        ..Config::default()
    }
}

/// A runner with a fixed seed, so that a run is the same on every machine;
/// `RMAP_PROPTEST_SEED=N` explores another part of the space.
fn runner(cases: u32) -> TestRunner {
    let seed: u64 = std::env::var("RMAP_PROPTEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_0001);
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = proptest::test_runner::TestRng::from_seed(
        proptest::test_runner::RngAlgorithm::ChaCha,
        &bytes,
    );
    TestRunner::new_with_rng(
        ProptestConfig {
            cases,
            failure_persistence: None,
            ..ProptestConfig::default()
        },
        rng,
    )
}

/// Writes, forks, swap and reclaim under pressure, with every merge policy
/// and both i_mmap shapes: nothing lost, every invariant holds after every
/// step, and the cases really swap, COW and fork. Panics with the shrunk
/// failing sequence.
pub fn random_ops_under_pressure<R: ReverseMap>(make: impl Fn() -> R, cases: u32) {
    let seen = std::cell::RefCell::new(Seen::default());
    let strategy = (
        prop::collection::vec(op(true), 1..80),
        prop_oneof![
            Just(MergePolicy::Both),
            Just(MergePolicy::PrevOnly),
            Just(MergePolicy::None)
        ],
        any::<bool>(),
        32u64..96,
    );
    let result = runner(cases).run(&strategy, |(ops, merge, tree, ram)| {
        run(
            make(),
            &ops,
            config(merge, tree, ram),
            &mut seen.borrow_mut(),
        )
    });
    if let Err(e) = result {
        panic!("{}:{} {e}", make().name(), make().preset());
    }
    let seen = seen.into_inner();
    let per = |x: u64| x * 512 / u64::from(cases.max(1));
    assert!(
        per(seen.swapouts) > 100 && per(seen.swapins) > 50,
        "too little swap traffic: {seen:?}"
    );
    assert!(
        per(seen.cow) > 100 && per(seen.forks) > 50 && per(seen.writebacks) > 10,
        "too little COW/fork/writeback: {seen:?}"
    );
    assert!(
        per(seen.remaps) > 100 && per(seen.moves) > 20,
        "too few mremaps that moved pages: {seen:?}"
    );
}

/// Read-only sequences after a written prelude: read faults create no
/// anonymous pages, so no copy-on-write ever happens.
pub fn read_only_ops_under_pressure<R: ReverseMap>(make: impl Fn() -> R, cases: u32) {
    let seen = std::cell::RefCell::new(Seen::default());
    let strategy = prop::collection::vec(op(false), 1..60);
    let result = runner(cases).run(&strategy, |ops| {
        let ops: Vec<Op> = ops
            .into_iter()
            .filter(|o| {
                !matches!(
                    o,
                    Op::Madvise {
                        advice: Advice::GuardInstall,
                        ..
                    }
                )
            })
            .collect();
        run(
            make(),
            &ops,
            config(MergePolicy::Both, true, 64),
            &mut seen.borrow_mut(),
        )
    });
    if let Err(e) = result {
        panic!("{}:{} {e}", make().name(), make().preset());
    }
    let seen = seen.into_inner();
    // The prelude wrote 12 anonymous pages; reads, forks, swap, reclaim
    // and mremap may move and share them but never make new ones, except
    // the copies a backend that cannot follow a shared page to a second
    // address makes (anonmm).
    assert!(
        seen.max_anon >= 12 && seen.max_anon <= 12 + seen.move_cows,
        "read-only steps created anonymous pages: {seen:?}"
    );
    assert!(
        seen.ok_ops * 256 / u64::from(cases.max(1)) > 500,
        "{seen:?}"
    );
}

/// The shared property tests, run on the scan baseline.
#[cfg(test)]
mod scan_tests {
    use super::{random_ops_under_pressure, read_only_ops_under_pressure};
    use crate::ops::{ConfigItem, MergePolicy};
    use crate::{Config, Scan};
    #[test]
    fn scan_random_ops_under_pressure() {
        random_ops_under_pressure(Scan::default, 512);
    }

    #[test]
    fn scan_read_only_ops_under_pressure() {
        read_only_ops_under_pressure(Scan::default, 256);
    }

    #[test]
    fn config_items_apply() {
        let mut c = Config::default();
        crate::replay::apply_config(
            &mut c,
            &[
                ConfigItem::Ram(1 << 20),
                ConfigItem::Merge(MergePolicy::None),
            ],
        );
        assert_eq!((c.ram, c.merge), (1 << 20, MergePolicy::None));
    }
}
