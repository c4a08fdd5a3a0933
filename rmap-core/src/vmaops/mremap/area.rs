//! Where a move without MREMAP_FIXED goes (`get_unmapped_area`, x86-64's
//! `arch_get_unmapped_area_topdown`): the highest gap below the mmap base
//! that fits, as a process without address randomization gets it.
//!
//! The model's process starts empty (no executable, libraries, vdso or
//! stack), so the search sees only the trace's own VMAs:
//! - the mmap base is fixed at [`MMAP_BASE`];
//! - the search is top-down below it, down to `mmap_min_addr` (64 KiB);
//!   there is no bottom-up fallback (only a search that fails top-down
//!   needs one, and it then fails with ENOMEM here);
//! - no stack guard gaps (the model has no `VM_GROWSDOWN`);
//! - private anonymous memory whose length is a multiple of 2 MiB is
//!   2 MiB aligned, as `thp_get_unmapped_area` does it: the search asks
//!   for 2 MiB more, then rounds the start up (a start already aligned
//!   moves up by 2 MiB, as Linux does top-down). File and shared mappings
//!   are not aligned (shmem with `huge=never`; regular files, which ext4
//!   would align relative to the file offset, are a simplification).
//!
//! Traces meant for the live kernel never rely on this address (the live
//! process has its libraries right below the base): they use `fixed=` or
//! stay in place.

use crate::error::Errno;
use crate::rmap::ReverseMap;
use crate::system::System;
use crate::vma::{MmId, VmaId};

/// The top of the mmap area: `TASK_SIZE` (0x7ffffffff000) less the
/// 128 MiB gap an 8 MiB stack rlimit gives, with no randomization
/// (arch/x86/mm/mmap.c `mmap_base`; checked live under `setarch -R`: ld.so's
/// last VMA ends here).
pub const MMAP_BASE: u64 = 0x7fff_f7ff_f000;
/// The lowest address a mapping may take (`vm.mmap_min_addr`).
const MMAP_MIN_ADDR: u64 = 0x1_0000;
/// What a PMD maps: the alignment of transparent huge pages.
const PMD_SIZE: u64 = 2 << 20;

impl<R: ReverseMap> System<R> {
    /// The address for `len` bytes of VMA `vid`'s kind in `mm`, top-down
    /// below [`MMAP_BASE`]. ENOMEM when no gap fits.
    pub(super) fn get_unmapped_area(&self, mm: MmId, vid: VmaId, len: u64) -> Result<u64, Errno> {
        let v = self.core.vmas[vid];
        let thp = v.is_anonymous() && !v.is_shared() && len % PMD_SIZE == 0;
        let want = if thp { len + PMD_SIZE } else { len };
        let start = self.highest_gap(mm, want).ok_or(Errno::ENOMEM)?;
        if !thp {
            return Ok(start);
        }
        // `__thp_get_unmapped_area` with offset 0 (anonymous memory)
        let off_sub = start.wrapping_neg() & (PMD_SIZE - 1);
        Ok(if off_sub == 0 {
            start + PMD_SIZE
        } else {
            start + off_sub
        })
    }

    /// The start of the highest gap of at least `len` bytes in
    /// `[MMAP_MIN_ADDR, MMAP_BASE)`, placed at the gap's top.
    fn highest_gap(&self, mm: MmId, len: u64) -> Option<u64> {
        let mut hi = MMAP_BASE;
        let fits = |lo: u64, hi: u64| hi >= lo && hi - lo >= len && hi - len >= MMAP_MIN_ADDR;
        for (_, &id) in self.core.mm(mm).vmas.range(..MMAP_BASE).rev() {
            let v = self.core.vmas[id];
            if v.end < hi && fits(v.end, hi) {
                return Some(hi - len);
            }
            hi = hi.min(v.start);
        }
        fits(MMAP_MIN_ADDR, hi).then(|| hi - len)
    }
}
