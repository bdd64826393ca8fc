//! The fetcher: pulls a song's segments one request at a time, verifies each and hands it to the
//! decoder. The hand-over channel holds one segment and the decoder waits while the PCM queue is
//! full, so the fetcher runs only a few seconds of real audio ahead of what has been played,
//! whatever durations the manifest claims.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use jukebox_protocol::{Manifest, SegmentInfo};
use tokio::sync::mpsc;

use super::signal::Signal;
use super::verify::segment_is_intact;
use crate::client::Client;
use crate::error::{ClientError, Result};

/// Verified segments waiting for the decoder. With the one the decoder is reading and the one the
/// fetcher holds while it waits, about three 2-second segments of read-ahead besides the PCM
/// queue: enough to ride out a slow response, small enough that a switch or stop wastes little.
pub const SEGMENTS_QUEUED: usize = 1;

pub struct FetchJob {
    /// Reconnects if the server closed the connection between two segments.
    pub client: Client,
    pub manifest: Arc<Manifest>,
    pub generation: u64,
    /// To the decoder; dropped when the song has been fetched.
    pub segments: mpsc::Sender<Bytes>,
    /// Samples per channel fetched so far (in the song's rate), for the progress display.
    pub fetched_samples: Arc<AtomicU64>,
    /// Set on failure, so the decoder does not report the cut stream as the song's end.
    pub cancel: Arc<AtomicBool>,
    pub signals: mpsc::UnboundedSender<Signal>,
}

pub async fn run(job: FetchJob) {
    if let Err(error) = fetch(&job).await {
        job.cancel.store(true, Ordering::Release);
        let _ = job.signals.send(Signal::Failed {
            generation: job.generation,
            error,
        });
    }
}

async fn fetch(job: &FetchJob) -> Result<()> {
    let song = job.manifest.id;
    let mut fetched_samples = 0u64;
    for info in &job.manifest.segments {
        let bytes = segment(&job.client, song, info).await?;
        if !segment_is_intact(info, &bytes) {
            return Err(ClientError::Corrupt {
                song,
                index: info.index,
            });
        }
        // Saturating: the counts come from the server and only feed the progress display.
        fetched_samples = fetched_samples.saturating_add(info.samples);
        job.fetched_samples
            .store(fetched_samples, Ordering::Relaxed);
        if job.segments.send(bytes).await.is_err() {
            // The decoder has stopped; it reports why.
            return Ok(());
        }
    }
    Ok(())
}

/// Fetches a segment; if the connection turns out to be closed (an idle timeout while the
/// read-ahead was full), opens a new one and asks once more.
async fn segment(client: &Client, song: u64, info: &SegmentInfo) -> Result<Bytes> {
    let (index, bytes) = (info.index, info.bytes);
    match client.connection().await?.segment(song, index, bytes).await {
        Err(ClientError::Closed(reason)) => {
            tracing::info!("connection lost ({reason}); fetching segment {index} again");
            client.connection().await?.segment(song, index, bytes).await
        }
        result => result,
    }
}
