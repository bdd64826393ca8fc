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
pub mod normalize;
pub mod read_ahead;
pub mod request;
pub mod resample;
pub mod verify;
pub mod window;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use jukebox_protocol::Manifest;
use tokio::sync::mpsc;

use crate::client::Client;
use crate::error::ClientError;
use crate::output::{Output, OutputSpec, PcmFormat, PcmQueue};
pub use normalize::Normalize;
pub use read_ahead::ReadAhead;
pub use request::PlayId;
use request::Report;
use window::Window;

/// Something that happened to the playing song on its own.
#[derive(Debug)]
pub enum Event {
    /// The song's last sample is decoded and queued: it ends within [`ReadAhead::queued`], and
    /// what follows it can be prepared now ([`Player::prepare`]).
    Ending(u64),
    /// The song played to its end. A song prepared to follow it is playing now.
    Finished(u64),
    /// The song stopped because of an error. A song prepared to follow it is playing now.
    Failed(u64, ClientError),
    /// The song prepared to follow the playing one failed before it began; it is dropped.
    NextFailed(u64, ClientError),
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
    pub paused: bool,
}

pub struct Player {
    queue: Arc<PcmQueue>,
    output: Output,
    reports: mpsc::UnboundedReceiver<Report>,
    read_ahead: ReadAhead,
    last_id: u64,
    current: Option<Playing>,
    /// Prepared to follow `current` without a gap: its audio waits in the queue behind it.
    next: Option<Playing>,
    /// The `Ending` of the song just promoted from `next`, to report.
    ending: Option<u64>,
    /// 0 to 100, on a perceptual scale ([`volume_gain`]).
    volume: u8,
    muted: bool,
    normalize: Normalize,
}

/// The gain of a volume from 0 to 100: the cube of its fraction, the perceptual curve sound
/// systems use (ALSA's and PulseAudio's "cubic" volume): 50 is about -18 dB, 10 is -60 dB, and
/// 100 leaves samples unchanged.
pub fn volume_gain(volume: u8) -> f32 {
    (f32::from(volume.min(100)) / 100.0).powi(3)
}

/// A play request whose decoder is started and whose fetcher is not yet.
struct Start {
    manifest: Arc<Manifest>,
    segments: mpsc::Sender<bytes::Bytes>,
    output_rate: u32,
    window: Window,
}

/// A play request: the song playing now, or the one prepared to follow it.
struct Playing {
    id: PlayId,
    manifest: Arc<Manifest>,
    fetched_samples: Arc<AtomicU64>,
    output_rate: u32,
    late: Arc<AtomicBool>,
    /// The song sample the request started at (a seek's target).
    start: u64,
    /// Its decoder has queued its last sample.
    ended: bool,
    /// The loudness normalisation gain its samples get, dB; `None`: none.
    gain_db: Option<f64>,
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
            next: None,
            ending: None,
            volume: 100,
            muted: false,
            normalize: Normalize::default(),
        })
    }

    /// The song playing now.
    pub fn current(&self) -> Option<&Manifest> {
        self.current.as_ref().map(|playing| &*playing.manifest)
    }

    /// The song prepared to follow the playing one.
    pub fn next(&self) -> Option<&Manifest> {
        self.next.as_ref().map(|playing| &*playing.manifest)
    }

    /// Starts playing a song whose manifest was just fetched, stopping the current one (and any
    /// prepared to follow it) first. Returns the ID of the song that was stopped. On error the
    /// current song plays on.
    pub fn play(&mut self, client: Client, manifest: Manifest) -> Result<Option<u64>, ClientError> {
        self.play_from(client, manifest, 0)
    }

    /// As [`Player::play`], from song sample `start` (of the song's rate; past the end, the song
    /// ends at once).
    pub fn play_from(
        &mut self,
        client: Client,
        manifest: Manifest,
        start: u64,
    ) -> Result<Option<u64>, ClientError> {
        let (id, start) = self.spawn(manifest, start)?;
        // The new decoder waits for its first segment, which only the fetcher started below
        // sends, once the request is open (the queue would refuse its audio before).
        let stopped = self.stop();
        self.current = Some(self.open(client, id, start));
        self.queue.set_paused(false);
        Ok(stopped)
    }

    /// Prepares a song to follow the playing one without a gap: it is fetched and decoded now,
    /// as far as the read-ahead allows, and its first sample follows the current song's last.
    /// Replaces a song prepared before. Without a song playing, plays it at once.
    pub fn prepare(&mut self, client: Client, manifest: Manifest) -> Result<(), ClientError> {
        if self.current.is_none() {
            return self.play(client, manifest).map(|_| ());
        }
        let (id, start) = self.spawn(manifest, 0)?;
        self.unprepare();
        self.next = Some(self.open(client, id, start));
        Ok(())
    }

    /// Forgets the song prepared to follow the playing one.
    pub fn unprepare(&mut self) {
        if let Some(next) = self.next.take() {
            self.queue.cancel(next.id);
        }
    }

    /// Starts a decoder for a new play request of `manifest`, waiting for its first segment.
    fn spawn(&mut self, manifest: Manifest, from: u64) -> Result<(PlayId, Start), ClientError> {
        let window = Window::new(&manifest, from);
        self.last_id += 1;
        let id = PlayId(self.last_id);
        let source = PcmFormat {
            sample_rate: manifest.sample_rate,
            channels: manifest.channels,
        };
        let target = self.queue.fix_format(source);
        let manifest = Arc::new(manifest);
        let (segments_tx, segments_rx) = mpsc::channel(self.read_ahead.segments.get());
        decode::spawn(
            decode::DecodeJob {
                song: manifest.id,
                id,
                source,
                target,
                chunk_frames: self.read_ahead.chunk_frames.get(),
                queue: self.queue.clone(),
                window,
            },
            segments_rx,
        )
        .map_err(|e| ClientError::Decode {
            song: manifest.id,
            reason: format!("cannot start the decoder: {e}"),
        })?;
        Ok((
            id,
            Start {
                manifest,
                segments: segments_tx,
                output_rate: target.sample_rate,
                window,
            },
        ))
    }

    /// Makes the request live, behind those already live, and starts its fetcher.
    fn open(&mut self, client: Client, id: PlayId, start: Start) -> Playing {
        let fetched_samples = Arc::new(AtomicU64::new(0));
        let late = Arc::new(AtomicBool::new(false));
        let gain_db = self.normalize.gain_db(&start.manifest);
        self.queue.open(id, gain_db.map_or(1.0, normalize::linear));
        tokio::spawn(fetch::run(fetch::FetchJob {
            // The manifest was fetched on the client's connection just before.
            catalog: client.catalog(),
            client,
            manifest: start.manifest.clone(),
            id,
            queue: self.queue.clone(),
            segments: start.segments,
            fetched_samples: fetched_samples.clone(),
            output_rate: start.output_rate,
            late: late.clone(),
            first_segment: start.window.first_segment,
            lead_in: start.window.lead_in(),
        }));
        Playing {
            id,
            manifest: start.manifest,
            fetched_samples,
            output_rate: start.output_rate,
            late,
            start: start.window.start,
            ended: false,
            gain_db,
        }
    }

    /// Stops sound and fetching at once. Returns the ID of the song that was playing.
    pub fn stop(&mut self) -> Option<u64> {
        self.unprepare();
        self.ending = None;
        self.queue.set_paused(false);
        let playing = self.current.take()?;
        self.queue.cancel(playing.id);
        Some(playing.manifest.id)
    }

    /// Waits for something to happen to the playing song or the one prepared to follow it.
    /// Pending forever while nothing plays.
    pub async fn next_event(&mut self) -> Event {
        if let Some(song) = self.ending.take() {
            return Event::Ending(song);
        }
        loop {
            let report = self
                .reports
                .recv()
                .await
                .expect("the player's queue holds a sender");
            let id = report.id();
            if self.next.as_ref().is_some_and(|next| next.id == id) {
                match report {
                    // Its audio is queued behind the current song's: said once it plays.
                    Report::Ending { .. } => {
                        if let Some(next) = &mut self.next {
                            next.ended = true;
                        }
                        continue;
                    }
                    Report::Failed { error, .. } => {
                        let next = self.next.take().expect("just looked");
                        return Event::NextFailed(next.manifest.id, error);
                    }
                    // The current song's end, reported first, promoted it.
                    Report::Finished { .. } => continue,
                }
            }
            // A report about a request stopped since it was sent is old news.
            let Some(song) = self
                .current
                .as_ref()
                .filter(|playing| playing.id == id)
                .map(|playing| playing.manifest.id)
            else {
                continue;
            };
            if let Report::Ending { .. } = report {
                return Event::Ending(song);
            }
            // The queue has already forgotten the request; the one prepared behind it plays.
            self.current = self.next.take();
            // A short song prepared behind may have queued its end already: say it next.
            self.ending = self
                .current
                .as_ref()
                .filter(|playing| playing.ended)
                .map(|playing| playing.manifest.id);
            return match report {
                Report::Finished { .. } => Event::Finished(song),
                Report::Failed { error, .. } => Event::Failed(song, error),
                Report::Ending { .. } => unreachable!("handled above"),
            };
        }
    }

    pub fn progress(&self) -> Option<Progress> {
        let playing = self.current.as_ref()?;
        let played = self.queue.played();
        let played = if played.id == Some(playing.id) {
            played.frames as f64 / f64::from(playing.output_rate)
        } else {
            0.0
        };
        let rate = f64::from(playing.manifest.sample_rate);
        let fetched = playing.fetched_samples.load(Ordering::Relaxed) as f64 / rate;
        let start = playing.start as f64 / rate;
        Some(Progress {
            song: playing.manifest.id,
            title: playing.manifest.title.clone(),
            artist: playing.manifest.artist.clone(),
            elapsed: start + played,
            total: window::song_samples(&playing.manifest) as f64 / rate,
            buffered: (fetched - played).max(0.0),
            stalled: playing.late.load(Ordering::Relaxed),
            paused: self.queue.is_paused(),
        })
    }

    /// Where the playing song is: (song sample, song samples, sample rate).
    pub fn position(&self) -> Option<(u64, u64, u32)> {
        let playing = self.current.as_ref()?;
        let played = self.queue.played();
        let rate = playing.manifest.sample_rate;
        let frames = if played.id == Some(playing.id) {
            // Output frames, in the song's rate.
            (u128::from(played.frames) * u128::from(rate) / u128::from(playing.output_rate.max(1)))
                as u64
        } else {
            0
        };
        let length = window::song_samples(&playing.manifest);
        Some(((playing.start + frames).min(length), length, rate))
    }

    /// Plays the playing song again from song sample `to`: the segment holding it is fetched
    /// (with the frames before it that its decoding needs), and the samples before it are
    /// decoded and dropped. Paused stays paused. The song prepared to follow is dropped.
    pub fn seek(&mut self, client: Client, to: u64) -> Result<(), ClientError> {
        let Some(playing) = &self.current else {
            return Ok(());
        };
        let manifest = (*playing.manifest).clone();
        let paused = self.is_paused();
        self.play_from(client, manifest, to)?;
        self.queue.set_paused(paused);
        Ok(())
    }

    pub fn volume(&self) -> u8 {
        self.volume
    }

    pub fn normalize(&self) -> Normalize {
        self.normalize
    }

    /// Sets the loudness normalisation; the songs playing and prepared change at once (ramped
    /// over a few milliseconds, as a volume change).
    pub fn set_normalize(&mut self, normalize: Normalize) {
        self.normalize = normalize;
        for playing in self.current.iter_mut().chain(self.next.iter_mut()) {
            playing.gain_db = normalize.gain_db(&playing.manifest);
            self.queue
                .set_request_gain(playing.id, playing.gain_db.map_or(1.0, normalize::linear));
        }
    }

    /// The loudness normalisation gain of the song playing, dB; `None` when it gets none.
    pub fn normalize_gain_db(&self) -> Option<f64> {
        self.current.as_ref()?.gain_db
    }

    pub fn is_muted(&self) -> bool {
        self.muted
    }

    /// Sets the volume (0 to 100; ramped over a few milliseconds, so without a click) and
    /// unmutes.
    pub fn set_volume(&mut self, volume: u8) {
        self.volume = volume.min(100);
        self.muted = false;
        self.apply_gain();
    }

    pub fn set_muted(&mut self, muted: bool) {
        self.muted = muted;
        self.apply_gain();
    }

    fn apply_gain(&self) {
        let gain = if self.muted {
            0.0
        } else {
            volume_gain(self.volume)
        };
        self.queue.set_gain(gain);
    }

    /// Pauses the output: sound stops within one output buffer, the read-ahead fills up to its
    /// bounds and waits. Returns the song paused, if one plays.
    pub fn pause(&mut self) -> Option<u64> {
        let song = self.current()?.id;
        self.queue.set_paused(true);
        Some(song)
    }

    /// Resumes at the next sample. Returns the song resumed, if one plays.
    pub fn resume(&mut self) -> Option<u64> {
        self.queue.set_paused(false);
        self.current().map(|manifest| manifest.id)
    }

    pub fn is_paused(&self) -> bool {
        self.queue.is_paused()
    }

    /// Frames of silence between two samples played that no stop asked for: what a listener
    /// hears as gaps (see [`PcmQueue::starved_frames`]).
    pub fn starved_frames(&self) -> u64 {
        self.queue.starved_frames()
    }

    /// Stops playback and completes the output (a WAV file gets its final header).
    pub fn close(mut self) -> Result<(), String> {
        self.stop();
        self.output.close()
    }
}
