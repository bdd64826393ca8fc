//! Latency histograms and counters: each connection keeps its own and they are merged at the end,
//! so recording a sample never touches shared state.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latencies in microseconds, from 1 µs to 100 s at 3 significant digits.
pub struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        Latencies(Histogram::new_with_bounds(1, 100_000_000, 3).expect("valid histogram bounds"))
    }
}

impl Latencies {
    pub fn record(&mut self, latency: Duration) {
        self.0
            .saturating_record((latency.as_micros() as u64).clamp(1, 100_000_000));
    }

    pub fn merge(&mut self, other: &Latencies) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.0.add(&other.0);
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// p50, p90, p99, p99.9 and max in milliseconds.
    pub fn summary(&self) -> Percentiles {
        let ms = |q: f64| self.0.value_at_quantile(q) as f64 / 1000.0;
        Percentiles {
            count: self.count(),
            p50_ms: ms(0.5),
            p90_ms: ms(0.9),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: self.0.max() as f64 / 1000.0,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms (n={})",
            self.p50_ms, self.p99_ms, self.p999_ms, self.max_ms, self.count
        )
    }
}

/// What one connection of a load run did.
#[derive(Default)]
pub struct ConnStats {
    pub segments: u64,
    pub bytes: u64,
    pub underruns: u64,
    pub latency: Latencies,
    /// Why the connection failed, if it did.
    pub failure: Option<String>,
}

/// What all connections of a load run did together.
#[derive(Default)]
pub struct Totals {
    pub connections: u64,
    pub failed: u64,
    pub segments: u64,
    pub bytes: u64,
    pub underruns: u64,
    pub latency: Latencies,
    /// The first few distinct failure messages, for the report.
    pub failures: Vec<String>,
}

impl Totals {
    pub fn add(&mut self, conn: &ConnStats) {
        self.connections += 1;
        self.segments += conn.segments;
        self.bytes += conn.bytes;
        self.underruns += conn.underruns;
        self.latency.merge(&conn.latency);
        if let Some(failure) = &conn.failure {
            self.failed += 1;
            if self.failures.len() < 5 && !self.failures.contains(failure) {
                self.failures.push(failure.clone());
            }
        }
    }
}

impl Totals {
    /// Adds the totals of another load thread.
    pub fn merge(&mut self, other: Totals) {
        self.connections += other.connections;
        self.failed += other.failed;
        self.segments += other.segments;
        self.bytes += other.bytes;
        self.underruns += other.underruns;
        self.latency.merge(&other.latency);
        for failure in other.failures {
            if self.failures.len() < 5 && !self.failures.contains(&failure) {
                self.failures.push(failure);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_count_failures_and_merge_latencies() {
        let mut a = ConnStats {
            segments: 3,
            ..ConnStats::default()
        };
        a.latency.record(Duration::from_millis(1));
        let mut b = ConnStats::default();
        b.latency.record(Duration::from_millis(9));
        b.failure = Some("reset".into());
        let mut totals = Totals::default();
        totals.add(&a);
        totals.add(&b);
        assert_eq!(
            (totals.connections, totals.failed, totals.segments),
            (2, 1, 3)
        );
        assert_eq!(totals.failures, ["reset"]);
        let p = totals.latency.summary();
        assert_eq!(p.count, 2);
        assert!(p.max_ms >= 9.0 && p.p50_ms < 2.0, "{p:?}");
    }
}
