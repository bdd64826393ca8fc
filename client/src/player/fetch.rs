//! The fetcher: pulls a song's segments one request at a time, verifies each and hands it to the
//! decoder, as far ahead as [`ReadAhead`](super::ReadAhead) lets it. It ends when the song is
//! handed over or its play request is no longer live.
//!
//! A segment's deadline is judged against the read-ahead: it is due when the audio fetched
//! before it has played out (the status bar says "stalled" from then on), and it fails the song
//! if it has not arrived the client's timeout after that. Until then a lost connection is
//! replaced and the segment asked for again.
//!
//! A new connection may lead to another server (replicas behind one address). If its WELCOME
//! names another catalog than the one the song's manifest was checked against, the fetcher asks
//! that server for the manifest again before it asks for a segment: the same manifest means the
//! same segments, and the song plays on; another, or none, stops the song with an error that
//! says so, rather than play segments of another catalog.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use jukebox_protocol::{Manifest, SegmentInfo};
use tokio::sync::mpsc;

use super::request::PlayId;
use super::verify::segment_is_intact;
use crate::client::{short, Client};
use crate::connection::Connection;
use crate::error::{ClientError, Result};
use crate::output::PcmQueue;

pub struct FetchJob {
    /// Reconnects if the server closed the connection between two segments.
    pub client: Client,
    pub manifest: Arc<Manifest>,
    pub id: PlayId,
    pub queue: Arc<PcmQueue>,
    /// To the decoder; dropped when the song has been fetched or the request is over.
    pub segments: mpsc::Sender<Bytes>,
    /// Samples per channel fetched so far (in the song's rate) from the window's start, for the
    /// progress display.
    pub fetched_samples: Arc<AtomicU64>,
    /// The first segment to fetch.
    pub first_segment: usize,
    /// Samples fetched before the window's start (the warm-up of a seek, the encoder delay).
    pub lead_in: u64,
    /// The output's sample rate, which the queue's count of frames played is in.
    pub output_rate: u32,
    /// Set while the segment asked for is late: the audio before it has played out.
    pub late: Arc<AtomicBool>,
    /// The catalog (WELCOME's value) of the server the manifest came from.
    pub catalog: Arc<str>,
}

/// The pause before asking again after a failed reconnection.
const RETRY_PAUSE: Duration = Duration::from_millis(250);

impl FetchJob {
    /// How long the audio fetched so far lasts beyond what has been played.
    fn ahead(&self) -> Duration {
        let fetched = self.fetched_samples.load(Ordering::Relaxed) as f64
            / f64::from(self.manifest.sample_rate.max(1));
        let played = self.queue.played();
        let played = if played.id == Some(self.id) {
            played.frames as f64 / f64::from(self.output_rate.max(1))
        } else {
            0.0
        };
        Duration::try_from_secs_f64(fetched - played).unwrap_or(Duration::ZERO)
    }
}

pub async fn run(job: FetchJob) {
    tokio::select! {
        biased;
        // Dropping the fetch drops the segment request in flight, which sends CANCEL.
        () = job.queue.cancelled(job.id) => {}
        result = fetch(&job) => {
            if let Err(error) = result {
                job.queue.fail(job.id, error);
            }
        }
    }
}

async fn fetch(job: &FetchJob) -> Result<()> {
    let song = job.manifest.id;
    let mut fetched_samples = 0u64;
    let mut checked = job.catalog.clone();
    for info in job.manifest.segments.iter().skip(job.first_segment) {
        let bytes = fetch_segment(job, info, &mut checked).await?;
        if !segment_is_intact(info, &bytes) {
            return Err(ClientError::Corrupt {
                song,
                index: info.index,
            });
        }
        // Saturating: the counts come from the server and only feed the progress display.
        fetched_samples = fetched_samples.saturating_add(info.samples);
        job.fetched_samples.store(
            fetched_samples.saturating_sub(job.lead_in),
            Ordering::Relaxed,
        );
        if job.segments.send(bytes).await.is_err() {
            // The decoder has stopped: the request is over, or it failed and has said why.
            return Ok(());
        }
    }
    Ok(())
}

/// Fetches a segment by its deadline: the time the audio ahead of it lasts (after which it is
/// late), plus the client's timeout. A connection that closes or fails is replaced and the
/// segment asked for again; one that stays silent past the deadline is given up. `checked` is
/// the catalog the manifest is known to belong to.
async fn fetch_segment(
    job: &FetchJob,
    info: &SegmentInfo,
    checked: &mut Arc<str>,
) -> Result<Bytes> {
    let (song, index, bytes) = (job.manifest.id, info.index, info.bytes);
    let now = tokio::time::Instant::now();
    let due = now + job.ahead();
    let grace = due - now + job.client.timeout();
    let deadline = now + grace;
    let result = loop {
        let mut used = None;
        let outcome = {
            let attempt = async {
                let connection = job.client.connection().await?;
                used = Some(connection.clone());
                if connection.catalog() != &**checked {
                    same_song(job, &connection).await?;
                    *checked = connection.catalog().into();
                }
                connection.get_segment(song, index, bytes).await
            };
            tokio::pin!(attempt);
            loop {
                tokio::select! {
                    result = &mut attempt => break Some(result),
                    () = tokio::time::sleep_until(due), if !job.late.load(Ordering::Relaxed) => {
                        // The audio before it has played out: listeners hear a gap, once the
                        // song has begun (its first segment is awaited before anything plays).
                        if index as usize > job.first_segment {
                            tracing::info!(
                                "segment {index} of song {song} is late: playback stalls"
                            );
                        }
                        job.late.store(true, Ordering::Relaxed);
                    }
                    () = tokio::time::sleep_until(deadline) => break None,
                }
            }
        };
        let error = match outcome {
            Some(Ok(bytes)) => break Ok(bytes),
            Some(Err(error)) if error.is_connection_problem() => error,
            Some(Err(error)) => break Err(error),
            None => {
                let error = ClientError::Timeout {
                    what: format!("segment {index} of song {song}"),
                    after: grace,
                };
                if let Some(connection) = used {
                    job.client.unresponsive(&connection, &error);
                }
                break Err(error);
            }
        };
        tracing::info!("segment {index} of song {song}: {error}; asking again");
        if tokio::time::Instant::now() + RETRY_PAUSE >= deadline {
            break Err(error);
        }
        if !matches!(error, ClientError::Closed(_)) {
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    };
    job.late.store(false, Ordering::Relaxed);
    result
}

/// Asks a server that serves another catalog than the manifest's whether the song is the same
/// there: the same manifest (every segment's size and SHA-256) or an error saying what changed.
async fn same_song(job: &FetchJob, connection: &Connection) -> Result<()> {
    let song = job.manifest.id;
    let changed = |reason: &str| ClientError::CatalogChanged {
        song,
        catalog: short(connection.catalog()).to_string(),
        reason: reason.to_string(),
    };
    match connection.get_manifest(song).await {
        Ok(manifest) if manifest == *job.manifest => {
            tracing::info!(
                "song {song} is the same in catalog {}; playing on",
                short(connection.catalog())
            );
            Ok(())
        }
        Ok(_) => Err(changed("has another manifest there")),
        Err(ClientError::UnknownSong(_)) => Err(changed("is not in it")),
        Err(error) => Err(error),
    }
}
