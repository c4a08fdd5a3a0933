//! # rmap-registry: the backends that can be run, by name
//!
//! The one place a backend is registered: [`BACKENDS`] lists each backend
//! (name, presets, one line about it) and [`with_backend`] turns a name on
//! the command line into a concrete `ReverseMap` type, on which it runs a
//! [`WithBackend`] job. [`resolve`] checks a `NAME[:PRESET]` spec,
//! [`all_specs`] and [`expand_backends`] list them.
//!
//! To add a backend: an [`Entry`] in [`BACKENDS`] and an arm in
//! [`with_backend`] (a test checks that every listed backend is wired).
//!
//! Invariants: names are unique; every backend has at least one preset and
//! its first preset is its default; specs are written `NAME:PRESET`.

use anonvma::AnonVmaRmap;
use objrmap::ObjRmap;
use pte_chain::PteChain;
use rmap_core::{Presets, Scan};

/// Something to run with a concrete backend type.
pub trait WithBackend {
    type Out;
    /// Runs the job on `rmap`, a backend made from a listed preset.
    fn run<R: Presets>(self, rmap: R) -> Self::Out;
}

/// One registered backend.
pub struct Entry {
    pub name: &'static str,
    /// Its presets; the first is the default.
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

/// Every `name:preset` pair, in listing order.
pub fn all_specs() -> Vec<String> {
    BACKENDS
        .iter()
        .flat_map(|e| (e.presets)().iter().map(move |p| format!("{}:{p}", e.name)))
        .collect()
}

/// Splits `NAME[:PRESET]`, filling in the default preset.
///
/// Errors: an unknown name (the message lists the known ones) or a preset
/// the backend does not have (the message lists its presets).
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

/// The position of `spec`'s preset among its backend's presets (0 for the
/// default); `None` when `spec` names no listed backend and preset.
pub fn preset_index(spec: &str) -> Option<usize> {
    let (e, p) = resolve(spec).ok()?;
    (e.presets)().iter().position(|&x| x == p)
}

/// Runs `w` with the backend `spec` names. Errors as [`resolve`].
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

/// Expands a backend list: `NAME` means every preset of NAME, `NAME:PRESET`
/// one preset; empty means every preset of every backend. Each spec comes
/// out once, in first-named order. Errors as [`resolve`].
pub fn expand_backends(list: &[String]) -> Result<Vec<String>, String> {
    if list.is_empty() {
        return Ok(all_specs());
    }
    let mut out: Vec<String> = Vec::new();
    for spec in list {
        let spec = spec.trim();
        let add: Vec<String> = if spec.contains(':') {
            let (e, p) = resolve(spec)?;
            vec![format!("{}:{p}", e.name)]
        } else {
            let (e, _) = resolve(spec)?;
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
        assert_eq!(preset_index("anonvma:avc-2.6.34"), Some(3));
        assert_eq!(preset_index("kernel"), None);
    }

    #[test]
    fn every_listed_backend_is_wired() {
        struct Name;
        impl WithBackend for Name {
            type Out = &'static str;
            fn run<R: Presets>(self, rmap: R) -> &'static str {
                rmap.name()
            }
        }
        for spec in all_specs() {
            with_backend(&spec, Name).unwrap_or_else(|e| panic!("{spec}: {e}"));
        }
    }

    #[test]
    fn backend_lists_expand() {
        let all = expand_backends(&[]).unwrap();
        assert_eq!(all.len(), all_specs().len());
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
}
