//! The decoder thread: symphonia reads the song's bytes as they arrive and queues PCM for the
//! output, converted to the output's format when the song has another one.

use std::num::NonZero;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::thread::JoinHandle;

use bytes::Bytes;
use rodio::conversions::ChannelCountConverter;
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{Decoder, DecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSourceStream, ReadOnlySource};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;
use tokio::sync::mpsc::Receiver;

use super::byte_stream::ByteStream;
use super::request::PlayId;
use super::resample::Resampled;
use super::window::Window;
use crate::error::ClientError;
use crate::output::{PcmFormat, PcmQueue};

pub struct DecodeJob {
    pub song: u64,
    pub id: PlayId,
    /// The song's format, from its manifest.
    pub source: PcmFormat,
    /// The output's format.
    pub target: PcmFormat,
    /// Frames per push ([`ReadAhead::chunk_frames`](super::ReadAhead::chunk_frames)).
    pub chunk_frames: usize,
    pub queue: Arc<PcmQueue>,
    /// The frames to decode and the samples to keep.
    pub window: Window,
}

/// Starts decoding the segments that arrive on `segments`, until they end or the queue refuses
/// the audio because the play request is over. The end or failure is reported through the queue,
/// which ignores it once the request is over: a song cut short by a stop reports nothing.
pub fn spawn(job: DecodeJob, segments: Receiver<Bytes>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("jukebox-decode-{}", job.song))
        .spawn(move || {
            // symphonia parses data the server chose; if it panics on it, the song must still end
            // with an error instead of never ending.
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| decode(&job, segments)))
                .unwrap_or_else(|_| {
                    Err(ClientError::Decode {
                        song: job.song,
                        reason: "the decoder crashed on this song's data".into(),
                    })
                });
            match result {
                Ok(()) => job.queue.end(job.id),
                Err(error) => job.queue.fail(job.id, error),
            }
        })
}

/// The player's own options: every frame's samples, which it trims itself by its [`Window`], the
/// same way symphonia's gapless decode does (the window also seeks); the tests' reference decode
/// (jukebox-test-kit) is symphonia's gapless one.
fn stream_options() -> FormatOptions {
    FormatOptions {
        enable_gapless: false,
        ..Default::default()
    }
}

fn decode(job: &DecodeJob, segments: Receiver<Bytes>) -> Result<(), ClientError> {
    let song = job.song;
    let fail = |e: SymphoniaError| ClientError::Decode {
        song,
        reason: e.to_string(),
    };
    let source = MediaSourceStream::new(
        Box::new(ReadOnlySource::new(ByteStream::new(segments))),
        Default::default(),
    );
    let mut hint = Hint::new();
    hint.with_extension("mp3");
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            source,
            &stream_options(),
            &MetadataOptions::default(),
        )
        .map_err(fail)?;
    let reader = probed.format;
    let track = reader.default_track().ok_or_else(|| ClientError::Decode {
        song,
        reason: "no audio track".into(),
    })?;
    let track_id = track.id;
    let decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(fail)?;
    let mut error = None;
    let decoded = Decoded {
        song,
        reader,
        decoder,
        track_id,
        format: job.source,
        buf: None,
        pos: 0,
        end: 0,
        window: job.window,
        next_frame: job.window.first_frame,
        error: &mut error,
    };
    let mut samples = convert(decoded, job.source, job.target)?;
    let chunk = job.chunk_frames * usize::from(job.target.channels);
    loop {
        let mut pcm = Vec::with_capacity(chunk);
        pcm.extend(samples.by_ref().take(chunk));
        if pcm.is_empty() || !job.queue.push(job.id, pcm) {
            break;
        }
    }
    drop(samples);
    match error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Converts the song to the output's format when it has another one: its rate with rubato
/// (`resample.rs`, one converter for the whole song, so its state carries across segments), its
/// channel count with rodio's converter.
fn convert<'a>(
    samples: Decoded<'a>,
    from: PcmFormat,
    to: PcmFormat,
) -> Result<Box<dyn Iterator<Item = f32> + 'a>, ClientError> {
    if from == to {
        return Ok(Box::new(samples));
    }
    let song = samples.song;
    let channels = |c: u16| NonZero::new(c).unwrap_or(NonZero::<u16>::MIN);
    let resampled: Box<dyn Iterator<Item = f32> + 'a> = if from.sample_rate == to.sample_rate {
        Box::new(samples)
    } else {
        match Resampled::new(samples, from.sample_rate, to.sample_rate, from.channels) {
            Some(resampled) => Box::new(resampled),
            None => {
                return Err(ClientError::Decode {
                    song,
                    reason: format!("cannot convert {from} to {to}"),
                })
            }
        }
    };
    Ok(Box::new(ChannelCountConverter::new(
        resampled,
        channels(from.channels),
        channels(to.channels),
    )))
}

/// The song's samples, interleaved, as one iterator; it ends at the end of the stream or on an
/// error, which it leaves in `error`.
struct Decoded<'a> {
    song: u64,
    reader: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    format: PcmFormat,
    buf: Option<SampleBuffer<f32>>,
    /// The next sample of `buf` to give, and the end of those kept.
    pos: usize,
    end: usize,
    window: Window,
    /// The index in the song of the next packet's frame.
    next_frame: u64,
    error: &'a mut Option<ClientError>,
}

impl Decoded<'_> {
    /// Decodes the next packet into `buf`; false at the end.
    fn refill(&mut self) -> bool {
        loop {
            let packet = match self.reader.next_packet() {
                Ok(packet) => packet,
                Err(SymphoniaError::IoError(e))
                    if e.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    return false
                }
                Err(e) => return self.fail(e.to_string()),
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            let frame = self.next_frame;
            self.next_frame += 1;
            let window = self.window;
            let frame_start = frame.saturating_mul(window.samples_per_frame);
            if frame_start >= window.keep_until {
                // Padding, or past the end of a seek to the end.
                return false;
            }
            if frame < window.decode_from_frame {
                // Before the warm-up: read, not decoded.
                continue;
            }
            let audio = match self.decoder.decode(&packet) {
                Ok(audio) => audio,
                Err(SymphoniaError::DecodeError(e)) => {
                    // A damaged frame is skipped, as every player does; verified data makes it
                    // rare.
                    tracing::warn!("song {}: skipping undecodable frame: {e}", self.song);
                    continue;
                }
                Err(e) => return self.fail(e.to_string()),
            };
            let spec = *audio.spec();
            if spec.rate != self.format.sample_rate
                || spec.channels.count() != usize::from(self.format.channels)
            {
                return self.fail(format!(
                    "decoded audio ({} Hz, {} channels) does not match the manifest ({})",
                    spec.rate,
                    spec.channels.count(),
                    self.format
                ));
            }
            if audio.frames() == 0 {
                continue;
            }
            let capacity = audio.capacity() as u64;
            let buf = match &mut self.buf {
                Some(buf) if buf.capacity() >= audio.frames() * spec.channels.count() => buf,
                slot => slot.insert(SampleBuffer::new(capacity, spec)),
            };
            let frames = audio.frames() as u64;
            buf.copy_interleaved_ref(audio);
            let channels = spec.channels.count();
            let from = window.keep_from.saturating_sub(frame_start).min(frames);
            let until = (window.keep_until - frame_start).min(frames);
            if from >= until {
                // Warm-up: decoded for the state it leaves, thrown away.
                continue;
            }
            self.pos = from as usize * channels;
            self.end = until as usize * channels;
            return true;
        }
    }

    fn fail(&mut self, reason: String) -> bool {
        *self.error = Some(ClientError::Decode {
            song: self.song,
            reason,
        });
        false
    }
}

impl Iterator for Decoded<'_> {
    type Item = f32;

    fn next(&mut self) -> Option<f32> {
        loop {
            if let Some(buf) = &self.buf {
                if self.pos < self.end {
                    if let Some(&sample) = buf.samples().get(self.pos) {
                        self.pos += 1;
                        return Some(sample);
                    }
                }
            }
            if !self.refill() {
                return None;
            }
        }
    }
}
