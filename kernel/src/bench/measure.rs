//! The measuring process: it forks the storm processes, reads back what
//! they send, and turns it into rows.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use rmap_metrics::{
    ANON_FAULT_NS_MEAN, ANON_FAULTS, COW_FAULT_NS_MEAN, COW_FAULTS, EXIT_NS_PER_PAGE, FAULT_NS_P50,
    FAULT_NS_P99, FAULT_NS_P999, FILE_ACCESS_NS_MEAN, FILE_FAULT_NS_MEAN, FILE_FAULTS, FORK_NS,
    FORK_NS_PER_PAGE, RESIDENT_PAGES, Row, SWAPIN_FAULT_NS_MEAN, SWAPIN_FAULTS, SWAPIN_SKIPPED,
    TIME_NS, TIMER_OVERHEAD_NS,
};

use super::storm::{close, exited_ok, fault_storm_proc, fork_storm_proc, mono_ns};
use super::wire::*;
use super::{FAULT_STORM, FORK_STORM, KernelBenchOptions, Metrics, swaps_listed};
use crate::errno_name;
use crate::sys::{
    close_fds_except, die_with_parent, errno, exit_now, kill_and_reap, page_size, wait_child,
};
use crate::tempdir::{TempDir, make_file};

/// A storm process: killed and reaped on drop unless reaped already.
struct Child {
    pid: i32,
    /// Wait status and the `CLOCK_MONOTONIC` time it was reaped.
    reaped: Option<(i32, u64)>,
}

impl Child {
    /// Reaps the process if it has ended.
    fn try_reap(&mut self) -> Result<bool, String> {
        if self.reaped.is_some() {
            return Ok(true);
        }
        let mut st = 0;
        // SAFETY: st is valid to fill.
        let r = unsafe { libc::waitpid(self.pid, &mut st, libc::WNOHANG) };
        if r == self.pid {
            self.reaped = Some((st, mono_ns()));
            Ok(true)
        } else if r == 0 || errno() == libc::EINTR {
            Ok(false)
        } else {
            Err(format!("waitpid: {}", std::io::Error::last_os_error()))
        }
    }

    /// Waits for the process to end: its wait status and when it was
    /// reaped.
    fn reap(&mut self) -> Result<(i32, u64), String> {
        if let Some(r) = self.reaped {
            return Ok(r);
        }
        let st = wait_child(self.pid)
            .map_err(|e| format!("waitpid: {}", std::io::Error::from_raw_os_error(e)))?;
        let r = (st, mono_ns());
        self.reaped = Some(r);
        Ok(r)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.reaped.is_none() {
            // our own child, not yet reaped (so the pid is still ours)
            kill_and_reap(self.pid);
        }
    }
}

/// The read end of a storm process's pipe.
struct Reader {
    fd: std::os::fd::OwnedFd,
    deadline: Instant,
}

impl Reader {
    /// Reads exactly `buf.len()` bytes, giving up when `child` ends
    /// without sending them or the deadline passes.
    fn read_exact(&self, buf: &mut [u8], child: &mut Child) -> Result<(), String> {
        let fd = self.fd.as_raw_fd();
        let mut got = 0;
        let mut ended = false;
        while got < buf.len() {
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, if ended { 0 } else { 200 }) };
            if r < 0 {
                if errno() == libc::EINTR {
                    continue;
                }
                return Err(format!("poll: {}", std::io::Error::last_os_error()));
            }
            if r == 0 {
                if ended {
                    return Err(ended_early(child));
                }
                if Instant::now() > self.deadline {
                    return Err("the storm process timed out".to_string());
                }
                // once it has ended, whatever it sent is in the pipe
                ended = child.try_reap()?;
                continue;
            }
            let rest = &mut buf[got..];
            // SAFETY: rest is writable for its length.
            let k = unsafe { libc::read(fd, rest.as_mut_ptr().cast(), rest.len()) };
            if k < 0 {
                if errno() == libc::EINTR {
                    continue;
                }
                return Err(format!("read: {}", std::io::Error::last_os_error()));
            }
            if k == 0 {
                return Err(ended_early(child));
            }
            got += k as usize;
        }
        Ok(())
    }

    fn words(&self, n: usize, child: &mut Child) -> Result<Vec<u64>, String> {
        let mut b = vec![0u8; n * 8];
        self.read_exact(&mut b, child)?;
        Ok(b.chunks_exact(8)
            .map(|c| u64::from_ne_bytes(c.try_into().expect("8 bytes")))
            .collect())
    }

    fn samples(&self, n: usize, child: &mut Child) -> Result<Vec<u32>, String> {
        let mut b = vec![0u8; n * 4];
        self.read_exact(&mut b, child)?;
        Ok(b.chunks_exact(4)
            .map(|c| u32::from_ne_bytes(c.try_into().expect("4 bytes")))
            .collect())
    }
}

fn ended_early(child: &mut Child) -> String {
    match child.reap() {
        Ok((st, _)) => {
            format!("the storm process ended (wait status {st:#x}) before reporting")
        }
        Err(e) => format!("the storm process vanished before reporting ({e})"),
    }
}

/// Forks a storm process running `body(write_fd)`, which exits rather
/// than return; `keep` are further descriptors it needs.
fn spawn(keep: &[i32], timeout: Duration, body: &dyn Fn(i32)) -> Result<(Child, Reader), String> {
    let mut fds = [-1i32; 2];
    // SAFETY: fds has room for two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: fds[0] is a fresh descriptor that only this owns.
    let rfd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fds[0]) };
    let mut keep_all = [-1i32; 8];
    keep_all[0] = fds[1];
    for (slot, &k) in keep_all[1..].iter_mut().zip(keep) {
        *slot = k;
    }
    // SAFETY: plain getpid.
    let me = unsafe { libc::getpid() };
    // SAFETY: the child only makes system calls (see the module docs)
    // and never returns here.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        die_with_parent(me);
        close_fds_except(&mut keep_all);
        body(fds[1]);
        exit_now(5);
    }
    close(fds[1]);
    if pid < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    Ok((
        Child { pid, reaped: None },
        Reader {
            fd: rfd,
            deadline: Instant::now() + timeout,
        },
    ))
}

fn timeout_for(size: u64) -> Duration {
    Duration::from_secs(120 + size / 4)
}

fn fail(scenario: &str, size: u64, what: String) -> String {
    format!("kernel-bench {scenario} {size} MiB: {what}")
}

/// One fork-storm repetition into `m`.
fn fork_storm_rep(size: u64, page: usize, m: &mut Metrics) -> Result<(), String> {
    let len = (size << 20) as usize;
    let (mut child, reader) = spawn(&[], timeout_for(size), &|w| fork_storm_proc(w, len, page))?;
    let rec = reader.words(FORK_WORDS, &mut child)?;
    // blocked in waitpid while the storm process exits
    let (st, end) = child.reap()?;
    if rec[0] != TAG_FORK {
        return Err("garbled result from the storm process".to_string());
    }
    if rec[1] != 0 {
        return Err(describe(rec[1]));
    }
    if !exited_ok(st) {
        return Err(format!("the storm process failed (wait status {st:#x})"));
    }
    if rec[F_OWN_RES] == 0 {
        return Err(describe(status(ST_STATM, 0)));
    }
    let per_page = |ns: u64, pages: u64| ns as f64 / pages as f64;
    let forks: Vec<f64> = (0..CHILDREN)
        .map(|i| per_page(rec[F_FORK_NS + i], rec[F_PARENT_RES + i]))
        .collect();
    let mut exits: Vec<f64> = (0..CHILDREN)
        .map(|i| per_page(rec[F_EXIT_NS + i], rec[F_CHILD_RES + i]))
        .collect();
    exits.push(per_page(end.saturating_sub(rec[F_EXIT_AT]), rec[F_OWN_RES]));
    let fork_ns: Vec<f64> = rec[F_FORK_NS..F_FORK_NS + CHILDREN]
        .iter()
        .map(|&v| v as f64)
        .collect();
    let res: Vec<f64> = rec[F_PARENT_RES..F_PARENT_RES + CHILDREN]
        .iter()
        .map(|&v| v as f64)
        .collect();
    m.add(FORK_NS_PER_PAGE, &forks);
    m.add(EXIT_NS_PER_PAGE, &exits);
    m.add(FORK_NS, &fork_ns);
    m.add(RESIDENT_PAGES, &res);
    m.add(TIME_NS, &[end.saturating_sub(rec[F_START]) as f64]);
    Ok(())
}

/// Faulting samples of one kind: their mean and count, and the mean of
/// all its samples.
struct Kind {
    fault_mean: Option<f64>,
    faults: usize,
    all_mean: Option<f64>,
}

fn kind(s: &[u32], hist: &mut hdrhistogram::Histogram<u64>) -> Result<Kind, String> {
    let (mut sum, mut k, mut all) = (0u64, 0usize, 0u64);
    for &v in s {
        let ns = u64::from(v & NS_MAX);
        all += ns;
        if v & FAULTED != 0 {
            sum += ns;
            k += 1;
            hist.record(ns.max(1))
                .map_err(|e| format!("histogram: {e:?}"))?;
        }
    }
    Ok(Kind {
        fault_mean: (k > 0).then(|| sum as f64 / k as f64),
        faults: k,
        all_mean: (!s.is_empty()).then(|| all as f64 / s.len() as f64),
    })
}

/// One fault-storm repetition into `m`.
fn fault_storm_rep(
    size: u64,
    page: usize,
    file: &File,
    swap: bool,
    m: &mut Metrics,
) -> Result<(), String> {
    let len = (size << 20) as usize;
    let ffd = file.as_raw_fd();
    let (mut child, reader) = spawn(&[ffd], timeout_for(size), &|w| {
        fault_storm_proc(w, ffd, len, page, swap)
    })?;
    let mut cow = None;
    let (head, main) = loop {
        let head = reader.words(HEAD_WORDS, &mut child)?;
        if head[1] != 0 {
            return Err(describe(head[1]));
        }
        let n = usize::try_from(head[2]).map_err(|_| "garbled result".to_string())?;
        match head[0] {
            TAG_COW if cow.is_none() => cow = Some(reader.samples(n, &mut child)?),
            TAG_MAIN => {
                let mut h = head;
                h.extend(reader.words(MAIN_WORDS - HEAD_WORDS, &mut child)?);
                let s = reader.samples(3 * n, &mut child)?;
                break (h, s);
            }
            _ => return Err("garbled result from the storm process".to_string()),
        }
    };
    let (st, _) = child.reap()?;
    if !exited_ok(st) {
        return Err(format!("the storm process failed (wait status {st:#x})"));
    }
    let cow = cow.ok_or_else(|| "the COW child sent no result".to_string())?;
    fault_rows(&head, &main, &cow, m)
}

/// The rows of one fault-storm repetition into `m`, from the MAIN record
/// (`head`, then the anonymous, file and swap-in samples in `main`) and
/// the COW child's samples.
fn fault_rows(head: &[u64], main: &[u32], cow: &[u32], m: &mut Metrics) -> Result<(), String> {
    let n = main.len() / 3;
    let mut hist = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 1 << 32, 3)
        .map_err(|e| format!("histogram: {e:?}"))?;
    let anon = kind(&main[..n], &mut hist)?;
    let file_k = kind(&main[n..2 * n], &mut hist)?;
    let cow_k = kind(cow, &mut hist)?;
    let swap_k = if head[M_SWAP] == SWAP_DONE {
        Some(kind(&main[2 * n..], &mut hist)?)
    } else {
        None
    };
    if !hist.is_empty() {
        m.add(FAULT_NS_P50, &[hist.value_at_quantile(0.5) as f64]);
        m.add(FAULT_NS_P99, &[hist.value_at_quantile(0.99) as f64]);
        m.add(FAULT_NS_P999, &[hist.value_at_quantile(0.999) as f64]);
    }
    let mean = |k: &Kind| k.fault_mean.into_iter().collect::<Vec<f64>>();
    m.add(ANON_FAULT_NS_MEAN, &mean(&anon));
    m.add(FILE_FAULT_NS_MEAN, &mean(&file_k));
    m.add(COW_FAULT_NS_MEAN, &mean(&cow_k));
    match (&swap_k, head[M_SWAP]) {
        (Some(k), _) => m.add(SWAPIN_FAULT_NS_MEAN, &mean(k)),
        (None, SWAP_PAGEOUT_FAILED) => {
            let unit = format!("pageout-{}", errno_name(head[M_SWAP_ERR] as i32));
            m.add_with_unit(SWAPIN_SKIPPED, &unit, &[1.0]);
        }
        (None, _) => m.add(SWAPIN_SKIPPED, &[1.0]),
    }
    if let Some(a) = file_k.all_mean {
        m.add(FILE_ACCESS_NS_MEAN, &[a]);
    }
    m.add(ANON_FAULTS, &[anon.faults as f64]);
    m.add(FILE_FAULTS, &[file_k.faults as f64]);
    m.add(COW_FAULTS, &[cow_k.faults as f64]);
    if let Some(k) = &swap_k {
        m.add(SWAPIN_FAULTS, &[k.faults as f64]);
    }
    m.add(TIMER_OVERHEAD_NS, &[head[M_TIMER] as f64]);
    m.add(TIME_NS, &[head[M_TIME] as f64]);
    Ok(())
}

/// Writes an N MiB file in `dir` (so that its pages are in the page
/// cache). Errors name the file.
fn page_cache_file(dir: &TempDir, size: u64) -> Result<File, String> {
    let name = "fault-storm.dat";
    let bytes = size << 20;
    make_file(dir.path(), name, bytes, bytes, |_| 0xa5)
        .map_err(|e| format!("{}: {e}", dir.path().join(name).display()))
}

fn swap_active() -> bool {
    std::fs::read_to_string("/proc/swaps").is_ok_and(|t| swaps_listed(&t))
}

/// Measures the live kernel: [`super::run`] after its checks.
pub(super) fn run(
    opts: &KernelBenchOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<Row>, String> {
    let page = page_size();
    let mut rows = Vec::new();
    for &size in &opts.fork_sizes {
        let mut m = Metrics::default();
        for rep in 1..=opts.reps {
            progress(&format!(
                "kernel {FORK_STORM} {size} MiB: rep {rep}/{}",
                opts.reps
            ));
            fork_storm_rep(size, page, &mut m).map_err(|e| fail(FORK_STORM, size, e))?;
        }
        rows.extend(m.rows(FORK_STORM, size));
    }
    let swap = swap_active();
    if !opts.fault_sizes.is_empty() && !swap {
        progress("kernel fault-storm: no swap in /proc/swaps, swap-in faults skipped");
    }
    for &size in &opts.fault_sizes {
        let dir =
            TempDir::new("rmap-kbench").map_err(|e| fail(FAULT_STORM, size, e.to_string()))?;
        let file = page_cache_file(&dir, size).map_err(|e| fail(FAULT_STORM, size, e))?;
        let mut m = Metrics::default();
        for rep in 1..=opts.reps {
            progress(&format!(
                "kernel {FAULT_STORM} {size} MiB: rep {rep}/{}",
                opts.reps
            ));
            fault_storm_rep(size, page, &file, swap, &mut m)
                .map_err(|e| fail(FAULT_STORM, size, e))?;
        }
        rows.extend(m.rows(FAULT_STORM, size));
    }
    Ok(rows)
}
