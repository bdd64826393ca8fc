//! The playback pipeline: fetcher (async task) -> decoder (thread) -> PCM queue -> output
//! (real-time consumer).
//!
//! Each started song is a play request with a [`PlayId`] of its own (`request.rs`), and the PCM
//! queue records which requests are live. Switching or stopping cancels the request there, and
//! every stage sees it: the fetcher drops its in-flight segment request (which sends CANCEL), the
//! decoder's next push is refused, the queue drops its audio, so nothing of the old song is heard
//! after the command returns. How far ahead the pipeline runs is [`ReadAhead`].

pub mod byte_stream;
pub mod decode;
pub mod fetch;
pub mod read_ahead;
pub mod request;
pub mod verify;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use jukebox_protocol::Manifest;
use tokio::sync::mpsc;

use crate::client::Client;
use crate::error::ClientError;
use crate::output::{Output, OutputSpec, PcmFormat, PcmQueue};
pub use read_ahead::ReadAhead;
pub use request::PlayId;
use request::Report;

/// Something that happened to the playing song on its own.
#[derive(Debug)]
pub enum Event {
    /// The song played to its end.
    Finished(u64),
    /// The song stopped because of an error.
    Failed(u64, ClientError),
}

/// Where the playing song is, for the progress display.
#[derive(Debug, Clone)]
pub struct Progress {
    pub song: u64,
    pub title: String,
    /// Empty when unknown.
    pub artist: String,
    pub elapsed: f64,
    pub total: f64,
    /// Seconds fetched beyond what has been played.
    pub buffered: f64,
    /// The next segment is late: the audio fetched before it has played out.
    pub stalled: bool,
}

pub struct Player {
    queue: Arc<PcmQueue>,
    output: Output,
    reports: mpsc::UnboundedReceiver<Report>,
    read_ahead: ReadAhead,
    last_id: u64,
    current: Option<Playing>,
}

/// The play request of the song playing now.
struct Playing {
    id: PlayId,
    manifest: Arc<Manifest>,
    fetched_samples: Arc<AtomicU64>,
    output_rate: u32,
    late: Arc<AtomicBool>,
}

impl Player {
    /// Opens the output; the error is one line fit to show the user.
    pub fn new(output: &OutputSpec, read_ahead: ReadAhead) -> Result<Player, String> {
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let queue = Arc::new(PcmQueue::new(&read_ahead, reports_tx));
        let output = Output::open(output, queue.clone())?;
        Ok(Player {
            queue,
            output,
            reports,
            read_ahead,
            last_id: 0,
            current: None,
        })
    }

    /// The song playing now.
    pub fn current(&self) -> Option<&Manifest> {
        self.current.as_ref().map(|playing| &*playing.manifest)
    }

    /// Starts playing a song whose manifest was just fetched, stopping the current one first.
    /// Returns the ID of the song that was stopped. On error the current song plays on.
    pub fn play(&mut self, client: Client, manifest: Manifest) -> Result<Option<u64>, ClientError> {
        self.last_id += 1;
        let id = PlayId(self.last_id);
        let source = PcmFormat {
            sample_rate: manifest.sample_rate,
            channels: manifest.channels,
        };
        let target = self.queue.fix_format(source);
        let manifest = Arc::new(manifest);
        let fetched_samples = Arc::new(AtomicU64::new(0));
        let late = Arc::new(AtomicBool::new(false));
        let (segments_tx, segments_rx) = mpsc::channel(self.read_ahead.segments.get());
        decode::spawn(
            decode::DecodeJob {
                song: manifest.id,
                id,
                source,
                target,
                chunk_frames: self.read_ahead.chunk_frames.get(),
                queue: self.queue.clone(),
            },
            segments_rx,
        )
        .map_err(|e| ClientError::Decode {
            song: manifest.id,
            reason: format!("cannot start the decoder: {e}"),
        })?;
        // The new decoder waits for its first segment, which only the fetcher started below
        // sends, once the request is open (the queue would refuse its audio before).
        let stopped = self.stop();
        self.queue.open(id);
        tokio::spawn(fetch::run(fetch::FetchJob {
            client,
            manifest: manifest.clone(),
            id,
            queue: self.queue.clone(),
            segments: segments_tx,
            fetched_samples: fetched_samples.clone(),
            output_rate: target.sample_rate,
            late: late.clone(),
        }));
        self.current = Some(Playing {
            id,
            manifest,
            fetched_samples,
            output_rate: target.sample_rate,
            late,
        });
        Ok(stopped)
    }

    /// Stops sound and fetching at once. Returns the ID of the song that was playing.
    pub fn stop(&mut self) -> Option<u64> {
        let playing = self.current.take()?;
        self.queue.cancel(playing.id);
        Some(playing.manifest.id)
    }

    /// Waits for the playing song to finish or fail. Pending forever while nothing plays.
    pub async fn next_event(&mut self) -> Event {
        loop {
            let report = self
                .reports
                .recv()
                .await
                .expect("the player's queue holds a sender");
            // A report about a request stopped since it was sent is old news.
            let Some(playing) = self.current.take_if(|p| p.id == report.id()) else {
                continue;
            };
            // The queue has already forgotten the request.
            let song = playing.manifest.id;
            return match report {
                Report::Finished { .. } => Event::Finished(song),
                Report::Failed { error, .. } => Event::Failed(song, error),
            };
        }
    }

    pub fn progress(&self) -> Option<Progress> {
        let playing = self.current.as_ref()?;
        let played = self.queue.played();
        let elapsed = if played.id == Some(playing.id) {
            played.frames as f64 / f64::from(playing.output_rate)
        } else {
            0.0
        };
        let fetched = playing.fetched_samples.load(Ordering::Relaxed) as f64
            / f64::from(playing.manifest.sample_rate);
        Some(Progress {
            song: playing.manifest.id,
            title: playing.manifest.title.clone(),
            artist: playing.manifest.artist.clone(),
            elapsed,
            total: playing.manifest.duration_ms as f64 / 1000.0,
            buffered: (fetched - elapsed).max(0.0),
            stalled: playing.late.load(Ordering::Relaxed),
        })
    }

    /// Stops playback and completes the output (a WAV file gets its final header).
    pub fn close(mut self) -> Result<(), String> {
        self.stop();
        self.output.close()
    }
}
