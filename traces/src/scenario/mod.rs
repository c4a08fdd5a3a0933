//! Scenarios: named generators of op streams, sized by one parameter.
//!
//! A scenario is a pure function `(variant, size) -> Vec<Op>`: the same
//! arguments give the same ops on every machine (any randomness comes from a
//! `ChaCha8Rng` seeded from [`SCENARIO_SEED`] and the size). The first op is
//! always a `config` line, so a scenario written out with
//! `rmap-bench trace SCENARIO --size N` replays exactly as the runner runs it.
//!
//! A scenario with variants (merge policy, `many_prots`, how nonlinear
//! mappings are made, which real program) is reported under the name
//! `BASE/VARIANT`, e.g. `heap-churn/merge=none`.
//!
//! Modules: [`registry`] holds [`SCENARIOS`], the table of every scenario
//! (name, sizes, key metrics, builder); `build` the building blocks every
//! builder uses (the op-stream writer, size checks, the seeded generator);
//! the builders by theme: `fork` (fork-storm, fork-chain, cow-server),
//! `files` (file-share, db-window, nonlinear), `layout` (uml, glibc-libs,
//! heap-churn, remerge, guard-fork), [`mach`] (mach-ext2fs), `realloc`
//! (realloc-grow: a heap grown by mremap), `pressure` (reclaim-pressure,
//! fault-storm) and `real_program` (instances of a real program's trace).
//!
//! Invariants: every scenario maps inside the live-kernel window
//! ([`rmap_core::abi::WINDOW_START`]); a builder either returns ops whose
//! first op is the only `config`, or an error that names the size or the
//! variant it cannot build.

use rmap_core::Op;
use rmap_metrics::Metric;

mod build;
mod files;
mod fork;
mod layout;
pub mod mach;
mod pressure;
mod real_program;
mod realloc;
pub mod registry;
pub mod scaling;

pub use real_program::real_instances;
pub use registry::SCENARIOS;

/// The seed every scenario's random choices start from.
pub const SCENARIO_SEED: u64 = 0x524d_4150_4c41_4221;

/// One scenario.
pub struct Scenario {
    /// Base name, e.g. `heap-churn`.
    pub name: &'static str,
    /// Variant suffixes (`merge=none`, ...); empty when there is one form.
    pub variants: fn() -> Vec<&'static str>,
    /// What it does, one sentence.
    pub about: &'static str,
    /// What it exposes, one sentence (for the report).
    pub exposes: &'static str,
    /// What `size` counts (`MiB`, `children`, `VMAs`, ...).
    pub size_unit: &'static str,
    /// A size that builds and runs in milliseconds on every backend (tests).
    pub tiny_size: u64,
    /// Sizes for `run --quick` (one, small).
    pub quick_sizes: &'static [u64],
    /// Sizes for a full run (ascending).
    pub full_sizes: &'static [u64],
    /// The metrics the report tabulates and plots for this scenario, most
    /// important first.
    pub key_metrics: &'static [Metric],
    /// Build the ops for `variant` (one of `variants()`, or `""` when there
    /// are none) and `size`. Errors say why the size is impossible.
    pub build: fn(variant: &str, size: u64) -> Result<Vec<Op>, String>,
}

/// One runnable scenario form: a scenario and one of its variants.
#[derive(Clone, Copy)]
pub struct Form {
    pub scenario: &'static Scenario,
    /// `""` when the scenario has no variants.
    pub variant: &'static str,
}

impl Form {
    /// Whether this is a scaling scenario (its size is a number of virtual
    /// CPUs; it runs on the virtual-CPU engine, see [`scaling`]).
    pub fn is_scaling(&self) -> bool {
        scaling::SCALING
            .iter()
            .any(|s| std::ptr::eq(s, self.scenario))
    }

    /// `BASE` or `BASE/VARIANT`.
    pub fn full_name(&self) -> String {
        if self.variant.is_empty() {
            self.scenario.name.to_string()
        } else {
            format!("{}/{}", self.scenario.name, self.variant)
        }
    }
    /// The form's ops at `size`. Errors: a size the scenario cannot build
    /// (the message says the range).
    pub fn build(&self, size: u64) -> Result<Vec<Op>, String> {
        (self.scenario.build)(self.variant, size)
    }

    /// The size used when none is given: the scenario's first quick size.
    /// Errors: the scenario has no quick size.
    pub fn default_size(&self) -> Result<u64, String> {
        self.scenario
            .quick_sizes
            .first()
            .copied()
            .ok_or_else(|| "the scenario has no default size; give --size".to_string())
    }
}

/// Every scenario: [`SCENARIOS`], then the scaling ones
/// ([`scaling::SCALING`]).
pub fn every_scenario() -> impl Iterator<Item = &'static Scenario> {
    SCENARIOS.iter().chain(scaling::SCALING)
}

/// The scenario called `base`, if any.
pub fn find(base: &str) -> Option<&'static Scenario> {
    every_scenario().find(|s| s.name == base)
}

/// Every form of every scenario, in report order.
pub fn all_forms() -> Vec<Form> {
    every_scenario().flat_map(forms_of).collect()
}

/// The forms of one scenario.
pub fn forms_of(s: &'static Scenario) -> Vec<Form> {
    let v = (s.variants)();
    if v.is_empty() {
        vec![Form {
            scenario: s,
            variant: "",
        }]
    } else {
        v.into_iter()
            .map(|variant| Form {
                scenario: s,
                variant,
            })
            .collect()
    }
}

/// Resolve `BASE` (every form of it) or `BASE/VARIANT` (that form).
/// Errors: an unknown scenario or variant (the message lists the known
/// ones).
pub fn resolve(name: &str) -> Result<Vec<Form>, String> {
    let (base, variant) = match name.split_once('/') {
        Some((b, v)) => (b, Some(v)),
        None => (name, None),
    };
    let s = find(base).ok_or_else(|| {
        format!(
            "unknown scenario `{base}`; known scenarios: {}",
            every_scenario()
                .map(|s| s.name)
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let forms = forms_of(s);
    match variant {
        None => Ok(forms),
        Some(v) => forms
            .into_iter()
            .find(|f| f.variant == v)
            .map(|f| vec![f])
            .ok_or_else(|| {
                format!(
                    "scenario `{base}` has no variant `{v}`; its variants: {}",
                    (s.variants)().join(", ")
                )
            }),
    }
}

/// Resolves scenario names (`BASE` or `BASE/VARIANT`) to forms, each
/// once, in first-named order; empty means every form. Errors as
/// [`resolve`].
pub fn expand_forms(names: &[String]) -> Result<Vec<Form>, String> {
    if names.is_empty() {
        return Ok(all_forms());
    }
    let mut out: Vec<Form> = Vec::new();
    for n in names {
        for f in resolve(n)? {
            if !out.iter().any(|o| o.full_name() == f.full_name()) {
                out.push(f);
            }
        }
    }
    Ok(out)
}

/// The trace that `rmap-bench trace NAME [--size N]` prints: a two-line
/// header comment, then the ops of the form `name` names at `size` (default:
/// the scenario's first quick size). Errors: an unknown name, a scenario
/// with several forms named by its base name (the message lists them), or
/// a size the scenario cannot build.
pub fn trace_text(name: &str, size: Option<u64>) -> Result<String, String> {
    let forms = resolve(name)?;
    let [form] = forms.as_slice() else {
        return Err(format!(
            "scenario `{name}` has variants; name one: {}",
            full_names(&forms)
        ));
    };
    let size = match size {
        Some(s) => s,
        None => form.default_size()?,
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

/// What `rmap-bench scenarios` prints: every scenario, its sizes, what it
/// does and, when it has variants, its forms.
pub fn list_text() -> String {
    let mut s = String::new();
    for sc in every_scenario() {
        let forms = forms_of(sc);
        s.push_str(&format!(
            "{:<17} size = {}; quick {:?}, full {:?}\n  {}\n",
            sc.name, sc.size_unit, sc.quick_sizes, sc.full_sizes, sc.about
        ));
        if forms.len() > 1 || !forms[0].variant.is_empty() {
            s.push_str(&format!("  forms: {}\n", full_names(&forms)));
        }
    }
    s
}

/// The forms' full names, comma-separated.
fn full_names(forms: &[Form]) -> String {
    forms
        .iter()
        .map(Form::full_name)
        .collect::<Vec<_>>()
        .join(", ")
}
