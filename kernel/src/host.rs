//! What the live kernel of this host does that the model must be told:
//! whether x86 protection keys are in use.
//!
//! With protection keys, Linux gives every exec-only (`--x`) mapping an
//! access-denying key, so reading it faults; without them an exec-only page
//! is readable (x86 page tables cannot forbid it). The model has the setting
//! `config pkeys=on|off` (default on); the live-kernel tools (`kernel-run`,
//! `kernel-diff`, `fidelity` and the tests that use the live kernel) run the
//! model with the host's value unless the trace sets `pkeys=` itself, and
//! refuse a trace that asks for `pkeys=on` on a host without keys (there is
//! no kernel to compare it with).
//!
//! Detection ([`detect_pkeys`]): the CPU flags `pku` and `ospke` in
//! `/proc/cpuinfo` (the CPU has keys and the kernel enabled them), and
//! `pkey_alloc(0, 0)` succeeds (the kernel hands them out; the key is freed
//! at once). [`host_pkeys`] caches the answer once per process.
//!
//! Override: the environment variable `RMAP_HOST_PKEYS=on|off` replaces the
//! detection, so that the other host's path can be exercised on any machine
//! (tests; reproducing what a machine without keys reports). Functions that
//! decide something from the host take the value as an argument, so tests
//! pass both values directly.

use std::sync::OnceLock;

use rmap_core::ops::{ConfigItem, Op};
use rmap_core::trace::{Parser, TraceLine};

use crate::harness::KernelError;

/// The variable that overrides detection (`on` or `off`).
pub const PKEYS_ENV: &str = "RMAP_HOST_PKEYS";

/// Whether this host uses x86 protection keys: [`PKEYS_ENV`] if set to `on`
/// or `off`, else [`detect_pkeys`]; decided once per process.
pub fn host_pkeys() -> bool {
    static HOST: OnceLock<bool> = OnceLock::new();
    *HOST.get_or_init(|| match std::env::var(PKEYS_ENV).as_deref() {
        Ok("on") => true,
        Ok("off") => false,
        _ => detect_pkeys(),
    })
}

/// Detects protection keys on this host, uncached: both CPU flags, and a
/// key can be allocated.
pub fn detect_pkeys() -> bool {
    let flags = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    cpu_has_pkeys(&flags) && pkey_alloc_works()
}

/// Whether `/proc/cpuinfo` text lists both `pku` and `ospke` on a `flags`
/// line.
pub fn cpu_has_pkeys(cpuinfo: &str) -> bool {
    cpuinfo.lines().filter(|l| l.starts_with("flags")).any(|l| {
        let words: Vec<&str> = l.split_whitespace().collect();
        words.contains(&"pku") && words.contains(&"ospke")
    })
}

/// Whether `pkey_alloc(0, 0)` works here (the key is freed again).
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn pkey_alloc_works() -> bool {
    // SAFETY: pkey_alloc and pkey_free take plain integers.
    let k = unsafe { libc::syscall(libc::SYS_pkey_alloc, 0u64, 0u64) };
    if k < 0 {
        return false;
    }
    // SAFETY: freeing the key just allocated.
    unsafe { libc::syscall(libc::SYS_pkey_free, k) };
    true
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn pkey_alloc_works() -> bool {
    false
}

/// The `pkeys=` the trace's `config` lines set, if any (lines up to the
/// first malformed one).
pub fn trace_pkeys(lines: &[TraceLine]) -> Option<bool> {
    lines.iter().find_map(|tl| match &tl.op {
        Op::Config(items) => items.iter().find_map(|i| match i {
            ConfigItem::Pkeys(on) => Some(*on),
            _ => None,
        }),
        _ => None,
    })
}

/// The protection-key setting the model runs a live comparison of `lines`
/// with, on a host whose keys are `host`: the trace's own `pkeys=` if it
/// sets one, else the host's. Errors: the trace asks for `pkeys=on` and the
/// host has no keys (refused: nothing to compare with).
pub fn model_pkeys(lines: &[TraceLine], file: &str, host: bool) -> Result<bool, KernelError> {
    match trace_pkeys(lines) {
        Some(true) if !host => {
            let line = lines
                .iter()
                .find(|tl| matches!(&tl.op, Op::Config(i) if i.contains(&ConfigItem::Pkeys(true))))
                .map_or(0, |tl| tl.line);
            Err(KernelError::Refused {
                file: file.to_string(),
                line,
                why: "the trace asks for pkeys=on, but this host has no x86 protection keys \
                      (CPU flags pku and ospke, and pkey_alloc), so its kernel cannot run it \
                      that way"
                    .to_string(),
            })
        }
        Some(on) => Ok(on),
        None => Ok(host),
    }
}

/// [`model_pkeys`] of trace text (lines up to the first malformed one).
pub fn model_pkeys_of(text: &str, file: &str, host: bool) -> Result<bool, KernelError> {
    let lines: Vec<TraceLine> = Parser::new(text, file).map_while(Result::ok).collect();
    model_pkeys(&lines, file, host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_flags_need_both_words_on_a_flags_line() {
        let both = "processor\t: 0\nflags\t\t: fpu vme pku ospke avx\n";
        assert!(cpu_has_pkeys(both));
        assert!(!cpu_has_pkeys("flags\t\t: fpu vme pku avx\n"));
        assert!(!cpu_has_pkeys("flags\t\t: fpu ospke\n"));
        // a word that merely contains the flag does not count
        assert!(!cpu_has_pkeys("flags\t\t: xpku ospkex\n"));
        assert!(!cpu_has_pkeys("model name : pku ospke\n"));
        assert!(!cpu_has_pkeys(""));
    }

    fn lines(text: &str) -> Vec<TraceLine> {
        rmap_core::trace::parse(text, "t.trace").unwrap()
    }

    #[test]
    fn the_model_follows_the_host_unless_the_trace_says() {
        let plain = lines("mmap 1 0x100000000000 4K --x private\n");
        assert!(model_pkeys(&plain, "t.trace", true).unwrap());
        assert!(!model_pkeys(&plain, "t.trace", false).unwrap());
        let off = lines("config pkeys=off\ndump 1\n");
        assert!(!model_pkeys(&off, "t.trace", true).unwrap());
        assert!(!model_pkeys(&off, "t.trace", false).unwrap());
        let on = lines("config ram=1M\nconfig seed=3 pkeys=on\ndump 1\n");
        assert!(model_pkeys(&on, "t.trace", true).unwrap());
        let e = model_pkeys(&on, "t.trace", false).unwrap_err();
        assert!(matches!(e, KernelError::Refused { line: 2, .. }), "{e}");
        assert!(
            e.to_string()
                .starts_with("t.trace:2: the trace asks for pkeys=on, but this host has no"),
            "{e}"
        );
        assert_eq!(trace_pkeys(&on), Some(true));
        assert_eq!(trace_pkeys(&plain), None);
    }
}
