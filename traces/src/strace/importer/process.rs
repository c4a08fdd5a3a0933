//! The calls that make and replace processes: clone and its family
//! (fork, vfork, clone3), and execve.

use rmap_core::Op;

use super::{Importer, Task};
use crate::strace::ImportError;
use crate::strace::abi::{
    CLONE_FILES, CLONE_THREAD, CLONE_VFORK, CLONE_VM, CLONES, bits, field, string_arg,
};
use crate::strace::lex::Call;
use crate::strace::space::Space;

impl Importer<'_> {
    /// clone, clone3, fork, vfork: a thread, a vfork child sharing the
    /// address space, or a forked address space.
    pub(super) fn sys_clone(&mut self, c: &Call, child: u64) -> Result<(), ImportError> {
        let flags = match c.name.as_str() {
            "fork" => 0,
            "vfork" => CLONE_VM | CLONE_VFORK,
            _ => match field(&c.args, "flags=") {
                Some(f) => bits(f, CLONES)
                    .ok_or_else(|| self.bad(c, f, "clone flags like CLONE_VM|SIGCHLD"))?,
                None => return Err(self.bad(c, &c.args.join(", "), "a `flags=` argument")),
            },
        };
        let child = u32::try_from(child).map_err(|_| self.bad(c, &child.to_string(), "a pid"))?;
        if child == c.pid {
            return Err(self.bad(c, &child.to_string(), "a child pid other than the caller's"));
        }
        let parent = self.task(c.pid);
        if self.tasks.contains_key(&child) {
            self.end_task(child); // its exit was not in the log
        }
        let fds = if flags & CLONE_FILES != 0 {
            parent.fds
        } else {
            let copy = self.fdtables[parent.fds].clone();
            self.fdtables.push(copy);
            self.fdtables.len() - 1
        };
        let tgid = if flags & CLONE_THREAD != 0 {
            parent.tgid
        } else {
            child
        };
        let mm = if flags & CLONE_VM != 0 {
            self.stats.shared_mm += 1;
            self.mms[parent.mm].users += 1;
            parent.mm
        } else {
            let mm = self.new_mm();
            let p = &self.mms[parent.mm];
            let (ptpid, brk) = (p.tpid, p.brk);
            let mut space = p.space.clone();
            space.segs.retain(|_, s| !s.dontfork);
            self.mms[mm].space = space;
            self.mms[mm].brk = brk;
            let tpid = self.mms[mm].tpid;
            self.push(
                Op::Fork {
                    parent: ptpid,
                    child: tpid,
                },
                Some(format!("strace pid {} {} {child}", c.pid, c.name)),
            );
            mm
        };
        self.tasks.insert(child, Task { tgid, mm, fds });
        Ok(())
    }

    /// execve: the other threads end; the process gets a new, empty
    /// address space and keeps its descriptors but the close-on-exec ones.
    pub(super) fn sys_execve(&mut self, c: &Call) -> Result<(), ImportError> {
        let path = c
            .args
            .first()
            .and_then(|a| string_arg(a))
            .unwrap_or_default();
        let t = self.task(c.pid);
        // the other threads of the group end
        let mut others: Vec<u32> = self
            .tasks
            .iter()
            .filter(|&(&p, x)| x.tgid == t.tgid && p != c.pid)
            .map(|(&p, _)| p)
            .collect();
        others.sort_unstable();
        for p in others {
            self.end_task(p);
        }
        let note = Some(format!("strace pid {} execve {path}", c.pid));
        let mm = if self.mms[t.mm].users > 1 {
            // a vfork child leaves the parent's mm for a new, empty one
            self.mms[t.mm].users -= 1;
            let mm = self.empty_mm(None);
            let tpid = self.mms[mm].tpid;
            self.push(Op::Exec { pid: tpid }, note);
            mm
        } else {
            let m = &mut self.mms[t.mm];
            m.space = Space::default();
            m.brk = None;
            let tpid = m.tpid;
            self.push(Op::Exec { pid: tpid }, note);
            t.mm
        };
        // a private copy of the descriptors, without the close-on-exec ones
        let mut table = self.fdtables[t.fds].clone();
        table.fds.retain(|_, (_, cloexec)| !*cloexec);
        self.fdtables.push(table);
        let fds = self.fdtables.len() - 1;
        self.tasks.insert(
            c.pid,
            Task {
                tgid: c.pid,
                mm,
                fds,
            },
        );
        Ok(())
    }
}
