//! The suite commands: `run`, `report`, `choose`, `trace`, `scenarios`,
//! and the files a run writes (results.csv, meta.json, plots/, REPORT.md).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use rmap_core::Op;

use crate::backends;
use crate::output::{self, Meta};
use crate::plots;
use crate::report;
use crate::results::Row;
use crate::runner::{self, SuiteOptions};
use crate::scenario::{self, Form};

/// Expand a backend list: `NAME` means every preset of NAME, `NAME:PRESET`
/// one preset; empty means every preset of every backend.
pub fn expand_backends(list: &[String]) -> Result<Vec<String>, String> {
    if list.is_empty() {
        return Ok(backends::all_specs());
    }
    let mut out: Vec<String> = Vec::new();
    for spec in list {
        let spec = spec.trim();
        let add: Vec<String> = if spec.contains(':') {
            let (e, p) = backends::resolve(spec)?;
            vec![format!("{}:{p}", e.name)]
        } else {
            let (e, _) = backends::resolve(spec)?;
            (e.presets)()
                .iter()
                .map(|p| format!("{}:{p}", e.name))
                .collect()
        };
        for a in add {
            if !out.contains(&a) {
                out.push(a);
            }
        }
    }
    Ok(out)
}

/// Resolve scenario names (`BASE` or `BASE/VARIANT`); empty means all.
pub fn expand_forms(names: &[String]) -> Result<Vec<Form>, String> {
    if names.is_empty() {
        return Ok(scenario::all_forms());
    }
    let mut out: Vec<Form> = Vec::new();
    for n in names {
        for f in scenario::resolve(n)? {
            if !out.iter().any(|o| o.full_name() == f.full_name()) {
                out.push(f);
            }
        }
    }
    Ok(out)
}

fn progress(total: u64) -> ProgressBar {
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} runs, eta {eta} {wide_msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb
}

/// Write plots and REPORT.md for `rows` into `dir` (which exists). Plots go
/// to `dir/plots`, replaced as a whole.
pub fn write_report(dir: &Path, rows: &[Row], meta: Option<&Meta>) -> Result<(), String> {
    let mut made = BTreeSet::new();
    let list = report::plot_list(rows);
    output::write_dir_atomic(&dir.join("plots"), |p| {
        for (form, metric) in &list {
            if let Some(svg) = plots::plot(rows, form, metric)? {
                output::write_file_atomic(&p.join(plots::file_name(form, metric)), svg.as_bytes())?;
                made.insert((form.clone(), metric.clone()));
            }
        }
        Ok(())
    })?;
    let md = report::render(rows, meta, &made);
    output::write_file_atomic(&dir.join("REPORT.md"), md.as_bytes())
}

/// Write a whole results directory: results.csv, meta.json, plots, report.
pub fn write_results(dir: &Path, rows: &[Row], meta: &Meta) -> Result<(), String> {
    output::write_dir_atomic(dir, |tmp| {
        output::write_file_atomic(&tmp.join("results.csv"), output::csv_text(rows)?.as_bytes())?;
        let json = serde_json::to_string_pretty(meta).map_err(|e| format!("meta.json: {e}"))?;
        output::write_file_atomic(&tmp.join("meta.json"), (json + "\n").as_bytes())?;
        write_report(tmp, rows, Some(meta))
    })
}

/// Options of `rmap-bench run`.
pub struct RunArgs {
    pub scenarios: Vec<String>,
    pub backends: Vec<String>,
    pub sizes: Option<Vec<u64>>,
    pub reps: Option<u32>,
    pub quick: bool,
    pub out: Option<PathBuf>,
    pub jobs: usize,
    pub kernel: bool,
}

/// `rmap-bench run`. Returns the exit status.
pub fn run(a: RunArgs) -> i32 {
    match run_inner(a) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("rmap-bench run: {e}");
            2
        }
    }
}

fn run_inner(a: RunArgs) -> Result<(), String> {
    let t0 = Instant::now();
    let forms = expand_forms(&a.scenarios)?;
    let backends = expand_backends(&a.backends)?;
    if a.sizes.as_ref().is_some_and(|s| s.is_empty()) {
        return Err("--sizes needs at least one size".into());
    }
    let reps = a.reps.unwrap_or(if a.quick { 3 } else { 5 });
    if reps == 0 {
        return Err("--reps must be at least 1".into());
    }
    let opts = SuiteOptions {
        forms,
        backends,
        sizes: a.sizes.clone(),
        quick: a.quick,
        reps,
        jobs: a.jobs.max(1),
    };
    let out = a.out.clone().unwrap_or_else(|| {
        PathBuf::from(if a.quick {
            "results/quick"
        } else {
            "results/full"
        })
    });
    let total = runner::count_runs(&opts);
    eprintln!(
        "rmap-bench run: {} scenario forms × {} backends, {total} runs ({} reps) -> {}",
        opts.forms.len(),
        opts.backends.len(),
        reps,
        out.display()
    );
    let pb = progress(total);
    let tick = |label: &str| {
        pb.set_message(label.to_string());
        pb.inc(1);
    };
    let mut rows = runner::run_suite(&opts, &tick)?;
    pb.finish_and_clear();
    if a.kernel {
        rows.extend(kernel_rows(&opts));
    }
    let mut meta = Meta::now(serde_json::json!({
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "mode": if a.quick { "quick" } else { "full" },
        "scenarios": opts.forms.iter().map(Form::full_name).collect::<Vec<_>>(),
        "backends": opts.backends,
        "sizes": opts.sizes,
        "reps": reps,
        "jobs": opts.jobs,
        "kernel": a.kernel,
    }));
    meta.wall_s = t0.elapsed().as_secs_f64();
    write_results(&out, &rows, &meta)?;
    eprintln!(
        "rmap-bench run: {} rows in {:.1} s; wrote {}/results.csv, meta.json, plots/ and REPORT.md",
        rows.len(),
        meta.wall_s,
        out.display()
    );
    for c in report::history(&rows) {
        let v = match c.holds {
            Some(true) => "reproduced",
            Some(false) => "DIFFERS",
            None => "not measured",
        };
        eprintln!("  {v:<12} {}", c.claim);
    }
    Ok(())
}

/// The live kernel's rows for the fork-storm and fault-storm sizes of this
/// run (none when neither ran or the kernel cannot be measured here; a
/// failure is reported and the run goes on without them).
fn kernel_rows(opts: &SuiteOptions) -> Vec<Row> {
    let sizes = |name: &str| -> Vec<u64> {
        opts.forms
            .iter()
            .filter(|f| f.scenario.name == name)
            .flat_map(|f| runner::sizes_of(f, opts))
            .collect()
    };
    let (fork, fault) = (sizes("fork-storm"), sizes("fault-storm"));
    if fork.is_empty() && fault.is_empty() {
        return Vec::new();
    }
    match crate::kernelbench::run(
        &crate::kernelbench::KernelBenchOptions {
            fork_sizes: fork,
            fault_sizes: fault,
            reps: opts.reps,
        },
        &mut |m: &str| eprintln!("kernel-bench: {m}"),
    ) {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!(
                "rmap-bench run: the live-kernel benchmark failed, its rows are left out: {e}"
            );
            Vec::new()
        }
    }
}

/// `rmap-bench kernel-bench`: measure the live kernel; print the rows, or
/// merge them into `out`'s results (replacing earlier kernel rows) and
/// rebuild its report.
pub fn kernel_bench(
    fork_sizes: Vec<u64>,
    fault_sizes: Vec<u64>,
    reps: u32,
    out: Option<PathBuf>,
) -> i32 {
    let res = crate::kernelbench::run(
        &crate::kernelbench::KernelBenchOptions {
            fork_sizes,
            fault_sizes,
            reps: reps.max(1),
        },
        &mut |m: &str| eprintln!("kernel-bench: {m}"),
    );
    let rows = match res {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rmap-bench kernel-bench: {e}");
            return 2;
        }
    };
    match out {
        None => match output::csv_text(&rows) {
            Ok(t) => {
                print!("{t}");
                0
            }
            Err(e) => {
                eprintln!("rmap-bench kernel-bench: {e}");
                2
            }
        },
        Some(dir) => {
            let merged = (|| -> Result<usize, String> {
                let mut all: Vec<Row> = output::read_rows(&dir)?
                    .into_iter()
                    .filter(|r| r.backend != crate::results::KERNEL_BACKEND)
                    .collect();
                let n = rows.len();
                all.extend(rows);
                output::write_file_atomic(
                    &dir.join("results.csv"),
                    output::csv_text(&all)?.as_bytes(),
                )?;
                let meta = output::read_meta(&dir)?;
                write_report(&dir, &all, meta.as_ref())?;
                Ok(n)
            })();
            match merged {
                Ok(n) => {
                    eprintln!(
                        "rmap-bench kernel-bench: {n} kernel rows merged into {}/results.csv; report rebuilt",
                        dir.display()
                    );
                    0
                }
                Err(e) => {
                    eprintln!("rmap-bench kernel-bench: {e}");
                    2
                }
            }
        }
    }
}

/// `rmap-bench report DIR`.
pub fn report_cmd(dir: &Path) -> i32 {
    let res = (|| -> Result<usize, String> {
        let rows = output::read_rows(dir)?;
        let meta = output::read_meta(dir)?;
        write_report(dir, &rows, meta.as_ref())?;
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

/// `rmap-bench trace FORM --size N`: the form's ops as a trace.
pub fn trace_text(name: &str, size: Option<u64>) -> Result<String, String> {
    let forms = scenario::resolve(name)?;
    let [form] = forms.as_slice() else {
        return Err(format!(
            "scenario `{name}` has variants; name one: {}",
            forms
                .iter()
                .map(Form::full_name)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    };
    let size = match size {
        Some(s) => s,
        None => *form
            .scenario
            .quick_sizes
            .first()
            .ok_or("the scenario has no default size; give --size")?,
    };
    let ops = form.build(size)?;
    Ok(format!(
        "# {} at size {size} ({}), written by `rmap-bench trace`\n# {}\n{}",
        form.full_name(),
        form.scenario.size_unit,
        form.scenario.about,
        rmap_core::trace::write(&ops)
    ))
}

/// `rmap-bench scenarios`: every scenario, its forms and sizes.
pub fn list_scenarios() -> String {
    let mut s = String::new();
    for sc in scenario::SCENARIOS {
        let forms = scenario::forms_of(sc);
        s.push_str(&format!(
            "{:<17} size = {}; quick {:?}, full {:?}\n  {}\n",
            sc.name, sc.size_unit, sc.quick_sizes, sc.full_sizes, sc.about
        ));
        if forms.len() > 1 || !forms[0].variant.is_empty() {
            s.push_str(&format!(
                "  forms: {}\n",
                forms
                    .iter()
                    .map(Form::full_name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    s
}

/// `rmap-bench choose TRACE_OR_SCENARIO`.
pub fn choose(target: &str, size: Option<u64>, backends_list: &[String], reps: u32) -> i32 {
    match choose_inner(target, size, backends_list, reps) {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(e) => {
            eprintln!("rmap-bench choose: {e}");
            2
        }
    }
}

fn choose_inner(
    target: &str,
    size: Option<u64>,
    backends_list: &[String],
    reps: u32,
) -> Result<String, String> {
    let specs = expand_backends(backends_list)?;
    // (name, size, ops) of each workload to rank.
    let mut work: Vec<(String, u64, String, Vec<Op>)> = Vec::new();
    let path = Path::new(target);
    if path.is_file() {
        let bytes = std::fs::read(path).map_err(|e| format!("{target}: {e}"))?;
        let text = String::from_utf8_lossy(&bytes);
        let ops = rmap_core::trace::parse(&text, target)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|l| l.op)
            .collect();
        work.push((target.to_string(), 1, "trace".into(), ops));
    } else {
        let forms = scenario::resolve(target)
            .map_err(|e| format!("`{target}` is neither a trace file nor a scenario: {e}"))?;
        for f in forms {
            let s = match size {
                Some(s) => s,
                None => *f
                    .scenario
                    .quick_sizes
                    .first()
                    .ok_or("the scenario has no default size; give --size")?,
            };
            let ops = f.build(s)?;
            work.push((f.full_name(), s, f.scenario.size_unit.to_string(), ops));
        }
    }
    let pb = progress((work.len() * specs.len()) as u64 * reps.max(1) as u64);
    let mut out = String::new();
    for (name, s, unit, ops) in &work {
        let mut rows = Vec::new();
        for spec in &specs {
            let mut runs = Vec::new();
            for _ in 0..reps.max(1) {
                pb.set_message(format!("{name} {spec}"));
                runs.push(runner::measure_spec(ops, spec).map_err(|e| format!("{spec}: {e}"))?);
                pb.inc(1);
            }
            rows.extend(runner::rows_of(name, *s, unit, spec, &runs));
        }
        let (table, rec) = report::choose_table(&rows, name);
        out.push_str(&format!("== {name} (size {s} {unit})\n{table}\n{rec}\n\n"));
    }
    pb.finish_and_clear();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_lists_expand() {
        let all = expand_backends(&[]).unwrap();
        assert_eq!(all.len(), backends::all_specs().len());
        let v = expand_backends(&[
            "objrmap".into(),
            "scan:default".into(),
            "objrmap:prio".into(),
        ])
        .unwrap();
        assert_eq!(
            v,
            [
                "objrmap:mccracken",
                "objrmap:prio",
                "objrmap:anonmm",
                "scan:default"
            ]
        );
        assert!(expand_backends(&["nope".into()]).is_err());
    }

    #[test]
    fn choose_ranks_a_trace_file() {
        let dir = std::env::temp_dir().join(format!("rmap-choose-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t.trace");
        std::fs::write(
            &p,
            "mmap 1 0x100000000000 256K rw- private\ntouch 1 0x100000000000 256K w\nfork 1 2\nreclaim 16\n",
        )
        .unwrap();
        let out = choose_inner(
            p.to_str().unwrap(),
            None,
            &[
                "scan".into(),
                "pte-chain:rik".into(),
                "anonvma:linux".into(),
            ],
            1,
        )
        .unwrap();
        assert!(
            out.contains("rank") && out.contains("anonvma:linux"),
            "{out}"
        );
        assert!(out.contains("choose "), "{out}");
        assert!(
            out.lines()
                .filter(|l| l.starts_with(['1', '2', '3']))
                .count()
                == 3,
            "{out}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        let e = choose_inner("no-such-thing", None, &[], 1).unwrap_err();
        assert!(e.contains("neither a trace file nor a scenario"), "{e}");
    }
}
