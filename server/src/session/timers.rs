//! The deadlines of a connection, and what happens when one passes: the HELLO deadline, the frame
//! deadline, the idle time, the send deadline and the linger after a fatal error. Each is a
//! [`Timer`] in a small table; the shell sleeps until the earliest ([`Session::poll_timeout`]) and
//! reports it ([`Session::handle_timeout`]).
//!
//! Between them they bound how long a client can hold a connection without doing its part: it must
//! say HELLO in time, finish every frame it begins, send or take a whole frame within the idle time,
//! and take some of what waits for it within the send deadline (shorter once it has closed its
//! side: it can then only be waiting for answers).

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
    /// A frame begun has not been completed: IDLE_TIMEOUT. Runs while a partial frame waits in the
    /// input and the session takes frames (not while it waits for the client to read answers).
    Frame,
    /// Checked when it comes, against the last frame received or sent (the idle time is restarted
    /// by every frame, and moving a timer each time would cost more than looking once).
    Idle,
    /// Checked when it comes, against the last write that took bytes: runs while something waits to
    /// be written; when the client took nothing for the send time, close.
    Send,
    /// The linger after a fatal error is over: close.
    Linger,
    /// The server's drain is over (see `going_away.rs`): close.
    GoneBy,
}

impl Timer {
    const ALL: [Timer; 6] = [
        Timer::Hello,
        Timer::Frame,
        Timer::Idle,
        Timer::Send,
        Timer::Linger,
        Timer::GoneBy,
    ];
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
                Timer::Frame => {
                    let message = format!(
                        "a frame was begun and not completed within {} s",
                        self.limits.frame_timeout.as_secs_f64()
                    );
                    self.fail(now, ErrorCode::IdleTimeout, message);
                }
                Timer::Idle => self.idle(now),
                Timer::Send => self.send_deadline(now),
                Timer::Linger => match self.state {
                    State::Closing => {
                        self.close(Closed::ErrorNotTaken);
                    }
                    State::Draining { .. } => {
                        self.close(Closed::AfterError);
                    }
                    _ => {}
                },
                Timer::GoneBy => {
                    if self.closed().is_none() {
                        self.close(Closed::Drained);
                    }
                }
            }
        }
        self.watch_sending(now);
    }

    /// A whole frame received or sent: the client is not idle.
    pub(super) fn active(&mut self, now: Instant) {
        self.last_activity = now;
    }

    /// Starts the frame deadline for a partial frame that waits in the input, received at `now`,
    /// when `fresh` (a frame was just taken, so what is left began in the bytes just received) or
    /// when none runs; stops it when no partial frame waits or the session takes no frames.
    pub(super) fn watch_frame(&mut self, now: Instant, fresh: bool) {
        if self.accepts_frames() && !self.input.is_empty() {
            if fresh || !self.timers.is_running(Timer::Frame) {
                self.timers
                    .set(Timer::Frame, now + self.limits.frame_timeout);
            }
        } else {
            self.timers.stop(Timer::Frame);
        }
    }

    /// Starts the send deadline when something comes to wait for writing, and stops it when nothing
    /// does (waiting for a catalog read is the server's wait, not the client's). Called with the
    /// time at the end of every handler that can change what waits.
    pub(super) fn watch_sending(&mut self, now: Instant) {
        let open = matches!(self.state, State::AwaitingHello | State::Open);
        if open && self.has_output() {
            if !self.timers.is_running(Timer::Send) {
                self.last_sent = now;
                self.timers.set(Timer::Send, now + self.send_timeout());
            }
        } else {
            self.timers.stop(Timer::Send);
        }
    }

    /// The client closed its side: from now on it can only be waiting for answers, so the shorter
    /// deadline applies to taking them.
    pub(super) fn shorten_send_deadline(&mut self) {
        if self.timers.is_running(Timer::Send) {
            self.timers
                .set(Timer::Send, self.last_sent + self.send_timeout());
        }
    }

    /// How long the client may take nothing while something waits for it.
    fn send_timeout(&self) -> Duration {
        if self.eof {
            self.limits.fin_timeout.min(self.limits.send_timeout)
        } else {
            self.limits.send_timeout
        }
    }

    /// The send deadline's first deadline has come.
    fn send_deadline(&mut self, now: Instant) {
        let due = self.last_sent + self.send_timeout();
        if now < due {
            // Bytes were taken since the timer was set.
            self.timers.set(Timer::Send, due);
        } else if self.has_output() {
            // An ERROR would not be taken either.
            self.close(Closed::StoppedReading);
        }
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
