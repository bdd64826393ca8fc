//! The handshake, each request's answer, framing errors, and the order frames go out in.

use bytes::{Bytes, BytesMut};
use jukebox_protocol::{
    ErrorCode, Frame, FrameHeader, Manifest, Message, MessageType, Page, HEADER_LEN,
    MAX_DATA_PAYLOAD, VERSION,
};

use super::*;
use crate::session::{Closed, MAX_CONTROL_BACKLOG};

fn assert_fatal(session: &mut Session, frames: &[Frame], code: ErrorCode) {
    let out = exchange(session, frames);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(error_code(&out[0]), (0, code));
    assert!(session.is_closing());
    // What comes after is discarded, not answered.
    feed_bytes_at(session, t(0), &wire(&[req(99, Message::list_all())]));
    assert!(
        sent(session).is_empty(),
        "a failing session takes no more requests"
    );
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
    feed_bytes_at(&mut s, t(0), &header.to_bytes());
    let out = sent(&mut s);
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
        feed_bytes_at(&mut s, t(0), &buf);
        let out = sent(&mut s);
        assert_eq!(out.len(), 1);
        assert_eq!(error_code(&out[0]), (0, code));
    }
}

#[test]
fn wrong_payload_size_is_malformed() {
    let mut s = open();
    let mut buf = wire(&[req(1, Message::GetManifest { song: 1 })]);
    buf[3] = 5; // announce 5 payload bytes instead of 8
    buf.extend_from_slice(&[0]);
    feed_bytes_at(&mut s, t(0), &buf);
    assert_eq!(error_code(&sent(&mut s)[0]), (0, ErrorCode::MalformedFrame));
}

#[test]
fn bad_magic_is_malformed() {
    let mut s = session();
    let mut buf = wire(&[hello()]);
    buf[12] = b'X';
    feed_bytes_at(&mut s, t(0), &buf);
    assert_eq!(error_code(&sent(&mut s)[0]), (0, ErrorCode::MalformedFrame));
}

#[test]
fn partial_frames_wait_for_the_rest() {
    let mut s = session();
    let all = wire(&[hello(), req(1, Message::list_all())]);
    feed_bytes_at(&mut s, t(0), &all[..15]);
    assert!(s.awaiting_hello() && s.is_idle(), "no frame is taken yet");
    feed_bytes_at(&mut s, t(0), &all[15..20]);
    assert!(!s.awaiting_hello(), "HELLO is taken");
    assert_eq!(s.input.len(), 2, "the start of the LIST waits");
    feed_bytes_at(&mut s, t(0), &all[20..]);
    assert!(s.input.is_empty());
    assert_eq!(sent(&mut s).len(), 2);
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
    feed(&mut s, &[req(1, Message::GetSegment { song: 1, index: 3 })]);
    let mut bytes = Vec::new();
    let mut shape = Vec::new();
    // Small frames first (a slow link), then full ones again.
    let mut sizes = [4096, 4096, MAX_DATA_PAYLOAD, MAX_DATA_PAYLOAD].into_iter();
    while let Some(frame) = s.next_frame_within(sizes.next().unwrap_or(MAX_DATA_PAYLOAD)) {
        let mut wire = Vec::new();
        let mut frame = frame;
        while bytes::Buf::has_remaining(&frame) {
            wire.extend_from_slice(bytes::Buf::chunk(&frame));
            let n = bytes::Buf::chunk(&frame).len();
            bytes::Buf::advance(&mut frame, n);
        }
        let Message::Data { end, bytes: b } = decode(&wire).remove(0).message else {
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
fn data_is_written_from_the_shared_segment() {
    let mut s = open();
    let segment = held(&s.store, 1, 3).unwrap().clone();
    feed(&mut s, &[req(1, Message::GetSegment { song: 1, index: 3 })]);
    // The payload slice handed to the write is the store's buffer itself, then the next piece.
    for offset in [0, MAX_DATA_PAYLOAD] {
        assert!(matches!(s.poll_transmit(), Some(Transmit::Write { .. })));
        let mut slices = [std::io::IoSlice::new(&[]); 2];
        assert_eq!(s.write_slices(&mut slices), 2, "header and payload");
        assert_eq!(slices[0].len(), HEADER_LEN);
        assert_eq!(slices[1].as_ptr(), segment[offset..].as_ptr());
        let n = slices[0].len() + slices[1].len();
        s.handle_written(t(0), n);
    }
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
    feed(&mut s, &[req(1, Message::GetSegment { song: 1, index: 3 })]);
    assert!(s.next_is_data());
    assert_eq!(next(&mut s).unwrap().request_id, 1);
    feed(&mut s, &[req(2, Message::list_all())]);
    assert!(!s.next_is_data());
    let reply = next(&mut s).unwrap();
    assert_eq!(reply.request_id, 2);
    assert!(matches!(reply.message, Message::Page(_)));
    let rest = sent(&mut s);
    assert_eq!(rest.len(), 2);
    assert!(rest.iter().all(|f| f.request_id == 1));
}

#[test]
fn cancel_stops_the_current_transfer_and_queued_ones() {
    let mut s = open();
    feed(
        &mut s,
        &[
            req(1, Message::GetSegment { song: 1, index: 3 }),
            req(2, Message::GetSegment { song: 1, index: 2 }),
            req(3, Message::GetSegment { song: 2, index: 0 }),
        ],
    );
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
    let buf = wire(&[
        req(1, Message::GetSegment { song: 1, index: 3 }),
        req(2, Message::list_all()),
        hello(),
        req(3, Message::list_all()),
    ]);
    feed_bytes_at(&mut s, t(0), &buf);
    assert_eq!(
        s.input.len(),
        HEADER_LEN,
        "frames after the fatal one are not taken"
    );
    let out = sent(&mut s);
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(matches!(out[0].message, Message::Page(_)));
    assert_eq!(error_code(&out[1]), (0, ErrorCode::UnexpectedMessage));
    assert!(s.is_closing());
    assert_eq!(s.poll_transmit(), None, "nothing after the ERROR");
}

#[test]
fn a_second_failure_adds_nothing() {
    let mut s = open();
    s.fail(t(0), ErrorCode::IdleTimeout, "idle");
    s.fail(t(0), ErrorCode::MalformedFrame, "again");
    let out = sent(&mut s);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(error_code(&out[0]), (0, ErrorCode::IdleTimeout));
}

#[test]
fn unread_answers_stop_the_intake() {
    let mut s = open();
    let lists: Vec<Frame> = (1..=MAX_CONTROL_BACKLOG as u32 + 10)
        .map(|id| req(id, Message::list_all()))
        .collect();
    let buf = wire(&lists);
    assert_eq!(feed_bytes_at(&mut s, t(0), &buf), 0, "all bytes fit");
    assert_eq!(s.control.len(), MAX_CONTROL_BACKLOG);
    assert_eq!(s.read_room(), 0, "nothing more is read");
    assert_eq!(s.input.len(), 10 * HEADER_LEN);
    // An answer written makes room for one more request.
    next(&mut s).unwrap();
    assert_eq!(s.control.len(), MAX_CONTROL_BACKLOG);
    assert_eq!(s.input.len(), 9 * HEADER_LEN);
}

#[test]
fn a_client_that_closes_after_whole_requests_gets_every_answer() {
    let mut s = open();
    feed(&mut s, &[req(1, Message::GetSegment { song: 1, index: 3 })]);
    s.handle_eof(t(0));
    assert_eq!(s.read_room(), 0);
    let out = sent(&mut s);
    assert_eq!(data(&out, 1), held(&s.store, 1, 3).unwrap().as_ref());
    assert_eq!(s.poll_transmit(), Some(Transmit::Close(Closed::Finished)));
}

#[test]
fn a_client_that_closes_in_the_middle_of_a_frame_gets_nothing_more() {
    let mut s = open();
    let mut buf = wire(&[req(1, Message::GetSegment { song: 1, index: 3 })]);
    buf.extend_from_slice(&wire(&[req(2, Message::list_all())])[..5]);
    feed_bytes_at(&mut s, t(0), &buf);
    s.handle_eof(t(0));
    assert_eq!(s.poll_transmit(), Some(Transmit::Close(Closed::MidFrame)));
}

#[test]
fn a_client_that_closes_behind_unread_answers_is_closed_once_they_are_taken() {
    // The intake stopped with whole frames and a partial one unread; the end of the stream
    // counts only once the whole frames are taken.
    let mut s = open();
    let mut buf = BytesMut::from(
        &wire(
            &(1..=MAX_CONTROL_BACKLOG as u32 + 1)
                .map(|id| req(id, Message::list_all()))
                .collect::<Vec<_>>(),
        )[..],
    );
    buf.extend_from_slice(&[0, 0]);
    feed_bytes_at(&mut s, t(0), &buf);
    s.handle_eof(t(0));
    assert!(s.closed().is_none());
    next(&mut s).unwrap();
    assert!(s.closed().is_none(), "the last whole LIST is taken now");
    next(&mut s).unwrap();
    assert_eq!(s.closed(), Some(Closed::MidFrame));
}
