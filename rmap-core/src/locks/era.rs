//! The lock protocol of each era the presets model: which lock classes
//! exist, their kind, per what one instance is, their order, and where the
//! era's code was read. Each preset names its era
//! ([`ReverseMap::lock_protocol`](crate::ReverseMap::lock_protocol));
//! `docs/locking.md` has the same table per preset, with the paths that
//! take each lock.
//!
//! Sources are cited as file and version (and function). Pre-git versions
//! were read in the BitKeeper-era history (2.5.0 to 2.6.12-rc2); "BK x"
//! names a commit of that history. Eras that never shipped in a mainline
//! release (McCracken's objrmap, the prio tree with PTE chains, anonmm)
//! follow the -mm patches and the 2.6.7-rc1 merge that carried them.

use super::{ClassSpec, LockClass as C, LockKind as K, LockProtocol, WalkLock};

const fn spec(class: C, kind: K, per: &'static str, source: &'static str) -> ClassSpec {
    ClassSpec {
        class,
        kind,
        per,
        source,
    }
}

const MMAP_SEM: ClassSpec = spec(
    C::MmapLock,
    K::Rwsem,
    "mm",
    "mmap_sem: kernel/fork.c dup_mmap, mm/mmap.c sys_munmap (2.4 to 5.7; mmap_lock from 5.8)",
);
const PAGE_LOCK: ClassSpec = spec(
    C::PageLock,
    K::Mutex,
    "page",
    "PG_locked, a sleeping bit lock: mm/vmscan.c shrink_list TestSetPageLocked (2.6.0), \
     folio_trylock in shrink_folio_list (6.18)",
);
const PTL_MM: ClassSpec = spec(
    C::Ptl,
    K::Spin,
    "mm",
    "mm->page_table_lock: mm/memory.c handle_mm_fault, copy_page_range (2.4-2.6.14)",
);
const PTL_SPLIT: ClassSpec = spec(
    C::Ptl,
    K::Spin,
    "page-table page (and the mm's page_table_lock for upper levels and anon_vma attach)",
    "split page-table locks, 2.6.15 (4c21e2f2441d 'mm: split page table lock'); \
     mm/page_vma_mapped.c (6.18)",
);
const SWAP_OLD: ClassSpec = spec(
    C::SwapLock,
    K::Spin,
    "swap device",
    "swap_list_lock + swap_device_lock: mm/swapfile.c swap_info_get (2.4-2.6.13)",
);
const SWAP_LOCK: ClassSpec = spec(
    C::SwapLock,
    K::Spin,
    "swap device",
    "swap_lock (2.6.14), si->lock (3.9), cluster locks (4.11): mm/swapfile.c",
);
const LRU_ZONE: ClassSpec = spec(
    C::LruLock,
    K::Spin,
    "zone",
    "zone->lru_lock, per-zone LRU locking 2.5.33 (BK 198bae4cfa): mm/vmscan.c shrink_cache",
);
const LRU_LRUVEC: ClassSpec = spec(
    C::LruLock,
    K::Spin,
    "lruvec (node, memcg)",
    "lruvec->lru_lock: include/linux/mmzone.h (6.18)",
);
const PTE_CHAIN: ClassSpec = spec(
    C::PteChain,
    K::BitSpin,
    "page",
    "pte_chain_lock(page), bit spinlock PG_chainlock: include/linux/rmap-locking.h, \
     mm/rmap.c page_add_rmap, page_referenced, try_to_unmap (2.6.0)",
);
const PAGE_MAP_LOCK: ClassSpec = spec(
    C::PageMapLock,
    K::BitSpin,
    "page",
    "page_map_lock, bit spinlock PG_maplock: include/linux/rmap.h, mm/rmap.c \
     page_add_anon_rmap, page_remove_rmap; mm/vmscan.c shrink_list (2.6.7)",
);
const I_SHARED_SEM: ClassSpec = spec(
    C::IMmap,
    K::Semaphore,
    "file (address_space)",
    "mapping->i_shared_sem (2.5.57, BK f1788e27f4): mm/mmap.c vma_link; McCracken's objrmap \
     (linux-mm 2003-02-20) page_referenced_obj down_trylock",
);
const I_MMAP_LOCK: ClassSpec = spec(
    C::IMmap,
    K::Spin,
    "file (address_space)",
    "mapping->i_mmap_lock spinlock (2.6.7-rc1, BK acf23ce39b): mm/rmap.c page_referenced_file, \
     try_to_unmap_file",
);
const I_MMAP_MUTEX: ClassSpec = spec(
    C::IMmap,
    K::Mutex,
    "file (address_space)",
    "i_mmap_mutex (3.0, 'mm: Convert i_mmap_lock to a mutex'): mm/rmap.c rmap_walk_file",
);
const I_MMAP_RWSEM: ClassSpec = spec(
    C::IMmap,
    K::Rwsem,
    "file (address_space)",
    "i_mmap_rwsem (3.19, 'mm: convert i_mmap_mutex to rwsem', 'mm/rmap: share the \
     i_mmap_rwsem'): mm/rmap.c rmap_walk_file i_mmap_lock_read",
);
const ANONMM_LOCK: ClassSpec = spec(
    C::Anonmm,
    K::Spin,
    "fork family (the head anonmm)",
    "anonhd->lock: mm/rmap.c page_referenced_anon, dup_rmap, exit_rmap \
     (rmap 10-37, 2.6.7-rc1 merge, BK a9aa5e94c5)",
);
const ANON_VMA_2_6_7: ClassSpec = spec(
    C::AnonVma,
    K::Spin,
    "anon_vma (one per VMA family)",
    "anon_vma->lock: mm/rmap.c anon_vma_link, page_referenced_anon, try_to_unmap_anon (2.6.7)",
);
const ANON_VMA_2_6_34: ClassSpec = spec(
    C::AnonVma,
    K::Spin,
    "anon_vma",
    "anon_vma->lock: mm/rmap.c anon_vma_prepare, anon_vma_chain_link, page_lock_anon_vma (2.6.34)",
);
const ANON_VMA_ROOT_SPIN: ClassSpec = spec(
    C::AnonVma,
    K::Spin,
    "root anon_vma",
    "anon_vma->root->lock: include/linux/rmap.h anon_vma_lock, mm/mmap.c vma_adjust (2.6.36, \
     'always lock the root (oldest) anon_vma')",
);
const ANON_VMA_ROOT_MUTEX: ClassSpec = spec(
    C::AnonVma,
    K::Mutex,
    "root anon_vma",
    "anon_vma->root->mutex (3.0, 'mm: Convert anon_vma->lock to a mutex'): mm/rmap.c \
     page_lock_anon_vma, lock_anon_vma_root",
);
const ANON_VMA_ROOT_RWSEM: ClassSpec = spec(
    C::AnonVma,
    K::Rwsem,
    "root anon_vma",
    "anon_vma->root->rwsem (3.8, 5a505085f043; walks read: 4fc3f1d66b1e): mm/rmap.c \
     page_lock_anon_vma_read, rmap_walk_anon",
);
const VMA_LOCK: ClassSpec = spec(
    C::VmaLock,
    K::Rwsem,
    "VMA",
    "per-VMA lock (6.4): arch/x86/mm/fault.c lock_vma_under_rcu, mm/mmap.c dup_mmap \
     vma_start_write (6.18)",
);

/// 2.4: no reverse map; `swap_out` scans every mm's page tables under its
/// `page_table_lock` (the `scan` baseline).
pub static V2_4: LockProtocol = LockProtocol {
    era: "2.4",
    order: &[
        MMAP_SEM,
        PAGE_LOCK,
        PTL_MM,
        SWAP_OLD,
        spec(
            C::LruLock,
            K::Spin,
            "global",
            "pagemap_lru_lock: mm/vmscan.c shrink_cache (2.4)",
        ),
    ],
    split_ptl: false,
    vma_lock_faults: false,
    walk_ptl_try: false,
    referenced_ptl: true,
    fork_locks_child: false,
    exit_takes_mmap: false,
    lru_batch: 1,
    file_walk: WalkLock::EXCL,
    anon_walk: WalkLock::EXCL,
};

/// 2.5.27-2.6.6: PTE chains. Reclaim holds the page lock (trylocked) and
/// the page's `pte_chain_lock`, and trylocks the mm's `page_table_lock`
/// per mapping (mm/rmap.c try_to_unmap_one, 2.6.0: SWAP_AGAIN on failure);
/// `page_referenced` takes no page-table lock at all.
pub static V2_6_0: LockProtocol = LockProtocol {
    era: "2.6.0",
    order: &[
        MMAP_SEM,
        PAGE_LOCK,
        I_SHARED_SEM,
        PTL_MM,
        PTE_CHAIN,
        SWAP_OLD,
        LRU_ZONE,
    ],
    split_ptl: false,
    vma_lock_faults: false,
    walk_ptl_try: true,
    referenced_ptl: false,
    fork_locks_child: false,
    exit_takes_mmap: false,
    lru_batch: 16,
    file_walk: WalkLock::TRY,
    anon_walk: WalkLock::EXCL,
};

/// McCracken's objrmap (2.5.62-mm .. 2.6.x-mm): file pages through the
/// `i_shared_sem`-guarded `i_mmap` lists, whose walks `down_trylock` it and
/// give up; anonymous pages on PTE chains as in 2.6.0.
pub static V2_6_0_OBJRMAP: LockProtocol = LockProtocol {
    era: "2.6.0-mm objrmap",
    // page_referenced_obj_one trylocks each mapping's page_table_lock
    // (anonymous pages on chains still take none)
    referenced_ptl: true,
    ..V2_6_0
};

/// The prio tree with PTE chains (Rajesh Venkatasubramanian's 2.6.5 RFC,
/// never merged with chains): the 2.6.7 reclaim protocol (`i_mmap_lock`
/// spinlock, trylocked by walks) with PTE chains for anonymous pages.
pub static V2_6_7_PRIO: LockProtocol = LockProtocol {
    era: "2.6.7-rc1 prio",
    order: &[
        MMAP_SEM,
        PAGE_LOCK,
        I_MMAP_LOCK,
        PTL_MM,
        PTE_CHAIN,
        SWAP_OLD,
        LRU_ZONE,
    ],
    referenced_ptl: true,
    ..V2_6_0
};

/// anonmm (rmap 10-37, 2.6.7-rc1 merge): the family's head lock, held
/// (plain spin) for a whole anonymous walk under the page's
/// `page_map_lock`; `i_mmap_lock` and `page_table_lock` trylocked.
pub static V2_6_7_ANONMM: LockProtocol = LockProtocol {
    era: "2.6.7-rc1 anonmm",
    order: &[
        MMAP_SEM,
        PAGE_LOCK,
        I_MMAP_LOCK,
        PTL_MM,
        PAGE_MAP_LOCK,
        ANONMM_LOCK,
        SWAP_OLD,
        LRU_ZONE,
    ],
    referenced_ptl: true,
    ..V2_6_0
};

/// 2.6.7: anon_vma spinlock per family list, `page_map_lock` per page,
/// `i_mmap_lock` and `page_table_lock` trylocked by reclaim's walks
/// (mm/rmap.c page_referenced_file, try_to_unmap_one; 2.6.8's mm/rmap.c
/// header says why: page_map_lock is held on entry).
pub static V2_6_7: LockProtocol = LockProtocol {
    era: "2.6.7",
    order: &[
        MMAP_SEM,
        PAGE_LOCK,
        I_MMAP_LOCK,
        PTL_MM,
        PAGE_MAP_LOCK,
        ANON_VMA_2_6_7,
        SWAP_OLD,
        LRU_ZONE,
    ],
    referenced_ptl: true,
    ..V2_6_0
};

/// 2.6.34: anon_vma_chain, a spinlock per anon_vma; walks spin (no
/// trylocks since 2.6.9's "rmaplock" series); split page-table locks; fork
/// locks the child's `mmap_sem` too.
pub static V2_6_34: LockProtocol = LockProtocol {
    era: "2.6.34",
    order: &[
        MMAP_SEM,
        PAGE_LOCK,
        I_MMAP_LOCK,
        ANON_VMA_2_6_34,
        PTL_SPLIT,
        SWAP_LOCK,
        LRU_ZONE,
    ],
    split_ptl: true,
    vma_lock_faults: false,
    walk_ptl_try: false,
    referenced_ptl: true,
    fork_locks_child: true,
    exit_takes_mmap: false,
    lru_batch: 14,
    file_walk: WalkLock::EXCL,
    anon_walk: WalkLock::EXCL,
};

/// 2.6.36: every anon_vma operation locks the root anon_vma.
pub static V2_6_36: LockProtocol = LockProtocol {
    era: "2.6.36",
    order: &[
        MMAP_SEM,
        PAGE_LOCK,
        I_MMAP_LOCK,
        ANON_VMA_ROOT_SPIN,
        PTL_SPLIT,
        SWAP_LOCK,
        LRU_ZONE,
    ],
    ..V2_6_34
};

/// 3.0: the anon_vma root lock and `i_mmap` become mutexes (the mm
/// preemptibility series); walks still exclusive.
pub static V3_0: LockProtocol = LockProtocol {
    era: "3.0",
    order: &[
        MMAP_SEM,
        PAGE_LOCK,
        I_MMAP_MUTEX,
        ANON_VMA_ROOT_MUTEX,
        PTL_SPLIT,
        SWAP_LOCK,
        LRU_ZONE,
    ],
    ..V2_6_34
};

/// 3.8: the anon_vma root lock becomes an rwsem and anonymous walks take
/// it shared; `i_mmap` stays an exclusive mutex.
pub static V3_8: LockProtocol = LockProtocol {
    era: "3.8",
    order: &[
        MMAP_SEM,
        PAGE_LOCK,
        I_MMAP_MUTEX,
        ANON_VMA_ROOT_RWSEM,
        PTL_SPLIT,
        SWAP_LOCK,
        LRU_ZONE,
    ],
    anon_walk: WalkLock::SHARED,
    lru_batch: 14,
    ..V2_6_34
};

/// 3.19: `i_mmap_rwsem`, file walks shared too.
pub static V3_19: LockProtocol = LockProtocol {
    era: "3.19",
    order: &[
        MMAP_SEM,
        PAGE_LOCK,
        I_MMAP_RWSEM,
        ANON_VMA_ROOT_RWSEM,
        PTL_SPLIT,
        SWAP_LOCK,
        LRU_ZONE,
    ],
    file_walk: WalkLock::SHARED,
    anon_walk: WalkLock::SHARED,
    ..V3_8
};

/// 6.18: per-VMA locks for faults; reclaim's `folio_referenced` trylocks
/// the rmap locks for reading and gives up when they are contended
/// (mm/rmap.c rmap_walk_anon_lock, rmap_walk_file with `rwc->try_lock`);
/// `try_to_unmap` takes them for reading; exit write-locks `mmap_lock`.
pub static V6_18: LockProtocol = LockProtocol {
    era: "6.18",
    order: &[
        spec(
            C::MmapLock,
            K::Rwsem,
            "mm",
            "mmap_lock: mm/mmap.c dup_mmap, exit_mmap; mm/vma.c (6.18)",
        ),
        VMA_LOCK,
        PAGE_LOCK,
        I_MMAP_RWSEM,
        ANON_VMA_ROOT_RWSEM,
        PTL_SPLIT,
        SWAP_LOCK,
        LRU_LRUVEC,
    ],
    split_ptl: true,
    vma_lock_faults: true,
    walk_ptl_try: false,
    referenced_ptl: true,
    fork_locks_child: true,
    exit_takes_mmap: true,
    lru_batch: 31,
    file_walk: WalkLock {
        mode: super::Mode::Shared,
        referenced_try: true,
        unmap_try: false,
    },
    anon_walk: WalkLock {
        mode: super::Mode::Shared,
        referenced_try: true,
        unmap_try: false,
    },
};

/// Every era, oldest first (for docs and tests).
pub static ALL: [&LockProtocol; 12] = [
    &V2_4,
    &V2_6_0,
    &V2_6_0_OBJRMAP,
    &V2_6_7_PRIO,
    &V2_6_7_ANONMM,
    &V2_6_7,
    &V2_6_34,
    &V2_6_36,
    &V3_0,
    &V3_8,
    &V3_19,
    &V6_18,
];

/// The presets that run each era (for the table in `docs/locking.md`).
pub fn presets_of(era: &str) -> &'static str {
    match era {
        "2.4" => "scan",
        "2.6.0" => "pte-chain:rik, naive, nrpte15, nrpte31",
        "2.6.0-mm objrmap" => "objrmap:mccracken",
        "2.6.7-rc1 prio" => "objrmap:prio",
        "2.6.7-rc1 anonmm" => "objrmap:anonmm",
        "2.6.7" => "anonvma:andrea-2.6.7, rmap40-2.6.7",
        "2.6.34" => "anonvma:avc-2.6.34",
        "2.6.36" => "anonvma:root-2.6.36",
        "3.0" => "anonvma:mutex-3.0",
        "3.8" => "anonvma:rwsem-3.8",
        "3.19" => "anonvma:reuse-3.19",
        "6.18" => "anonvma:linux, unfaulted",
        _ => "",
    }
}

/// The lock table, era by era, as Markdown: one row per era and class
/// (kind, per what, source), then the era's switches.
pub fn markdown_table() -> String {
    let mut s = String::new();
    for p in ALL {
        s.push_str(&format!("### {} ({})\n\n", p.era, presets_of(p.era)));
        s.push_str("| order | class | kind | one instance per | source |\n|---|---|---|---|---|\n");
        for (i, c) in p.order.iter().enumerate() {
            s.push_str(&format!(
                "| {} | `{}` | {} | {} | {} |\n",
                i + 1,
                c.class.name(),
                c.kind.name(),
                c.per,
                c.source
            ));
        }
        let walk = |w: &WalkLock| {
            format!(
                "{}{}{}",
                if w.mode == super::Mode::Shared {
                    "shared"
                } else {
                    "exclusive"
                },
                if w.referenced_try {
                    ", page_referenced trylocks"
                } else {
                    ""
                },
                if w.unmap_try {
                    ", try_to_unmap trylocks"
                } else {
                    ""
                },
            )
        };
        s.push_str(&format!(
            "\nSplit page-table locks: {}. Faults under: {}. Walks trylock the \
             page-table lock: {}; page_referenced takes it: {}. Fork locks the \
             child's mmap_lock: {}. Exit write-locks mmap_lock: {}. Pages added \
             to the LRU per lru_lock: {}. File walk: {}. Anonymous walk: {}.\n\n",
            yes(p.split_ptl),
            if p.vma_lock_faults {
                "the VMA lock (read)"
            } else {
                "mmap_lock (read)"
            },
            yes(p.walk_ptl_try),
            yes(p.referenced_ptl),
            yes(p.fork_locks_child),
            yes(p.exit_takes_mmap),
            p.lru_batch,
            walk(&p.file_walk),
            walk(&p.anon_walk),
        ));
    }
    s
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/locking.md` carries the table this catalogue makes, so the
    /// two never disagree (paste the printed table there when it changes).
    #[test]
    fn docs_locking_md_has_the_catalogue_table() {
        let doc =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/locking.md"))
                .unwrap_or_default();
        let table = markdown_table();
        assert!(
            doc.contains(&table),
            "docs/locking.md lacks the current table:\n{table}"
        );
    }

    #[test]
    fn every_era_declares_each_class_once_and_the_core_classes() {
        for p in ALL {
            let mut seen = std::collections::BTreeSet::new();
            for s in p.order {
                assert!(seen.insert(s.class), "{}: {:?} twice", p.era, s.class);
            }
            for c in [C::MmapLock, C::PageLock, C::Ptl, C::SwapLock, C::LruLock] {
                assert!(p.spec(c).is_some(), "{}: no {:?}", p.era, c);
            }
            // the page-table lock comes after the mm-side locks everywhere
            let pos = |c| p.order.iter().position(|s| s.class == c);
            assert!(pos(C::MmapLock) < pos(C::Ptl), "{}", p.era);
        }
    }
}
