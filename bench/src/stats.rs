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

/// How players got through their connections going away (see [`crate::link`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize)]
pub struct Moves {
    /// New connections opened in place of one that went away or was lost.
    pub reconnects: u64,
    /// Connections left on the server's GOAWAY.
    pub goaways: u64,
    /// Connections lost (closed, reset, silent, or ended by an ERROR with request ID 0).
    pub lost: u64,
    /// Connection attempts that failed while reconnecting (then retried after a backoff).
    pub failed_attempts: u64,
    /// New connections whose WELCOME named another catalog, on which the song played on.
    pub catalog_changes: u64,
    /// Longest time from a connection going away or being lost to a new one's WELCOME, ms.
    pub longest_reconnect_ms: f64,
    /// Segments that arrived on a new connection while their song played.
    pub resumed: u64,
    /// Of those, the least audio still buffered when the segment arrived, in seconds (negative:
    /// the player had run dry, an underrun). `None` when nothing resumed mid-song.
    pub least_buffered_on_resume_s: Option<f64>,
}

impl Moves {
    pub fn merge(&mut self, other: &Moves) {
        self.reconnects += other.reconnects;
        self.goaways += other.goaways;
        self.lost += other.lost;
        self.failed_attempts += other.failed_attempts;
        self.catalog_changes += other.catalog_changes;
        self.longest_reconnect_ms = self.longest_reconnect_ms.max(other.longest_reconnect_ms);
        self.resumed += other.resumed;
        self.least_buffered_on_resume_s = match (
            self.least_buffered_on_resume_s,
            other.least_buffered_on_resume_s,
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    /// Notes a segment that arrived on a new connection with `buffered` seconds of audio left.
    pub fn resume(&mut self, buffered: f64) {
        self.resumed += 1;
        self.least_buffered_on_resume_s = Some(
            self.least_buffered_on_resume_s
                .map_or(buffered, |least| least.min(buffered)),
        );
    }
}

/// What one connection of a load run did.
#[derive(Default)]
pub struct ConnStats {
    pub segments: u64,
    pub bytes: u64,
    pub underruns: u64,
    pub latency: Latencies,
    pub moves: Moves,
    /// Why the connection failed, if it did.
    pub failure: Option<String>,
    /// Why its last failed attempt to reconnect failed, if one did.
    pub attempt_failure: Option<String>,
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
    pub moves: Moves,
    /// The first few distinct failure messages, for the report.
    pub failures: Vec<String>,
    /// The first few distinct reasons of failed attempts to reconnect.
    pub attempt_failures: Vec<String>,
}

/// Adds `message` to the few distinct ones kept for a report.
fn keep(few: &mut Vec<String>, message: &str) {
    if few.len() < 5 && !few.iter().any(|m| m == message) {
        few.push(message.to_string());
    }
}

impl Totals {
    pub fn add(&mut self, conn: &ConnStats) {
        self.connections += 1;
        self.segments += conn.segments;
        self.bytes += conn.bytes;
        self.underruns += conn.underruns;
        self.latency.merge(&conn.latency);
        self.moves.merge(&conn.moves);
        if let Some(failure) = &conn.failure {
            self.failed += 1;
            keep(&mut self.failures, failure);
        }
        if let Some(failure) = &conn.attempt_failure {
            keep(&mut self.attempt_failures, failure);
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
        self.moves.merge(&other.moves);
        for failure in &other.failures {
            keep(&mut self.failures, failure);
        }
        for failure in &other.attempt_failures {
            keep(&mut self.attempt_failures, failure);
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

    #[test]
    fn moves_add_up_and_keep_the_least_buffered_resume() {
        let mut a = Moves {
            reconnects: 2,
            longest_reconnect_ms: 5.0,
            ..Moves::default()
        };
        a.resume(4.5);
        a.resume(3.0);
        let mut b = Moves {
            reconnects: 1,
            lost: 1,
            longest_reconnect_ms: 9.0,
            ..Moves::default()
        };
        b.resume(-0.5);
        let mut totals = Totals::default();
        totals.add(&ConnStats {
            moves: a,
            ..ConnStats::default()
        });
        assert_eq!(totals.moves.least_buffered_on_resume_s, Some(3.0));
        totals.add(&ConnStats {
            moves: b,
            ..ConnStats::default()
        });
        totals.add(&ConnStats::default());
        let m = totals.moves;
        assert_eq!((m.reconnects, m.lost, m.resumed), (3, 1, 3));
        assert_eq!(m.longest_reconnect_ms, 9.0);
        assert_eq!(m.least_buffered_on_resume_s, Some(-0.5));
    }
}
