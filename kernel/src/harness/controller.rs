//! The controller: it creates the files, starts trace process 1 (forked
//! from itself or from the zygote), makes trace processes fork and exit,
//! sends them one request per op and prints what the model's replay would
//! print.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use rmap_core::PAGE_SIZE;
use rmap_core::ops::{Op, StatsTarget};
use rmap_core::trace::{TraceError, TraceLine};

use super::locks::op_guard;
use super::maps::{check_window_free, format_maps};
use super::protocol::{K_DUMP, K_FORK, K_NOP, Req, recv_done, request, send_req};
use super::slab::Meter;
use super::worker::{ALTSTACK, worker_main};
use super::{KernelError, KernelOptions, KernelSummary};
use crate::errno_name;
use crate::sys::kill_and_reap;
use crate::tempdir::{TempDir, make_file};

/// Bytes of each file written with its pattern; the rest stays sparse.
const PATTERN_MAX: u64 = 64 << 20;

/// What a run left behind, for the tests to check that it cleaned up.
#[derive(Default)]
pub struct Trail {
    pub hosts: Vec<i32>,
    pub dir: Option<PathBuf>,
}

/// A failed system call of the controller, with the errno it left.
pub(super) fn sys_err(what: &str) -> KernelError {
    KernelError::Sys(format!("{what}: {}", io::Error::last_os_error()))
}

fn socketpair() -> Result<(OwnedFd, OwnedFd), KernelError> {
    let mut fds = [-1; 2];
    // SAFETY: fds has room for two descriptors.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(sys_err("socketpair"));
    }
    // SAFETY: both descriptors are new and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A trace process: its host pid and the controller's end of its socket.
pub(super) struct Proc {
    pub(super) host: libc::pid_t,
    pub(super) chan: OwnedFd,
}

/// The live trace processes by trace id; killed and reaped when dropped.
#[derive(Default)]
pub(super) struct Procs(pub(super) BTreeMap<u32, Proc>);

impl Drop for Procs {
    fn drop(&mut self) {
        for (_, p) in std::mem::take(&mut self.0) {
            kill_and_reap(p.host);
        }
    }
}

/// Fails if `dir` is on a `noexec` mount, where every executable file
/// mapping would fail with EPERM.
fn check_exec_allowed(dir: &Path) -> Result<(), KernelError> {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return Ok(());
    };
    // SAFETY: c is NUL-terminated; st is written by the call.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } == 0 && st.f_flag & libc::ST_NOEXEC != 0 {
        return Err(KernelError::Sys(format!(
            "{} is on a noexec mount, so executable file mappings would fail; set TMPDIR \
             to another directory",
            dir.display()
        )));
    }
    Ok(())
}

/// The model's wording for an op naming a process that does not exist.
fn no_process(file: &str, line: usize, pid: u32) -> KernelError {
    KernelError::Trace(TraceError {
        file: file.to_string(),
        line,
        found: format!("process {pid}"),
        expected: "a process that exists".to_string(),
    })
}

/// What every replay of one trace shares.
pub(super) struct Env<'a> {
    /// The trace's name, in messages.
    file: &'a str,
    /// The declared files, opened by the controller.
    pub(super) files: &'a HashMap<String, File>,
    /// The temporary directory, as `/proc/PID/maps` shows it, with a `/`.
    dir_prefix: &'a str,
}

/// How the lines are replayed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Mode {
    /// Every op as the trace says.
    Real,
    /// Forks, exits and dumps as the trace says; every op on the window
    /// (mmap, munmap, mprotect, madvise, touch) becomes a round trip
    /// that does nothing.
    Shadow,
}

/// A private directory for the files of one run.
fn temp_dir() -> Result<TempDir, KernelError> {
    TempDir::new("rmap-live").map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            KernelError::Sys(e.to_string())
        } else {
            e.into()
        }
    })
}

/// Runs the (well-formed, not refused) lines; `trail` records the host
/// pids and the directory it used.
pub fn run(
    lines: &[TraceLine],
    file: &str,
    out: &mut dyn Write,
    opts: &KernelOptions,
    trail: &mut Trail,
) -> Result<KernelSummary, KernelError> {
    let dir = temp_dir()?;
    trail.dir = Some(dir.path().to_path_buf());
    check_exec_allowed(dir.path())?;
    let dir_prefix = format!("{}/", dir.path().display());
    let mut files: HashMap<String, File> = HashMap::new();
    for tl in lines {
        if let Op::File { name, size } = &tl.op {
            // each page holds its page number + 1 (mod 255, never 0)
            let f = make_file(dir.path(), name, *size, PATTERN_MAX, |p| {
                (p % 255) as u8 + 1
            })?;
            files.insert(name.clone(), f);
        }
    }
    let env = Env {
        file,
        files: &files,
        dir_prefix: &dir_prefix,
    };
    let mut procs = Procs::default();
    let mut meter = Meter::new(opts);
    let r = run_ops(
        &env,
        lines,
        Mode::Real,
        out,
        trail,
        &mut procs,
        None,
        Some(&mut meter),
    );
    {
        let _g = op_guard();
        drop(procs);
        drop(meter);
    }
    drop(files);
    drop(dir);
    r
}

/// A new worker forked from the controller itself: trace process 1 of a
/// run, or the zygote of the object counts.
pub(super) fn spawn_worker(
    files: &HashMap<String, File>,
    trail: &mut Trail,
) -> Result<Proc, KernelError> {
    let (ctl, wk) = socketpair()?;
    let mut keep: Vec<i32> = files.values().map(|f| f.as_raw_fd()).collect();
    keep.push(wk.as_raw_fd());
    keep.sort_unstable();
    let mut altstack = vec![0u8; ALTSTACK];
    let alt = altstack.as_mut_ptr();
    // Write every page now, so that the mapping holding the alternate
    // stack has its anonymous state before the fork and a fault handled
    // by a worker creates no anon_vma of its own.
    for i in (0..ALTSTACK).step_by(PAGE_SIZE as usize) {
        // SAFETY: i < ALTSTACK, inside the vector.
        unsafe { std::ptr::write_volatile(alt.add(i), 1) };
    }
    let wk_raw = wk.as_raw_fd();
    check_window_free()?;
    // SAFETY: getpid/fork. The child runs only `worker_main`, which
    // uses raw system calls and never returns, allocates or unwinds.
    let ppid = unsafe { libc::getpid() };
    let host = unsafe { libc::fork() };
    if host == 0 {
        worker_main(wk_raw, &mut keep, ppid, alt);
    }
    if host < 0 {
        return Err(sys_err("fork"));
    }
    trail.hosts.push(host);
    drop(wk);
    drop(altstack);
    let p = Proc { host, chan: ctl };
    match recv_done(&p.chan, 1, None) {
        Ok(0) => Ok(p),
        Ok(v) => {
            kill_and_reap(p.host);
            Err(KernelError::Sys(format!(
                "trace process 1 failed to start ({v})"
            )))
        }
        Err(e) => {
            kill_and_reap(p.host);
            Err(e)
        }
    }
}

/// Makes the worker `parent` (trace id `parent_id`) fork; the child
/// (trace id `child_id`) answers on a new socket. The inner error is
/// the fork's `-errno`.
fn fork_from(
    parent: &Proc,
    parent_id: u32,
    child_id: u32,
    trail: &mut Trail,
) -> Result<Result<Proc, i32>, KernelError> {
    let (ctl, wk) = socketpair()?;
    send_req(
        &parent.chan,
        &Req {
            kind: K_FORK,
            ..Req::default()
        },
        Some(wk.as_raw_fd()),
    )?;
    drop(wk);
    let v = recv_done(&parent.chan, parent_id, None)?;
    if v <= 0 {
        return Ok(Err(v));
    }
    trail.hosts.push(v);
    let child = Proc { host: v, chan: ctl };
    match recv_done(&child.chan, child_id, None) {
        Ok(0) => Ok(Ok(child)),
        Ok(e) => {
            kill_and_reap(child.host);
            Err(KernelError::Sys(format!(
                "trace process {child_id} failed to start ({e})"
            )))
        }
        Err(e) => {
            kill_and_reap(child.host);
            Err(e)
        }
    }
}

/// Starts trace process 1: forked from the controller, or from the
/// zygote when there is one.
pub(super) fn start_first(
    env: &Env,
    procs: &mut Procs,
    zygote: Option<&Proc>,
    trail: &mut Trail,
) -> Result<(), KernelError> {
    let p = match zygote {
        None => spawn_worker(env.files, trail)?,
        Some(z) => fork_from(z, 0, 1, trail)?.map_err(|e| {
            KernelError::Sys(format!("the zygote could not fork: {}", errno_name(-e)))
        })?,
    };
    procs.0.insert(1, p);
    Ok(())
}

/// Replays `lines` in `procs` (trace process 1 is started at the first
/// op, from `zygote` when given); with a `meter`, each `stats all` line is
/// measured and printed. Errors as [`super::kernel_run`].
#[allow(clippy::too_many_arguments)] // the replay's separate pieces of state, each owned by a different caller
pub(super) fn run_ops(
    env: &Env,
    lines: &[TraceLine],
    mode: Mode,
    out: &mut dyn Write,
    trail: &mut Trail,
    procs: &mut Procs,
    zygote: Option<&Proc>,
    mut meter: Option<&mut Meter>,
) -> Result<KernelSummary, KernelError> {
    let mut sum = KernelSummary::default();
    let mut started = false;
    for (idx, tl) in lines.iter().enumerate() {
        if matches!(tl.op, Op::Config(_)) {
            continue;
        }
        let line = tl.line;
        if let Op::Stats(StatsTarget::All) = tl.op {
            if !started {
                let _g = op_guard();
                start_first(env, procs, zygote, trail)?;
                started = true;
            }
            sum.ops += 1;
            if let Some(m) = meter.as_deref_mut() {
                let at = m.measure(env, &lines[..idx], line, procs, trail)?;
                writeln!(out, "{}", at.counts.json_line())?;
                sum.objects.push(at);
            }
            continue;
        }
        let _g = op_guard();
        if !started {
            start_first(env, procs, zygote, trail)?;
            started = true;
        }
        sum.ops += 1;
        let val = match request(&tl.op, env.files, env.file, line)? {
            Some((pid, req)) => {
                let req = match mode {
                    Mode::Real => req,
                    Mode::Shadow => Req {
                        kind: K_NOP,
                        ..Req::default()
                    },
                };
                let p = procs
                    .0
                    .get(&pid)
                    .ok_or_else(|| no_process(env.file, line, pid))?;
                send_req(&p.chan, &req, None)?;
                recv_done(&p.chan, pid, None)?
            }
            None => process_op(env, tl, out, trail, procs)?,
        };
        if val < 0 {
            sum.errors += 1;
            writeln!(out, "err {line} {} {}", tl.op.name(), errno_name(-val))?;
        }
    }
    Ok(sum)
}

/// An op that is not on the window: `dump`, `exit`, `fork`, `stats PID`
/// (checks the process), and the ones that do nothing here (`config`,
/// `file`, `reclaim`, `check`). Its result, 0 or `-errno`.
fn process_op(
    env: &Env,
    tl: &TraceLine,
    out: &mut dyn Write,
    trail: &mut Trail,
    procs: &mut Procs,
) -> Result<i32, KernelError> {
    let (file, line) = (env.file, tl.line);
    let proc_of = |procs: &Procs, pid: u32| -> Result<RawFd, KernelError> {
        procs
            .0
            .get(&pid)
            .map(|p| p.chan.as_raw_fd())
            .ok_or_else(|| no_process(file, line, pid))
    };
    Ok(match &tl.op {
        Op::Stats(StatsTarget::Pid(pid)) => {
            proc_of(procs, *pid)?;
            0
        }
        Op::Exec { .. } => {
            return Err(KernelError::Sys(format!(
                "{file}:{line}: {} cannot run live",
                tl.op.name()
            )));
        }
        Op::Dump { pid } => {
            let p = procs
                .0
                .get(pid)
                .ok_or_else(|| no_process(file, line, *pid))?;
            dump(env, p, *pid, line, out)?;
            0
        }
        Op::Exit { pid } => {
            let p = procs
                .0
                .remove(pid)
                .ok_or_else(|| no_process(file, line, *pid))?;
            kill_and_reap(p.host);
            0
        }
        Op::Fork { parent, child } => {
            proc_of(procs, *parent)?;
            if procs.0.contains_key(child) {
                return Err(KernelError::Trace(TraceError {
                    file: file.to_string(),
                    line,
                    found: format!("process {child}"),
                    expected: "a child id that is not in use".to_string(),
                }));
            }
            let p = &procs.0[parent];
            match fork_from(p, *parent, *child, trail) {
                Ok(Ok(c)) => {
                    procs.0.insert(*child, c);
                    0
                }
                Ok(Err(v)) => v,
                Err(KernelError::Sys(e)) => {
                    return Err(KernelError::Sys(format!("{file}:{line}: {e}")));
                }
                Err(e) => return Err(e),
            }
        }
        // config, file, reclaim, check (and stats all, in run_ops)
        _ => 0,
    })
}

/// `dump PID`: the process's maps in the window, as the model prints them.
fn dump(
    env: &Env,
    p: &Proc,
    pid: u32,
    line: usize,
    out: &mut dyn Write,
) -> Result<(), KernelError> {
    send_req(
        &p.chan,
        &Req {
            kind: K_DUMP,
            ..Req::default()
        },
        None,
    )?;
    let mut raw = Vec::new();
    let v = recv_done(&p.chan, pid, Some(&mut raw))?;
    if v < 0 {
        return Err(KernelError::Sys(format!(
            "{}:{line}: reading /proc/self/maps: {}",
            env.file,
            errno_name(-v)
        )));
    }
    let raw = String::from_utf8_lossy(&raw);
    let mut s = format!("dump {pid}");
    format_maps(&raw, env.dir_prefix, &mut s)?;
    writeln!(out, "{s}")?;
    Ok(())
}

/// [`run`] of a trace text named `t.trace`, for the tests.
#[cfg(test)]
pub(super) fn run_with_trail(
    text: &str,
    out: &mut Vec<u8>,
    trail: &mut Trail,
) -> Result<KernelSummary, KernelError> {
    let lines = rmap_core::trace::parse(text, "t.trace")?;
    for tl in &lines {
        super::refusal(tl, "t.trace")?;
    }
    run(&lines, "t.trace", out, &KernelOptions::default(), trail)
}
