//! `rmap-bench vcpu`: one scaling scenario at one CPU count on one backend,
//! on the virtual-CPU engine, with a lock_stat-like table; and
//! `rmap-bench calibrate`, which measures this host's costs.

use std::path::Path;

use rmap_traces::scenario::resolve;
use rmap_vcpu::Costs;

/// Exit status 2 for an unknown scenario or backend, a form that is not a
/// scaling one, a bad cost file or a failed run.
pub(super) fn vcpu(scenario: &str, cpus: u64, backend: &str, costs: Option<&Path>) -> i32 {
    let run = || -> Result<String, String> {
        let forms = resolve(scenario)?;
        let [form] = forms.as_slice() else {
            return Err(format!("`{scenario}` has several forms: name one"));
        };
        let costs = match costs {
            Some(p) => Costs::load(p)?,
            None => Costs::default_table(),
        };
        let out = rmap_vcpu::suite::run_form(form, cpus, backend, &costs)?;
        Ok(format!(
            "{} at {cpus} CPUs on {backend}\n{}",
            form.full_name(),
            rmap_vcpu::lockstat::text(&out)
        ))
    };
    match run() {
        Ok(t) => {
            print!("{t}");
            0
        }
        Err(e) => {
            eprintln!("rmap-bench vcpu: {e}");
            2
        }
    }
}

/// `rmap-bench calibrate`: write this host's cost file to `out` (or
/// standard output). Exit status 2 when a measurement or the write fails.
pub(super) fn calibrate(out: Option<&Path>, quick: bool) -> i32 {
    let run = || -> Result<String, String> {
        let f =
            rmap_vcpu::calibrate::calibrate(rmap_vcpu::calibrate::Options { quick }, &mut |m| {
                eprintln!("calibrate: {m}")
            })?;
        let text = serde_json::to_string_pretty(&f).map_err(|e| e.to_string())? + "\n";
        // the file must load as a cost table
        Costs::from_json(&text, "the calibrated table")?;
        Ok(text)
    };
    match run() {
        Ok(text) => match out {
            Some(p) => match crate::output::write_file_atomic(p, text.as_bytes()) {
                Ok(()) => {
                    eprintln!("calibrate: wrote {}", p.display());
                    0
                }
                Err(e) => {
                    eprintln!("rmap-bench calibrate: {e}");
                    2
                }
            },
            None => {
                print!("{text}");
                0
            }
        },
        Err(e) => {
            eprintln!("rmap-bench calibrate: {e}");
            2
        }
    }
}
