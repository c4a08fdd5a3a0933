//! Address-space layout scenarios: uml, glibc-libs, heap-churn, remerge
//! and guard-fork (VMA counts, merging, protections, guard regions).

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rmap_core::Op;
use rmap_core::ops::{Advice, ConfigItem, Prot};

use super::build::{
    BASE, MIB, Ops, PG, RO, RW, RWX, RX, bad_variant, check_size, guard_fork_variants,
    many_prots_variants, merge_variant, no_variant, permutation, rng_for, uml_variants,
};

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
///   offsets nor protections line up); the guest reprotects with mprotect;
/// - `many_prots=on`: as the 2006 remap_file_pages protection patch had it
///   (`config many_prots=patch`): one `many_prots` shared VMA, each page
///   placed and protected by `remap_file_pages` with a protection
///   (MAP_CHGPROT), and the guest reprotects the same way (the patch
///   refused mprotect on such a VMA: EACCES), so the form has no mprotect
///   and no `mprotect_ns_per_call`;
/// - `many_prots=on+reclaim`: the same, then 512 pages are reclaimed
///   (their protections saved in nonlinear file PTEs) and the first 1024
///   pages read again (protections restored at the refault).
///
/// Then: read every page, write the writable ones, the guest changes the
/// protection of every fourth page to `r--` and back. Reclaim only in the
/// reclaim form, and bounded: a reverse walk costs N VMAs on scan and N
/// PTEs in a nonlinear VMA. The default `vm.max_map_count` (65530) is the
/// limit that made UML want many_prots; sizes up to 60000 build, the full
/// sizes stop at 32000 pages to keep a full run over every preset near
/// 10 s. From Linux 4.0 remap_file_pages refuses a protection (the
/// emulation): the `on` forms fail there, as they would have.
pub(super) fn uml(variant: &str, size: u64) -> Result<Vec<Op>, String> {
    let (many, reclaim) = match variant {
        "many_prots=off" => (false, false),
        "many_prots=on" => (true, false),
        "many_prots=on+reclaim" => (true, true),
        v => return Err(bad_variant("uml", v, uml_variants())),
    };
    check_size(size, 1, 60_000, "pages")?;
    let mut rng = rng_for(size);
    let perm = permutation(&mut rng, size);
    let prots: Vec<Prot> = (0..size).map(|_| uml_prot(&mut rng)).collect();
    let f = "uml-physmem";
    let mut o = Ops::new(size * 4 * PG + 64 * MIB, size * PG + 64 * MIB, None);
    if many {
        o.config(ConfigItem::ManyProtsPatch(true));
    }
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
        let (off, prot) = (perm[i as usize], prots[i as usize]);
        if many {
            o.remap(1, a, PG, off, Some(RO));
            o.remap(1, a, PG, off, Some(prot));
        } else {
            o.mprotect(1, a, PG, RO);
            o.mprotect(1, a, PG, prot);
        }
    }
    if reclaim {
        o.reclaim(512);
        o.touch(1, BASE, size.min(1024) * PG, false);
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
///   A what-if (`config many_prots=whatif`, the default): Ulrich Drepper's
///   wish (linux-kernel, 2006-05-06), not the 2006 patch, which made only
///   shared mappings many-prots and refused mprotect on them.
///
/// It reads headers, text and read-only data, writes data and bss, then
/// forks a child that writes every library's data (COW) and exits. 100
/// to 1000 libraries: a desktop program maps a few hundred.
pub(super) fn glibc_libs(variant: &str, size: u64) -> Result<Vec<Op>, String> {
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
pub(super) fn heap_churn(variant: &str, size: u64) -> Result<Vec<Op>, String> {
    let merge = merge_variant("heap-churn", variant)?;
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
pub(super) fn remerge(variant: &str, size: u64) -> Result<Vec<Op>, String> {
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

/// `guard-fork`, size V VMAs: V two-page private VMAs, three pages apart
/// and `rw-`/`r--` in turn (never merged), each with a guard region on its
/// first page; then a fork, and the child reads the second page of every
/// tenth VMA.
///
/// Linux (this machine's 6.18 with `VM_MAYBE_GUARD`) allocates an
/// anon_vma for a private anonymous VMA when a guard is installed (fork
/// copies page tables of VMAs with an anon_vma): one per VMA in parent and
/// child. The `unfaulted` preset (Lorenzo Stoakes' RFC, 2025-03-05) flags
/// the VMA instead. The forms walk the flag's life cycle:
/// - `anon`: anonymous VMAs, never written (the flag is set and kept);
/// - `file`: private mappings of a file (guard regions on file-backed
///   mappings, which the RFC names as its main reason: the flag is set
///   where no anon_vma is ever needed); the parent then writes the second
///   page of every fourth VMA (the flag is replaced by a real anon_vma);
/// - `remove`: anonymous VMAs; MADV_GUARD_REMOVE over the whole VMA for
///   every other one (the flag is cleared) and over the guard page only for
///   the rest (it stays); every eighth VMA is split by mprotect of its
///   second page (both halves keep the flag) and made whole again (merge).
///
/// 1000 to 16000 VMAs.
pub(super) fn guard_fork(variant: &str, size: u64) -> Result<Vec<Op>, String> {
    let (file, remove) = match variant {
        "anon" => (false, false),
        "file" => (true, false),
        "remove" => (false, true),
        v => return Err(bad_variant("guard-fork", v, guard_fork_variants())),
    };
    check_size(size, 1, 30_000, "VMAs")?;
    let mut o = Ops::new(size * 4 * PG + 64 * MIB, 64 * MIB, None);
    if file {
        o.file("data", size * 2 * PG);
    }
    let at = |i: u64| BASE + i * 3 * PG;
    let prot = |i: u64| if i % 2 == 0 { RW } else { RO };
    for i in 0..size {
        if file {
            let off = i * 2 * PG;
            o.map(1, at(i), 2 * PG, prot(i), false, false, Some(("data", off)));
        } else {
            o.anon(1, at(i), 2 * PG, prot(i));
        }
        o.madvise(1, at(i), PG, Advice::GuardInstall);
    }
    if file {
        for i in (0..size).step_by(4) {
            o.touch(1, at(i) + PG, PG, prot(i) == RW);
        }
    }
    if remove {
        for i in 0..size {
            let len = if i % 2 == 0 { 2 * PG } else { PG };
            o.madvise(1, at(i), len, Advice::GuardRemove);
        }
        for i in (0..size).step_by(8) {
            o.mprotect(1, at(i) + PG, PG, RO);
            o.mprotect(1, at(i) + PG, PG, prot(i));
        }
    }
    o.fork(1, 2);
    for i in (0..size).step_by(10) {
        o.touch(2, at(i) + PG, PG, false);
    }
    o.exit(2);
    Ok(o.0)
}
