//! Pass 1 of the import: strace lines to events.
//!
//! Each line loses its `PID` / `[pid N]` prefix and any timestamp; the
//! `<unfinished ...>` and `<... NAME resumed>` halves of an interrupted call
//! are joined; a finished call becomes an [`Event::Call`] with its
//! top-level arguments and return value, and `+++ exited +++` or
//! `+++ killed +++` an [`Event::Gone`]. A clone-family call is placed at the
//! line where it started (its child's first lines can come before the
//! parent's call returns); every other call where it finished.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use super::{ImportError, ImportStats};

/// A syscall's return value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ret {
    Ok(u64),
    /// `-1 ENAME`, `?` and the like: the call failed or did not return.
    Failed,
}

/// One finished call.
#[derive(Clone, Debug)]
pub(super) struct Call {
    /// The log line where the call finished.
    pub(super) line: usize,
    pub(super) pid: u32,
    pub(super) name: String,
    pub(super) args: Vec<String>,
    pub(super) ret: Ret,
    /// What `strace -y` prints after a returned descriptor: its path
    /// (`= 3</usr/lib/libc.so.6>`), or `-yy`'s socket and pipe details.
    pub(super) ret_path: Option<String>,
}

/// What one log line (or two joined halves) means to the importer.
#[derive(Clone, Debug)]
pub(super) enum Event {
    Call(Call),
    /// `+++ exited with N +++` or `+++ killed by SIG +++`.
    Gone {
        pid: u32,
    },
}

/// Makes [`ImportError::Malformed`] errors for one log.
pub(super) struct Lexer<'a> {
    pub(super) log: &'a str,
}

impl Lexer<'_> {
    /// The error for `found` (cut to 60 characters) at `line`.
    pub(super) fn err(&self, line: usize, found: &str, expected: &str) -> ImportError {
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
            b'"' => i = quote_end(b, i),
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let end = s[i + 2..].find("*/")?;
                i += end + 3;
            }
            // a `-y` / `-yy` decoration after a descriptor (`3</path>`,
            // `AT_FDCWD</dir>`, `4<UNIX-STREAM:[12,"@sock"]>`): one unit
            b'<' if i > 0 && b[i - 1].is_ascii_alphanumeric() => i = decoration_end(b, i),
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

/// The index of the `"` that closes the string opening at `b[i]`,
/// backslash escapes skipped; the end of the text if it never closes.
fn quote_end(b: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < b.len() && b[i] != b'"' {
        if b[i] == b'\\' {
            i += 1;
        }
        i += 1;
    }
    i
}

/// The index of the `>` that closes the decoration opening at `b[i]`
/// (`<`); quoted strings inside it and backslash escapes are skipped. The
/// end of the text if it never closes.
fn decoration_end(b: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < b.len() && b[i] != b'>' {
        match b[i] {
            b'\\' => i += 1,
            b'"' => i = quote_end(b, i),
            _ => {}
        }
        i += 1;
    }
    i
}

/// The decoration `strace -y` prints after a returned descriptor
/// (`= 3</etc/passwd>`), without its angle brackets.
fn ret_decoration(after: &str) -> Option<String> {
    let r = after.trim_start().strip_prefix('=')?.trim_start();
    let r = r.trim_start_matches(|c: char| c.is_ascii_digit());
    if !r.starts_with('<') {
        return None;
    }
    let end = decoration_end(r.as_bytes(), 0);
    r.get(1..end).map(str::to_string)
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
pub(super) fn is_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

const E_LINE: &str = "an strace line: `[PID] NAME(ARGS) = RET`, `... <unfinished ...>`, `<... NAME resumed>...`, `--- SIG... ---` or `+++ ... +++`";

/// Pass 1: the log's events in the order they take effect. Errors: the
/// first line that is not what strace writes.
pub(super) fn events(
    log: &str,
    log_name: &str,
    stats: &mut ImportStats,
) -> Result<Vec<Event>, ImportError> {
    let mut j = Joiner::new(log_name);
    let mut n_lines = 0;
    for (i, raw) in log.lines().enumerate() {
        let line = i + 1;
        n_lines = line;
        let text = raw.trim_end();
        if text.trim().is_empty() || text.starts_with("strace: ") {
            continue;
        }
        j.line(line, text, stats)?;
    }
    stats.lines = n_lines;
    let mut out = j.out;
    out.sort_by_key(|&(pos, seq, _)| (pos, seq));
    Ok(out.into_iter().map(|(_, _, e)| e).collect())
}

/// The state of pass 1 between lines.
struct Joiner<'a> {
    lx: Lexer<'a>,
    /// pid -> (line, name, text from `NAME(` on) of an unfinished call.
    pending: HashMap<u32, (usize, String, String)>,
    /// Leader pid -> the thread whose `execve` it will resume.
    superseded: HashMap<u32, u32>,
    /// (position, sequence, event): sorted by the first two at the end;
    /// the sequence is the event's index, so equal positions keep log order.
    out: Vec<(usize, usize, Event)>,
    /// The pid of unprefixed lines: the first prefix seen, or 0.
    default_pid: Option<u32>,
    /// The real pid of the unprefixed first process, once a prefix shows it.
    first_alias: Option<u32>,
    /// Pids that clone/fork/vfork returned so far.
    spawned: HashSet<u32>,
}

impl<'a> Joiner<'a> {
    fn new(log_name: &'a str) -> Self {
        Joiner {
            lx: Lexer { log: log_name },
            pending: HashMap::new(),
            superseded: HashMap::new(),
            out: Vec::new(),
            default_pid: None,
            first_alias: None,
            spawned: HashSet::new(),
        }
    }

    /// One non-empty line that is not strace's own message.
    fn line(
        &mut self,
        line: usize,
        text: &str,
        stats: &mut ImportStats,
    ) -> Result<(), ImportError> {
        let (pid, body) = strip_prefix(text).map_err(|_| self.lx.err(line, text, E_LINE))?;
        let pid = self.pid_of(pid, body);
        if let Some(r) = body.strip_prefix("+++ ") {
            return self.status_line(line, pid, body, r);
        }
        if body.starts_with("---") {
            return Ok(()); // a signal
        }
        let (full, start_line): (Cow<str>, usize) = if let Some(r) = body.strip_prefix("<... ") {
            let (joined, l) = self.resume(line, pid, body, r)?;
            (Cow::Owned(joined), l)
        } else if let Some(partial) = body.strip_suffix("<unfinished ...>") {
            let name = partial.split('(').next().unwrap_or("");
            if !is_name(name) || !partial.contains('(') {
                return Err(self.lx.err(line, body, "`NAME(ARGS <unfinished ...>`"));
            }
            self.pending
                .insert(pid, (line, name.to_string(), partial.to_string()));
            return Ok(());
        } else {
            (Cow::Borrowed(body), line)
        };
        self.call((line, start_line), pid, body, &full, stats)
    }

    /// The pid a line belongs to. A log written to stderr (no -o) prints
    /// the first process without a prefix until a second exists, and as
    /// `[pid N]` from then on: the first prefixed pid that is not a child
    /// of the log is that process.
    fn pid_of(&mut self, pid: Option<u32>, body: &str) -> u32 {
        if let (Some(p), Some(0), None) = (pid, self.default_pid, self.first_alias)
            && !self.spawned.contains(&p)
        {
            let parent_cloning = self
                .pending
                .get(&0)
                .is_some_and(|(_, n, _)| is_clone_family(n));
            let resumes_it = body.starts_with("<... ");
            if !parent_cloning || resumes_it {
                self.first_alias = Some(p);
            }
        }
        match (pid, self.default_pid) {
            (Some(p), _) if Some(p) == self.first_alias => 0,
            (Some(p), None) => {
                self.default_pid = Some(p);
                p
            }
            (Some(p), Some(_)) => p,
            (None, Some(d)) => d,
            (None, None) => {
                self.default_pid = Some(0);
                0
            }
        }
    }

    /// A `+++ ... +++` line (`r` is the text after `+++ `).
    fn status_line(
        &mut self,
        line: usize,
        pid: u32,
        body: &str,
        r: &str,
    ) -> Result<(), ImportError> {
        if r.starts_with("exited") || r.starts_with("killed") {
            let seq = self.out.len();
            self.out.push((line, seq, Event::Gone { pid }));
        } else if let Some(t) = r.strip_prefix("superseded by execve in pid ") {
            let tid = t
                .split_whitespace()
                .next()
                .and_then(|x| x.parse::<u32>().ok())
                .ok_or_else(|| {
                    self.lx
                        .err(line, body, "`+++ superseded by execve in pid N +++`")
                })?;
            self.superseded.insert(pid, tid);
        } else if !r.trim_end().ends_with("+++") {
            return Err(self.lx.err(line, body, E_LINE));
        }
        Ok(())
    }

    /// `<... NAME resumed>REST` (`r` is the text after `<... `): the joined
    /// call text and the line where it started.
    fn resume(
        &mut self,
        line: usize,
        pid: u32,
        body: &str,
        r: &str,
    ) -> Result<(String, usize), ImportError> {
        let (name, rest) = r
            .split_once(" resumed>")
            .ok_or_else(|| self.lx.err(line, body, "`<... NAME resumed>`"))?;
        let taken = self.pending.remove(&pid).or_else(|| {
            // an execve by a thread resumes under the leader's pid
            let tid = self.superseded.remove(&pid)?;
            self.pending.remove(&tid)
        });
        match taken {
            Some((l, n, partial)) if n == name => {
                Ok((format!("{}{}", partial.trim_end(), rest), l))
            }
            _ if name == "execve" => Ok((format!("execve({rest}"), line)),
            _ => Err(self.lx.err(
                line,
                body,
                &format!("an earlier `{name}(... <unfinished ...>` line of pid {pid}"),
            )),
        }
    }

    /// A finished call whose whole text is `full`, which ended at `line`
    /// and started at `start_line`.
    fn call(
        &mut self,
        (line, start_line): (usize, usize),
        pid: u32,
        body: &str,
        full: &str,
        stats: &mut ImportStats,
    ) -> Result<(), ImportError> {
        let (name, args) = full
            .split_once('(')
            .filter(|(n, _)| is_name(n))
            .ok_or_else(|| self.lx.err(line, body, E_LINE))?;
        let (args, after) = split_args(args).ok_or_else(|| {
            self.lx
                .err(line, body, "arguments that end in `)` followed by `= RET`")
        })?;
        let ret = parse_ret(after).ok_or_else(|| {
            self.lx.err(
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
                self.spawned.insert(child as u32);
            }
            start_line
        } else {
            line
        };
        let seq = self.out.len();
        self.out.push((
            pos,
            seq,
            Event::Call(Call {
                line,
                pid,
                name: name.to_string(),
                args,
                ret,
                ret_path: ret_decoration(after),
            }),
        ));
        Ok(())
    }
}
