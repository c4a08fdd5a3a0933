//! Results on disk: `results.csv`, `meta.json`, plots, REPORT.md and
//! report.html, and writing a whole results directory (or one file in it)
//! so that an interrupted run leaves the old results or the new ones, never
//! half of either; where a run may write (a new `runs/DATE-TIME` directory,
//! whether a directory holds a complete run); reading several directories
//! (the shards of one sweep) as one.
//!
//! A results directory `DIR` is built as the sibling `DIR.tmp-PID` and then
//! renamed into place (the old `DIR`, if any, is first renamed aside to
//! `DIR.old-PID` and removed afterwards). Single files are written as
//! `NAME.tmp-PID` in the same directory and renamed over `NAME`.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rmap_metrics::Row;
use serde::{Deserialize, Serialize};

use crate::{plots, report};

/// What a results directory's `meta.json` records.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Meta {
    /// `git describe --always --dirty` of the tree that ran, or "unknown".
    pub revision: String,
    /// UTC date and time of the run (RFC 3339).
    pub date: String,
    pub machine: Machine,
    /// `rustc --version` at run time, or "unknown".
    pub rustc: String,
    /// The options of the run (scenario forms, backends, sizes, reps, mode).
    pub options: serde_json::Value,
    /// Wall time of the whole run in seconds.
    pub wall_s: f64,
}

/// The machine a run ran on.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Machine {
    pub os: String,
    pub arch: String,
    pub kernel: String,
    pub cpu: String,
    pub cpus: usize,
    pub mem_bytes: u64,
}

fn command_line(cmd: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

impl Machine {
    /// Read what this machine is.
    pub fn this() -> Machine {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown".to_string(), |(_, v)| v.trim().to_string());
        let mem_bytes = fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .map_or(0, |kb| kb * 1024);
        Machine {
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
            kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
                .map_or_else(|_| "unknown".to_string(), |s| s.trim().to_string()),
            cpu,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            mem_bytes,
        }
    }
}

impl Meta {
    /// Meta for a run that started now with `options`.
    pub fn now(options: serde_json::Value) -> Meta {
        Meta {
            revision: command_line("git", &["describe", "--always", "--dirty"])
                .unwrap_or_else(|| "unknown".to_string()),
            date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            machine: Machine::this(),
            rustc: command_line("rustc", &["--version"]).unwrap_or_else(|| "unknown".to_string()),
            options,
            wall_s: 0.0,
        }
    }
}

/// The CSV text of `rows` (header first).
pub fn csv_text(rows: &[Row]) -> Result<String, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r).map_err(|e| format!("csv: {e}"))?;
    }
    let bytes = w.into_inner().map_err(|e| format!("csv: {e}"))?;
    String::from_utf8(bytes).map_err(|e| format!("csv: {e}"))
}

/// Parse `results.csv` text; errors name the file and line.
pub fn parse_csv(text: &str, name: &str) -> Result<Vec<Row>, String> {
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for r in rd.deserialize::<Row>() {
        let row = r.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            format!("{name}:{line}: {e}")
        })?;
        rows.push(row);
    }
    Ok(rows)
}

/// Read `DIR/results.csv`.
pub fn read_rows(dir: &Path) -> Result<Vec<Row>, String> {
    let p = dir.join("results.csv");
    let text = fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    parse_csv(&text, &p.display().to_string())
}

/// Read `DIR/meta.json`, if there is one.
pub fn read_meta(dir: &Path) -> Result<Option<Meta>, String> {
    let p = dir.join("meta.json");
    match fs::read_to_string(&p) {
        Ok(t) => serde_json::from_str(&t)
            .map(Some)
            .map_err(|e| format!("{}: {e}", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", p.display())),
    }
}

fn sibling(path: &Path, tag: &str) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "results".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!("{name}.{tag}-{}", std::process::id()))
}

/// Write `contents` to `path` through a temporary file in the same
/// directory, renamed into place.
pub fn write_file_atomic(path: &Path, contents: &[u8]) -> Result<(), String> {
    let tmp = sibling(path, "tmp");
    let res = (|| -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    res.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!("writing {}: {e}", path.display())
    })
}

/// Build a directory with `fill` in a temporary sibling of `dir`, then put
/// it in place of `dir`. On any error the temporary is removed and `dir`
/// is left as it was.
pub fn write_dir_atomic(
    dir: &Path,
    fill: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<(), String> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    let tmp = sibling(dir, "tmp");
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    if let Err(e) = fill(&tmp) {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let old = sibling(dir, "old");
    let had_old = dir.exists();
    if had_old {
        fs::rename(dir, &old).map_err(|e| {
            let _ = fs::remove_dir_all(&tmp);
            format!("moving the old {} aside: {e}", dir.display())
        })?;
    }
    if let Err(e) = fs::rename(&tmp, dir) {
        if had_old {
            let _ = fs::rename(&old, dir);
        }
        let _ = fs::remove_dir_all(&tmp);
        return Err(format!("renaming into {}: {e}", dir.display()));
    }
    if had_old {
        let _ = fs::remove_dir_all(&old);
    }
    Ok(())
}

/// A new, empty-named directory path `runs/YYYYMMDD-HHMMSS` (with `-2`,
/// `-3`, ... when that exists) for a run that must not replace another.
pub fn new_run_dir(runs: &Path) -> Result<PathBuf, String> {
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string();
    (1..1000)
        .map(|i| {
            if i == 1 {
                runs.join(&stamp)
            } else {
                runs.join(format!("{stamp}-{i}"))
            }
        })
        .find(|p| !p.exists())
        .ok_or_else(|| format!("{}: no free name for {stamp}", runs.display()))
}

/// Whether `dir` holds a complete full run: results whose `meta.json`
/// says `"complete": true`, or results from before that key whose mode was
/// `full` (or without a `meta.json`: unknown results are protected).
pub fn holds_complete_run(dir: &Path) -> Result<bool, String> {
    if !dir.join("results.csv").exists() {
        return Ok(false);
    }
    let Some(meta) = read_meta(dir)? else {
        return Ok(true);
    };
    Ok(match meta.options.get("complete") {
        Some(v) => v.as_bool().unwrap_or(true),
        None => meta.options.get("mode").and_then(|m| m.as_str()) != Some("quick"),
    })
}

/// The rows of several result directories (the shards of one sweep) as
/// one table, and the first directory's meta with the wall times added.
/// Errors: an unreadable directory, or a row that two directories both
/// have (shards are disjoint; the same directory twice is a mistake).
pub fn read_merged(dirs: &[PathBuf]) -> Result<(Vec<Row>, Option<Meta>), String> {
    let mut rows: Vec<Row> = Vec::new();
    let mut seen = std::collections::BTreeMap::new();
    let mut meta: Option<Meta> = None;
    for d in dirs {
        for r in read_rows(d)? {
            let k = (
                r.scenario.clone(),
                r.size,
                r.backend.clone(),
                r.metric.clone(),
            );
            if let Some(first) = seen.insert(k, d.clone()) {
                return Err(format!(
                    "{} and {} both have {} size {} {} {}: merge disjoint shards only",
                    first.display(),
                    d.display(),
                    r.scenario,
                    r.size,
                    r.backend,
                    r.metric
                ));
            }
            rows.push(r);
        }
        if let Some(m) = read_meta(d)? {
            match &mut meta {
                None => meta = Some(m),
                Some(acc) => acc.wall_s += m.wall_s,
            }
        }
    }
    if dirs.len() > 1
        && let Some(m) = &mut meta
    {
        m.options["merged_from"] = serde_json::json!(
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
        );
        m.options["complete"] = serde_json::json!(false);
    }
    Ok((rows, meta))
}

/// Writes plots, REPORT.md and report.html for `rows` into `dir` (which exists). Plots
/// go to `dir/plots`, replaced as a whole. Errors name the file that could
/// not be written or the plot that could not be drawn.
pub fn write_report(dir: &Path, rows: &[Row], meta: Option<&Meta>) -> Result<(), String> {
    let mut made = BTreeSet::new();
    let list = report::plot_list(rows);
    write_dir_atomic(&dir.join("plots"), |p| {
        for (form, metric) in &list {
            if let Some(svg) = plots::plot(rows, form, metric.name)? {
                write_file_atomic(&p.join(plots::file_name(form, metric.name)), svg.as_bytes())?;
                made.insert((form.clone(), metric.name.to_string()));
            }
        }
        Ok(())
    })?;
    let md = report::render(rows, meta, &made);
    write_file_atomic(&dir.join("REPORT.md"), md.as_bytes())?;
    let html = report::html::page(&md, &dir.join("plots"))?;
    write_file_atomic(&dir.join("report.html"), html.as_bytes())
}

/// Writes a whole results directory: results.csv, meta.json, plots,
/// REPORT.md, report.html; `dir` is replaced only once all of it is
/// written.
pub fn write_results(dir: &Path, rows: &[Row], meta: &Meta) -> Result<(), String> {
    write_dir_atomic(dir, |tmp| {
        write_file_atomic(&tmp.join("results.csv"), csv_text(rows)?.as_bytes())?;
        let json = serde_json::to_string_pretty(meta).map_err(|e| format!("meta.json: {e}"))?;
        write_file_atomic(&tmp.join("meta.json"), (json + "\n").as_bytes())?;
        write_report(tmp, rows, Some(meta))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(metric: rmap_metrics::Metric, v: f64) -> Row {
        Row {
            scenario: "heap-churn/merge=none".into(),
            size: 64,
            size_unit: "allocations".into(),
            backend: "anonvma:linux".into(),
            metric: metric.name.into(),
            value: v,
            unit: "VMAs".into(),
            min: v,
            max: v,
            reps: 1,
            ci_lo: None,
            ci_hi: None,
            ci_level: None,
            samples: String::new(),
        }
    }

    #[test]
    fn old_csv_without_intervals_still_reads() {
        let old = "scenario,size,size_unit,backend,metric,value,unit,min,max,reps\n\
            s,1,u,scan:default,time_ns,5,ns,4,6,3\n";
        let rows = parse_csv(old, "old.csv").unwrap();
        assert_eq!(rows[0].ci(), None);
        assert_eq!(rows[0].sample_values().unwrap(), Vec::<f64>::new());
        let mut timed = rows[0].clone();
        timed.ci_lo = Some(4.0);
        timed.ci_hi = Some(6.0);
        timed.samples = "4;5;6".into();
        let text = csv_text(&[timed.clone()]).unwrap();
        assert_eq!(parse_csv(&text, "new.csv").unwrap(), vec![timed]);
    }

    #[test]
    fn csv_round_trips_and_reports_bad_lines() {
        let rows = vec![
            row(rmap_metrics::VMAS_END, 12.0),
            row(rmap_metrics::VMAS_PEAK, 0.125),
        ];
        let text = csv_text(&rows).unwrap();
        assert!(
            text.starts_with("scenario,size,size_unit,backend,metric,value,unit,min,max,reps,ci_lo,ci_hi,ci_level,samples\n")
        );
        assert_eq!(parse_csv(&text, "r.csv").unwrap(), rows);
        let bad = text.replace("0.125", "zero");
        let e = parse_csv(&bad, "r.csv").unwrap_err();
        assert!(e.starts_with("r.csv:3:"), "{e}");
    }

    #[test]
    fn directories_are_replaced_whole_or_not_at_all() {
        let base = std::env::temp_dir().join(format!("rmap-out-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let dir = base.join("res");
        write_dir_atomic(&dir, |d| write_file_atomic(&d.join("a"), b"one")).unwrap();
        assert_eq!(fs::read(dir.join("a")).unwrap(), b"one");
        // A failing fill leaves the old directory as it was, and no temporary.
        let e = write_dir_atomic(&dir, |d| {
            fs::write(d.join("a"), "half").unwrap();
            Err("interrupted".to_string())
        })
        .unwrap_err();
        assert_eq!(e, "interrupted");
        assert_eq!(fs::read(dir.join("a")).unwrap(), b"one");
        assert_eq!(fs::read_dir(&base).unwrap().count(), 1);
        write_dir_atomic(&dir, |d| write_file_atomic(&d.join("b"), b"two")).unwrap();
        assert!(!dir.join("a").exists());
        assert_eq!(fs::read(dir.join("b")).unwrap(), b"two");
        assert_eq!(fs::read_dir(&base).unwrap().count(), 1);
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn meta_describes_the_machine() {
        let m = Meta::now(serde_json::json!({"quick": true}));
        assert!(m.machine.cpus >= 1);
        assert!(m.date.ends_with('Z') && m.date.len() == 20, "{}", m.date);
        let back: Meta = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back, m);
    }
}
