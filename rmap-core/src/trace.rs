//! The trace format: text traces to [`Op`]s and back.
//!
//! A trace holds one operation per line (`docs/trace-format.md`). [`parse`]
//! checks syntax only: alignment, address ranges and whether a process exists
//! are left to the model, so that they give the errno Linux would give.
//! [`write()`] produces the canonical text, which parses back to the same ops.

use std::collections::HashMap;
use std::mem::discriminant;

use crate::ops::*;

/// One parsed operation and the 1-based source line it came from.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TraceLine {
    pub line: usize,
    pub op: Op,
}

/// A malformed trace line: where it is, what was found, what was expected.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("{file}:{line}: found `{found}`, expected {expected}")]
pub struct TraceError {
    pub file: String,
    pub line: usize,
    pub found: String,
    pub expected: String,
}

const OP_KEYWORDS: &str = "one of: config file mmap munmap mprotect touch madvise remap fork exec exit \
                           reclaim dump stats check";
const E_PID: &str = "a process id (a number below 2^32)";
const E_ADDR: &str = "an address (decimal or 0x hex, no suffix)";
const E_LEN: &str = "a length (decimal or 0x hex, optional K/M/G suffix)";
const E_SIZE: &str = "a size (decimal or 0x hex, optional K/M/G suffix)";
const E_PROT: &str = "a protection like rw- or r-x";
const E_FLAGS: &str = "flags: private or shared, optionally noreserve, many_prots, comma-separated";
const MAX_FOUND: usize = 60;

/// Parses a plain number: decimal, or hexadecimal after `0x`/`0X`. No sign,
/// no suffix; `None` if malformed or above `u64::MAX`.
pub fn parse_number(tok: &str) -> Option<u64> {
    let (digits, radix) = match tok.strip_prefix("0x").or_else(|| tok.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (tok, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// Parses a length or size: a [`parse_number`] optionally followed by a binary
/// suffix `K`, `M` or `G` (either case; 4K = 4096). `None` on overflow.
pub fn parse_size(tok: &str) -> Option<u64> {
    let (num, shift) = [('K', 10), ('M', 20), ('G', 30)]
        .into_iter()
        .find_map(|(s, shift)| Some((tok.strip_suffix([s, s.to_ascii_lowercase()])?, shift)))
        .unwrap_or((tok, 0));
    parse_number(num)?.checked_mul(1 << shift)
}

/// Formats a length or size canonically: the largest exact binary suffix
/// (`8192` -> `8K`), else plain decimal.
pub fn format_size(n: u64) -> String {
    [(30, 'G'), (20, 'M'), (10, 'K')]
        .into_iter()
        .find(|&(shift, _)| n != 0 && n.trailing_zeros() >= shift)
        .map_or_else(|| n.to_string(), |(shift, s)| format!("{}{s}", n >> shift))
}

/// Truncates text for the `found` part of an error.
fn short(s: &str) -> String {
    match s.char_indices().nth(MAX_FOUND) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// The line being parsed, for error reporting.
struct Ctx<'a> {
    file: &'a str,
    line: usize,
    /// The line without its comment, trimmed.
    text: &'a str,
}

impl Ctx<'_> {
    fn err(&self, found: &str, expected: impl Into<String>) -> TraceError {
        TraceError {
            file: self.file.to_string(),
            line: self.line,
            found: short(found),
            expected: expected.into(),
        }
    }

    /// Wrong argument count: names the first extra token, or the whole line
    /// when arguments are missing.
    fn arity(&self, args: &[&str], max: usize, usage: &str) -> TraceError {
        match args.get(max) {
            Some(extra) => self.err(extra, format!("end of line ({usage})")),
            None => self.err(self.text, usage),
        }
    }

    fn exact<'t, const N: usize>(
        &self,
        args: &[&'t str],
        usage: &str,
    ) -> Result<[&'t str; N], TraceError> {
        <[&str; N]>::try_from(args).map_err(|_| self.arity(args, N, usage))
    }

    fn num<T: TryFrom<u64>>(
        &self,
        tok: &str,
        parse: fn(&str) -> Option<u64>,
        expected: &str,
    ) -> Result<T, TraceError> {
        parse(tok)
            .and_then(|n| T::try_from(n).ok())
            .ok_or_else(|| self.err(tok, expected))
    }

    fn pid(&self, tok: &str) -> Result<Pid, TraceError> {
        self.num(tok, parse_number, E_PID)
    }

    fn addr(&self, tok: &str) -> Result<u64, TraceError> {
        self.num(tok, parse_number, E_ADDR)
    }

    fn len(&self, tok: &str) -> Result<u64, TraceError> {
        self.num(tok, parse_size, E_LEN)
    }

    fn prot(&self, tok: &str) -> Result<Prot, TraceError> {
        Prot::parse(tok).ok_or_else(|| self.err(tok, E_PROT))
    }

    fn flags(&self, tok: &str) -> Result<MapFlags, TraceError> {
        let mut seen = [false; 4];
        for word in tok.split(',') {
            let i = ["private", "shared", "noreserve", "many_prots"]
                .iter()
                .position(|&f| f == word)
                .ok_or_else(|| self.err(tok, E_FLAGS))?;
            if std::mem::replace(&mut seen[i], true) {
                return Err(self.err(tok, "each flag at most once"));
            }
        }
        if seen[0] == seen[1] {
            return Err(self.err(tok, "exactly one of private, shared"));
        }
        Ok(MapFlags {
            shared: seen[1],
            noreserve: seen[2],
            many_prots: seen[3],
        })
    }
}

/// Parser state carried from line to line.
#[derive(Default)]
struct State {
    /// An op other than `config` has been seen.
    started: bool,
    /// Config keys set so far (each at most once per trace).
    config: Vec<ConfigItem>,
    /// Declared files and the line that declared each.
    files: HashMap<String, usize>,
}

/// Parses a whole trace; `file` names it in errors. Stops at the first
/// malformed line.
pub fn parse(text: &str, file: &str) -> Result<Vec<TraceLine>, TraceError> {
    Parser::new(text, file).collect()
}

/// Parses a trace line by line, for a caller that runs each op before the
/// next line is read (so that the lines before a malformed one still run).
/// Yields `Err` at most once, then ends.
pub struct Parser<'a> {
    lines: std::iter::Enumerate<std::str::Lines<'a>>,
    file: &'a str,
    state: State,
    failed: bool,
}

impl<'a> Parser<'a> {
    pub fn new(text: &'a str, file: &'a str) -> Self {
        let state = State::default();
        Parser {
            lines: text.lines().enumerate(),
            file,
            state,
            failed: false,
        }
    }
}

impl Iterator for Parser<'_> {
    type Item = Result<TraceLine, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        for (i, raw) in self.lines.by_ref() {
            let content = raw.split_once('#').map_or(raw, |(before, _)| before);
            let toks: Vec<&str> = content
                .split([' ', '\t'])
                .filter(|t| !t.is_empty())
                .collect();
            let Some((&kw, args)) = toks.split_first() else {
                continue;
            };
            let text = content.trim_matches([' ', '\t']);
            let cx = Ctx {
                file: self.file,
                line: i + 1,
                text,
            };
            let op = parse_op(&cx, &mut self.state, kw, args);
            self.failed = op.is_err();
            return Some(op.map(|op| {
                self.state.started |= !matches!(op, Op::Config(_));
                TraceLine { line: cx.line, op }
            }));
        }
        None
    }
}

fn parse_op(cx: &Ctx, st: &mut State, kw: &str, args: &[&str]) -> Result<Op, TraceError> {
    Ok(match kw {
        "config" => parse_config(cx, st, args)?,
        "file" => {
            let [name, size] = cx.exact(args, "2 arguments: NAME SIZE")?;
            if name.contains(['=', '/']) {
                return Err(cx.err(name, "a file name (one token without = / #)"));
            }
            if let Some(first) = st.files.get(name) {
                return Err(cx.err(
                    name,
                    format!("a new file name (already declared on line {first})"),
                ));
            }
            let size = cx.num(size, parse_size, E_SIZE)?;
            st.files.insert(name.to_string(), cx.line);
            Op::File {
                name: name.to_string(),
                size,
            }
        }
        "mmap" => parse_mmap(cx, st, args)?,
        "munmap" => {
            let [pid, addr, len] = cx.exact(args, "3 arguments: PID ADDR LEN")?;
            Op::Munmap {
                pid: cx.pid(pid)?,
                addr: cx.addr(addr)?,
                len: cx.len(len)?,
            }
        }
        "mprotect" => {
            let [pid, addr, len, prot] = cx.exact(args, "4 arguments: PID ADDR LEN PROT")?;
            Op::Mprotect {
                pid: cx.pid(pid)?,
                addr: cx.addr(addr)?,
                len: cx.len(len)?,
                prot: cx.prot(prot)?,
            }
        }
        "touch" => {
            let [pid, addr, len, acc] = cx.exact(args, "4 arguments: PID ADDR LEN r|w")?;
            let (pid, addr, len) = (cx.pid(pid)?, cx.addr(addr)?, cx.len(len)?);
            let access = match acc {
                "r" => Access::Read,
                "w" => Access::Write,
                _ => return Err(cx.err(acc, "r or w")),
            };
            Op::Touch {
                pid,
                addr,
                len,
                access,
            }
        }
        "madvise" => {
            let [pid, addr, len, adv] = cx.exact(args, "4 arguments: PID ADDR LEN ADVICE")?;
            let (pid, addr, len) = (cx.pid(pid)?, cx.addr(addr)?, cx.len(len)?);
            let advice = Advice::parse(adv).ok_or_else(|| {
                let names: Vec<_> = Advice::ALL.iter().map(|a| a.as_str()).collect();
                cx.err(adv, format!("one of: {}", names.join(" ")))
            })?;
            Op::Madvise {
                pid,
                addr,
                len,
                advice,
            }
        }
        "remap" => {
            const USAGE: &str = "4 or 5 arguments: PID ADDR LEN PGOFF [PROT]";
            if !(4..=5).contains(&args.len()) {
                return Err(cx.arity(args, 5, USAGE));
            }
            let prot = args.get(4).map(|p| cx.prot(p)).transpose()?;
            Op::Remap {
                pid: cx.pid(args[0])?,
                addr: cx.addr(args[1])?,
                len: cx.len(args[2])?,
                pgoff: cx.num(
                    args[3],
                    parse_number,
                    "a page offset (decimal or 0x hex, no suffix)",
                )?,
                prot,
            }
        }
        "fork" => {
            let [parent, child] = cx.exact(args, "2 arguments: PARENT CHILD")?;
            Op::Fork {
                parent: cx.pid(parent)?,
                child: cx.pid(child)?,
            }
        }
        "exec" => Op::Exec {
            pid: cx.pid(cx.exact::<1>(args, "1 argument: PID")?[0])?,
        },
        "exit" => Op::Exit {
            pid: cx.pid(cx.exact::<1>(args, "1 argument: PID")?[0])?,
        },
        "dump" => Op::Dump {
            pid: cx.pid(cx.exact::<1>(args, "1 argument: PID")?[0])?,
        },
        "reclaim" => {
            let [n] = cx.exact(args, "1 argument: NPAGES")?;
            Op::Reclaim {
                pages: cx.num(
                    n,
                    parse_number,
                    "a page count (decimal or 0x hex, no suffix)",
                )?,
            }
        }
        "stats" => match cx.exact(args, "1 argument: PID or all")? {
            ["all"] => Op::Stats(StatsTarget::All),
            [pid] => Op::Stats(StatsTarget::Pid(cx.num(
                pid,
                parse_number,
                "a process id or all",
            )?)),
        },
        "check" => {
            cx.exact::<0>(args, "no arguments")?;
            Op::Check
        }
        _ => return Err(cx.err(kw, OP_KEYWORDS)),
    })
}

fn parse_config(cx: &Ctx, st: &mut State, args: &[&str]) -> Result<Op, TraceError> {
    if st.started {
        return Err(cx.err("config", "config only before the first other operation"));
    }
    if args.is_empty() {
        return Err(cx.err(cx.text, "at least one KEY=VALUE item (ram swap merge seed)"));
    }
    let mut items = Vec::with_capacity(args.len());
    for &tok in args {
        let (key, val) = tok
            .split_once('=')
            .ok_or_else(|| cx.err(tok, "KEY=VALUE"))?;
        let item = match key {
            "ram" => ConfigItem::Ram(parse_size(val).ok_or_else(|| cx.err(tok, E_SIZE))?),
            "swap" => ConfigItem::Swap(parse_size(val).ok_or_else(|| cx.err(tok, E_SIZE))?),
            "merge" => ConfigItem::Merge(
                MergePolicy::parse(val)
                    .ok_or_else(|| cx.err(tok, "merge=none, merge=prev or merge=both"))?,
            ),
            "seed" => ConfigItem::Seed(
                parse_number(val).ok_or_else(|| cx.err(tok, "seed=N (decimal or 0x hex)"))?,
            ),
            _ => return Err(cx.err(tok, "a config key, one of: ram swap merge seed")),
        };
        if st
            .config
            .iter()
            .any(|c| discriminant(c) == discriminant(&item))
        {
            return Err(cx.err(
                tok,
                format!("each config key at most once ({key} is already set)"),
            ));
        }
        st.config.push(item.clone());
        items.push(item);
    }
    Ok(Op::Config(items))
}

fn parse_mmap(cx: &Ctx, st: &State, args: &[&str]) -> Result<Op, TraceError> {
    const USAGE: &str = "5 to 7 arguments: PID ADDR LEN PROT FLAGS [file=NAME] [off=OFFSET]";
    let (Some(fixed), rest) = (args.first_chunk::<5>(), args.get(5..).unwrap_or_default()) else {
        return Err(cx.arity(args, 5, USAGE));
    };
    let [pid, addr, len, prot, flags] = *fixed;
    let (pid, addr, len, prot, flags) = (
        cx.pid(pid)?,
        cx.addr(addr)?,
        cx.len(len)?,
        cx.prot(prot)?,
        cx.flags(flags)?,
    );
    let (mut file, mut off) = (None, None);
    for &tok in rest {
        if let Some(name) = tok.strip_prefix("file=") {
            if file.is_some() {
                return Err(cx.err(tok, "file= at most once"));
            }
            if !st.files.contains_key(name) {
                return Err(cx.err(tok, "file=NAME of a file declared on an earlier line"));
            }
            file = Some(name.to_string());
        } else if let Some(val) = tok.strip_prefix("off=") {
            if off.is_some() {
                return Err(cx.err(tok, "off= at most once"));
            }
            let n = parse_number(val);
            off = Some((
                tok,
                n.ok_or_else(|| cx.err(tok, "off=OFFSET (bytes, decimal or 0x hex)"))?,
            ));
        } else {
            return Err(cx.err(tok, "file=NAME or off=OFFSET"));
        }
    }
    if let (None, Some((tok, _))) = (&file, off) {
        return Err(cx.err(tok, "off= only together with file=NAME"));
    }
    Ok(Op::Mmap {
        pid,
        addr,
        len,
        prot,
        flags,
        file,
        off: off.map_or(0, |(_, n)| n),
    })
}

/// Writes one op in canonical form, without a newline.
///
/// Ops that `parse` can never produce (an empty `Config`, an anonymous `Mmap`
/// with a non-zero `off`) are written as they are and will not parse back.
pub fn write_op(op: &Op) -> String {
    let name = op.name();
    match op {
        Op::Config(items) => {
            let mut s = name.to_string();
            for item in items {
                s.push(' ');
                s.push_str(&match item {
                    ConfigItem::Ram(n) => format!("ram={}", format_size(*n)),
                    ConfigItem::Swap(n) => format!("swap={}", format_size(*n)),
                    ConfigItem::Merge(m) => format!("merge={}", m.as_str()),
                    ConfigItem::Seed(n) => format!("seed={n}"),
                });
            }
            s
        }
        Op::File { name: f, size } => format!("{name} {f} {}", format_size(*size)),
        Op::Mmap {
            pid,
            addr,
            len,
            prot,
            flags,
            file,
            off,
        } => {
            let mut s = format!(
                "{name} {pid} {addr:#x} {} {} {}",
                format_size(*len),
                prot.as_str(),
                if flags.shared { "shared" } else { "private" }
            );
            if flags.noreserve {
                s.push_str(",noreserve");
            }
            if flags.many_prots {
                s.push_str(",many_prots");
            }
            if let Some(f) = file {
                s.push_str(&format!(" file={f}"));
            }
            if *off != 0 {
                s.push_str(&format!(" off={off:#x}"));
            }
            s
        }
        Op::Munmap { pid, addr, len } => format!("{name} {pid} {addr:#x} {}", format_size(*len)),
        Op::Mprotect {
            pid,
            addr,
            len,
            prot,
        } => {
            format!(
                "{name} {pid} {addr:#x} {} {}",
                format_size(*len),
                prot.as_str()
            )
        }
        Op::Touch {
            pid,
            addr,
            len,
            access,
        } => {
            let a = if *access == Access::Read { "r" } else { "w" };
            format!("{name} {pid} {addr:#x} {} {a}", format_size(*len))
        }
        Op::Madvise {
            pid,
            addr,
            len,
            advice,
        } => {
            format!(
                "{name} {pid} {addr:#x} {} {}",
                format_size(*len),
                advice.as_str()
            )
        }
        Op::Remap {
            pid,
            addr,
            len,
            pgoff,
            prot,
        } => {
            let p = prot.map_or(String::new(), |p| format!(" {}", p.as_str()));
            format!("{name} {pid} {addr:#x} {} {pgoff:#x}{p}", format_size(*len))
        }
        Op::Fork { parent, child } => format!("{name} {parent} {child}"),
        Op::Exec { pid } | Op::Exit { pid } | Op::Dump { pid } => format!("{name} {pid}"),
        Op::Reclaim { pages } => format!("{name} {pages}"),
        Op::Stats(StatsTarget::All) => format!("{name} all"),
        Op::Stats(StatsTarget::Pid(pid)) => format!("{name} {pid}"),
        Op::Check => name.to_string(),
    }
}

/// Writes a sequence of ops, one per line, each line ending in `\n`.
pub fn write(ops: &[Op]) -> String {
    ops.iter().map(|op| write_op(op) + "\n").collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(text: &str) -> Vec<Op> {
        parse(text, "t.trace")
            .unwrap()
            .into_iter()
            .map(|l| l.op)
            .collect()
    }

    fn err(text: &str) -> TraceError {
        let e = parse(text, "t.trace").expect_err(text);
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!("t.trace:{}: found `", e.line)),
            "{msg}"
        );
        e
    }

    #[test]
    fn every_op_parses() {
        let text = "\
config ram=64M swap=0x10k merge=prev seed=0x2a
file libfoo.so 3M
mmap 1 0x100000000000 8K rw- private
mmap 2 0x100000010000 0x2000 r-x shared,noreserve,many_prots file=libfoo.so off=0x2000
mmap 1 4096 1G --- many_prots,private off=8192 file=libfoo.so
munmap 1 0x100000000000 4096
mprotect 1 0x100000000000 2K r--
touch 1 0x100000000000 8K w
touch 1 0 1 r
madvise 1 0x1000 4K guard_install
remap 2 0x100000010000 4K 3
remap 2 0x100000010000 4K 0x3 rw-
fork 1 2
exec 2
exit 2
reclaim 100
dump 1
stats all
stats 4294967295
check
";
        let m = 1 << 20;
        let fm = Some("libfoo.so".to_string());
        let p = |r, w, x| Prot::new(r, w, x);
        let expected = vec![
            Op::Config(vec![
                ConfigItem::Ram(64 * m),
                ConfigItem::Swap(16 << 10),
                ConfigItem::Merge(MergePolicy::PrevOnly),
                ConfigItem::Seed(42),
            ]),
            Op::File {
                name: "libfoo.so".into(),
                size: 3 * m,
            },
            Op::Mmap {
                pid: 1,
                addr: 0x1000_0000_0000,
                len: 8192,
                prot: Prot::RW,
                flags: MapFlags::default(),
                file: None,
                off: 0,
            },
            Op::Mmap {
                pid: 2,
                addr: 0x1000_0001_0000,
                len: 0x2000,
                prot: p(true, false, true),
                flags: MapFlags {
                    shared: true,
                    noreserve: true,
                    many_prots: true,
                },
                file: fm.clone(),
                off: 0x2000,
            },
            Op::Mmap {
                pid: 1,
                addr: 4096,
                len: 1 << 30,
                prot: Prot::NONE,
                flags: MapFlags {
                    many_prots: true,
                    ..MapFlags::default()
                },
                file: fm,
                off: 8192,
            },
            Op::Munmap {
                pid: 1,
                addr: 0x1000_0000_0000,
                len: 4096,
            },
            Op::Mprotect {
                pid: 1,
                addr: 0x1000_0000_0000,
                len: 2048,
                prot: Prot::R,
            },
            Op::Touch {
                pid: 1,
                addr: 0x1000_0000_0000,
                len: 8192,
                access: Access::Write,
            },
            Op::Touch {
                pid: 1,
                addr: 0,
                len: 1,
                access: Access::Read,
            },
            Op::Madvise {
                pid: 1,
                addr: 0x1000,
                len: 4096,
                advice: Advice::GuardInstall,
            },
            Op::Remap {
                pid: 2,
                addr: 0x1000_0001_0000,
                len: 4096,
                pgoff: 3,
                prot: None,
            },
            Op::Remap {
                pid: 2,
                addr: 0x1000_0001_0000,
                len: 4096,
                pgoff: 3,
                prot: Some(Prot::RW),
            },
            Op::Fork {
                parent: 1,
                child: 2,
            },
            Op::Exec { pid: 2 },
            Op::Exit { pid: 2 },
            Op::Reclaim { pages: 100 },
            Op::Dump { pid: 1 },
            Op::Stats(StatsTarget::All),
            Op::Stats(StatsTarget::Pid(u32::MAX)),
            Op::Check,
        ];
        assert_eq!(ok(text), expected);
        let lines: Vec<usize> = parse(text, "t").unwrap().iter().map(|l| l.line).collect();
        assert_eq!(lines, (1..=expected.len()).collect::<Vec<_>>());
        for advice in Advice::ALL {
            let op = &ok(&format!("madvise 1 0 4K {}", advice.as_str()))[0];
            assert!(matches!(op, Op::Madvise { advice: a, .. } if *a == advice));
        }
        for merge in ["none", "prev", "both"] {
            assert_eq!(
                ok(&format!("config merge={merge}")),
                [Op::Config(vec![ConfigItem::Merge(
                    MergePolicy::parse(merge).unwrap()
                )])]
            );
        }
    }

    #[test]
    fn numbers_and_sizes() {
        assert_eq!(parse_number("0"), Some(0));
        assert_eq!(parse_number("0x1F"), Some(31));
        assert_eq!(parse_number("0XaB"), Some(0xab));
        assert_eq!(parse_number("18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_number("0xffffffffffffffff"), Some(u64::MAX));
        assert_eq!(parse_number("0x0000000000000000001"), Some(1));
        for bad in [
            "",
            "0x",
            "-1",
            "+1",
            "1_000",
            "18446744073709551616",
            "0x10000000000000000",
            "4K",
            "1.5",
            "０",
            "0x-1",
            " 1",
        ] {
            assert_eq!(parse_number(bad), None, "{bad:?}");
        }
        assert_eq!(parse_size("4K"), Some(4096));
        assert_eq!(parse_size("4k"), Some(4096));
        assert_eq!(parse_size("3m"), Some(3 << 20));
        assert_eq!(parse_size("2G"), Some(2 << 30));
        assert_eq!(parse_size("0x10K"), Some(16 << 10));
        assert_eq!(parse_size("17"), Some(17));
        assert_eq!(parse_size("17179869183G"), Some(17179869183 << 30));
        for bad in ["17179869184G", "K", "4KK", "4T", "4 K", "-4K", ""] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
        assert_eq!(format_size(0), "0");
        assert_eq!(format_size(4095), "4095");
        assert_eq!(format_size(8192), "8K");
        assert_eq!(format_size(3 << 20), "3M");
        assert_eq!(format_size((1 << 30) + 4096), "1048580K");
        assert_eq!(format_size(u64::MAX), u64::MAX.to_string());
        assert_eq!(format_size(1 << 63), "8589934592G");
    }

    #[test]
    fn comments_blank_lines_and_tabs() {
        let text = "# header\n\n   \t\ncheck # trailing\n\tdump\t1 #x\ncheck#glued\n  # indented comment\nstats all\r\n";
        let got = parse(text, "t").unwrap();
        let want = [
            (4, Op::Check),
            (5, Op::Dump { pid: 1 }),
            (6, Op::Check),
            (8, Op::Stats(StatsTarget::All)),
        ];
        assert_eq!(got, want.map(|(line, op)| TraceLine { line, op }));
        assert_eq!(ok(""), []);
        assert_eq!(ok("# only\n#\n"), []);
        // a comment may hide what would be an error
        assert_eq!(ok("check # bogus 1 2 3"), [Op::Check]);
    }

    #[test]
    fn display_format() {
        let e = err("\n\nmunmap 1 0x1000 4Q\n");
        assert_eq!(
            e.to_string(),
            "t.trace:3: found `4Q`, expected a length (decimal or 0x hex, optional K/M/G suffix)"
        );
        assert_eq!(
            (e.file.as_str(), e.line, e.found.as_str()),
            ("t.trace", 3, "4Q")
        );
    }

    #[test]
    fn error_classes_name_line_and_token() {
        // trace (`\n` separates its lines) | line | found | part of expected
        let cases = r"
check\nfrobnicate 1 | 2 | frobnicate | one of: config file mmap
MMAP 1 0 4K rw- private | 1 | MMAP | one of:
munmap 1 0x1000 | 1 | munmap 1 0x1000 | 3 arguments: PID ADDR LEN
munmap 1 0x1000 4K 5 | 1 | 5 | end of line (3 arguments
check now | 1 | now | no arguments
\n\nmprotect 1 0 4K rwx- | 3 | rwx- | a protection like rw- or r-x
mprotect 1 0 4K wr- | 1 | wr- | protection
munmap 1 4K 4K | 1 | 4K | an address
munmap -1 0 4K | 1 | -1 | process id
fork 1 4294967296 | 1 | 4294967296 | process id
munmap 1 0x10000000000000000 4K | 1 | 0x10000000000000000 | an address
munmap 1 0 18446744073709551616 | 1 | 18446744073709551616 | a length
munmap 1 0 17179869184G | 1 | 17179869184G | a length
touch 1 0 4K x | 1 | x | r or w
madvise 1 0 4K willneed | 1 | willneed | one of: dontneed guard_install
remap 1 0 4K | 1 | remap 1 0 4K | 4 or 5 arguments
remap 1 0 4K 1 rw- x | 1 | x | end of line
remap 1 0 4K 1K | 1 | 1K | page offset
reclaim 1K | 1 | 1K | page count
stats | 1 | stats | PID or all
stats ALL | 1 | ALL | a process id or all
exec | 1 | exec | 1 argument: PID
mmap 1 0 4K rw- | 1 | mmap 1 0 4K rw- | 5 to 7 arguments
mmap 1 0 4K rw- private,shared | 1 | private,shared | exactly one of private, shared
mmap 1 0 4K rw- noreserve | 1 | noreserve | exactly one of private, shared
mmap 1 0 4K rw- private,private | 1 | private,private | at most once
mmap 1 0 4K rw- private, | 1 | private, | flags:
mmap 1 0 4K rw- private,huge | 1 | private,huge | flags:
mmap 1 0 4K rw- private x=1 | 1 | x=1 | file=NAME or off=OFFSET
mmap 1 0 4K rw- private off=4096 | 1 | off=4096 | off= only together with file=NAME
file f 4K\nmmap 1 0 4K rw- shared file=f off=4K | 2 | off=4K | off=OFFSET
file f 4K\nmmap 1 0 4K rw- shared file=f file=f | 2 | file=f | at most once
file f 4K\nmmap 1 0 4K rw- shared file=f off=0 off=0 | 2 | off=0 | at most once
file f 4K\nmmap 1 0 4K rw- shared file=g | 2 | file=g | declared on an earlier line
mmap 1 0 4K rw- shared file=f\nfile f 4K | 1 | file=f | declared on an earlier line
file a/b 4K | 1 | a/b | file name
file a=b 4K | 1 | a=b | file name
file f | 1 | file f | 2 arguments: NAME SIZE
file f 4X | 1 | 4X | a size
file f 4K\n# again\nfile f 8K | 3 | f | already declared on line 1
check\nconfig ram=1G | 2 | config | before the first other operation
file f 4K\nconfig ram=1G | 2 | config | before the first other operation
config | 1 | config | at least one KEY=VALUE
config ram | 1 | ram | KEY=VALUE
config ram= | 1 | ram= | a size
config ram=1G ram=2G | 1 | ram=2G | at most once
config ram=1G\nconfig ram=2G | 2 | ram=2G | at most once
config hugepages=1 | 1 | hugepages=1 | one of: ram swap merge seed
config merge=all | 1 | merge=all | merge=none
config seed=1K | 1 | seed=1K | seed=N
config swap=-1 | 1 | swap=-1 | a size";
        for case in cases.lines().skip(1) {
            let [text, line, found, expected] = case.split(" | ").collect::<Vec<_>>()[..] else {
                panic!("bad case {case:?}")
            };
            let text = text.replace("\\n", "\n");
            let e = err(&text);
            assert_eq!(
                (e.line.to_string(), e.found.as_str()),
                (line.to_string(), found),
                "{text:?}: {e}"
            );
            assert!(e.expected.contains(expected), "{text:?}: {e}");
        }
    }

    #[test]
    fn config_after_comments_and_config_is_fine() {
        let ops = ok("# c\n\nconfig ram=1G\nconfig merge=none seed=7\nfile f 4K");
        assert_eq!(ops.len(), 3);
        assert_eq!(
            ops[1],
            Op::Config(vec![
                ConfigItem::Merge(MergePolicy::None),
                ConfigItem::Seed(7)
            ])
        );
    }

    #[test]
    fn parser_yields_lines_before_the_error_then_stops() {
        let got: Vec<_> = Parser::new("check\n\ndump 1\nbogus\ncheck", "p").collect();
        assert_eq!(got.len(), 3);
        assert_eq!(
            got[1],
            Ok(TraceLine {
                line: 3,
                op: Op::Dump { pid: 1 }
            })
        );
        assert_eq!(got[2].as_ref().unwrap_err().line, 4);
    }

    #[test]
    fn stops_at_first_error_and_found_is_truncated() {
        let long = "x".repeat(500);
        let e = err(&format!("check\n{long}\nfrobnicate"));
        assert_eq!(e.line, 2);
        assert_eq!(e.found, format!("{}...", "x".repeat(60)));
        let e = err(&format!("munmap {}", "é".repeat(100)));
        assert!(e.found.chars().count() <= 63, "{}", e.found);
    }

    #[test]
    fn canonical_writer() {
        let text = "config ram=0x40000000 swap=4096 merge=both seed=0x10\nfile f 12288\n\
                    mmap 1 4096 8192 rw- many_prots,noreserve,shared off=0x1000 file=f\n\
                    mmap 1 0X1000 4097 r-- private file=f off=0\nremap 1 0x1000 4K 0x10 r--\ntouch 1 0 1M r\nstats 3";
        let want = "config ram=1G swap=4K merge=both seed=16\nfile f 12K\n\
                    mmap 1 0x1000 8K rw- shared,noreserve,many_prots file=f off=0x1000\n\
                    mmap 1 0x1000 4097 r-- private file=f\nremap 1 0x1000 4K 0x10 r--\ntouch 1 0x0 1M r\nstats 3\n";
        assert_eq!(write(&ok(text)), want);
        assert_eq!(write(&[]), "");
        assert_eq!(
            write_op(&Op::Madvise {
                pid: 9,
                addr: 0xABC000,
                len: 3 << 30,
                advice: Advice::WipeOnFork
            }),
            "madvise 9 0xabc000 3G wipeonfork"
        );
    }

    fn arb_prot() -> impl Strategy<Value = Prot> {
        (0u8..8).prop_map(Prot)
    }

    fn arb_u64() -> impl Strategy<Value = u64> {
        prop_oneof![
            any::<u64>(),
            (0u64..1 << 20).prop_map(|n| n << 12),
            Just(0),
            Just(u64::MAX)
        ]
    }

    fn arb_body_op() -> impl Strategy<Value = Op> {
        let name = "[a-c]{1,2}|[A-Za-z0-9._+-]{1,12}";
        let flags = (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
            |(shared, noreserve, many_prots)| MapFlags {
                shared,
                noreserve,
                many_prots,
            },
        );
        let stats = prop_oneof![
            Just(StatsTarget::All),
            any::<u32>().prop_map(StatsTarget::Pid)
        ];
        let advice = proptest::sample::select(Advice::ALL.to_vec());
        let access = prop_oneof![Just(Access::Read), Just(Access::Write)];
        prop_oneof![
            (name, arb_u64()).prop_map(|(name, size)| Op::File { name, size }),
            (
                any::<u32>(),
                arb_u64(),
                arb_u64(),
                arb_prot(),
                flags,
                proptest::option::of(name),
                arb_u64()
            )
                .prop_map(|(pid, addr, len, prot, flags, file, off)| Op::Mmap {
                    pid,
                    addr,
                    len,
                    prot,
                    flags,
                    file,
                    off
                }),
            (any::<u32>(), arb_u64(), arb_u64()).prop_map(|(pid, addr, len)| Op::Munmap {
                pid,
                addr,
                len
            }),
            (any::<u32>(), arb_u64(), arb_u64(), arb_prot()).prop_map(|(pid, addr, len, prot)| {
                Op::Mprotect {
                    pid,
                    addr,
                    len,
                    prot,
                }
            }),
            (any::<u32>(), arb_u64(), arb_u64(), access).prop_map(|(pid, addr, len, access)| {
                Op::Touch {
                    pid,
                    addr,
                    len,
                    access,
                }
            }),
            (any::<u32>(), arb_u64(), arb_u64(), advice).prop_map(|(pid, addr, len, advice)| {
                Op::Madvise {
                    pid,
                    addr,
                    len,
                    advice,
                }
            }),
            (
                any::<u32>(),
                arb_u64(),
                arb_u64(),
                arb_u64(),
                proptest::option::of(arb_prot())
            )
                .prop_map(|(pid, addr, len, pgoff, prot)| Op::Remap {
                    pid,
                    addr,
                    len,
                    pgoff,
                    prot
                }),
            (any::<u32>(), any::<u32>()).prop_map(|(parent, child)| Op::Fork { parent, child }),
            any::<u32>().prop_map(|pid| Op::Exec { pid }),
            any::<u32>().prop_map(|pid| Op::Exit { pid }),
            any::<u64>().prop_map(|pages| Op::Reclaim { pages }),
            any::<u32>().prop_map(|pid| Op::Dump { pid }),
            stats.prop_map(Op::Stats),
            Just(Op::Check),
        ]
    }

    fn arb_config() -> impl Strategy<Value = Vec<ConfigItem>> {
        let merge = proptest::sample::select(vec![
            MergePolicy::None,
            MergePolicy::PrevOnly,
            MergePolicy::Both,
        ]);
        (arb_u64(), arb_u64(), merge, any::<u64>())
            .prop_map(|(r, s, m, seed)| {
                vec![
                    ConfigItem::Ram(r),
                    ConfigItem::Swap(s),
                    ConfigItem::Merge(m),
                    ConfigItem::Seed(seed),
                ]
            })
            .prop_shuffle()
            .prop_flat_map(|items| (1..=items.len()).prop_map(move |n| items[..n].to_vec()))
    }

    /// Makes a random op list valid: drops file redeclarations, declares
    /// undeclared files right before their first use, clears anonymous `off`.
    fn valid_sequence(config: Option<Vec<ConfigItem>>, body: Vec<Op>) -> Vec<Op> {
        let mut declared = std::collections::HashSet::new();
        let mut ops: Vec<Op> = config.into_iter().map(Op::Config).collect();
        for mut op in body {
            match &mut op {
                Op::File { name, .. } if !declared.insert(name.clone()) => continue,
                Op::Mmap {
                    file: Some(name),
                    len,
                    ..
                } if declared.insert(name.clone()) => {
                    ops.push(Op::File {
                        name: name.clone(),
                        size: *len,
                    });
                }
                Op::Mmap {
                    file: None, off, ..
                } => *off = 0,
                _ => {}
            }
            ops.push(op);
        }
        ops
    }

    proptest! {
        #[test]
        fn round_trip(config in proptest::option::of(arb_config()), body in proptest::collection::vec(arb_body_op(), 0..40)) {
            let ops = valid_sequence(config, body);
            let text = write(&ops);
            let parsed = parse(&text, "rt").map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            prop_assert_eq!(parsed.iter().map(|l| l.line).collect::<Vec<_>>(), (1..=ops.len()).collect::<Vec<_>>());
            prop_assert_eq!(parsed.into_iter().map(|l| l.op).collect::<Vec<_>>(), ops);
        }

        #[test]
        fn sizes_round_trip(n in arb_u64()) {
            prop_assert_eq!(parse_size(&format_size(n)), Some(n));
            prop_assert_eq!(parse_number(&n.to_string()), Some(n));
            prop_assert_eq!(parse_number(&format!("{n:#x}")), Some(n));
        }

        #[test]
        fn arbitrary_text_never_panics(text in any::<String>()) {
            let _ = parse(&text, "fuzz");
            let _ = parse_size(&text);
        }

        #[test]
        fn token_soup_never_panics(lines in proptest::collection::vec(proptest::collection::vec(proptest::sample::select(vec![
            "config", "file", "mmap", "munmap", "mprotect", "touch", "madvise", "remap", "fork", "exec", "exit",
            "reclaim", "dump", "stats", "check", "all", "1", "0x1000", "4K", "99999999999999999999G", "0x", "-1",
            "rw-", "r-x", "private", "shared,many_prots", "noreserve,private", "f", "file=f", "file=", "off=0x1000",
            "off=", "ram=1G", "seed=", "merge=both", "r", "w", "dontneed", "#", "\t", "é", "=", "\u{0}", "",
        ]), 0..9), 0..12)) {
            let text = lines.iter().map(|l| l.join(" ")).collect::<Vec<_>>().join("\n");
            if let Ok(parsed) = parse(&text, "soup") {
                let ops: Vec<Op> = parsed.into_iter().map(|l| l.op).collect();
                let again: Vec<Op> = parse(&write(&ops), "soup").unwrap().into_iter().map(|l| l.op).collect();
                prop_assert_eq!(again, ops);
            }
        }
    }
}
