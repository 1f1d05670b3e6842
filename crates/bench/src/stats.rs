//! Latency histograms (hdrhistogram, microsecond resolution), their summaries, and error
//! tallies.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// The longest latency a histogram records exactly; longer ones are clamped to it.
const HIGHEST_MICROS: u64 = 60_000_000;

/// A latency histogram.
#[derive(Debug, Clone)]
pub struct Latencies {
    histogram: Histogram<u64>,
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    /// An empty histogram covering 1 µs to 60 s with three significant digits.
    pub fn new() -> Self {
        // The bounds are constants that hdrhistogram accepts (low >= 1, high >= 2 * low,
        // sigfig <= 5), so this cannot fail.
        #[allow(clippy::expect_used)]
        let histogram = Histogram::new_with_bounds(1, HIGHEST_MICROS, 3)
            .expect("constant histogram bounds are valid");
        Self { histogram }
    }

    /// Records one latency.
    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(1, HIGHEST_MICROS);
        self.histogram.saturating_record(micros);
    }

    /// Adds every latency of `other`.
    pub fn merge(&mut self, other: &Self) {
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.histogram.add(&other.histogram);
    }

    /// How many latencies were recorded.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The summary of what was recorded (all zero when nothing was).
    pub fn summary(&self) -> Summary {
        let h = &self.histogram;
        let ms = |micros: u64| micros as f64 / 1000.0;
        if h.is_empty() {
            return Summary::default();
        }
        Summary {
            count: h.len(),
            min_ms: ms(h.min()),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

/// Percentiles of a latency histogram, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    /// How many latencies were recorded.
    pub count: u64,
    /// The smallest.
    pub min_ms: f64,
    /// The mean.
    pub mean_ms: f64,
    /// The median.
    pub p50_ms: f64,
    /// The 90th percentile.
    pub p90_ms: f64,
    /// The 99th percentile.
    pub p99_ms: f64,
    /// The 99.9th percentile.
    pub p999_ms: f64,
    /// The largest.
    pub max_ms: f64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "n={} min={:.2} p50={:.2} p90={:.2} p99={:.2} p99.9={:.2} max={:.2} mean={:.2} (ms)",
            self.count,
            self.min_ms,
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.p999_ms,
            self.max_ms,
            self.mean_ms
        )
    }
}

/// Errors counted by kind (a GraphQL code, `HTTP 502`, `timeout`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ErrorTally {
    by_kind: BTreeMap<String, u64>,
}

impl ErrorTally {
    /// Counts one error of `kind`.
    pub fn add(&mut self, kind: impl Into<String>) {
        self.add_many(kind, 1);
    }

    /// Counts `n` errors of `kind` (nothing when `n` is zero).
    pub fn add_many(&mut self, kind: impl Into<String>, n: u64) {
        if n > 0 {
            *self.by_kind.entry(kind.into()).or_default() += n;
        }
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &Self) {
        for (kind, n) in &other.by_kind {
            self.add_many(kind.clone(), *n);
        }
    }

    /// All errors together.
    pub fn total(&self) -> u64 {
        self.by_kind.values().sum()
    }
}

impl fmt::Display for ErrorTally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.by_kind.is_empty() {
            return f.write_str("none");
        }
        let parts: Vec<String> = self
            .by_kind
            .iter()
            .map(|(kind, n)| format!("{kind}: {n}"))
            .collect();
        f.write_str(&parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_what_was_recorded() {
        let mut latencies = Latencies::new();
        for ms in 1..=100 {
            latencies.record(Duration::from_millis(ms));
        }
        let summary = latencies.summary();
        assert_eq!(summary.count, 100);
        assert!((summary.p50_ms - 50.0).abs() < 0.1, "{summary}");
        assert!((summary.p99_ms - 99.0).abs() < 0.1, "{summary}");
        assert!((summary.max_ms - 100.0).abs() < 0.1, "{summary}");
        assert!((summary.min_ms - 1.0).abs() < 0.01, "{summary}");
    }

    #[test]
    fn an_empty_histogram_summarises_to_zero_and_merging_adds() {
        let mut all = Latencies::new();
        assert_eq!(all.summary(), Summary::default());
        let mut one = Latencies::new();
        one.record(Duration::from_secs(3600));
        all.merge(&one);
        assert_eq!(all.count(), 1);
        assert!((all.summary().max_ms - 60_000.0).abs() < 60.0);
    }

    #[test]
    fn errors_are_counted_by_kind() {
        let mut tally = ErrorTally::default();
        assert_eq!(tally.to_string(), "none");
        tally.add("timeout");
        tally.add_many("HTTP 502", 2);
        tally.add_many("ignored", 0);
        let mut other = ErrorTally::default();
        other.add("timeout");
        tally.merge(&other);
        assert_eq!(tally.total(), 4);
        assert_eq!(tally.to_string(), "HTTP 502: 2, timeout: 2");
    }
}
