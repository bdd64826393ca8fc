//! What the server answers: the handshake, each request, and the errors, per request or fatal.

use std::time::Instant;

use bytes::Bytes;
use jukebox_protocol::codec::shared_header;
use jukebox_protocol::{ErrorCode, Frame, ListRequest, Message, MessageType, VERSION};

use super::timers::{Timer, Timers, LINGER};
use super::{Session, State};
use crate::outgoing::OutFrame;
use crate::store::{fits, Located};

/// Control responses a session holds before it stops taking input: a client that sends requests
/// without reading the answers is slowed down instead of growing the server's memory.
pub const MAX_CONTROL_BACKLOG: usize = 64;

impl Session {
    /// Acts on one whole frame from the client, received at `now`. Frames are taken only while the
    /// session awaits HELLO or is open, and only client types: `next_request` refuses the others
    /// from their header.
    pub(super) fn take_frame(&mut self, now: Instant, frame: Frame) {
        let id = frame.request_id;
        if self.state == State::AwaitingHello {
            return match frame.message {
                // A client speaking a later version as well gets this one: it decides whether to
                // go on.
                Message::Hello { version } if version >= VERSION => {
                    self.state = State::Open;
                    self.timers.stop(Timer::Hello);
                    self.timers.set(Timer::Idle, now + self.limits.idle_timeout);
                    self.control.push_back(OutFrame::encode(&Frame {
                        request_id: 0,
                        message: Message::Welcome {
                            version: VERSION,
                            info: self.store.info_json(),
                        },
                    }));
                    self.send_going_away(now);
                }
                Message::Hello { version } => self.fail(
                    now,
                    ErrorCode::UnsupportedVersion,
                    format!(
                        "protocol version {version} is not supported; this server speaks {VERSION}"
                    ),
                ),
                message => self.fail(
                    now,
                    ErrorCode::UnexpectedMessage,
                    format!(
                        "the first frame must be HELLO, not {}",
                        message.kind().name()
                    ),
                ),
            };
        }
        match frame.message {
            Message::Hello { .. } => self.fail(
                now,
                ErrorCode::UnexpectedMessage,
                "HELLO was already received",
            ),
            message if id == 0 => self.fail(
                now,
                ErrorCode::UnexpectedMessage,
                format!("{} with request ID 0", message.kind().name()),
            ),
            Message::List(json) => {
                let page = ListRequest::from_json(&json)
                    .map_err(|e| (ErrorCode::BadRequest, format!("LIST: {e}")))
                    .and_then(|request| self.store.page(&request).map_err(|e| (e.code, e.message)));
                match page {
                    Ok(json) => self.respond_json(id, MessageType::Page, json),
                    Err((code, message)) => self.error(id, code, message),
                }
            }
            Message::GetManifest { song } => match self.store.manifest_json(song) {
                Ok(json) => self.respond_json(id, MessageType::Manifest, json),
                Err(refusal) => self.error(id, refusal.code, refusal.message),
            },
            Message::GetSegment { song, index } => self.queue_segment(id, song, index),
            Message::Cancel => self.transfers.cancel(id),
            // Only servers send the other types, and `next_request` refused them from their
            // header (the session's property tests, fed arbitrary bytes, check that here). Should
            // one ever pass, the client gets the same fatal error rather than a panicked thread.
            message => {
                debug_assert!(false, "{} passed next_request", message.kind().name());
                self.fail(
                    now,
                    ErrorCode::UnexpectedMessage,
                    format!("{} is sent only by servers", message.kind().name()),
                )
            }
        }
    }

    /// Ends the connection with a fatal error, decided at `now`: queued transfers are dropped,
    /// control responses already queued still go out, then the ERROR (request ID 0), then the
    /// sending side is shut down and what the client still sends discarded, all within [`LINGER`].
    pub fn fail(&mut self, now: Instant, code: ErrorCode, message: impl Into<String>) {
        debug_assert!(
            code.is_connection_level(),
            "{code} is about one request, not the connection"
        );
        if !matches!(self.state, State::AwaitingHello | State::Open) {
            return;
        }
        self.transfers.clear();
        self.push_error(0, code, message.into());
        self.state = State::Closing;
        // Only the linger bounds what is left.
        self.timers = Timers::default();
        self.timers.set(Timer::Linger, now + LINGER);
    }

    fn queue_segment(&mut self, id: u32, song: u64, index: u32) {
        let segment = match self.store.locate(song, index) {
            Ok(Located::Memory(segment)) => Some(segment.clone()),
            Ok(Located::Disk) => None,
            Err(refusal) => return self.error(id, refusal.code, refusal.message),
        };
        if segment.as_ref().is_some_and(Bytes::is_empty) {
            // A DATA frame cannot be empty, so an empty segment cannot be sent at all.
            return self.error(
                id,
                ErrorCode::Internal,
                format!("segment {index} of song {song} is empty"),
            );
        }
        if self.transfers.len() >= self.limits.max_queued_segments {
            return self.error(
                id,
                ErrorCode::TooManyRequests,
                format!(
                    "{} segment requests are already queued",
                    self.transfers.len()
                ),
            );
        }
        self.transfers.push(id, segment, song, index);
    }

    /// Queues a PAGE or MANIFEST whose payload is a shared buffer.
    fn respond_json(&mut self, id: u32, kind: MessageType, json: Bytes) {
        if !fits(&json) {
            return self.error(
                id,
                ErrorCode::Internal,
                format!("{} too large to send", kind.name()),
            );
        }
        let header = shared_header(kind, id, json.len(), false);
        self.control.push_back(OutFrame::new(header, json));
    }

    /// Queues an ERROR about request `id` alone: the connection goes on.
    pub(super) fn error(&mut self, id: u32, code: ErrorCode, message: String) {
        debug_assert!(
            !code.is_connection_level(),
            "{code} is about the connection, not one request"
        );
        self.push_error(id, code, message);
    }

    fn push_error(&mut self, id: u32, code: ErrorCode, message: String) {
        self.control.push_back(OutFrame::encode(&Frame {
            request_id: id,
            message: Message::Error { code, message },
        }));
    }
}
