//! What goes to the client and how it is written: the next frames (control responses first, then
//! DATA cut to the size the client keeps up with), whether a write carries MSG_MORE, when to ask the
//! kernel for room below the low-water mark first, and when to shut down or close.
//!
//! A client that keeps up gets every DATA frame of a segment but the last written with MSG_MORE, so
//! that frames written one at a time, with a check for requests in between, leave in full packets;
//! the kernel sends the held-back tail with the next write without the flag, or when told to
//! ([`Transmit::Uncork`]) because nothing follows at once.

use std::io::IoSlice;
use std::time::Instant;

use bytes::Buf;

use super::{Session, State};
use crate::outgoing::OutFrame;

/// Most frames gathered into one write (see `Config::data_frames_per_write`).
pub const MAX_FRAMES_PER_WRITE: usize = 8;

/// What the shell is to do with the socket, from [`Session::poll_transmit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transmit {
    /// Once the socket is writable: write [`Session::write_slices`] in one vectored write, with
    /// MSG_MORE when `more`, and report it with [`Session::handle_written`] or
    /// [`Session::handle_write_refused`].
    Write { more: bool },
    /// Once the socket is writable: ask the kernel, without waiting, whether it holds less than the
    /// low-water mark unsent (whether it would report the socket writable now), and report it: room
    /// with [`Session::handle_room`], none with [`Session::handle_write_refused`], after which the
    /// shell waits for the kernel to report the socket writable before it asks again (so a client
    /// that takes nothing costs nothing until it does).
    CheckRoom,
    /// Now: send what earlier writes with MSG_MORE left held back (nothing follows at once).
    Uncork,
    /// Now: shut down the sending side, everything having been sent; go on reading.
    Shutdown,
    /// Now: close the connection.
    Close(Closed),
}

/// Why a connection was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// The client closed its side and has every answer it asked for.
    Finished,
    /// The client closed its side in the middle of a frame.
    MidFrame,
    /// Frames waited and the client took none for the send time (or took no whole frame for the
    /// idle time); an ERROR would not be read either.
    StoppedReading,
    /// A fatal ERROR was queued and the client did not take it within the linger time.
    ErrorNotTaken,
    /// After a fatal ERROR, sent: the client closed, or the linger time or the drain limit ran out.
    AfterError,
    /// The server's drain time is over; the client had GOAWAY.
    Drained,
}

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Closed::Finished => "the client closed after its answers",
            Closed::MidFrame => "the client closed in the middle of a frame",
            Closed::StoppedReading => "the client stopped reading",
            Closed::ErrorNotTaken => "the client did not take its error",
            Closed::AfterError => "closed after a fatal error",
            Closed::Drained => "closed at the end of the server's drain",
        })
    }
}

impl Session {
    /// What to do next with the socket; `None` when nothing is to be written until a handler is
    /// called (an input, a read finished, a deadline). See the module docs for the order of calls.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        match self.state {
            State::Closed(why) => return Some(Transmit::Close(why)),
            State::Draining { .. } => return None,
            _ => {}
        }
        if self.out.is_empty() {
            self.fill();
        }
        if self.corked && (self.out.is_empty() || self.slow.is_slow()) {
            // Nothing follows at once: the transfer was cancelled, or the socket refused a write
            // and what is held back must go for room to come.
            self.corked = false;
            return Some(Transmit::Uncork);
        }
        if self.out.is_empty() {
            if self.state == State::Closing {
                self.state = State::Draining { drained: 0 };
                return Some(Transmit::Shutdown);
            }
            if self.eof && self.is_idle() {
                return Some(self.close(Closed::Finished));
            }
            return None;
        }
        if self.slow.is_slow() && self.limits.notsent_lowat.is_some() && !self.room_checked {
            return Some(Transmit::CheckRoom);
        }
        Some(Transmit::Write {
            more: self.write_more(),
        })
    }

    /// True when the next frame to write is DATA and nothing of an earlier one is left to write:
    /// the moment to look for requests that have arrived, so that one waits behind at most one
    /// DATA frame.
    pub fn next_is_data(&self) -> bool {
        self.out.is_empty() && self.data_follows()
    }

    /// The bytes of the write under way, header and payload of each frame as separate slices of
    /// the shared buffers; returns how many of `dst` it filled (at most two per frame).
    pub fn write_slices<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut count = 0;
        for frame in &self.out {
            count += frame.chunks_vectored(&mut dst[count..]);
        }
        count
    }

    /// `n` bytes of [`Session::write_slices`] were written at `now`.
    pub fn handle_written(&mut self, now: Instant, n: usize) {
        self.corked = self.write_more();
        self.room_checked = false;
        if n > 0 {
            self.last_sent = now;
        }
        let mut left = n;
        while let Some(frame) = self.out.front_mut() {
            let remaining = frame.remaining();
            if left < remaining {
                frame.advance(left);
                break;
            }
            left -= remaining;
            self.out.pop_front();
            self.slow.sent_frame();
            self.active(now);
        }
        // Room may have come in the control queue for requests already received.
        self.take_requests(now);
        self.watch_sending(now);
    }

    /// The socket refused a write (it would block), or had no room below the low-water mark when
    /// asked ([`Transmit::CheckRoom`]): the client does not keep up. Writing more would only
    /// lengthen the queue a control response waits behind, so nothing is written until the kernel
    /// reports the socket writable.
    pub fn handle_write_refused(&mut self) {
        self.room_checked = false;
        self.slow.refused();
    }

    /// The kernel had room below the low-water mark when asked ([`Transmit::CheckRoom`]): the next
    /// write may go.
    pub fn handle_room(&mut self) {
        self.room_checked = true;
    }

    /// Takes the next frames: a control response, else as many DATA frames as a write may carry,
    /// each at most as large as the client keeps up with.
    fn fill(&mut self) {
        let max_data = self.slow.data_payload();
        let first = self.next_frame_within(max_data);
        self.out.extend(first);
        while self.out.len() < self.limits.data_frames_per_write && self.data_follows() {
            let frame = self.next_frame_within(max_data);
            self.out.extend(frame);
        }
    }

    /// True when the next frame taken would be DATA.
    fn data_follows(&self) -> bool {
        self.control.is_empty() && self.transfers.ready()
    }

    /// The next frame to send: a control response, else the next piece (at most `max_data` bytes,
    /// END on the last) of the current transfer, if its bytes are at hand.
    pub(super) fn next_frame_within(&mut self, max_data: usize) -> Option<OutFrame> {
        match self.control.pop_front() {
            Some(frame) => Some(frame),
            None => self.transfers.next_frame(max_data),
        }
    }

    /// Whether the write under way carries MSG_MORE: it ends with a DATA frame that the next of its
    /// segment follows, and the client keeps up (for a slow one, held-back bytes would count as
    /// unsent against the low-water mark).
    fn write_more(&self) -> bool {
        !self.slow.is_slow() && self.out.back().is_some_and(OutFrame::continues_segment)
    }
}
