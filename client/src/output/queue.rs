//! The queue of decoded PCM between the decoder and whatever plays it at real-time speed.
//!
//! Samples are tagged with the generation (one per started song) that produced them, so a switch
//! or stop empties the queue and late pushes from the old decoder are dropped.
//!
//! The queue holds at most about [`QUEUED_SECONDS`] of audio: a push waits for room. That wait is
//! what paces the decoder, and through the bounded segment channel the fetcher, by the audio
//! actually played rather than by the durations a manifest claims.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};

use tokio::sync::mpsc;

use super::format::PcmFormat;
use crate::player::signal::Signal;

/// How far playback of the current generation has got, in output frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Played {
    pub generation: u64,
    pub frames: u64,
}

/// Audio the queue holds before a push waits: enough to cover the decoder's hiccups, small
/// enough that the read-ahead stays a matter of seconds.
pub const QUEUED_SECONDS: u32 = 2;

pub struct PcmQueue {
    state: Mutex<State>,
    /// Notified when audio leaves the queue or the generation changes.
    room: Condvar,
    signals: mpsc::UnboundedSender<Signal>,
}

#[derive(Default)]
struct State {
    /// 0 when nothing plays.
    generation: u64,
    chunks: VecDeque<Chunk>,
    /// Samples of the front chunk already taken.
    front_taken: usize,
    queued_samples: usize,
    played: Played,
    format: Option<PcmFormat>,
}

impl State {
    /// Samples the queue takes before a push waits; no limit before the format is known.
    fn capacity(&self) -> usize {
        self.format.map_or(usize::MAX, |f| {
            (QUEUED_SECONDS * f.sample_rate) as usize * usize::from(f.channels)
        })
    }
}

enum Chunk {
    Samples(Vec<f32>),
    /// The generation's last sample came before this.
    End,
}

impl PcmQueue {
    pub fn new(signals: mpsc::UnboundedSender<Signal>) -> PcmQueue {
        PcmQueue {
            state: Mutex::new(State::default()),
            room: Condvar::new(),
            signals,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The output format, fixed by the device or by the first song.
    pub fn format(&self) -> Option<PcmFormat> {
        self.state().format
    }

    /// Fixes the output format unless it already is; returns the format in force.
    pub fn fix_format(&self, format: PcmFormat) -> PcmFormat {
        *self.state().format.get_or_insert(format)
    }

    /// How far playback has got; it keeps the count of a finished generation until the next
    /// `start`.
    pub fn played(&self) -> Played {
        self.state().played
    }

    /// Drops all queued audio and starts accepting samples of `generation` (0: none).
    pub fn start(&self, generation: u64) {
        let mut state = self.state();
        state.generation = generation;
        state.chunks.clear();
        state.front_taken = 0;
        state.queued_samples = 0;
        state.played = Played {
            generation,
            frames: 0,
        };
        drop(state);
        self.room.notify_all();
    }

    /// Drops all queued audio: nothing plays until the next `start`.
    pub fn stop(&self) {
        self.start(0);
    }

    /// Queues decoded samples (whole frames); ignored unless `generation` is current. Waits while
    /// the queue is full, until the output has taken some or the generation has ended.
    pub fn push(&self, generation: u64, samples: Vec<f32>) {
        let state = self.state();
        let mut state = self
            .room
            .wait_while(state, |s| {
                generation != 0 && s.generation == generation && s.queued_samples >= s.capacity()
            })
            .unwrap_or_else(|e| e.into_inner());
        if generation != 0 && generation == state.generation && !samples.is_empty() {
            state.queued_samples += samples.len();
            state.chunks.push_back(Chunk::Samples(samples));
        }
    }

    /// Marks the end of `generation`'s audio; the output reports it finished once it gets there.
    pub fn end(&self, generation: u64) {
        let mut state = self.state();
        if generation != 0 && generation == state.generation {
            state.chunks.push_back(Chunk::End);
        }
    }

    /// Takes up to `max_frames` frames off the front, appending them to `out`; returns the number
    /// of frames taken. Passing the end of a generation reports it finished.
    pub fn pop(&self, max_frames: usize, out: &mut Vec<f32>) -> usize {
        let mut state = self.state();
        let Some(format) = state.format else {
            return 0;
        };
        let channels = usize::from(format.channels);
        let mut wanted = max_frames * channels;
        let mut taken = 0;
        let mut finished = None;
        while wanted > 0 {
            let front_taken = state.front_taken;
            match state.chunks.front() {
                None => break,
                Some(Chunk::End) => {
                    state.chunks.pop_front();
                    finished = Some(state.generation);
                    break;
                }
                Some(Chunk::Samples(samples)) => {
                    let n = wanted.min(samples.len() - front_taken);
                    out.extend_from_slice(&samples[front_taken..front_taken + n]);
                    let done = front_taken + n == samples.len();
                    wanted -= n;
                    taken += n;
                    if done {
                        state.chunks.pop_front();
                        state.front_taken = 0;
                    } else {
                        state.front_taken += n;
                    }
                }
            }
        }
        state.queued_samples -= taken;
        let frames = taken / channels;
        state.played.frames += frames as u64;
        if finished.is_some() {
            state.generation = 0;
        }
        drop(state);
        if frames > 0 {
            self.room.notify_all();
        }
        if let Some(generation) = finished {
            let _ = self.signals.send(Signal::Finished { generation });
        }
        frames
    }

    /// Reports an output failure against the generation playing now.
    pub fn fail(&self, error: crate::error::ClientError) {
        let generation = self.state().generation;
        let _ = self.signals.send(Signal::Failed { generation, error });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue() -> (PcmQueue, mpsc::UnboundedReceiver<Signal>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let queue = PcmQueue::new(tx);
        queue.fix_format(PcmFormat {
            sample_rate: 10,
            channels: 2,
        });
        (queue, rx)
    }

    #[test]
    fn pops_whole_frames_across_chunks_and_reports_the_end() {
        let (queue, mut signals) = queue();
        queue.start(1);
        queue.push(1, vec![1.0, 2.0, 3.0, 4.0]);
        queue.push(1, vec![5.0, 6.0]);
        queue.end(1);
        let mut out = Vec::new();
        assert_eq!(queue.pop(1, &mut out), 1);
        assert_eq!(out, [1.0, 2.0]);
        assert!(signals.try_recv().is_err());
        assert_eq!(queue.pop(10, &mut out), 2);
        assert_eq!(out, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert!(matches!(
            signals.try_recv(),
            Ok(Signal::Finished { generation: 1 })
        ));
        assert_eq!(
            queue.played(),
            Played {
                generation: 1,
                frames: 3
            }
        );
    }

    #[test]
    fn a_full_queue_holds_the_decoder_until_a_stop_releases_it() {
        let (queue, _signals) = queue();
        let queue = std::sync::Arc::new(queue);
        queue.start(1);
        // Capacity at 10 Hz stereo: QUEUED_SECONDS * 20 samples.
        let full = (QUEUED_SECONDS * 20) as usize;
        queue.push(1, vec![0.5; full]);
        let pusher = std::thread::spawn({
            let queue = queue.clone();
            move || queue.push(1, vec![9.0, 9.0])
        });
        queue.stop();
        pusher.join().unwrap();
        let mut out = Vec::new();
        assert_eq!(queue.pop(100, &mut out), 0);
    }

    #[test]
    fn a_new_generation_drops_old_audio_and_late_pushes() {
        let (queue, mut signals) = queue();
        queue.start(1);
        queue.push(1, vec![1.0, 1.0]);
        queue.start(2);
        queue.push(1, vec![9.0, 9.0]);
        queue.end(1);
        queue.push(2, vec![2.0, 2.0]);
        let mut out = Vec::new();
        assert_eq!(queue.pop(10, &mut out), 1);
        assert_eq!(out, [2.0, 2.0]);
        assert!(signals.try_recv().is_err());
        queue.stop();
        queue.push(2, vec![3.0, 3.0]);
        assert_eq!(queue.pop(10, &mut out), 0);
    }
}
