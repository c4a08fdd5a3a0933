//! Descriptor calls: what each descriptor refers to (so that a file mmap
//! names its file), close-on-exec, and the file sizes that stat-like calls
//! and ftruncate show.

use super::Importer;
use crate::strace::ImportError;
use crate::strace::abi::{O_CLOEXEC, OPENS, bits, fd_arg, field, num, string_arg};
use crate::strace::lex::Call;

/// `AT_FDCWD` (`include/uapi/linux/fcntl.h`), as [`fd_arg`] reads it.
const AT_FDCWD: i64 = -100;

/// What a stat-like call describes.
enum StatOf {
    Fd(i64),
    Path(String),
}

impl Importer<'_> {
    /// A call that is not about memory or processes: descriptors and file
    /// sizes, or nothing the import keeps. Errors: arguments that are not
    /// what the call takes.
    pub(super) fn fd_call(&mut self, c: &Call, ret: u64) -> Result<(), ImportError> {
        let name = c.name.as_str();
        let ret_fd = i64::try_from(ret).unwrap_or(-1);
        match name {
            "open" | "openat" | "openat2" | "creat" | "memfd_create" => {
                self.open_call(c, ret_fd)?
            }
            "dup" | "dup2" | "dup3" => {
                let old = self.arg_fd(c, 0)?;
                let path = self.fd_path(c, old);
                let cloexec =
                    name == "dup3" && c.args.get(2).is_some_and(|f| f.contains("O_CLOEXEC"));
                self.set_fd(c, ret_fd, path, cloexec);
            }
            "fcntl" | "fcntl64" => self.fcntl_call(c, ret_fd)?,
            "close" => {
                let fd = self.arg_fd(c, 0)?;
                let t = self.task(c.pid);
                self.fdtables[t.fds].fds.remove(&fd);
            }
            "close_range" => self.close_range_call(c)?,
            "pipe" | "pipe2" | "socketpair" => {
                let a = c.args.iter().find(|a| a.starts_with('['));
                if let Some(a) = a {
                    let t = self.task(c.pid);
                    for fd in a.trim_matches(['[', ']']).split(',').filter_map(fd_arg) {
                        self.fdtables[t.fds].fds.insert(fd, (None, false));
                    }
                }
            }
            "socket" | "accept" | "accept4" | "eventfd" | "eventfd2" | "epoll_create"
            | "epoll_create1" | "timerfd_create" | "signalfd" | "signalfd4" | "inotify_init"
            | "inotify_init1" | "userfaultfd" | "pidfd_open" | "perf_event_open"
            | "fanotify_init" | "memfd_secret" => self.set_fd(c, ret_fd, None, false),
            "fstat" | "fstat64" | "newfstatat" | "fstatat64" | "statx" | "stat" | "lstat"
            | "stat64" | "lstat64" => self.stat_call(c)?,
            "ftruncate" | "ftruncate64" => {
                let fd = self.arg_fd(c, 0)?;
                let len = self.arg_num(c, 1, "a length")?;
                let t = self.task(c.pid);
                if let Some((Some(p), _)) = self.fdtables[t.fds].fds.get(&fd).cloned() {
                    self.note_size(&p, len);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Descriptor `fd` of the calling task now refers to `path` (`None`:
    /// not a file).
    fn set_fd(&mut self, c: &Call, fd: i64, path: Option<String>, cloexec: bool) {
        let t = self.task(c.pid);
        self.fdtables[t.fds].fds.insert(fd, (path, cloexec));
    }

    /// The path descriptor `fd` of the calling task refers to, if known.
    fn fd_path(&mut self, c: &Call, fd: i64) -> Option<String> {
        let t = self.task(c.pid);
        self.fdtables[t.fds]
            .fds
            .get(&fd)
            .and_then(|(p, _)| p.clone())
    }

    /// `open`, `openat`, `openat2`, `creat`, `memfd_create`.
    fn open_call(&mut self, c: &Call, ret_fd: i64) -> Result<(), ImportError> {
        let name = c.name.as_str();
        let pi = usize::from(name.starts_with("openat"));
        let a = self.arg(c, pi, "a path")?;
        let path = string_arg(a)
            .ok_or_else(|| self.bad(c, a, &format!("argument {} of {name}: a path", pi + 1)))?;
        let path = match &c.ret_path {
            _ if name == "memfd_create" => format!("memfd:{path}"),
            // `strace -y` shows the file the descriptor opened, with the
            // path resolved (a relative path, `AT_FDCWD</dir>`, symlinks)
            Some(resolved) if resolved.starts_with('/') => resolved.clone(),
            _ => path,
        };
        let cloexec = match c.args.get(pi + 1) {
            Some(f) if name != "openat2" => {
                bits(f, OPENS).is_some_and(|b| b & O_CLOEXEC != 0) || f.contains("CLOEXEC")
            }
            Some(f) => f.contains("O_CLOEXEC"),
            None => false,
        };
        self.set_fd(c, ret_fd, Some(path), cloexec);
        Ok(())
    }

    /// `fcntl`: `F_DUPFD*` and `F_SETFD`.
    fn fcntl_call(&mut self, c: &Call, ret_fd: i64) -> Result<(), ImportError> {
        let fd = self.arg_fd(c, 0)?;
        let cmd = self.arg(c, 1, "a command")?.to_string();
        let t = self.task(c.pid);
        if cmd.starts_with("F_DUPFD") {
            let path = self.fd_path(c, fd);
            self.set_fd(c, ret_fd, path, cmd == "F_DUPFD_CLOEXEC");
        } else if cmd == "F_SETFD" {
            let on = c
                .args
                .get(2)
                .is_some_and(|f| f.contains("FD_CLOEXEC") || f.trim() == "1");
            if let Some(e) = self.fdtables[t.fds].fds.get_mut(&fd) {
                e.1 = on;
            }
        }
        Ok(())
    }

    /// `close_range`, with or without `CLOSE_RANGE_CLOEXEC`.
    fn close_range_call(&mut self, c: &Call) -> Result<(), ImportError> {
        let lo = self.arg_fd(c, 0)?;
        let hi = self.arg_num(c, 1, "a descriptor")?;
        let hi = i64::try_from(hi).unwrap_or(i64::MAX);
        let cloexec = c.args.get(2).is_some_and(|f| f.contains("CLOEXEC"));
        let t = self.task(c.pid);
        let fds = &mut self.fdtables[t.fds].fds;
        if cloexec {
            for (fd, e) in fds.iter_mut() {
                if (lo..=hi).contains(fd) {
                    e.1 = true;
                }
            }
        } else {
            fds.retain(|fd, _| !(lo..=hi).contains(fd));
        }
        Ok(())
    }

    /// The stat family: the size it shows, by path or descriptor.
    fn stat_call(&mut self, c: &Call) -> Result<(), ImportError> {
        let name = c.name.as_str();
        match name {
            "fstat" | "fstat64" => {
                let fd = self.arg_fd(c, 0)?;
                self.stat_result(c, StatOf::Fd(fd), "st_size=");
            }
            "newfstatat" | "fstatat64" | "statx" => {
                let dirfd = self.arg_fd(c, 0)?;
                let path = self.arg(c, 1, "a path").map(string_arg)?;
                let key = if name == "statx" {
                    "stx_size="
                } else {
                    "st_size="
                };
                match path {
                    Some(p) if p.is_empty() => self.stat_result(c, StatOf::Fd(dirfd), key),
                    Some(p) if p.starts_with('/') || dirfd == AT_FDCWD => {
                        self.stat_result(c, StatOf::Path(p), key)
                    }
                    _ => {}
                }
            }
            _ => {
                // stat, lstat, stat64, lstat64
                if let Some(p) = c.args.first().and_then(|a| string_arg(a)) {
                    self.stat_result(c, StatOf::Path(p), "st_size=");
                }
            }
        }
        Ok(())
    }

    /// Notes the size (`key=`) that a stat-like call showed for `of`.
    fn stat_result(&mut self, c: &Call, of: StatOf, key: &str) {
        let Some(size) = field(&c.args, key).and_then(num) else {
            return;
        };
        let path = match of {
            StatOf::Path(p) => Some(p),
            StatOf::Fd(fd) => self.fd_path(c, fd),
        };
        if let Some(p) = path {
            self.note_size(&p, size);
        }
    }
}
