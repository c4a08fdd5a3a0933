//! Model against live kernel: run one trace both ways and compare what
//! both can print: `dump` and `err` lines, and at each `stats all` the
//! object counts of the kinds that both sides count.
//!
//! [`fidelity`] does this for many seeded random traces and counts how
//! often the two agree (`rmap-bench fidelity`, `docs/fidelity.md`).

use std::collections::BTreeMap;
use std::ops::Range;

use rmap_core::ops::{Op, StatsTarget};
use rmap_core::replay::replay;
use rmap_core::trace::Parser;
use rmap_core::{Config, ReverseMap};

use rmap_registry::{self as backends, WithBackend};

use crate::harness::{KernelOptions, kernel_run_on};
use crate::host::{host_pkeys, model_pkeys_of};
use crate::tracegen::{GenOptions, gen_random_text};

/// One object count that both sides list at one `stats all`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectCount {
    /// The trace line of the `stats all`.
    pub line: usize,
    /// The kind, e.g. `vm_area_struct`.
    pub kind: String,
    pub model: u64,
    /// `None` when the live run could not count (`null`: no root, or too
    /// noisy to tell).
    pub kernel: Option<u64>,
}

impl ObjectCount {
    /// Equal counts, or no kernel count to compare with.
    pub fn agree(&self) -> bool {
        self.kernel.is_none_or(|k| k == self.model)
    }
}

impl std::fmt::Display for ObjectCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "stats line {}: {} model {} kernel ",
            self.line, self.kind, self.model
        )?;
        match self.kernel {
            Some(k) => write!(f, "{k}"),
            None => write!(f, "null"),
        }
    }
}

/// The two outputs of one trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    /// The model's `dump` and `err` lines.
    pub model: String,
    /// The live kernel's `dump` and `err` lines.
    pub kernel: String,
    /// At each `stats all`, every kind that both the model and the live
    /// run list, in trace and key order.
    pub objects: Vec<ObjectCount>,
}

impl Comparison {
    /// Same `dump` and `err` lines and same object counts.
    pub fn agree(&self) -> bool {
        self.layout_agrees() && self.objects.iter().all(ObjectCount::agree)
    }

    /// Same `dump` and `err` lines.
    pub fn layout_agrees(&self) -> bool {
        self.model == self.kernel
    }

    /// A unified diff of the `dump` and `err` lines, model first (empty
    /// when they agree).
    pub fn layout_diff(&self, model_label: &str) -> String {
        if self.layout_agrees() {
            return String::new();
        }
        similar::TextDiff::from_lines(&self.model, &self.kernel)
            .unified_diff()
            .header(model_label, "live kernel")
            .to_string()
    }

    /// [`Comparison::layout_diff`], then a line for each object count that
    /// differs.
    pub fn diff(&self, model_label: &str) -> String {
        let mut s = self.layout_diff(model_label);
        for o in self.objects.iter().filter(|o| !o.agree()) {
            s.push_str(&format!("{o}\n"));
        }
        s
    }

    /// One line per compared object count.
    pub fn objects_report(&self) -> String {
        self.objects.iter().map(|o| format!("{o}\n")).collect()
    }
}

/// Keep only the lines the live run prints too: `dump` headers, mapping
/// lines and `err` lines.
pub fn comparable(model_output: &str) -> String {
    model_output
        .lines()
        .filter(|l| {
            l.starts_with("dump ")
                || l.starts_with("err ")
                || l.starts_with(|c: char| c.is_ascii_hexdigit())
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The `objects` of every `stats all` line of a replay or live-run output,
/// in order: kind to count, `None` for `null`. `stats PID` lines (no
/// `objects` key) are skipped.
pub fn stats_objects(output: &str) -> Vec<BTreeMap<String, Option<u64>>> {
    output
        .lines()
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            let o = v.get("objects")?.as_object()?;
            Some(o.iter().map(|(k, n)| (k.clone(), n.as_u64())).collect())
        })
        .collect()
}

/// The trace lines of the `stats all` ops, up to the first malformed line.
fn stats_all_lines(text: &str, name: &str) -> Vec<usize> {
    Parser::new(text, name)
        .map_while(Result::ok)
        .filter(|tl| matches!(tl.op, Op::Stats(StatsTarget::All)))
        .map(|tl| tl.line)
        .collect()
}

struct ModelRun<'a> {
    text: &'a str,
    name: &'a str,
    /// The protection-key setting unless the trace sets one.
    pkeys: bool,
}

impl WithBackend for ModelRun<'_> {
    type Out = Result<String, String>;
    fn run<R: ReverseMap>(self, rmap: R) -> Self::Out {
        let mut buf = Vec::new();
        let cfg = Config {
            integrity: false,
            pkeys: self.pkeys,
            ..Config::default()
        };
        replay(self.text, self.name, rmap, cfg, &mut buf).map_err(|e| e.to_string())?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }
}

/// Run `text` on the model with `backend` and on the live kernel.
/// Errors: an unknown backend, a trace the model or the live run cannot
/// run (the message is theirs).
pub fn compare(text: &str, name: &str, backend: &str) -> Result<Comparison, String> {
    compare_with(text, name, backend, &KernelOptions::default())
}

/// [`compare`], run again (three times at most) while a kernel object
/// count is `null` (too noisy to tell; a count that differs is never
/// retried away). Errors: those of [`compare`].
pub fn compare_counted(text: &str, name: &str, backend: &str) -> Result<Comparison, String> {
    let mut c = compare(text, name, backend)?;
    for _ in 1..3 {
        if c.objects.iter().all(|o| o.kernel.is_some()) {
            break;
        }
        c = compare(text, name, backend)?;
    }
    Ok(c)
}

/// [`compare`] with explicit settings for the live run.
pub fn compare_with(
    text: &str,
    name: &str,
    backend: &str,
    opts: &KernelOptions,
) -> Result<Comparison, String> {
    compare_on(text, name, backend, opts, host_pkeys())
}

/// [`compare_with`] on a host whose protection keys are `host_pkeys`: the
/// model runs with that setting unless the trace sets `pkeys=`, and a
/// trace that asks for `pkeys=on` without them is refused (see
/// [`crate::host`]).
pub fn compare_on(
    text: &str,
    name: &str,
    backend: &str,
    opts: &KernelOptions,
    host_pkeys: bool,
) -> Result<Comparison, String> {
    let pkeys = model_pkeys_of(text, name, host_pkeys).map_err(|e| e.to_string())?;
    let model_out = backends::with_backend(backend, ModelRun { text, name, pkeys })??;
    let mut buf = Vec::new();
    kernel_run_on(text, name, &mut buf, opts, host_pkeys).map_err(|e| e.to_string())?;
    let kernel_out = String::from_utf8_lossy(&buf).into_owned();
    let mut objects = Vec::new();
    let lines = stats_all_lines(text, name);
    let model_objs = stats_objects(&model_out);
    let kernel_objs = stats_objects(&kernel_out);
    for ((line, m), k) in lines.iter().zip(&model_objs).zip(&kernel_objs) {
        for (kind, kn) in k {
            if let Some(Some(mn)) = m.get(kind) {
                objects.push(ObjectCount {
                    line: *line,
                    kind: kind.clone(),
                    model: *mn,
                    kernel: *kn,
                });
            }
        }
    }
    Ok(Comparison {
        model: comparable(&model_out),
        kernel: comparable(&kernel_out),
        objects,
    })
}

/// What [`fidelity`] runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FidelityOptions {
    /// One random trace per seed.
    pub seeds: Range<u64>,
    /// Generator settings; `seed` is replaced by each seed in turn.
    pub generator: GenOptions,
    /// Backend as `NAME[:PRESET]`.
    pub backend: String,
    /// Append `stats all` to every trace, so that the object counts are
    /// compared too.
    pub objects: bool,
    /// Live-run settings.
    pub kernel: KernelOptions,
    /// Keep at most this many disagreements.
    pub keep: usize,
    /// Whether the host uses protection keys (default: detected, see
    /// [`crate::host`]); the model runs with this setting.
    pub host_pkeys: bool,
}

impl Default for FidelityOptions {
    fn default() -> Self {
        FidelityOptions {
            seeds: 0..1000,
            generator: GenOptions::default(),
            backend: "anonvma:linux".to_string(),
            objects: false,
            kernel: KernelOptions::default(),
            keep: 5,
            host_pkeys: host_pkeys(),
        }
    }
}

/// One seed whose trace the two sides answered differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disagreement {
    pub seed: u64,
    pub trace: String,
    pub comparison: Comparison,
}

/// The outcome of [`fidelity`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FidelityReport {
    /// Traces compared.
    pub traces: u64,
    /// Traces with the same `dump`, `err` lines and object counts.
    pub agree: u64,
    /// Traces with the same `dump` and `err` lines.
    pub layout_agree: u64,
    /// Object counts compared (both sides counted), and how many were
    /// equal.
    pub counts: u64,
    pub counts_agree: u64,
    /// Object counts the live run could not take (`null`).
    pub counts_missing: u64,
    /// The first disagreements, by seed.
    pub disagreements: Vec<Disagreement>,
    /// Seeds that could not be compared at all, with the reason.
    pub failures: Vec<(u64, String)>,
}

impl FidelityReport {
    /// The agreement rate in percent (0 when nothing was compared).
    pub fn rate(&self) -> f64 {
        if self.traces == 0 {
            0.0
        } else {
            100.0 * self.agree as f64 / self.traces as f64
        }
    }
}

/// The random trace `o` runs for `seed`.
pub fn fidelity_trace(o: &FidelityOptions, seed: u64) -> String {
    let mut text = gen_random_text(&GenOptions {
        seed,
        ..o.generator.clone()
    });
    if o.objects {
        text.push_str("stats all\n");
    }
    text
}

/// Compare the model with the live kernel on one random trace per seed.
/// `progress` is called after each seed with the report so far.
pub fn fidelity(
    o: &FidelityOptions,
    mut progress: impl FnMut(u64, &FidelityReport),
) -> FidelityReport {
    let mut rep = FidelityReport::default();
    for seed in o.seeds.clone() {
        let text = fidelity_trace(o, seed);
        let name = format!("seed{seed}.trace");
        match compare_on(&text, &name, &o.backend, &o.kernel, o.host_pkeys) {
            Err(e) => rep.failures.push((seed, e)),
            Ok(c) => {
                rep.traces += 1;
                rep.agree += u64::from(c.agree());
                rep.layout_agree += u64::from(c.layout_agrees());
                for x in &c.objects {
                    match x.kernel {
                        None => rep.counts_missing += 1,
                        Some(k) => {
                            rep.counts += 1;
                            rep.counts_agree += u64::from(k == x.model);
                        }
                    }
                }
                if !c.agree() && rep.disagreements.len() < o.keep {
                    rep.disagreements.push(Disagreement {
                        seed,
                        trace: text,
                        comparison: c,
                    });
                }
            }
        }
        progress(seed, &rep);
    }
    rep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_objects_reads_stats_all_lines_only() {
        let out = "dump 1\n\
                   {\"vmas\":1,\"objects\":{\"page_table\":4,\"vm_area_struct\":1},\"rmap\":{}}\n\
                   {\"vmas\":1,\"rss_anon\":0,\"rss_file\":0,\"swap_ents\":0}\n\
                   {\"objects\":{\"anon_vma\":null,\"anon_vma_chain\":2,\"vm_area_struct\":1}}\n";
        let o = stats_objects(out);
        assert_eq!(o.len(), 2);
        assert_eq!(o[0]["page_table"], Some(4));
        assert_eq!(o[1]["anon_vma"], None);
        assert_eq!(o[1]["anon_vma_chain"], Some(2));
        assert_eq!(comparable(out), "dump 1\n");
    }

    #[test]
    fn object_lines_read_well_and_null_is_no_difference() {
        let c = Comparison {
            model: "dump 1\n".into(),
            kernel: "dump 1\n".into(),
            objects: vec![
                ObjectCount {
                    line: 12,
                    kind: "vm_area_struct".into(),
                    model: 5,
                    kernel: Some(5),
                },
                ObjectCount {
                    line: 14,
                    kind: "vm_area_struct".into(),
                    model: 5,
                    kernel: Some(4),
                },
                ObjectCount {
                    line: 16,
                    kind: "anon_vma".into(),
                    model: 1,
                    kernel: None,
                },
            ],
        };
        assert!(c.layout_agrees() && !c.agree());
        assert_eq!(
            c.objects_report(),
            "stats line 12: vm_area_struct model 5 kernel 5\n\
             stats line 14: vm_area_struct model 5 kernel 4\n\
             stats line 16: anon_vma model 1 kernel null\n"
        );
        assert_eq!(
            c.diff("m"),
            "stats line 14: vm_area_struct model 5 kernel 4\n"
        );
        let ok = Comparison {
            objects: vec![c.objects[0].clone(), c.objects[2].clone()],
            ..c
        };
        assert!(ok.agree());
    }

    #[test]
    fn stats_lines_pair_with_trace_lines() {
        let t = "# c\nmmap 1 0x100000000000 4K rw- private\nstats all\nstats 1\n\nstats all\n";
        assert_eq!(stats_all_lines(t, "t"), [3, 6]);
        // a malformed line ends the list, as it ends both runs
        assert_eq!(stats_all_lines("stats all\nbogus\nstats all\n", "t"), [1]);
    }
}
