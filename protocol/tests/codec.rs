//! The codec's contract: every message round-trips, a stream decodes the same however it is split,
//! and no input makes the decoder panic.

use bytes::{Bytes, BytesMut};
use jukebox_protocol::{
    decode_frame, encode_frame, DecodeError, ErrorCode, Frame, Message, HEADER_LEN,
    MAX_DATA_PAYLOAD, MAX_PAYLOAD,
};
use proptest::prelude::*;

fn encode(frames: &[Frame]) -> BytesMut {
    let mut buf = BytesMut::new();
    for frame in frames {
        encode_frame(frame, &mut buf);
    }
    buf
}

/// Decodes everything in `buf`, failing on a decode error or trailing bytes.
fn decode_all(mut buf: BytesMut) -> Vec<Frame> {
    let mut frames = Vec::new();
    while let Some(frame) = decode_frame(&mut buf).expect("valid stream") {
        frames.push(frame);
    }
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    frames
}

fn one_of_each() -> Vec<Frame> {
    let messages = vec![
        Message::Hello { version: 1 },
        Message::Welcome { version: 1 },
        Message::List,
        Message::Catalog(Bytes::from_static(br#"{"songs":[]}"#)),
        Message::GetManifest { song: 7 },
        Message::Manifest(Bytes::from_static(b"{}")),
        Message::GetSegment { song: 7, index: 3 },
        Message::Data {
            end: false,
            bytes: Bytes::from(vec![0xAB; MAX_DATA_PAYLOAD]),
        },
        Message::Data {
            end: true,
            bytes: Bytes::from_static(b"x"),
        },
        Message::Cancel,
        Message::Error {
            code: ErrorCode::UnknownSong,
            message: "no song 9".into(),
        },
    ];
    messages
        .into_iter()
        .enumerate()
        .map(|(i, message)| Frame {
            request_id: i as u32,
            message,
        })
        .collect()
}

#[test]
fn every_message_round_trips() {
    let frames = one_of_each();
    assert_eq!(decode_all(encode(&frames)), frames);
}

#[test]
fn every_split_point_decodes_the_same() {
    let frames = one_of_each();
    let bytes = encode(&frames).freeze();
    for split in 0..=bytes.len() {
        let mut buf = BytesMut::new();
        let mut decoded = Vec::new();
        for part in [&bytes[..split], &bytes[split..]] {
            buf.extend_from_slice(part);
            while let Some(frame) = decode_frame(&mut buf).unwrap() {
                decoded.push(frame);
            }
        }
        assert_eq!(decoded, frames, "split at byte {split}");
        assert!(buf.is_empty());
    }
}

#[test]
fn a_stream_fed_one_byte_at_a_time_decodes_the_same() {
    let frames = one_of_each();
    let bytes = encode(&frames);
    let mut buf = BytesMut::new();
    let mut decoded = Vec::new();
    for byte in bytes.iter() {
        buf.extend_from_slice(&[*byte]);
        while let Some(frame) = decode_frame(&mut buf).unwrap() {
            decoded.push(frame);
        }
    }
    assert_eq!(decoded, frames);
}

fn header(length: u32, kind: u8, flags: u8, reserved: u16, request_id: u32) -> BytesMut {
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&length.to_be_bytes());
    buf.extend_from_slice(&[kind, flags]);
    buf.extend_from_slice(&reserved.to_be_bytes());
    buf.extend_from_slice(&request_id.to_be_bytes());
    buf
}

#[test]
fn an_oversize_length_is_rejected_from_the_header_alone() {
    let mut buf = header(MAX_PAYLOAD + 1, 0x08, 0, 0, 1);
    assert_eq!(
        decode_frame(&mut buf),
        Err(DecodeError::TooLarge {
            length: MAX_PAYLOAD + 1
        })
    );
    assert_eq!(
        DecodeError::TooLarge { length: 0 }.code(),
        ErrorCode::FrameTooLarge
    );
}

#[test]
fn header_violations_are_rejected() {
    let cases = [
        (header(0, 0x00, 0, 0, 1), ErrorCode::UnknownType),
        (header(0, 0x0B, 0, 0, 1), ErrorCode::UnknownType),
        (header(0, 0x03, 0, 1, 1), ErrorCode::MalformedFrame),
        (header(0, 0x03, 0x01, 0, 1), ErrorCode::MalformedFrame),
        (header(0, 0x09, 0x80, 0, 1), ErrorCode::MalformedFrame),
    ];
    for (mut buf, code) in cases {
        let err = decode_frame(&mut buf).unwrap_err();
        assert_eq!(err.code(), code, "{err}");
    }
}

#[test]
fn payload_violations_are_rejected() {
    let mut cases = Vec::new();
    // HELLO with bad magic.
    let mut hello = header(6, 0x01, 0, 0, 0);
    hello.extend_from_slice(b"HTTP\x00\x01");
    cases.push(hello);
    // LIST with a payload.
    let mut list = header(1, 0x03, 0, 0, 1);
    list.extend_from_slice(&[0]);
    cases.push(list);
    // GET_SEGMENT with four bytes instead of eight.
    let mut get = header(4, 0x07, 0, 0, 1);
    get.extend_from_slice(&[0, 0, 0, 1]);
    cases.push(get);
    // Empty DATA.
    cases.push(header(0, 0x08, 1, 0, 1));
    // DATA over 16 KiB.
    let mut data = header(MAX_DATA_PAYLOAD as u32 + 1, 0x08, 0, 0, 1);
    data.extend_from_slice(&vec![0; MAX_DATA_PAYLOAD + 1]);
    cases.push(data);
    // ERROR with an unknown code and with invalid UTF-8.
    let mut error = header(2, 0x0A, 0, 0, 1);
    error.extend_from_slice(&[0xFF, 0xFF]);
    cases.push(error);
    let mut error = header(3, 0x0A, 0, 0, 1);
    error.extend_from_slice(&[0, 6, 0xFF]);
    cases.push(error);
    // CATALOG that is not UTF-8.
    let mut catalog = header(1, 0x04, 0, 0, 1);
    catalog.extend_from_slice(&[0xC0]);
    cases.push(catalog);
    for (i, mut buf) in cases.into_iter().enumerate() {
        let err = decode_frame(&mut buf).unwrap_err();
        assert_eq!(err.code(), ErrorCode::MalformedFrame, "case {i}: {err}");
    }
}

#[test]
fn a_partial_frame_waits_for_more() {
    let bytes = encode(&one_of_each()[..1]);
    for len in 0..bytes.len() {
        let mut buf = BytesMut::from(&bytes[..len]);
        assert_eq!(decode_frame(&mut buf), Ok(None));
        assert_eq!(buf.len(), len, "a partial frame must not be consumed");
    }
}

#[test]
fn long_error_messages_are_cut_at_a_character_boundary() {
    let frame = Frame {
        request_id: 1,
        message: Message::Error {
            code: ErrorCode::Internal,
            message: "é".repeat(600),
        },
    };
    let decoded = decode_all(encode(&[frame]));
    let Message::Error { message, .. } = &decoded[0].message else {
        panic!("not an error")
    };
    assert_eq!(message.len(), 1024);
    assert!(message.chars().all(|c| c == 'é'));
}

#[test]
fn the_header_is_twelve_bytes() {
    let bytes = encode(&[Frame {
        request_id: 0x01020304,
        message: Message::List,
    }]);
    assert_eq!(HEADER_LEN, 12);
    assert_eq!(&bytes[..], &[0, 0, 0, 0, 0x03, 0, 0, 0, 1, 2, 3, 4]);
}

fn arb_message() -> impl Strategy<Value = Message> {
    let json = "[ -~]{1,200}".prop_map(|s| Bytes::from(s.into_bytes()));
    let code = proptest::sample::select(ErrorCode::ALL.to_vec());
    prop_oneof![
        any::<u16>().prop_map(|version| Message::Hello { version }),
        any::<u16>().prop_map(|version| Message::Welcome { version }),
        Just(Message::List),
        json.clone().prop_map(Message::Catalog),
        any::<u32>().prop_map(|song| Message::GetManifest { song }),
        json.prop_map(Message::Manifest),
        (any::<u32>(), any::<u32>()).prop_map(|(song, index)| Message::GetSegment { song, index }),
        (
            any::<bool>(),
            proptest::collection::vec(any::<u8>(), 1..=MAX_DATA_PAYLOAD)
        )
            .prop_map(|(end, bytes)| Message::Data {
                end,
                bytes: Bytes::from(bytes)
            }),
        Just(Message::Cancel),
        (code, "\\PC{0,100}").prop_map(|(code, message)| Message::Error { code, message }),
    ]
}

proptest! {
    #[test]
    fn random_messages_round_trip(
        messages in proptest::collection::vec((any::<u32>(), arb_message()), 1..8),
        split in any::<prop::sample::Index>(),
    ) {
        let frames: Vec<Frame> = messages
            .into_iter()
            .map(|(request_id, message)| Frame { request_id, message })
            .collect();
        let bytes = encode(&frames).freeze();
        let at = split.index(bytes.len() + 1);
        let mut buf = BytesMut::from(&bytes[..at]);
        let mut decoded = Vec::new();
        while let Some(frame) = decode_frame(&mut buf).unwrap() {
            decoded.push(frame);
        }
        buf.extend_from_slice(&bytes[at..]);
        while let Some(frame) = decode_frame(&mut buf).unwrap() {
            decoded.push(frame);
        }
        prop_assert_eq!(decoded, frames);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut buf = BytesMut::from(&bytes[..]);
        // Each call either consumes a frame, waits, or fails; it must never panic or loop.
        for _ in 0..bytes.len() + 1 {
            match decode_frame(&mut buf) {
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => break,
            }
        }
    }

    #[test]
    fn random_bytes_after_a_valid_header_never_panic(
        kind in 0u8..=0x0C,
        flags in any::<u8>(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut buf = header(payload.len() as u32, kind, flags, 0, 1);
        buf.extend_from_slice(&payload);
        let _ = decode_frame(&mut buf);
    }
}
