//! The fetcher: pulls a song's segments one request at a time, a few seconds ahead of what has been
//! played, verifies each and hands it to the decoder.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use jukebox_protocol::{Manifest, SegmentInfo};
use tokio::sync::{mpsc, watch};

use super::signal::Signal;
use super::verify::segment_is_intact;
use crate::client::Client;
use crate::error::{ClientError, Result};
use crate::output::Played;

/// Seconds of audio fetched beyond what has been played: about three 2-second segments. Enough to
/// ride out a slow response, small enough that a switch or stop wastes little.
pub const READ_AHEAD_SECONDS: f64 = 6.0;

pub struct FetchJob {
    /// Reconnects if the server closed the connection between two segments.
    pub client: Client,
    pub manifest: Arc<Manifest>,
    pub generation: u64,
    /// To the decoder; dropped when the song has been fetched.
    pub segments: std::sync::mpsc::Sender<Bytes>,
    pub played: watch::Receiver<Played>,
    pub output_rate: u32,
    /// Samples per channel fetched so far (in the song's rate), for the progress display.
    pub fetched_samples: Arc<AtomicU64>,
    /// Set on failure, so the decoder does not report the cut stream as the song's end.
    pub cancel: Arc<AtomicBool>,
    pub signals: mpsc::UnboundedSender<Signal>,
}

pub async fn run(mut job: FetchJob) {
    if let Err(error) = fetch(&mut job).await {
        job.cancel.store(true, Ordering::Release);
        let _ = job.signals.send(Signal::Failed {
            generation: job.generation,
            error,
        });
    }
}

async fn fetch(job: &mut FetchJob) -> Result<()> {
    let manifest = job.manifest.clone();
    let song = manifest.id;
    let rate = f64::from(manifest.sample_rate);
    let mut fetched = 0.0;
    let mut fetched_samples = 0;
    for info in &manifest.segments {
        let length = info.samples as f64 / rate;
        loop {
            let ahead = fetched - played_seconds(job);
            if ahead <= 0.0 || ahead + length <= READ_AHEAD_SECONDS {
                break;
            }
            if job.played.changed().await.is_err() {
                return Ok(());
            }
        }
        let bytes = segment(&job.client, song, info).await?;
        if !segment_is_intact(info, &bytes) {
            return Err(ClientError::Corrupt {
                song,
                index: info.index,
            });
        }
        fetched += length;
        fetched_samples += info.samples;
        job.fetched_samples
            .store(fetched_samples, Ordering::Relaxed);
        if job.segments.send(bytes).is_err() {
            // The decoder has stopped; it reports why.
            return Ok(());
        }
    }
    Ok(())
}

/// Fetches a segment; if the connection turns out to be closed (an idle timeout while the
/// read-ahead was full), opens a new one and asks once more.
async fn segment(client: &Client, song: u32, info: &SegmentInfo) -> Result<Bytes> {
    let (index, bytes) = (info.index, info.bytes);
    match client.connection().await?.segment(song, index, bytes).await {
        Err(ClientError::Closed(reason)) => {
            tracing::info!("connection lost ({reason}); fetching segment {index} again");
            client.connection().await?.segment(song, index, bytes).await
        }
        result => result,
    }
}

fn played_seconds(job: &mut FetchJob) -> f64 {
    let played = *job.played.borrow_and_update();
    if played.generation == job.generation {
        played.frames as f64 / f64::from(job.output_rate)
    } else {
        0.0
    }
}
