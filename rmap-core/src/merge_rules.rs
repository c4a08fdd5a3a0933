//! VMA merge rules per era: what each kernel's merge code asked before two
//! mappings became one VMA, as data that a preset declares
//! ([`ReverseMap::merge_rules`](crate::ReverseMap::merge_rules)) and the
//! one merge engine (`vmaops::merge`) follows.
//!
//! Every era compares flags, file and page offsets the same way in the
//! model (equal flags but sticky ones, same file, contiguous offsets); the
//! eras differ in the anonymous-state condition ([`AnonRule`]) and in
//! which mappings a protection change may merge. Sources (file, version,
//! function) are in each constant's docs; research notes:
//! `docs/linux-semantics.md` §"Merge rules per era".
//!
//! What the model does not vary by era, and why it cannot show:
//! - 2.5/2.6.0 ignored the page offset of anonymous VMAs
//!   (`can_vma_merge_before/after` return 1 for `file == NULL`); the model
//!   gives private anonymous memory `pgoff = addr >> 12` and has no
//!   `mremap`, so adjacent anonymous VMAs always have contiguous offsets.
//! - `VM_SPECIAL`, `vm_private_data`, `vm_ops->close` and mempolicies:
//!   the model has no mappings that carry them.
//! - madvise's flag changes (`dontfork` 2.6.16, `wipeonfork` 4.14) merge as
//!   the era's mprotect merges: for eras before the advice existed this is
//!   a what-if.
//!
//! `merge=prev` traces do not use these rules: they model GNU Mach before
//! its 2023 series, whatever the preset (see `vmaops::merge`).

/// The anonymous-state condition of an era's merge code, applied between
/// the range being placed or changed (its anonymous state: none for a new
/// mapping, else the VMA that holds it, `middle`) and each neighbour that
/// would grow over it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnonRule {
    /// No condition at all: 2.5.x-2.6.6 `mm/mmap.c` `vma_merge`, whose
    /// `can_vma_merge_before/after` take no anonymous argument (pte-chain
    /// era, McCracken objrmap, Hugh Dickins' anonmm); also a design with no
    /// anonymous state at all (`scan`).
    Ignored,
    /// 2.6.7-2.6.39 `mm/mmap.c` `is_mergeable_anon_vma`: either side has
    /// no anon_vma, or both have the same one.
    NullOrEqual,
    /// 3.0-3.19 `mm/mmap.c` `is_mergeable_anon_vma(a1, a2, vma)` (965f55dea0e3
    /// "mmap: avoid merging cloned VMAs", 3.0): one side has none **and** the
    /// existing neighbour's `anon_vma_chain` is singular (an empty chain is
    /// not), or both have the same one.
    SingularNeighbour,
    /// Linux 6.18 `mm/vma.c` `is_mergeable_anon_vma(vmg, merge_next)`: one
    /// side has none, unless the side that has one is a fork child (an
    /// anon_vma with a non-singular chain); or both have the same one.
    ForkChild,
}

/// One era's merge rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MergeRules {
    /// Short name of the era (`2.6.0`, `6.18`, ...).
    pub era: &'static str,
    /// Where the rules come from: file, version, function.
    pub source: &'static str,
    pub anon: AnonRule,
    /// A protection change merges only private anonymous VMAs (2.6.0's own
    /// code in `mm/mprotect.c`); otherwise every mapping, through
    /// `vma_merge` (2.6.7 on).
    pub modify_anon_only: bool,
}

impl MergeRules {
    /// 2.5.x-2.6.6 mainline (pte-chain presets, McCracken objrmap).
    pub const V2_6_0: MergeRules = MergeRules {
        era: "2.6.0",
        source: "Linux 2.6.0 mm/mmap.c vma_merge, can_vma_merge_before/after (no anonymous \
                 condition); mm/mprotect.c mprotect_attempt_merge and sys_mprotect's final \
                 merge (private anonymous VMAs only)",
        anon: AnonRule::Ignored,
        modify_anon_only: true,
    };
    /// Hugh Dickins' anonmm (rmap 10-37, 2.6.6-mm): `vma_merge` with no
    /// anonymous argument; rmap 36 already made mprotect use `vma_merge`.
    pub const ANONMM: MergeRules = MergeRules {
        era: "anonmm",
        source: "2.6.6-mm (rmap 10-37) mm/mmap.c vma_merge (no anonymous argument); \
                 mm/mprotect.c mprotect_fixup through vma_merge (rmap 36)",
        anon: AnonRule::Ignored,
        modify_anon_only: false,
    };
    /// 2.6.7-2.6.33 (anon_vma families).
    pub const V2_6_7: MergeRules = MergeRules {
        era: "2.6.7",
        source: "Linux 2.6.7 mm/mmap.c vma_merge, is_mergeable_anon_vma (NULL or equal); \
                 mm/mprotect.c mprotect_fixup through vma_merge",
        anon: AnonRule::NullOrEqual,
        modify_anon_only: false,
    };
    /// 2.6.34-2.6.39 (anon_vma_chain, before the singular test moved into
    /// `is_mergeable_anon_vma`).
    pub const V2_6_34: MergeRules = MergeRules {
        era: "2.6.34",
        source: "Linux 2.6.34 mm/mmap.c is_mergeable_anon_vma (NULL or equal, no singular \
                 test; the singular test is only in find_mergeable_anon_vma)",
        anon: AnonRule::NullOrEqual,
        modify_anon_only: false,
    };
    /// 3.0-3.19 (and up to the 2025 fix).
    pub const V3_0: MergeRules = MergeRules {
        era: "3.0",
        source: "Linux 3.19 mm/mmap.c is_mergeable_anon_vma(anon_vma1, anon_vma2, vma) with \
                 list_is_singular(&vma->anon_vma_chain) (965f55dea0e3, Linux 3.0)",
        anon: AnonRule::SingularNeighbour,
        modify_anon_only: false,
    };
    /// Linux 6.18.
    pub const V6_18: MergeRules = MergeRules {
        era: "6.18",
        source: "Linux 6.18 mm/vma.c is_mergeable_anon_vma, vma_is_fork_child, \
                 vma_merge_new_range, vma_merge_existing_range",
        anon: AnonRule::ForkChild,
        modify_anon_only: false,
    };

    /// Whether every operation that changes a VMA's flags looks for a merge
    /// under these rules, so that no two neighbours could still merge
    /// (validation checks it then).
    pub fn remerges_all(&self) -> bool {
        !self.modify_anon_only
    }
}

/// Issue 16's example trace: a written VMA inherited through fork and a
/// new mapping beside it. 2.5-2.6.39 merge them (one VMA: no anonymous
/// condition, or NULL-or-equal); 3.0 on keep two (the neighbour's chain is
/// not singular: 3.0-3.19; it is a fork child: 6.18), as the live kernel
/// does.
pub const FORK_NEIGHBOUR: &str = "mmap 1 0x100000007000 8K rw- private,noreserve
touch 1 0x100000007000 8K w
fork 1 3
mmap 3 0x100000006000 8K rw- private,noreserve
dump 3
";
