//! Real-time pacing for outputs without a sound card: how many frames a device playing at the
//! sample rate would have consumed by now.

use std::time::{Duration, Instant};

/// A monotonic clock; injectable so pacing is tested without sleeping.
pub trait Clock: Send {
    fn now(&self) -> Duration;
}

/// Time since the clock was created.
pub struct SystemClock(Instant);

impl SystemClock {
    pub fn new() -> SystemClock {
        SystemClock(Instant::now())
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }
}

/// Counts frames due at a fixed rate. When fewer frames were available than due (nothing playing,
/// or the network fell behind) the debt is forgotten, as a sound card plays on without waiting:
/// after an underrun playback resumes at real-time speed instead of racing to catch up.
#[derive(Debug)]
pub struct Pacer {
    rate: u64,
    origin: Duration,
    consumed: u64,
}

impl Pacer {
    pub fn new(rate: u32, now: Duration) -> Pacer {
        Pacer {
            rate: u64::from(rate),
            origin: now,
            consumed: 0,
        }
    }

    /// Frames due at `now` and not yet consumed.
    pub fn due(&self, now: Duration) -> u64 {
        let elapsed = now.saturating_sub(self.origin).as_nanos();
        let total = elapsed * u128::from(self.rate) / 1_000_000_000;
        (total as u64).saturating_sub(self.consumed)
    }

    /// Records that `frames` of the `due` frames were consumed at `now`.
    pub fn consumed(&mut self, frames: u64, due: u64, now: Duration) {
        if frames < due {
            self.origin = now;
            self.consumed = 0;
        } else {
            self.consumed += frames;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn frames_fall_due_at_the_sample_rate() {
        let mut pacer = Pacer::new(22_050, Duration::ZERO);
        assert_eq!(pacer.due(Duration::ZERO), 0);
        assert_eq!(pacer.due(10 * MS), 220);
        pacer.consumed(220, 220, 10 * MS);
        assert_eq!(pacer.due(10 * MS), 0);
        // Rounding never loses or gains frames over a long run.
        let mut total = 220;
        for step in 2..=2000u32 {
            let now = step * 10 * MS;
            let due = pacer.due(now);
            pacer.consumed(due, due, now);
            total += due;
        }
        assert_eq!(total, 22_050 * 20);
    }

    #[test]
    fn two_seconds_of_clock_consume_two_seconds_of_audio() {
        let mut pacer = Pacer::new(48_000, Duration::from_secs(5));
        let mut total = 0;
        let mut now = Duration::from_secs(5);
        while now < Duration::from_secs(7) {
            now += 7 * MS;
            let due = pacer.due(now);
            pacer.consumed(due, due, now);
            total += due;
        }
        assert!((96_000..96_000 + 7 * 48).contains(&total), "{total}");
    }

    #[test]
    fn an_underrun_forgets_the_debt() {
        let mut pacer = Pacer::new(1000, Duration::ZERO);
        let due = pacer.due(Duration::from_secs(3));
        assert_eq!(due, 3000);
        pacer.consumed(100, due, Duration::from_secs(3));
        assert_eq!(pacer.due(Duration::from_secs(3)), 0);
        assert_eq!(pacer.due(Duration::from_secs(3) + 10 * MS), 10);
    }
}
