//! Model against live kernel: run one trace both ways and compare what
//! both can print (`dump` and `err` lines).

use rmap_core::replay::replay;
use rmap_core::{Config, ReverseMap};

use crate::backends::{self, WithBackend};
use crate::kernel::kernel_run;

/// The two outputs of one trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    pub model: String,
    pub kernel: String,
}

impl Comparison {
    pub fn agree(&self) -> bool {
        self.model == self.kernel
    }
    /// A unified diff, model first.
    pub fn diff(&self, model_label: &str) -> String {
        similar::TextDiff::from_lines(&self.model, &self.kernel)
            .unified_diff()
            .header(model_label, "live kernel")
            .to_string()
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

struct ModelRun<'a> {
    text: &'a str,
    name: &'a str,
}

impl WithBackend for ModelRun<'_> {
    type Out = Result<String, String>;
    fn run<R: ReverseMap>(self, rmap: R) -> Self::Out {
        let mut buf = Vec::new();
        let cfg = Config {
            integrity: false,
            ..Config::default()
        };
        replay(self.text, self.name, rmap, cfg, &mut buf).map_err(|e| e.to_string())?;
        Ok(comparable(&String::from_utf8_lossy(&buf)))
    }
}

/// Run `text` on the model with `backend` and on the live kernel.
pub fn compare(text: &str, name: &str, backend: &str) -> Result<Comparison, String> {
    let model = backends::with_backend(backend, ModelRun { text, name })??;
    let mut buf = Vec::new();
    kernel_run(text, name, &mut buf).map_err(|e| e.to_string())?;
    Ok(Comparison {
        model,
        kernel: String::from_utf8_lossy(&buf).into_owned(),
    })
}
