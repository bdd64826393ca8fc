//! `throughput`: every connection asks for the next segment as soon as the last one has arrived,
//! one request outstanding at a time (as wrk does with HTTP keep-alive), for a fixed time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::conn::Failure;
use crate::load::{all_segments, manifests, run, thread_runtime, Dial};
use crate::stats::{ConnStats, Percentiles};

/// Read buffer per connection: a few DATA frames per read, so a 32 KB segment takes one or two.
const BUF_SIZE: usize = 64 * 1024;

#[derive(Debug, Serialize)]
pub struct Report {
    pub mode: &'static str,
    pub clients: u64,
    pub failed: u64,
    pub seconds: f64,
    pub segments: u64,
    pub bytes: u64,
    pub segments_per_sec: f64,
    pub mb_per_sec: f64,
    pub latency: Percentiles,
    pub failures: Vec<String>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "throughput: {} clients, {:.0} segments/s, {:.1} MB/s, latency {}, {} failed",
            self.clients, self.segments_per_sec, self.mb_per_sec, self.latency, self.failed
        )?;
        for failure in &self.failures {
            write!(f, "\n  failure: {failure}")?;
        }
        Ok(())
    }
}

/// Which segments the connections ask for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Selection {
    /// Only this song's segments.
    pub song: Option<u64>,
    /// Only the segment with this index (of every selected song).
    pub segment: Option<u32>,
}

/// Runs the load on `threads` threads; see [`crate::load::run`].
pub fn throughput(
    addr: SocketAddr,
    clients: usize,
    duration: Duration,
    selection: Selection,
    threads: usize,
) -> Result<Report, Failure> {
    let manifests = thread_runtime()?.block_on(manifests(addr))?;
    let plan: Vec<_> = all_segments(&manifests)
        .into_iter()
        .filter(|&(song, index, _)| {
            selection.song.is_none_or(|s| s == song) && selection.segment.is_none_or(|i| i == index)
        })
        .collect();
    if plan.is_empty() {
        return Err(Failure(
            "no segment of the server matches --song/--segment".into(),
        ));
    }
    let plan = Arc::new(plan);
    let dial = Arc::new(Dial::new(addr, BUF_SIZE));
    let (totals, seconds) = run(dial, clients, threads, move |index, mut conn| {
        let plan = plan.clone();
        async move {
            let mut stats = ConnStats::default();
            let deadline = Instant::now() + duration;
            // Connections start at different places so they do not all want the same segment.
            let mut next = index.wrapping_mul(7919) % plan.len();
            while Instant::now() < deadline {
                let (song, segment, expected) = plan[next];
                next = (next + 1) % plan.len();
                let asked = Instant::now();
                match conn.segment(song, segment, |_| {}).await {
                    Ok(len) if len == expected => {
                        stats.latency.record(asked.elapsed());
                        stats.segments += 1;
                        stats.bytes += len as u64;
                    }
                    Ok(len) => {
                        stats.failure = Some(format!(
                            "segment {segment} of song {song}: {len} bytes, manifest says {expected}"
                        ));
                        break;
                    }
                    Err(e) => {
                        stats.failure = Some(e.0);
                        break;
                    }
                }
            }
            stats
        }
    })?;
    Ok(Report {
        mode: "throughput",
        clients: totals.connections,
        failed: totals.failed,
        seconds,
        segments: totals.segments,
        bytes: totals.bytes,
        segments_per_sec: totals.segments as f64 / seconds,
        mb_per_sec: totals.bytes as f64 / seconds / 1e6,
        latency: totals.latency.summary(),
        failures: totals.failures,
    })
}
