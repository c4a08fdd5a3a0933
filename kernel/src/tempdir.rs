//! Private temporary directories and the files the live kernel maps:
//! the declared files of a live run, the page-cache file of the kernel
//! benchmark's fault-storm.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rmap_core::PAGE_SIZE;

/// A fresh directory under `std::env::temp_dir()`, removed with everything
/// in it when dropped.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    /// Creates `PREFIX-PID-N` (the first `N` not taken) and returns it by
    /// its canonical path, which is how `/proc/PID/maps` shows the files in
    /// it. Errors: the directory cannot be created, or 1000 names in a row
    /// are taken (an `AlreadyExists` error).
    pub(crate) fn new(prefix: &str) -> io::Result<TempDir> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir();
        for _ in 0..1000 {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let p = base.join(format!("{prefix}-{}-{n}", std::process::id()));
            match std::fs::create_dir(&p) {
                Ok(()) => {
                    return match std::fs::canonicalize(&p) {
                        Ok(canon) => Ok(TempDir(canon)),
                        Err(e) => {
                            let _ = std::fs::remove_dir(&p);
                            Err(e)
                        }
                    };
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "no fresh temporary directory name",
        ))
    }

    /// The directory (canonical).
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Creates the file `dir/name` (which must not exist), opened read-write,
/// of `size` bytes: its first `written` bytes are written, each page
/// filled with the byte `page_byte(page index)`, and the rest is a sparse
/// tail. Errors: the file exists or cannot be written.
pub(crate) fn make_file(
    dir: &Path,
    name: &str,
    size: u64,
    written: u64,
    page_byte: impl Fn(u64) -> u8,
) -> io::Result<File> {
    /// Pages per write.
    const BATCH: u64 = 256;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(dir.join(name))?;
    let end = size.min(written);
    let mut buf = vec![0u8; (BATCH * PAGE_SIZE) as usize];
    let mut at = 0u64;
    while at < end {
        let n = (end - at).min(BATCH * PAGE_SIZE);
        for (i, page) in buf[..n as usize].chunks_mut(PAGE_SIZE as usize).enumerate() {
            page.fill(page_byte(at / PAGE_SIZE + i as u64));
        }
        f.write_all(&buf[..n as usize])?;
        at += n;
    }
    f.set_len(size)?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_hold_their_pattern_then_a_sparse_tail() {
        let dir = TempDir::new("rmap-tempdir-test").unwrap();
        let path = dir.path().to_path_buf();
        let f = make_file(&path, "f", 3 * PAGE_SIZE + 100, 2 * PAGE_SIZE + 10, |p| {
            (p % 255) as u8 + 1
        })
        .unwrap();
        drop(f);
        let b = std::fs::read(path.join("f")).unwrap();
        assert_eq!(b.len() as u64, 3 * PAGE_SIZE + 100);
        assert!(b[..PAGE_SIZE as usize].iter().all(|&x| x == 1));
        assert!(
            b[PAGE_SIZE as usize..2 * PAGE_SIZE as usize]
                .iter()
                .all(|&x| x == 2)
        );
        assert!(b[2 * PAGE_SIZE as usize..][..10].iter().all(|&x| x == 3));
        assert!(b[2 * PAGE_SIZE as usize + 10..].iter().all(|&x| x == 0));
        assert!(make_file(&path, "f", 1, 1, |_| 0).is_err());
        drop(dir);
        assert!(!path.exists());
    }
}
