//! The operations of the model: one `Op` is one step of a workload.
//!
//! Every workload (a hand-written trace, a generated scenario, an imported
//! strace log) is a sequence of `Op`s, and `System::apply` is the single entry
//! point that executes one. The text form of an `Op` is the trace format
//! (`docs/trace-format.md`); `crate::trace` parses and writes it.

/// Process id chosen by the trace (not a host pid).
pub type Pid = u32;

/// A protection: any combination of read, write, execute.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct Prot(pub u8);

impl Prot {
    pub const NONE: Prot = Prot(0);
    pub const READ: u8 = 1;
    pub const WRITE: u8 = 2;
    pub const EXEC: u8 = 4;
    pub const RW: Prot = Prot(Self::READ | Self::WRITE);
    pub const R: Prot = Prot(Self::READ);

    pub fn new(read: bool, write: bool, exec: bool) -> Prot {
        Prot((read as u8) | ((write as u8) << 1) | ((exec as u8) << 2))
    }
    #[inline]
    pub fn read(self) -> bool {
        self.0 & Self::READ != 0
    }
    #[inline]
    pub fn write(self) -> bool {
        self.0 & Self::WRITE != 0
    }
    #[inline]
    pub fn exec(self) -> bool {
        self.0 & Self::EXEC != 0
    }
    /// The three-character form used by traces and `dump`: `rw-`, `r-x`, `---`.
    pub fn as_str(self) -> &'static str {
        const S: [&str; 8] = ["---", "r--", "-w-", "rw-", "--x", "r-x", "-wx", "rwx"];
        S[(self.0 & 7) as usize]
    }
    /// Parse the three-character form; `None` if malformed.
    pub fn parse(s: &str) -> Option<Prot> {
        let b = s.as_bytes();
        if b.len() != 3 {
            return None;
        }
        let bit = |c: u8, letter: u8| match c {
            c if c == letter => Some(true),
            b'-' => Some(false),
            _ => None,
        };
        Some(Prot::new(
            bit(b[0], b'r')?,
            bit(b[1], b'w')?,
            bit(b[2], b'x')?,
        ))
    }
}

/// `mmap` flags that a trace can give.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct MapFlags {
    /// `MAP_SHARED` (else `MAP_PRIVATE`).
    pub shared: bool,
    /// `MAP_NORESERVE`: no commit accounting.
    pub noreserve: bool,
    /// The model's many-protection VMA: per-page protections live in PTEs.
    pub many_prots: bool,
}

/// The `mremap` flags a trace can give: `MREMAP_MAYMOVE`, `MREMAP_FIXED`
/// with its new address, `MREMAP_DONTUNMAP`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct RemapFlags {
    /// `MREMAP_MAYMOVE`: the kernel may move the mapping.
    pub maymove: bool,
    /// `MREMAP_FIXED` and the new address it moves to.
    pub fixed: Option<u64>,
    /// `MREMAP_DONTUNMAP`: the old range stays mapped, emptied.
    pub dontunmap: bool,
}

/// `madvise` advice values that the model implements.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Advice {
    DontNeed,
    GuardInstall,
    GuardRemove,
    PageOut,
    DontFork,
    DoFork,
    WipeOnFork,
}

impl Advice {
    pub const ALL: [Advice; 7] = [
        Advice::DontNeed,
        Advice::GuardInstall,
        Advice::GuardRemove,
        Advice::PageOut,
        Advice::DontFork,
        Advice::DoFork,
        Advice::WipeOnFork,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Advice::DontNeed => "dontneed",
            Advice::GuardInstall => "guard_install",
            Advice::GuardRemove => "guard_remove",
            Advice::PageOut => "pageout",
            Advice::DontFork => "dontfork",
            Advice::DoFork => "dofork",
            Advice::WipeOnFork => "wipeonfork",
        }
    }
    pub fn parse(s: &str) -> Option<Advice> {
        Advice::ALL.into_iter().find(|a| a.as_str() == s)
    }
    /// Whether the advice changes VMA flags (and so needs `mmap_lock` for
    /// writing: `madvise_need_mmap_write`).
    pub fn changes_flags(self) -> bool {
        matches!(self, Advice::DontFork | Advice::DoFork | Advice::WipeOnFork)
    }
}

/// Reverse-mapping-independent merge policy for VMAs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum MergePolicy {
    /// Never merge: every mmap and every split leaves its own VMA.
    None,
    /// Old Mach: a new mapping may extend the previous entry only; a
    /// protection change never re-coalesces entries.
    PrevOnly,
    /// Linux (and forward-merging Mach): merge with both neighbours, and
    /// re-merge when mprotect/madvise makes neighbours compatible again.
    #[default]
    Both,
}

impl MergePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            MergePolicy::None => "none",
            MergePolicy::PrevOnly => "prev",
            MergePolicy::Both => "both",
        }
    }
    pub fn parse(s: &str) -> Option<MergePolicy> {
        match s {
            "none" => Some(MergePolicy::None),
            "prev" => Some(MergePolicy::PrevOnly),
            "both" => Some(MergePolicy::Both),
            _ => None,
        }
    }
}

/// Read or write access for `touch`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Access {
    Read,
    Write,
}

/// Which processes `stats` reports.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum StatsTarget {
    All,
    Pid(Pid),
}

/// One `config` setting.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum ConfigItem {
    /// Simulated RAM in bytes.
    Ram(u64),
    /// Swap device size in bytes.
    Swap(u64),
    Merge(MergePolicy),
    Seed(u64),
    /// x86 protection keys (`pkeys=on|off`): with them, exec-only mappings
    /// cannot be read.
    Pkeys(bool),
    /// What a `many_prots` mapping may do (`many_prots=whatif|patch`):
    /// `true` for the 2006 patch's semantics ([`Config::many_prots_patch`](crate::Config)).
    ManyProtsPatch(bool),
}

/// One operation. Lengths and addresses are in bytes, exactly as written in
/// the trace (validation is the model's job, so that a bad value gives the
/// errno Linux would give rather than a parse error).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Op {
    Config(Vec<ConfigItem>),
    File {
        name: String,
        size: u64,
    },
    Mmap {
        pid: Pid,
        addr: u64,
        len: u64,
        prot: Prot,
        flags: MapFlags,
        file: Option<String>,
        off: u64,
    },
    Munmap {
        pid: Pid,
        addr: u64,
        len: u64,
    },
    Mprotect {
        pid: Pid,
        addr: u64,
        len: u64,
        prot: Prot,
    },
    Touch {
        pid: Pid,
        addr: u64,
        len: u64,
        access: Access,
    },
    Madvise {
        pid: Pid,
        addr: u64,
        len: u64,
        advice: Advice,
    },
    /// mremap of `[addr, addr + old_len)` to `new_len` bytes.
    Mremap {
        pid: Pid,
        addr: u64,
        old_len: u64,
        new_len: u64,
        flags: RemapFlags,
    },
    /// remap_file_pages; `prot` is MAP_CHGPROT's new protection.
    Remap {
        pid: Pid,
        addr: u64,
        len: u64,
        pgoff: u64,
        prot: Option<Prot>,
    },
    Fork {
        parent: Pid,
        child: Pid,
    },
    Exec {
        pid: Pid,
    },
    Exit {
        pid: Pid,
    },
    Reclaim {
        pages: u64,
    },
    Dump {
        pid: Pid,
    },
    Stats(StatsTarget),
    Check,
}

/// The ops that name a single process, and that process: written once for
/// [`Op::pid`] and [`Op::pid_mut`].
macro_rules! one_pid {
    ($op:expr) => {
        match $op {
            Op::Mmap { pid, .. }
            | Op::Munmap { pid, .. }
            | Op::Mprotect { pid, .. }
            | Op::Touch { pid, .. }
            | Op::Madvise { pid, .. }
            | Op::Mremap { pid, .. }
            | Op::Remap { pid, .. }
            | Op::Exec { pid }
            | Op::Exit { pid }
            | Op::Dump { pid }
            | Op::Stats(StatsTarget::Pid(pid)) => Some(pid),
            _ => None,
        }
    };
}

impl Op {
    /// The one process this op acts on, to read or renumber: every op that
    /// names a single process (`exit` and `stats PID` included). `None` for
    /// `fork`, which names two, and for ops that name none.
    pub fn pid_mut(&mut self) -> Option<&mut Pid> {
        one_pid!(self)
    }

    /// The one process this op acts on (see [`Op::pid_mut`]).
    pub fn pid(&self) -> Option<Pid> {
        one_pid!(self).copied()
    }

    /// The operation's keyword as written in a trace (used in `err` lines).
    pub fn name(&self) -> &'static str {
        match self {
            Op::Config(_) => "config",
            Op::File { .. } => "file",
            Op::Mmap { .. } => "mmap",
            Op::Munmap { .. } => "munmap",
            Op::Mprotect { .. } => "mprotect",
            Op::Touch { .. } => "touch",
            Op::Madvise { .. } => "madvise",
            Op::Mremap { .. } => "mremap",
            Op::Remap { .. } => "remap",
            Op::Fork { .. } => "fork",
            Op::Exec { .. } => "exec",
            Op::Exit { .. } => "exit",
            Op::Reclaim { .. } => "reclaim",
            Op::Dump { .. } => "dump",
            Op::Stats(_) => "stats",
            Op::Check => "check",
        }
    }
}
