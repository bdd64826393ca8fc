//! `latency`: what a listener feels, over one connection each.
//! - play: GET_MANIFEST, then GET_SEGMENT 0, verified and decoded to its first PCM;
//! - switch: while a song streams, CANCEL its requests and play another, to the new song's first PCM;
//! - seek: while a song streams, CANCEL its requests and fetch the segments a seek to a place in
//!   the song needs (the client's plan: `jukebox_client::player::window`), verify them and decode
//!   from the warm-up frames to the first sample at the target;
//! - list: LIST round trips while the same connection keeps a long transfer going (the server's
//!   full queue of segment requests, refilled as each completes).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use jukebox_protocol::{Frame, Manifest, Message, Piece};
use serde::Serialize;
use tokio::time::{sleep_until, Instant};

use crate::conn::{unexpected, Conn, Failure, Flow, Result};
use crate::decode::{first_pcm, seek_pcm, verify};
use crate::load::manifests;
use crate::stats::{Latencies, Percentiles};
use crate::wire::Request;
use jukebox_client::player::window;

/// Segment requests kept queued during the list probe: the server's per-connection limit.
const QUEUED: usize = 16;
/// Segments of the old song requested before a switch, so that one is mid-transfer.
const PLAYING_AHEAD: usize = 4;

#[derive(Debug, Serialize)]
pub struct Report {
    pub mode: &'static str,
    pub play_to_first_audio: Percentiles,
    pub switch_to_first_audio: Percentiles,
    pub seek_to_first_audio: Percentiles,
    pub list_during_transfer: Percentiles,
    /// Bytes of DATA received by the list probe while it ran, per second.
    pub transfer_mb_per_sec: f64,
    pub failed: u64,
    pub failures: Vec<String>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "latency: play->audio {}; switch->audio {}; seek->audio {}; list during transfer {} ({:.1} MB/s streaming); {} failed",
            self.play_to_first_audio,
            self.switch_to_first_audio,
            self.seek_to_first_audio,
            self.list_during_transfer,
            self.transfer_mb_per_sec,
            self.failed
        )?;
        for failure in &self.failures {
            write!(f, "\n  failure: {failure}")?;
        }
        Ok(())
    }
}

pub struct Options {
    pub trials: usize,
    pub duration: Duration,
    pub list_interval: Duration,
}

pub async fn latency(addr: SocketAddr, options: Options) -> Result<Report> {
    let manifests = manifests(addr).await?;
    let mut failures = Vec::new();
    let play = run_probe(&mut failures, play_trials(addr, &manifests, options.trials)).await;
    let switch = run_probe(
        &mut failures,
        switch_trials(addr, &manifests, options.trials),
    )
    .await;
    let seek = run_probe(&mut failures, seek_trials(addr, &manifests, options.trials)).await;
    let mut streamed = 0;
    let list = run_probe(
        &mut failures,
        list_probe(addr, &manifests, &options, &mut streamed),
    )
    .await;
    Ok(Report {
        mode: "latency",
        play_to_first_audio: play.summary(),
        switch_to_first_audio: switch.summary(),
        seek_to_first_audio: seek.summary(),
        list_during_transfer: list.summary(),
        transfer_mb_per_sec: streamed as f64 / options.duration.as_secs_f64() / 1e6,
        failed: failures.len() as u64,
        failures,
    })
}

async fn run_probe(
    failures: &mut Vec<String>,
    probe: impl std::future::Future<Output = (Latencies, Option<Failure>)>,
) -> Latencies {
    let (latencies, failure) = probe.await;
    if let Some(failure) = failure {
        failures.push(failure.0);
    }
    latencies
}

fn playable(manifests: &Arc<Vec<Manifest>>) -> Vec<&Manifest> {
    manifests
        .iter()
        .filter(|m| !m.segments.is_empty())
        .collect()
}

/// Runs `trials` trials in turn over one connection, each timing itself: the latencies, and the
/// failure that ended them early, if one did.
async fn run_trials(
    addr: SocketAddr,
    trials: usize,
    mut trial: impl AsyncFnMut(&mut Conn, usize) -> Result<Duration>,
) -> (Latencies, Option<Failure>) {
    let mut latencies = Latencies::default();
    let result = async {
        let mut conn = Conn::open(addr, 64 * 1024).await?;
        for n in 0..trials {
            latencies.record(trial(&mut conn, n).await?);
        }
        Ok::<(), Failure>(())
    }
    .await;
    (latencies, result.err())
}

/// Plays songs in turn, from the request for the manifest to decoded audio.
async fn play_trials(
    addr: SocketAddr,
    manifests: &Arc<Vec<Manifest>>,
    trials: usize,
) -> (Latencies, Option<Failure>) {
    let songs = playable(manifests);
    run_trials(addr, trials, async |conn, trial| {
        let song = songs[trial % songs.len()].id;
        let started = Instant::now();
        let manifest = conn.manifest(song).await?;
        let mut bytes = Vec::new();
        conn.segment(song, 0, |b| bytes.extend_from_slice(b))
            .await?;
        verify(&bytes, &manifest.segments[0].sha256)?;
        first_pcm(bytes)?;
        Ok(started.elapsed())
    })
    .await
}

/// Starts `song` as a player does: its first [`PLAYING_AHEAD`] segments requested, until the
/// first DATA frame arrives. Returns the requests, to cancel.
async fn start_streaming(conn: &mut Conn, song: &Manifest) -> Result<Vec<u32>> {
    let mut ids = Vec::new();
    for index in 0..song.segments.len().min(PLAYING_AHEAD) {
        let id = conn.id();
        conn.send(&Request::get_segment(id, song.id, index as u32))
            .await?;
        ids.push(id);
    }
    conn.read_until(|piece| match piece {
        Piece::Data { request_id, .. } if ids.contains(&request_id) => Ok(Flow::Done),
        other => Err(unexpected(&other)),
    })
    .await?;
    Ok(ids)
}

/// Sends CANCEL for each of `ids`.
async fn cancel(conn: &mut Conn, ids: &[u32]) -> Result<()> {
    for &id in ids {
        conn.send(&Request::cancel(id)).await?;
    }
    Ok(())
}

/// Starts a song (several segments requested, one arriving), then switches to the next song:
/// CANCEL every request of the old one, GET_MANIFEST and GET_SEGMENT 0 of the new one, to decoded
/// audio. Frames of the old song that were already on their way are discarded, as the client does.
async fn switch_trials(
    addr: SocketAddr,
    manifests: &Arc<Vec<Manifest>>,
    trials: usize,
) -> (Latencies, Option<Failure>) {
    let songs = playable(manifests);
    run_trials(addr, trials, async |conn, trial| {
        let old = songs[trial % songs.len()];
        let new = songs[(trial + 1) % songs.len()].id;
        let old_ids = start_streaming(conn, old).await?;
        let started = Instant::now();
        cancel(conn, &old_ids).await?;
        let manifest_id = conn.id();
        conn.send(&Request::get_manifest(manifest_id, new)).await?;
        let mut json = Bytes::new();
        conn.read_until(|piece| match piece {
            Piece::Data { request_id, .. } if old_ids.contains(&request_id) => Ok(Flow::More),
            Piece::Frame(Frame {
                request_id,
                message: Message::Manifest(manifest),
            }) if request_id == manifest_id => {
                json = manifest;
                Ok(Flow::Done)
            }
            other => Err(unexpected(&other)),
        })
        .await?;
        let manifest = Manifest::from_json(&json)
            .map_err(|e| Failure(format!("bad manifest of song {new}: {e}")))?;
        let segment_id = conn.id();
        conn.send(&Request::get_segment(segment_id, new, 0)).await?;
        let mut bytes = Vec::new();
        conn.read_until(|piece| match piece {
            Piece::Data { request_id, .. } if old_ids.contains(&request_id) => Ok(Flow::More),
            Piece::Data {
                request_id,
                bytes: b,
                end,
            } if request_id == segment_id => {
                bytes.extend_from_slice(b);
                Ok(if end { Flow::Done } else { Flow::More })
            }
            other => Err(unexpected(&other)),
        })
        .await?;
        verify(&bytes, &manifest.segments[0].sha256)?;
        first_pcm(bytes)?;
        Ok(started.elapsed())
    })
    .await
}

/// A place in the song for trial `trial`: spread over the song, never the same twice in a row.
fn seek_target(trial: usize, song_samples: u64) -> u64 {
    (trial as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) % song_samples.max(1)
}

/// Streams a song (several segments requested, one arriving), then seeks it: CANCEL every
/// request, GET_SEGMENT the segments from the one holding the first warm-up frame to the one
/// holding the target, verify them, and decode (the warm-up frames only) to the first sample at
/// the target, as the client does.
async fn seek_trials(
    addr: SocketAddr,
    manifests: &Arc<Vec<Manifest>>,
    trials: usize,
) -> (Latencies, Option<Failure>) {
    let songs = playable(manifests);
    run_trials(addr, trials, async |conn, trial| {
        let song = songs[trial % songs.len()];
        let old_ids = start_streaming(conn, song).await?;
        let target = seek_target(trial, window::song_samples(song));
        let started = Instant::now();
        cancel(conn, &old_ids).await?;
        let plan = window::Window::new(song, target);
        let target_frame = plan.keep_from / plan.samples_per_frame;
        // The segments from the plan's first to the one holding the target frame.
        let mut last = plan.first_segment;
        let mut frame = plan.first_frame;
        for (i, segment) in song.segments.iter().enumerate().skip(plan.first_segment) {
            last = i;
            frame += u64::from(segment.frames);
            if frame > target_frame {
                break;
            }
        }
        let mut ids = Vec::new();
        for index in plan.first_segment..=last {
            let id = conn.id();
            conn.send(&Request::get_segment(id, song.id, index as u32))
                .await?;
            ids.push(id);
        }
        let mut parts: Vec<Vec<u8>> = vec![Vec::new(); ids.len()];
        let mut done = 0;
        conn.read_until(|piece| match piece {
            Piece::Data { request_id, .. } if old_ids.contains(&request_id) => Ok(Flow::More),
            Piece::Data {
                request_id,
                bytes,
                end,
            } if ids.contains(&request_id) => {
                let at = ids.iter().position(|&id| id == request_id).expect("listed");
                parts[at].extend_from_slice(bytes);
                done += usize::from(end);
                Ok(if done == ids.len() {
                    Flow::Done
                } else {
                    Flow::More
                })
            }
            other => Err(unexpected(&other)),
        })
        .await?;
        for (part, index) in parts.iter().zip(plan.first_segment..) {
            verify(part, &song.segments[index].sha256)?;
        }
        seek_pcm(parts.concat(), &plan)?;
        Ok(started.elapsed())
    })
    .await
}

/// Keeps [`QUEUED`] segment requests of the longest song outstanding, refilling as each ends, and
/// sends a LIST every `list_interval`, timing each until its CATALOG arrives.
async fn list_probe(
    addr: SocketAddr,
    manifests: &Arc<Vec<Manifest>>,
    options: &Options,
    streamed: &mut u64,
) -> (Latencies, Option<Failure>) {
    let mut latencies = Latencies::default();
    let giant = playable(manifests)
        .into_iter()
        .max_by_key(|m| m.segments.iter().map(|s| u64::from(s.bytes)).sum::<u64>())
        .expect("manifests() ensures a playable song");
    let result = async {
        let mut conn = Conn::open(addr, 64 * 1024).await?;
        let mut next_index = 0usize;
        let mut segment_ids = VecDeque::new();
        for _ in 0..QUEUED {
            let id = conn.id();
            conn.send(&Request::get_segment(
                id,
                giant.id,
                (next_index % giant.segments.len()) as u32,
            ))
            .await?;
            next_index += 1;
            segment_ids.push_back(id);
        }
        let started = Instant::now();
        let deadline = started + options.duration;
        let mut next_list = started + options.list_interval;
        let mut lists: VecDeque<(u32, Instant)> = VecDeque::new();
        while Instant::now() < deadline || !lists.is_empty() {
            tokio::select! {
                n = conn.read_some() => {
                    let n = n?;
                    let mut ended = 0;
                    let mut answered = Vec::new();
                    conn.walk(n, |piece| match piece {
                        Piece::Data { request_id, bytes, end } if segment_ids.front() == Some(&request_id) => {
                            *streamed += bytes.len() as u64;
                            if end {
                                segment_ids.pop_front();
                                ended += 1;
                            }
                            Ok(())
                        }
                        Piece::Frame(Frame { request_id, message: Message::Page(_) })
                            if lists.iter().any(|(id, _)| *id == request_id) => {
                            answered.push((request_id, Instant::now()));
                            Ok(())
                        }
                        other => Err(unexpected(&other)),
                    })?;
                    for (id, at) in answered {
                        if let Some(pos) = lists.iter().position(|(l, _)| *l == id) {
                            let (_, sent) = lists.remove(pos).expect("position is in range");
                            latencies.record(at - sent);
                        }
                    }
                    for _ in 0..ended {
                        let id = conn.id();
                        let index = (next_index % giant.segments.len()) as u32;
                        next_index += 1;
                        conn.send(&Request::get_segment(id, giant.id, index)).await?;
                        segment_ids.push_back(id);
                    }
                }
                () = sleep_until(next_list), if Instant::now() < deadline => {
                    let id = conn.id();
                    lists.push_back((id, Instant::now()));
                    conn.send(&Request::list(id, b"")).await?;
                    next_list += options.list_interval;
                }
            }
        }
        Ok::<(), Failure>(())
    }
    .await;
    (latencies, result.err())
}
