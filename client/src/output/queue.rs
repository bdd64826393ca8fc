//! The queue of decoded PCM between the decoders and whatever plays it at real-time speed, and
//! the record of which play requests are live (see [`crate::player::request`]).
//!
//! Audio is tagged with the play request that produced it. Forgetting a request drops its audio,
//! refuses its later pushes, wakes its decoder and its fetcher, and stops its reports; all of that
//! happens here, under one lock, so no stage can see a request half cancelled.
//!
//! The queue holds about [`ReadAhead::queued`] of audio: a push waits for room. That wait is what
//! paces the decoder, and through the bounded segment channel the fetcher, by the audio actually
//! played rather than by the durations a manifest claims.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::format::PcmFormat;
use crate::error::ClientError;
use crate::player::read_ahead::ReadAhead;
use crate::player::request::{PlayId, Report};

/// How far playback has got: the request whose audio was played last, and its frames played.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Played {
    pub id: Option<PlayId>,
    pub frames: u64,
}

pub struct PcmQueue {
    state: Mutex<State>,
    /// [`ReadAhead::queued`].
    queued: Duration,
    /// Notified when audio leaves the queue or a request ends or is forgotten: wakes decoders
    /// waiting to push.
    room: Condvar,
    /// Bumped whenever a request is forgotten: wakes fetchers waiting in `cancelled`.
    forgotten: watch::Sender<()>,
    reports: mpsc::UnboundedSender<Report>,
}

#[derive(Default)]
struct State {
    /// The live requests in the order they play: the first is playing (or about to), the others
    /// are prepared to follow it.
    live: Vec<Live>,
    chunks: VecDeque<Chunk>,
    /// Samples of the front chunk already taken.
    front_taken: usize,
    played: Played,
    format: Option<PcmFormat>,
    /// Frames the output asked for and did not get since it last played audio; they count as
    /// starved once more audio follows without a cancel in between.
    unmet: u64,
    /// The output takes nothing while paused: it stops within one of its buffers, and the
    /// decoders wait at the queue's bound.
    paused: bool,
    gain: Gain,
    /// Frames of silence between two samples played, within a song or from one song to the
    /// next, that no stop asked for (at a sound card each is silence; a paced output writes
    /// nothing then).
    starved: u64,
}

struct Live {
    id: PlayId,
    /// Its end is queued: its decoder has finished.
    ended: bool,
    /// Its own gain (loudness normalisation), applied to its samples alone, so that a song that
    /// follows another without a gap gets its own from its first sample.
    gain: Gain,
}

enum Chunk {
    Samples(PlayId, Vec<f32>),
    /// The request's last sample came before this.
    End(PlayId),
}

impl Chunk {
    fn id(&self) -> PlayId {
        match self {
            Chunk::Samples(id, _) | Chunk::End(id) => *id,
        }
    }

    fn len(&self) -> usize {
        match self {
            Chunk::Samples(_, samples) => samples.len(),
            Chunk::End(_) => 0,
        }
    }
}

/// A gain applied to the samples the output takes, moved to a new value over [`RAMP`] so that a
/// change makes no click: the software volume, applied to every sample, and each request's own.
/// At 1 samples pass unchanged.
#[derive(Debug, Clone, Copy)]
struct Gain {
    /// Where the gain goes.
    target: f32,
    /// The gain of the next frame.
    now: f32,
}

impl Default for Gain {
    fn default() -> Self {
        Gain::at(1.0)
    }
}

/// How long a change of volume takes.
pub const RAMP: Duration = Duration::from_millis(5);

impl Gain {
    /// A gain that starts at `gain`, without a ramp.
    fn at(gain: f32) -> Gain {
        Gain {
            target: gain,
            now: gain,
        }
    }

    /// Scales whole frames of `samples`, stepping the gain towards its target frame by frame.
    fn apply(&mut self, samples: &mut [f32], channels: usize, rate: u32) {
        if self.now == self.target && self.target == 1.0 {
            return;
        }
        let ramp_frames = (RAMP.as_secs_f32() * rate as f32).max(1.0);
        let step = 1.0 / ramp_frames;
        for frame in samples.chunks_mut(channels.max(1)) {
            if self.now != self.target {
                let delta = self.target - self.now;
                self.now = if delta.abs() <= step {
                    self.target
                } else {
                    self.now + step.copysign(delta)
                };
            }
            for sample in frame {
                *sample *= self.now;
            }
        }
    }
}

/// A request's gain as the queue keeps it: a finite factor from 0 to 16 (+24 dB), so that no value
/// can make the output blow up.
fn request_gain(gain: f32) -> f32 {
    if gain.is_finite() {
        gain.clamp(0.0, 16.0)
    } else {
        1.0
    }
}

impl State {
    fn is_live(&self, id: PlayId) -> bool {
        self.live.iter().any(|live| live.id == id)
    }

    /// The request whose audio the queue takes now: the first whose end is not yet queued.
    fn writer(&self) -> Option<PlayId> {
        self.live
            .iter()
            .find(|live| !live.ended)
            .map(|live| live.id)
    }

    fn queued_samples(&self) -> usize {
        self.chunks.iter().map(Chunk::len).sum::<usize>() - self.front_taken
    }

    /// True while `id` must wait to queue: it is prepared behind a request still queuing its
    /// audio, or the queue holds `queued` of audio (it always takes a chunk when empty). False
    /// at once if `id` is not live or has ended.
    fn holds_back(&self, id: PlayId, queued: Duration) -> bool {
        if !self.live.iter().any(|live| live.id == id && !live.ended) {
            return false;
        }
        if self.writer() != Some(id) {
            return true;
        }
        let queued_samples = self.queued_samples();
        let capacity = self.format.map_or(usize::MAX, |f| {
            let frames = queued.as_millis() * u128::from(f.sample_rate) / 1000;
            usize::try_from(frames)
                .unwrap_or(usize::MAX)
                .saturating_mul(usize::from(f.channels))
        });
        queued_samples > 0 && queued_samples >= capacity
    }

    /// Removes `id` and its audio; false if it was not live.
    fn forget(&mut self, id: PlayId) -> bool {
        let Some(at) = self.live.iter().position(|live| live.id == id) else {
            return false;
        };
        self.live.remove(at);
        self.unmet = 0;
        if self.chunks.front().is_some_and(|chunk| chunk.id() == id) {
            self.front_taken = 0;
        }
        self.chunks.retain(|chunk| chunk.id() != id);
        true
    }
}

impl PcmQueue {
    pub fn new(read_ahead: &ReadAhead, reports: mpsc::UnboundedSender<Report>) -> PcmQueue {
        PcmQueue {
            state: Mutex::new(State::default()),
            queued: read_ahead.queued,
            room: Condvar::new(),
            forgotten: watch::Sender::new(()),
            reports,
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

    /// How far playback has got; the count of a request that has ended stays until the next
    /// request's audio plays.
    pub fn played(&self) -> Played {
        self.state().played
    }

    /// Frames of silence between two samples played that no stop asked for: within a song, or
    /// from one song to the one that follows it (at a sound card each is silence; a paced output
    /// writes nothing then).
    pub fn starved_frames(&self) -> u64 {
        self.state().starved
    }

    /// Sets the gain every sample is multiplied by (1 passes them unchanged), reached over
    /// [`RAMP`].
    pub fn set_gain(&self, gain: f32) {
        self.state().gain.target = gain.clamp(0.0, 1.0);
    }

    /// Sets the gain of `id`'s samples alone (as [`PcmQueue::open`] does), reached over [`RAMP`].
    pub fn set_request_gain(&self, id: PlayId, gain: f32) {
        if let Some(live) = self.state().live.iter_mut().find(|live| live.id == id) {
            live.gain.target = request_gain(gain);
        }
    }

    /// Pauses or resumes the output: while paused it gets no audio, and nothing queued is lost,
    /// so playing resumes at the very next sample.
    pub fn set_paused(&self, paused: bool) {
        self.state().paused = paused;
    }

    pub fn is_paused(&self) -> bool {
        self.state().paused
    }

    /// Makes `id` live. Its audio plays after that of the requests already live, multiplied by
    /// `gain` from its first sample (1 passes it unchanged) and then by the volume.
    pub fn open(&self, id: PlayId, gain: f32) {
        self.state().live.push(Live {
            id,
            ended: false,
            gain: Gain::at(request_gain(gain)),
        });
    }

    /// True from `open` until the request is cancelled, fails, or has played to its end.
    pub fn is_live(&self, id: PlayId) -> bool {
        self.state().is_live(id)
    }

    /// Forgets `id` at once: its audio is dropped and every stage sees that it is over. Does
    /// nothing if it is not live.
    pub fn cancel(&self, id: PlayId) {
        let forgotten = self.state().forget(id);
        if forgotten {
            self.forgotten_now();
        }
    }

    /// Resolves once `id` is not live.
    pub async fn cancelled(&self, id: PlayId) {
        // Subscribed before looking, so a cancel between the look and the wait is not missed.
        let mut forgotten = self.forgotten.subscribe();
        while self.is_live(id) {
            if forgotten.changed().await.is_err() {
                return;
            }
        }
    }

    /// Queues decoded samples (whole frames) of `id`. Waits while the queue is full or while
    /// requests before `id` still queue theirs. Returns false, queuing nothing, once `id` is not
    /// live (or has ended): its decoder should stop.
    pub fn push(&self, id: PlayId, samples: Vec<f32>) -> bool {
        let mut state = self.wait_turn(id);
        if state.writer() != Some(id) {
            return false;
        }
        if !samples.is_empty() {
            state.chunks.push_back(Chunk::Samples(id, samples));
        }
        true
    }

    /// Marks the end of `id`'s audio; the output reports it finished once it gets there, and the
    /// request after it may queue its audio.
    pub fn end(&self, id: PlayId) {
        let mut state = self.wait_turn(id);
        let Some(live) = state
            .live
            .iter_mut()
            .find(|live| live.id == id && !live.ended)
        else {
            return;
        };
        live.ended = true;
        state.chunks.push_back(Chunk::End(id));
        drop(state);
        self.room.notify_all();
        let _ = self.reports.send(Report::Ending { id });
    }

    /// Fails `id`: forgets it and reports why, unless it was no longer live.
    pub fn fail(&self, id: PlayId, error: ClientError) {
        if self.state().forget(id) {
            self.forgotten_now();
            let _ = self.reports.send(Report::Failed { id, error });
        }
    }

    /// Fails the request playing now, if any: the output itself failed.
    pub fn fail_playing(&self, error: ClientError) {
        let playing = self.state().live.first().map(|live| live.id);
        if let Some(id) = playing {
            self.fail(id, error);
        }
    }

    /// Takes up to `max_frames` frames off the front, appending them to `out`; returns the number
    /// of frames taken. Passing the end of a request reports it finished, and the next request's
    /// audio follows without a gap.
    pub fn pop(&self, max_frames: usize, out: &mut Vec<f32>) -> usize {
        let mut state = self.state();
        let Some(format) = state.format else {
            return 0;
        };
        if state.paused {
            return 0;
        }
        let channels = usize::from(format.channels);
        let mut wanted = max_frames * channels;
        let mut taken = 0;
        let out_from = out.len();
        let mut finished = Vec::new();
        let State {
            live,
            chunks,
            front_taken,
            played,
            unmet,
            starved,
            ..
        } = &mut *state;
        while wanted > 0 {
            match chunks.front() {
                None => break,
                Some(&Chunk::End(id)) => {
                    chunks.pop_front();
                    live.retain(|live| live.id != id);
                    finished.push(id);
                }
                Some(Chunk::Samples(id, samples)) => {
                    let n = wanted.min(samples.len() - *front_taken);
                    let from = out.len();
                    out.extend_from_slice(&samples[*front_taken..*front_taken + n]);
                    if let Some(live) = live.iter_mut().find(|live| live.id == *id) {
                        live.gain
                            .apply(&mut out[from..], channels, format.sample_rate);
                    }
                    *starved += std::mem::take(unmet);
                    if played.id != Some(*id) {
                        *played = Played {
                            id: Some(*id),
                            frames: 0,
                        };
                    }
                    played.frames += (n / channels) as u64;
                    wanted -= n;
                    taken += n;
                    if *front_taken + n == samples.len() {
                        chunks.pop_front();
                        *front_taken = 0;
                    } else {
                        *front_taken += n;
                    }
                }
            }
        }
        if played.id.is_some() {
            *unmet += (wanted / channels) as u64;
        }
        state
            .gain
            .apply(&mut out[out_from..], channels, format.sample_rate);
        drop(state);
        if taken > 0 || !finished.is_empty() {
            self.room.notify_all();
        }
        if !finished.is_empty() {
            self.forgotten.send_replace(());
        }
        for id in finished {
            let _ = self.reports.send(Report::Finished { id });
        }
        taken / channels
    }

    /// The state once `id` may queue (or is no longer live).
    fn wait_turn(&self, id: PlayId) -> MutexGuard<'_, State> {
        let state = self.state();
        self.room
            .wait_while(state, |state| state.holds_back(id, self.queued))
            .unwrap_or_else(|e| e.into_inner())
    }

    fn forgotten_now(&self) {
        self.room.notify_all();
        self.forgotten.send_replace(());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: PlayId = PlayId(1);
    const TWO: PlayId = PlayId(2);

    fn queue() -> (PcmQueue, mpsc::UnboundedReceiver<Report>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let queue = PcmQueue::new(&ReadAhead::default(), tx);
        queue.fix_format(PcmFormat {
            sample_rate: 10,
            channels: 2,
        });
        (queue, rx)
    }

    /// Runs `work` on a thread of its own and hands its result over a channel, for the test to
    /// wait for with a bound: a thread that stays blocked fails the test instead of hanging it.
    fn on_a_thread<T: Send + 'static>(
        work: impl FnOnce() -> T + Send + 'static,
    ) -> std::sync::mpsc::Receiver<T> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(work());
        });
        rx
    }

    /// The next report that is not an `Ending`, which every `end` sends.
    fn not_ending(
        reports: &mut mpsc::UnboundedReceiver<Report>,
    ) -> Result<Report, mpsc::error::TryRecvError> {
        loop {
            match reports.try_recv() {
                Ok(Report::Ending { .. }) => continue,
                other => return other,
            }
        }
    }

    const PATIENCE: Duration = Duration::from_secs(60);

    #[test]
    fn pops_whole_frames_across_chunks_and_reports_the_end() {
        let (queue, mut reports) = queue();
        queue.open(ONE, 1.0);
        queue.push(ONE, vec![1.0, 2.0, 3.0, 4.0]);
        queue.push(ONE, vec![5.0, 6.0]);
        queue.end(ONE);
        let mut out = Vec::new();
        assert_eq!(queue.pop(1, &mut out), 1);
        assert_eq!(out, [1.0, 2.0]);
        assert!(not_ending(&mut reports).is_err());
        assert_eq!(queue.pop(10, &mut out), 2);
        assert_eq!(out, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert!(matches!(
            not_ending(&mut reports),
            Ok(Report::Finished { id: ONE })
        ));
        assert_eq!(
            queue.played(),
            Played {
                id: Some(ONE),
                frames: 3
            }
        );
        assert!(!queue.is_live(ONE));
    }

    #[test]
    fn the_output_is_starved_only_mid_stream() {
        let (queue, _reports) = queue();
        let mut out = Vec::new();
        // Nothing played yet: buffering, not a gap.
        queue.open(ONE, 1.0);
        queue.open(TWO, 1.0);
        assert_eq!(queue.pop(4, &mut out), 0);
        assert_eq!(queue.starved_frames(), 0);
        queue.push(ONE, vec![1.0; 4]);
        queue.end(ONE);
        // Two frames of ONE, then its end with no audio of TWO yet: three frames of silence,
        // starved once TWO's audio follows.
        assert_eq!(queue.pop(5, &mut out), 2);
        queue.push(TWO, vec![2.0; 2]);
        queue.end(TWO);
        assert_eq!(queue.pop(1, &mut out), 1);
        assert_eq!(queue.starved_frames(), 3);
        // After the last song: idle, not starved.
        assert_eq!(queue.pop(10, &mut out), 0);
        assert_eq!(queue.starved_frames(), 3);
        // Silence ended by a stop is not starving either.
        let three = PlayId(3);
        queue.open(three, 1.0);
        queue.cancel(three);
        queue.open(PlayId(4), 1.0);
        queue.push(PlayId(4), vec![4.0; 2]);
        assert_eq!(queue.pop(1, &mut out), 1);
        assert_eq!(queue.starved_frames(), 3);
    }

    #[test]
    fn a_pause_takes_nothing_and_loses_nothing() {
        let (queue, _reports) = queue();
        queue.open(ONE, 1.0);
        queue.push(ONE, vec![1.0, 1.0, 2.0, 2.0, 3.0, 3.0]);
        let mut out = Vec::new();
        assert_eq!(queue.pop(1, &mut out), 1);
        queue.set_paused(true);
        assert_eq!(queue.pop(2, &mut out), 0);
        assert_eq!(queue.played().frames, 1);
        queue.set_paused(false);
        assert_eq!(queue.pop(2, &mut out), 2);
        assert_eq!(out, [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]);
        // A pause is not starving.
        assert_eq!(queue.starved_frames(), 0);
    }

    #[test]
    fn a_volume_change_ramps_and_full_volume_is_exact() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let queue = PcmQueue::new(&ReadAhead::default(), tx);
        // 1 kHz mono: the ramp is 5 frames.
        queue.fix_format(PcmFormat {
            sample_rate: 1000,
            channels: 1,
        });
        queue.open(ONE, 1.0);
        let odd = 0.123_456_79_f32;
        queue.push(ONE, vec![odd; 20]);
        let mut out = Vec::new();
        queue.pop(2, &mut out);
        assert!(out.iter().all(|s| s.to_bits() == odd.to_bits()));
        queue.set_gain(0.0);
        out.clear();
        queue.pop(8, &mut out);
        let gains: Vec<f32> = out.iter().map(|s| s / odd).collect();
        for (got, want) in gains.iter().zip([0.8, 0.6, 0.4, 0.2, 0.0, 0.0, 0.0, 0.0]) {
            assert!((got - want).abs() < 1e-5, "{gains:?}");
        }
        queue.set_gain(1.0);
        out.clear();
        queue.pop(10, &mut out);
        assert!((out[0] / odd - 0.2).abs() < 1e-5, "{out:?}");
        assert_eq!(out[9].to_bits(), odd.to_bits());
    }

    #[test]
    fn each_request_has_its_own_gain_from_its_first_sample() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let queue = PcmQueue::new(&ReadAhead::default(), tx);
        // 1 kHz mono: a ramp is 5 frames.
        queue.fix_format(PcmFormat {
            sample_rate: 1000,
            channels: 1,
        });
        queue.open(ONE, 0.5);
        queue.open(TWO, 2.0);
        queue.push(ONE, vec![1.0; 3]);
        queue.end(ONE);
        queue.push(TWO, vec![1.0; 200]);
        let mut out = Vec::new();
        // Across the boundary in one pop: each sample gets its own request's gain, no ramp.
        assert_eq!(queue.pop(6, &mut out), 6);
        assert_eq!(out, [0.5, 0.5, 0.5, 2.0, 2.0, 2.0]);
        // A change mid-song ramps, and the volume multiplies it.
        queue.set_request_gain(TWO, 1.0);
        queue.set_gain(0.5);
        out.clear();
        queue.pop(10, &mut out);
        assert!((out[0] - 1.8 * 0.8).abs() < 1e-5, "{out:?}");
        assert!((out[9] - 0.5).abs() < 1e-6, "{out:?}");
        // Nonsense is bounded: no gain above 16, none that is not a number.
        queue.set_request_gain(TWO, f32::INFINITY);
        queue.set_gain(1.0);
        out.clear();
        queue.pop(10, &mut out);
        assert_eq!(out[9], 1.0);
        queue.set_request_gain(TWO, 1e9);
        out.clear();
        queue.pop(100, &mut out);
        assert_eq!(out[99], 16.0);
    }

    #[test]
    fn a_full_queue_holds_the_decoder_until_a_stop_releases_it() {
        let (queue, _reports) = queue();
        let queue = std::sync::Arc::new(queue);
        queue.open(ONE, 1.0);
        // Capacity at 10 Hz stereo: 20 samples a second.
        let full = ReadAhead::default().queued.as_secs() as usize * 20;
        assert!(queue.push(ONE, vec![0.5; full]));
        let pusher = on_a_thread({
            let queue = queue.clone();
            move || queue.push(ONE, vec![9.0, 9.0])
        });
        queue.cancel(ONE);
        let pushed = pusher.recv_timeout(PATIENCE);
        assert!(
            !pushed.expect("the cancel releases the push"),
            "the push was refused"
        );
        let mut out = Vec::new();
        assert_eq!(queue.pop(100, &mut out), 0);
    }

    #[test]
    fn a_new_request_drops_old_audio_and_late_pushes() {
        let (queue, mut reports) = queue();
        queue.open(ONE, 1.0);
        queue.push(ONE, vec![1.0, 1.0]);
        queue.cancel(ONE);
        queue.open(TWO, 1.0);
        assert!(!queue.push(ONE, vec![9.0, 9.0]));
        queue.end(ONE);
        queue.fail(ONE, ClientError::Output("late".into()));
        queue.push(TWO, vec![2.0, 2.0]);
        let mut out = Vec::new();
        assert_eq!(queue.pop(10, &mut out), 1);
        assert_eq!(out, [2.0, 2.0]);
        assert!(not_ending(&mut reports).is_err());
        queue.cancel(TWO);
        queue.push(TWO, vec![3.0, 3.0]);
        assert_eq!(queue.pop(10, &mut out), 0);
    }

    #[test]
    fn a_failure_is_reported_once_and_forgets_the_request() {
        let (queue, mut reports) = queue();
        queue.open(ONE, 1.0);
        queue.push(ONE, vec![1.0, 1.0]);
        queue.fail_playing(ClientError::Output("disk full".into()));
        queue.fail(ONE, ClientError::Output("again".into()));
        assert!(matches!(
            not_ending(&mut reports),
            Ok(Report::Failed { id: ONE, .. })
        ));
        assert!(not_ending(&mut reports).is_err());
        assert!(!queue.is_live(ONE));
        assert_eq!(queue.pop(10, &mut Vec::new()), 0);
    }

    #[test]
    fn a_prepared_request_queues_its_audio_behind_the_playing_ones_end() {
        let (queue, mut reports) = queue();
        let queue = std::sync::Arc::new(queue);
        queue.open(ONE, 1.0);
        queue.open(TWO, 1.0);
        assert_eq!(queue.state().writer(), Some(ONE));
        let prepared = on_a_thread({
            let queue = queue.clone();
            move || {
                assert!(queue.push(TWO, vec![2.0, 2.0]));
                queue.end(TWO);
            }
        });
        queue.push(ONE, vec![1.0, 1.0]);
        queue.end(ONE);
        prepared
            .recv_timeout(PATIENCE)
            .expect("the prepared request queues its audio");
        let mut out = Vec::new();
        assert_eq!(queue.pop(10, &mut out), 2);
        assert_eq!(out, [1.0, 1.0, 2.0, 2.0]);
        assert!(matches!(
            not_ending(&mut reports),
            Ok(Report::Finished { id: ONE })
        ));
        assert!(matches!(
            not_ending(&mut reports),
            Ok(Report::Finished { id: TWO })
        ));
        assert_eq!(
            queue.played(),
            Played {
                id: Some(TWO),
                frames: 1
            }
        );
    }

    #[tokio::test]
    async fn cancelled_resolves_when_the_request_is_forgotten() {
        let (queue, _reports) = queue();
        let queue = std::sync::Arc::new(queue);
        // Never opened: not live.
        queue.cancelled(TWO).await;
        queue.open(ONE, 1.0);
        let waiter = tokio::spawn({
            let queue = queue.clone();
            async move { queue.cancelled(ONE).await }
        });
        tokio::task::yield_now().await;
        queue.cancel(ONE);
        tokio::time::timeout(Duration::from_secs(30), waiter)
            .await
            .expect("the waiter wakes")
            .unwrap();
    }
}
