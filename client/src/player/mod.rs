//! The playback pipeline: fetcher (async task) -> decoder (thread) -> output (real-time consumer).
//!
//! Each started song is a new generation. Switching or stopping cancels the fetcher (dropping its
//! in-flight segment request sends CANCEL), tells the decoder to quit and empties the PCM queue, so
//! nothing of the old song is heard after the command returns.

pub mod byte_stream;
pub mod decode;
pub mod fetch;
pub mod signal;
pub mod verify;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use jukebox_protocol::Manifest;
use tokio::sync::mpsc;

use crate::client::Client;
use crate::error::ClientError;
use crate::output::{Output, OutputSpec, PcmFormat};
use signal::Signal;

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
    pub elapsed: f64,
    pub total: f64,
    /// Seconds fetched beyond what has been played.
    pub buffered: f64,
}

pub struct Player {
    output: Output,
    signals: mpsc::UnboundedReceiver<Signal>,
    signal_tx: mpsc::UnboundedSender<Signal>,
    last_generation: u64,
    current: Option<Current>,
}

struct Current {
    generation: u64,
    manifest: Arc<Manifest>,
    fetch: tokio::task::JoinHandle<()>,
    cancel: Arc<AtomicBool>,
    fetched_samples: Arc<AtomicU64>,
    output_rate: u32,
}

impl Player {
    /// Opens the output; the error is one line fit to show the user.
    pub fn new(output: &OutputSpec) -> Result<Player, String> {
        let (signal_tx, signals) = mpsc::unbounded_channel();
        let output = Output::open(output, signal_tx.clone())?;
        Ok(Player {
            output,
            signals,
            signal_tx,
            last_generation: 0,
            current: None,
        })
    }

    /// The song playing now.
    pub fn current(&self) -> Option<&Manifest> {
        self.current.as_ref().map(|c| &*c.manifest)
    }

    /// Starts playing a song whose manifest was just fetched, stopping the current one first.
    /// Returns the ID of the song that was stopped. On error the current song plays on.
    pub fn play(&mut self, client: Client, manifest: Manifest) -> Result<Option<u64>, ClientError> {
        self.last_generation += 1;
        let generation = self.last_generation;
        let queue = self.output.queue().clone();
        let source = PcmFormat {
            sample_rate: manifest.sample_rate,
            channels: manifest.channels,
        };
        let target = queue.fix_format(source);
        let manifest = Arc::new(manifest);
        let cancel = Arc::new(AtomicBool::new(false));
        let fetched_samples = Arc::new(AtomicU64::new(0));
        let (segments_tx, segments_rx) = mpsc::channel(fetch::SEGMENTS_QUEUED);
        decode::spawn(
            decode::DecodeJob {
                song: manifest.id,
                generation,
                source,
                target,
                queue: queue.clone(),
                cancel: cancel.clone(),
                signals: self.signal_tx.clone(),
            },
            segments_rx,
        )
        .map_err(|e| ClientError::Decode {
            song: manifest.id,
            reason: format!("cannot start the decoder: {e}"),
        })?;
        // The new decoder waits for its first segment, which only the fetcher started below
        // sends, so nothing of it reaches the queue before the switch.
        let stopped = self.stop();
        queue.start(generation);
        let fetch = tokio::spawn(fetch::run(fetch::FetchJob {
            client,
            manifest: manifest.clone(),
            generation,
            segments: segments_tx,
            fetched_samples: fetched_samples.clone(),
            cancel: cancel.clone(),
            signals: self.signal_tx.clone(),
        }));
        self.current = Some(Current {
            generation,
            manifest,
            fetch,
            cancel,
            fetched_samples,
            output_rate: target.sample_rate,
        });
        Ok(stopped)
    }

    /// Stops sound and fetching at once. Returns the ID of the song that was playing.
    pub fn stop(&mut self) -> Option<u64> {
        let current = self.current.take()?;
        current.cancel.store(true, Ordering::Release);
        current.fetch.abort();
        self.output.queue().stop();
        Some(current.manifest.id)
    }

    /// Waits for the playing song to finish or fail. Pending forever while nothing plays.
    pub async fn next_event(&mut self) -> Event {
        loop {
            let signal = self
                .signals
                .recv()
                .await
                .expect("the player holds a sender");
            let Some(current) = &self.current else {
                continue;
            };
            match signal {
                Signal::Finished { generation } if generation == current.generation => {
                    let song = current.manifest.id;
                    self.current = None;
                    return Event::Finished(song);
                }
                Signal::Failed { generation, error } if generation == current.generation => {
                    let song = current.manifest.id;
                    self.stop();
                    return Event::Failed(song, error);
                }
                _ => {}
            }
        }
    }

    pub fn progress(&self) -> Option<Progress> {
        let current = self.current.as_ref()?;
        let played = self.output.queue().played();
        let elapsed = if played.generation == current.generation {
            played.frames as f64 / f64::from(current.output_rate)
        } else {
            0.0
        };
        let fetched = current.fetched_samples.load(Ordering::Relaxed) as f64
            / f64::from(current.manifest.sample_rate);
        Some(Progress {
            song: current.manifest.id,
            title: current.manifest.title.clone(),
            elapsed,
            total: current.manifest.duration_ms as f64 / 1000.0,
            buffered: (fetched - elapsed).max(0.0),
        })
    }

    /// Stops playback and completes the output (a WAV file gets its final header).
    pub fn close(mut self) -> Result<(), String> {
        self.stop();
        self.output.close()
    }
}
