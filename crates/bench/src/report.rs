//! The JSON result file: which benchmark ran, with which parameters, when, against what, and
//! its figures and errors.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::stats::ErrorTally;

/// The result of one benchmark run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `area/benchmark`, e.g. `realtime/notify-latency`.
    pub benchmark: String,
    /// The command-line arguments of the run.
    pub parameters: Value,
    /// When the measured part started.
    pub started_at: DateTime<Utc>,
    /// How long the measured part took, in seconds.
    pub measured_secs: f64,
    /// The figures, by name (latency summaries, rates, bytes...).
    pub figures: Value,
    /// All errors together; a run with errors exits with a failure status.
    pub errors: u64,
    /// The errors by kind.
    pub error_kinds: ErrorTally,
    /// The tool's version.
    pub tool_version: &'static str,
}

impl Report {
    /// A report of `benchmark` run with `parameters`.
    pub fn new(
        benchmark: &str,
        parameters: &impl Serialize,
        started_at: DateTime<Utc>,
        measured_secs: f64,
        figures: Value,
        error_kinds: ErrorTally,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            benchmark: benchmark.to_owned(),
            parameters: serde_json::to_value(parameters)?,
            started_at,
            measured_secs,
            figures,
            errors: error_kinds.total(),
            error_kinds,
            tool_version: env!("CARGO_PKG_VERSION"),
        })
    }

    /// Writes the report as pretty JSON to `path`.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        std::fs::write(path, text)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_report_round_trips_through_its_file() -> anyhow::Result<()> {
        let mut errors = ErrorTally::default();
        errors.add("timeout");
        let report = Report::new(
            "realtime/test",
            &json!({"rate": 5}),
            Utc::now(),
            1.5,
            json!({"latency": {"p99_ms": 2.0}}),
            errors,
        )?;
        let dir = std::env::temp_dir().join(format!("amity-bench-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("result.json");
        report.write(&path)?;
        let read: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
        std::fs::remove_dir_all(&dir)?;
        assert_eq!(read["benchmark"], "realtime/test");
        assert_eq!(read["parameters"]["rate"], 5);
        assert_eq!(read["errors"], 1);
        assert_eq!(read["error_kinds"]["timeout"], 1);
        assert_eq!(read["figures"]["latency"]["p99_ms"], 2.0);
        Ok(())
    }
}
