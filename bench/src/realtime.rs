//! `realtime`: every connection behaves like a player. It asks for a song's manifest, fetches
//! segment 0, starts "playing" when it arrives, and from then on requests each next segment one at a
//! time once less than [`READ_AHEAD_SECONDS`] of audio is buffered, as the client does. A segment
//! that arrives after its play time is an underrun; the player then stalls, as a real one would, so
//! one late segment is counted once, not again for every segment after it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::time::{sleep_until, Instant};

use crate::conn::Failure;
use crate::load::{manifests, run, segment_seconds, thread_runtime};
use crate::stats::{ConnStats, Percentiles};

/// Audio kept buffered ahead of the play position: the client's read-ahead.
pub const READ_AHEAD_SECONDS: f64 = 6.0;

/// Read buffer per connection: one DATA frame. Thousands of mostly idle connections keep it small.
const BUF_SIZE: usize = 16 * 1024 + 64;

/// Players start spread over this much time (at most a quarter of the run), as listeners do,
/// instead of all asking for their first segment in the same millisecond.
const RAMP: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize)]
pub struct Report {
    pub mode: &'static str,
    pub clients: u64,
    pub failed: u64,
    pub underruns: u64,
    pub seconds: f64,
    pub segments: u64,
    pub bytes: u64,
    pub latency: Percentiles,
    pub failures: Vec<String>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "realtime: {} clients, {} underruns, {} segments ({:.1} MB) in {:.1} s, segment latency {}, {} failed",
            self.clients,
            self.underruns,
            self.segments,
            self.bytes as f64 / 1e6,
            self.seconds,
            self.latency,
            self.failed
        )?;
        for failure in &self.failures {
            write!(f, "\n  failure: {failure}")?;
        }
        Ok(())
    }
}

/// Runs the players on `threads` threads; see [`crate::load::run`].
pub fn realtime(
    addr: SocketAddr,
    clients: usize,
    duration: Duration,
    song: Option<u64>,
    threads: usize,
) -> Result<Report, Failure> {
    let manifests = thread_runtime()?.block_on(manifests(addr))?;
    let playable: Arc<Vec<usize>> = Arc::new(
        (0..manifests.len())
            .filter(|&i| !manifests[i].segments.is_empty())
            .filter(|&i| song.is_none_or(|id| manifests[i].id == id))
            .collect(),
    );
    if playable.is_empty() {
        return Err(Failure("no playable song matches --song".into()));
    }
    let ramp = RAMP.min(duration / 4);
    let (totals, seconds) = run(addr, clients, BUF_SIZE, threads, move |index, mut conn| {
        let manifests = manifests.clone();
        let playable = playable.clone();
        async move {
            let mut stats = ConnStats::default();
            let start = Instant::now();
            let deadline = start + duration;
            let offset = ramp.mul_f64(index as f64 / clients.max(1) as f64);
            sleep_until(start + offset).await;
            let mut song_no = index;
            'songs: while Instant::now() < deadline {
                let manifest = &manifests[playable[song_no % playable.len()]];
                song_no += 1;
                if let Err(e) = conn.manifest(manifest.id).await {
                    stats.failure = Some(e.0);
                    break;
                }
                // Play position 0 of this song is at `playing_from`, once segment 0 is in.
                let mut playing_from: Option<Instant> = None;
                let mut fetched = 0.0;
                for (index, info) in manifest.segments.iter().enumerate() {
                    let length = segment_seconds(manifest, index);
                    if let Some(t0) = playing_from {
                        let ask_at = t0 + secs(fetched + length - READ_AHEAD_SECONDS);
                        if ask_at >= deadline {
                            // Stay connected to the end, as a listener would.
                            sleep_until(deadline).await;
                            break 'songs;
                        }
                        sleep_until(ask_at).await;
                    }
                    let asked = Instant::now();
                    match conn.segment(manifest.id, info.index, |_| {}).await {
                        Ok(len) if len == info.bytes as usize => {
                            stats.segments += 1;
                            stats.bytes += len as u64;
                        }
                        Ok(len) => {
                            stats.failure = Some(format!(
                                "segment {index} of song {}: {len} bytes, manifest says {}",
                                manifest.id, info.bytes
                            ));
                            break 'songs;
                        }
                        Err(e) => {
                            stats.failure = Some(e.0);
                            break 'songs;
                        }
                    }
                    let arrived = Instant::now();
                    stats.latency.record(arrived - asked);
                    match playing_from {
                        None => playing_from = Some(arrived),
                        Some(t0) => {
                            let due = t0 + secs(fetched);
                            if arrived > due {
                                stats.underruns += 1;
                                playing_from = Some(t0 + (arrived - due));
                            }
                        }
                    }
                    fetched += length;
                }
                // The rest of the song plays out before the next one is asked for.
                if let Some(t0) = playing_from {
                    let end = t0 + secs(fetched);
                    if end >= deadline {
                        sleep_until(deadline).await;
                        break;
                    }
                    sleep_until(end).await;
                }
            }
            stats
        }
    })?;
    Ok(Report {
        mode: "realtime",
        clients: totals.connections,
        failed: totals.failed,
        underruns: totals.underruns,
        seconds,
        segments: totals.segments,
        bytes: totals.bytes,
        latency: totals.latency.summary(),
        failures: totals.failures,
    })
}

fn secs(seconds: f64) -> Duration {
    Duration::from_secs_f64(seconds.max(0.0))
}
