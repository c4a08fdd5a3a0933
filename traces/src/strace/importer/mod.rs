//! Pass 2 of the import: events to ops, on a small model of the traced
//! programs: tasks (thread ids) with their thread group, address space and
//! descriptor table; per address space, the mappings strace showed and the
//! program break; the files mapped, with the sizes the log showed.
//!
//! This module holds that state, the argument helpers and the access
//! policy (`touch_new`); the calls that change it are in `memory` (mmap,
//! munmap, mprotect, madvise, brk, mremap), `process` (clone and its
//! family, execve) and `fds` (descriptor calls, file sizes).
//!
//! Invariants: every address space the trace names has exactly one trace
//! process ([`Mm::tpid`]); an op is written only for memory the space
//! knows, so that every op succeeds on the model; what is dropped for want
//! of knowledge is counted in [`ImportStats::dropped`].

use std::collections::HashMap;
use std::path::Path;

use rmap_core::{Access, MapFlags, Op, PAGE_SIZE, Pid};

use super::abi::{USER_END, bits, fd_arg, num, page_up};
use super::lex::{Call, Lexer, Ret};
use super::space::{Seg, Space};
use super::write::{Imported, Line};
use super::{ImportError, ImportOptions, ImportStats};

mod fds;
mod memory;
mod process;

/// The trace process that stands for the launcher (strace itself): it stays
/// empty, and address spaces that start empty are forked from it.
const LAUNCHER: Pid = 1;
/// At most this many chunks of one mapping are considered for touching.
const MAX_CHUNKS: u64 = 1 << 20;

/// One address space of the traced programs.
#[derive(Clone, Debug)]
struct Mm {
    /// The trace process that stands for it.
    tpid: Pid,
    users: u32,
    brk: Option<u64>,
    space: Space,
}

/// A descriptor table.
#[derive(Clone, Debug, Default)]
struct FdTable {
    /// fd -> (path if a file, close-on-exec)
    fds: HashMap<i64, (Option<String>, bool)>,
}

/// A traced task (thread id).
#[derive(Clone, Debug)]
struct Task {
    tgid: u32,
    mm: usize,
    fds: usize,
}

/// A file the trace declares.
struct FileInfo {
    name: String,
    path: String,
    /// Largest end offset mapped.
    extent: u64,
    /// Largest end offset touched.
    touched: u64,
}

/// The state of pass 2.
pub(super) struct Importer<'a> {
    opts: &'a ImportOptions,
    log: &'a str,
    tasks: HashMap<u32, Task>,
    mms: Vec<Mm>,
    fdtables: Vec<FdTable>,
    next_tpid: Pid,
    files: Vec<FileInfo>,
    file_by_path: HashMap<String, usize>,
    names: HashMap<String, usize>,
    /// Largest size fstat/stat/ftruncate showed, by path.
    sizes: HashMap<String, u64>,
    lines: Vec<Line>,
    stats: ImportStats,
}

/// A well-mixed hash of `x`, for the chunk choice.
fn mix(mut x: u64) -> u64 {
    // splitmix64's finaliser
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl<'a> Importer<'a> {
    /// A fresh importer for the log `log` (its name), with the counts of
    /// pass 1.
    pub(super) fn new(opts: &'a ImportOptions, log: &'a str, stats: ImportStats) -> Self {
        Importer {
            opts,
            log,
            tasks: HashMap::new(),
            mms: Vec::new(),
            fdtables: Vec::new(),
            next_tpid: LAUNCHER + 1,
            files: Vec::new(),
            file_by_path: HashMap::new(),
            names: HashMap::new(),
            sizes: HashMap::new(),
            lines: Vec::new(),
            stats,
        }
    }

    /// The trace, after the last event: the launcher exits, and each file
    /// is declared as large as the log showed it (at least as large as what
    /// the trace touches), or as far as it was mapped.
    pub(super) fn finish(mut self) -> Imported {
        self.push(Op::Exit { pid: LAUNCHER }, Some("the launcher".into()));
        let files = self
            .files
            .iter()
            .map(|f| {
                let size = match self.sizes.get(&f.path) {
                    Some(&s) => s.max(f.touched),
                    None => f.extent,
                };
                Op::File {
                    name: f.name.clone(),
                    size,
                }
            })
            .collect();
        let log_name = self.log;
        let base = Path::new(log_name).file_name().map_or_else(
            || log_name.to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        Imported {
            log_name: base,
            policy: self.opts.describe(),
            config: Op::Config(vec![
                rmap_core::ops::ConfigItem::Ram(self.opts.ram),
                rmap_core::ops::ConfigItem::Merge(rmap_core::MergePolicy::Both),
                rmap_core::ops::ConfigItem::Seed(self.opts.seed),
            ]),
            files,
            lines: self.lines,
            stats: self.stats,
        }
    }

    fn push(&mut self, op: Op, note: Option<String>) {
        self.lines.push(Line { op, note });
    }

    fn bad(&self, c: &Call, found: &str, expected: &str) -> ImportError {
        Lexer { log: self.log }.err(c.line, found, expected)
    }

    fn arg<'c>(&self, c: &'c Call, i: usize, what: &str) -> Result<&'c str, ImportError> {
        c.args.get(i).map(String::as_str).ok_or_else(|| {
            self.bad(
                c,
                &format!("{}({})", c.name, c.args.join(", ")),
                &format!("argument {} of {}: {what}", i + 1, c.name),
            )
        })
    }

    fn arg_num(&self, c: &Call, i: usize, what: &str) -> Result<u64, ImportError> {
        let a = self.arg(c, i, what)?;
        num(a).ok_or_else(|| self.bad(c, a, &format!("argument {} of {}: {what}", i + 1, c.name)))
    }

    fn arg_bits(
        &self,
        c: &Call,
        i: usize,
        table: &[(&str, u64)],
        what: &str,
    ) -> Result<u64, ImportError> {
        let a = self.arg(c, i, what)?;
        bits(a, table)
            .ok_or_else(|| self.bad(c, a, &format!("argument {} of {}: {what}", i + 1, c.name)))
    }

    fn arg_fd(&self, c: &Call, i: usize) -> Result<i64, ImportError> {
        let a = self.arg(c, i, "a file descriptor")?;
        fd_arg(a).ok_or_else(|| {
            self.bad(
                c,
                a,
                &format!("argument {} of {}: a file descriptor", i + 1, c.name),
            )
        })
    }

    /// A user address range `[addr, addr + page_up(len))`.
    fn range(&self, c: &Call, addr: u64, len: u64) -> Result<(u64, u64), ImportError> {
        if addr % PAGE_SIZE != 0 {
            // the kernel returns and accepts only page-aligned addresses
            return Err(self.bad(c, &format!("{addr:#x}"), "a page-aligned address"));
        }
        match page_up(len).and_then(|l| addr.checked_add(l)) {
            Some(end) if end <= USER_END => Ok((addr, end)),
            _ => Err(self.bad(
                c,
                &format!("{addr:#x} + {len:#x}"),
                "a user address range below 2^47",
            )),
        }
    }

    fn new_mm(&mut self) -> usize {
        let tpid = self.next_tpid;
        self.next_tpid += 1;
        self.stats.processes += 1;
        self.mms.push(Mm {
            tpid,
            users: 1,
            brk: None,
            space: Space::default(),
        });
        self.mms.len() - 1
    }

    /// A new, empty address space: its trace process is forked from the
    /// (empty) launcher, the fork op carrying `note`.
    fn empty_mm(&mut self, note: Option<String>) -> usize {
        let mm = self.new_mm();
        let tpid = self.mms[mm].tpid;
        self.push(
            Op::Fork {
                parent: LAUNCHER,
                child: tpid,
            },
            note,
        );
        mm
    }

    /// The task `pid`; one never seen created starts with an empty address
    /// space (forked from the launcher) and no known descriptors.
    fn task(&mut self, pid: u32) -> Task {
        if let Some(t) = self.tasks.get(&pid) {
            return t.clone();
        }
        let mm = self.empty_mm(Some(format!("strace pid {pid}")));
        self.fdtables.push(FdTable::default());
        let t = Task {
            tgid: pid,
            mm,
            fds: self.fdtables.len() - 1,
        };
        self.tasks.insert(pid, t.clone());
        t
    }

    /// The task `pid` ends (exit, or killed); its address space goes with
    /// its last user.
    pub(super) fn end_task(&mut self, pid: u32) {
        let Some(t) = self.tasks.remove(&pid) else {
            return;
        };
        let mm = &mut self.mms[t.mm];
        mm.users -= 1;
        if mm.users == 0 {
            let tpid = mm.tpid;
            mm.space = Space::default();
            self.push(Op::Exit { pid: tpid }, Some(format!("strace pid {pid}")));
        }
    }

    fn file_index(&mut self, path: &str) -> usize {
        if let Some(&i) = self.file_by_path.get(path) {
            return i;
        }
        let base = path.rsplit('/').next().unwrap_or(path);
        let mut name: String = base
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._+-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if name.is_empty() {
            name = "file".into();
        }
        if self.names.contains_key(&name) {
            let mut k = 2;
            while self.names.contains_key(&format!("{name}-{k}")) {
                k += 1;
            }
            name = format!("{name}-{k}");
        }
        let i = self.files.len();
        self.names.insert(name.clone(), i);
        self.file_by_path.insert(path.to_string(), i);
        self.files.push(FileInfo {
            name,
            path: path.to_string(),
            extent: 0,
            touched: 0,
        });
        i
    }

    fn note_size(&mut self, path: &str, size: u64) {
        let e = self.sizes.entry(path.to_string()).or_insert(0);
        *e = (*e).max(size);
    }

    /// Touches part of the new memory `[start, end)` per the policy.
    fn touch_new(&mut self, tpid: Pid, start: u64, seg: Seg, stack: bool) {
        let (prot, mut end) = (seg.prot, seg.end);
        let access = if prot.write() {
            Access::Write
        } else if prot.read() {
            Access::Read
        } else {
            return;
        };
        // a file whose size is not known yet is declared at least as large
        // as what the trace touches
        let mut size_unknown = false;
        if let Some((f, off)) = seg.file {
            // pages at or past the end of the file would raise SIGBUS
            match self.sizes.get(&self.files[f].path) {
                Some(&size) => {
                    let eof = page_up(size).unwrap_or(u64::MAX);
                    let room = eof.saturating_sub(off);
                    end = end.min(start.saturating_add(room));
                }
                None => size_unknown = true,
            }
        }
        if end <= start {
            return;
        }
        let mut runs: Vec<(u64, u64)> = Vec::new();
        if stack {
            let len = page_up(self.opts.stack_touch)
                .unwrap_or(end - start)
                .min(end - start);
            if len > 0 {
                runs.push((end - len, end));
            }
        } else if self.opts.touch_fraction > 0.0 {
            let chunk = self.opts.chunk_pages * PAGE_SIZE;
            let threshold = if self.opts.touch_fraction >= 1.0 {
                u64::MAX
            } else {
                (self.opts.touch_fraction * (u64::MAX as f64)) as u64
            };
            let mut budget = self.opts.max_touch;
            let mut a = start;
            let mut n = 0;
            while a < end && budget > 0 && n < MAX_CHUNKS {
                let b = a.saturating_add(chunk).min(end);
                let h = mix(self.opts.seed ^ mix(u64::from(tpid) ^ mix(a)));
                if h <= threshold {
                    let b = b.min(a.saturating_add(page_up(budget).unwrap_or(budget)));
                    budget = budget.saturating_sub(b - a);
                    match runs.last_mut() {
                        Some(last) if last.1 == a => last.1 = b,
                        _ => runs.push((a, b)),
                    }
                }
                a = b;
                n += 1;
            }
        }
        for (a, b) in runs {
            if let (Some((f, off)), true) = (seg.file, size_unknown) {
                let fi = &mut self.files[f];
                fi.touched = fi.touched.max(off.saturating_add(b - start));
            }
            self.push(
                Op::Touch {
                    pid: tpid,
                    addr: a,
                    len: b - a,
                    access,
                },
                None,
            );
        }
    }

    /// Maps `[start, seg.end)` in `mm`, writes the op and touches it.
    fn map(&mut self, mm: usize, start: u64, seg: Seg, stack: bool, touch: bool) {
        let tpid = self.mms[mm].tpid;
        self.mms[mm].space.insert(start, seg);
        let (file, off) = match seg.file {
            Some((f, off)) => {
                let fi = &mut self.files[f];
                fi.extent = fi.extent.max(off.saturating_add(seg.end - start));
                (Some(fi.name.clone()), off)
            }
            None => (None, 0),
        };
        self.push(
            Op::Mmap {
                pid: tpid,
                addr: start,
                len: seg.end - start,
                prot: seg.prot,
                flags: MapFlags {
                    shared: seg.shared,
                    noreserve: false,
                    many_prots: false,
                },
                file,
                off,
            },
            None,
        );
        if touch {
            self.touch_new(tpid, start, seg, stack);
        }
    }

    fn unmap(&mut self, mm: usize, start: u64, end: u64) {
        if self.mms[mm].space.remove(start, end) {
            let tpid = self.mms[mm].tpid;
            self.push(
                Op::Munmap {
                    pid: tpid,
                    addr: start,
                    len: end - start,
                },
                None,
            );
        }
    }

    /// One finished call. Errors: arguments that are not what the call
    /// takes.
    pub(super) fn call(&mut self, c: &Call) -> Result<(), ImportError> {
        let Ret::Ok(ret) = c.ret else {
            return Ok(()); // a failed call changed nothing
        };
        match c.name.as_str() {
            "mmap" | "mmap2" => self.sys_mmap(c, ret),
            "munmap" => {
                let (addr, len) = (
                    self.arg_num(c, 0, "an address")?,
                    self.arg_num(c, 1, "a length")?,
                );
                let (s, e) = self.range(c, addr, len)?;
                let t = self.task(c.pid);
                self.unmap(t.mm, s, e);
                Ok(())
            }
            "mprotect" | "pkey_mprotect" => self.sys_mprotect(c),
            "madvise" => self.sys_madvise(c),
            "brk" => self.sys_brk(c, ret),
            "mremap" => self.sys_mremap(c, ret),
            "clone" | "clone3" | "fork" | "vfork" => self.sys_clone(c, ret),
            "execve" | "execveat" => self.sys_execve(c),
            "exit_group" => {
                let t = self.task(c.pid);
                let group: Vec<u32> = self
                    .tasks
                    .iter()
                    .filter(|(_, x)| x.tgid == t.tgid)
                    .map(|(&p, _)| p)
                    .collect();
                let mut group = group;
                group.sort_unstable();
                for p in group {
                    self.end_task(p);
                }
                Ok(())
            }
            "exit" => {
                self.end_task(c.pid);
                Ok(())
            }
            _ => self.fd_call(c, ret),
        }
    }
}
