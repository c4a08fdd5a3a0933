//! The building blocks of every scenario builder: where scenarios map, the
//! op-stream writer [`Ops`], size and variant checks, and the seeded random
//! generator.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rmap_core::ops::{Access, Advice, ConfigItem, MapFlags, MergePolicy, Prot, RemapFlags};
use rmap_core::{Op, PAGE_SIZE, Pid};

use super::SCENARIO_SEED;

/// Where every scenario maps: inside the window that live-kernel traces keep
/// clear.
pub(super) const BASE: u64 = rmap_core::abi::WINDOW_START;
/// A mebibyte.
pub(super) const MIB: u64 = 1 << 20;
/// A page.
pub(super) const PG: u64 = PAGE_SIZE;

// The protections scenarios use.

pub(super) const RW: Prot = Prot::RW;
pub(super) const RO: Prot = Prot::R;
pub(super) const RX: Prot = Prot(Prot::READ | Prot::EXEC);
pub(super) const RWX: Prot = Prot(Prot::READ | Prot::WRITE | Prot::EXEC);

/// `Err` unless `min <= size <= max`.
pub(super) fn check_size(size: u64, min: u64, max: u64, unit: &str) -> Result<(), String> {
    if size < min {
        Err(format!("size {size} is too small: at least {min} {unit}"))
    } else if size > max {
        Err(format!("size {size} is too large: at most {max} {unit}"))
    } else {
        Ok(())
    }
}

/// The random generator of one scenario at one size.
pub(super) fn rng_for(size: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(SCENARIO_SEED ^ size.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// A random permutation of `0..n`.
pub(super) fn permutation(rng: &mut ChaCha8Rng, n: u64) -> Vec<u64> {
    let mut v: Vec<u64> = (0..n).collect();
    for i in (1..v.len()).rev() {
        let j = rng.random_range(0..=i);
        v.swap(i, j);
    }
    v
}

/// An op stream under construction.
pub(super) struct Ops(pub(super) Vec<Op>);

impl Ops {
    /// Starts with `config ram=.. swap=.. [merge=..]`.
    pub(super) fn new(ram: u64, swap: u64, merge: Option<MergePolicy>) -> Ops {
        let mut items = vec![ConfigItem::Ram(ram), ConfigItem::Swap(swap)];
        if let Some(m) = merge {
            items.push(ConfigItem::Merge(m));
        }
        Ops(vec![Op::Config(items)])
    }
    /// One more setting in the opening `config` line.
    pub(super) fn config(&mut self, item: ConfigItem) {
        if let Some(Op::Config(items)) = self.0.first_mut() {
            items.push(item);
        }
    }
    /// `file NAME SIZE`.
    pub(super) fn file(&mut self, name: &str, size: u64) {
        self.0.push(Op::File {
            name: name.to_string(),
            size,
        });
    }
    /// `mmap`: private or shared, optionally many_prots, anonymous or of
    /// `(file, offset)`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn map(
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
    pub(super) fn anon(&mut self, pid: Pid, addr: u64, len: u64, prot: Prot) {
        self.map(pid, addr, len, prot, false, false, None);
    }
    /// `touch`, a write or a read.
    pub(super) fn touch(&mut self, pid: Pid, addr: u64, len: u64, write: bool) {
        self.0.push(Op::Touch {
            pid,
            addr,
            len,
            access: if write { Access::Write } else { Access::Read },
        });
    }
    /// `munmap`.
    pub(super) fn munmap(&mut self, pid: Pid, addr: u64, len: u64) {
        self.0.push(Op::Munmap { pid, addr, len });
    }
    /// `mprotect`.
    pub(super) fn mprotect(&mut self, pid: Pid, addr: u64, len: u64, prot: Prot) {
        self.0.push(Op::Mprotect {
            pid,
            addr,
            len,
            prot,
        });
    }
    /// `madvise`.
    pub(super) fn madvise(&mut self, pid: Pid, addr: u64, len: u64, advice: Advice) {
        self.0.push(Op::Madvise {
            pid,
            addr,
            len,
            advice,
        });
    }
    /// `remap` (remap_file_pages), optionally with a protection.
    pub(super) fn remap(&mut self, pid: Pid, addr: u64, len: u64, pgoff: u64, prot: Option<Prot>) {
        self.0.push(Op::Remap {
            pid,
            addr,
            len,
            pgoff,
            prot,
        });
    }
    /// `mremap ... maymove fixed=TO`: a move (and resize) to `to`.
    pub(super) fn mremap_to(&mut self, pid: Pid, addr: u64, old: u64, new: u64, to: u64) {
        self.0.push(Op::Mremap {
            pid,
            addr,
            old_len: old,
            new_len: new,
            flags: RemapFlags {
                maymove: true,
                fixed: Some(to),
                dontunmap: false,
            },
        });
    }
    /// `fork`.
    pub(super) fn fork(&mut self, parent: Pid, child: Pid) {
        self.0.push(Op::Fork { parent, child });
    }
    /// `exit`.
    pub(super) fn exit(&mut self, pid: Pid) {
        self.0.push(Op::Exit { pid });
    }
    /// `reclaim PAGES`.
    pub(super) fn reclaim(&mut self, pages: u64) {
        self.0.push(Op::Reclaim { pages });
    }
}

// ---- variants -------------------------------------------------------------

/// The variants of a scenario with one form.
pub(super) fn no_variants() -> Vec<&'static str> {
    Vec::new()
}

/// How nonlinear mappings are made.
pub(super) fn nonlinear_variants() -> Vec<&'static str> {
    vec!["remap", "emulated"]
}

/// uml: without and with many_prots VMAs, and with them under reclaim.
pub(super) fn uml_variants() -> Vec<&'static str> {
    vec!["many_prots=off", "many_prots=on", "many_prots=on+reclaim"]
}

/// guard-fork: the unfaulted flag's life cycle (`scenario::layout`).
pub(super) fn guard_fork_variants() -> Vec<&'static str> {
    vec!["anon", "file", "remove"]
}

/// Without and with many_prots VMAs.
pub(super) fn many_prots_variants() -> Vec<&'static str> {
    vec!["many_prots=off", "many_prots=on"]
}

/// The merge policies.
pub(super) fn merge_variants() -> Vec<&'static str> {
    vec!["merge=none", "merge=prev", "merge=both"]
}

/// The merge policy a `merge=...` variant of `scenario` names.
pub(super) fn merge_variant(scenario: &str, variant: &str) -> Result<MergePolicy, String> {
    match variant {
        "merge=none" => Ok(MergePolicy::None),
        "merge=prev" => Ok(MergePolicy::PrevOnly),
        "merge=both" => Ok(MergePolicy::Both),
        v => Err(bad_variant(scenario, v, merge_variants())),
    }
}

/// The committed real programs.
pub(super) fn real_variants() -> Vec<&'static str> {
    crate::real::REAL_TRACES.iter().map(|(n, _)| *n).collect()
}

/// `Err` for a variant a scenario does not have.
pub(super) fn bad_variant(scenario: &str, variant: &str, known: Vec<&'static str>) -> String {
    if known.is_empty() {
        format!("scenario `{scenario}` has no variants, got `{variant}`")
    } else {
        format!(
            "scenario `{scenario}` has no variant `{variant}`; its variants: {}",
            known.join(", ")
        )
    }
}

/// `Err` unless `variant` is empty (the scenario has one form).
pub(super) fn no_variant(scenario: &str, variant: &str) -> Result<(), String> {
    if variant.is_empty() {
        Ok(())
    } else {
        Err(bad_variant(scenario, variant, Vec::new()))
    }
}
