//! The sound card output, through rodio. The device's own rate and channel count are the output
//! format; songs are converted to it before they are queued.

use std::num::NonZero;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rodio::{ChannelCount, SampleRate, Source};

use super::format::PcmFormat;
use super::queue::PcmQueue;
use super::quiet_stderr::QuietStderr;

/// Frames taken off the queue at a time by the audio callback, and frames of silence played when
/// the queue is empty (about 11 ms: the longest a song's first sound waits for a refill).
const REFILL_FRAMES: usize = 512;

/// A thread that owns the open device (a rodio sink is not `Send` on every platform) until told
/// to stop.
pub struct Device {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl Device {
    /// Opens the default output device and starts playing from `queue`.
    pub fn open(queue: Arc<PcmQueue>) -> Result<Device, String> {
        let (opened_tx, opened_rx) = mpsc::channel();
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("jukebox-device".into())
            .spawn(move || {
                let quiet = QuietStderr::new();
                let opened = rodio::DeviceSinkBuilder::open_default_sink();
                drop(quiet);
                let mut sink = match opened {
                    Ok(sink) => sink,
                    Err(e) => {
                        let _ = opened_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                sink.log_on_drop(false);
                let config = sink.config();
                let format = PcmFormat {
                    sample_rate: config.sample_rate().get(),
                    channels: config.channel_count().get(),
                };
                let format = queue.fix_format(format);
                sink.mixer().add(QueueSource::new(queue, format));
                let _ = opened_tx.send(Ok(()));
                // Keep the device open until the output is closed (or its owner is gone).
                let _ = stopped.recv();
            })
            .map_err(|e| e.to_string())?;
        match opened_rx.recv() {
            Ok(Ok(())) => Ok(Device { stop, thread }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("the audio thread failed".into()),
        }
    }

    pub fn close(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

/// An endless rodio source reading the queue; plays silence when the queue is empty. rodio pulls
/// one sample at a time and counts channels by position, so everything this source hands out is
/// whole frames, silence included: one stray sample would swap left and right from then on.
struct QueueSource {
    queue: Arc<PcmQueue>,
    channels: ChannelCount,
    rate: SampleRate,
    buf: Vec<f32>,
    pos: usize,
}

impl QueueSource {
    fn new(queue: Arc<PcmQueue>, format: PcmFormat) -> QueueSource {
        QueueSource {
            queue,
            channels: NonZero::new(format.channels).unwrap_or(NonZero::<u16>::MIN),
            rate: NonZero::new(format.sample_rate).unwrap_or(NonZero::<u32>::MIN),
            buf: Vec::with_capacity(REFILL_FRAMES * 2),
            pos: 0,
        }
    }
}

impl Iterator for QueueSource {
    type Item = f32;

    fn next(&mut self) -> Option<f32> {
        if self.pos == self.buf.len() {
            self.refill();
        }
        let sample = self.buf[self.pos];
        self.pos += 1;
        Some(sample)
    }
}

impl QueueSource {
    /// Takes the next block of whole frames, with one lock of the queue: audio if there is some,
    /// else silence.
    fn refill(&mut self) {
        self.buf.clear();
        self.pos = 0;
        if self.queue.pop(REFILL_FRAMES, &mut self.buf) == 0 {
            let channels = usize::from(self.channels.get());
            self.buf.resize(REFILL_FRAMES * channels, 0.0);
        }
    }
}

impl Source for QueueSource {
    fn current_span_len(&self) -> Option<usize> {
        None
    }
    fn channels(&self) -> ChannelCount {
        self.channels
    }
    fn sample_rate(&self) -> SampleRate {
        self.rate
    }
    fn total_duration(&self) -> Option<Duration> {
        None
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc;

    use super::*;
    use crate::player::read_ahead::ReadAhead;
    use crate::player::request::PlayId;

    const LEFT: f32 = 1.0;
    const RIGHT: f32 = -1.0;

    fn stereo(frames: usize) -> Vec<f32> {
        [LEFT, RIGHT].repeat(frames)
    }

    #[test]
    fn underruns_play_whole_silent_frames_so_left_stays_left() {
        let (reports, _reports) = mpsc::unbounded_channel();
        let queue = Arc::new(PcmQueue::new(&ReadAhead::default(), reports));
        let format = PcmFormat {
            sample_rate: 48_000,
            channels: 2,
        };
        queue.fix_format(format);
        let mut source = QueueSource::new(queue.clone(), format);
        // The device asks before the song's first audio is queued, and for an odd number of
        // samples; then the song runs dry (an underrun) and is refilled.
        let mut heard: Vec<f32> = source.by_ref().take(3).collect();
        queue.open(PlayId(1), 1.0);
        queue.push(PlayId(1), stereo(1_000));
        heard.extend(source.by_ref().take(4_001));
        queue.push(PlayId(1), stereo(10));
        heard.extend(source.by_ref().take(3_000));
        for (i, &sample) in heard.iter().enumerate() {
            let channel = if i % 2 == 0 { LEFT } else { RIGHT };
            assert!(
                sample == 0.0 || sample == channel,
                "sample {i} is {sample}: the channels are swapped"
            );
        }
        let audible = heard.iter().filter(|&&s| s != 0.0).count();
        assert_eq!(audible, stereo(1_010).len(), "every queued sample is heard");
    }
}
