//! What a byte stream holds, in a form both decoders of the protocol crate can be compared in:
//! `decode_frame` hands out whole DATA frames, `StreamDecoder` hands out DATA in pieces as they
//! arrive, so the DATA of one run of frames (one request, up to END) is joined.

use jukebox_protocol::{ErrorCode, Frame, Message, Piece, StreamDecoder};

/// (request ID, the message or "DATA", the DATA bytes, END).
pub type Flat = Vec<(u32, String, Vec<u8>, bool)>;

/// Appends DATA bytes, joining them to the last entry if that is DATA of the same request not yet
/// ended.
pub fn push_data(out: &mut Flat, request_id: u32, bytes: &[u8], end: bool) {
    match out.last_mut() {
        Some(last) if last.1 == "DATA" && last.0 == request_id && !last.3 => {
            last.2.extend_from_slice(bytes);
            last.3 = end;
        }
        _ => out.push((request_id, "DATA".into(), bytes.to_vec(), end)),
    }
}

/// Appends a whole frame.
pub fn push_frame(out: &mut Flat, frame: &Frame) {
    match &frame.message {
        Message::Data { end, bytes } => push_data(out, frame.request_id, bytes, *end),
        message => out.push((frame.request_id, format!("{message:?}"), Vec::new(), false)),
    }
}

/// Feeds `reads` to a [`StreamDecoder`], checking its contract on the way (no empty DATA piece,
/// `Ok(None)` only once the input is used up): what it found, and the error that stopped it with
/// the number of the read it came in.
pub fn stream_decode<'a>(
    reads: impl Iterator<Item = &'a [u8]>,
) -> (Flat, Option<(usize, ErrorCode)>) {
    let mut decoder = StreamDecoder::new();
    let mut pieces = Flat::new();
    for (n, mut read) in reads.enumerate() {
        loop {
            match decoder.next(&mut read) {
                Ok(Some(Piece::Frame(frame))) => {
                    assert!(
                        !matches!(frame.message, Message::Data { .. }),
                        "DATA as a whole frame"
                    );
                    push_frame(&mut pieces, &frame);
                }
                Ok(Some(Piece::Data {
                    request_id,
                    bytes,
                    end,
                })) => {
                    assert!(!bytes.is_empty(), "an empty DATA piece");
                    push_data(&mut pieces, request_id, bytes, end);
                }
                Ok(None) => {
                    assert!(read.is_empty(), "Ok(None) with input left");
                    break;
                }
                Err(e) => return (pieces, Some((n, e.code()))),
            }
        }
    }
    (pieces, None)
}
