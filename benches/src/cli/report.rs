//! `rmap-bench report DIR...`: plots, REPORT.md and report.html again,
//! from one directory's results.csv (and meta.json), or the shards of one
//! sweep merged into a new directory.

use std::path::{Path, PathBuf};

use crate::output;

/// Exit status 2 when a directory's results cannot be read, shards
/// overlap, or the report cannot be written.
pub(super) fn report(dirs: &[PathBuf], out: Option<&Path>) -> i32 {
    let res = (|| -> Result<(usize, PathBuf), String> {
        match (dirs, out) {
            ([dir], None) => {
                let rows = output::read_rows(dir).map_err(|e| rerun_hint(dir, e))?;
                let meta = output::read_meta(dir).map_err(|e| rerun_hint(dir, e))?;
                output::write_report(dir, &rows, meta.as_ref())?;
                Ok((rows.len(), dir.clone()))
            }
            (_, Some(out)) => {
                if dirs.iter().any(|d| d == out) {
                    return Err("--out must be a new directory, not one of the inputs".into());
                }
                if output::holds_complete_run(out)? {
                    return Err(format!(
                        "{} holds a complete run; merge into another directory",
                        out.display()
                    ));
                }
                let (rows, meta) = output::read_merged(dirs)?;
                let meta = meta.unwrap_or_else(|| output::Meta::now(serde_json::json!({})));
                output::write_results(out, &rows, &meta)?;
                Ok((rows.len(), out.to_path_buf()))
            }
            (_, None) => {
                Err("several directories are merged: name the result with --out DIR".into())
            }
        }
    })();
    match res {
        Ok((n, dir)) => {
            eprintln!(
                "rmap-bench report: {n} rows; wrote {}/REPORT.md, report.html and plots/",
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

/// A read error, with what to do about it.
fn rerun_hint(dir: &Path, e: String) -> String {
    format!(
        "{e}\n  {} cannot be read as results of this version; rerun `rmap-bench run --out {}` to make them again",
        dir.display(),
        dir.display()
    )
}
