//! `rmap-bench backends`: every backend and its presets.

/// Prints the registry; exit status 0.
pub(super) fn backends() -> i32 {
    for e in rmap_registry::BACKENDS {
        let presets = (e.presets)();
        println!("{:<10} {}", e.name, e.about);
        for (i, p) in presets.iter().enumerate() {
            println!(
                "  {}:{p}{}",
                e.name,
                if i == 0 { "  (default)" } else { "" }
            );
        }
    }
    0
}
