//! Tests of the trace format: every op, errors, round trips.
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

/// Every op keyword with every form of its arguments: a table, long
/// because the format is.
#[test]
fn every_op_parses() {
    let text = "\
config ram=64M swap=0x10k merge=prev seed=0x2a
file libfoo.so 3M
mmap 1 0x100000000000 8K rw- private
mmap 2 0x100000010000 0x2000 r-x shared,noreserve,many_prots file=libfoo.so off=0x2000
mmap 1 4096 1G --- many_prots,private off=8K file=libfoo.so
munmap 1 0x100000000000 4096
mprotect 1 0x100000000000 2K r--
touch 1 0x100000000000 8K w
touch 1 0 1 r
madvise 1 0x1000 4K guard_install
mremap 1 0x100000000000 8K 16K
mremap 1 0x100000000000 8K 0x3000 dontunmap fixed=0x100000100000 maymove
mremap 2 4096 0 1T maymove
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
        Op::Mremap {
            pid: 1,
            addr: 0x1000_0000_0000,
            old_len: 8192,
            new_len: 16384,
            flags: RemapFlags::default(),
        },
        Op::Mremap {
            pid: 1,
            addr: 0x1000_0000_0000,
            old_len: 8192,
            new_len: 0x3000,
            flags: RemapFlags {
                maymove: true,
                fixed: Some(0x1000_0010_0000),
                dontunmap: true,
            },
        },
        Op::Mremap {
            pid: 2,
            addr: 4096,
            old_len: 0,
            new_len: 1 << 40,
            flags: RemapFlags {
                maymove: true,
                ..RemapFlags::default()
            },
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
    assert_eq!(parse_size("1T"), Some(1 << 40));
    assert_eq!(parse_size("3t"), Some(3 << 40));
    assert_eq!(parse_size("16777215T"), Some(16777215 << 40));
    for bad in [
        "17179869184G",
        "16777216T",
        "K",
        "4KK",
        "4P",
        "4 K",
        "-4K",
        "T",
        "",
    ] {
        assert_eq!(parse_size(bad), None, "{bad:?}");
    }
    assert_eq!(format_size(0), "0");
    assert_eq!(format_size(4095), "4095");
    assert_eq!(format_size(8192), "8K");
    assert_eq!(format_size(3 << 20), "3M");
    assert_eq!(format_size((1 << 30) + 4096), "1048580K");
    assert_eq!(format_size(u64::MAX), u64::MAX.to_string());
    assert_eq!(format_size(1 << 63), "8388608T");
    assert_eq!(format_size(1 << 40), "1T");
    assert_eq!(format_size(3 << 39), "1536G");
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
        "t.trace:3: found `4Q`, expected a length (decimal or 0x hex, optional K/M/G/T suffix)"
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
file f 4K\nmmap 1 0 4K rw- shared file=f off=4Q | 2 | off=4Q | off=OFFSET
file f 4K\nmmap 1 0 4K rw- shared file=f off=16777216T | 2 | off=16777216T | K/M/G/T suffix
mremap 1 0 4K | 1 | mremap 1 0 4K | 4 to 7 arguments
mremap 1 0 4K 8K maymove dontunmap fixed=0 x | 1 | x | end of line (4 to 7 arguments
mremap 1 0 4K 8K move | 1 | move | maymove, fixed=NEWADDR or dontunmap
mremap 1 0 4K 8K maymove maymove | 1 | maymove | at most once
mremap 1 0 4K 8K fixed=1 fixed=1 | 1 | fixed=1 | at most once
mremap 1 0 4K 8K fixed=4K | 1 | fixed=4K | fixed=NEWADDR
mremap 1 0 4K 8K fixed= | 1 | fixed= | fixed=NEWADDR
mremap 1 4K 4K 8K | 1 | 4K | an address
mremap 1 0 4K 8Q | 1 | 8Q | a length
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
                mmap 1 0X1000 4097 r-- private file=f off=0\nremap 1 0x1000 4K 0x10 r--\ntouch 1 0 1M r\nstats 3\n\
                mmap 1 0x2000 4K r-- private file=f off=2K\n\
                mremap 1 4096 0x2000 2T dontunmap fixed=65536 maymove\nmremap 1 4096 0 4K";
    let want = "config ram=1G swap=4K merge=both seed=16\nfile f 12K\n\
                mmap 1 0x1000 8K rw- shared,noreserve,many_prots file=f off=0x1000\n\
                mmap 1 0x1000 4097 r-- private file=f\nremap 1 0x1000 4K 0x10 r--\ntouch 1 0x0 1M r\nstats 3\n\
                mmap 1 0x2000 4K r-- private file=f off=0x800\n\
                mremap 1 0x1000 8K 2T maymove fixed=0x10000 dontunmap\nmremap 1 0x1000 0 4K\n";
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

/// A strategy for every op but `config` (one arm per op kind).
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
        (
            any::<u32>(),
            arb_u64(),
            arb_u64(),
            arb_u64(),
            (
                any::<bool>(),
                proptest::option::of(arb_u64()),
                any::<bool>()
            )
        )
            .prop_map(
                |(pid, addr, old_len, new_len, (maymove, fixed, dontunmap))| Op::Mremap {
                    pid,
                    addr,
                    old_len,
                    new_len,
                    flags: RemapFlags {
                        maymove,
                        fixed,
                        dontunmap
                    },
                }
            ),
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
    (arb_u64(), arb_u64(), merge, any::<u64>(), any::<bool>())
        .prop_map(|(r, s, m, seed, pk)| {
            vec![
                ConfigItem::Ram(r),
                ConfigItem::Swap(s),
                ConfigItem::Merge(m),
                ConfigItem::Seed(seed),
                ConfigItem::Pkeys(pk),
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
        "config", "file", "mmap", "munmap", "mprotect", "touch", "madvise", "mremap", "remap", "fork", "exec", "exit",
        "maymove", "dontunmap", "fixed=0x2000", "fixed=", "2T", "off=4K",
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
