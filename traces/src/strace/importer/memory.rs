//! The calls that change an address space: mmap, munmap (in
//! [`Importer::call`]), mprotect, madvise, brk and mremap.

use rmap_core::abi::{
    MAP_ANONYMOUS, MAP_GROWSDOWN, MAP_SHARED, MAP_SHARED_VALIDATE, MAP_STACK, MREMAP_DONTUNMAP,
};
use rmap_core::{Advice, Op, PAGE_SIZE, Pid, Prot, RemapFlags};

use super::Importer;
use crate::strace::ImportError;
use crate::strace::abi::{MAPS, MREMAPS, PROTS, USER_END, advice_of, fd_decoration, page_up};
use crate::strace::lex::Call;
use crate::strace::space::Seg;

impl Importer<'_> {
    /// mmap, mmap2: a new mapping, anonymous or of a file, touched per the
    /// policy.
    pub(super) fn sys_mmap(&mut self, c: &Call, ret: u64) -> Result<(), ImportError> {
        let len = self.arg_num(c, 1, "a length")?;
        let prot = self.arg_bits(c, 2, PROTS, "PROT_ flags")?;
        let flags = self.arg_bits(c, 3, MAPS, "MAP_ flags")?;
        let fd = self.arg_fd(c, 4)?;
        let mut off = self.arg_num(c, 5, "an offset")?;
        if c.name == "mmap2" {
            off = off.saturating_mul(PAGE_SIZE);
        }
        let (start, end) = self.range(c, ret, len)?;
        if end == start {
            return Ok(());
        }
        let t = self.task(c.pid);
        let shared = matches!(flags & 3, MAP_SHARED | MAP_SHARED_VALIDATE);
        let mut file = None;
        if flags & MAP_ANONYMOUS == 0 {
            let path = fd_decoration(&c.args[4])
                .or_else(|| {
                    self.fdtables[t.fds]
                        .fds
                        .get(&fd)
                        .map(|(p, _)| p.clone().unwrap_or_else(|| format!("fd{fd}-of-{}", c.pid)))
                })
                .unwrap_or_else(|| format!("fd{fd}-of-{}", c.pid));
            if path != "/dev/zero" {
                file = Some((self.file_index(&path), off & !(PAGE_SIZE - 1)));
            }
        }
        let seg = Seg {
            end,
            prot: Prot::from_linux(prot),
            shared,
            file,
            dontfork: false,
        };
        let stack = flags & (MAP_STACK | MAP_GROWSDOWN) != 0;
        self.map(t.mm, start, seg, stack, true);
        Ok(())
    }

    /// mprotect: the known pieces of the range change protection;
    /// `PROT_NONE` memory made accessible is touched as new memory.
    pub(super) fn sys_mprotect(&mut self, c: &Call) -> Result<(), ImportError> {
        let addr = self.arg_num(c, 0, "an address")?;
        let len = self.arg_num(c, 1, "a length")?;
        let prot = Prot::from_linux(self.arg_bits(c, 2, PROTS, "PROT_ flags")?);
        let (s, e) = self.range(c, addr, len)?;
        let (mm, tpid, pieces) = self.known_pieces(c, s, e);
        for (ps, seg) in pieces {
            let new = Seg { prot, ..seg };
            self.mms[mm].space.segs.insert(ps, new);
            self.push(
                Op::Mprotect {
                    pid: tpid,
                    addr: ps,
                    len: seg.end - ps,
                    prot,
                },
                None,
            );
            // PROT_NONE memory made usable (a malloc arena growing) is new memory
            let was_none = !seg.prot.read() && !seg.prot.write();
            if was_none && seg.file.is_none() && !seg.shared {
                self.touch_new(tpid, ps, new, false);
            }
        }
        Ok(())
    }

    /// madvise: the advice the model implements, on the known pieces.
    pub(super) fn sys_madvise(&mut self, c: &Call) -> Result<(), ImportError> {
        let addr = self.arg_num(c, 0, "an address")?;
        let len = self.arg_num(c, 1, "a length")?;
        let adv = self.arg(c, 2, "MADV_ advice")?;
        let Some(advice) = advice_of(adv) else {
            return Ok(());
        };
        let (s, e) = self.range(c, addr, len)?;
        let (mm, tpid, pieces) = self.known_pieces(c, s, e);
        for (ps, seg) in pieces {
            if matches!(advice, Advice::DontFork | Advice::DoFork) {
                let d = advice == Advice::DontFork;
                self.mms[mm]
                    .space
                    .segs
                    .insert(ps, Seg { dontfork: d, ..seg });
            }
            self.push(
                Op::Madvise {
                    pid: tpid,
                    addr: ps,
                    len: seg.end - ps,
                    advice,
                },
                None,
            );
        }
        Ok(())
    }

    /// The known pieces of `[s, e)` in the calling task's address space
    /// (split at the ends), with the space and its trace process; a range
    /// not wholly known counts as a dropped piece.
    fn known_pieces(&mut self, c: &Call, s: u64, e: u64) -> (usize, Pid, Vec<(u64, Seg)>) {
        let t = self.task(c.pid);
        let tpid = self.mms[t.mm].tpid;
        let pieces = self.mms[t.mm].space.pieces(s, e);
        let covered: u64 = pieces.iter().map(|(ps, seg)| seg.end - ps).sum();
        if covered < e - s {
            self.stats.dropped += 1;
        }
        (t.mm, tpid, pieces)
    }

    /// brk: the heap grows (a new mapping, touched) or shrinks.
    pub(super) fn sys_brk(&mut self, c: &Call, ret: u64) -> Result<(), ImportError> {
        self.arg_num(c, 0, "an address or NULL")?;
        // the break itself need not be page aligned; its pages are
        if ret > USER_END {
            return Err(self.bad(c, &format!("{ret:#x}"), "a break below 2^47"));
        }
        let top = ret;
        let t = self.task(c.pid);
        let Some(old) = self.mms[t.mm].brk else {
            self.mms[t.mm].brk = Some(ret);
            return Ok(());
        };
        self.mms[t.mm].brk = Some(ret);
        let old_top = page_up(old).unwrap_or(old);
        let new_top = page_up(top).unwrap_or(top);
        if new_top > old_top {
            let seg = Seg {
                end: new_top,
                prot: Prot::RW,
                shared: false,
                file: None,
                dontfork: false,
            };
            self.map(t.mm, old_top, seg, false, true);
        } else if new_top < old_top {
            self.unmap(t.mm, new_top, old_top);
        }
        Ok(())
    }

    /// mremap, as the real call: in place (a growth, whose new pages are
    /// touched as new memory, or a shrink), or a move to the address the
    /// kernel returned (`maymove fixed=RET`, with `dontunmap` if given): the
    /// moved pages keep their data; only a growth beyond the old length is
    /// new memory. `old_size` 0 duplicates a shared mapping. A call on
    /// memory not wholly seen mapped is dropped.
    pub(super) fn sys_mremap(&mut self, c: &Call, ret: u64) -> Result<(), ImportError> {
        let old = self.arg_num(c, 0, "an address")?;
        let old_len = self.arg_num(c, 1, "a length")?;
        let new_len = self.arg_num(c, 2, "a length")?;
        if new_len == 0 {
            // Linux fails such a call with EINVAL; a success is malformed
            return Err(self.bad(c, "0", "a new length above 0"));
        }
        let flags = self.arg_bits(c, 3, MREMAPS, "MREMAP_ flags")?;
        let (os, oe) = self.range(c, old, old_len)?;
        let (ns, ne) = self.range(c, ret, new_len)?;
        let t = self.task(c.pid);
        let Some(pieces) = self.remap_pieces(t.mm, os, oe) else {
            self.stats.dropped += 1;
            return Ok(());
        };
        let dontunmap = flags & MREMAP_DONTUNMAP != 0;
        let moved = ns != os || dontunmap;
        let tpid = self.mms[t.mm].tpid;
        let fixed = moved.then_some(ns);
        self.push(
            Op::Mremap {
                pid: tpid,
                addr: os,
                old_len: oe - os,
                new_len: ne - ns,
                flags: RemapFlags {
                    maymove: moved,
                    fixed,
                    dontunmap,
                },
            },
            None,
        );
        if !moved && ne < oe {
            self.mms[t.mm].space.remove(ne, oe);
            return Ok(());
        }
        // the pieces at their new place, gaps kept; the old range goes
        // unless DONTUNMAP left it (empty) or nothing moved
        let kept = (oe - os).min(ne - ns);
        if moved {
            if !dontunmap && oe > os {
                self.mms[t.mm].space.remove(os, oe);
            }
            for &(ps, seg) in &pieces {
                let to = ns + (ps - os);
                if to >= ns + kept {
                    break;
                }
                let end = (to + (seg.end.min(oe) - ps)).min(ns + kept);
                self.mms[t.mm].space.insert(to, Seg { end, ..seg });
            }
        }
        // a growth: new memory after what was there, continuing the last
        // piece's attributes and file offset
        if ne - ns > kept {
            let (ps, last) = *pieces.last().expect("a piece");
            let at = ns + kept;
            let ext = Seg {
                end: ne,
                file: last
                    .file
                    .map(|(f, off)| (f, off.saturating_add(os + kept - ps))),
                dontfork: false,
                ..last
            };
            self.mms[t.mm].space.insert(at, ext);
            self.mms[t.mm].space.coalesce(at);
            self.touch_new(tpid, at, ext, false);
        }
        Ok(())
    }

    /// The known segments of the old range `[os, oe)` of `mm`, if they
    /// cover all of it; for `old_size` 0 (a duplicate), the shared segment
    /// at `os` (`None` if it is private or unknown).
    fn remap_pieces(&mut self, mm: usize, os: u64, oe: u64) -> Option<Vec<(u64, Seg)>> {
        if os == oe {
            let (s, seg) = self.mms[mm].space.at(os)?;
            let file = seg.file.map(|(f, off)| (f, off.saturating_add(os - s)));
            return seg.shared.then_some(vec![(os, Seg { file, ..seg })]);
        }
        let pieces = self.mms[mm].space.pieces(os, oe);
        let covered: u64 = pieces.iter().map(|(ps, seg)| seg.end - ps).sum();
        (covered == oe - os).then_some(pieces)
    }
}
