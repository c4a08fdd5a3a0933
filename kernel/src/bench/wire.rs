//! What storm processes send back: native-endian `u64` words, then `u32`
//! samples, over a pipe; and the status word of a failure.

use crate::errno_name;

// Record tags, the first word of every record.
pub(super) const TAG_FORK: u64 = 0x6b62_5f66_6f72_6b31; // "kb_fork1"
pub(super) const TAG_MAIN: u64 = 0x6b62_5f6d_6169_6e31; // "kb_main1"
pub(super) const TAG_COW: u64 = 0x6b62_5f63_6f77_5f31; // "kb_cow_1"

/// Children of one fork-storm.
pub(super) const CHILDREN: usize = 4;

// fork-storm record, storm process -> measuring process
pub(super) const F_FORK_NS: usize = 2;
pub(super) const F_PARENT_RES: usize = F_FORK_NS + CHILDREN;
pub(super) const F_EXIT_NS: usize = F_PARENT_RES + CHILDREN;
pub(super) const F_CHILD_RES: usize = F_EXIT_NS + CHILDREN;
pub(super) const F_START: usize = F_CHILD_RES + CHILDREN;
pub(super) const F_OWN_RES: usize = F_START + 1;
pub(super) const F_EXIT_AT: usize = F_OWN_RES + 1;
pub(super) const FORK_WORDS: usize = F_EXIT_AT + 1;

// fault-storm records: [tag, status, pages, ...]; COW has the first
// three only, then `pages` samples; MAIN has these, then 3 * `pages`
// samples (anonymous, file, swap-in).
pub(super) const M_TIMER: usize = 3;
pub(super) const M_TIME: usize = 4;
pub(super) const M_SWAP: usize = 5;
pub(super) const M_SWAP_ERR: usize = 6;
pub(super) const MAIN_WORDS: usize = 7;
pub(super) const HEAD_WORDS: usize = 3;

/// `M_SWAP` values.
pub(super) const SWAP_SKIPPED: u64 = 0;
pub(super) const SWAP_DONE: u64 = 1;
pub(super) const SWAP_PAGEOUT_FAILED: u64 = 2;

/// A sample: nanoseconds in the low 31 bits, [`FAULTED`] on top.
pub(super) const FAULTED: u32 = 1 << 31;
pub(super) const NS_MAX: u32 = FAULTED - 1;

// Failure stages, in the high half of a status word (errno below).
pub(super) const ST_MMAP: u64 = 1;
pub(super) const ST_PIPE: u64 = 2;
pub(super) const ST_FORK: u64 = 3;
pub(super) const ST_WAIT: u64 = 4;
pub(super) const ST_CHILD: u64 = 5;
pub(super) const ST_READ: u64 = 6;
pub(super) const ST_STATM: u64 = 7;

/// The status word of a failure at `stage` with `errno`.
pub(super) fn status(stage: u64, errno: i32) -> u64 {
    (stage << 32) | u64::from(errno as u32)
}

/// What a status word says, for the error message.
pub(super) fn describe(st: u64) -> String {
    let stage = st >> 32;
    let low = (st & 0xffff_ffff) as u32 as i32;
    match stage {
        ST_MMAP => format!("mmap failed: {}", errno_name(low)),
        ST_PIPE => format!("pipe failed: {}", errno_name(low)),
        ST_FORK => format!("fork failed: {}", errno_name(low)),
        ST_WAIT => format!("waitpid failed: {}", errno_name(low)),
        ST_CHILD => format!("a forked child failed (wait status {low:#x})"),
        ST_READ => "a forked child sent no result".to_string(),
        ST_STATM => "cannot read /proc/self/statm".to_string(),
        _ => format!("failed (status {st:#x})"),
    }
}

/// The bytes of `w`, as they go down the pipe.
pub(super) fn words_bytes(w: &[u64]) -> &[u8] {
    // SAFETY: u64 has no padding; the bytes live as long as w.
    unsafe { std::slice::from_raw_parts(w.as_ptr().cast(), std::mem::size_of_val(w)) }
}

/// The bytes of `s`, as they go down the pipe.
pub(super) fn samples_bytes(s: &[u32]) -> &[u8] {
    // SAFETY: as above.
    unsafe { std::slice::from_raw_parts(s.as_ptr().cast(), std::mem::size_of_val(s)) }
}
