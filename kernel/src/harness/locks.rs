//! Keeping object measurements apart from live-run ops, within this
//! process and across `rmap-bench` processes: a measurement reads a global
//! slab count twice around a kill, and nothing may fork or kill trace
//! processes in between.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::{Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Serialises object counting against the live runs of this process:
/// every op of a live run holds it for reading, each measurement
/// (reading, kill, reading) for writing. [`Cross`] does the same between
/// processes.
static LIVE_LOCK: RwLock<()> = RwLock::new(());

/// The cross-process side of [`LIVE_LOCK`]: an `flock` on
/// [`LOCK_FILE`] in the temporary directory, shared while any thread of
/// this process runs a live-run op, exclusive during a measurement. It
/// keeps concurrent `rmap-bench` processes (several test binaries, a
/// `fidelity` loop next to a `kernel-run`) from forking and killing
/// trace processes between the two readings of a measurement. Without
/// the file (no permission) the runs go on unlocked.
struct Cross {
    file: Option<File>,
    /// Threads of this process in an op; the first takes the shared
    /// lock, the last drops it.
    readers: Mutex<usize>,
}

const LOCK_FILE: &str = "rmap-bench-live.lock";

fn cross() -> &'static Cross {
    static CROSS: OnceLock<Cross> = OnceLock::new();
    CROSS.get_or_init(|| {
        use std::os::unix::fs::OpenOptionsExt;
        let path = std::env::temp_dir().join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o666)
            .open(&path)
            .or_else(|_| File::open(&path))
            .ok();
        Cross {
            file,
            readers: Mutex::new(0),
        }
    })
}

fn flock(how: libc::c_int) {
    if let Some(f) = &cross().file {
        // SAFETY: flock on our own descriptor; retried on EINTR.
        while unsafe { libc::flock(f.as_raw_fd(), how) } != 0
            && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
        {}
    }
}

/// Held while a live-run op runs.
pub(super) struct OpGuard {
    _g: RwLockReadGuard<'static, ()>,
}

impl Drop for OpGuard {
    fn drop(&mut self) {
        let mut n = cross().readers.lock().unwrap_or_else(|e| e.into_inner());
        *n -= 1;
        if *n == 0 {
            flock(libc::LOCK_UN);
        }
    }
}

/// Takes the locks for one live-run op (shared).
pub(super) fn op_guard() -> OpGuard {
    let g = LIVE_LOCK.read().unwrap_or_else(|e| e.into_inner());
    let mut n = cross().readers.lock().unwrap_or_else(|e| e.into_inner());
    if *n == 0 {
        flock(libc::LOCK_SH);
    }
    *n += 1;
    OpGuard { _g: g }
}

/// Held during one measurement: no live-run op of any process runs.
pub(super) struct MeasureGuard {
    _g: RwLockWriteGuard<'static, ()>,
}

impl Drop for MeasureGuard {
    fn drop(&mut self) {
        flock(libc::LOCK_UN);
    }
}

/// Takes the locks for one measurement (exclusive).
pub(super) fn measure_guard() -> MeasureGuard {
    let g = LIVE_LOCK.write().unwrap_or_else(|e| e.into_inner());
    // no thread of this process holds the shared lock now
    flock(libc::LOCK_EX);
    MeasureGuard { _g: g }
}
