//! Trace writing: an imported log as trace text.

use rmap_core::Op;
use rmap_core::trace::write_op;

use super::ImportStats;

/// One line of the trace body: an op with an optional comment.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Line {
    pub(super) op: Op,
    pub(super) note: Option<String>,
}

/// A log turned into a trace.
#[derive(Clone, Debug, PartialEq)]
pub struct Imported {
    /// Base name of the log, for the header.
    pub log_name: String,
    pub policy: String,
    pub config: Op,
    /// `file` declarations, in order of first use.
    pub files: Vec<Op>,
    pub(super) lines: Vec<Line>,
    pub stats: ImportStats,
}

impl Imported {
    /// The operations after the file declarations.
    pub fn ops(&self) -> impl Iterator<Item = &Op> {
        self.lines.iter().map(|l| &l.op)
    }

    /// The trace text: a header comment, `config`, the `file` lines, the ops.
    pub fn to_text(&self) -> String {
        let s = &self.stats;
        let mut t = format!(
            "# imported from strace log {} by rmap-bench import-strace; access policy: {}\n",
            self.log_name, self.policy
        );
        t.push_str(&format!(
            "# {} log lines, {} calls ({} failed, skipped), {} address spaces, {} CLONE_VM clones, {} pieces dropped; process 1 is the (empty) launcher\n",
            s.lines, s.calls, s.failed, s.processes, s.shared_mm, s.dropped
        ));
        t.push_str(&write_op(&self.config));
        t.push('\n');
        for f in &self.files {
            t.push_str(&write_op(f));
            t.push('\n');
        }
        for l in &self.lines {
            t.push_str(&write_op(&l.op));
            if let Some(n) = &l.note {
                t.push_str(" # ");
                t.push_str(n);
            }
            t.push('\n');
        }
        t
    }
}
