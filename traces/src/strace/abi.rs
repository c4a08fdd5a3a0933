//! The syscall ABI as strace writes it: flag names and their numbers,
//! descriptors (with `-y` paths), quoted strings and struct fields.
//!
//! The numbers come from [`rmap_core::abi`] (the Linux uapi headers); the
//! names are strace's spellings of them. Only the flags that change what the
//! import writes are listed; other names in a flag list change nothing.

use rmap_core::abi::{
    MAP_ANONYMOUS, MAP_GROWSDOWN, MAP_NORESERVE, MAP_PRIVATE, MAP_SHARED, MAP_SHARED_VALIDATE,
    MAP_STACK, MREMAP_DONTUNMAP, MREMAP_FIXED, MREMAP_MAYMOVE, PROT_EXEC, PROT_NONE, PROT_READ,
    PROT_WRITE,
};
use rmap_core::{Advice, PAGE_SIZE};

use super::lex::is_name;

/// The model's user address space ends here (x86-64, 4-level paging).
pub(super) const USER_END: u64 = 1 << 47;

// ---- argument decoding ----------------------------------------------------

/// A number: decimal, `0x` hexadecimal, or `NULL` (0); a `-y` path or a
/// comment after it is ignored.
pub(super) fn num(tok: &str) -> Option<u64> {
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

/// A file descriptor: a number, `-1`, or `AT_FDCWD`, each possibly with
/// its `-y` decoration (`3</path>`, `AT_FDCWD</cwd>`).
pub(super) fn fd_arg(tok: &str) -> Option<i64> {
    let t = tok.trim();
    let t = t.split(['<', ' ']).next().unwrap_or(t);
    if t == "AT_FDCWD" {
        return Some(-100);
    }
    t.parse::<i64>().ok()
}

/// The `<path>` that `strace -y` puts after a descriptor.
pub(super) fn fd_decoration(tok: &str) -> Option<String> {
    let (_, r) = tok.split_once('<')?;
    Some(r.strip_suffix('>').unwrap_or(r).to_string())
}

/// The contents of a quoted string argument (escapes left as written).
pub(super) fn string_arg(tok: &str) -> Option<String> {
    let t = tok.trim();
    let t = t.strip_suffix("...").unwrap_or(t);
    let inner = t.strip_prefix('"')?.strip_suffix('"')?;
    Some(inner.to_string())
}

/// `A|B|C` names, or a number of bits.
pub(super) fn bits(tok: &str, table: &[(&str, u64)]) -> Option<u64> {
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

/// The value of `key=` inside an argument list (clone flags, clone3's
/// struct, stat's struct): the text up to the next `,` or `}` at that level.
pub(super) fn field<'a>(args: &'a [String], key: &str) -> Option<&'a str> {
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

/// `n` rounded up to a whole number of pages; `None` on overflow.
pub(super) fn page_up(n: u64) -> Option<u64> {
    n.checked_add(PAGE_SIZE - 1).map(|x| x & !(PAGE_SIZE - 1))
}

// ---- flag names -----------------------------------------------------------

/// `PROT_*` names.
pub(super) const PROTS: &[(&str, u64)] = &[
    ("PROT_NONE", PROT_NONE),
    ("PROT_READ", PROT_READ),
    ("PROT_WRITE", PROT_WRITE),
    ("PROT_EXEC", PROT_EXEC),
];

/// `MAP_*` names (`MAP_ANON` is strace's older spelling).
pub(super) const MAPS: &[(&str, u64)] = &[
    ("MAP_SHARED", MAP_SHARED),
    ("MAP_PRIVATE", MAP_PRIVATE),
    ("MAP_SHARED_VALIDATE", MAP_SHARED_VALIDATE),
    ("MAP_ANONYMOUS", MAP_ANONYMOUS),
    ("MAP_ANON", MAP_ANONYMOUS),
    ("MAP_GROWSDOWN", MAP_GROWSDOWN),
    ("MAP_NORESERVE", MAP_NORESERVE),
    ("MAP_STACK", MAP_STACK),
];

/// `CLONE_VM` (`include/uapi/linux/sched.h`).
pub(super) const CLONE_VM: u64 = 0x100;
/// `CLONE_FILES` (`include/uapi/linux/sched.h`).
pub(super) const CLONE_FILES: u64 = 0x400;
/// `CLONE_VFORK` (`include/uapi/linux/sched.h`).
pub(super) const CLONE_VFORK: u64 = 0x4000;
/// `CLONE_THREAD` (`include/uapi/linux/sched.h`).
pub(super) const CLONE_THREAD: u64 = 0x10000;
/// `CLONE_*` names.
pub(super) const CLONES: &[(&str, u64)] = &[
    ("CLONE_VM", CLONE_VM),
    ("CLONE_FILES", CLONE_FILES),
    ("CLONE_VFORK", CLONE_VFORK),
    ("CLONE_THREAD", CLONE_THREAD),
];

/// `O_CLOEXEC` on x86-64 (`include/uapi/asm-generic/fcntl.h`).
pub(super) const O_CLOEXEC: u64 = 0o2000000;
/// `O_*` names.
pub(super) const OPENS: &[(&str, u64)] = &[("O_CLOEXEC", O_CLOEXEC)];

/// `MREMAP_*` names.
pub(super) const MREMAPS: &[(&str, u64)] = &[
    ("MREMAP_MAYMOVE", MREMAP_MAYMOVE),
    ("MREMAP_FIXED", MREMAP_FIXED),
    ("MREMAP_DONTUNMAP", MREMAP_DONTUNMAP),
];

/// `madvise` advice the model implements, written as strace writes it: its
/// `MADV_*` name, or its number in decimal or `0x` hexadecimal; `None` for
/// advice that leaves nothing the model keeps (WILLNEED, FREE, HUGEPAGE,
/// ...).
pub(super) fn advice_of(tok: &str) -> Option<Advice> {
    let t = tok.trim();
    Advice::ALL.into_iter().find(|a| {
        let n = a.to_linux();
        t == a.linux_name() || t == n.to_string() || t == format!("{n:#x}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_is_read_by_name_or_number() {
        for (tok, a) in [
            ("MADV_DONTNEED", Some(Advice::DontNeed)),
            (" 0x4", Some(Advice::DontNeed)),
            ("21", Some(Advice::PageOut)),
            ("0x15", Some(Advice::PageOut)),
            ("0xa", Some(Advice::DontFork)),
            ("MADV_DOFORK", Some(Advice::DoFork)),
            ("0x12", Some(Advice::WipeOnFork)),
            ("102", Some(Advice::GuardInstall)),
            ("0x67", Some(Advice::GuardRemove)),
            ("MADV_WILLNEED", None),
            ("0x04", None),
            ("0XA", None),
        ] {
            assert_eq!(advice_of(tok), a, "{tok}");
        }
    }

    #[test]
    fn flags_read_as_names_or_numbers() {
        assert_eq!(bits("PROT_READ|PROT_WRITE", PROTS), Some(3));
        assert_eq!(
            bits("MAP_PRIVATE|MAP_ANONYMOUS|MAP_DENYWRITE", MAPS),
            Some(0x22)
        );
        assert_eq!(bits("0x22", MAPS), Some(0x22));
        assert_eq!(bits("PROT_READ|)", PROTS), None);
        assert_eq!(num("3</lib/libc.so.6>"), Some(3));
        assert_eq!(fd_arg("AT_FDCWD"), Some(-100));
        assert_eq!(
            fd_decoration("3</lib/libc.so.6>").as_deref(),
            Some("/lib/libc.so.6")
        );
        assert_eq!(page_up(1), Some(PAGE_SIZE));
        assert_eq!(page_up(u64::MAX), None);
    }
}
