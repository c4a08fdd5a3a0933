//! `rmap-bench report DIR`: plots and REPORT.md again, from the directory's
//! results.csv (and meta.json).

use std::path::Path;

use crate::output;

/// Exit status 2 when the directory's results cannot be read or the
/// report cannot be written.
pub(super) fn report(dir: &Path) -> i32 {
    let res = (|| -> Result<usize, String> {
        let rows = output::read_rows(dir)?;
        let meta = output::read_meta(dir)?;
        output::write_report(dir, &rows, meta.as_ref())?;
        Ok(rows.len())
    })();
    match res {
        Ok(n) => {
            eprintln!(
                "rmap-bench report: {n} rows; wrote {}/REPORT.md and plots/",
                dir.display()
            );
            0
        }
        Err(e) => {
            eprintln!("rmap-bench report: {e}");
            2
        }
    }
}
