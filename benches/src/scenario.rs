//! Scenarios: named generators of op streams, sized by one parameter.
//!
//! A scenario is a pure function `(variant, size) -> Vec<Op>`: the same
//! arguments give the same ops on every machine (any randomness comes from a
//! `ChaCha8Rng` seeded from [`SCENARIO_SEED`] and the size). The first op is
//! always a `config` line, so a scenario written out with
//! `rmap-bench trace SCENARIO --size N` replays exactly as the runner runs it.
//!
//! A scenario with variants (merge policy, `many_prots`, how nonlinear
//! mappings are made, which real program) is reported under the name
//! `BASE/VARIANT`, e.g. `heap-churn/merge=none`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rmap_core::ops::{Access, Advice, ConfigItem, MapFlags, MergePolicy, Prot};
use rmap_core::{Op, PAGE_SIZE, Pid};

/// The seed every scenario's random choices start from.
pub const SCENARIO_SEED: u64 = 0x524d_4150_4c41_4221;

/// One scenario.
pub struct Scenario {
    /// Base name, e.g. `heap-churn`.
    pub name: &'static str,
    /// Variant suffixes (`merge=none`, ...); empty when there is one form.
    pub variants: fn() -> Vec<&'static str>,
    /// What it does, one sentence.
    pub about: &'static str,
    /// What it exposes, one sentence (for the report).
    pub exposes: &'static str,
    /// What `size` counts (`MiB`, `children`, `VMAs`, ...).
    pub size_unit: &'static str,
    /// A size that builds and runs in milliseconds on every backend (tests).
    pub tiny_size: u64,
    /// Sizes for `run --quick` (one, small).
    pub quick_sizes: &'static [u64],
    /// Sizes for a full run (ascending).
    pub full_sizes: &'static [u64],
    /// The metrics the report tabulates and plots for this scenario, most
    /// important first.
    pub key_metrics: &'static [&'static str],
    /// Build the ops for `variant` (one of `variants()`, or `""` when there
    /// are none) and `size`. Errors say why the size is impossible.
    pub build: fn(variant: &str, size: u64) -> Result<Vec<Op>, String>,
}

/// One runnable scenario form: a scenario and one of its variants.
#[derive(Clone, Copy)]
pub struct Form {
    pub scenario: &'static Scenario,
    /// `""` when the scenario has no variants.
    pub variant: &'static str,
}

impl Form {
    /// `BASE` or `BASE/VARIANT`.
    pub fn full_name(&self) -> String {
        if self.variant.is_empty() {
            self.scenario.name.to_string()
        } else {
            format!("{}/{}", self.scenario.name, self.variant)
        }
    }
    pub fn build(&self, size: u64) -> Result<Vec<Op>, String> {
        (self.scenario.build)(self.variant, size)
    }
}

fn no_variants() -> Vec<&'static str> {
    Vec::new()
}

/// Every scenario, in report order.
pub static SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "fork-storm",
        variants: no_variants,
        about: "a parent writes N MiB of anonymous memory, forks 4 children that stay alive together, each child writes its own eighth, the children exit, then the parent",
        exposes: "fork and exit cost per page, and the rmap metadata at the peak",
        size_unit: "MiB",
        tiny_size: 1,
        quick_sizes: &[16],
        full_sizes: &[16, 64, 256],
        key_metrics: &[
            "fork_ns_per_page",
            "exit_ns_per_page",
            "kernel_bytes_peak",
            "pte_chain_peak",
            "anon_vma_chain_peak",
            "time_ns",
        ],
        build: fork_storm,
    },
    Scenario {
        name: "fork-chain",
        variants: no_variants,
        about: "each generation forks the next, which writes a page, and exits",
        exposes: "anon_vma growth along a chain of forks (unbounded only with avc-2.6.34)",
        size_unit: "generations",
        tiny_size: 20,
        quick_sizes: &[1000],
        full_sizes: &[500, 2000, 8000],
        key_metrics: &[
            "anon_vma_peak",
            "anon_vma_chain_peak",
            "kernel_bytes_peak",
            "fork_ns_per_page",
            "time_ns",
        ],
        build: fork_chain,
    },
    Scenario {
        name: "cow-server",
        variants: no_variants,
        about: "a parent with a heap forks many children; each child COW-writes the parent's pages and fills the rest of its heap; then reclaim",
        exposes: "rmap walk length per reclaimed page (the AIM7 story: one family-wide list against per-process anon_vmas)",
        size_unit: "children",
        tiny_size: 8,
        quick_sizes: &[200],
        full_sizes: &[100, 200, 400],
        key_metrics: &[
            "walk_vmas_visited_per_walk",
            "walk_ptes_checked_per_walk",
            "reclaim_pages_per_s",
            "kernel_bytes_peak",
            "time_ns",
        ],
        build: cow_server,
    },
    Scenario {
        name: "file-share",
        variants: no_variants,
        about: "many processes map one shared library as ld.so does (r-x text, r-- relro, rw- data, anonymous bss) and touch it; then reclaim",
        exposes: "i_mmap walks against per-page chains for widely shared file pages",
        size_unit: "processes",
        tiny_size: 4,
        quick_sizes: &[100],
        full_sizes: &[100, 200, 500],
        key_metrics: &[
            "walk_vmas_visited_per_walk",
            "walk_ptes_checked_per_walk",
            "kernel_bytes_peak",
            "pte_chain_peak",
            "reclaim_pages_per_s",
            "time_ns",
        ],
        build: file_share,
    },
    Scenario {
        name: "db-window",
        variants: no_variants,
        about: "one process maps one shared file as thousands of one-page windows at scattered offsets, writes them, then reclaim",
        exposes: "the i_mmap list's worst case: a list walk visits every window, an interval tree about one",
        size_unit: "windows",
        tiny_size: 16,
        quick_sizes: &[2000],
        full_sizes: &[1000, 2000, 4000],
        key_metrics: &[
            "walk_vmas_visited_per_walk",
            "reclaim_pages_per_s",
            "kernel_bytes_peak",
            "time_ns",
        ],
        build: db_window,
    },
    Scenario {
        name: "nonlinear",
        variants: nonlinear_variants,
        about: "a file's pages mapped in reverse order, by remap_file_pages inside one VMA (remap) or by one VMA per page (emulated); read; reclaim",
        exposes: "nonlinear scanning against VMA count",
        size_unit: "pages",
        tiny_size: 16,
        quick_sizes: &[1000],
        full_sizes: &[1000, 2000, 4000],
        key_metrics: &[
            "time_ns",
            "kernel_bytes_peak",
            "vmas_peak",
            "walk_ptes_checked_per_walk",
            "walk_vmas_visited_per_walk",
            "reclaim_pages_per_s",
        ],
        build: nonlinear,
    },
    Scenario {
        name: "uml",
        variants: many_prots_variants,
        about: "a UML guest's address space: single pages of one physical-memory file at scattered offsets with mixed protections, touched and reprotected",
        exposes: "VMA count, metadata bytes, mprotect and fault cost with and without many_prots VMAs",
        size_unit: "pages",
        tiny_size: 16,
        quick_sizes: &[4000],
        full_sizes: &[2000, 8000, 32000],
        key_metrics: &[
            "vmas_peak",
            "kernel_bytes_peak",
            "mprotect_ns_per_call",
            "fault_ns_p50",
            "time_ns",
        ],
        build: uml,
    },
    Scenario {
        name: "glibc-libs",
        variants: many_prots_variants,
        about: "hundreds of shared libraries mapped as 4 file VMAs (r--, r-x, r--, rw-) plus an anonymous bss each, touched; a fork",
        exposes: "VMAs per library (5 without many_prots, 2 with)",
        size_unit: "libraries",
        tiny_size: 4,
        quick_sizes: &[200],
        full_sizes: &[100, 300, 1000],
        key_metrics: &[
            "vmas_peak",
            "kernel_bytes_peak",
            "fork_ns_per_page",
            "mprotect_ns_per_call",
            "time_ns",
        ],
        build: glibc_libs,
    },
    Scenario {
        name: "heap-churn",
        variants: merge_variants,
        about: "a heap grown by adjacent two-page allocations, every fourth allocation protecting a range across two of them read-only and back",
        exposes: "VMA entries left by each merge policy (none, old Mach prev-only, Linux both)",
        size_unit: "allocations",
        tiny_size: 16,
        quick_sizes: &[2000],
        full_sizes: &[1000, 5000, 20000],
        key_metrics: &[
            "vmas_end",
            "vmas_peak",
            "kernel_bytes_peak",
            "mprotect_ns_per_call",
            "time_ns",
        ],
        build: heap_churn,
    },
    Scenario {
        name: "remerge",
        variants: no_variants,
        about: "adjacent one-page regions with alternating protections, written one by one (in one process, and across a fork), then mprotected to one protection",
        exposes: "how many VMAs are left when anon_vmas decide whether neighbours may merge",
        size_unit: "regions",
        tiny_size: 16,
        quick_sizes: &[1000],
        full_sizes: &[500, 2000, 8000],
        key_metrics: &[
            "vmas_end",
            "anon_vma_peak",
            "kernel_bytes_peak",
            "mprotect_ns_per_call",
        ],
        build: remerge,
    },
    Scenario {
        name: "guard-fork",
        variants: no_variants,
        about: "guard regions installed on never-faulted VMAs, then a fork whose child reads around the guards",
        exposes: "anon_vmas allocated only to carry guard markers",
        size_unit: "VMAs",
        tiny_size: 16,
        quick_sizes: &[2000],
        full_sizes: &[1000, 4000, 16000],
        key_metrics: &[
            "anon_vma_peak",
            "anon_vma_chain_peak",
            "kernel_bytes_peak",
            "time_ns",
        ],
        build: guard_fork,
    },
    Scenario {
        name: "reclaim-pressure",
        variants: no_variants,
        about: "a parent writes a mixed anonymous and file working set a third larger than RAM, forks, and parent and child read it three times over, with swap",
        exposes: "reclaim throughput, walk cost and swap-in rate",
        size_unit: "MiB",
        tiny_size: 2,
        quick_sizes: &[8],
        full_sizes: &[2, 4, 8],
        key_metrics: &[
            "reclaim_pages_per_s",
            "time_ns",
            "walk_vmas_visited_per_walk",
            "walk_ptes_checked_per_walk",
            "swapin_fault_ns_mean",
            "swapins",
        ],
        build: reclaim_pressure,
    },
    Scenario {
        name: "fault-storm",
        variants: no_variants,
        about: "first-touch anonymous write faults over N MiB, read faults over an N MiB file, COW faults in a child, then pageout and swap-in faults",
        exposes: "ns per fault by kind and the latency percentiles",
        size_unit: "MiB",
        tiny_size: 1,
        quick_sizes: &[16],
        full_sizes: &[4, 16, 64],
        key_metrics: &[
            "fault_ns_p50",
            "fault_ns_p99",
            "fault_ns_p999",
            "anon_fault_ns_mean",
            "file_fault_ns_mean",
            "cow_fault_ns_mean",
            "swapin_fault_ns_mean",
            "time_ns",
        ],
        build: fault_storm,
    },
    Scenario {
        name: "real-program",
        variants: real_variants,
        about: "k overlapping instances of a real program's address-space trace (imported from strace)",
        exposes: "every metric, on real address-space shapes",
        size_unit: "instances",
        tiny_size: 1,
        quick_sizes: &[2],
        full_sizes: &[1, 2, 4, 8],
        key_metrics: &[
            "time_ns",
            "kernel_bytes_peak",
            "vmas_peak",
            "fault_ns_p50",
            "walk_vmas_visited_per_walk",
            "fork_ns_per_page",
        ],
        build: real_program,
    },
];

/// Every form of every scenario, in report order.
pub fn all_forms() -> Vec<Form> {
    SCENARIOS.iter().flat_map(forms_of).collect()
}

/// The forms of one scenario.
pub fn forms_of(s: &'static Scenario) -> Vec<Form> {
    let v = (s.variants)();
    if v.is_empty() {
        vec![Form {
            scenario: s,
            variant: "",
        }]
    } else {
        v.into_iter()
            .map(|variant| Form {
                scenario: s,
                variant,
            })
            .collect()
    }
}

/// Resolve `BASE` (every form of it) or `BASE/VARIANT` (that form).
pub fn resolve(name: &str) -> Result<Vec<Form>, String> {
    let (base, variant) = match name.split_once('/') {
        Some((b, v)) => (b, Some(v)),
        None => (name, None),
    };
    let s = SCENARIOS.iter().find(|s| s.name == base).ok_or_else(|| {
        format!(
            "unknown scenario `{base}`; known scenarios: {}",
            SCENARIOS
                .iter()
                .map(|s| s.name)
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let forms = forms_of(s);
    match variant {
        None => Ok(forms),
        Some(v) => forms
            .into_iter()
            .find(|f| f.variant == v)
            .map(|f| vec![f])
            .ok_or_else(|| {
                format!(
                    "scenario `{base}` has no variant `{v}`; its variants: {}",
                    (s.variants)().join(", ")
                )
            }),
    }
}

// ---- building blocks ------------------------------------------------------

/// Where every scenario maps: inside the window that live-kernel traces keep
/// clear (`[0x100000000000, 0x200000000000)`).
const BASE: u64 = 0x1000_0000_0000;
const MIB: u64 = 1 << 20;
const PG: u64 = PAGE_SIZE;

const RW: Prot = Prot::RW;
const RO: Prot = Prot::R;
const RX: Prot = Prot(Prot::READ | Prot::EXEC);
const RWX: Prot = Prot(Prot::READ | Prot::WRITE | Prot::EXEC);

/// `Err` unless `min <= size <= max`.
fn check_size(size: u64, min: u64, max: u64, unit: &str) -> Result<(), String> {
    if size < min {
        Err(format!("size {size} is too small: at least {min} {unit}"))
    } else if size > max {
        Err(format!("size {size} is too large: at most {max} {unit}"))
    } else {
        Ok(())
    }
}

/// The random generator of one scenario at one size.
fn rng_for(size: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(SCENARIO_SEED ^ size.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// A random permutation of `0..n`.
fn permutation(rng: &mut ChaCha8Rng, n: u64) -> Vec<u64> {
    let mut v: Vec<u64> = (0..n).collect();
    for i in (1..v.len()).rev() {
        let j = rng.random_range(0..=i);
        v.swap(i, j);
    }
    v
}

/// An op stream under construction.
struct Ops(Vec<Op>);

impl Ops {
    /// Starts with `config ram=.. swap=.. [merge=..]`.
    fn new(ram: u64, swap: u64, merge: Option<MergePolicy>) -> Ops {
        let mut items = vec![ConfigItem::Ram(ram), ConfigItem::Swap(swap)];
        if let Some(m) = merge {
            items.push(ConfigItem::Merge(m));
        }
        Ops(vec![Op::Config(items)])
    }
    fn file(&mut self, name: &str, size: u64) {
        self.0.push(Op::File {
            name: name.to_string(),
            size,
        });
    }
    #[allow(clippy::too_many_arguments)]
    fn map(
        &mut self,
        pid: Pid,
        addr: u64,
        len: u64,
        prot: Prot,
        shared: bool,
        many_prots: bool,
        file: Option<(&str, u64)>,
    ) {
        self.0.push(Op::Mmap {
            pid,
            addr,
            len,
            prot,
            flags: MapFlags {
                shared,
                noreserve: false,
                many_prots,
            },
            file: file.map(|(n, _)| n.to_string()),
            off: file.map_or(0, |(_, o)| o),
        });
    }
    /// Private anonymous memory.
    fn anon(&mut self, pid: Pid, addr: u64, len: u64, prot: Prot) {
        self.map(pid, addr, len, prot, false, false, None);
    }
    fn touch(&mut self, pid: Pid, addr: u64, len: u64, write: bool) {
        self.0.push(Op::Touch {
            pid,
            addr,
            len,
            access: if write { Access::Write } else { Access::Read },
        });
    }
    fn mprotect(&mut self, pid: Pid, addr: u64, len: u64, prot: Prot) {
        self.0.push(Op::Mprotect {
            pid,
            addr,
            len,
            prot,
        });
    }
    fn madvise(&mut self, pid: Pid, addr: u64, len: u64, advice: Advice) {
        self.0.push(Op::Madvise {
            pid,
            addr,
            len,
            advice,
        });
    }
    fn remap(&mut self, pid: Pid, addr: u64, len: u64, pgoff: u64, prot: Option<Prot>) {
        self.0.push(Op::Remap {
            pid,
            addr,
            len,
            pgoff,
            prot,
        });
    }
    fn fork(&mut self, parent: Pid, child: Pid) {
        self.0.push(Op::Fork { parent, child });
    }
    fn exit(&mut self, pid: Pid) {
        self.0.push(Op::Exit { pid });
    }
    fn reclaim(&mut self, pages: u64) {
        self.0.push(Op::Reclaim { pages });
    }
}

// ---- the scenarios --------------------------------------------------------

fn nonlinear_variants() -> Vec<&'static str> {
    vec!["remap", "emulated"]
}

fn many_prots_variants() -> Vec<&'static str> {
    vec!["many_prots=off", "many_prots=on"]
}

fn merge_variants() -> Vec<&'static str> {
    vec!["merge=none", "merge=prev", "merge=both"]
}

fn real_variants() -> Vec<&'static str> {
    crate::real::REAL_TRACES.iter().map(|(n, _)| *n).collect()
}

/// `Err` for a variant a scenario does not have.
fn bad_variant(scenario: &str, variant: &str, known: Vec<&'static str>) -> String {
    if known.is_empty() {
        format!("scenario `{scenario}` has no variants, got `{variant}`")
    } else {
        format!(
            "scenario `{scenario}` has no variant `{variant}`; its variants: {}",
            known.join(", ")
        )
    }
}

fn no_variant(scenario: &str, variant: &str) -> Result<(), String> {
    if variant.is_empty() {
        Ok(())
    } else {
        Err(bad_variant(scenario, variant, Vec::new()))
    }
}

/// `fork-storm`, size N MiB: process 1 maps N MiB of private anonymous
/// memory and writes every page, then forks 4 children one after another,
/// all alive together; child `i` writes pages `[i*n/8, (i+1)*n/8)` of the
/// `n` pages (COW). The children exit, then the parent.
///
/// This is the shape the live-kernel benchmark (`kernelbench.rs`) measures
/// with the same sizes in MiB, so the model's `fork_ns_per_page` and
/// `exit_ns_per_page` sit beside the kernel's. 16 MiB (4096 pages) is the
/// quick size; 16, 64 and 256 MiB are the kernel benchmark's defaults. RAM
/// is twice the working set, so nothing is reclaimed.
fn fork_storm(variant: &str, size: u64) -> Result<Vec<Op>, String> {
    no_variant("fork-storm", variant)?;
    check_size(size, 1, 4096, "MiB")?;
    let len = size * MIB;
    let n = len / PG;
    let mut o = Ops::new(2 * len + 64 * MIB, 64 * MIB, None);
    o.anon(1, BASE, len, RW);
    o.touch(1, BASE, len, true);
    for i in 0..4u64 {
        let child = 2 + i as Pid;
        o.fork(1, child);
        let (a, b) = (i * n / 8, (i + 1) * n / 8);
        if b > a {
            o.touch(child, BASE + a * PG, (b - a) * PG, true);
        }
    }
    for i in 0..4 {
        o.exit(2 + i);
    }
    o.exit(1);
    Ok(o.0)
}

/// `fork-chain`, size G generations: process 1 writes a 16-page heap; then
/// generation `g` forks generation `g+1`, which writes one page of the heap
/// (a COW fault), and `g` exits. One process (two during a fork) is alive
/// at any time.
///
/// With `anon_vma_chain` and no reuse (avc-2.6.34) every child's VMA links
/// to every ancestor's anon_vma, which stays alive while it is linked: one
/// more anon_vma per generation, without bound. Reuse (3.19, today) hands
/// an exited ancestor's anon_vma to the next child, so the count stays
/// constant. A few hundred generations already separate them by two orders
/// of magnitude; 8000 makes the growth unmistakable and stays fast.
fn fork_chain(variant: &str, size: u64) -> Result<Vec<Op>, String> {
    no_variant("fork-chain", variant)?;
    check_size(size, 1, 1_000_000, "generations")?;
    const HEAP: u64 = 16;
    let mut o = Ops::new(64 * MIB, 64 * MIB, None);
    o.anon(1, BASE, HEAP * PG, RW);
    o.touch(1, BASE, HEAP * PG, true);
    for g in 1..=size {
        let (parent, child) = (g as Pid, g as Pid + 1);
        o.fork(parent, child);
        o.touch(child, BASE + (g % HEAP) * PG, PG, true);
        o.exit(parent);
    }
    Ok(o.0)
}

/// `cow-server`, size C children: a pre-forking server. Process 1 maps a
/// 32-page heap and writes its first 8 pages (state the workers inherit),
/// then forks C workers; each worker writes its whole heap: 8 COW faults
/// and 24 first-touch faults in the VMA it inherited. Then reclaim asks for
/// half of the workers' pages.
///
/// Every worker page is private to its worker, so an rmap that knows that
/// (anon_vma_chain: the page hangs off the worker's own anon_vma) visits
/// one VMA per walk, while 2.6.7's one anon_vma per family makes every walk
/// visit all C+1 VMAs: the AIM7 problem. 100 to 400 workers show the
/// linear growth; the total is quadratic in C for the family list and for
/// scan, which is what bounds the sizes.
fn cow_server(variant: &str, size: u64) -> Result<Vec<Op>, String> {
    no_variant("cow-server", variant)?;
    check_size(size, 1, 20_000, "children")?;
    const HEAP: u64 = 32;
    const SHARED: u64 = 8;
    let mut o = Ops::new(
        size * HEAP * PG * 2 + 64 * MIB,
        size * HEAP * PG + 64 * MIB,
        None,
    );
    o.anon(1, BASE, HEAP * PG, RW);
    o.touch(1, BASE, SHARED * PG, true);
    for c in 0..size {
        let pid = 2 + c as Pid;
        o.fork(1, pid);
        o.touch(pid, BASE, HEAP * PG, true);
    }
    o.reclaim(size * HEAP / 2);
    Ok(o.0)
}

/// `file-share`, size P processes: each of P processes (children of an
/// empty process 1) maps the same 1 MiB + 16 KiB library the way ld.so
/// does: the whole file `r-x`, then its last 4 pages `rw-` over it (2 pages
/// of relro, 2 of data), 2 pages of anonymous bss after it; it reads the
/// text, writes relro and data (relocation: COW), protects relro `r--` and
/// writes the bss. Then reclaim asks for 256 pages (as many as the text).
///
/// The 256 text pages are each mapped by P processes: object-based rmap
/// walks the file's `i_mmap` (P VMAs), pte-chain keeps P chain entries per
/// page. 100 to 500 processes (scan looks at every process per walk, so
/// its time grows with the square).
fn file_share(variant: &str, size: u64) -> Result<Vec<Op>, String> {
    no_variant("file-share", variant)?;
    check_size(size, 1, 20_000, "processes")?;
    const TEXT: u64 = 256;
    const RELRO: u64 = 2;
    const DATA: u64 = 2;
    const BSS: u64 = 2;
    let file_pages = TEXT + RELRO + DATA;
    let lib = "libshared.so";
    let mut o = Ops::new(size * 16 * PG + 64 * MIB, size * 16 * PG + 64 * MIB, None);
    o.file(lib, file_pages * PG);
    for p in 0..size {
        let pid = 2 + p as Pid;
        o.fork(1, pid);
        o.map(pid, BASE, file_pages * PG, RX, false, false, Some((lib, 0)));
        let rw = BASE + TEXT * PG;
        o.map(
            pid,
            rw,
            (RELRO + DATA) * PG,
            RW,
            false,
            false,
            Some((lib, TEXT * PG)),
        );
        let bss = BASE + file_pages * PG;
        o.anon(pid, bss, BSS * PG, RW);
        o.touch(pid, BASE, TEXT * PG, false);
        o.touch(pid, rw, (RELRO + DATA) * PG, true);
        o.mprotect(pid, rw, RELRO * PG, RO);
        o.touch(pid, bss, BSS * PG, true);
    }
    o.reclaim(TEXT);
    Ok(o.0)
}

/// `db-window`, size W windows: one process maps a W-page shared file as W
/// one-page windows at a random permutation of the file's offsets (a gap
/// page between windows), writes every window, then reclaim asks for 512
/// pages (all W when fewer).
///
/// Every window is a VMA on the file's `i_mmap`. A list (objrmap:mccracken)
/// must visit all W of them to find the one that maps a page; an interval
/// tree (objrmap:prio, anonvma) visits the one whose range covers it. 1000
/// to 4000 windows show ×1000 to ×4000. The scan backend looks at every
/// window per walk too, and its walks are slow: at 16000 windows it needs
/// over a minute, hence 512 walks and 4000 windows at most.
fn db_window(variant: &str, size: u64) -> Result<Vec<Op>, String> {
    no_variant("db-window", variant)?;
    check_size(size, 1, 60_000, "windows")?;
    let mut rng = rng_for(size);
    let perm = permutation(&mut rng, size);
    let db = "db.dat";
    let mut o = Ops::new(size * 4 * PG + 64 * MIB, 64 * MIB, None);
    o.file(db, size * PG);
    for (i, &off) in perm.iter().enumerate() {
        let a = BASE + 2 * i as u64 * PG;
        o.map(1, a, PG, RW, true, false, Some((db, off * PG)));
        o.touch(1, a, PG, true);
    }
    o.reclaim(size.min(512));
    Ok(o.0)
}

/// `nonlinear`, size N pages: an N-page file is mapped in reverse page
/// order, read, and reclaimed (all N pages).
/// - `remap`: one shared VMA over the file, then `remap_file_pages` of each
///   page to the mirror offset: one VMA, nonlinear PTEs; a reverse walk of
///   a nonlinear VMA must scan its page table (N PTEs per walk).
/// - `emulated`: one shared one-page VMA per page at the mirror offset: N
///   VMAs (none can merge: their offsets run backwards), each walk finds
///   its page through `i_mmap`.
///
/// Nonlinear reclaim is quadratic in N (and so is scan's, with N VMAs),
/// so the sizes stop at 4000 pages.
fn nonlinear(variant: &str, size: u64) -> Result<Vec<Op>, String> {
    let remap = match variant {
        "remap" => true,
        "emulated" => false,
        v => return Err(bad_variant("nonlinear", v, nonlinear_variants())),
    };
    check_size(size, 1, 60_000, "pages")?;
    let f = "nonlinear.dat";
    let mut o = Ops::new(size * 4 * PG + 64 * MIB, 64 * MIB, None);
    o.file(f, size * PG);
    if remap {
        o.map(1, BASE, size * PG, RW, true, false, Some((f, 0)));
        for i in 0..size {
            o.remap(1, BASE + i * PG, PG, size - 1 - i, None);
        }
    } else {
        for i in 0..size {
            o.map(
                1,
                BASE + i * PG,
                PG,
                RW,
                true,
                false,
                Some((f, (size - 1 - i) * PG)),
            );
        }
    }
    o.touch(1, BASE, size * PG, false);
    o.reclaim(size);
    Ok(o.0)
}

/// The protection of page `i` of a UML guest: mostly data, some text, some
/// read-only.
fn uml_prot(rng: &mut ChaCha8Rng) -> Prot {
    match rng.random_range(0..4u32) {
        0 => RX,
        1 => RO,
        _ => RW,
    }
}

/// `uml`, size N pages: User-Mode Linux backs its guest's memory with one
/// host file and maps each guest page at its own place with the guest's
/// protection. Page `i` of the address space maps a random page of an
/// N-page shared file with a random protection (`rw-`, `r--`, `r-x`).
/// - `many_prots=off`: one shared one-page VMA per page (N VMAs: neither
///   offsets nor protections line up);
/// - `many_prots=on`: one `many_prots` shared VMA, each page placed and
///   protected by `remap_file_pages` with a protection (1 VMA).
///
/// Then: read every page, write the writable ones, the guest changes the
/// protection of every fourth page to `r--` and back (mprotect). No
/// reclaim: a reverse walk costs N VMAs on scan and N PTEs in a nonlinear
/// VMA, which would bound the size far below the VMA limit. The default
/// `vm.max_map_count` (65530) is the limit that made UML want many_prots;
/// sizes up to 60000 build, the full sizes stop at 32000 pages to keep a
/// full run over every preset near 10 s.
fn uml(variant: &str, size: u64) -> Result<Vec<Op>, String> {
    let many = match variant {
        "many_prots=off" => false,
        "many_prots=on" => true,
        v => return Err(bad_variant("uml", v, many_prots_variants())),
    };
    check_size(size, 1, 60_000, "pages")?;
    let mut rng = rng_for(size);
    let perm = permutation(&mut rng, size);
    let prots: Vec<Prot> = (0..size).map(|_| uml_prot(&mut rng)).collect();
    let f = "uml-physmem";
    let mut o = Ops::new(size * 4 * PG + 64 * MIB, size * PG + 64 * MIB, None);
    o.file(f, size * PG);
    if many {
        o.map(1, BASE, size * PG, RW, true, true, Some((f, 0)));
    }
    for i in 0..size {
        let a = BASE + i * PG;
        let (off, prot) = (perm[i as usize], prots[i as usize]);
        if many {
            o.remap(1, a, PG, off, Some(prot));
        } else {
            o.map(1, a, PG, prot, true, false, Some((f, off * PG)));
        }
    }
    o.touch(1, BASE, size * PG, false);
    for i in 0..size {
        if prots[i as usize] == RW {
            o.touch(1, BASE + i * PG, PG, true);
        }
    }
    for i in (0..size).step_by(4) {
        let a = BASE + i * PG;
        o.mprotect(1, a, PG, RO);
        o.mprotect(1, a, PG, prots[i as usize]);
    }
    Ok(o.0)
}

/// `glibc-libs`, size L libraries: one process maps L shared libraries of
/// 24 pages each, a gap of 8 pages between them, as a dynamic loader does:
/// 1 page of headers `r--`, 16 of text `r-x`, 4 of read-only data `r--`, 2
/// of data `rw-` (private file mappings) and 2 pages of anonymous bss.
/// - `many_prots=off`: 4 file VMAs and the bss: 5 VMAs per library;
/// - `many_prots=on`: the file is one `many_prots` VMA whose pages get
///   their protections by mprotect inside it, and the bss: 2 per library.
///
/// It reads headers, text and read-only data, writes data and bss, then
/// forks a child that writes every library's data (COW) and exits. 100
/// to 1000 libraries: a desktop program maps a few hundred.
fn glibc_libs(variant: &str, size: u64) -> Result<Vec<Op>, String> {
    let many = match variant {
        "many_prots=off" => false,
        "many_prots=on" => true,
        v => return Err(bad_variant("glibc-libs", v, many_prots_variants())),
    };
    check_size(size, 1, 10_000, "libraries")?;
    // (pages, protection) of the file's segments, in file order
    const SEGS: [(u64, Prot); 4] = [(1, RO), (16, RX), (4, RO), (2, RW)];
    const FILE: u64 = 23;
    const BSS: u64 = 2;
    const STRIDE: u64 = 32;
    let mut o = Ops::new(size * 64 * PG + 64 * MIB, 64 * MIB, None);
    let data_off = FILE - 2;
    for l in 0..size {
        let name = format!("lib{l}.so");
        o.file(&name, FILE * PG);
        let base = BASE + l * STRIDE * PG;
        if many {
            o.map(1, base, FILE * PG, RWX, false, true, Some((&name, 0)));
        }
        let mut at = 0;
        for (pages, prot) in SEGS {
            let a = base + at * PG;
            if many {
                o.mprotect(1, a, pages * PG, prot);
            } else {
                o.map(1, a, pages * PG, prot, false, false, Some((&name, at * PG)));
            }
            at += pages;
        }
        o.anon(1, base + FILE * PG, BSS * PG, RW);
        o.touch(1, base, data_off * PG, false);
        o.touch(1, base + data_off * PG, (FILE - data_off + BSS) * PG, true);
    }
    o.fork(1, 2);
    for l in 0..size {
        let base = BASE + l * STRIDE * PG;
        o.touch(2, base + data_off * PG, (FILE - data_off) * PG, true);
    }
    o.exit(2);
    Ok(o.0)
}

/// `heap-churn`, size A allocations: a heap grows by two-page allocations
/// placed one after another (each its own `mmap`, written at once); after
/// every fourth allocation a range from the middle of the previous
/// allocation to the middle of this one is protected `r--` and back to
/// `rw-` (a guard, a JIT, a garbage collector's write barrier).
///
/// `merge=none` keeps every allocation and every split: about 1.5 entries
/// per allocation. `merge=prev` (old Mach) grows the last entry but never
/// re-coalesces after a protection change: two more entries per event.
/// `merge=both` (Linux) folds everything back into one VMA. At 20000
/// allocations that is ~30000 against 1.
fn heap_churn(variant: &str, size: u64) -> Result<Vec<Op>, String> {
    let merge = match variant {
        "merge=none" => MergePolicy::None,
        "merge=prev" => MergePolicy::PrevOnly,
        "merge=both" => MergePolicy::Both,
        v => return Err(bad_variant("heap-churn", v, merge_variants())),
    };
    // merge=none leaves 1.5 entries per allocation: stay under 65530
    check_size(size, 1, 40_000, "allocations")?;
    const ALLOC: u64 = 2;
    let mut o = Ops::new(size * ALLOC * PG * 2 + 64 * MIB, 64 * MIB, Some(merge));
    for i in 0..size {
        let a = BASE + i * ALLOC * PG;
        o.anon(1, a, ALLOC * PG, RW);
        o.touch(1, a, ALLOC * PG, true);
        if i % 4 == 3 {
            let from = a - PG;
            o.mprotect(1, from, 2 * PG, RO);
            o.mprotect(1, from, 2 * PG, RW);
        }
    }
    Ok(o.0)
}

/// `remerge`, size R regions: two sets of R adjacent one-page private
/// anonymous regions, `rw-` and `rwx` in turn (so no two neighbours
/// merge), and mprotect that makes every region `rw-` again.
/// - Set A, in process 1: every region is written in address order, then
///   the `rwx` ones are protected `rw-`. A region written next to a
///   neighbour that already has an anon_vma may share it (rmap40 and every
///   later preset look for a mergeable neighbour); then the mprotect merges
///   the whole set into one VMA. Without sharing (andrea-2.6.7) every
///   region keeps its own anon_vma and nothing merges.
/// - Set B: process 1 writes the `rw-` regions and forks; the child writes
///   the `rwx` ones in address order and protects them `rw-`. Now the
///   neighbours' anon_vmas belong to a family (their chains are not
///   singular), which Linux refuses to share: the child's set stays R
///   VMAs there, where presets that share anyway merge it.
///
/// Backends without anon_vmas merge whatever mprotect makes compatible.
/// `vmas_end` counts both processes. 500 to 8000 regions.
fn remerge(variant: &str, size: u64) -> Result<Vec<Op>, String> {
    no_variant("remerge", variant)?;
    check_size(size, 1, 30_000, "regions")?;
    let mut o = Ops::new(size * 8 * PG + 64 * MIB, 64 * MIB, None);
    let prot = |i: u64| if i % 2 == 0 { RW } else { RWX };
    let set_a = BASE;
    let set_b = BASE + 0x1_0000_0000;
    for set in [set_a, set_b] {
        for i in 0..size {
            o.anon(1, set + i * PG, PG, prot(i));
        }
    }
    for i in 0..size {
        o.touch(1, set_a + i * PG, PG, true);
    }
    for i in (1..size).step_by(2) {
        o.mprotect(1, set_a + i * PG, PG, RW);
    }
    for i in (0..size).step_by(2) {
        o.touch(1, set_b + i * PG, PG, true);
    }
    o.fork(1, 2);
    for i in (1..size).step_by(2) {
        o.touch(2, set_b + i * PG, PG, true);
    }
    for i in (1..size).step_by(2) {
        o.mprotect(2, set_b + i * PG, PG, RW);
    }
    Ok(o.0)
}

/// `guard-fork`, size V VMAs: V two-page private anonymous VMAs, three
/// pages apart and `rw-`/`r--` in turn (never merged), each with a guard
/// region on its first page, never written; then a fork, and the child
/// reads the second page of every tenth VMA.
///
/// Linux allocates an anon_vma for a VMA when a guard is installed (the
/// marker lives in a page table that fork must copy, and fork copies page
/// tables only of VMAs with an anon_vma): one anon_vma per VMA in parent
/// and child. The `unfaulted` preset flags the VMA instead: 0 anon_vmas.
/// 1000 to 16000 VMAs.
fn guard_fork(variant: &str, size: u64) -> Result<Vec<Op>, String> {
    no_variant("guard-fork", variant)?;
    check_size(size, 1, 30_000, "VMAs")?;
    let mut o = Ops::new(size * 4 * PG + 64 * MIB, 64 * MIB, None);
    for i in 0..size {
        let a = BASE + i * 3 * PG;
        let prot = if i % 2 == 0 { RW } else { RO };
        o.anon(1, a, 2 * PG, prot);
        o.madvise(1, a, PG, Advice::GuardInstall);
    }
    o.fork(1, 2);
    for i in (0..size).step_by(10) {
        o.touch(2, BASE + i * 3 * PG + PG, PG, false);
    }
    o.exit(2);
    Ok(o.0)
}

/// `reclaim-pressure`, size N MiB: a working set of N/2 MiB of anonymous
/// memory and an N/2 MiB file, in RAM of 3N/4 MiB with N MiB of swap.
/// Process 1 writes the anonymous half and reads the file, forks a child,
/// and then three times the parent and then the child read both. Reads do
/// not break copy-on-write, so every page stays shared by the two and the
/// working set stays N MiB, a third larger than RAM (writes after the fork
/// would give each process its own copy and double the anonymous half).
/// Reclaim runs whenever free memory runs out (direct reclaim inside
/// faults); a page swapped out and read back is mapped again only in the
/// process that read it.
///
/// Every pass evicts most of what the previous one brought in: reclaim
/// throughput, walk cost (pages mapped twice), swap-ins. 2 to 8 MiB: the
/// scan backend walks every page table per reclaimed page, so it is slow.
fn reclaim_pressure(variant: &str, size: u64) -> Result<Vec<Op>, String> {
    no_variant("reclaim-pressure", variant)?;
    check_size(size, 2, 4096, "MiB")?;
    let half = size * MIB / 2;
    let anon = BASE;
    let file = BASE + 0x1_0000_0000;
    let f = "working-set.dat";
    let mut o = Ops::new(size * MIB * 3 / 4, size * MIB, None);
    o.file(f, half);
    o.anon(1, anon, half, RW);
    o.map(1, file, half, RO, false, false, Some((f, 0)));
    o.touch(1, anon, half, true);
    o.touch(1, file, half, false);
    o.fork(1, 2);
    for _ in 0..3 {
        o.touch(1, anon, half, false);
        o.touch(1, file, half, false);
        o.touch(2, anon, half, false);
        o.touch(2, file, half, false);
    }
    Ok(o.0)
}

/// `fault-storm`, size N MiB: the four kinds of page fault, N MiB each:
/// first-touch anonymous writes, reads of a private read-only mapping of an
/// N MiB file, a forked child writing all the anonymous pages (COW; it
/// exits), then `madvise(MADV_PAGEOUT)` of the anonymous memory and reads
/// of it (swap-in).
///
/// The same four passes in the same order and the same sizes in MiB as the
/// live-kernel benchmark (`kernelbench.rs`), so that the fault latencies
/// compare (the kernel benchmark's default sizes are 16 and 64 MiB). RAM
/// holds everything (4N MiB), swap holds the anonymous part twice. Sizes
/// stop at 64 MiB because the scan backend's pageout walks grow with the
/// square of the pages (256 MiB takes it over a minute).
fn fault_storm(variant: &str, size: u64) -> Result<Vec<Op>, String> {
    no_variant("fault-storm", variant)?;
    check_size(size, 1, 4096, "MiB")?;
    let len = size * MIB;
    let anon = BASE;
    let file = BASE + 0x10_0000_0000;
    let f = "fault-storm.dat";
    let mut o = Ops::new(4 * len + 64 * MIB, 2 * len + 64 * MIB, None);
    o.file(f, len);
    o.anon(1, anon, len, RW);
    o.touch(1, anon, len, true);
    o.map(1, file, len, RO, false, false, Some((f, 0)));
    o.touch(1, file, len, false);
    o.fork(1, 2);
    o.touch(2, anon, len, true);
    o.exit(2);
    o.madvise(1, anon, len, Advice::PageOut);
    o.touch(1, anon, len, false);
    Ok(o.0)
}

/// `real-program`, variant = a trace of [`crate::real::REAL_TRACES`], size
/// k instances: k copies of the program's trace run at once. Copy `c`'s
/// process ids are offset by `c` times the trace's largest pid; its first
/// process is forked from process 1 before anything runs (process 1 is
/// empty then, as a trace expects). Files are declared once (first
/// declaration wins); the copies' ops are interleaved one by one, so their
/// lifetimes overlap. `dump`, `stats` and `check` lines are dropped.
/// The config is the trace's own, with `ram` and `swap` multiplied by k.
/// 1 to 64 instances (the full run uses 1 to 8).
fn real_program(variant: &str, size: u64) -> Result<Vec<Op>, String> {
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
/// in parse errors), as [`real_program`] describes.
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
