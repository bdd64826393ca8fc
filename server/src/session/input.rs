//! What the client sends: bytes in, whole requests out, and the end of its stream. The input buffer
//! never holds more than the largest request, since every other frame is refused from its header.
//! After a fatal error, what the client still sends is only counted and discarded.

use std::time::Instant;

use bytes::{BufMut, BytesMut};
use jukebox_protocol::codec::peek_header;
use jukebox_protocol::{decode_frame, ErrorCode, Frame, HEADER_LEN, MAX_REQUEST_PAYLOAD};

use super::{Closed, Session, State, MAX_CONTROL_BACKLOG};

/// Holds the largest request a client may send (a LIST with its search), or dozens of small ones.
pub const READ_CHUNK: usize = HEADER_LEN + MAX_REQUEST_PAYLOAD as usize;

/// After a fatal error, the most the server reads and discards of what the client still sends
/// before it closes (see [`super::LINGER`]).
pub const DRAIN_LIMIT: usize = 64 * 1024;

/// The most discarded at once while draining.
const DRAIN_CHUNK: usize = 1024;

impl Session {
    /// How many bytes the session takes now; 0 while it wants nothing read (a fatal error is being
    /// sent, the client's stream has ended, or answers wait to be read by the client).
    pub fn read_room(&self) -> usize {
        match self.state {
            State::AwaitingHello | State::Open if !self.eof && self.accepts_frames() => {
                READ_CHUNK - self.input.len()
            }
            State::Draining { drained } => DRAIN_CHUNK.min(DRAIN_LIMIT - drained),
            _ => 0,
        }
    }

    /// Bytes received at `now` (at most [`Session::read_room`]): whole frames are taken and acted
    /// on, as many as the session accepts; a partial frame waits for the rest.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        debug_assert!(bytes.len() <= self.read_room());
        match self.state {
            State::AwaitingHello | State::Open => {
                self.input.put_slice(bytes);
                self.take_requests(now);
                self.watch_sending(now);
            }
            State::Draining { drained } => {
                let drained = drained + bytes.len();
                self.state = State::Draining { drained };
                if drained >= DRAIN_LIMIT {
                    self.close(Closed::AfterError);
                }
            }
            State::Closing | State::Closed(_) => {}
        }
    }

    /// The client has closed its sending side, seen at `now`. Whole requests already received are
    /// still answered, and must be taken within the shorter send deadline for a half-closed
    /// connection; a partial frame ends the connection at once.
    pub fn handle_eof(&mut self, now: Instant) {
        self.eof = true;
        if let State::Draining { .. } = self.state {
            self.close(Closed::AfterError);
        }
        self.check_partial_frame();
        self.shorten_send_deadline();
        self.watch_sending(now);
    }

    /// False while the session wants its queued responses sent before it takes more requests.
    pub(super) fn accepts_frames(&self) -> bool {
        matches!(self.state, State::AwaitingHello | State::Open)
            && self.control.len() < MAX_CONTROL_BACKLOG
    }

    /// Takes whole frames off the input, received at `now`, while the session accepts them; a
    /// partial frame left waits under the frame deadline.
    pub(super) fn take_requests(&mut self, now: Instant) {
        let mut took = false;
        while self.accepts_frames() {
            match next_request(&mut self.input) {
                Ok(Some(frame)) => {
                    took = true;
                    self.active(now);
                    self.take_frame(now, frame);
                }
                Ok(None) => break,
                Err((code, message)) => {
                    self.fail(now, code, message);
                    break;
                }
            }
        }
        self.check_partial_frame();
        self.watch_frame(now, took);
    }

    /// Closes when the client's stream ended in the middle of a frame: with every whole frame
    /// taken, what is left of the input is a partial one.
    fn check_partial_frame(&mut self) {
        if self.eof && self.accepts_frames() && !self.input.is_empty() {
            self.close(Closed::MidFrame);
        }
    }
}

/// Decodes the next client frame, rejecting from the header alone any frame a client may not send
/// or whose payload length its type does not allow. Client frames carry at most
/// `MAX_REQUEST_PAYLOAD` bytes, so the input never has to grow to hold a large payload that would
/// be refused anyway.
fn next_request(buf: &mut BytesMut) -> Result<Option<Frame>, (ErrorCode, String)> {
    let header = peek_header(buf).map_err(|e| (e.code(), e.to_string()))?;
    if let Some(header) = header.filter(|h| !h.kind.is_request()) {
        return Err((
            ErrorCode::UnexpectedMessage,
            format!("{} is sent only by servers", header.kind.name()),
        ));
    }
    decode_frame(buf).map_err(|e| (e.code(), e.to_string()))
}
