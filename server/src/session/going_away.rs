//! Going away: when the server drains (SIGTERM), each connection sends GOAWAY with the time left
//! and is served as before; it closes when the client has closed its side and has its answers
//! (`Closed::Finished`, as at any close), or at the drain's end (`Closed::Drained`).

use std::time::Instant;

use jukebox_protocol::{Frame, Message};

use super::timers::Timer;
use super::{Session, State};
use crate::outgoing::OutFrame;

impl Session {
    /// The server drains, seen at `now`; the connection closes by `deadline`. GOAWAY, with the
    /// time left in milliseconds, is queued ahead of any DATA, or right after the WELCOME if the
    /// HELLO has not come yet. At most one GOAWAY is sent, none on a failing connection.
    pub fn handle_drain(&mut self, now: Instant, deadline: Instant) {
        if self.went_away || self.going_away.is_some() {
            return;
        }
        match self.state {
            State::AwaitingHello | State::Open => {
                self.timers.set(Timer::GoneBy, deadline);
                self.going_away = Some(deadline);
                if self.state == State::Open {
                    self.send_going_away(now);
                }
            }
            _ => {}
        }
        self.watch_sending(now);
    }

    /// True once the connection has been told the server drains.
    pub fn is_going_away(&self) -> bool {
        self.went_away || self.going_away.is_some()
    }

    /// Queues the GOAWAY asked for, if any, at `now`.
    pub(super) fn send_going_away(&mut self, now: Instant) {
        let Some(deadline) = self.going_away.take() else {
            return;
        };
        self.went_away = true;
        let left = deadline.saturating_duration_since(now);
        self.control.push_back(OutFrame::encode(&Frame {
            request_id: 0,
            message: Message::GoAway {
                within_ms: u32::try_from(left.as_millis()).unwrap_or(u32::MAX),
                message: "the server is shutting down; connect again".into(),
            },
        }));
    }
}
