//! mmap and munmap (`do_mmap`, `mmap_region`, `__vm_munmap`).

use crate::addr::{PAGE_SIZE, TASK_SIZE, page_align};
use crate::error::Errno;
use crate::ops::{MapFlags, Prot};
use crate::rmap::ReverseMap;
use crate::system::System;
use crate::vma::{FileId, MmId, Vma, vmf};

use super::VmaMerge;

/// The arguments of one `mmap(2)` call as the model takes them (always
/// with `MAP_FIXED` semantics at `addr`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MmapReq {
    pub addr: u64,
    pub len: u64,
    pub prot: Prot,
    pub flags: MapFlags,
    /// The file, or `None` for anonymous memory.
    pub file: Option<FileId>,
    /// Byte offset in the file.
    pub off: u64,
}

impl MmapReq {
    /// Anonymous memory at `[addr, addr + len)` with `prot` and `flags`.
    pub fn anon(addr: u64, len: u64, prot: Prot, flags: MapFlags) -> MmapReq {
        MmapReq {
            addr,
            len,
            prot,
            flags,
            file: None,
            off: 0,
        }
    }
}

impl<R: ReverseMap> System<R> {
    /// mmap with MAP_FIXED semantics at `req.addr`. Errors as Linux 6.18:
    /// EINVAL for a zero length or an unaligned address or offset, ENOMEM
    /// for a range past `TASK_SIZE` or an mm at `max_map_count`, EOVERFLOW
    /// when the file offset range wraps.
    pub fn sys_mmap(&mut self, mm: MmId, req: MmapReq) -> Result<(), Errno> {
        let MmapReq {
            addr,
            len,
            prot,
            flags,
            file,
            off,
        } = req;
        // The checks in Linux's order (sys_mmap, do_mmap,
        // __get_unmapped_area, file_mmap_ok).
        if off % PAGE_SIZE != 0 || len == 0 {
            return Err(Errno::EINVAL);
        }
        let len = page_align(len).filter(|&l| l != 0).ok_or(Errno::ENOMEM)?;
        let pgoff = off / PAGE_SIZE;
        if pgoff.checked_add(len / PAGE_SIZE).is_none() {
            return Err(Errno::EOVERFLOW);
        }
        if self.core.mm(mm).vmas.len() as u64 > self.core.cfg.max_map_count {
            return Err(Errno::ENOMEM);
        }
        if len > TASK_SIZE || addr > TASK_SIZE - len {
            return Err(Errno::ENOMEM);
        }
        if addr % PAGE_SIZE != 0 {
            return Err(Errno::EINVAL);
        }
        // A regular file's mapping must end below MAX_LFS_FILESIZE (2^63 - 1).
        const MAX_LFS: u64 = i64::MAX as u64;
        if file.is_some() && (len > MAX_LFS || pgoff > (MAX_LFS - len) / PAGE_SIZE) {
            return Err(Errno::EOVERFLOW);
        }
        let end = addr + len;
        let mut vmflags = prot.0 as u32 | vmf::MAYREAD | vmf::MAYWRITE | vmf::MAYEXEC;
        if flags.shared {
            vmflags |= vmf::SHARED | vmf::MAYSHARE;
        }
        if flags.noreserve {
            vmflags |= vmf::NORESERVE;
        }
        if !flags.shared && prot.write() && !flags.noreserve {
            vmflags |= vmf::ACCOUNT;
        }
        if flags.many_prots {
            // the 2006 patch made only shared mappings many-prots
            if self.core.cfg.many_prots_patch && !flags.shared {
                return Err(Errno::EINVAL);
            }
            vmflags |= vmf::MANY_PROTS;
        }
        self.do_munmap(mm, addr, end)?;
        let (file, pgoff) = match file {
            Some(f) => (Some(f), pgoff),
            None if flags.shared => (Some(self.new_file(String::new(), len, true)), 0),
            None => (None, addr / PAGE_SIZE),
        };
        let mut vmg = VmaMerge::new_range(mm, (addr, end), vmflags, file, pgoff);
        let merged = self.merge_new(&mut vmg);
        if let Some(v) = merged {
            // its neighbours were just considered for merging
            self.core.vmas[v].merge_skipped = false;
        } else {
            let id = self.insert_vma_raw(Vma {
                mm,
                start: addr,
                end,
                pgoff,
                flags: vmflags,
                file,
                anon: 0,
                merge_skipped: false,
                obj_shared: false,
            });
            self.rmap.vma_link(&mut self.core.ctx(), id);
        }
        Ok(())
    }

    /// munmap. EINVAL for an unaligned address, a zero length, or a range
    /// past `TASK_SIZE`; unmapping nothing succeeds.
    pub fn sys_munmap(&mut self, mm: MmId, addr: u64, len: u64) -> Result<(), Errno> {
        if addr % PAGE_SIZE != 0 || len == 0 {
            return Err(Errno::EINVAL);
        }
        let len = page_align(len).ok_or(Errno::EINVAL)?;
        if addr > TASK_SIZE || len > TASK_SIZE - addr {
            return Err(Errno::EINVAL);
        }
        self.do_munmap(mm, addr, addr + len)
    }
}
