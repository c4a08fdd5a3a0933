//! Shared-file scenarios: file-share, db-window and nonlinear.

use super::build::{
    BASE, MIB, Ops, PG, RO, RW, RX, bad_variant, check_size, no_variant, nonlinear_variants,
    permutation, rng_for,
};
use rmap_core::{Op, Pid};

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
pub(super) fn file_share(variant: &str, size: u64) -> Result<Vec<Op>, String> {
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
pub(super) fn db_window(variant: &str, size: u64) -> Result<Vec<Op>, String> {
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
pub(super) fn nonlinear(variant: &str, size: u64) -> Result<Vec<Op>, String> {
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
