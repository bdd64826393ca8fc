//! Builds arbitrary messages, the way any sender could, encodes them into one stream and decodes
//! it with both decoders: decode(encode(frames)) must be the frames, whatever the field values and
//! however the stream is cut into reads. (The encoder refuses payloads its type does not allow, so documents are cut
//! to fit, as a sender would.)
#![no_main]

#[path = "common/flat.rs"]
mod flat;

use bytes::{Bytes, BytesMut};
use jukebox_protocol::{
    decode_frame, encode_frame, ErrorCode, Frame, Message, MAX_DATA_PAYLOAD, MAX_ERROR_MESSAGE,
    MAX_REQUEST_PAYLOAD,
};
use libfuzzer_sys::arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;

use flat::{push_frame, stream_decode, Flat};

/// A UTF-8 text of at most `max` bytes, as the encoder would cut it.
fn text(u: &mut Unstructured<'_>, max: usize) -> Result<String> {
    let mut s = String::arbitrary(u)?;
    while s.len() > max {
        s.pop();
    }
    Ok(s)
}

/// A UTF-8 document of `min` to `max` bytes (the codec checks only UTF-8 and length).
fn json(u: &mut Unstructured<'_>, min: usize, max: usize) -> Result<Bytes> {
    let mut s = text(u, max)?;
    while s.len() < min {
        s.push('{');
    }
    Ok(Bytes::from(s))
}

fn message(u: &mut Unstructured<'_>) -> Result<Message> {
    Ok(match u.int_in_range(0..=11)? {
        0 => Message::Hello {
            version: u.arbitrary()?,
        },
        1 => Message::Welcome {
            version: u.arbitrary()?,
            info: json(u, 2, 4096)?,
        },
        2 => Message::List(Bytes::new()),
        3 => Message::List(json(u, 1, MAX_REQUEST_PAYLOAD as usize)?),
        4 => Message::Page(json(u, 2, 4096)?),
        5 => Message::GetManifest {
            song: u.arbitrary()?,
        },
        6 => Message::Manifest(json(u, 2, 4096)?),
        7 => Message::GetSegment {
            song: u.arbitrary()?,
            index: u.arbitrary()?,
        },
        8 => {
            let len = u.int_in_range(1..=MAX_DATA_PAYLOAD)?;
            let bytes = u.bytes(len.min(u.len()).max(1)).unwrap_or(&[0]).to_vec();
            Message::Data {
                end: u.arbitrary()?,
                bytes: Bytes::from(bytes),
            }
        }
        9 => Message::Cancel,
        10 => Message::Error {
            code: ErrorCode::from_code(u.arbitrary()?),
            message: text(u, MAX_ERROR_MESSAGE)?,
        },
        _ => Message::GoAway {
            within_ms: u.arbitrary()?,
            message: text(u, MAX_ERROR_MESSAGE)?,
        },
    })
}

fuzz_target!(|input: &[u8]| {
    let mut u = Unstructured::new(input);
    let Ok(chunk) = u.int_in_range(1usize..=4096) else {
        return;
    };
    let mut frames = Vec::new();
    while !u.is_empty() && frames.len() < 32 {
        let Ok(request_id) = u.arbitrary::<u32>() else {
            break;
        };
        let Ok(message) = message(&mut u) else { break };
        frames.push(Frame {
            request_id,
            message,
        });
    }
    let mut wire = BytesMut::new();
    for frame in &frames {
        encode_frame(frame, &mut wire);
    }
    let mut buf = BytesMut::new();
    let mut decoded = Vec::new();
    for read in wire.chunks(chunk) {
        buf.extend_from_slice(read);
        while let Some(frame) = decode_frame(&mut buf).expect("an encoded stream decodes") {
            decoded.push(frame);
        }
    }
    assert!(buf.is_empty(), "bytes left over");
    assert_eq!(decoded, frames);

    let (pieces, error) = stream_decode(wire.chunks(chunk));
    assert_eq!(error, None, "an encoded stream decodes");
    let mut expected = Flat::new();
    for frame in &frames {
        push_frame(&mut expected, frame);
    }
    assert_eq!(pieces, expected, "the stream decoder finds other frames");
});
