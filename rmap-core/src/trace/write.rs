//! The canonical text of ops.

use super::format_size;
use crate::ops::*;

/// Writes one op in canonical form, without a newline.
///
/// Ops that `parse` can never produce (an empty `Config`, an anonymous `Mmap`
/// with a non-zero `off`) are written as they are and will not parse back.
///
/// One arm per op, as in `parse_op`: long because the format has many ops.
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
                    ConfigItem::Pkeys(on) => format!("pkeys={}", if *on { "on" } else { "off" }),
                    ConfigItem::ManyProtsPatch(p) => {
                        format!("many_prots={}", if *p { "patch" } else { "whatif" })
                    }
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
        Op::Mremap {
            pid,
            addr,
            old_len,
            new_len,
            flags,
        } => {
            let mut s = format!(
                "{name} {pid} {addr:#x} {} {}",
                format_size(*old_len),
                format_size(*new_len)
            );
            if flags.maymove {
                s.push_str(" maymove");
            }
            if let Some(a) = flags.fixed {
                s.push_str(&format!(" fixed={a:#x}"));
            }
            if flags.dontunmap {
                s.push_str(" dontunmap");
            }
            s
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
