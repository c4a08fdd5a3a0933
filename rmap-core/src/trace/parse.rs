//! Parsing one line's keyword and arguments into an [`Op`].

use super::*;

/// One arm per op keyword: the length is the number of ops, each arm a
/// few lines; splitting it would only scatter the table.
pub(super) fn parse_op(
    cx: &Ctx,
    st: &mut State,
    kw: &str,
    args: &[&str],
) -> Result<Op, TraceError> {
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
        "mremap" => parse_mremap(cx, args)?,
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
        return Err(cx.err(
            cx.text,
            "at least one KEY=VALUE item (ram swap merge seed pkeys many_prots)",
        ));
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
            "pkeys" => ConfigItem::Pkeys(match val {
                "on" => true,
                "off" => false,
                _ => return Err(cx.err(tok, "pkeys=on or pkeys=off")),
            }),
            "many_prots" => ConfigItem::ManyProtsPatch(match val {
                "patch" => true,
                "whatif" => false,
                _ => return Err(cx.err(tok, "many_prots=patch or many_prots=whatif")),
            }),
            _ => {
                return Err(cx.err(
                    tok,
                    "a config key, one of: ram swap merge seed pkeys many_prots",
                ));
            }
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
            let n = parse_size(val).ok_or_else(|| {
                cx.err(
                    tok,
                    "off=OFFSET (bytes, decimal or 0x hex, optional K/M/G/T suffix)",
                )
            })?;
            off = Some((tok, n));
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

/// `mremap PID ADDR OLD_LEN NEW_LEN [maymove] [fixed=NEWADDR] [dontunmap]`:
/// the words in any order, each at most once.
fn parse_mremap(cx: &Ctx, args: &[&str]) -> Result<Op, TraceError> {
    const USAGE: &str = "4 to 7 arguments: PID ADDR OLD_LEN NEW_LEN [maymove] [fixed=NEWADDR] \
                         [dontunmap]";
    let (Some(&[pid, addr, old_len, new_len]), rest) =
        (args.first_chunk::<4>(), args.get(4..).unwrap_or_default())
    else {
        return Err(cx.arity(args, 4, USAGE));
    };
    if rest.len() > 3 {
        return Err(cx.arity(args, 7, USAGE));
    }
    let mut flags = RemapFlags::default();
    let mut seen = [false; 3];
    for &tok in rest {
        let i = if tok == "maymove" {
            flags.maymove = true;
            0
        } else if let Some(v) = tok.strip_prefix("fixed=") {
            let a = parse_number(v)
                .ok_or_else(|| cx.err(tok, "fixed=NEWADDR (an address, decimal or 0x hex)"))?;
            flags.fixed = Some(a);
            1
        } else if tok == "dontunmap" {
            flags.dontunmap = true;
            2
        } else {
            return Err(cx.err(tok, "maymove, fixed=NEWADDR or dontunmap"));
        };
        if std::mem::replace(&mut seen[i], true) {
            return Err(cx.err(tok, "each of maymove, fixed=, dontunmap at most once"));
        }
    }
    Ok(Op::Mremap {
        pid: cx.pid(pid)?,
        addr: cx.addr(addr)?,
        old_len: cx.len(old_len)?,
        new_len: cx.len(new_len)?,
        flags,
    })
}
