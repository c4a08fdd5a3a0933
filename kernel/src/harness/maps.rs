//! `/proc/PID/maps`: the harness's own address space checked against the
//! window, a trace process's maps as the model's `dump` lines, and the
//! VMAs the trace processes hold in the window.

use super::controller::Procs;
use super::{KernelError, WINDOW_END, WINDOW_START};

/// Fails unless the window is free in this process's address space.
pub(super) fn check_window_free() -> Result<(), KernelError> {
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    for line in maps.lines() {
        if let Some((s, e)) = parse_range(line)
            && s < WINDOW_END
            && e > WINDOW_START
        {
            return Err(KernelError::Sys(format!(
                "the harness has a mapping in the live-run window: {line}"
            )));
        }
    }
    Ok(())
}

/// The `start-end` range a maps line begins with.
pub(super) fn parse_range(line: &str) -> Option<(u64, u64)> {
    let range = line.split(' ').next()?;
    let (s, e) = range.split_once('-')?;
    Some((
        u64::from_str_radix(s, 16).ok()?,
        u64::from_str_radix(e, 16).ok()?,
    ))
}

/// `/proc/PID/maps` text to the model's `dump` lines (window only).
pub(super) fn format_maps(
    raw: &str,
    dir_prefix: &str,
    out: &mut String,
) -> Result<(), KernelError> {
    // split on \n only: a file name may end in \r
    for line in raw.split('\n').filter(|l| !l.is_empty()) {
        let bad = || KernelError::Sys(format!("unexpected /proc/PID/maps line: {line}"));
        let mut f = line.splitn(6, ' ');
        let (Some(range), Some(perms), Some(off), Some(_dev), Some(_ino)) =
            (f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            return Err(bad());
        };
        let path = f.next().unwrap_or("").trim_start_matches(' ');
        let (start, end) = parse_range(range).ok_or_else(bad)?;
        if start < WINDOW_START || end > WINDOW_END {
            continue;
        }
        let name = if path.is_empty() || path.starts_with("/dev/zero") {
            ""
        } else if let Some(n) = path.strip_prefix(dir_prefix) {
            n
        } else if path.starts_with('[') {
            ""
        } else {
            path.rsplit('/').next().unwrap_or(path)
        };
        out.push_str(&format!("\n{start:x}-{end:x} {perms} {off}"));
        if !name.is_empty() {
            out.push(' ');
            out.push_str(name);
        }
    }
    Ok(())
}

/// The number of VMAs in the window of the processes `live`, from
/// `/proc/PID/maps`; `None` if a maps file cannot be read.
pub(super) fn window_vmas(live: &Procs) -> Option<u64> {
    let mut n = 0;
    for p in live.0.values() {
        let maps = std::fs::read_to_string(format!("/proc/{}/maps", p.host)).ok()?;
        n += maps
            .lines()
            .filter_map(parse_range)
            .filter(|&(s, e)| s >= WINDOW_START && e <= WINDOW_END)
            .count() as u64;
    }
    Some(n)
}
