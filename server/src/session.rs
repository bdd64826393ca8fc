//! The protocol state of one connection, with no I/O: bytes from the client go in through
//! [`Session::receive`], frames to send come out of [`Session::next_frame`]. The async shell in
//! `connection.rs` only moves bytes between this and the socket, so every rule of the protocol is
//! tested here without sockets.
//!
//! A segment of a catalog song is on disk: the session queues its transfer as waiting and asks the
//! shell for the bytes ([`Session::take_reads`]); the shell reads (or finds it cached) and hands
//! them back ([`Session::segment_read`]). Meanwhile control requests are answered and cancels
//! honoured as ever; a cancelled transfer's read is reported as no longer wanted
//! ([`Session::take_abandoned`]). Transfers still go out in the order requested.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use jukebox_protocol::codec::{peek_header, shared_header};
use jukebox_protocol::{
    decode_frame, ErrorCode, Frame, ListRequest, Message, MessageType, MAX_DATA_PAYLOAD, VERSION,
};

use crate::outgoing::OutFrame;
use crate::store::{fits, Located, Store};

/// Control responses a session holds before it stops taking input: a client that sends requests
/// without reading the answers is slowed down instead of growing the server's memory.
pub const MAX_CONTROL_BACKLOG: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitingHello,
    Open,
    /// A fatal error is queued: send what is queued, then close.
    Closing,
}

/// A segment being sent: what is left of it, sliced off the shared segment buffer as it goes, or
/// `None` while its bytes are being read.
struct Transfer {
    request_id: u32,
    rest: Option<Bytes>,
    /// Names the read of a waiting transfer: request IDs may be reused once a request is cancelled,
    /// tickets never are.
    ticket: Ticket,
}

/// Names one read the session asked for.
pub type Ticket = u64;

/// A segment the session needs read: hand its bytes back with [`Session::segment_read`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentRead {
    pub ticket: Ticket,
    pub song: u64,
    pub index: u32,
}

/// The protocol state of one connection.
pub struct Session {
    store: Arc<Store>,
    max_queued_segments: usize,
    state: State,
    /// Control responses (WELCOME, CATALOG, MANIFEST, ERROR), sent ahead of any DATA.
    control: VecDeque<OutFrame>,
    /// Segment transfers in the order requested; the front one is being sent.
    transfers: VecDeque<Transfer>,
    /// Reads asked for and not yet taken by the shell.
    reads: Vec<SegmentRead>,
    /// Reads taken by the shell whose transfers were dropped since.
    abandoned: Vec<Ticket>,
    next_ticket: Ticket,
    /// The GOAWAY to send (its time in milliseconds and text) once the HELLO is accepted.
    going_away: Option<(u32, String)>,
    /// GOAWAY has been queued: the server sends at most one.
    went_away: bool,
}

impl Session {
    /// A session waiting for the client's HELLO.
    pub fn new(store: Arc<Store>, max_queued_segments: usize) -> Self {
        Session {
            store,
            max_queued_segments,
            state: State::AwaitingHello,
            control: VecDeque::new(),
            transfers: VecDeque::new(),
            reads: Vec::new(),
            abandoned: Vec::new(),
            next_ticket: 0,
            going_away: None,
            went_away: false,
        }
    }

    /// Asks the client to move to a new connection (the server is shutting down): queues GOAWAY
    /// with `within_ms`, the most time the connection stays open, right away, or right after the
    /// WELCOME if the HELLO has not come yet. Requests are served as before; the shell closes
    /// the connection when the client has closed its side and has its answers, or when the time
    /// is over. At most one GOAWAY is sent; nothing is sent on a closing connection.
    pub fn go_away(&mut self, within_ms: u32, message: impl Into<String>) {
        if self.went_away || self.state == State::Closing {
            return;
        }
        self.going_away = Some((within_ms, message.into()));
        if self.state == State::Open {
            self.send_going_away();
        }
    }

    /// True once GOAWAY is queued or asked for.
    pub fn is_going_away(&self) -> bool {
        self.went_away || self.going_away.is_some()
    }

    fn send_going_away(&mut self) {
        if let Some((within_ms, message)) = self.going_away.take() {
            self.went_away = true;
            self.control.push_back(OutFrame::encode(&Frame {
                request_id: 0,
                message: Message::GoAway { within_ms, message },
            }));
        }
    }

    /// True until the HELLO has been accepted.
    pub fn awaiting_hello(&self) -> bool {
        self.state == State::AwaitingHello
    }

    /// True once a fatal error is queued: the connection closes when [`Session::next_frame`] runs dry.
    pub fn is_closing(&self) -> bool {
        self.state == State::Closing
    }

    /// True when nothing is queued for sending.
    pub fn is_idle(&self) -> bool {
        self.control.is_empty() && self.transfers.is_empty()
    }

    /// True when the next frame would be DATA, i.e. a transfer is on, its bytes are there, and no
    /// control frame waits.
    pub fn data_next(&self) -> bool {
        self.control.is_empty() && self.transfers.front().is_some_and(|t| t.rest.is_some())
    }

    /// The segment reads asked for since the last call. Each is answered with
    /// [`Session::segment_read`], unless [`Session::take_abandoned`] lists it first.
    pub fn take_reads(&mut self) -> std::vec::Drain<'_, SegmentRead> {
        self.reads.drain(..)
    }

    /// The reads (taken with [`Session::take_reads`]) no longer wanted since the last call: their
    /// transfers were cancelled, or the connection is failing. Dropping them is up to the shell;
    /// an answer that comes anyway is ignored.
    pub fn take_abandoned(&mut self) -> std::vec::Drain<'_, Ticket> {
        self.abandoned.drain(..)
    }

    /// The result of a read: the transfer waiting for it can go out, or, when the read failed,
    /// is answered with ERROR INTERNAL (not fatal). Ignored if the transfer is gone.
    pub fn segment_read(&mut self, ticket: Ticket, result: Result<Bytes, String>) {
        let Some(at) = self
            .transfers
            .iter()
            .position(|t| t.ticket == ticket && t.rest.is_none())
        else {
            return;
        };
        match result {
            Ok(bytes) if !bytes.is_empty() => self.transfers[at].rest = Some(bytes),
            failed => {
                let id = self.transfers[at].request_id;
                self.transfers.remove(at);
                let message = failed
                    .err()
                    .unwrap_or_else(|| "the segment is empty".into());
                self.error(id, ErrorCode::Internal, message);
            }
        }
    }

    /// Drops the transfers `drop` selects, telling the shell about reads no longer wanted.
    fn drop_transfers(&mut self, drop: impl Fn(&Transfer) -> bool) {
        let (reads, abandoned) = (&mut self.reads, &mut self.abandoned);
        self.transfers.retain(|t| {
            if !drop(t) {
                return true;
            }
            if t.rest.is_none() {
                // Not yet taken by the shell: simply never asked for.
                match reads.iter().position(|r| r.ticket == t.ticket) {
                    Some(i) => {
                        reads.remove(i);
                    }
                    None => abandoned.push(t.ticket),
                }
            }
            false
        });
    }

    /// False while the session wants its queued responses sent before it reads more requests.
    pub fn accepts_input(&self) -> bool {
        self.state != State::Closing && self.control.len() < MAX_CONTROL_BACKLOG
    }

    /// Takes whole frames off the front of `buf` and acts on them, as many as the session accepts;
    /// a partial frame is left in `buf`. Returns the number of frames taken.
    pub fn receive(&mut self, buf: &mut BytesMut) -> usize {
        let mut taken = 0;
        while self.accepts_input() {
            match next_request(buf) {
                Ok(Some(frame)) => {
                    taken += 1;
                    self.handle(frame);
                }
                Ok(None) => break,
                Err((code, message)) => {
                    self.fail(code, message);
                    break;
                }
            }
        }
        taken
    }

    /// Acts on one decoded frame from the client.
    pub fn handle(&mut self, frame: Frame) {
        let id = frame.request_id;
        match (self.state, frame.message) {
            (State::Closing, _) => {}
            // A client speaking a later version as well gets this one: it decides whether to go on.
            (State::AwaitingHello, Message::Hello { version }) if version >= VERSION => {
                self.state = State::Open;
                self.control.push_back(OutFrame::encode(&Frame {
                    request_id: 0,
                    message: Message::Welcome {
                        version: VERSION,
                        info: self.store.info_json(),
                    },
                }));
                self.send_going_away();
            }
            (State::AwaitingHello, Message::Hello { version }) => self.fail(
                ErrorCode::UnsupportedVersion,
                format!(
                    "protocol version {version} is not supported; this server speaks {VERSION}"
                ),
            ),
            (State::AwaitingHello, message) => self.fail(
                ErrorCode::UnexpectedMessage,
                format!(
                    "the first frame must be HELLO, not {}",
                    message.kind().name()
                ),
            ),
            (State::Open, Message::Hello { .. }) => {
                self.fail(ErrorCode::UnexpectedMessage, "HELLO was already received")
            }
            (State::Open, message) if !message.kind().is_request() => self.fail(
                ErrorCode::UnexpectedMessage,
                format!("{} is sent only by servers", message.kind().name()),
            ),
            (State::Open, message) if id == 0 => self.fail(
                ErrorCode::UnexpectedMessage,
                format!("{} with request ID 0", message.kind().name()),
            ),
            (State::Open, Message::List(json)) => {
                let page = ListRequest::from_json(&json)
                    .map_err(|e| (ErrorCode::BadRequest, format!("LIST: {e}")))
                    .and_then(|request| self.store.page(&request).map_err(|e| (e.code, e.message)));
                match page {
                    Ok(json) => self.respond_json(id, MessageType::Page, json),
                    Err((code, message)) => self.error(id, code, message),
                }
            }
            (State::Open, Message::GetManifest { song }) => match self.store.manifest_json(song) {
                Ok(json) => self.respond_json(id, MessageType::Manifest, json),
                Err(refusal) => self.error(id, refusal.code, refusal.message),
            },
            (State::Open, Message::GetSegment { song, index }) => {
                self.queue_segment(id, song, index)
            }
            (State::Open, Message::Cancel) => self.drop_transfers(|t| t.request_id == id),
            (State::Open, message) => self.fail(
                ErrorCode::UnexpectedMessage,
                format!("{} is sent only by servers", message.kind().name()),
            ),
        }
    }

    /// Ends the connection with a fatal error: queued transfers are dropped, control responses
    /// already queued still go out, then the ERROR (request ID 0), then nothing.
    pub fn fail(&mut self, code: ErrorCode, message: impl Into<String>) {
        if self.state == State::Closing {
            return;
        }
        self.drop_transfers(|_| true);
        self.error(0, code, message.into());
        self.state = State::Closing;
    }

    /// The next frame to send: control responses first, else the next piece (at most
    /// [`MAX_DATA_PAYLOAD`] bytes, END on the last) of the current segment transfer.
    pub fn next_frame(&mut self) -> Option<OutFrame> {
        self.next_frame_within(MAX_DATA_PAYLOAD)
    }

    /// [`Session::next_frame`] with DATA payloads of at most `max_data` bytes (1 to
    /// [`MAX_DATA_PAYLOAD`]): smaller frames let a control response overtake a transfer sooner
    /// on a slow link.
    pub fn next_frame_within(&mut self, max_data: usize) -> Option<OutFrame> {
        if let Some(frame) = self.control.pop_front() {
            return Some(frame);
        }
        let transfer = self.transfers.front_mut()?;
        // A transfer waiting for its bytes holds up the ones behind it: they go out in order.
        let rest = transfer.rest.as_mut()?;
        let max_data = max_data.clamp(1, MAX_DATA_PAYLOAD);
        let piece = rest.split_to(rest.len().min(max_data));
        let end = rest.is_empty();
        let header = jukebox_protocol::codec::data_header(transfer.request_id, piece.len(), end);
        if end {
            self.transfers.pop_front();
        }
        Some(OutFrame::new(header, piece))
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
        if self.transfers.len() >= self.max_queued_segments {
            return self.error(
                id,
                ErrorCode::TooManyRequests,
                format!(
                    "{} segment requests are already queued",
                    self.transfers.len()
                ),
            );
        }
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        if segment.is_none() {
            self.reads.push(SegmentRead {
                ticket,
                song,
                index,
            });
        }
        self.transfers.push_back(Transfer {
            request_id: id,
            rest: segment,
            ticket,
        });
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

    fn error(&mut self, id: u32, code: ErrorCode, message: String) {
        self.control.push_back(OutFrame::encode(&Frame {
            request_id: id,
            message: Message::Error { code, message },
        }));
    }
}

/// Decodes the next client frame, rejecting from the header alone any frame a client may not send
/// or whose payload length its type does not allow. Client frames carry at most
/// `MAX_REQUEST_PAYLOAD` bytes, so the read buffer never has to grow to hold a large payload that
/// would be refused anyway.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_songs::song;
    use bytes::Buf;
    use jukebox_protocol::{encode_frame, FrameHeader, Manifest, Page, HEADER_LEN};

    fn store() -> Arc<Store> {
        let big: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        Arc::new(Store::new(vec![
            song(1, &[b"a", &[7; 16_384], &[8; 16_385], &big]),
            song(2, &[b"only"]),
        ]))
    }

    fn session() -> Session {
        Session::new(store(), 3)
    }

    /// Segment `index` of song `id`, as the store holds it in memory.
    fn held(store: &Store, id: u64, index: u32) -> Result<Bytes, ErrorCode> {
        match store.locate(id, index) {
            Ok(Located::Memory(bytes)) => Ok(bytes.clone()),
            Ok(Located::Disk) => Err(ErrorCode::Internal),
            Err(refusal) => Err(refusal.code),
        }
    }

    fn wire(frames: &[Frame]) -> BytesMut {
        let mut buf = BytesMut::new();
        for frame in frames {
            encode_frame(frame, &mut buf);
        }
        buf
    }

    fn req(request_id: u32, message: Message) -> Frame {
        Frame {
            request_id,
            message,
        }
    }

    fn hello() -> Frame {
        req(0, Message::Hello { version: VERSION })
    }

    /// Feeds frames and returns everything the session sends until it runs dry, decoded.
    fn exchange(session: &mut Session, frames: &[Frame]) -> Vec<Frame> {
        let mut buf = wire(frames);
        session.receive(&mut buf);
        assert!(buf.is_empty(), "session left whole frames unread");
        drain(session)
    }

    fn goaway(within_ms: u32) -> Message {
        Message::GoAway {
            within_ms,
            message: "restarting".into(),
        }
    }

    #[test]
    fn goaway_overtakes_a_transfer_which_goes_on_and_requests_are_still_served() {
        let mut s = session();
        exchange(&mut s, &[hello()]);
        let mut buf = wire(&[req(1, Message::GetSegment { song: 1, index: 2 })]);
        s.receive(&mut buf);
        let first = next(&mut s).unwrap();
        assert!(matches!(first.message, Message::Data { end: false, .. }));
        s.go_away(5_000, "restarting");
        s.go_away(1, "again");
        assert!(s.is_going_away());
        let rest = exchange(&mut s, &[req(2, Message::GetManifest { song: 2 })]);
        assert_eq!(rest[0], req(0, goaway(5_000)), "one GOAWAY, ahead of DATA");
        assert!(matches!(rest[1].message, Message::Manifest(_)));
        assert!(matches!(rest[2].message, Message::Data { end: true, .. }));
        assert_eq!(rest.len(), 3);
    }

    #[test]
    fn goaway_before_hello_follows_the_welcome() {
        let mut s = session();
        s.go_away(1_000, "restarting");
        let frames = exchange(&mut s, &[hello()]);
        assert!(matches!(frames[0].message, Message::Welcome { .. }));
        assert_eq!(frames[1], req(0, goaway(1_000)));
        assert_eq!(frames.len(), 2);
    }

    #[test]
    fn no_goaway_on_a_closing_connection() {
        let mut s = session();
        exchange(&mut s, &[hello()]);
        s.fail(ErrorCode::IdleTimeout, "idle");
        s.go_away(1_000, "restarting");
        let frames = drain(&mut s);
        assert_eq!(frames.len(), 1);
        assert!(matches!(frames[0].message, Message::Error { .. }));
    }

    fn drain(session: &mut Session) -> Vec<Frame> {
        std::iter::from_fn(|| next(session)).collect()
    }

    fn next(session: &mut Session) -> Option<Frame> {
        let mut out = session.next_frame()?;
        let mut bytes = BytesMut::new();
        while out.has_remaining() {
            bytes.extend_from_slice(out.chunk());
            out.advance(out.chunk().len());
        }
        let frame = decode_frame(&mut bytes).unwrap().unwrap();
        assert!(bytes.is_empty());
        Some(frame)
    }

    fn open() -> Session {
        let mut s = session();
        let welcome = exchange(&mut s, &[hello()]);
        assert!(
            matches!(
                welcome[..],
                [Frame {
                    request_id: 0,
                    message: Message::Welcome {
                        version: VERSION,
                        ..
                    }
                }]
            ),
            "{welcome:?}"
        );
        s
    }

    fn error_code(frame: &Frame) -> (u32, ErrorCode) {
        match &frame.message {
            Message::Error { code, .. } => (frame.request_id, *code),
            other => panic!("expected ERROR, got {other:?}"),
        }
    }

    fn assert_fatal(session: &mut Session, frames: &[Frame], code: ErrorCode) {
        let out = exchange(session, frames);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(error_code(&out[0]), (0, code));
        assert!(session.is_closing());
        assert!(!session.accepts_input());
    }

    #[test]
    fn hello_is_welcomed() {
        let s = open();
        assert!(!s.awaiting_hello());
        assert!(s.is_idle());
    }

    #[test]
    fn an_earlier_version_is_fatal() {
        let mut s = session();
        assert_fatal(
            &mut s,
            &[req(0, Message::Hello { version: 0 })],
            ErrorCode::UnsupportedVersion,
        );
    }

    #[test]
    fn first_frame_must_be_hello() {
        let mut s = session();
        assert_fatal(
            &mut s,
            &[req(1, Message::list_all())],
            ErrorCode::UnexpectedMessage,
        );
    }

    #[test]
    fn second_hello_is_fatal() {
        let mut s = open();
        assert_fatal(&mut s, &[hello()], ErrorCode::UnexpectedMessage);
    }

    #[test]
    fn request_id_zero_is_fatal() {
        let mut s = open();
        assert_fatal(
            &mut s,
            &[req(0, Message::list_all())],
            ErrorCode::UnexpectedMessage,
        );
    }

    #[test]
    fn server_message_from_client_is_refused_from_its_header() {
        let mut s = open();
        // A PAGE header announcing a large payload that never comes: refused at once.
        let header = FrameHeader {
            length: 500_000,
            kind: MessageType::Page,
            flags: 0,
            request_id: 1,
        };
        let mut buf = BytesMut::from(&header.to_bytes()[..]);
        s.receive(&mut buf);
        let out = drain(&mut s);
        assert_eq!(error_code(&out[0]), (0, ErrorCode::UnexpectedMessage));
        assert!(s.is_closing());
    }

    #[test]
    fn framing_errors_are_fatal_with_their_codes() {
        let list = wire(&[req(1, Message::list_all())]);
        // (byte offset, value written there, expected error)
        let cases = [
            (6, 1, ErrorCode::MalformedFrame),   // reserved field
            (5, 1, ErrorCode::MalformedFrame),   // flag on a LIST
            (4, 0x7f, ErrorCode::UnknownType),   // type
            (0, 0x10, ErrorCode::FrameTooLarge), // length 256 MiB
        ];
        for (at, value, code) in cases {
            let mut s = open();
            let mut buf = list.clone();
            buf[at] = value;
            s.receive(&mut buf);
            let out = drain(&mut s);
            assert_eq!(out.len(), 1);
            assert_eq!(error_code(&out[0]), (0, code));
        }
    }

    #[test]
    fn wrong_payload_size_is_malformed() {
        let mut s = open();
        let mut buf = wire(&[req(1, Message::GetManifest { song: 1 })]);
        buf[3] = 5; // announce 5 payload bytes instead of 4
        buf.extend_from_slice(&[0]);
        s.receive(&mut buf);
        assert_eq!(
            error_code(&drain(&mut s)[0]),
            (0, ErrorCode::MalformedFrame)
        );
    }

    #[test]
    fn bad_magic_is_malformed() {
        let mut s = session();
        let mut buf = wire(&[hello()]);
        buf[12] = b'X';
        s.receive(&mut buf);
        assert_eq!(
            error_code(&drain(&mut s)[0]),
            (0, ErrorCode::MalformedFrame)
        );
    }

    #[test]
    fn partial_frames_wait_for_the_rest() {
        let mut s = session();
        let all = wire(&[hello(), req(1, Message::list_all())]);
        let mut buf = BytesMut::from(&all[..15]);
        assert_eq!(s.receive(&mut buf), 0);
        buf.extend_from_slice(&all[15..20]);
        assert_eq!(s.receive(&mut buf), 1);
        buf.extend_from_slice(&all[20..]);
        assert_eq!(s.receive(&mut buf), 1);
        assert!(buf.is_empty());
        assert_eq!(drain(&mut s).len(), 2);
    }

    #[test]
    fn list_answers_with_a_page() {
        let mut s = open();
        let out = exchange(&mut s, &[req(5, Message::list_all())]);
        let Message::Page(json) = &out[0].message else {
            panic!("expected PAGE, got {out:?}");
        };
        assert_eq!(out[0].request_id, 5);
        let page = Page::from_json(json).unwrap();
        assert_eq!(page.songs.len(), 2);
        assert_eq!((page.total, page.next), (2, None));
    }

    #[test]
    fn a_list_that_is_not_a_list_request_is_a_bad_request_and_the_session_goes_on() {
        let mut s = open();
        let out = exchange(
            &mut s,
            &[
                req(5, Message::List(Bytes::from_static(b"[1,2]"))),
                req(
                    6,
                    Message::List(Bytes::from_static(br#"{"cursor":"nope"}"#)),
                ),
                req(7, Message::list_all()),
            ],
        );
        assert_eq!(error_code(&out[0]), (5, ErrorCode::BadRequest));
        assert_eq!(error_code(&out[1]), (6, ErrorCode::BadRequest));
        assert!(matches!(out[2].message, Message::Page(_)));
        assert!(!s.is_closing());
    }

    #[test]
    fn a_later_version_is_answered_in_this_one_and_an_earlier_refused() {
        let mut s = session();
        let out = exchange(
            &mut s,
            &[req(
                0,
                Message::Hello {
                    version: VERSION + 1,
                },
            )],
        );
        assert!(matches!(
            out[..],
            [Frame {
                message: Message::Welcome {
                    version: VERSION,
                    ..
                },
                ..
            }]
        ));
        let mut s = session();
        assert_fatal(
            &mut s,
            &[req(0, Message::Hello { version: 1 })],
            ErrorCode::UnsupportedVersion,
        );
    }

    #[test]
    fn manifest_or_unknown_song() {
        let mut s = open();
        let out = exchange(
            &mut s,
            &[
                req(3, Message::GetManifest { song: 2 }),
                req(4, Message::GetManifest { song: 9 }),
            ],
        );
        let Message::Manifest(json) = &out[0].message else {
            panic!("expected MANIFEST, got {out:?}");
        };
        assert_eq!(Manifest::from_json(json).unwrap().id, 2);
        assert_eq!(error_code(&out[1]), (4, ErrorCode::UnknownSong));
        assert!(!s.is_closing());
    }

    /// Sends a GET_SEGMENT and returns the DATA frames' (length, end) and the joined bytes.
    fn fetch(s: &mut Session, id: u32, song: u64, index: u32) -> (Vec<(usize, bool)>, Vec<u8>) {
        let out = exchange(s, &[req(id, Message::GetSegment { song, index })]);
        let mut shape = Vec::new();
        let mut bytes = Vec::new();
        for frame in out {
            assert_eq!(frame.request_id, id);
            let Message::Data { end, bytes: b } = frame.message else {
                panic!("expected DATA, got {:?}", frame.message);
            };
            shape.push((b.len(), end));
            bytes.extend_from_slice(&b);
        }
        (shape, bytes)
    }

    #[test]
    fn segments_are_cut_into_data_frames_with_end_on_the_last() {
        let mut s = open();
        let store = s.store.clone();
        let cases: [(u32, &[(usize, bool)]); 4] = [
            (0, &[(1, true)]),
            (1, &[(16_384, true)]),
            (2, &[(16_384, false), (1, true)]),
            (3, &[(16_384, false), (16_384, false), (7_232, true)]),
        ];
        for (index, expected) in cases {
            let (shape, bytes) = fetch(&mut s, 10 + index, 1, index);
            assert_eq!(shape, expected, "segment {index}");
            assert_eq!(bytes, held(&store, 1, index).unwrap().as_ref());
        }
        assert!(s.is_idle());
    }

    #[test]
    fn smaller_frames_carry_the_same_segment() {
        let mut s = open();
        let mut buf = wire(&[req(1, Message::GetSegment { song: 1, index: 3 })]);
        s.receive(&mut buf);
        let mut bytes = Vec::new();
        let mut shape = Vec::new();
        // Small frames first (a slow link), then full ones again.
        let mut sizes = [4096, 4096, MAX_DATA_PAYLOAD, MAX_DATA_PAYLOAD].into_iter();
        while let Some(mut out) = s.next_frame_within(sizes.next().unwrap_or(MAX_DATA_PAYLOAD)) {
            let mut wire = BytesMut::new();
            while out.has_remaining() {
                wire.extend_from_slice(out.chunk());
                out.advance(out.chunk().len());
            }
            let Message::Data { end, bytes: b } = decode_frame(&mut wire).unwrap().unwrap().message
            else {
                panic!("expected DATA");
            };
            shape.push((b.len(), end));
            bytes.extend_from_slice(&b);
        }
        assert_eq!(
            shape,
            [
                (4096, false),
                (4096, false),
                (16_384, false),
                (15_424, true)
            ]
        );
        assert_eq!(bytes, held(&s.store, 1, 3).unwrap().as_ref());
    }

    #[test]
    fn data_is_sliced_from_the_shared_segment() {
        let mut s = open();
        let segment = held(&s.store, 1, 3).unwrap().clone();
        let mut buf = wire(&[req(1, Message::GetSegment { song: 1, index: 3 })]);
        s.receive(&mut buf);
        let first = s.next_frame().unwrap();
        let second = s.next_frame().unwrap();
        assert_eq!(first.payload().as_ptr(), segment.as_ptr());
        assert_eq!(
            second.payload().as_ptr(),
            segment[MAX_DATA_PAYLOAD..].as_ptr()
        );
    }

    #[test]
    fn segment_errors_are_not_fatal() {
        let mut s = open();
        let out = exchange(
            &mut s,
            &[
                req(1, Message::GetSegment { song: 9, index: 0 }),
                req(2, Message::GetSegment { song: 2, index: 1 }),
                req(3, Message::GetSegment { song: 2, index: 0 }),
            ],
        );
        assert_eq!(error_code(&out[0]), (1, ErrorCode::UnknownSong));
        assert_eq!(error_code(&out[1]), (2, ErrorCode::SegmentOutOfRange));
        assert_eq!(out[2].request_id, 3);
        assert_eq!(
            out[2].message,
            Message::Data {
                end: true,
                bytes: Bytes::from_static(b"only")
            }
        );
    }

    #[test]
    fn too_many_queued_segments_refuses_only_the_new_one() {
        let mut s = open(); // max 3 queued
        let requests: Vec<Frame> = (1..=4)
            .map(|id| req(id, Message::GetSegment { song: 1, index: 3 }))
            .collect();
        let out = exchange(&mut s, &requests);
        assert_eq!(error_code(&out[0]), (4, ErrorCode::TooManyRequests));
        let ends: Vec<u32> = out[1..]
            .iter()
            .filter(|f| matches!(f.message, Message::Data { end: true, .. }))
            .map(|f| f.request_id)
            .collect();
        assert_eq!(ends, [1, 2, 3]);
        // Once they are done, new requests are accepted again.
        assert_eq!(fetch(&mut s, 5, 2, 0).0, [(4, true)]);
    }

    #[test]
    fn control_responses_overtake_a_transfer() {
        let mut s = open();
        let mut buf = wire(&[req(1, Message::GetSegment { song: 1, index: 3 })]);
        s.receive(&mut buf);
        assert!(s.data_next());
        assert_eq!(next(&mut s).unwrap().request_id, 1);
        let mut buf = wire(&[req(2, Message::list_all())]);
        s.receive(&mut buf);
        assert!(!s.data_next());
        let reply = next(&mut s).unwrap();
        assert_eq!(reply.request_id, 2);
        assert!(matches!(reply.message, Message::Page(_)));
        let rest = drain(&mut s);
        assert_eq!(rest.len(), 2);
        assert!(rest.iter().all(|f| f.request_id == 1));
    }

    #[test]
    fn cancel_stops_the_current_transfer_and_queued_ones() {
        let mut s = open();
        let mut buf = wire(&[
            req(1, Message::GetSegment { song: 1, index: 3 }),
            req(2, Message::GetSegment { song: 1, index: 2 }),
            req(3, Message::GetSegment { song: 2, index: 0 }),
        ]);
        s.receive(&mut buf);
        assert_eq!(next(&mut s).unwrap().request_id, 1);
        let out = exchange(&mut s, &[req(1, Message::Cancel), req(2, Message::Cancel)]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].request_id, 3);
    }

    #[test]
    fn cancel_of_an_unknown_request_is_ignored() {
        let mut s = open();
        let out = exchange(
            &mut s,
            &[req(42, Message::Cancel), req(43, Message::list_all())],
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].request_id, 43);
        assert!(!s.is_closing());
    }

    #[test]
    fn fatal_error_drops_transfers_but_sends_queued_answers_first() {
        let mut s = open();
        let mut buf = wire(&[
            req(1, Message::GetSegment { song: 1, index: 3 }),
            req(2, Message::list_all()),
            hello(),
            req(3, Message::list_all()),
        ]);
        assert_eq!(
            s.receive(&mut buf),
            3,
            "frames after the fatal one are not taken"
        );
        let out = drain(&mut s);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(matches!(out[0].message, Message::Page(_)));
        assert_eq!(error_code(&out[1]), (0, ErrorCode::UnexpectedMessage));
        assert!(s.is_closing());
        assert!(s.next_frame().is_none());
    }

    #[test]
    fn idle_timeout_is_a_fatal_error() {
        let mut s = open();
        s.fail(ErrorCode::IdleTimeout, "idle");
        assert_eq!(error_code(&drain(&mut s)[0]), (0, ErrorCode::IdleTimeout));
        // A second failure adds nothing.
        s.fail(ErrorCode::IdleTimeout, "idle");
        assert!(s.next_frame().is_none());
    }

    #[test]
    fn unread_answers_stop_the_intake() {
        let mut s = open();
        let lists: Vec<Frame> = (1..=MAX_CONTROL_BACKLOG as u32 + 10)
            .map(|id| req(id, Message::list_all()))
            .collect();
        let mut buf = wire(&lists);
        assert_eq!(s.receive(&mut buf), MAX_CONTROL_BACKLOG);
        assert!(!s.accepts_input());
        assert_eq!(buf.len(), 10 * HEADER_LEN);
        s.next_frame().unwrap();
        assert!(s.accepts_input());
        assert_eq!(s.receive(&mut buf), 1);
    }

    /// A session over song 1 (in memory, as in [`store`]) and song 5, on disk: segments of 10 and
    /// 20,000 bytes.
    fn open_with_disk() -> Session {
        let store = Arc::new(Store::new(vec![
            song(1, &[b"a", b"memory"]),
            crate::test_songs::on_disk(5, &[10, 20_000]),
        ]));
        let mut s = Session::new(store, 3);
        assert_eq!(exchange(&mut s, &[hello()]).len(), 1);
        s
    }

    fn data(frames: &[Frame], id: u32) -> Vec<u8> {
        let mut bytes = Vec::new();
        for frame in frames.iter().filter(|f| f.request_id == id) {
            let Message::Data { bytes: b, .. } = &frame.message else {
                panic!("expected DATA, got {frame:?}");
            };
            bytes.extend_from_slice(b);
        }
        bytes
    }

    #[test]
    fn a_disk_segment_is_asked_for_and_sent_when_read() {
        let mut s = open_with_disk();
        assert!(exchange(&mut s, &[req(1, Message::GetSegment { song: 5, index: 1 })]).is_empty());
        assert!(!s.is_idle() && !s.data_next());
        let reads: Vec<SegmentRead> = s.take_reads().collect();
        assert_eq!(reads.len(), 1);
        assert_eq!((reads[0].song, reads[0].index), (5, 1));
        assert_eq!(s.take_reads().count(), 0, "a read is asked for once");
        // Control requests are answered while the read is under way.
        let out = exchange(&mut s, &[req(2, Message::list_all())]);
        assert!(matches!(
            out[..],
            [Frame {
                request_id: 2,
                message: Message::Page(_)
            }]
        ));
        let segment = Bytes::from(vec![3; 20_000]);
        s.segment_read(reads[0].ticket, Ok(segment.clone()));
        assert!(s.data_next());
        let first = s.next_frame().unwrap();
        assert_eq!(
            first.payload().as_ptr(),
            segment.as_ptr(),
            "the read buffer is sent, not a copy"
        );
        let rest = drain(&mut s);
        assert_eq!(rest.len(), 1);
        assert!(matches!(rest[0].message, Message::Data { end: true, .. }));
        assert!(s.is_idle());
    }

    #[test]
    fn transfers_keep_their_order_behind_a_read() {
        let mut s = open_with_disk();
        let out = exchange(
            &mut s,
            &[
                req(1, Message::GetSegment { song: 5, index: 0 }),
                req(2, Message::GetSegment { song: 1, index: 1 }),
            ],
        );
        assert!(
            out.is_empty(),
            "the in-memory segment waits its turn: {out:?}"
        );
        let read = s.take_reads().next().unwrap();
        s.segment_read(read.ticket, Ok(Bytes::from_static(b"from disk!")));
        let out = drain(&mut s);
        let ids: Vec<u32> = out.iter().map(|f| f.request_id).collect();
        assert_eq!(ids, [1, 2]);
        assert_eq!(data(&out, 1), b"from disk!");
        assert_eq!(data(&out, 2), b"memory");
    }

    #[test]
    fn a_failed_read_is_an_internal_error_and_the_rest_goes_on() {
        let mut s = open_with_disk();
        exchange(
            &mut s,
            &[
                req(1, Message::GetSegment { song: 5, index: 0 }),
                req(2, Message::GetSegment { song: 1, index: 0 }),
            ],
        );
        let read = s.take_reads().next().unwrap();
        s.segment_read(
            read.ticket,
            Err("segment 0 of song 5 cannot be read".into()),
        );
        let out = drain(&mut s);
        assert_eq!(error_code(&out[0]), (1, ErrorCode::Internal));
        assert_eq!(data(&out[1..], 2), b"a");
        assert!(!s.is_closing());
        // An empty read cannot be sent either.
        exchange(&mut s, &[req(3, Message::GetSegment { song: 5, index: 1 })]);
        let read = s.take_reads().next().unwrap();
        s.segment_read(read.ticket, Ok(Bytes::new()));
        assert_eq!(error_code(&drain(&mut s)[0]), (3, ErrorCode::Internal));
        assert!(s.is_idle());
    }

    #[test]
    fn cancel_while_reading_abandons_the_read() {
        let mut s = open_with_disk();
        exchange(&mut s, &[req(1, Message::GetSegment { song: 5, index: 1 })]);
        let old = s.take_reads().next().unwrap();
        assert!(exchange(&mut s, &[req(1, Message::Cancel)]).is_empty());
        assert_eq!(s.take_abandoned().collect::<Vec<_>>(), [old.ticket]);
        assert!(s.is_idle());
        // The client may use the ID again at once; the old read's bytes are not for the new request.
        exchange(&mut s, &[req(1, Message::GetSegment { song: 5, index: 0 })]);
        let new = s.take_reads().next().unwrap();
        assert_ne!(new.ticket, old.ticket);
        s.segment_read(old.ticket, Ok(Bytes::from_static(b"stale")));
        assert!(drain(&mut s).is_empty());
        s.segment_read(new.ticket, Ok(Bytes::from_static(b"fresh")));
        assert_eq!(data(&drain(&mut s), 1), b"fresh");
    }

    #[test]
    fn a_read_cancelled_before_the_shell_took_it_is_never_asked_for() {
        let mut s = open_with_disk();
        exchange(
            &mut s,
            &[
                req(1, Message::GetSegment { song: 5, index: 1 }),
                req(1, Message::Cancel),
            ],
        );
        assert_eq!(s.take_reads().count(), 0);
        assert_eq!(s.take_abandoned().count(), 0);
        assert!(s.is_idle());
    }

    #[test]
    fn disk_songs_are_checked_like_the_others_and_count_against_the_queue() {
        let mut s = open_with_disk(); // max 3 queued
        let out = exchange(
            &mut s,
            &[
                req(1, Message::GetSegment { song: 5, index: 2 }),
                req(2, Message::GetSegment { song: 5, index: 0 }),
                req(3, Message::GetSegment { song: 5, index: 1 }),
                req(4, Message::GetSegment { song: 5, index: 0 }),
                req(5, Message::GetSegment { song: 5, index: 0 }),
            ],
        );
        assert_eq!(error_code(&out[0]), (1, ErrorCode::SegmentOutOfRange));
        assert_eq!(error_code(&out[1]), (5, ErrorCode::TooManyRequests));
        assert_eq!(s.take_reads().count(), 3);
        // A fatal error drops every transfer and abandons their reads.
        s.fail(ErrorCode::IdleTimeout, "idle");
        assert_eq!(s.take_abandoned().count(), 3);
    }

    proptest::proptest! {
        /// Whatever bytes arrive, in whatever pieces, the session never panics, sends only
        /// well-formed frames, and once it closes its last frame is a connection-level ERROR.
        #[test]
        fn arbitrary_input_is_handled(
            chunks in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..40), 0..20),
            after_hello in proptest::bool::ANY,
        ) {
            let mut s = if after_hello { open() } else { session() };
            let mut buf = BytesMut::new();
            let mut sent = Vec::new();
            for chunk in chunks {
                buf.extend_from_slice(&chunk);
                s.receive(&mut buf);
                sent.extend(drain(&mut s));
            }
            if s.is_closing() {
                let last = sent.last().expect("a closing session sent its error");
                proptest::prop_assert_eq!(last.request_id, 0);
                let is_error = matches!(last.message, Message::Error { .. });
                proptest::prop_assert!(is_error);
            }
        }

        /// Segment requests for songs in memory and on disk, cancels, reads finishing or failing in
        /// any order, and frames taken at any time: transfers still go out one at a time in
        /// request order, each whole or answered with an error, nothing after a cancel's effect.
        #[test]
        fn reads_finishing_in_any_order_keep_transfers_in_order(
            ops in proptest::collection::vec((0u8..4, 0u32..3, proptest::bool::ANY, 0usize..8), 1..60),
        ) {
            let mut s = open_with_disk();
            let disk_bytes = |index: u32| Bytes::from(vec![index as u8 + 1; [10, 20_000][index as usize]]);
            let mut reads: Vec<SegmentRead> = Vec::new();
            let mut requests: Vec<(u32, u64, u32)> = Vec::new(); // (id, song, index)
            let mut cancelled = std::collections::HashSet::new();
            let mut out = Vec::new();
            let mut id = 0;
            let resolve = |s: &mut Session, reads: &mut Vec<SegmentRead>, pick: usize, ok: bool| {
                if reads.is_empty() {
                    return;
                }
                let read = reads.remove(pick % reads.len());
                let result = if ok { Ok(disk_bytes(read.index)) } else { Err("gone".to_string()) };
                s.segment_read(read.ticket, result);
            };
            for (op, index, flag, pick) in ops {
                match op {
                    0 => {
                        id += 1;
                        let song = if flag { 5 } else { 1 };
                        let index = index.min(1);
                        let mut buf = wire(&[req(id, Message::GetSegment { song, index })]);
                        s.receive(&mut buf);
                        requests.push((id, song, index));
                    }
                    1 if id > 0 => {
                        let victim = pick as u32 % id + 1;
                        let mut buf = wire(&[req(victim, Message::Cancel)]);
                        s.receive(&mut buf);
                        cancelled.insert(victim);
                    }
                    // Most reads succeed; one in six fails.
                    2 => resolve(&mut s, &mut reads, pick, flag || pick % 3 != 0),
                    _ => out.extend(next(&mut s)),
                }
                reads.extend(s.take_reads());
                let abandoned: Vec<Ticket> = s.take_abandoned().collect();
                reads.retain(|r| !abandoned.contains(&r.ticket));
            }
            // Finish every read, then everything goes out.
            while !reads.is_empty() {
                resolve(&mut s, &mut reads, 0, true);
                reads.extend(s.take_reads());
            }
            out.extend(drain(&mut s));
            proptest::prop_assert!(s.is_idle());
            proptest::prop_assert!(!s.is_closing());
            // DATA frames go out one transfer at a time, in request order.
            let mut order: Vec<u32> = Vec::new();
            for frame in &out {
                if matches!(frame.message, Message::Data { .. }) && order.last() != Some(&frame.request_id) {
                    proptest::prop_assert!(!order.contains(&frame.request_id), "transfers interleaved: {order:?}");
                    order.push(frame.request_id);
                }
            }
            proptest::prop_assert!(order.windows(2).all(|w| w[0] < w[1]), "out of order: {order:?}");
            for (id, song, index) in requests {
                let mine: Vec<&Frame> = out.iter().filter(|f| f.request_id == id).collect();
                let errors = mine.iter().filter(|f| matches!(f.message, Message::Error { .. })).count();
                let bytes = data(&out.iter().filter(|f| matches!(f.message, Message::Data { .. })).cloned().collect::<Vec<_>>(), id);
                let ended = mine.iter().any(|f| matches!(f.message, Message::Data { end: true, .. }));
                let expected = if song == 5 { disk_bytes(index).to_vec() } else { [&b"a"[..], b"memory"][index as usize].to_vec() };
                if errors > 0 {
                    proptest::prop_assert_eq!(mine.len(), 1, "an error and more for {}", id);
                } else if ended {
                    proptest::prop_assert_eq!(bytes, expected);
                } else {
                    // Neither finished nor refused: only a cancelled request may end so.
                    proptest::prop_assert!(cancelled.contains(&id), "request {} unanswered", id);
                    proptest::prop_assert!(expected.starts_with(&bytes));
                }
            }
        }

        /// Valid requests in any order: every GET_SEGMENT gets an error or its whole segment.
        #[test]
        fn every_segment_request_is_answered(
            requests in proptest::collection::vec((0u64..4, 0u32..6, proptest::bool::ANY), 1..30),
        ) {
            let mut s = open();
            let store = s.store.clone();
            let mut expected = Vec::new();
            let mut frames = Vec::new();
            for (i, (song, index, list)) in requests.into_iter().enumerate() {
                let id = i as u32 + 1;
                frames.push(if list {
                    req(id, Message::list_all())
                } else {
                    expected.push((id, song, index));
                    req(id, Message::GetSegment { song, index })
                });
            }
            let mut wire = wire(&frames);
            let mut buf = BytesMut::new();
            let mut out = Vec::new();
            // Feed the requests 20 bytes at a time and take one answer between feeds, so that
            // requests arrive while transfers are under way.
            while !wire.is_empty() || !s.is_idle() {
                buf.extend_from_slice(&wire.split_to(wire.len().min(20)));
                s.receive(&mut buf);
                out.extend(next(&mut s));
            }
            proptest::prop_assert!(buf.is_empty());
            for (id, song, index) in expected {
                let mine: Vec<&Frame> = out.iter().filter(|f| f.request_id == id).collect();
                match held(&store, song, index) {
                    Ok(_) if mine.len() == 1 && matches!(
                        mine[0].message,
                        Message::Error { code: ErrorCode::TooManyRequests, .. }
                    ) => {}
                    Ok(segment) => {
                        let mut bytes = Vec::new();
                        for (k, frame) in mine.iter().enumerate() {
                            let Message::Data { end, bytes: b } = &frame.message else {
                                return Err(proptest::test_runner::TestCaseError::fail(format!("{frame:?}")));
                            };
                            proptest::prop_assert_eq!(*end, k + 1 == mine.len());
                            bytes.extend_from_slice(b);
                        }
                        proptest::prop_assert_eq!(&bytes[..], segment.as_ref());
                    }
                    Err(_) => {
                        proptest::prop_assert_eq!(mine.len(), 1);
                        let is_error = matches!(mine[0].message, Message::Error { .. });
                        proptest::prop_assert!(is_error);
                    }
                }
            }
        }
    }
}
