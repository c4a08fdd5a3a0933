//! Seeded random traces, valid for both the model and the live kernel.
//!
//! [`gen_random`] draws a short workload in a 32-page window at
//! `0x100000000000` (inside the live-run window of [`crate::harness`]):
//! mappings of every kind, protection changes, unmaps, touches, every
//! advice, mremap (in place or to `fixed=` in the window), forks and exits, with ranges that straddle holes and VMA edges and
//! now and then an unaligned or zero-length range to exercise the errno
//! paths. Everything stays inside the window, processes are only created by
//! forking a live one, and every live process is dumped at the end.
//!
//! With `anon_state: false` the trace never writes (`touch .. w`) and never
//! installs guards: read faults on private anonymous memory map the zero
//! page and create no anonymous state, so such a trace must agree with the
//! kernel whatever a backend's anon_vma logic is.

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rmap_core::PAGE_SIZE;
use rmap_core::ops::{Access, Advice, ConfigItem, MapFlags, Op, Pid, Prot, RemapFlags};

/// First address of the generator's window: the start of the live-run
/// window.
pub const GEN_BASE: u64 = rmap_core::abi::WINDOW_START;
/// Pages in the generator's window.
pub const GEN_PAGES: u64 = 32;
/// At most this many processes are alive at once.
const MAX_LIVE: usize = 6;

/// What a random trace may contain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenOptions {
    pub seed: u64,
    /// Random operations before the final dumps.
    pub ops: usize,
    /// Allow writes (`touch .. w`) and `guard_install`, which create
    /// anonymous state (anon_vmas).
    pub anon_state: bool,
    /// Declare 1-2 files and map them.
    pub files: bool,
    /// Fork and exit processes.
    pub forks: bool,
    /// Add `reclaim N` lines (the live run ignores them).
    pub reclaim: bool,
    /// Start with `config ram=RAM swap=RAM`.
    pub ram: Option<u64>,
    /// mremap calls (in place, or to `fixed=` in the window).
    pub mremap: bool,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            seed: 0,
            ops: 60,
            anon_state: true,
            files: true,
            forks: true,
            reclaim: true,
            ram: None,
            mremap: true,
        }
    }
}

const PROTS: [&str; 7] = ["---", "r--", "rw-", "r-x", "-w-", "rwx", "--x"];

struct Gen<'a> {
    o: &'a GenOptions,
    rng: ChaCha8Rng,
    /// Live processes, in creation order (1 first while it lives).
    live: Vec<Pid>,
    /// Ids of exited processes, which a fork may reuse.
    dead: Vec<Pid>,
    next_pid: Pid,
    /// Declared files: name and size in bytes.
    files: Vec<(String, u64)>,
    /// Page indices (0..=GEN_PAGES) where earlier ops put VMA edges.
    marks: Vec<u64>,
    /// Mappings made (process, first page, pages), which mremap picks its
    /// old range from (they may have changed since).
    maps: Vec<(Pid, u64, u64)>,
    ops: Vec<Op>,
}

impl Gen<'_> {
    fn pick_pid(&mut self) -> Pid {
        *self.live.choose(&mut self.rng).unwrap_or(&1)
    }

    /// A page index to start a range at: often an earlier edge.
    fn start_page(&mut self) -> u64 {
        if !self.marks.is_empty() && self.rng.random_bool(0.5) {
            let m = *self.marks.choose(&mut self.rng).unwrap_or(&0);
            let m = m.min(GEN_PAGES - 1);
            // sometimes one page to either side of the edge
            match self.rng.random_range(0..4) {
                0 => m.saturating_sub(1),
                1 => (m + 1).min(GEN_PAGES - 1),
                _ => m,
            }
        } else {
            self.rng.random_range(0..GEN_PAGES)
        }
    }

    /// A page count, mostly small.
    fn npages(&mut self, start: u64) -> u64 {
        let n = match self.rng.random_range(0..10) {
            0..=3 => self.rng.random_range(1..=2),
            4..=7 => self.rng.random_range(1..=6),
            _ => self.rng.random_range(4..=12),
        };
        n.min(GEN_PAGES - start)
    }

    /// A range in the window; with `odd`, sometimes unaligned or empty.
    fn range(&mut self, odd: bool) -> (u64, u64) {
        let start = self.start_page();
        let mut n = self.npages(start);
        let mut addr = GEN_BASE + start * PAGE_SIZE;
        let mut len = n * PAGE_SIZE;
        if odd && self.rng.random_bool(0.12) {
            match self.rng.random_range(0..3) {
                0 => len = 0,
                1 => {
                    // unaligned length: rounds up to n pages
                    len -= self.rng.random_range(1..PAGE_SIZE);
                }
                _ => {
                    // unaligned address: keep the rounded-up end inside
                    if start + n >= GEN_PAGES {
                        n -= 1;
                        len = n * PAGE_SIZE;
                    }
                    addr += *[1, 0x800, 0xfff].choose(&mut self.rng).unwrap_or(&1);
                }
            }
        }
        (addr, len)
    }

    fn mark(&mut self, addr: u64, len: u64) {
        let s = (addr - GEN_BASE) / PAGE_SIZE;
        let e = ((addr - GEN_BASE + len).div_ceil(PAGE_SIZE)).min(GEN_PAGES);
        for p in [s, e] {
            if !self.marks.contains(&p) {
                self.marks.push(p);
            }
        }
    }

    fn prot(&mut self) -> Prot {
        let s = PROTS.choose(&mut self.rng).unwrap_or(&"rw-");
        Prot::parse(s).unwrap_or(Prot::RW)
    }

    fn mmap(&mut self) {
        let pid = self.pick_pid();
        let (addr, len) = self.range(true);
        let prot = self.prot();
        let flags = MapFlags {
            shared: self.rng.random_bool(0.35),
            noreserve: self.rng.random_bool(0.15),
            many_prots: false,
        };
        let (file, off) = if !self.files.is_empty() && self.rng.random_bool(0.45) {
            let (name, size) = self
                .files
                .choose(&mut self.rng)
                .cloned()
                .unwrap_or_default();
            let fpages = size.div_ceil(PAGE_SIZE);
            // sometimes past EOF
            let mut off = self.rng.random_range(0..=fpages + 1) * PAGE_SIZE;
            if self.rng.random_bool(0.04) {
                off += 0x100;
            }
            (Some(name), off)
        } else {
            (None, 0)
        };
        self.mark(addr, len);
        if addr % PAGE_SIZE == 0 && len > 0 {
            let first = (addr - GEN_BASE) / PAGE_SIZE;
            self.maps.push((pid, first, len.div_ceil(PAGE_SIZE)));
        }
        self.ops.push(Op::Mmap {
            pid,
            addr,
            len,
            prot,
            flags,
            file,
            off,
        });
    }

    /// One random op of the body, drawn by weight among those allowed.
    fn body_op(&mut self) {
        let o = self.o;
        let can_fork = o.forks && self.live.len() < MAX_LIVE;
        let can_exit = o.forks && self.live.iter().any(|&p| p != 1);
        // (weight, kind)
        let kinds: [(u32, u8); 10] = [
            (22, 0), // mmap
            (8, 1),  // munmap
            (14, 2), // mprotect
            (16, 3), // touch
            (14, 4), // madvise
            (if can_fork { 7 } else { 0 }, 5),
            (if can_exit { 4 } else { 0 }, 6),
            (5, 7), // dump
            (if o.reclaim { 3 } else { 0 }, 8),
            (if o.mremap { 10 } else { 0 }, 9),
        ];
        let total: u32 = kinds.iter().map(|k| k.0).sum();
        let mut r = self.rng.random_range(0..total);
        let mut kind = 0;
        for (w, k) in kinds {
            if r < w {
                kind = k;
                break;
            }
            r -= w;
        }
        match kind {
            0 => self.mmap(),
            1 => {
                let pid = self.pick_pid();
                let (addr, len) = self.range(true);
                self.mark(addr, len);
                self.ops.push(Op::Munmap { pid, addr, len });
            }
            2 => {
                let pid = self.pick_pid();
                let (addr, len) = self.range(true);
                let prot = self.prot();
                self.mark(addr, len);
                self.ops.push(Op::Mprotect {
                    pid,
                    addr,
                    len,
                    prot,
                });
            }
            3 => self.touch(),
            4 => self.madvise(),
            5 => self.fork(),
            6 => self.exit(),
            7 => {
                let pid = self.pick_pid();
                self.ops.push(Op::Dump { pid });
            }
            9 => self.mremap(),
            _ => {
                let pages = self.rng.random_range(1..=64);
                self.ops.push(Op::Reclaim { pages });
            }
        }
    }

    /// An mremap the live kernel can run: in place (shrink, grow, same
    /// size; MAYMOVE only where it cannot move), or to `fixed=` inside the
    /// window (with DONTUNMAP now and then, old_len 0 now and then), with
    /// the invalid combinations now and then for their errnos; never a move
    /// to an address the kernel would pick.
    fn mremap(&mut self) {
        let (pid, addr, old_len) = self.remap_source();
        // whole pages from addr (rounded up, for an unaligned one) to the end
        let room = GEN_PAGES - (addr - GEN_BASE).div_ceil(PAGE_SIZE);
        let mut flags = RemapFlags::default();
        let new_len;
        if self.rng.random_bool(0.4) {
            // in place: a growth without MAYMOVE, or any size that stays
            new_len = match room {
                0 => 0, // EINVAL, and no page past the window
                _ => self.rng.random_range(1..=room.min(12)) * PAGE_SIZE,
            };
            flags.maymove = new_len <= old_len && self.rng.random_bool(0.5);
        } else {
            let old_pages = old_len.div_ceil(PAGE_SIZE);
            let n = if self.rng.random_bool(0.6) {
                old_pages.max(1)
            } else {
                self.rng.random_range(1..=8)
            };
            // mostly a destination that does not overlap the old range
            let first = (addr - GEN_BASE) / PAGE_SIZE;
            let mut to = 0;
            for _ in 0..4 {
                to = self.rng.random_range(0..=GEN_PAGES - n.min(GEN_PAGES));
                if to + n <= first || to >= first + old_pages {
                    break;
                }
            }
            new_len = n * PAGE_SIZE;
            flags.fixed = Some(GEN_BASE + to * PAGE_SIZE);
            flags.maymove = !self.rng.random_bool(0.05);
            flags.dontunmap = self.rng.random_bool(0.2);
            self.mark(GEN_BASE + to * PAGE_SIZE, new_len);
        }
        let old_len = if flags.fixed.is_some() && self.rng.random_bool(0.08) {
            0 // duplicate a (shared) mapping
        } else {
            old_len
        };
        self.mark(addr, old_len.max(new_len.min(room * PAGE_SIZE)));
        let dest = flags.fixed.unwrap_or(addr);
        if dest % PAGE_SIZE == 0 && new_len > 0 {
            let first = (dest - GEN_BASE) / PAGE_SIZE;
            let n = new_len.div_ceil(PAGE_SIZE).min(GEN_PAGES - first);
            self.maps.push((pid, first, n));
        }
        self.ops.push(Op::Mremap {
            pid,
            addr,
            old_len,
            new_len,
            flags,
        });
    }

    /// The process and old range of an mremap: mostly (part of) a mapping
    /// made earlier (whole, its head, or its tail, which can grow in
    /// place), else a random range.
    fn remap_source(&mut self) -> (Pid, u64, u64) {
        if self.maps.is_empty() || self.rng.random_bool(0.3) {
            let pid = self.pick_pid();
            let (addr, len) = self.range(true);
            return (pid, addr, len);
        }
        // the latest mappings are the likeliest to be still there
        let recent = self.maps.len().saturating_sub(4);
        let from = if self.rng.random_bool(0.7) { recent } else { 0 };
        let (pid, first, n) = *self.maps[from..]
            .choose(&mut self.rng)
            .unwrap_or(&(1, 0, 1));
        let pid = if self.live.contains(&pid) {
            pid
        } else {
            self.pick_pid()
        };
        let k = self.rng.random_range(1..=n);
        let (first, n) = match self.rng.random_range(0..3) {
            0 => (first, n),
            1 => (first + n - k, k),
            _ => (first, k),
        };
        (pid, GEN_BASE + first * PAGE_SIZE, n * PAGE_SIZE)
    }

    /// A touch of a random range: a write now and then when writes are
    /// allowed.
    fn touch(&mut self) {
        let pid = self.pick_pid();
        let (addr, len) = self.range(true);
        let access = if self.o.anon_state && self.rng.random_bool(0.45) {
            Access::Write
        } else {
            Access::Read
        };
        self.ops.push(Op::Touch {
            pid,
            addr,
            len,
            access,
        });
    }

    /// A random advice on a random range (no guard install without anon
    /// state).
    fn madvise(&mut self) {
        let pid = self.pick_pid();
        let (addr, len) = self.range(true);
        let anon_state = self.o.anon_state;
        let allowed: Vec<Advice> = Advice::ALL
            .into_iter()
            .filter(|&a| anon_state || a != Advice::GuardInstall)
            .collect();
        let advice = *allowed.choose(&mut self.rng).unwrap_or(&Advice::DontNeed);
        if matches!(
            advice,
            Advice::DontFork | Advice::DoFork | Advice::WipeOnFork
        ) {
            self.mark(addr, len);
        }
        self.ops.push(Op::Madvise {
            pid,
            addr,
            len,
            advice,
        });
    }

    /// A fork of a live process; the child id is new, or now and then an
    /// exited process's.
    fn fork(&mut self) {
        let parent = self.pick_pid();
        let child = if !self.dead.is_empty() && self.rng.random_bool(0.3) {
            let i = self.rng.random_range(0..self.dead.len());
            self.dead.swap_remove(i)
        } else {
            self.next_pid += 1;
            self.next_pid
        };
        self.live.push(child);
        self.ops.push(Op::Fork { parent, child });
    }

    /// The exit of a live process other than 1.
    fn exit(&mut self) {
        let others: Vec<usize> = (0..self.live.len())
            .filter(|&i| self.live[i] != 1)
            .collect();
        if let Some(&i) = others.choose(&mut self.rng) {
            let pid = self.live.remove(i);
            self.dead.push(pid);
            self.ops.push(Op::Exit { pid });
        }
    }
}

/// A random trace for `opts` (the same ops for the same options).
pub fn gen_random(opts: &GenOptions) -> Vec<Op> {
    let mut g = Gen {
        o: opts,
        rng: ChaCha8Rng::seed_from_u64(opts.seed),
        live: vec![1],
        dead: Vec::new(),
        next_pid: 1,
        files: Vec::new(),
        marks: Vec::new(),
        maps: Vec::new(),
        ops: Vec::new(),
    };
    if let Some(ram) = opts.ram {
        g.ops.push(Op::Config(vec![
            ConfigItem::Ram(ram),
            ConfigItem::Swap(ram),
        ]));
    }
    if opts.files {
        let n = g.rng.random_range(1..=2);
        for i in 0..n {
            let name = ["libA.so", "data.bin"][i];
            let mut size = g.rng.random_range(1..=6) * PAGE_SIZE;
            if g.rng.random_bool(0.4) {
                size -= g.rng.random_range(1..PAGE_SIZE);
            }
            g.files.push((name.to_string(), size));
            g.ops.push(Op::File {
                name: name.to_string(),
                size,
            });
        }
    }
    for _ in 0..opts.ops {
        g.body_op();
    }
    let mut live = g.live.clone();
    live.sort_unstable();
    for pid in live {
        g.ops.push(Op::Dump { pid });
    }
    g.ops
}

/// [`gen_random`] as canonical trace text.
pub fn gen_random_text(opts: &GenOptions) -> String {
    rmap_core::trace::write(&gen_random(opts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(seed: u64) -> GenOptions {
        GenOptions {
            seed,
            ..GenOptions::default()
        }
    }

    fn variants(seed: u64) -> [GenOptions; 4] {
        [
            opts(seed),
            GenOptions {
                anon_state: false,
                ..opts(seed)
            },
            GenOptions {
                files: false,
                forks: false,
                reclaim: false,
                ops: 120,
                ..opts(seed)
            },
            GenOptions {
                ram: Some(1 << 20),
                ops: 10,
                ..opts(seed)
            },
        ]
    }

    #[test]
    fn deterministic_for_a_seed() {
        for seed in 0..20 {
            for o in variants(seed) {
                assert_eq!(gen_random(&o), gen_random(&o));
                assert_eq!(gen_random_text(&o), gen_random_text(&o));
            }
        }
        assert_ne!(gen_random_text(&opts(1)), gen_random_text(&opts(2)));
    }

    #[test]
    fn traces_parse_back_to_the_same_ops() {
        for seed in 0..200 {
            for o in variants(seed) {
                let ops = gen_random(&o);
                let text = gen_random_text(&o);
                let parsed: Vec<Op> = rmap_core::trace::parse(&text, "gen")
                    .unwrap_or_else(|e| panic!("{e}\n{text}"))
                    .into_iter()
                    .map(|l| l.op)
                    .collect();
                assert_eq!(parsed, ops, "seed {seed}");
            }
        }
    }

    #[test]
    fn traces_stay_in_the_window_and_use_live_processes() {
        let end = GEN_BASE + GEN_PAGES * PAGE_SIZE;
        for seed in 0..200 {
            for o in variants(seed) {
                let ops = gen_random(&o);
                let mut live = vec![1u32];
                let mut n_body = 0;
                for op in &ops {
                    match op {
                        Op::Mmap { pid, addr, len, .. }
                        | Op::Munmap { pid, addr, len }
                        | Op::Mprotect { pid, addr, len, .. }
                        | Op::Madvise { pid, addr, len, .. }
                        | Op::Touch { pid, addr, len, .. } => {
                            assert!(live.contains(pid));
                            assert!(*addr >= GEN_BASE && *addr < end, "{op:?}");
                            assert!((addr + len).next_multiple_of(PAGE_SIZE) <= end, "{op:?}");
                        }
                        Op::Mremap {
                            pid,
                            addr,
                            old_len,
                            new_len,
                            flags,
                        } => {
                            assert!(live.contains(pid));
                            assert!(*addr >= GEN_BASE && *addr < end, "{op:?}");
                            let dest = flags.fixed.unwrap_or(*addr);
                            assert!(dest >= GEN_BASE, "{op:?}");
                            assert!(
                                (dest + new_len).next_multiple_of(PAGE_SIZE) <= end,
                                "{op:?}"
                            );
                            assert!(
                                (addr + old_len).next_multiple_of(PAGE_SIZE) <= end,
                                "{op:?}"
                            );
                            // the kernel never picks the address
                            assert!(
                                flags.fixed.is_some()
                                    || !(flags.dontunmap || flags.maymove && new_len > old_len),
                                "{op:?}"
                            );
                        }
                        Op::Fork { parent, child } => {
                            assert!(live.contains(parent) && !live.contains(child));
                            live.push(*child);
                        }
                        Op::Exit { pid } => {
                            assert!(*pid != 1);
                            live.retain(|p| p != pid);
                        }
                        Op::Dump { pid } => assert!(live.contains(pid)),
                        Op::Reclaim { .. } => assert!(o.reclaim),
                        Op::Config(_) => assert!(o.ram.is_some()),
                        Op::File { .. } => assert!(o.files),
                        _ => panic!("unexpected {op:?}"),
                    }
                    assert!(live.len() <= MAX_LIVE);
                    if !matches!(op, Op::Config(_) | Op::File { .. }) {
                        n_body += 1;
                    }
                }
                assert!(n_body >= o.ops);
                if !o.forks {
                    assert_eq!(live, [1]);
                }
            }
        }
    }

    #[test]
    fn without_anon_state_there_are_no_writes_or_guards() {
        let mut saw_read = false;
        for seed in 0..200 {
            let o = GenOptions {
                anon_state: false,
                ..opts(seed)
            };
            let text = gen_random_text(&o);
            for line in text.lines() {
                assert!(
                    !(line.starts_with("touch ") && line.ends_with(" w")),
                    "{line}"
                );
                assert!(!line.contains("guard_install"), "{line}");
                saw_read |= line.starts_with("touch ");
            }
        }
        assert!(saw_read);
        // with anon state, both appear
        let all: String = (0..50).map(|s| gen_random_text(&opts(s))).collect();
        assert!(all.contains(" w\n") && all.contains("guard_install"));
    }

    #[test]
    fn covers_every_kind_of_op() {
        let all: String = (0..50).map(|s| gen_random_text(&opts(s))).collect();
        for needle in [
            "mmap ",
            "munmap ",
            "mprotect ",
            "mremap ",
            " maymove",
            " fixed=",
            " dontunmap",
            "touch ",
            "fork ",
            "exit ",
            "dump ",
            "reclaim ",
            " shared",
            " private",
            "noreserve",
            "file=",
            "off=",
            "dontneed",
            "guard_remove",
            "pageout",
            "dontfork",
            "dofork",
            "wipeonfork",
            " --x ",
            " -w- ",
            " rwx ",
        ] {
            assert!(all.contains(needle), "{needle}");
        }
        let with_ram = gen_random_text(&GenOptions {
            ram: Some(4 << 20),
            ..opts(3)
        });
        assert!(
            with_ram.starts_with("config ram=4M swap=4M\n"),
            "{with_ram}"
        );
    }

    #[test]
    fn the_model_runs_every_generated_trace() {
        for seed in 0..40 {
            for o in variants(seed) {
                let text = gen_random_text(&o);
                let mut out = Vec::new();
                rmap_core::replay::replay(
                    &text,
                    "gen",
                    rmap_core::Scan,
                    rmap_core::Config::default(),
                    &mut out,
                )
                .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
            }
        }
    }
}
