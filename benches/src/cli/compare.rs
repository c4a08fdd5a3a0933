//! `rmap-bench compare DIR_A DIR_B [...]`: see [`crate::compare`].

use std::path::PathBuf;

use crate::{compare as cmp, output};

/// The output format of `compare`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CompareFormat {
    /// Tables per scenario (mmtests compare-kernels style).
    #[default]
    Markdown,
    /// Every comparison as a JSON object, with the summary.
    Json,
    /// Every comparison as a CSV row.
    Csv,
}

/// Options of `rmap-bench compare`.
#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// Results directories: the first is the base, each other is compared
    /// with it.
    #[arg(required = true, num_args = 2..)]
    pub dirs: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CompareFormat::Markdown)]
    pub format: CompareFormat,
}

/// Prints the comparison. Exit status 0 (changes are output, not
/// failures), 2 when a directory cannot be read.
pub(super) fn compare(a: &CompareArgs) -> i32 {
    let res = (|| -> Result<String, String> {
        let mut all = Vec::new();
        for d in &a.dirs {
            all.push(output::read_rows(d)?);
        }
        let base = all.remove(0);
        let cells = cmp::compare(&base, &all);
        let names: Vec<String> = a.dirs.iter().map(|d| d.display().to_string()).collect();
        match a.format {
            CompareFormat::Markdown => Ok(cmp::markdown(&cells, &names)),
            CompareFormat::Csv => cmp::csv(&cells),
            CompareFormat::Json => serde_json::to_string_pretty(&serde_json::json!({
                "base": names[0],
                "compared": &names[1..],
                "summary": cmp::summary(&cells),
                "cells": cells,
            }))
            .map(|s| s + "\n")
            .map_err(|e| e.to_string()),
        }
    })();
    match res {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(e) => {
            eprintln!("rmap-bench compare: {e}");
            2
        }
    }
}
