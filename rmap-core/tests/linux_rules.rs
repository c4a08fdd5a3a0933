//! Linux rules that need a System built by hand (settings a trace cannot
//! give): `vm.max_map_count` as Linux 6.18 applies it, checked against the
//! live kernel with a C probe during review.

use rmap_core::ops::{MapFlags, Prot};
use rmap_core::{Config, Errno, MmapReq, Scan, System};

const BASE: u64 = 0x1000_0000_0000;
const PAGE: u64 = 4096;

/// `n` two-page VMAs with alternating protections (so none merge).
fn at_limit(limit: u64, n: u64) -> System<Scan> {
    let cfg = Config {
        max_map_count: limit,
        ..Config::default()
    };
    let mut sys = System::new(cfg, Scan).unwrap();
    let mm = sys.mm_of(1).unwrap();
    for i in 0..n {
        let prot = if i % 2 == 0 { Prot::RW } else { Prot::R };
        sys.sys_mmap(
            mm,
            MmapReq::anon(BASE + i * 3 * PAGE, 2 * PAGE, prot, MapFlags::default()),
        )
        .unwrap();
    }
    sys
}

/// One more three-page VMA, far from the others.
fn map_three_pages(sys: &mut System<Scan>) {
    let mm = sys.mm_of(1).unwrap();
    sys.sys_mmap(
        mm,
        MmapReq::anon(BASE + 30 * PAGE, 3 * PAGE, Prot::RW, MapFlags::default()),
    )
    .unwrap();
}

#[test]
fn munmap_at_the_limit_may_split_an_edge_but_not_cut_a_hole() {
    let mut sys = at_limit(8, 8);
    let mm = sys.mm_of(1).unwrap();
    // the tail of one VMA and the head of another: no VMA is added
    assert_eq!(sys.sys_munmap(mm, BASE + PAGE, PAGE), Ok(()));
    assert_eq!(sys.sys_munmap(mm, BASE + 3 * PAGE, PAGE), Ok(()));
    // across two VMAs, cutting the edge of each
    assert_eq!(sys.sys_munmap(mm, BASE + 7 * PAGE, 3 * PAGE), Ok(()));
    sys.validate().unwrap();
    // one VMA into three at the limit: ENOMEM, nothing changed
    let mut sys = at_limit(8, 7);
    let mm = sys.mm_of(1).unwrap();
    map_three_pages(&mut sys);
    let before = sys.dump(1).unwrap();
    assert_eq!(
        sys.sys_munmap(mm, BASE + 31 * PAGE, PAGE),
        Err(Errno::ENOMEM)
    );
    assert_eq!(sys.dump(1).unwrap(), before);
    sys.validate().unwrap();
}

#[test]
fn a_failed_mprotect_keeps_its_first_split_and_check_accepts_it() {
    // one below the limit: the first split succeeds, the second fails
    let mut sys = at_limit(8, 6);
    let mm = sys.mm_of(1).unwrap();
    map_three_pages(&mut sys);
    assert_eq!(
        sys.sys_mprotect(mm, BASE + 31 * PAGE, PAGE, Prot::R),
        Err(Errno::ENOMEM)
    );
    let dump = sys.dump(1).unwrap();
    assert!(
        dump.contains("10000001e000-10000001f000 rw-p")
            && dump.contains("10000001f000-100000021000 rw-p"),
        "{dump}"
    );
    sys.validate().unwrap();
}
