//! Unit tests of the session, driven as the shell drives it but with simulated time: bytes go in
//! through `handle_input`, frames come out through `poll_transmit`, `write_slices` and
//! `handle_written`, and the clock is whatever instant a test passes.

mod going_away;
mod reads;
mod requests;
mod sending;
mod timers;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use jukebox_protocol::{decode_frame, encode_frame, ErrorCode, Frame, Message, VERSION};

use super::{Limits, Session, Transmit};
use crate::store::{Located, Refusal, Store};
use crate::test_songs::song;

/// The bytes of segment `index` of song `song`, which the store holds in memory, or its refusal.
pub(crate) fn held(store: &Store, song: u64, index: u32) -> Result<&Bytes, Refusal> {
    match store.locate(song, index)? {
        Located::Memory(bytes) => Ok(bytes),
        Located::Disk => panic!("segment {index} of song {song} is on disk"),
    }
}

/// The simulated clock: `ms` milliseconds after a fixed instant.
pub(crate) fn t(ms: u64) -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now) + Duration::from_millis(ms)
}

/// The default limits, with `max_queued_segments` and an idle time of 300 s.
pub(crate) fn limits(max_queued_segments: usize) -> Limits {
    Limits {
        idle_timeout: Duration::from_secs(300),
        frame_timeout: crate::DEFAULT_FRAME_TIMEOUT,
        send_timeout: crate::DEFAULT_SEND_TIMEOUT,
        fin_timeout: crate::DEFAULT_FIN_TIMEOUT,
        max_queued_segments,
        notsent_lowat: Some(crate::DEFAULT_NOTSENT_LOWAT),
        data_frames_per_write: 1,
    }
}

pub(crate) fn wire(frames: &[Frame]) -> BytesMut {
    let mut buf = BytesMut::new();
    for frame in frames {
        encode_frame(frame, &mut buf);
    }
    buf
}

pub(crate) fn req(request_id: u32, message: Message) -> Frame {
    Frame {
        request_id,
        message,
    }
}

pub(crate) fn hello() -> Frame {
    req(0, Message::Hello { version: VERSION })
}

/// Hands `bytes` to the session as received at `now`, as much as it takes (never more than
/// `read_room`, as the shell does); returns what it did not take.
pub(crate) fn feed_bytes_at(session: &mut Session, now: Instant, bytes: &[u8]) -> usize {
    let mut rest = bytes;
    while !rest.is_empty() {
        let room = session.read_room().min(rest.len());
        if room == 0 {
            break;
        }
        session.handle_input(now, &rest[..room]);
        rest = &rest[room..];
    }
    rest.len()
}

/// [`feed_bytes_at`] of the encoded frames at `now`, all of which must be taken.
pub(crate) fn feed_at(session: &mut Session, now: Instant, frames: &[Frame]) {
    let left = feed_bytes_at(session, now, &wire(frames));
    assert_eq!(left, 0, "the session did not take every byte");
}

pub(crate) fn feed(session: &mut Session, frames: &[Frame]) {
    feed_at(session, t(0), frames);
}

/// Does the next write, as a socket that takes everything would, at `now`: returns its bytes, or
/// `None` when the session has nothing to write. Uncorks and shutdowns are done on the way; a slow
/// client's socket always has room.
pub(crate) fn write_at(session: &mut Session, now: Instant) -> Option<Vec<u8>> {
    loop {
        match session.poll_transmit()? {
            Transmit::Write { .. } => {
                let bytes = written(session);
                session.handle_written(now, bytes.len());
                return Some(bytes);
            }
            Transmit::CheckRoom => session.handle_room(),
            Transmit::Uncork => {}
            Transmit::Shutdown | Transmit::Close(_) => return None,
        }
    }
}

/// The bytes of the write under way, joined.
pub(crate) fn written(session: &Session) -> Vec<u8> {
    let mut slices = [std::io::IoSlice::new(&[]); 2 * super::MAX_FRAMES_PER_WRITE];
    let count = session.write_slices(&mut slices);
    slices[..count].iter().flat_map(|s| s.to_vec()).collect()
}

/// Decodes whole frames.
pub(crate) fn decode(bytes: &[u8]) -> Vec<Frame> {
    let mut buf = BytesMut::from(bytes);
    let mut frames = Vec::new();
    while let Some(frame) = decode_frame(&mut buf).unwrap() {
        frames.push(frame);
    }
    assert!(buf.is_empty(), "a partial frame was written");
    frames
}

/// Everything the session sends until it has nothing more to write, at `now`, decoded.
pub(crate) fn sent_at(session: &mut Session, now: Instant) -> Vec<Frame> {
    let mut bytes = Vec::new();
    while let Some(more) = write_at(session, now) {
        bytes.extend(more);
    }
    decode(&bytes)
}

pub(crate) fn sent(session: &mut Session) -> Vec<Frame> {
    sent_at(session, t(0))
}

/// The next frame the session sends (one frame per write).
pub(crate) fn next(session: &mut Session) -> Option<Frame> {
    let frames = decode(&write_at(session, t(0))?);
    assert_eq!(frames.len(), 1);
    frames.into_iter().next()
}

/// Feeds frames and returns everything the session sends until it has nothing more to write.
pub(crate) fn exchange(session: &mut Session, frames: &[Frame]) -> Vec<Frame> {
    feed(session, frames);
    assert!(session.input.is_empty(), "session left whole frames unread");
    sent(session)
}

pub(crate) fn store() -> Arc<Store> {
    let big: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
    Arc::new(Store::new(vec![
        song(1, &[b"a", &[7; 16_384], &[8; 16_385], &big]),
        song(2, &[b"only"]),
    ]))
}

/// A session over [`store`], opened at time 0, awaiting HELLO; at most 3 segments queued.
pub(crate) fn session() -> Session {
    Session::new(store(), limits(3), t(0))
}

/// [`session`] after HELLO and WELCOME, at time 0.
pub(crate) fn open() -> Session {
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

pub(crate) fn error_code(frame: &Frame) -> (u32, ErrorCode) {
    match &frame.message {
        Message::Error { code, .. } => (frame.request_id, *code),
        other => panic!("expected ERROR, got {other:?}"),
    }
}

/// The DATA bytes of request `id` among `frames`.
pub(crate) fn data(frames: &[Frame], id: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    for frame in frames.iter().filter(|f| f.request_id == id) {
        let Message::Data { bytes: b, .. } = &frame.message else {
            panic!("expected DATA, got {frame:?}");
        };
        bytes.extend_from_slice(b);
    }
    bytes
}
