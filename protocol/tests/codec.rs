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
        Message::Hello { version: 2 },
        Message::Welcome {
            version: 2,
            info: Bytes::from_static(b"{}"),
        },
        Message::List(Bytes::new()),
        Message::List(Bytes::from_static(br#"{"query":"blue"}"#)),
        Message::Page(Bytes::from_static(br#"{"total":0,"songs":[]}"#)),
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
        (header(0, 0x0C, 0, 0, 1), ErrorCode::UnknownType),
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
    // LIST whose payload is not UTF-8.
    let mut list = header(1, 0x03, 0, 0, 1);
    list.extend_from_slice(&[0xFF]);
    cases.push(list);
    // LIST over the request limit, refused from the header.
    cases.push(header(1025, 0x03, 0, 0, 1));
    // CANCEL with a payload.
    let mut cancel = header(1, 0x09, 0, 0, 1);
    cancel.extend_from_slice(&[0]);
    cases.push(cancel);
    // GET_SEGMENT with eight bytes instead of twelve.
    let mut get = header(8, 0x07, 0, 0, 1);
    get.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
    cases.push(get);
    // WELCOME without its document.
    let mut welcome = header(6, 0x02, 0, 0, 0);
    welcome.extend_from_slice(b"JKBX\x00\x02");
    cases.push(welcome);
    // Empty DATA.
    cases.push(header(0, 0x08, 1, 0, 1));
    // DATA over 16 KiB.
    let mut data = header(MAX_DATA_PAYLOAD as u32 + 1, 0x08, 0, 0, 1);
    data.extend_from_slice(&vec![0; MAX_DATA_PAYLOAD + 1]);
    cases.push(data);
    // ERROR with invalid UTF-8.
    let mut error = header(3, 0x0A, 0, 0, 1);
    error.extend_from_slice(&[0, 6, 0xFF]);
    cases.push(error);
    // PAGE that is not UTF-8.
    let mut page = header(2, 0x04, 0, 0, 1);
    page.extend_from_slice(&[0xC0, 0x80]);
    cases.push(page);
    for (i, mut buf) in cases.into_iter().enumerate() {
        let err = decode_frame(&mut buf).unwrap_err();
        assert_eq!(err.code(), ErrorCode::MalformedFrame, "case {i}: {err}");
    }
}

#[test]
fn an_unknown_error_code_is_kept_not_refused() {
    let mut error = header(4, 0x0A, 0, 0, 1);
    error.extend_from_slice(&[0xFF, 0xFF, b'h', b'i']);
    let frame = decode_frame(&mut error).unwrap().unwrap();
    assert_eq!(
        frame.message,
        Message::Error {
            code: ErrorCode::Other(0xFFFF),
            message: "hi".into()
        }
    );
    assert_eq!(ErrorCode::from_code(0xFFFF).code(), 0xFFFF);
}

#[test]
fn a_longer_hello_of_a_later_version_is_read() {
    let mut hello = header(10, 0x01, 0, 0, 0);
    hello.extend_from_slice(b"JKBX\x00\x03more");
    let frame = decode_frame(&mut hello).unwrap().unwrap();
    assert_eq!(frame.message, Message::Hello { version: 3 });
    assert!(hello.is_empty());
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
        message: Message::List(Bytes::new()),
    }]);
    assert_eq!(HEADER_LEN, 12);
    assert_eq!(&bytes[..], &[0, 0, 0, 0, 0x03, 0, 0, 0, 1, 2, 3, 4]);
}

fn arb_message() -> impl Strategy<Value = Message> {
    let json = "[ -~]{2,200}".prop_map(|s| Bytes::from(s.into_bytes()));
    let code = proptest::sample::select(ErrorCode::ALL.to_vec());
    prop_oneof![
        any::<u16>().prop_map(|version| Message::Hello { version }),
        (any::<u16>(), json.clone()).prop_map(|(version, info)| Message::Welcome { version, info }),
        Just(Message::List(Bytes::new())),
        json.clone().prop_map(Message::List),
        json.clone().prop_map(Message::Page),
        any::<u64>().prop_map(|song| Message::GetManifest { song }),
        json.prop_map(Message::Manifest),
        (any::<u64>(), any::<u32>()).prop_map(|(song, index)| Message::GetSegment { song, index }),
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
        (any::<u16>(), "\\PC{0,100}").prop_map(|(code, message)| Message::Error {
            code: ErrorCode::from_code(code),
            message
        }),
        (any::<u32>(), "\\PC{0,100}")
            .prop_map(|(within_ms, message)| Message::GoAway { within_ms, message }),
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
