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

use rmap_core::Op;

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
    /// Sizes for `run --quick` (one, small).
    pub quick_sizes: &'static [u64],
    /// Sizes for a full run (ascending).
    pub full_sizes: &'static [u64],
    /// The metrics the report tabulates and plots for this scenario, most
    /// important first.
    pub key_metrics: &'static [&'static str],
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
    /// `BASE` or `BASE/VARIANT`.
    pub fn full_name(&self) -> String {
        if self.variant.is_empty() {
            self.scenario.name.to_string()
        } else {
            format!("{}/{}", self.scenario.name, self.variant)
        }
    }
    pub fn build(&self, size: u64) -> Result<Vec<Op>, String> {
        (self.scenario.build)(self.variant, size)
    }
}

#[allow(dead_code)] // used by the scenarios that come next
fn no_variants() -> Vec<&'static str> {
    Vec::new()
}

/// Every scenario, in report order.
pub static SCENARIOS: &[Scenario] = &[];

/// Every form of every scenario, in report order.
pub fn all_forms() -> Vec<Form> {
    SCENARIOS.iter().flat_map(forms_of).collect()
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
pub fn resolve(name: &str) -> Result<Vec<Form>, String> {
    let (base, variant) = match name.split_once('/') {
        Some((b, v)) => (b, Some(v)),
        None => (name, None),
    };
    let s = SCENARIOS.iter().find(|s| s.name == base).ok_or_else(|| {
        format!(
            "unknown scenario `{base}`; known scenarios: {}",
            SCENARIOS
                .iter()
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
