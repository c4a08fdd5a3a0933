//! `rmap-bench backends`: every backend and its presets.

use super::Format;

/// Prints the registry as text or JSON; exit status 0.
pub(super) fn backends(format: Format) -> i32 {
    if format == Format::Json {
        let list: Vec<serde_json::Value> = rmap_registry::BACKENDS
            .iter()
            .map(|e| {
                serde_json::json!({
                    "name": e.name,
                    "about": e.about,
                    "presets": (e.presets)(),
                    "default": (e.presets)().first(),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(list));
        return 0;
    }
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
