//! `rmap-bench trace FORM` (a scenario form as a trace) and `rmap-bench
//! scenarios` (the list of them).

use rmap_traces::scenario;

/// Prints the trace; exit status 2 for an unknown or ambiguous form or an
/// impossible size.
pub(super) fn trace(name: &str, size: Option<u64>) -> i32 {
    match scenario::trace_text(name, size) {
        Ok(t) => {
            print!("{t}");
            0
        }
        Err(e) => {
            eprintln!("rmap-bench trace: {e}");
            2
        }
    }
}

/// Prints every scenario, its forms and sizes (text or JSON); exit
/// status 0.
pub(super) fn scenarios(format: super::Format) -> i32 {
    if format == super::Format::Text {
        print!("{}", scenario::list_text());
        return 0;
    }
    let list: Vec<serde_json::Value> = scenario::SCENARIOS
        .iter()
        .map(|s| {
            serde_json::json!({
                "name": s.name,
                "forms": scenario::forms_of(s).iter().map(|f| f.full_name()).collect::<Vec<_>>(),
                "size_unit": s.size_unit,
                "quick_sizes": s.quick_sizes,
                "full_sizes": s.full_sizes,
                "about": s.about,
                "exposes": s.exposes,
                "key_metrics": s.key_metrics.iter().map(|m| m.name).collect::<Vec<_>>(),
            })
        })
        .collect();
    println!("{}", serde_json::Value::Array(list));
    0
}
