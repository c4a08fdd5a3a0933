//! The presets: each one's era facts as data, with the source each fact
//! was read in (kernel version, file, function; mails by Message-ID).
//! The backend's code asks these fields and nothing else, so one preset
//! differs from another only where its era's code did.
//!
//! Sources: Linux 2.6.8 (`mm/rmap.c`, `mm/mmap.c`; identical to 2.6.7 in
//! what is used here), 2.6.34, 2.6.36, 3.0, 3.7, 3.8, 3.19 and 6.18 trees;
//! Andrea Arcangeli's "anon-vma (and now filebacked-mappings too) mprotect
//! vma merging", LKML 2004-04-03 <20040403012612.GY21341@dualathlon.random>
//! (his -aa tree); Hugh Dickins' "rmap 39 add anon_vma rmap" and "rmap 40
//! better anon_vma sharing" (2.6.7).

use rmap_core::locks::{LockProtocol, era};
use rmap_core::rmap::sizes;
use rmap_core::{MergeRules, NonlinearEra};

/// How anon_vmas are organised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Era {
    /// 2.6.7: one list per family, no chains.
    Family,
    /// 2.6.34 and later: anon_vma_chain.
    Chains,
}

/// How a walk goes through an anon_vma's VMAs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnonWalk {
    /// The whole list, each member one visit (`list_for_each_entry` over
    /// `anon_vma->head`: 2.6.7, and the `same_anon_vma` list of 2.6.34 to
    /// 3.6), in list order.
    List,
    /// The interval tree yields only the VMAs whose range covers the page,
    /// by `vm_pgoff` and then insertion (`anon_vma_interval_tree_foreach`,
    /// 3.7 on: Michel Lespinasse, bf181b9f9d8d).
    Tree,
}

/// Anon_vma reuse at fork.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reuse {
    None,
    /// 3.19: `degree < 2` and not the source VMA's own anon_vma.
    Degree,
    /// today: `num_children < 2 && num_active_vmas == 0`.
    Counters,
}

/// Which anon_vma instance an anon_vma operation locks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootLock {
    /// Its own lock (2.6.7's family list, 2.6.34).
    Own,
    /// The root's lock, taken per anon_vma of a chain (2.6.36).
    Root,
    /// The root's lock, taken once for a run of anon_vmas with one root
    /// (`lock_anon_vma_root`, 3.0 on).
    RootBatched,
}

/// Where a swapped-in page that is not exclusive to the faulting VMA is
/// filed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwapIn {
    /// 2.6.7: `page_add_anon_rmap` sets `page->mapping` to the VMA's
    /// anon_vma at the page's first mapping.
    Own,
    /// 2.6.34: every swap-in goes through `page_add_anon_rmap` (not
    /// exclusive), which at the first mapping files the page under the
    /// last entry of the VMA's chain, its oldest anon_vma
    /// (`__page_set_anon_rmap`, `vma->anon_vma_chain.prev`).
    OldestOfChain,
    /// 2.6.36 to 5.18: a swap-in not made exclusive by a write fault
    /// (`do_swap_page`: `exclusive` only for a write that
    /// `reuse_swap_page` allows) goes to the root (`anon_vma->root`); one
    /// already filed stays. (A write then moves it to the VMA's own
    /// anon_vma, `page_move_anon_rmap`.)
    Root,
    /// 6.18: a swap-in is exclusive when its swap entry was (the PTE's
    /// exclusive marker, 5.19 on; the model takes a swap count of one for
    /// it) and goes to the VMA's own anon_vma; otherwise to the root.
    Exclusive,
}

/// One preset: its era facts.
#[derive(Clone, Copy, Debug)]
pub struct Preset {
    pub name: &'static str,
    pub era: Era,
    pub walk: AnonWalk,
    /// `anon_vma_prepare` puts the VMA at the head of the list (2.6.7,
    /// 2.6.34: `list_add`; 2.6.36 `list_add_tail`). 2.6.7 also links fork
    /// children (`anon_vma_link`) and split-off VMAs (`__anon_vma_link`) at
    /// the head; from 2.6.34 chain links (`anon_vma_chain_link`) go to the
    /// tail (`list_add_tail` in anon_vma lists came with Hugh Dickins'
    /// "swapless page migration: fix swapops.h:97 BUG" for 2.6.18, and with
    /// the chains in 2.6.34). Meaningless for [`AnonWalk::Tree`].
    pub prepare_at_head: bool,
    /// rmap 40 (mainline 2.6.7) on: at the first write fault, share the
    /// anon_vma of an adjacent VMA that mprotect could make mergeable
    /// (`find_mergeable_anon_vma` in `anon_vma_prepare`).
    pub share_at_fault: bool,
    /// Andrea's -aa tree: at mmap/brk time, a new VMA that a touching
    /// neighbour would have merged with but for its `vm_flags` takes that
    /// neighbour's anon_vma (`is_mergeable_vma`'s `anon_vma_cache`, set by
    /// `do_mmap_pgoff` and `do_brk`; 2.6.5-rc3-aa2).
    pub share_at_mmap: bool,
    /// 2.6.34 on: `find_mergeable_anon_vma` (`reusable_anon_vma`) takes a
    /// neighbour's anon_vma only if that neighbour's chain is singular.
    pub find_mergeable_singular: bool,
    /// The era's VMA merge rules ([`MergeRules`]): the anonymous condition
    /// of `is_mergeable_anon_vma` is NULL-or-equal in 2.6.7 and 2.6.34-2.6.39,
    /// refuses a neighbour whose chain is not singular from 3.0
    /// (965f55dea0e3, "mmap: avoid merging cloned VMAs") and a fork child in
    /// 6.18 (`vma_is_fork_child`).
    pub merge: &'static MergeRules,
    pub reuse: Reuse,
    /// A write that reuses an exclusive page moves it to the VMA's own
    /// anon_vma (`page_move_anon_rmap`: already in 2.6.34 `do_wp_page`).
    pub move_reused: bool,
    pub swap_in: SwapIn,
    /// 2.6.36 on: each anon_vma pins its root (`get_anon_vma(root)` in
    /// `anon_vma_fork`), so a root lives until its last descendant.
    pub root_refs: bool,
    pub unfaulted: bool,
    /// The era's lock protocol ([`rmap_core::locks::era`]).
    pub locks: &'static LockProtocol,
    pub root_lock: RootLock,
    pub nonlinear: NonlinearEra,
    /// Kernel bytes of `vm_area_struct`, `anon_vma` and `anon_vma_chain`
    /// ([`rmap_core::rmap::sizes`]).
    pub vma_bytes: u64,
    pub anon_vma_bytes: u64,
    pub avc_bytes: u64,
    /// One mremap may move several VMAs (6.17 on, `remap_move` in
    /// mm/mremap.c); before, a range over two VMAs is EFAULT
    /// (`vma_to_resize`).
    pub multi_vma: bool,
}

/// Andrea Arcangeli's anon_vma as his own -aa tree had it (2.6.5-aa,
/// March-April 2004), on 2.6.7's lists and locks: one anon_vma per family,
/// a fresh one at the first write fault (`anon_vma_prepare` in his
/// `mm/objrmap.c` searches no neighbour), and sharing decided at mmap time.
/// The mainline intermediate that allocated a fresh anon_vma and shared
/// nothing (rmap 39) never shipped; the model does not offer it.
pub const ANDREA: Preset = Preset {
    name: "andrea-2.6.7",
    era: Era::Family,
    walk: AnonWalk::List,
    prepare_at_head: true,
    share_at_fault: false,
    share_at_mmap: true,
    find_mergeable_singular: false,
    merge: &MergeRules::V2_6_7,
    reuse: Reuse::None,
    move_reused: false,
    swap_in: SwapIn::Own,
    root_refs: false,
    unfaulted: false,
    locks: &era::V2_6_7,
    root_lock: RootLock::Own,
    nonlinear: NonlinearEra::Cluster,
    vma_bytes: sizes::VMA_2_6_7,
    anon_vma_bytes: sizes::ANON_VMA_2_6_7,
    avc_bytes: 0,
    multi_vma: false,
};

/// Mainline 2.6.7 (rmap 39 + rmap 40): Andrea's anon_vma as Hugh merged it,
/// with neighbour sharing at the first write fault instead of at mmap.
pub const RMAP40: Preset = Preset {
    name: "rmap40-2.6.7",
    share_at_fault: true,
    share_at_mmap: false,
    ..ANDREA
};

/// The 2.6.34 design; the lock presets after it change what their eras
/// changed.
pub const AVC: Preset = Preset {
    name: "avc-2.6.34",
    era: Era::Chains,
    walk: AnonWalk::List,
    prepare_at_head: true,
    share_at_fault: true,
    share_at_mmap: false,
    find_mergeable_singular: true,
    merge: &MergeRules::V2_6_34,
    reuse: Reuse::None,
    move_reused: true,
    swap_in: SwapIn::OldestOfChain,
    root_refs: false,
    unfaulted: false,
    locks: &era::V2_6_34,
    root_lock: RootLock::Own,
    nonlinear: NonlinearEra::Cluster,
    vma_bytes: sizes::VMA_2_6_34,
    anon_vma_bytes: sizes::ANON_VMA_2_6_34,
    avc_bytes: sizes::ANON_VMA_CHAIN_2_6_34,
    multi_vma: false,
};

/// 2.6.36: the root anon_vma, its lock and its reference counting.
pub const ROOT: Preset = Preset {
    name: "root-2.6.36",
    prepare_at_head: false,
    swap_in: SwapIn::Root,
    root_refs: true,
    locks: &era::V2_6_36,
    root_lock: RootLock::Root,
    vma_bytes: sizes::VMA_2_6_36,
    anon_vma_bytes: sizes::ANON_VMA_2_6_36,
    ..AVC
};

/// Linux 6.18.
pub const LINUX: Preset = Preset {
    name: "linux",
    era: Era::Chains,
    walk: AnonWalk::Tree,
    prepare_at_head: false,
    share_at_fault: true,
    share_at_mmap: false,
    find_mergeable_singular: true,
    merge: &MergeRules::V6_18,
    reuse: Reuse::Counters,
    move_reused: true,
    swap_in: SwapIn::Exclusive,
    root_refs: true,
    unfaulted: false,
    locks: &era::V6_18,
    root_lock: RootLock::RootBatched,
    nonlinear: NonlinearEra::Emulated,
    vma_bytes: sizes::VM_AREA_STRUCT,
    anon_vma_bytes: sizes::ANON_VMA,
    avc_bytes: sizes::ANON_VMA_CHAIN,
    multi_vma: true,
};

/// Every preset; the first is the default.
pub const PRESETS: [Preset; 9] = [
    LINUX,
    ANDREA,
    RMAP40,
    AVC,
    ROOT,
    Preset {
        name: "mutex-3.0",
        merge: &MergeRules::V3_0,
        locks: &era::V3_0,
        root_lock: RootLock::RootBatched,
        vma_bytes: sizes::VMA_3_0,
        anon_vma_bytes: sizes::ANON_VMA_3_0,
        ..ROOT
    },
    Preset {
        name: "rwsem-3.8",
        walk: AnonWalk::Tree,
        merge: &MergeRules::V3_0,
        locks: &era::V3_8,
        root_lock: RootLock::RootBatched,
        vma_bytes: sizes::VMA_3_8,
        anon_vma_bytes: sizes::ANON_VMA_3_8,
        avc_bytes: sizes::ANON_VMA_CHAIN,
        ..ROOT
    },
    Preset {
        name: "reuse-3.19",
        walk: AnonWalk::Tree,
        merge: &MergeRules::V3_0,
        reuse: Reuse::Degree,
        locks: &era::V3_19,
        root_lock: RootLock::RootBatched,
        vma_bytes: sizes::VMA_3_19,
        anon_vma_bytes: sizes::ANON_VMA_3_19,
        avc_bytes: sizes::ANON_VMA_CHAIN,
        ..ROOT
    },
    Preset {
        name: "unfaulted",
        unfaulted: true,
        ..LINUX
    },
];

pub const PRESET_NAMES: [&str; 9] = [
    "linux",
    "andrea-2.6.7",
    "rmap40-2.6.7",
    "avc-2.6.34",
    "root-2.6.36",
    "mutex-3.0",
    "rwsem-3.8",
    "reuse-3.19",
    "unfaulted",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_table() {
        let names: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
        assert_eq!(names, PRESET_NAMES);
    }
}
