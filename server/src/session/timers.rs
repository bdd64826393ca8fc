//! The deadlines of a connection, and what happens when one passes: the HELLO deadline, the idle
//! time, the linger after a fatal error, and the pause before looking again at a slow client's
//! socket. Each is a [`Timer`] in a small table; the shell sleeps until the earliest
//! ([`Session::poll_timeout`]) and reports it ([`Session::handle_timeout`]).

use std::time::{Duration, Instant};

use jukebox_protocol::ErrorCode;

use super::{Closed, Session, State};

/// How long a new connection has to send its HELLO (or the idle time, if shorter).
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// After a fatal error, the most time the server spends sending what is queued and the ERROR,
/// then discarding what the client still sends (see [`super::DRAIN_LIMIT`]). Closing at once with
/// unread bytes would make the kernel send a reset, which can destroy the ERROR before the client
/// reads it.
pub const LINGER: Duration = Duration::from_secs(2);

/// The kinds of deadline a connection has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// The HELLO has not come: IDLE_TIMEOUT.
    Hello,
    /// Checked when it comes, against the last frame received or sent (the idle time is restarted
    /// by every frame, and moving a timer each time would cost more than looking once).
    Idle,
    /// The linger after a fatal error is over: close.
    Linger,
    /// A slow client's socket may be looked at again.
    Pace,
}

impl Timer {
    const ALL: [Timer; 4] = [Timer::Hello, Timer::Idle, Timer::Linger, Timer::Pace];
}

/// When each timer is due, if it runs.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Timers([Option<Instant>; Timer::ALL.len()]);

impl Timers {
    pub(super) fn set(&mut self, timer: Timer, at: Instant) {
        self.0[timer as usize] = Some(at);
    }

    pub(super) fn stop(&mut self, timer: Timer) {
        self.0[timer as usize] = None;
    }

    pub(super) fn is_running(&self, timer: Timer) -> bool {
        self.0[timer as usize].is_some()
    }

    fn expired(&self, timer: Timer, now: Instant) -> bool {
        self.0[timer as usize].is_some_and(|at| at <= now)
    }

    fn next(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }
}

impl Session {
    /// When [`Session::handle_timeout`] is to be called next, if nothing else happens first.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Acts on every deadline reached by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        for timer in Timer::ALL {
            if !self.timers.expired(timer, now) {
                continue;
            }
            self.timers.stop(timer);
            match timer {
                Timer::Hello => self.fail(now, ErrorCode::IdleTimeout, "no HELLO received in time"),
                Timer::Idle => self.idle(now),
                Timer::Linger => match self.state {
                    State::Closing => {
                        self.close(Closed::ErrorNotTaken);
                    }
                    State::Draining { .. } => {
                        self.close(Closed::AfterError);
                    }
                    _ => {}
                },
                Timer::Pace => {}
            }
        }
    }

    /// A whole frame received or sent: the client is not idle.
    pub(super) fn active(&mut self, now: Instant) {
        self.last_activity = now;
    }

    /// The idle timer's first deadline has come.
    fn idle(&mut self, now: Instant) {
        let due = self.last_activity + self.limits.idle_timeout;
        if now < due {
            // Frames came or went since the timer was set.
            self.timers.set(Timer::Idle, due);
        } else if self.out.is_empty() && self.control.is_empty() && self.transfers.waiting() {
            // Nothing to send until a segment is read from storage: the wait is the server's, not
            // the client's. The store's read timeout ends every read, so this cannot go on for ever.
            self.active(now);
            self.timers.set(Timer::Idle, now + self.limits.idle_timeout);
        } else if !self.out.is_empty() || !self.is_idle() {
            // Frames wait and the client takes none: an ERROR would not be read either.
            self.close(Closed::StoppedReading);
        } else {
            let message = format!(
                "no request for {} s",
                self.limits.idle_timeout.as_secs_f64()
            );
            self.fail(now, ErrorCode::IdleTimeout, message);
        }
    }
}
