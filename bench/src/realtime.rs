//! `realtime`: every connection behaves like a player. It asks for a song's manifest, fetches
//! segment 0, starts "playing" when it arrives, and from then on requests each next segment one at a
//! time once less than [`READ_AHEAD_SECONDS`] of audio is buffered, as the client does. A segment
//! that arrives after its play time is an underrun; the player then stalls, as a real one would, so
//! one late segment is counted once, not again for every segment after it.
//!
//! A player whose server goes away (GOAWAY) or whose connection is lost carries on over a new
//! connection to the same address, as the client does ([`crate::link`]); only a player that cannot
//! (no new connection within the patience, another catalog, a protocol error) counts as failed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use jukebox_protocol::Manifest;
use serde::Serialize;
use tokio::time::Instant;

use crate::conn::Failure;
use crate::link::Link;
use crate::load::{catalog, run, segment_seconds, thread_runtime, Dial};
use crate::stats::{ConnStats, Moves, Percentiles};

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
    /// How players got through their connections going away.
    pub moves: Moves,
    pub failures: Vec<String>,
    /// A few distinct reasons of failed attempts to reconnect (each retried).
    pub reconnect_failures: Vec<String>,
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
        let m = &self.moves;
        if m.reconnects + m.goaways + m.lost + m.failed_attempts > 0 {
            write!(
                f,
                "\n  reconnects: {} ({} on GOAWAY, {} lost connections, {} failed attempts, {} to another catalog), longest {:.1} ms; {} resumed mid-song",
                m.reconnects,
                m.goaways,
                m.lost,
                m.failed_attempts,
                m.catalog_changes,
                m.longest_reconnect_ms,
                m.resumed
            )?;
            if let Some(least) = m.least_buffered_on_resume_s {
                write!(f, ", at least {least:.2} s of audio still buffered")?;
            }
        }
        for failure in &self.failures {
            write!(f, "\n  failure: {failure}")?;
        }
        for failure in &self.reconnect_failures {
            write!(f, "\n  failed attempt to reconnect (retried): {failure}")?;
        }
        Ok(())
    }
}

/// Runs the players on `threads` threads; see [`crate::load::run`]. Player `i` connects from
/// `sources[i % sources.len()]` (none given: the system's choice).
pub fn realtime(
    addr: SocketAddr,
    sources: Vec<std::net::IpAddr>,
    clients: usize,
    duration: Duration,
    song: Option<u64>,
    threads: usize,
) -> Result<Report, Failure> {
    let (catalog, manifests) = thread_runtime()?.block_on(catalog(addr))?;
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
    let dial = Arc::new(Dial {
        sources,
        ..Dial::new(addr, BUF_SIZE)
    });
    let players = dial.clone();
    let (totals, seconds) = run(dial, clients, threads, move |index, conn| {
        let manifests = manifests.clone();
        let playable = playable.clone();
        let mut link = Link::new(players.clone(), index, conn, catalog.clone());
        async move {
            let mut stats = ConnStats::default();
            let start = Instant::now();
            let plan = Plan {
                deadline: start + duration,
                start: start + ramp.mul_f64(index as f64 / clients.max(1) as f64),
                first_song: index,
            };
            if let Err(e) = play(&mut link, &manifests, &playable, &plan, &mut stats).await {
                stats.failure = Some(e.0);
            }
            stats.moves = link.moves;
            stats.attempt_failure = link.attempt_failure.take();
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
        moves: totals.moves,
        failures: totals.failures,
        reconnect_failures: totals.attempt_failures,
    })
}

/// When one player starts and stops, and which song it plays first.
struct Plan {
    start: Instant,
    deadline: Instant,
    first_song: usize,
}

/// One player: songs in turn, each at real-time pace, until the deadline.
async fn play(
    link: &mut Link,
    manifests: &[Manifest],
    playable: &[usize],
    plan: &Plan,
    stats: &mut ConnStats,
) -> Result<(), Failure> {
    link.idle_until(plan.start, None).await?;
    let mut song_no = plan.first_song;
    while Instant::now() < plan.deadline {
        let manifest = &manifests[playable[song_no % playable.len()]];
        song_no += 1;
        if link.manifest(manifest.id).await? != *manifest {
            return Err(Failure(format!(
                "song {}: the manifest is not the one the run started with",
                manifest.id
            )));
        }
        // Play position 0 of this song is at `playing_from`, once segment 0 is in.
        let mut playing_from: Option<Instant> = None;
        let mut fetched = 0.0;
        for (index, info) in manifest.segments.iter().enumerate() {
            let length = segment_seconds(manifest, index);
            if let Some(t0) = playing_from {
                let ask_at = t0 + secs(fetched + length - READ_AHEAD_SECONDS);
                if ask_at >= plan.deadline {
                    // Stay connected to the end, as a listener would.
                    return link.idle_until(plan.deadline, Some(manifest)).await;
                }
                link.idle_until(ask_at, Some(manifest)).await?;
            }
            let asked = Instant::now();
            let len = link.segment(manifest, info.index).await?;
            if len != info.bytes as usize {
                return Err(Failure(format!(
                    "segment {index} of song {}: {len} bytes, manifest says {}",
                    manifest.id, info.bytes
                )));
            }
            stats.segments += 1;
            stats.bytes += len as u64;
            let arrived = Instant::now();
            stats.latency.record(arrived - asked);
            let resumed = link.take_resumed();
            match playing_from {
                None => playing_from = Some(arrived),
                Some(t0) => {
                    let due = t0 + secs(fetched);
                    if resumed {
                        let ahead = due.saturating_duration_since(arrived).as_secs_f64()
                            - arrived.saturating_duration_since(due).as_secs_f64();
                        link.moves.resume(ahead);
                    }
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
            if end >= plan.deadline {
                return link.idle_until(plan.deadline, Some(manifest)).await;
            }
            link.idle_until(end, Some(manifest)).await?;
        }
    }
    Ok(())
}

fn secs(seconds: f64) -> Duration {
    Duration::from_secs_f64(seconds.max(0.0))
}
