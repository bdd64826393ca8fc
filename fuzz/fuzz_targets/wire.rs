//! Feeds an arbitrary byte stream, cut into arbitrary reads, to both decoders of the protocol crate:
//! `decode_frame` (whole frames from a growing buffer) and `StreamDecoder` (DATA handed out in
//! place). Neither may panic; they must find the same frames (the stream decoder also the start of
//! a DATA frame the input ends in) and fail with the same error code in the same read; and every
//! frame found must encode to exactly the bytes it came from (HELLO, whose payload a later version
//! may lengthen, must decode back to itself).
//!
//! Input: one byte choosing the read size (1 to 256 bytes), then the stream.
#![no_main]

#[path = "common/flat.rs"]
mod flat;

use bytes::BytesMut;
use jukebox_protocol::codec::peek_header;
use jukebox_protocol::{decode_frame, encode_frame, Message, MessageType, HEADER_LEN};
use libfuzzer_sys::fuzz_target;

use flat::{push_data, push_frame, stream_decode, Flat};

fuzz_target!(|input: &[u8]| {
    let Some((&chunk, stream)) = input.split_first() else {
        return;
    };
    let chunk = usize::from(chunk) + 1;

    // decode_frame, fed read by read; each frame with the bytes it was decoded from.
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut offset = 0;
    let mut frame_error = None;
    'reads: for (n, read) in stream.chunks(chunk).enumerate() {
        buf.extend_from_slice(read);
        loop {
            match decode_frame(&mut buf) {
                Ok(Some(frame)) => {
                    let header = peek_header(&stream[offset..])
                        .expect("a decoded frame's header parses")
                        .expect("a decoded frame's header is whole");
                    let end = offset + HEADER_LEN + header.length as usize;
                    frames.push((frame, &stream[offset..end]));
                    offset = end;
                }
                Ok(None) => break,
                Err(e) => {
                    frame_error = Some((n, e.code()));
                    break 'reads;
                }
            }
        }
    }
    if frame_error.is_none() {
        assert_eq!(offset + buf.len(), stream.len(), "bytes lost");
    }

    // StreamDecoder, fed the same reads, must find the same, plus the bytes of a DATA frame the
    // input ends inside, which it hands out as they come and decode_frame still waits for.
    let (pieces, stream_error) = stream_decode(stream.chunks(chunk));
    assert_eq!(
        frame_error, stream_error,
        "the decoders disagree on the error"
    );
    let mut expected = Flat::new();
    for (frame, _) in &frames {
        push_frame(&mut expected, frame);
    }
    if frame_error.is_none() && buf.len() > HEADER_LEN {
        let header = peek_header(&buf).unwrap().unwrap();
        if header.kind == MessageType::Data {
            push_data(&mut expected, header.request_id, &buf[HEADER_LEN..], false);
        }
    }
    assert_eq!(expected, pieces, "the decoders disagree");

    // Every frame found encodes to the bytes it came from, or for HELLO decodes back to itself.
    for (frame, raw) in &frames {
        let mut out = BytesMut::new();
        encode_frame(frame, &mut out);
        if matches!(frame.message, Message::Hello { .. }) {
            let again = decode_frame(&mut out)
                .expect("an encoded HELLO decodes")
                .expect("an encoded HELLO is whole");
            assert_eq!(&again, frame, "encode then decode changed the HELLO");
            assert!(out.is_empty());
        } else {
            assert_eq!(&out[..], *raw, "encode gave other bytes than were decoded");
        }
    }
});
