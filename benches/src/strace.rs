//! Importing an `strace -f` log as a trace (`docs/strace-import.md`).
//!
//! The import runs in two passes. The first reads the log line by line,
//! strips the `PID` / `[pid N]` prefix and any timestamp, joins the
//! `<unfinished ...>` and `<... NAME resumed>` halves of interrupted calls,
//! and yields one [`Event`] per finished call, `+++ exited +++` or
//! `+++ killed +++` line. A clone-family call is placed at the line where it
//! started (its child's first lines can come before the parent's call
//! returns); every other call is placed where it finished.
//!
//! The second pass replays the events on a small model of the traced
//! programs: tasks (thread ids) with their thread group, address space and
//! fd table; per address space, the mappings strace showed and the program
//! break. It writes trace ops for the calls that change an address space
//! and, as strace cannot see page accesses, `touch` ops chosen by the access
//! policy of [`ImportOptions`]. Operations on memory that strace never showed
//! being mapped (the executable, the interpreter, the stack and the vdso,
//! which the kernel maps at exec) are clipped to what is known, so that
//! every op of the trace succeeds on the model.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use rmap_core::trace::{format_size, parse_size, write_op};
use rmap_core::{Access, Advice, MapFlags, Op, Pid, Prot};

const PAGE: u64 = 4096;
/// The model's user address space ends here (x86-64, 4-level paging).
const USER_END: u64 = 1 << 47;
/// The trace process that stands for the launcher (strace itself): it stays
/// empty, and address spaces that start empty are forked from it.
const LAUNCHER: Pid = 1;
/// At most this many chunks of one mapping are considered for touching.
const MAX_CHUNKS: u64 = 1 << 20;

/// The access policy: which pages of new memory the trace touches.
#[derive(clap::Args, Clone, Debug, PartialEq)]
pub struct ImportOptions {
    /// Fraction (0 to 1) of the chunks of each new mapping, heap growth,
    /// mremap growth or PROT_NONE-to-accessible mprotect to touch once:
    /// writing if the memory is writable, else reading if readable.
    #[arg(long, default_value_t = DEFAULT_FRACTION, value_parser = parse_fraction)]
    pub touch_fraction: f64,
    /// Pages per chunk: each chunk is touched whole or not at all.
    #[arg(long, default_value_t = DEFAULT_CHUNK_PAGES, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub chunk_pages: u64,
    /// At most this many bytes touched per event (e.g. `8M`); when the cap
    /// is reached, the lowest chosen chunks are the ones touched.
    #[arg(long, default_value = "8M", value_parser = parse_size_arg)]
    pub max_touch: u64,
    /// Bytes touched at the top of a new stack mapping (MAP_STACK or
    /// MAP_GROWSDOWN) instead of the fraction rule.
    #[arg(long, default_value = "64K", value_parser = parse_size_arg)]
    pub stack_touch: u64,
    /// Seed of the chunk choice; also written as the trace's `config seed=`.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Simulated RAM of the trace's `config ram=` (e.g. `1G`).
    #[arg(long, default_value = "1G", value_parser = parse_size_arg)]
    pub ram: u64,
}

const DEFAULT_FRACTION: f64 = 0.5;
const DEFAULT_CHUNK_PAGES: u64 = 8;

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            touch_fraction: DEFAULT_FRACTION,
            chunk_pages: DEFAULT_CHUNK_PAGES,
            max_touch: 8 << 20,
            stack_touch: 64 << 10,
            seed: 0,
            ram: 1 << 30,
        }
    }
}

impl ImportOptions {
    /// The policy in one line, as the trace's header states it.
    pub fn describe(&self) -> String {
        format!(
            "touch-fraction={} chunk-pages={} max-touch={} stack-touch={} seed={}",
            self.touch_fraction,
            self.chunk_pages,
            format_size(self.max_touch),
            format_size(self.stack_touch),
            self.seed
        )
    }

    fn check(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.touch_fraction) {
            return Err(format!(
                "touch fraction {} is not between 0 and 1",
                self.touch_fraction
            ));
        }
        if !(1..=4096).contains(&self.chunk_pages) {
            return Err(format!(
                "chunk pages {} is not between 1 and 4096",
                self.chunk_pages
            ));
        }
        if self.ram < 64 << 10 {
            return Err(format!("ram {} is below 64K", self.ram));
        }
        Ok(())
    }
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!("`{s}`: expected a number from 0 to 1")),
    }
}

fn parse_size_arg(s: &str) -> Result<u64, String> {
    parse_size(s).ok_or_else(|| format!("`{s}`: expected a size such as 65536, 64K or 8M"))
}

/// Why a log could not be imported.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// A line that is not what strace writes.
    #[error("{log}:{line}: found `{found}`, expected {expected}")]
    Malformed {
        log: String,
        line: usize,
        found: String,
        expected: String,
    },
    /// Options outside their ranges.
    #[error("import options: {0}")]
    Options(String),
}

/// What the import counted, for the header and the caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportStats {
    /// Log lines read.
    pub lines: usize,
    /// Finished calls seen (all syscalls, known or not).
    pub calls: usize,
    /// Calls that failed (`= -1 E...` or `= ?`) and were skipped.
    pub failed: usize,
    /// Address spaces created (trace processes other than the launcher).
    pub processes: usize,
    /// Clones that shared their parent's address space (CLONE_VM: threads
    /// and vfork children).
    pub shared_mm: usize,
    /// Calls or parts of calls dropped because they concern memory that
    /// strace never showed being mapped.
    pub dropped: usize,
}

/// One line of the trace body: an op with an optional comment.
#[derive(Clone, Debug, PartialEq)]
struct Line {
    op: Op,
    note: Option<String>,
}

/// A log turned into a trace.
#[derive(Clone, Debug, PartialEq)]
pub struct Imported {
    /// Base name of the log, for the header.
    pub log_name: String,
    pub policy: String,
    pub config: Op,
    /// `file` declarations, in order of first use.
    pub files: Vec<Op>,
    lines: Vec<Line>,
    pub stats: ImportStats,
}

impl Imported {
    /// The operations after the file declarations.
    pub fn ops(&self) -> impl Iterator<Item = &Op> {
        self.lines.iter().map(|l| &l.op)
    }

    /// The trace text: a header comment, `config`, the `file` lines, the ops.
    pub fn to_text(&self) -> String {
        let s = &self.stats;
        let mut t = format!(
            "# imported from strace log {} by rmap-bench import-strace; access policy: {}\n",
            self.log_name, self.policy
        );
        t.push_str(&format!(
            "# {} log lines, {} calls ({} failed, skipped), {} address spaces, {} CLONE_VM clones, {} pieces dropped; process 1 is the (empty) launcher\n",
            s.lines, s.calls, s.failed, s.processes, s.shared_mm, s.dropped
        ));
        t.push_str(&write_op(&self.config));
        t.push('\n');
        for f in &self.files {
            t.push_str(&write_op(f));
            t.push('\n');
        }
        for l in &self.lines {
            t.push_str(&write_op(&l.op));
            if let Some(n) = &l.note {
                t.push_str(" # ");
                t.push_str(n);
            }
            t.push('\n');
        }
        t
    }
}

// ---------------------------------------------------------------------------
// Pass 1: lines to events.

/// A syscall's return value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ret {
    Ok(u64),
    /// `-1 ENAME`, `?` and the like: the call failed or did not return.
    Failed,
}

#[derive(Clone, Debug)]
struct Call {
    line: usize,
    pid: u32,
    name: String,
    args: Vec<String>,
    ret: Ret,
}

#[derive(Clone, Debug)]
enum Event {
    Call(Call),
    /// `+++ exited with N +++` or `+++ killed by SIG +++`.
    Gone {
        pid: u32,
    },
}

struct Lexer<'a> {
    log: &'a str,
}

impl Lexer<'_> {
    fn err(&self, line: usize, found: &str, expected: &str) -> ImportError {
        let found: String = if found.chars().count() > 60 {
            format!("{}...", found.chars().take(60).collect::<String>())
        } else {
            found.to_string()
        };
        ImportError::Malformed {
            log: self.log.to_string(),
            line,
            found,
            expected: expected.to_string(),
        }
    }
}

fn is_clone_family(name: &str) -> bool {
    matches!(name, "clone" | "clone3" | "fork" | "vfork")
}

/// Strips a leading process id (`1234 ` or `[pid 1234] `) and a timestamp.
fn strip_prefix(text: &str) -> Result<(Option<u32>, &str), ()> {
    let mut rest = text.trim_start();
    let mut pid = None;
    if let Some(r) = rest.strip_prefix("[pid") {
        let (num, after) = r.split_once(']').ok_or(())?;
        pid = Some(num.trim().parse::<u32>().map_err(|_| ())?);
        rest = after.trim_start();
    } else {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && rest[digits..].starts_with([' ', '\t']) {
            pid = Some(rest[..digits].parse::<u32>().map_err(|_| ())?);
            rest = rest[digits..].trim_start();
        }
    }
    // -t, -tt, -ttt, -r timestamps: digits with ':' or '.', then a space.
    let tok_len = rest.find([' ', '\t']).unwrap_or(rest.len());
    let tok = &rest[..tok_len];
    if !tok.is_empty()
        && tok.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && tok
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b':' || b == b'.')
        && tok.bytes().any(|b| b == b':' || b == b'.')
    {
        rest = rest[tok_len..].trim_start();
    }
    Ok((pid, rest))
}

/// Splits the arguments after `NAME(`: returns the top-level arguments and
/// the text after the closing parenthesis. Strings, comments, brackets and
/// braces are skipped as units. `None` if the parenthesis never closes.
fn split_args(s: &str) -> Option<(Vec<String>, &str)> {
    let b = s.as_bytes();
    let mut args = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let end = s[i + 2..].find("*/")?;
                i += end + 3;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b']' | b'}' => depth = depth.saturating_sub(1),
            b')' if depth == 0 => {
                let last = s[start..i].trim();
                if !last.is_empty() || !args.is_empty() {
                    args.push(last.to_string());
                }
                return Some((args, &s[i + 1..]));
            }
            b')' => depth -= 1,
            b',' if depth == 0 => {
                args.push(s[start..i].trim().to_string());
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Parses `= RET ...` after the closing parenthesis.
fn parse_ret(after: &str) -> Option<Ret> {
    let r = after.trim_start().strip_prefix('=')?.trim_start();
    let tok_end = r
        .find(|c: char| c.is_whitespace() || c == '<' || c == '(')
        .unwrap_or(r.len());
    let tok = &r[..tok_end];
    if tok == "?" {
        return Some(Ret::Failed);
    }
    if let Some(neg) = tok.strip_prefix('-') {
        neg.parse::<u64>().ok()?;
        return Some(Ret::Failed);
    }
    let n = match tok.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok()?,
        None => tok.parse::<u64>().ok()?,
    };
    Some(Ret::Ok(n))
}

/// A syscall name: letters, digits and `_`, starting with a letter or `_`.
fn is_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

const E_LINE: &str = "an strace line: `[PID] NAME(ARGS) = RET`, `... <unfinished ...>`, `<... NAME resumed>...`, `--- SIG... ---` or `+++ ... +++`";

/// Pass 1: the log's events in the order they take effect.
fn events(log: &str, log_name: &str, stats: &mut ImportStats) -> Result<Vec<Event>, ImportError> {
    let lx = Lexer { log: log_name };
    // pid -> (line, name, text from `NAME(` on)
    let mut pending: HashMap<u32, (usize, String, String)> = HashMap::new();
    let mut superseded: HashMap<u32, u32> = HashMap::new();
    let mut out: Vec<(usize, usize, Event)> = Vec::new();
    let mut default_pid: Option<u32> = None;
    // The real pid of the unprefixed first process, once a prefix shows it.
    let mut first_alias: Option<u32> = None;
    // Pids that clone/fork/vfork returned so far.
    let mut spawned: HashSet<u32> = HashSet::new();
    let mut n_lines = 0;
    for (i, raw) in log.lines().enumerate() {
        let line = i + 1;
        n_lines = line;
        let text = raw.trim_end();
        if text.trim().is_empty() || text.starts_with("strace: ") {
            continue;
        }
        let (pid, body) = strip_prefix(text).map_err(|_| lx.err(line, text, E_LINE))?;
        // A log written to stderr (no -o) prints the first process without
        // a prefix until a second exists, and as `[pid N]` from then on: the
        // first prefixed pid that is not a child of the log is that process.
        if let (Some(p), Some(0), None) = (pid, default_pid, first_alias)
            && !spawned.contains(&p)
        {
            let parent_cloning = pending.get(&0).is_some_and(|(_, n, _)| is_clone_family(n));
            let resumes_it = body.starts_with("<... ");
            if !parent_cloning || resumes_it {
                first_alias = Some(p);
            }
        }
        let pid = match (pid, default_pid) {
            (Some(p), _) if Some(p) == first_alias => 0,
            (Some(p), None) => {
                default_pid = Some(p);
                p
            }
            (Some(p), Some(_)) => p,
            (None, Some(d)) => d,
            (None, None) => {
                default_pid = Some(0);
                0
            }
        };
        let seq = out.len();
        if let Some(r) = body.strip_prefix("+++ ") {
            if r.starts_with("exited") || r.starts_with("killed") {
                out.push((line, seq, Event::Gone { pid }));
            } else if let Some(t) = r.strip_prefix("superseded by execve in pid ") {
                let tid = t
                    .split_whitespace()
                    .next()
                    .and_then(|x| x.parse::<u32>().ok())
                    .ok_or_else(|| lx.err(line, body, "`+++ superseded by execve in pid N +++`"))?;
                superseded.insert(pid, tid);
            } else if !r.trim_end().ends_with("+++") {
                return Err(lx.err(line, body, E_LINE));
            }
            continue;
        }
        if body.starts_with("---") {
            continue; // a signal
        }
        let joined: String;
        let (full, start_line) = if let Some(r) = body.strip_prefix("<... ") {
            let (name, rest) = r
                .split_once(" resumed>")
                .ok_or_else(|| lx.err(line, body, "`<... NAME resumed>`"))?;
            let taken = pending.remove(&pid).or_else(|| {
                // an execve by a thread resumes under the leader's pid
                let tid = superseded.remove(&pid)?;
                pending.remove(&tid)
            });
            match taken {
                Some((l, n, partial)) if n == name => {
                    joined = format!("{}{}", partial.trim_end(), rest);
                    (joined.as_str(), l)
                }
                _ if name == "execve" => {
                    joined = format!("execve({rest}");
                    (joined.as_str(), line)
                }
                _ => {
                    return Err(lx.err(
                        line,
                        body,
                        &format!("an earlier `{name}(... <unfinished ...>` line of pid {pid}"),
                    ));
                }
            }
        } else if let Some(partial) = body.strip_suffix("<unfinished ...>") {
            let name = partial.split('(').next().unwrap_or("");
            if !is_name(name) || !partial.contains('(') {
                return Err(lx.err(line, body, "`NAME(ARGS <unfinished ...>`"));
            }
            pending.insert(pid, (line, name.to_string(), partial.to_string()));
            continue;
        } else {
            (body, line)
        };
        let (name, args) = full
            .split_once('(')
            .filter(|(n, _)| is_name(n))
            .ok_or_else(|| lx.err(line, body, E_LINE))?;
        let (args, after) = split_args(args)
            .ok_or_else(|| lx.err(line, body, "arguments that end in `)` followed by `= RET`"))?;
        let ret = parse_ret(after).ok_or_else(|| {
            lx.err(
                line,
                after.trim(),
                "`= RET`: a number, a 0x address, `-1 ERRNO` or `?`",
            )
        })?;
        stats.calls += 1;
        // `exit_group(0) = ?` never returns; it is not a failure.
        if ret == Ret::Failed && !matches!(name, "exit" | "exit_group") {
            stats.failed += 1;
        }
        let pos = if is_clone_family(name) {
            if let Ret::Ok(child) = ret {
                spawned.insert(child as u32);
            }
            start_line
        } else {
            line
        };
        out.push((
            pos,
            seq,
            Event::Call(Call {
                line,
                pid,
                name: name.to_string(),
                args,
                ret,
            }),
        ));
    }
    stats.lines = n_lines;
    out.sort_by_key(|&(pos, seq, _)| (pos, seq));
    Ok(out.into_iter().map(|(_, _, e)| e).collect())
}

// ---------------------------------------------------------------------------
// Argument decoding.

fn num(tok: &str) -> Option<u64> {
    let t = tok.trim();
    if t == "NULL" {
        return Some(0);
    }
    // `3</path>` (strace -y) and `5 /* comment */`
    let t = t.split(['<', ' ']).next().unwrap_or(t);
    match t.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => t.parse::<u64>().ok(),
    }
}

/// A file descriptor: a number, `-1`, or `AT_FDCWD`.
fn fd_arg(tok: &str) -> Option<i64> {
    let t = tok.trim();
    if t == "AT_FDCWD" {
        return Some(-100);
    }
    let t = t.split(['<', ' ']).next().unwrap_or(t);
    t.parse::<i64>().ok()
}

/// The `<path>` that `strace -y` puts after a descriptor.
fn fd_decoration(tok: &str) -> Option<String> {
    let (_, r) = tok.split_once('<')?;
    Some(r.strip_suffix('>').unwrap_or(r).to_string())
}

/// The contents of a quoted string argument (escapes left as written).
fn string_arg(tok: &str) -> Option<String> {
    let t = tok.trim();
    let t = t.strip_suffix("...").unwrap_or(t);
    let inner = t.strip_prefix('"')?.strip_suffix('"')?;
    Some(inner.to_string())
}

/// `A|B|C` names, or a number of bits.
fn bits(tok: &str, table: &[(&str, u64)]) -> Option<u64> {
    let t = tok.trim();
    if let Some(n) = num(t) {
        return Some(n);
    }
    let mut v = 0;
    for part in t.split('|') {
        let part = part.trim();
        if let Some(&(_, b)) = table.iter().find(|(n, _)| *n == part) {
            v |= b;
        } else if let Some(n) = num(part) {
            v |= n;
        } else if !is_name(part) {
            return None;
        }
        // other names (MAP_DENYWRITE, O_LARGEFILE, ...) change nothing here
    }
    Some(v)
}

const PROT_READ: u64 = 1;
const PROT_WRITE: u64 = 2;
const PROT_EXEC: u64 = 4;
const PROTS: &[(&str, u64)] = &[
    ("PROT_NONE", 0),
    ("PROT_READ", PROT_READ),
    ("PROT_WRITE", PROT_WRITE),
    ("PROT_EXEC", PROT_EXEC),
];
const MAP_SHARED: u64 = 1;
const MAP_PRIVATE: u64 = 2;
const MAP_SHARED_VALIDATE: u64 = 3;
const MAP_ANONYMOUS: u64 = 0x20;
const MAP_GROWSDOWN: u64 = 0x100;
const MAP_NORESERVE: u64 = 0x4000;
const MAP_STACK: u64 = 0x20000;
const MAPS: &[(&str, u64)] = &[
    ("MAP_SHARED", MAP_SHARED),
    ("MAP_PRIVATE", MAP_PRIVATE),
    ("MAP_SHARED_VALIDATE", MAP_SHARED_VALIDATE),
    ("MAP_ANONYMOUS", MAP_ANONYMOUS),
    ("MAP_ANON", MAP_ANONYMOUS),
    ("MAP_GROWSDOWN", MAP_GROWSDOWN),
    ("MAP_NORESERVE", MAP_NORESERVE),
    ("MAP_STACK", MAP_STACK),
];
const CLONE_VM: u64 = 0x100;
const CLONE_FILES: u64 = 0x400;
const CLONE_VFORK: u64 = 0x4000;
const CLONE_THREAD: u64 = 0x10000;
const CLONES: &[(&str, u64)] = &[
    ("CLONE_VM", CLONE_VM),
    ("CLONE_FILES", CLONE_FILES),
    ("CLONE_VFORK", CLONE_VFORK),
    ("CLONE_THREAD", CLONE_THREAD),
];
const O_CLOEXEC: u64 = 0o2000000;
const OPENS: &[(&str, u64)] = &[("O_CLOEXEC", O_CLOEXEC)];
const MREMAP_MAYMOVE: u64 = 1;
const MREMAP_FIXED: u64 = 2;
const MREMAP_DONTUNMAP: u64 = 4;
const MREMAPS: &[(&str, u64)] = &[
    ("MREMAP_MAYMOVE", MREMAP_MAYMOVE),
    ("MREMAP_FIXED", MREMAP_FIXED),
    ("MREMAP_DONTUNMAP", MREMAP_DONTUNMAP),
];

fn prot_of(bits: u64) -> Prot {
    Prot::new(
        bits & PROT_READ != 0,
        bits & PROT_WRITE != 0,
        bits & PROT_EXEC != 0,
    )
}

/// `madvise` advice the model implements; `None` for advice that leaves
/// nothing the model keeps (WILLNEED, FREE, HUGEPAGE, ...).
fn advice_of(tok: &str) -> Option<Advice> {
    Some(match tok.trim() {
        "MADV_DONTNEED" | "0x4" | "4" => Advice::DontNeed,
        "MADV_PAGEOUT" | "0x15" | "21" => Advice::PageOut,
        "MADV_DONTFORK" | "0xa" | "10" => Advice::DontFork,
        "MADV_DOFORK" | "0xb" | "11" => Advice::DoFork,
        "MADV_WIPEONFORK" | "0x12" | "18" => Advice::WipeOnFork,
        "MADV_GUARD_INSTALL" | "0x66" | "102" => Advice::GuardInstall,
        "MADV_GUARD_REMOVE" | "0x67" | "103" => Advice::GuardRemove,
        _ => return None,
    })
}

/// The value of `key=` inside an argument list (clone flags, clone3's
/// struct, stat's struct): the text up to the next `,` or `}` at that level.
fn field<'a>(args: &'a [String], key: &str) -> Option<&'a str> {
    for a in args {
        let mut s = a.as_str();
        while let Some(i) = s.find(key) {
            let before = s[..i].chars().last();
            let rest = &s[i + key.len()..];
            if before.is_none_or(|c| c == '{' || c == ' ' || c == ',') {
                let end = rest.find([',', '}']).unwrap_or(rest.len());
                return Some(rest[..end].trim());
            }
            s = rest;
        }
    }
    None
}

fn page_up(n: u64) -> Option<u64> {
    n.checked_add(PAGE - 1).map(|x| x & !(PAGE - 1))
}

// ---------------------------------------------------------------------------
// Pass 2: events to ops.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Seg {
    end: u64,
    prot: Prot,
    shared: bool,
    /// File index and the file offset of the segment's start.
    file: Option<(usize, u64)>,
    dontfork: bool,
}

/// The known mappings of one address space.
#[derive(Clone, Debug, Default)]
struct Space {
    segs: BTreeMap<u64, Seg>,
}

impl Space {
    /// Splits the segment that contains `at` so that a segment starts there.
    fn split(&mut self, at: u64) {
        let Some((&s, &seg)) = self.segs.range(..at).next_back() else {
            return;
        };
        if seg.end <= at {
            return;
        }
        let mut left = seg;
        left.end = at;
        let mut right = seg;
        if let Some((f, off)) = seg.file {
            right.file = Some((f, off.saturating_add(at - s)));
        }
        self.segs.insert(s, left);
        self.segs.insert(at, right);
    }

    fn remove(&mut self, start: u64, end: u64) -> bool {
        self.split(start);
        self.split(end);
        let keys: Vec<u64> = self.segs.range(start..end).map(|(&k, _)| k).collect();
        for k in &keys {
            self.segs.remove(k);
        }
        !keys.is_empty()
    }

    fn insert(&mut self, start: u64, seg: Seg) {
        self.remove(start, seg.end);
        self.segs.insert(start, seg);
    }

    /// The known pieces of `[start, end)`, split at its ends.
    fn pieces(&mut self, start: u64, end: u64) -> Vec<(u64, Seg)> {
        self.split(start);
        self.split(end);
        self.segs.range(start..end).map(|(&k, &v)| (k, v)).collect()
    }

    fn at(&self, addr: u64) -> Option<(u64, Seg)> {
        let (&s, &seg) = self.segs.range(..=addr).next_back()?;
        (seg.end > addr).then_some((s, seg))
    }
}

#[derive(Clone, Debug)]
struct Mm {
    tpid: Pid,
    users: u32,
    brk: Option<u64>,
    space: Space,
}

#[derive(Clone, Debug, Default)]
struct FdTable {
    /// fd -> (path if a file, close-on-exec)
    fds: HashMap<i64, (Option<String>, bool)>,
}

#[derive(Clone, Debug)]
struct Task {
    tgid: u32,
    mm: usize,
    fds: usize,
}

struct FileInfo {
    name: String,
    path: String,
    /// Largest end offset mapped.
    extent: u64,
    /// Largest end offset touched.
    touched: u64,
}

struct Importer<'a> {
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

/// Imports an strace log; `log_name` names it in errors and in the header.
pub fn import(log: &str, log_name: &str, opts: &ImportOptions) -> Result<Imported, ImportError> {
    opts.check().map_err(ImportError::Options)?;
    let mut stats = ImportStats::default();
    let evs = events(log, log_name, &mut stats)?;
    let mut im = Importer {
        opts,
        log: log_name,
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
    };
    for ev in evs {
        match ev {
            Event::Gone { pid } => im.end_task(pid),
            Event::Call(c) => im.call(&c)?,
        }
    }
    im.push(Op::Exit { pid: LAUNCHER }, Some("the launcher".into()));
    let files = im
        .files
        .iter()
        .map(|f| {
            let size = match im.sizes.get(&f.path) {
                Some(&s) => s.max(f.touched),
                None => f.extent,
            };
            Op::File {
                name: f.name.clone(),
                size,
            }
        })
        .collect();
    let base = Path::new(log_name).file_name().map_or_else(
        || log_name.to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    Ok(Imported {
        log_name: base,
        policy: opts.describe(),
        config: Op::Config(vec![
            rmap_core::ops::ConfigItem::Ram(opts.ram),
            rmap_core::ops::ConfigItem::Merge(rmap_core::MergePolicy::Both),
            rmap_core::ops::ConfigItem::Seed(opts.seed),
        ]),
        files,
        lines: im.lines,
        stats: im.stats,
    })
}

fn mix(mut x: u64) -> u64 {
    // splitmix64's finaliser
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Importer<'_> {
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
        if addr % PAGE != 0 {
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

    /// The task `pid`; one never seen created starts with an empty address
    /// space (forked from the launcher) and no known descriptors.
    fn task(&mut self, pid: u32) -> Task {
        if let Some(t) = self.tasks.get(&pid) {
            return t.clone();
        }
        let mm = self.new_mm();
        let tpid = self.mms[mm].tpid;
        self.push(
            Op::Fork {
                parent: LAUNCHER,
                child: tpid,
            },
            Some(format!("strace pid {pid}")),
        );
        self.fdtables.push(FdTable::default());
        let t = Task {
            tgid: pid,
            mm,
            fds: self.fdtables.len() - 1,
        };
        self.tasks.insert(pid, t.clone());
        t
    }

    fn end_task(&mut self, pid: u32) {
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
            let chunk = self.opts.chunk_pages * PAGE;
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

    fn call(&mut self, c: &Call) -> Result<(), ImportError> {
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

    fn sys_mmap(&mut self, c: &Call, ret: u64) -> Result<(), ImportError> {
        let len = self.arg_num(c, 1, "a length")?;
        let prot = self.arg_bits(c, 2, PROTS, "PROT_ flags")?;
        let flags = self.arg_bits(c, 3, MAPS, "MAP_ flags")?;
        let fd = self.arg_fd(c, 4)?;
        let mut off = self.arg_num(c, 5, "an offset")?;
        if c.name == "mmap2" {
            off = off.saturating_mul(PAGE);
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
                file = Some((self.file_index(&path), off & !(PAGE - 1)));
            }
        }
        let seg = Seg {
            end,
            prot: prot_of(prot),
            shared,
            file,
            dontfork: false,
        };
        let stack = flags & (MAP_STACK | MAP_GROWSDOWN) != 0;
        self.map(t.mm, start, seg, stack, true);
        Ok(())
    }

    fn sys_mprotect(&mut self, c: &Call) -> Result<(), ImportError> {
        let addr = self.arg_num(c, 0, "an address")?;
        let len = self.arg_num(c, 1, "a length")?;
        let prot = prot_of(self.arg_bits(c, 2, PROTS, "PROT_ flags")?);
        let (s, e) = self.range(c, addr, len)?;
        let t = self.task(c.pid);
        let tpid = self.mms[t.mm].tpid;
        let pieces = self.mms[t.mm].space.pieces(s, e);
        let mut covered = 0;
        for (ps, seg) in pieces {
            covered += seg.end - ps;
            let new = Seg { prot, ..seg };
            self.mms[t.mm].space.segs.insert(ps, new);
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
        if covered < e - s {
            self.stats.dropped += 1;
        }
        Ok(())
    }

    fn sys_madvise(&mut self, c: &Call) -> Result<(), ImportError> {
        let addr = self.arg_num(c, 0, "an address")?;
        let len = self.arg_num(c, 1, "a length")?;
        let adv = self.arg(c, 2, "MADV_ advice")?;
        let Some(advice) = advice_of(adv) else {
            return Ok(());
        };
        let (s, e) = self.range(c, addr, len)?;
        let t = self.task(c.pid);
        let tpid = self.mms[t.mm].tpid;
        let pieces = self.mms[t.mm].space.pieces(s, e);
        let mut covered = 0;
        for (ps, seg) in pieces {
            covered += seg.end - ps;
            if matches!(advice, Advice::DontFork | Advice::DoFork) {
                let d = advice == Advice::DontFork;
                self.mms[t.mm]
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
        if covered < e - s {
            self.stats.dropped += 1;
        }
        Ok(())
    }

    fn sys_brk(&mut self, c: &Call, ret: u64) -> Result<(), ImportError> {
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

    fn sys_mremap(&mut self, c: &Call, ret: u64) -> Result<(), ImportError> {
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
        let Some((seg_start, seg)) = self.mms[t.mm].space.at(os) else {
            self.stats.dropped += 1;
            return Ok(());
        };
        if oe == os {
            self.stats.dropped += 1; // duplicating a shared mapping: not modelled
            return Ok(());
        }
        let file_off = |at: u64| {
            seg.file
                .map(|(f, off)| (f, off.saturating_add(at - seg_start)))
        };
        if ns == os && flags & MREMAP_DONTUNMAP == 0 {
            if ne > oe {
                let ext = Seg {
                    end: ne,
                    file: file_off(oe),
                    dontfork: false,
                    ..seg
                };
                self.map(t.mm, oe, ext, false, true);
            } else if ne < oe {
                self.unmap(t.mm, ne, oe);
            }
            return Ok(());
        }
        let moved = Seg {
            end: ne,
            file: file_off(os),
            dontfork: false,
            ..seg
        };
        if flags & MREMAP_DONTUNMAP != 0 {
            let tpid = self.mms[t.mm].tpid;
            self.push(
                Op::Madvise {
                    pid: tpid,
                    addr: os,
                    len: oe - os,
                    advice: Advice::DontNeed,
                },
                Some("mremap MREMAP_DONTUNMAP".into()),
            );
        } else {
            self.unmap(t.mm, os, oe);
        }
        // the moved pages were in use: the new place is touched as new memory
        self.map(t.mm, ns, moved, false, true);
        Ok(())
    }

    fn sys_clone(&mut self, c: &Call, child: u64) -> Result<(), ImportError> {
        let flags = match c.name.as_str() {
            "fork" => 0,
            "vfork" => CLONE_VM | CLONE_VFORK,
            _ => match field(&c.args, "flags=") {
                Some(f) => bits(f, CLONES)
                    .ok_or_else(|| self.bad(c, f, "clone flags like CLONE_VM|SIGCHLD"))?,
                None => return Err(self.bad(c, &c.args.join(", "), "a `flags=` argument")),
            },
        };
        let child = u32::try_from(child).map_err(|_| self.bad(c, &child.to_string(), "a pid"))?;
        if child == c.pid {
            return Err(self.bad(c, &child.to_string(), "a child pid other than the caller's"));
        }
        let parent = self.task(c.pid);
        if self.tasks.contains_key(&child) {
            self.end_task(child); // its exit was not in the log
        }
        let fds = if flags & CLONE_FILES != 0 {
            parent.fds
        } else {
            let copy = self.fdtables[parent.fds].clone();
            self.fdtables.push(copy);
            self.fdtables.len() - 1
        };
        let tgid = if flags & CLONE_THREAD != 0 {
            parent.tgid
        } else {
            child
        };
        let mm = if flags & CLONE_VM != 0 {
            self.stats.shared_mm += 1;
            self.mms[parent.mm].users += 1;
            parent.mm
        } else {
            let mm = self.new_mm();
            let p = &self.mms[parent.mm];
            let (ptpid, brk) = (p.tpid, p.brk);
            let mut space = p.space.clone();
            space.segs.retain(|_, s| !s.dontfork);
            self.mms[mm].space = space;
            self.mms[mm].brk = brk;
            let tpid = self.mms[mm].tpid;
            self.push(
                Op::Fork {
                    parent: ptpid,
                    child: tpid,
                },
                Some(format!("strace pid {} {} {child}", c.pid, c.name)),
            );
            mm
        };
        self.tasks.insert(child, Task { tgid, mm, fds });
        Ok(())
    }

    fn sys_execve(&mut self, c: &Call) -> Result<(), ImportError> {
        let path = c
            .args
            .first()
            .and_then(|a| string_arg(a))
            .unwrap_or_default();
        let t = self.task(c.pid);
        // the other threads of the group end
        let mut others: Vec<u32> = self
            .tasks
            .iter()
            .filter(|&(&p, x)| x.tgid == t.tgid && p != c.pid)
            .map(|(&p, _)| p)
            .collect();
        others.sort_unstable();
        for p in others {
            self.end_task(p);
        }
        let note = Some(format!("strace pid {} execve {path}", c.pid));
        let mm = if self.mms[t.mm].users > 1 {
            // a vfork child leaves the parent's mm for a new, empty one
            self.mms[t.mm].users -= 1;
            let mm = self.new_mm();
            let tpid = self.mms[mm].tpid;
            self.push(
                Op::Fork {
                    parent: LAUNCHER,
                    child: tpid,
                },
                None,
            );
            self.push(Op::Exec { pid: tpid }, note);
            mm
        } else {
            let m = &mut self.mms[t.mm];
            m.space = Space::default();
            m.brk = None;
            let tpid = m.tpid;
            self.push(Op::Exec { pid: tpid }, note);
            t.mm
        };
        // a private copy of the descriptors, without the close-on-exec ones
        let mut table = self.fdtables[t.fds].clone();
        table.fds.retain(|_, (_, cloexec)| !*cloexec);
        self.fdtables.push(table);
        let fds = self.fdtables.len() - 1;
        self.tasks.insert(
            c.pid,
            Task {
                tgid: c.pid,
                mm,
                fds,
            },
        );
        Ok(())
    }

    /// Descriptor calls: what each fd refers to, and file sizes.
    fn fd_call(&mut self, c: &Call, ret: u64) -> Result<(), ImportError> {
        let name = c.name.as_str();
        let set = |im: &mut Self, fd: i64, path: Option<String>, cloexec: bool| {
            let t = im.task(c.pid);
            im.fdtables[t.fds].fds.insert(fd, (path, cloexec));
        };
        let ret_fd = i64::try_from(ret).unwrap_or(-1);
        match name {
            "open" | "openat" | "openat2" | "creat" | "memfd_create" => {
                let pi = usize::from(name.starts_with("openat"));
                let a = self.arg(c, pi, "a path")?;
                let path = string_arg(a).ok_or_else(|| {
                    self.bad(c, a, &format!("argument {} of {name}: a path", pi + 1))
                })?;
                let path = if name == "memfd_create" {
                    format!("memfd:{path}")
                } else {
                    path
                };
                let cloexec = match c.args.get(pi + 1) {
                    Some(f) if name != "openat2" => {
                        bits(f, OPENS).is_some_and(|b| b & O_CLOEXEC != 0) || f.contains("CLOEXEC")
                    }
                    Some(f) => f.contains("O_CLOEXEC"),
                    None => false,
                };
                set(self, ret_fd, Some(path), cloexec);
            }
            "dup" | "dup2" | "dup3" => {
                let old = self.arg_fd(c, 0)?;
                let t = self.task(c.pid);
                let path = self.fdtables[t.fds]
                    .fds
                    .get(&old)
                    .and_then(|(p, _)| p.clone());
                let cloexec =
                    name == "dup3" && c.args.get(2).is_some_and(|f| f.contains("O_CLOEXEC"));
                set(self, ret_fd, path, cloexec);
            }
            "fcntl" | "fcntl64" => {
                let fd = self.arg_fd(c, 0)?;
                let cmd = self.arg(c, 1, "a command")?.to_string();
                let t = self.task(c.pid);
                if cmd.starts_with("F_DUPFD") {
                    let path = self.fdtables[t.fds]
                        .fds
                        .get(&fd)
                        .and_then(|(p, _)| p.clone());
                    set(self, ret_fd, path, cmd == "F_DUPFD_CLOEXEC");
                } else if cmd == "F_SETFD" {
                    let on = c
                        .args
                        .get(2)
                        .is_some_and(|f| f.contains("FD_CLOEXEC") || f.trim() == "1");
                    if let Some(e) = self.fdtables[t.fds].fds.get_mut(&fd) {
                        e.1 = on;
                    }
                }
            }
            "close" => {
                let fd = self.arg_fd(c, 0)?;
                let t = self.task(c.pid);
                self.fdtables[t.fds].fds.remove(&fd);
            }
            "close_range" => {
                let lo = self.arg_fd(c, 0)?;
                let hi = self.arg_num(c, 1, "a descriptor")?;
                let hi = i64::try_from(hi).unwrap_or(i64::MAX);
                let cloexec = c.args.get(2).is_some_and(|f| f.contains("CLOEXEC"));
                let t = self.task(c.pid);
                let fds = &mut self.fdtables[t.fds].fds;
                if cloexec {
                    for (fd, e) in fds.iter_mut() {
                        if (lo..=hi).contains(fd) {
                            e.1 = true;
                        }
                    }
                } else {
                    fds.retain(|fd, _| !(lo..=hi).contains(fd));
                }
            }
            "pipe" | "pipe2" | "socketpair" => {
                let a = c.args.iter().find(|a| a.starts_with('['));
                if let Some(a) = a {
                    let t = self.task(c.pid);
                    for fd in a.trim_matches(['[', ']']).split(',').filter_map(fd_arg) {
                        self.fdtables[t.fds].fds.insert(fd, (None, false));
                    }
                }
            }
            "socket" | "accept" | "accept4" | "eventfd" | "eventfd2" | "epoll_create"
            | "epoll_create1" | "timerfd_create" | "signalfd" | "signalfd4" | "inotify_init"
            | "inotify_init1" | "userfaultfd" | "pidfd_open" | "perf_event_open"
            | "fanotify_init" | "memfd_secret" => set(self, ret_fd, None, false),
            "fstat" | "fstat64" => {
                let fd = self.arg_fd(c, 0)?;
                self.stat_result(c, StatOf::Fd(fd), "st_size=");
            }
            "newfstatat" | "fstatat64" | "statx" => {
                let dirfd = self.arg_fd(c, 0)?;
                let path = self.arg(c, 1, "a path").map(string_arg)?;
                let key = if name == "statx" {
                    "stx_size="
                } else {
                    "st_size="
                };
                match path {
                    Some(p) if p.is_empty() => self.stat_result(c, StatOf::Fd(dirfd), key),
                    Some(p) if p.starts_with('/') || dirfd == -100 => {
                        self.stat_result(c, StatOf::Path(p), key)
                    }
                    _ => {}
                }
            }
            "stat" | "lstat" | "stat64" | "lstat64" => {
                if let Some(p) = c.args.first().and_then(|a| string_arg(a)) {
                    self.stat_result(c, StatOf::Path(p), "st_size=");
                }
            }
            "ftruncate" | "ftruncate64" => {
                let fd = self.arg_fd(c, 0)?;
                let len = self.arg_num(c, 1, "a length")?;
                let t = self.task(c.pid);
                if let Some((Some(p), _)) = self.fdtables[t.fds].fds.get(&fd).cloned() {
                    self.note_size(&p, len);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn stat_result(&mut self, c: &Call, of: StatOf, key: &str) {
        let Some(size) = field(&c.args, key).and_then(num) else {
            return;
        };
        let path = match of {
            StatOf::Path(p) => Some(p),
            StatOf::Fd(fd) => {
                let t = self.task(c.pid);
                self.fdtables[t.fds]
                    .fds
                    .get(&fd)
                    .and_then(|(p, _)| p.clone())
            }
        };
        if let Some(p) = path {
            self.note_size(&p, size);
        }
    }
}

enum StatOf {
    Fd(i64),
    Path(String),
}
