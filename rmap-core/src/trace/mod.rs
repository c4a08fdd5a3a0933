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

const OP_KEYWORDS: &str = "one of: config file mmap munmap mprotect touch madvise mremap remap fork \
                           exec exit reclaim dump stats check";
const E_PID: &str = "a process id (a number below 2^32)";
const E_ADDR: &str = "an address (decimal or 0x hex, no suffix)";
const E_LEN: &str = "a length (decimal or 0x hex, optional K/M/G/T suffix)";
const E_SIZE: &str = "a size (decimal or 0x hex, optional K/M/G/T suffix)";
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

/// Parses a length, size or offset: a [`parse_number`] optionally followed
/// by a binary suffix `K`, `M`, `G` or `T` (either case; 4K = 4096). `None`
/// on overflow.
pub fn parse_size(tok: &str) -> Option<u64> {
    let (num, shift) = [('K', 10), ('M', 20), ('G', 30), ('T', 40)]
        .into_iter()
        .find_map(|(s, shift)| Some((tok.strip_suffix([s, s.to_ascii_lowercase()])?, shift)))
        .unwrap_or((tok, 0));
    parse_number(num)?.checked_mul(1 << shift)
}

/// Formats a length or size canonically: the largest exact binary suffix
/// (`8192` -> `8K`), else plain decimal.
pub fn format_size(n: u64) -> String {
    [(40, 'T'), (30, 'G'), (20, 'M'), (10, 'K')]
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

mod parse;
#[cfg(test)]
mod tests;
mod write;

use parse::parse_op;
pub use write::{write, write_op};
