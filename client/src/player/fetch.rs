//! The fetcher: pulls a song's segments one request at a time, verifies each and hands it to the
//! decoder, as far ahead as [`ReadAhead`](super::ReadAhead) lets it. It ends when the song is
//! handed over or its play request is no longer live.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use jukebox_protocol::{Manifest, SegmentInfo};
use tokio::sync::mpsc;

use super::request::PlayId;
use super::verify::segment_is_intact;
use crate::client::Client;
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
    /// Samples per channel fetched so far (in the song's rate), for the progress display.
    pub fetched_samples: Arc<AtomicU64>,
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
    for info in &job.manifest.segments {
        let bytes = fetch_segment(&job.client, song, info).await?;
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
            // The decoder has stopped: the request is over, or it failed and has said why.
            return Ok(());
        }
    }
    Ok(())
}

/// Fetches a segment; if the connection turns out to be closed (an idle timeout while the
/// read-ahead was full), opens a new one and asks once more.
async fn fetch_segment(client: &Client, song: u64, info: &SegmentInfo) -> Result<Bytes> {
    let (index, bytes) = (info.index, info.bytes);
    match client
        .connection()
        .await?
        .get_segment(song, index, bytes)
        .await
    {
        Err(ClientError::Closed(reason)) => {
            tracing::info!("connection lost ({reason}); fetching segment {index} again");
            client
                .connection()
                .await?
                .get_segment(song, index, bytes)
                .await
        }
        result => result,
    }
}
