//! `mach-ext2fs`: the heap of a Hurd file-server translator (ext2fs)
//! reading many files, the workload whose map-entry count GNU Mach's 2023
//! merging series was measured on.
//!
//! The published figure (Hurd wiki, `open_issues/gnumach_vm_map_entry_
//! forward_merging`, Sergey Bugaev's text of 2023-10-11): after a
//! recursive grep over `/usr`, the root ext2fs had somewhere between about
//! 5,000 and 20,000 map entries before the series and 93 with it. (The
//! figure "18,984" that issue 16 quotes was not found in any source; the
//! report gives the sourced range.)
//!
//! The recipe (research notes `eras-other.md` §3.2, from Hurd 2023 sources
//! and glibc's Hurd `brk.c`):
//! - a disk cache: one shared mapping of the disk image, a few pages read;
//! - glibc's Hurd heap: a 128 MiB reserve mapped `---` at start-up; the
//!   break grows by `vm_protect`ing the next pages `rw-` and shrinks by
//!   `vm_deallocate` plus a fresh `---` mapping at the same place
//!   (`sysdeps/mach/hurd/brk.c`); glibc trims the top when more than 128 KiB
//!   is free (`M_TRIM_THRESHOLD`), keeping `TOP_PAD` bytes;
//! - per file: the node cache grows for good (`struct node`, the pager's
//!   pagemap, 2 bytes a page: malloc'd from the heap), a read buffer the
//!   size of the file is allocated on top of the heap and freed; the I/O
//!   itself maps and unmaps transient regions "anywhere": the reply buffer
//!   (`diskfs_S_io_read`), a window of the file of up to 32 pages
//!   (`pager_memcpy`) and one device buffer per page read (`store_read`,
//!   handed back with `memory_object_data_supply(dealloc)`). Addresses
//!   "anywhere" follow GNU Mach's placement (`vm_map_find_entry_anywhere`):
//!   the lowest gap if the request fits there, else the smallest gap that
//!   fits (lowest address among equals), always at the gap's start.
//!
//! What it leaves out: Mach objects and shadow chains (the model's
//! anonymous state stands for them, `docs/merging.md`), paging out (no
//! swap here: an object with a pager could never be extended again),
//! page-list copyout's own extension rule, per-thread malloc arenas,
//! permanent small allocations placed between transient ones (the notes'
//! variant; it keeps entries apart under every policy). Node size, file
//! sizes and `TOP_PAD` are guesses the sources do not give.

use rand::Rng;
use rmap_core::Op;

use super::build::{BASE, MIB, Ops, PG, RO, RW, check_size, merge_variant, rng_for};

/// The published entry counts of ext2fs: before the 2023 series (a range),
/// and after it.
pub const HURD_EXT2FS_ENTRIES_BEFORE: (u64, u64) = (5_000, 20_000);
pub const HURD_EXT2FS_ENTRIES_AFTER: u64 = 93;

const DISK: u64 = BASE;
const DISK_SIZE: u64 = 16 * MIB;
const HEAP: u64 = BASE + 0x1000_0000;
const RESERVE: u64 = 128 * MIB;
const AREA: u64 = BASE + 0x2000_0000;
/// Bytes of node cache per file (`struct node` + disknode: a guess).
const NODE: u64 = 768;
const TRIM: u64 = 128 * 1024;
const TOP_PAD: u64 = 128 * 1024;
const WINDOW_PAGES: u64 = 32;
/// Files the translator reads are drawn from this many (their page cache
/// stays small).
const FILES: u64 = 256;
const FILE_PAGES: u64 = 64;

fn round_page(b: u64) -> u64 {
    b.div_ceil(PG) * PG
}

/// GNU Mach's placement of "anywhere" requests in `[AREA, ...)`.
#[derive(Default)]
struct Anywhere {
    /// Mapped ranges, sorted by start.
    used: Vec<(u64, u64)>,
}

impl Anywhere {
    /// Place `len` bytes: the lowest gap if it fits, else the smallest
    /// fitting gap (lowest among equals), at the gap's start.
    fn alloc(&mut self, len: u64) -> u64 {
        let mut gaps = Vec::new();
        let mut at = AREA;
        for &(s, e) in &self.used {
            if s > at {
                gaps.push((at, s - at));
            }
            at = e;
        }
        let last = (at, u64::MAX - at);
        let pick = match gaps.first() {
            Some(&(s, size)) if size >= len => s,
            _ => {
                gaps.iter()
                    .filter(|g| g.1 >= len)
                    .min_by_key(|g| (g.1, g.0))
                    .unwrap_or(&last)
                    .0
            }
        };
        let i = self.used.partition_point(|r| r.0 < pick);
        self.used.insert(i, (pick, pick + len));
        pick
    }
    fn free(&mut self, addr: u64) {
        self.used.retain(|r| r.0 != addr);
    }
}

/// The heap: the break inside the reserve.
struct Heap {
    /// Bytes in use for good (the node cache).
    used: u64,
    /// Bytes made `rw-` (page aligned).
    committed: u64,
}

impl Heap {
    /// Grow the break to cover `need` bytes (brk.c: vm_protect to rw-).
    fn grow(&mut self, o: &mut Ops, need: u64) {
        if need <= self.committed {
            return;
        }
        let grow = round_page(need - self.committed + TOP_PAD);
        o.mprotect(1, HEAP + self.committed, grow, RW);
        o.touch(1, HEAP + self.committed, grow, true);
        self.committed += grow;
    }
    /// glibc's trim after a free: brk.c deallocates the top and maps it
    /// again with no access.
    fn trim(&mut self, o: &mut Ops) {
        if self.committed - self.used <= TRIM {
            return;
        }
        let keep = round_page(self.used + TOP_PAD);
        if keep >= self.committed {
            return;
        }
        let len = self.committed - keep;
        o.munmap(1, HEAP + keep, len);
        o.map(
            1,
            HEAP + keep,
            len,
            rmap_core::Prot::NONE,
            false,
            false,
            None,
        );
        self.committed = keep;
    }
}

/// The size in pages of the next file read: half one page, a third 2-8,
/// the rest 9-64.
fn file_pages(rng: &mut impl Rng) -> u64 {
    match rng.random_range(0..100u32) {
        0..50 => 1,
        50..85 => rng.random_range(2..=8),
        _ => rng.random_range(9..=64),
    }
}

/// `mach-ext2fs`, size N files read (module docs). Variants: the merge
/// policies; `merge=prev` is GNU Mach before the 2023 series, `merge=both`
/// after it.
pub(super) fn mach_ext2fs(variant: &str, size: u64) -> Result<Vec<Op>, String> {
    let merge = merge_variant("mach-ext2fs", variant)?;
    // the node cache must fit the reserve; merge=none keeps an entry per
    // growth step
    check_size(size, 1, 50_000, "files")?;
    let mut rng = rng_for(size);
    let mut o = Ops::new(256 * MIB, 64 * MIB, Some(merge));
    o.file("disk.img", DISK_SIZE);
    for f in 0..FILES {
        o.file(&format!("f{f}"), FILE_PAGES * PG);
    }
    o.map(1, DISK, DISK_SIZE, RW, true, false, Some(("disk.img", 0)));
    o.touch(1, DISK, 16 * PG, false);
    o.map(1, HEAP, RESERVE, rmap_core::Prot::NONE, false, false, None);
    let mut heap = Heap {
        used: 0,
        committed: 0,
    };
    let mut area = Anywhere::default();
    for i in 0..size {
        let pages = file_pages(&mut rng);
        // the node cache grows for good
        heap.used += NODE + 2 * pages;
        heap.grow(&mut o, heap.used);
        // a read buffer on top of the heap, then freed
        heap.grow(&mut o, heap.used + pages * PG);
        let buf = (HEAP + heap.used) / PG * PG;
        o.touch(
            1,
            buf,
            HEAP + round_page(heap.used + pages * PG) - buf,
            true,
        );
        heap.trim(&mut o);
        // the I/O: reply buffer, file window, one device buffer per page
        let reply = area.alloc(pages * PG);
        o.anon(1, reply, pages * PG, RW);
        o.touch(1, reply, pages * PG, true);
        let wpages = pages.min(WINDOW_PAGES);
        let window = area.alloc(wpages * PG);
        let file = format!("f{}", i % FILES);
        o.map(1, window, wpages * PG, RO, true, false, Some((&file, 0)));
        for _ in 0..pages {
            let dev = area.alloc(PG);
            o.anon(1, dev, PG, RW);
            o.touch(1, dev, PG, true);
            o.munmap(1, dev, PG);
            area.free(dev);
        }
        o.touch(1, window, wpages * PG, false);
        for (addr, len) in [(window, wpages * PG), (reply, pages * PG)] {
            o.munmap(1, addr, len);
            area.free(addr);
        }
    }
    Ok(o.0)
}
