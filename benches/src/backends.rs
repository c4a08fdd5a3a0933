//! The backend registry: names, presets, and dispatch from a name to a
//! concrete `ReverseMap` type.

use anonvma::AnonVmaRmap;
use objrmap::ObjRmap;
use pte_chain::PteChain;
use rmap_core::{Presets, Scan};

/// Something to run with a concrete backend type.
pub trait WithBackend {
    type Out;
    fn run<R: Presets>(self, rmap: R) -> Self::Out;
}

/// One registered backend.
pub struct Entry {
    pub name: &'static str,
    pub presets: fn() -> &'static [&'static str],
    pub about: &'static str,
}

/// Every backend that can be run, in listing order.
pub const BACKENDS: &[Entry] = &[
    Entry {
        name: "scan",
        presets: <Scan as Presets>::presets,
        about: "no reverse map: a walk scans every page table (the 2.4 way); the oracle",
    },
    Entry {
        name: "pte-chain",
        presets: <PteChain as Presets>::presets,
        about: "per-page chains of PTE addresses (the 2.5 rmap)",
    },
    Entry {
        name: "objrmap",
        presets: <ObjRmap as Presets>::presets,
        about: "object-based: file pages through i_mmap; anonymous pages on PTE chains or anonmm",
    },
    Entry {
        name: "anonvma",
        presets: <AnonVmaRmap as Presets>::presets,
        about: "anon_vma: anonymous pages through the VMAs that may map them, 2.6.7 to today",
    },
];

/// Every `name:preset` pair.
pub fn all_specs() -> Vec<String> {
    BACKENDS
        .iter()
        .flat_map(|e| (e.presets)().iter().map(move |p| format!("{}:{p}", e.name)))
        .collect()
}

/// Split `NAME[:PRESET]`, filling in the default preset.
pub fn resolve(spec: &str) -> Result<(&'static Entry, &'static str), String> {
    let (name, preset) = match spec.split_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (spec, None),
    };
    let known = || {
        BACKENDS
            .iter()
            .map(|e| e.name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let e = BACKENDS
        .iter()
        .find(|e| e.name == name)
        .ok_or_else(|| format!("unknown backend `{name}`; known backends: {}", known()))?;
    let presets = (e.presets)();
    let p = match preset {
        None => presets[0],
        Some(p) => presets.iter().find(|&&x| x == p).copied().ok_or_else(|| {
            format!(
                "backend `{name}` has no preset `{p}`; its presets: {}",
                presets.join(", ")
            )
        })?,
    };
    Ok((e, p))
}

/// Run `w` with the backend `spec` names.
pub fn with_backend<W: WithBackend>(spec: &str, w: W) -> Result<W::Out, String> {
    let (e, preset) = resolve(spec)?;
    match e.name {
        "scan" => Ok(w.run(Scan::with_preset(preset).expect("listed preset"))),
        "pte-chain" => Ok(w.run(PteChain::with_preset(preset).expect("listed preset"))),
        "objrmap" => Ok(w.run(ObjRmap::with_preset(preset).expect("listed preset"))),
        "anonvma" => Ok(w.run(AnonVmaRmap::with_preset(preset).expect("listed preset"))),
        other => Err(format!("backend `{other}` is listed but not wired")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_names_and_presets() {
        let (e, p) = resolve("scan").unwrap();
        assert_eq!((e.name, p), ("scan", "default"));
        assert!(resolve("scan:default").is_ok());
        let err = resolve("nope").err().unwrap();
        assert!(
            err.contains("unknown backend `nope`") && err.contains("scan"),
            "{err}"
        );
        let err = resolve("scan:fast").err().unwrap();
        assert!(err.contains("no preset `fast`"), "{err}");
        assert!(all_specs().contains(&"scan:default".to_string()));
    }
}
