//! Encoding messages to bytes and decoding them, incrementally, from a byte stream. This is where
//! every byte of a frame is read or written; [`crate::frame`] holds the header and the table of
//! which lengths each type allows.
//!
//! The decoder never reads past what it was given and never allocates more than one frame: it looks
//! at the header as soon as 12 bytes are there, rejects an oversize, unknown or wrongly sized frame
//! at once, and otherwise waits until the whole payload has arrived.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error_code::ErrorCode;
use crate::frame::{FrameHeader, MessageType, FLAG_END, HEADER_LEN};
use crate::message::{Frame, Message};
use crate::{MAGIC, MAX_DATA_PAYLOAD, MAX_ERROR_MESSAGE};

/// Why bytes could not be decoded into a frame. Every one of these ends the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("frame payload of {length} bytes exceeds the maximum")]
    TooLarge { length: u32 },
    #[error("unknown message type 0x{code:02x}")]
    UnknownType { code: u8 },
    #[error("malformed frame: a {} payload cannot be {length} bytes", kind.name())]
    Length { kind: MessageType, length: u32 },
    #[error("malformed frame: {0}")]
    Malformed(&'static str),
}

impl DecodeError {
    /// The error code a receiver reports for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::TooLarge { .. } => ErrorCode::FrameTooLarge,
            DecodeError::UnknownType { .. } => ErrorCode::UnknownType,
            DecodeError::Length { .. } | DecodeError::Malformed(_) => ErrorCode::MalformedFrame,
        }
    }
}

/// The header at the front of `buf`, checked, if 12 bytes are there: what a receiver needs to
/// decide whether to read the payload at all.
pub fn peek_header(buf: &[u8]) -> Result<Option<FrameHeader>, DecodeError> {
    match buf.first_chunk::<HEADER_LEN>() {
        Some(bytes) => FrameHeader::parse(bytes).map(Some),
        None => Ok(None),
    }
}

/// Takes one whole frame off the front of `buf`, if one is there.
///
/// Returns `Ok(None)` when more bytes are needed (and reserves room for them), and an error as soon as
/// the bytes at hand cannot start a valid frame.
pub fn decode_frame(buf: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
    let Some(header) = peek_header(buf)? else {
        return Ok(None);
    };
    let total = HEADER_LEN + header.length as usize;
    if buf.len() < total {
        buf.reserve(total - buf.len());
        return Ok(None);
    }
    buf.advance(HEADER_LEN);
    let payload = buf.split_to(header.length as usize).freeze();
    let message = decode_payload(&header, payload)?;
    Ok(Some(Frame {
        request_id: header.request_id,
        message,
    }))
}

/// The message in a payload whose length the header check already found allowed for its type. Both
/// decoders ([`decode_frame`] and [`crate::StreamDecoder`]) read payloads here.
pub(crate) fn decode_payload(
    header: &FrameHeader,
    mut payload: Bytes,
) -> Result<Message, DecodeError> {
    Ok(match header.kind {
        MessageType::Hello => Message::Hello {
            // A later version's HELLO may be longer: what follows the version is not ours to read.
            version: magic_and_version(&mut payload)?,
        },
        MessageType::Welcome => Message::Welcome {
            version: magic_and_version(&mut payload)?,
            info: json(payload)?,
        },
        MessageType::List if payload.is_empty() => Message::List(payload),
        MessageType::List => Message::List(json(payload)?),
        MessageType::Page => Message::Page(json(payload)?),
        MessageType::Manifest => Message::Manifest(json(payload)?),
        MessageType::GetManifest => Message::GetManifest {
            song: payload.get_u64(),
        },
        MessageType::GetSegment => Message::GetSegment {
            song: payload.get_u64(),
            index: payload.get_u32(),
        },
        MessageType::Data => Message::Data {
            end: header.flags & FLAG_END != 0,
            bytes: payload,
        },
        MessageType::Cancel => Message::Cancel,
        MessageType::Error => Message::Error {
            code: ErrorCode::from_code(payload.get_u16()),
            message: text(payload)?,
        },
        MessageType::GoAway => Message::GoAway {
            within_ms: payload.get_u32(),
            message: text(payload)?,
        },
    })
}

fn magic_and_version(payload: &mut Bytes) -> Result<u16, DecodeError> {
    if payload[..4] != MAGIC {
        return Err(DecodeError::Malformed("bad magic"));
    }
    payload.advance(4);
    Ok(payload.get_u16())
}

/// JSON payloads must at least be non-empty UTF-8; their schema is checked where they are parsed.
fn json(payload: Bytes) -> Result<Bytes, DecodeError> {
    if payload.is_empty() || std::str::from_utf8(&payload).is_err() {
        return Err(DecodeError::Malformed("JSON payload is empty or not UTF-8"));
    }
    Ok(payload)
}

fn text(payload: Bytes) -> Result<String, DecodeError> {
    String::from_utf8(payload.to_vec()).map_err(|_| DecodeError::Malformed("text is not UTF-8"))
}

/// Appends the encoding of `frame` to `buf`.
///
/// # Panics
/// If the message breaks a size limit that the sender controls (a DATA payload that is empty or over
/// [`MAX_DATA_PAYLOAD`], a JSON document over [`crate::MAX_PAYLOAD`] or a request over
/// [`crate::MAX_REQUEST_PAYLOAD`]): those are bugs in the sender, not input from a peer. ERROR and
/// GOAWAY texts longer than [`MAX_ERROR_MESSAGE`] are cut at a character boundary instead, since
/// they often quote outside input.
pub fn encode_frame(frame: &Frame, buf: &mut BytesMut) {
    let message = &frame.message;
    let length = match message {
        Message::Hello { .. } => 6,
        Message::Welcome { info, .. } => 6 + info.len(),
        Message::List(json)
        | Message::Page(json)
        | Message::Manifest(json)
        | Message::Data { bytes: json, .. } => json.len(),
        Message::GetManifest { .. } => 8,
        Message::GetSegment { .. } => 12,
        Message::Cancel => 0,
        Message::Error { message, .. } => 2 + truncate(message).len(),
        Message::GoAway { message, .. } => 4 + truncate(message).len(),
    };
    let kind = message.kind();
    let length = u32::try_from(length).expect("payload length fits in 32 bits");
    assert!(
        kind.payload().contains(&length),
        "a {} payload of {length} bytes is not allowed",
        kind.name()
    );
    let flags = match message {
        Message::Data { end: true, .. } => FLAG_END,
        _ => 0,
    };
    let header = FrameHeader {
        length,
        kind,
        flags,
        request_id: frame.request_id,
    };
    buf.reserve(HEADER_LEN + length as usize);
    buf.put_slice(&header.to_bytes());
    match message {
        Message::Hello { version } => {
            buf.put_slice(&MAGIC);
            buf.put_u16(*version);
        }
        Message::Welcome { version, info } => {
            buf.put_slice(&MAGIC);
            buf.put_u16(*version);
            buf.put_slice(info);
        }
        Message::List(bytes)
        | Message::Page(bytes)
        | Message::Manifest(bytes)
        | Message::Data { bytes, .. } => buf.put_slice(bytes),
        Message::GetManifest { song } => buf.put_u64(*song),
        Message::GetSegment { song, index } => {
            buf.put_u64(*song);
            buf.put_u32(*index);
        }
        Message::Cancel => {}
        Message::Error { code, message } => {
            buf.put_u16(code.code());
            buf.put_slice(truncate(message).as_bytes());
        }
        Message::GoAway { within_ms, message } => {
            buf.put_u32(*within_ms);
            buf.put_slice(truncate(message).as_bytes());
        }
    }
}

/// The header of a frame whose payload the sender writes straight from a shared buffer instead of
/// copying it into the frame (DATA, and JSON documents serialised once for every client).
///
/// # Panics
/// If the type does not allow a payload of `len` bytes, or `end` is set on anything but DATA.
pub fn shared_header(
    kind: MessageType,
    request_id: u32,
    len: usize,
    end: bool,
) -> [u8; HEADER_LEN] {
    let length = u32::try_from(len).unwrap_or(u32::MAX);
    assert!(
        kind.payload().contains(&length),
        "a {} payload of {len} bytes is not allowed",
        kind.name()
    );
    assert!(!end || kind == MessageType::Data, "only DATA carries END");
    FrameHeader {
        length,
        kind,
        flags: if end { FLAG_END } else { 0 },
        request_id,
    }
    .to_bytes()
}

/// The header of a DATA frame: [`shared_header`] for DATA.
pub fn data_header(request_id: u32, len: usize, end: bool) -> [u8; HEADER_LEN] {
    debug_assert!(len > 0 && len <= MAX_DATA_PAYLOAD);
    shared_header(MessageType::Data, request_id, len, end)
}

fn truncate(message: &str) -> &str {
    if message.len() <= MAX_ERROR_MESSAGE {
        return message;
    }
    let mut end = MAX_ERROR_MESSAGE;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}
