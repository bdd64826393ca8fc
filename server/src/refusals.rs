//! The log of connections turned away and of failed accepts, at most one line per interval, so
//! that a flood of connections cannot flood the log as well: the first refusal is logged at once,
//! the others are counted, and the counts are logged when the interval is over.

use std::time::{Duration, Instant};

/// Longest time between the lines about refusals while they go on.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Why a connection was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The server is at its connection limit: answered with SERVER_BUSY.
    Full,
    /// Its source has as many connections open as it may: SERVER_BUSY.
    SourceFull,
    /// Its source opens connections faster than it may: SERVER_BUSY.
    SourceTooFast,
    /// The free slots are the reserve, and its source holds too many for it: SERVER_BUSY.
    Reserved,
    /// Too many refusals were under way to answer this one: closed unanswered.
    Unanswered,
    /// Accepting failed (out of descriptors, for example): retried after a pause.
    AcceptFailed,
}

impl Refusal {
    const ALL: [Refusal; 6] = [
        Refusal::Full,
        Refusal::SourceFull,
        Refusal::SourceTooFast,
        Refusal::Reserved,
        Refusal::Unanswered,
        Refusal::AcceptFailed,
    ];

    /// What a refusal of this kind is, for the log.
    pub fn describe(self) -> &'static str {
        match self {
            Refusal::Full => "at the connection limit",
            Refusal::SourceFull => "over their source's connection limit",
            Refusal::SourceTooFast => "over their source's connection rate",
            Refusal::Reserved => {
                "over their source's share of the last slots, kept for sources with few"
            }
            Refusal::Unanswered => "closed unanswered (too many refusals under way)",
            Refusal::AcceptFailed => "failed accepts",
        }
    }
}

/// Counts refusals and says when to log what.
#[derive(Debug, Default)]
pub struct RefusalLog {
    counts: [u64; Refusal::ALL.len()],
    /// The end of the current interval, while one runs.
    until: Option<Instant>,
}

impl RefusalLog {
    /// A refusal at `now`: `true` when it is the first of an interval, to be logged at once (with
    /// its details); otherwise it is counted for [`RefusalLog::summary`].
    pub fn refused(&mut self, why: Refusal, now: Instant) -> bool {
        if self.until.is_none() {
            self.until = Some(now + LOG_INTERVAL);
            return true;
        }
        self.counts[why as usize] += 1;
        false
    }

    /// When [`RefusalLog::summary`] is due, while an interval runs.
    pub fn due(&self) -> Option<Instant> {
        self.until
    }

    /// At the end of the interval: the line to log about the refusals counted in it (`None` if
    /// there were none), after which the next refusal is logged at once again.
    pub fn summary(&mut self, now: Instant) -> Option<String> {
        if self.until.is_none_or(|until| now < until) {
            return None;
        }
        self.until = None;
        let counted: Vec<String> = Refusal::ALL
            .iter()
            .filter(|why| self.counts[**why as usize] > 0)
            .map(|why| format!("{} {}", self.counts[*why as usize], why.describe()))
            .collect();
        self.counts = Default::default();
        if counted.is_empty() {
            return None;
        }
        // Refusals went on: the next one starts a new interval at once.
        Some(format!(
            "in the last {} s, also turned away: {}",
            LOG_INTERVAL.as_secs(),
            counted.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    fn t(ms: u64) -> Instant {
        static START: OnceLock<Instant> = OnceLock::new();
        *START.get_or_init(Instant::now) + Duration::from_millis(ms)
    }

    #[test]
    fn the_first_refusal_is_logged_and_the_rest_summed_up_once_per_interval() {
        let mut log = RefusalLog::default();
        assert!(log.refused(Refusal::SourceFull, t(0)));
        for ms in 1..1000 {
            assert!(!log.refused(Refusal::SourceFull, t(ms)));
        }
        assert!(!log.refused(Refusal::Unanswered, t(2_000)));
        let end = LOG_INTERVAL.as_millis() as u64;
        assert_eq!(log.due(), Some(t(end)));
        assert_eq!(log.summary(t(end - 1)), None, "not yet");
        assert_eq!(
            log.summary(t(end)).unwrap(),
            "in the last 10 s, also turned away: 999 over their source's connection limit, \
             1 closed unanswered (too many refusals under way)"
        );
        assert_eq!(log.due(), None);
        // The next refusal is news again.
        assert!(log.refused(Refusal::Full, t(end + 5)));
    }

    #[test]
    fn a_lone_refusal_needs_no_summary() {
        let mut log = RefusalLog::default();
        assert!(log.refused(Refusal::AcceptFailed, t(0)));
        let end = LOG_INTERVAL.as_millis() as u64;
        assert_eq!(log.summary(t(end)), None);
        assert_eq!(log.due(), None);
    }
}
