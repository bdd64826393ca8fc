//! The stream decoder reads exactly what `decode_frame` reads, however the bytes are split, and
//! hands DATA payloads out in place.

use bytes::{Bytes, BytesMut};
use jukebox_protocol::{
    decode_frame, encode_frame, DecodeError, ErrorCode, Frame, Message, Piece, StreamDecoder,
    MAX_DATA_PAYLOAD,
};
use proptest::prelude::*;

/// A stream's content with the DATA of one segment joined: (request ID, what, bytes, END).
type Flat = Vec<(u32, String, Vec<u8>, bool)>;

/// Appends DATA bytes, joining them to the previous DATA of the same request if that had no END.
fn push_data(out: &mut Flat, request_id: u32, bytes: &[u8], end: bool) {
    match out.last_mut() {
        Some(last) if last.1 == "DATA" && last.0 == request_id && !last.3 => {
            last.2.extend_from_slice(bytes);
            last.3 = end;
        }
        _ => out.push((request_id, "DATA".into(), bytes.to_vec(), end)),
    }
}

fn push_frame(out: &mut Flat, frame: Frame) {
    match frame.message {
        Message::Data { end, bytes } => push_data(out, frame.request_id, &bytes, end),
        message => out.push((frame.request_id, format!("{message:?}"), Vec::new(), false)),
    }
}

/// What `decode_frame` makes of `bytes`, up to its first error.
fn by_frames(bytes: &[u8]) -> (Flat, Option<DecodeError>) {
    let mut buf = BytesMut::from(bytes);
    let mut out = Flat::new();
    loop {
        match decode_frame(&mut buf) {
            Ok(Some(frame)) => push_frame(&mut out, frame),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

/// What the stream decoder makes of `bytes` fed in chunks of `chunk` bytes, up to its first error.
fn by_stream(bytes: &[u8], chunk: usize) -> (Flat, Option<DecodeError>) {
    let mut decoder = StreamDecoder::new();
    let mut out = Flat::new();
    for mut input in bytes.chunks(chunk.max(1)) {
        loop {
            match decoder.next(&mut input) {
                Ok(Some(Piece::Data {
                    request_id,
                    bytes,
                    end,
                })) => push_data(&mut out, request_id, bytes, end),
                Ok(Some(Piece::Frame(frame))) => push_frame(&mut out, frame),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
        assert!(input.is_empty(), "Ok(None) before the input was used up");
    }
    (out, None)
}

fn encode(frames: &[Frame]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    for frame in frames {
        encode_frame(frame, &mut buf);
    }
    buf.to_vec()
}

fn sample() -> Vec<Frame> {
    let f = |request_id, message| Frame {
        request_id,
        message,
    };
    vec![
        f(
            0,
            Message::Welcome {
                version: 2,
                info: Bytes::from_static(b"{}"),
            },
        ),
        f(
            3,
            Message::Data {
                end: false,
                bytes: Bytes::from(vec![7; MAX_DATA_PAYLOAD]),
            },
        ),
        f(
            4,
            Message::Page(Bytes::from_static(br#"{"total":0,"songs":[]}"#)),
        ),
        f(
            3,
            Message::Data {
                end: true,
                bytes: Bytes::from_static(b"tail"),
            },
        ),
        f(5, Message::Cancel),
        f(
            0,
            Message::GoAway {
                within_ms: 500,
                message: "bye".into(),
            },
        ),
    ]
}

#[test]
fn every_chunk_size_gives_what_decode_frame_gives() {
    let bytes = encode(&sample());
    let expected = by_frames(&bytes);
    assert_eq!(expected.1, None);
    assert_eq!(expected.0.len(), 6);
    for chunk in [1, 2, 3, 11, 12, 13, 100, 16_395, bytes.len()] {
        assert_eq!(by_stream(&bytes, chunk), expected, "chunks of {chunk}");
    }
}

#[test]
fn data_is_handed_out_in_place() {
    let bytes = encode(&sample()[1..2]);
    let mut input = &bytes[..];
    let mut decoder = StreamDecoder::new();
    let Some(Piece::Data { bytes: piece, .. }) = decoder.next(&mut input).unwrap() else {
        panic!("expected DATA");
    };
    assert_eq!(piece.len(), MAX_DATA_PAYLOAD);
    assert_eq!(
        piece.as_ptr(),
        bytes[12..].as_ptr(),
        "the payload was copied"
    );
    assert!(input.is_empty());
}

#[test]
fn a_bad_header_is_refused_before_its_payload_arrives() {
    // A PAGE header announcing more than MAX_PAYLOAD, and a LIST with a reserved bit set.
    for (header, code) in [
        (
            [0x00, 0x10, 0x00, 0x01, 0x04, 0, 0, 0, 0, 0, 0, 1],
            ErrorCode::FrameTooLarge,
        ),
        (
            [0, 0, 0, 0, 0x03, 0, 0, 1, 0, 0, 0, 1],
            ErrorCode::MalformedFrame,
        ),
        (
            [0, 0, 0, 0, 0x0C, 0, 0, 0, 0, 0, 0, 1],
            ErrorCode::UnknownType,
        ),
    ] {
        let mut input = &header[..];
        let error = StreamDecoder::new().next(&mut input).unwrap_err();
        assert_eq!(error.code(), code);
    }
}

fn arb_message() -> impl Strategy<Value = Message> {
    let json = "[ -~]{2,64}".prop_map(|s| Bytes::from(s.into_bytes()));
    prop_oneof![
        any::<u16>().prop_map(|version| Message::Hello { version }),
        (any::<u16>(), json.clone()).prop_map(|(version, info)| Message::Welcome { version, info }),
        Just(Message::List(Bytes::new())),
        json.clone().prop_map(Message::Page),
        any::<u64>().prop_map(|song| Message::GetManifest { song }),
        (any::<u64>(), any::<u32>()).prop_map(|(song, index)| Message::GetSegment { song, index }),
        (
            any::<bool>(),
            proptest::collection::vec(any::<u8>(), 1..=2048)
        )
            .prop_map(|(end, bytes)| Message::Data {
                end,
                bytes: Bytes::from(bytes)
            }),
        Just(Message::Cancel),
        (any::<u16>(), "\\PC{0,40}").prop_map(|(code, message)| Message::Error {
            code: ErrorCode::from_code(code),
            message
        }),
        (any::<u32>(), "\\PC{0,40}")
            .prop_map(|(within_ms, message)| Message::GoAway { within_ms, message }),
    ]
}

proptest! {
    #[test]
    fn random_streams_in_random_chunks_decode_the_same(
        messages in proptest::collection::vec((0u32..4, arb_message()), 1..12),
        chunk in 1usize..600,
    ) {
        let frames: Vec<Frame> = messages
            .into_iter()
            .map(|(request_id, message)| Frame { request_id, message })
            .collect();
        let bytes = encode(&frames);
        prop_assert_eq!(by_stream(&bytes, chunk), by_frames(&bytes));
    }

    #[test]
    fn random_bytes_give_the_same_frames_and_the_same_error(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        chunk in 1usize..64,
    ) {
        let (frames, error) = by_frames(&bytes);
        let (pieces, stream_error) = by_stream(&bytes, chunk);
        prop_assert_eq!(error.as_ref().map(DecodeError::code), stream_error.as_ref().map(DecodeError::code));
        if error.is_some() {
            prop_assert_eq!(pieces, frames);
        } else {
            // Without an error the input may end inside a DATA frame, whose first bytes the stream
            // decoder has already handed out and decode_frame is still waiting for.
            prop_assert!(pieces.len() >= frames.len() && pieces.len() <= frames.len() + 1);
            let whole = frames.len().saturating_sub(1);
            prop_assert_eq!(&pieces[..whole], &frames[..whole]);
            if let (Some(last), Some(piece)) = (frames.last(), pieces.get(whole)) {
                prop_assert_eq!((last.0, &last.1), (piece.0, &piece.1));
                prop_assert!(piece.2.starts_with(&last.2));
            }
        }
    }
}
