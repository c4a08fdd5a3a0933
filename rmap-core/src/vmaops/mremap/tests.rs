//! mremap's rules that the conformance suite does not show: placement,
//! the map-count limits, failures that leave state changed, locks, the
//! multi-VMA walk. (The live kernel's agreement is checked in
//! `kernel/tests/mremap.rs`.)

use crate::conformance::run_trace;
use crate::locks::LockClass;
use crate::ops::{MapFlags, Op, Prot, RemapFlags};
use crate::{Config, Errno, MmapReq, Scan, System};

const B: u64 = 0x1000_0000_0000;
const PG: u64 = 4096;

fn out(trace: &str) -> String {
    let o = run_trace(Scan, trace).unwrap();
    assert!(!o.contains(" failed: "), "{o}");
    o
}

#[test]
fn moves_without_fixed_go_top_down_from_the_mmap_base() {
    // 2 MiB multiples of private anonymous memory are 2 MiB aligned (an
    // aligned start moves up by 2 MiB, as thp_get_unmapped_area does
    // top-down); other lengths and shared memory take the gap's top
    let o = out("
mmap 1 0x100000000000 8K rw- private
mmap 1 0x100000002000 4K r-- private
mremap 1 0x100000000000 8K 12K maymove
mmap 1 0x100000010000 4K rw- private
mmap 1 0x100000011000 4K r-- private
mremap 1 0x100000010000 4K 2M maymove
mmap 1 0x100000020000 8K rw- shared
mmap 1 0x100000022000 4K r-- private
mremap 1 0x100000020000 8K 2M maymove
dump 1
check
");
    assert_eq!(
        o,
        "dump 1
100000002000-100000003000 r--p 00000000
100000011000-100000012000 r--p 00000000
100000022000-100000023000 r--p 00000000
7ffff7a00000-7ffff7c00000 rw-s 00000000
7ffff7c00000-7ffff7e00000 rw-p 00000000
7ffff7ffc000-7ffff7fff000 rw-p 00000000
"
    );
    assert_eq!(crate::MMAP_BASE, 0x7fff_f7ff_f000);
}

/// A system whose `vm.max_map_count` is `max`, with `n` separate
/// one-page VMAs (every other page from `B`), the first two pages written.
fn with_vmas(max: u64, n: u64) -> (System<Scan>, crate::MmId) {
    let cfg = Config {
        max_map_count: max,
        ..Config::default()
    };
    let mut s = System::new(cfg, Scan).unwrap();
    let mm = s.mm_of(1).unwrap();
    for i in 0..n {
        let req = MmapReq::anon(B + 2 * i * PG, PG, Prot::RW, MapFlags::default());
        s.sys_mmap(mm, req).unwrap();
    }
    (s, mm)
}

fn fixed(to: u64) -> RemapFlags {
    RemapFlags {
        maymove: true,
        fixed: Some(to),
        dontunmap: false,
    }
}

#[test]
fn map_count_limits_are_the_two_older_checks() {
    let max = 40;
    let far = B + (1 << 30);
    let maymove = RemapFlags {
        maymove: true,
        ..RemapFlags::default()
    };
    for n in 30..=40 {
        let (mut s, mm) = with_vmas(max, n);
        // FIXED (or DONTUNMAP): map_count + 2 >= max - 3 (as live: 65525
        // of 65530 fails)
        let r = s.sys_mremap(mm, B, PG, PG, fixed(far));
        assert_eq!(r.is_err(), n + 2 >= max - 3, "fixed, {n} VMAs: {r:?}");
        if let Err(e) = r {
            assert_eq!(e, Errno::ENOMEM);
        }
        // a move picked by MAYMOVE: map_count >= max - 3 (65527 live)
        let (mut s, mm) = with_vmas(max, n);
        let r = s.sys_mremap(mm, B, PG, 3 * PG, maymove);
        assert_eq!(r.is_err(), n >= max - 3, "maymove, {n} VMAs: {r:?}");
        // growth in place and a shrink have no check of their own
        let (mut s, mm) = with_vmas(max, n);
        let last = B + 2 * (n - 1) * PG;
        assert_eq!(
            s.sys_mremap(mm, last, PG, 2 * PG, RemapFlags::default()),
            Ok(last)
        );
        assert_eq!(
            s.sys_mremap(mm, last, 2 * PG, PG, RemapFlags::default()),
            Ok(last)
        );
        s.validate().unwrap();
    }
}

#[test]
fn a_failed_move_has_already_unmapped_the_destination() {
    // the page tables at the destination cannot be allocated: the FIXED
    // destination is gone, the source stays (Linux unmaps the new range
    // instead of the old one)
    let o = out("
config ram=128K swap=0
mmap 1 0x100000000000 8K rw- private
touch 1 0x100000000000 8K w
mmap 1 0x100000400000 8K r-- private
mmap 1 0x100000001000 2M rw- private
touch 1 0x100000002000 2M w
mremap 1 0x100000000000 4K 4K maymove fixed=0x100000400000
dump 1
check
");
    assert_eq!(
        o,
        "err 7 touch ENOMEM
err 8 mremap ENOMEM
dump 1
100000000000-100000201000 rw-p 00000000
100000401000-100000402000 r--p 00000000
"
    );
}

#[test]
fn a_multi_vma_move_stops_after_the_pieces_it_moved() {
    // the second piece's destination needs a new page table (past a 2 MiB
    // boundary) and memory is full: the first piece has moved, into the
    // table it already had
    let o = out("
config ram=128K swap=0
mmap 1 0x100000000000 4K rw- private
mmap 1 0x100000001000 4K r-- private
touch 1 0x100000000000 8K r
mmap 1 0x100000400000 1M rw- private
touch 1 0x100000400000 1M w
mremap 1 0x100000000000 8K 8K maymove fixed=0x1000001ff000
dump 1
check
");
    assert_eq!(
        o,
        "err 7 touch ENOMEM
err 8 mremap ENOMEM
dump 1
100000001000-100000002000 r--p 00000000
1000001ff000-100000200000 rw-p 00000000
100000400000-100000500000 rw-p 00000000
"
    );
}

#[test]
fn a_move_records_its_locks_in_order() {
    // a file VMA that merges at its destination at a lower offset takes
    // the rmap locks (need_rmap_locks); every pair of tables its ptl
    let mut s = System::new(Config::default(), Scan).unwrap();
    let t = "file f 32K
mmap 1 0x100000000000 32K rw- shared file=f
touch 1 0x100000000000 32K r
mremap 1 0x100000002000 8K 8K maymove fixed=0x100000010000
mremap 1 0x100000000000 8K 8K maymove fixed=0x10000000e000
check
";
    for tl in crate::trace::parse(t, "t").unwrap() {
        s.apply(&tl.op).unwrap();
    }
    s.validate().unwrap();
    let stats = s.core.locks.class_stats(LockClass::MmapLock);
    assert!(stats.acquired >= 2, "{stats:?}");
    assert_eq!(s.core.locks.check(), Ok(()));
    // 2.4 has no i_mmap class; the page-table lock was taken per pair
    assert!(s.core.locks.class_stats(LockClass::Ptl).acquired >= 2);
}

#[test]
fn a_fixed_move_of_an_unfaulted_vma_beside_itself_merges_into_it() {
    // copy_vma merges the copy into the source (its offset restarts at the
    // destination); the source's unmap then cuts the hole
    let o = out("
mmap 1 0x100000000000 16K rw- private
touch 1 0x100000000000 16K r
mremap 1 0x100000002000 8K 8K maymove fixed=0x100000004000
dump 1
mremap 1 0x100000004000 8K 8K maymove fixed=0x100000002000
dump 1
check
");
    assert_eq!(
        o,
        "dump 1
100000000000-100000002000 rw-p 00000000
100000004000-100000006000 rw-p 00000000
dump 1
100000000000-100000004000 rw-p 00000000
"
    );
}

#[test]
fn dontunmap_of_a_whole_vma_drops_its_anonymous_state() {
    let mut s = System::new(Config::default(), Scan).unwrap();
    for l in crate::trace::parse(
        "mmap 1 0x100000000000 8K rw- private\ntouch 1 0x100000000000 8K w\n\
         mmap 1 0x100000010000 16K rw- private\ntouch 1 0x100000010000 16K w\n",
        "t",
    )
    .unwrap()
    {
        s.apply(&l.op).unwrap();
    }
    let mm = s.mm_of(1).unwrap();
    let flags = RemapFlags {
        dontunmap: true,
        ..fixed(B + 0x40_000)
    };
    assert_eq!(s.sys_mremap(mm, B, 2 * PG, 2 * PG, flags), Ok(B + 0x40_000));
    let whole = s.core.find_vma(mm, B).unwrap();
    assert_eq!(s.vma(whole).anon, 0, "whole VMA: state dropped");
    let flags = RemapFlags {
        dontunmap: true,
        ..fixed(B + 0x80_000)
    };
    s.sys_mremap(mm, B + 0x10_000, 2 * PG, 2 * PG, flags)
        .unwrap();
    let part = s.core.find_vma(mm, B + 0x10_000).unwrap();
    assert_ne!(s.vma(part).anon, 0, "partial: state kept");
    s.validate().unwrap();
    s.check_integrity().unwrap();
}

#[test]
fn pre_6_17_backends_refuse_a_move_across_vmas() {
    /// scan, told it is an era before multi-VMA moves.
    #[derive(Default)]
    struct OldScan(Scan);
    impl crate::ReverseMap for OldScan {
        fn name(&self) -> &'static str {
            "old-scan"
        }
        fn preset(&self) -> &'static str {
            "default"
        }
        fn anon_prepare(
            &mut self,
            ctx: &mut crate::Ctx,
            vma: crate::VmaId,
            why: crate::AnonNeed,
        ) -> Result<(), Errno> {
            self.0.anon_prepare(ctx, vma, why)
        }
        fn page_add_anon(&mut self, _: &mut crate::Ctx, _: crate::Pfn, _: crate::MapAt, _: bool) {}
        fn walk(&self, core: &crate::Core, pfn: crate::Pfn, out: &mut crate::Walk) {
            core.scan_walk(pfn, out);
        }
        fn mremap_multi_vma(&self) -> bool {
            false
        }
    }
    let t = "mmap 1 0x100000000000 8K rw- private
mmap 1 0x100000002000 8K r-- private
mremap 1 0x100000000000 16K 16K maymove fixed=0x100000100000
mremap 1 0x100000000000 8K 8K maymove fixed=0x100000100000
dump 1
";
    let old = run_trace(OldScan::default(), t).unwrap();
    assert_eq!(
        old,
        "err 3 mremap EFAULT
dump 1
100000002000-100000004000 r--p 00000000
100000100000-100000102000 rw-p 00000000
"
    );
    let new = out(t);
    assert!(new.starts_with("err 4 mremap EFAULT\n"), "{new}");
}

#[test]
fn the_op_reaches_the_model_through_apply() {
    let mut s = System::new(Config::default(), Scan).unwrap();
    let map = Op::Mmap {
        pid: 1,
        addr: B,
        len: 2 * PG,
        prot: Prot::RW,
        flags: MapFlags::default(),
        file: None,
        off: 0,
    };
    s.apply(&map).unwrap();
    let grow = Op::Mremap {
        pid: 1,
        addr: B,
        old_len: 2 * PG,
        new_len: 3 * PG,
        flags: RemapFlags::default(),
    };
    s.apply(&grow).unwrap();
    assert_eq!(
        s.dump(1).unwrap(),
        "dump 1\n100000000000-100000003000 rw-p 00000000"
    );
    let bad = Op::Mremap {
        pid: 1,
        addr: B + 1,
        old_len: 2 * PG,
        new_len: 3 * PG,
        flags: RemapFlags::default(),
    };
    assert_eq!(s.apply(&bad), Err(crate::OpError::Errno(Errno::EINVAL)));
}

/// A system with the trace `text` applied (every line must succeed).
fn system_after(text: &str) -> (System<Scan>, crate::MmId) {
    let mut s = System::new(Config::default(), Scan).unwrap();
    for l in crate::trace::parse(text, "t").unwrap() {
        s.apply(&l.op).unwrap();
    }
    let mm = s.mm_of(1).unwrap();
    (s, mm)
}

/// The frame mapped at `addr` (panics if none is).
fn pfn_at(s: &System<Scan>, mm: crate::MmId, addr: u64) -> crate::Pfn {
    match s.core.pte(mm, addr).kind() {
        crate::pte::PteKind::Present(p) => p,
        k => panic!("{addr:#x}: {k:?}"),
    }
}

#[test]
fn old_len_zero_duplicates_a_shared_mapping_onto_the_same_pages() {
    // mm/mremap.c (6.18) check_prep_vma: old_len 0 is allowed only on a
    // VM_SHARED/VM_MAYSHARE VMA; the new VMA maps the same object from
    // the same offset and the original stays whole (live: p2n)
    let (mut s, mm) = system_after(
        "mmap 1 0x100000000000 16K rw- shared\ntouch 1 0x100000000000 16K w\n\
         mmap 1 0x100000010000 8K rw- private\ntouch 1 0x100000010000 8K w\n",
    );
    let to = B + 0x28_000;
    assert_eq!(s.sys_mremap(mm, B + PG, 0, 3 * PG, fixed(to)), Ok(to));
    let orig = s.core.find_vma(mm, B).unwrap();
    assert_eq!((s.vma(orig).start, s.vma(orig).end), (B, B + 4 * PG));
    let dup = s.core.find_vma(mm, to).unwrap();
    assert_eq!((s.vma(dup).start, s.vma(dup).end), (to, to + 3 * PG));
    assert_eq!(
        s.vma(dup).pgoff,
        s.vma(orig).pgoff + 1,
        "same object, next page"
    );
    // the duplicate faults in the original's pages, not copies
    for l in crate::trace::parse("touch 1 0x100000028000 12K w\n", "t").unwrap() {
        s.apply(&l.op).unwrap();
    }
    for i in 0..3 {
        assert_eq!(
            pfn_at(&s, mm, to + i * PG),
            pfn_at(&s, mm, B + (i + 1) * PG)
        );
    }
    // the refusals, in the kernel's order: no MAYMOVE (no room in place),
    // DONTUNMAP with different sizes, the VMA's end, a private VMA
    assert_eq!(
        s.sys_mremap(mm, B + PG, 0, 2 * PG, RemapFlags::default()),
        Err(Errno::ENOMEM)
    );
    let dontunmap = RemapFlags {
        dontunmap: true,
        ..fixed(B + 0x40_000)
    };
    assert_eq!(
        s.sys_mremap(mm, B + PG, 0, 2 * PG, dontunmap),
        Err(Errno::EINVAL)
    );
    let far = fixed(B + 0x40_000);
    assert_eq!(
        s.sys_mremap(mm, B + 4 * PG, 0, 2 * PG, far),
        Err(Errno::EFAULT)
    );
    assert_eq!(
        s.sys_mremap(mm, B + 0x10_000, 0, 2 * PG, far),
        Err(Errno::EINVAL)
    );
    assert!(
        s.core.find_vma(mm, B + 0x40_000).is_none(),
        "nothing mapped"
    );
    s.validate().unwrap();
    s.check_integrity().unwrap();
}

#[test]
fn dontunmap_moves_the_pages_and_leaves_the_old_range_mapped_and_empty() {
    // mm/mremap.c (6.18) move_vma with MREMAP_DONTUNMAP: the PTEs move (the
    // frames are the same ones), the old VMA stays, whole and with its
    // flags, with no PTE left; a private file page reads the file again
    // (live: p2l, p2m)
    let (mut s, mm) = system_after(
        "mmap 1 0x100000000000 24K rw- private\ntouch 1 0x100000000000 24K w\n\
         file f 8K\nmmap 1 0x100000010000 8K rw- private file=f\n\
         touch 1 0x100000010000 4K w\ntouch 1 0x100000011000 4K r\n",
    );
    let before: Vec<_> = (0..4).map(|i| pfn_at(&s, mm, B + i * PG)).collect();
    let flags = RemapFlags {
        dontunmap: true,
        ..fixed(B + 0x28_000)
    };
    assert_eq!(s.sys_mremap(mm, B, 4 * PG, 4 * PG, flags), Ok(B + 0x28_000));
    let after: Vec<_> = (0..4)
        .map(|i| pfn_at(&s, mm, B + 0x28_000 + i * PG))
        .collect();
    assert_eq!(before, after, "moved, not copied");
    let old = s.core.find_vma(mm, B).unwrap();
    assert_eq!(
        (s.vma(old).start, s.vma(old).end),
        (B, B + 6 * PG),
        "not split"
    );
    for i in 0..4 {
        assert!(s.core.pte(mm, B + i * PG).is_none(), "page {i} left behind");
    }
    assert!(matches!(
        s.core.pte(mm, B + 4 * PG).kind(),
        crate::pte::PteKind::Present(_)
    ));
    // the private file VMA: its COWed page moves; the old place maps the
    // page cache again on the next read
    let cowed = pfn_at(&s, mm, B + 0x10_000);
    let cached = pfn_at(&s, mm, B + 0x11_000);
    let flags = RemapFlags {
        dontunmap: true,
        ..fixed(B + 0x50_000)
    };
    s.sys_mremap(mm, B + 0x10_000, 2 * PG, 2 * PG, flags)
        .unwrap();
    assert_eq!(pfn_at(&s, mm, B + 0x50_000), cowed);
    for l in crate::trace::parse("touch 1 0x100000010000 8K r\n", "t").unwrap() {
        s.apply(&l.op).unwrap();
    }
    assert_eq!(
        pfn_at(&s, mm, B + 0x11_000),
        cached,
        "the page cache's page"
    );
    assert_ne!(pfn_at(&s, mm, B + 0x10_000), cowed);
    s.validate().unwrap();
    s.check_integrity().unwrap();
}
