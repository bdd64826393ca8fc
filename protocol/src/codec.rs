//! Encoding messages to bytes and decoding them, incrementally, from a byte stream.
//!
//! The decoder never reads past what it was given and never allocates more than one frame: it looks
//! at the header as soon as 12 bytes are there, rejects an oversize or unknown frame at once, and
//! otherwise waits until the whole payload has arrived.

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
    #[error("malformed frame: {0}")]
    Malformed(&'static str),
}

impl DecodeError {
    /// The error code a receiver reports for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::TooLarge { .. } => ErrorCode::FrameTooLarge,
            DecodeError::UnknownType { .. } => ErrorCode::UnknownType,
            DecodeError::Malformed(_) => ErrorCode::MalformedFrame,
        }
    }
}

/// Takes one whole frame off the front of `buf`, if one is there.
///
/// Returns `Ok(None)` when more bytes are needed (and reserves room for them), and an error as soon as
/// the bytes at hand cannot start a valid frame.
pub fn decode_frame(buf: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
    let Some(header) = buf.first_chunk::<HEADER_LEN>() else {
        return Ok(None);
    };
    let header = FrameHeader::parse(header)?;
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

fn decode_payload(header: &FrameHeader, mut payload: Bytes) -> Result<Message, DecodeError> {
    let fixed = |len: usize| {
        if payload.len() == len {
            Ok(())
        } else {
            Err(DecodeError::Malformed(
                "payload length does not match the message type",
            ))
        }
    };
    Ok(match header.kind {
        MessageType::Hello | MessageType::Welcome => {
            fixed(6)?;
            if payload[..4] != MAGIC {
                return Err(DecodeError::Malformed("bad magic"));
            }
            let version = u16::from_be_bytes([payload[4], payload[5]]);
            if header.kind == MessageType::Hello {
                Message::Hello { version }
            } else {
                Message::Welcome { version }
            }
        }
        MessageType::List => {
            fixed(0)?;
            Message::List
        }
        MessageType::Cancel => {
            fixed(0)?;
            Message::Cancel
        }
        MessageType::Catalog => Message::Catalog(json(payload)?),
        MessageType::Manifest => Message::Manifest(json(payload)?),
        MessageType::GetManifest => {
            fixed(4)?;
            Message::GetManifest {
                song: payload.get_u32(),
            }
        }
        MessageType::GetSegment => {
            fixed(8)?;
            Message::GetSegment {
                song: payload.get_u32(),
                index: payload.get_u32(),
            }
        }
        MessageType::Data => {
            if payload.is_empty() || payload.len() > MAX_DATA_PAYLOAD {
                return Err(DecodeError::Malformed(
                    "DATA payload must hold 1 to 16384 bytes",
                ));
            }
            Message::Data {
                end: header.flags & FLAG_END != 0,
                bytes: payload,
            }
        }
        MessageType::Error => {
            if payload.len() < 2 || payload.len() > 2 + MAX_ERROR_MESSAGE {
                return Err(DecodeError::Malformed("ERROR payload length out of range"));
            }
            let code = ErrorCode::from_code(payload.get_u16())
                .ok_or(DecodeError::Malformed("unknown error code"))?;
            let message = String::from_utf8(payload.to_vec())
                .map_err(|_| DecodeError::Malformed("ERROR message is not UTF-8"))?;
            Message::Error { code, message }
        }
    })
}

/// JSON payloads must at least be non-empty UTF-8; their schema is checked where they are parsed.
fn json(payload: Bytes) -> Result<Bytes, DecodeError> {
    if payload.is_empty() || std::str::from_utf8(&payload).is_err() {
        return Err(DecodeError::Malformed("JSON payload is empty or not UTF-8"));
    }
    Ok(payload)
}

/// Appends the encoding of `frame` to `buf`.
///
/// # Panics
/// If the message breaks a size limit that the sender controls (a DATA payload that is empty or over
/// [`MAX_DATA_PAYLOAD`], a JSON document over [`crate::MAX_PAYLOAD`]): those are bugs in the sender,
/// not input from a peer. ERROR messages longer than [`MAX_ERROR_MESSAGE`] are cut at a character
/// boundary instead, since they often quote outside input.
pub fn encode_frame(frame: &Frame, buf: &mut BytesMut) {
    let message = &frame.message;
    let mut flags = 0;
    let length = match message {
        Message::Hello { .. } | Message::Welcome { .. } => 6,
        Message::List | Message::Cancel => 0,
        Message::GetManifest { .. } => 4,
        Message::GetSegment { .. } => 8,
        Message::Catalog(json) | Message::Manifest(json) => {
            assert!(!json.is_empty() && json.len() <= crate::MAX_PAYLOAD as usize);
            json.len()
        }
        Message::Data { end, bytes } => {
            assert!(!bytes.is_empty() && bytes.len() <= MAX_DATA_PAYLOAD);
            if *end {
                flags = FLAG_END;
            }
            bytes.len()
        }
        Message::Error { message, .. } => 2 + truncate(message).len(),
    };
    let header = FrameHeader {
        length: length as u32,
        kind: message.kind(),
        flags,
        request_id: frame.request_id,
    };
    buf.reserve(HEADER_LEN + length);
    buf.put_slice(&header.to_bytes());
    match message {
        Message::Hello { version } | Message::Welcome { version } => {
            buf.put_slice(&MAGIC);
            buf.put_u16(*version);
        }
        Message::List | Message::Cancel => {}
        Message::GetManifest { song } => buf.put_u32(*song),
        Message::GetSegment { song, index } => {
            buf.put_u32(*song);
            buf.put_u32(*index);
        }
        Message::Catalog(bytes) | Message::Manifest(bytes) | Message::Data { bytes, .. } => {
            buf.put_slice(bytes)
        }
        Message::Error { code, message } => {
            buf.put_u16(code.code());
            buf.put_slice(truncate(message).as_bytes());
        }
    }
}

/// The header of a DATA frame, for senders that write the payload straight from a shared buffer
/// instead of copying it into the frame.
pub fn data_header(request_id: u32, len: usize, end: bool) -> [u8; HEADER_LEN] {
    debug_assert!(len > 0 && len <= MAX_DATA_PAYLOAD);
    FrameHeader {
        length: len as u32,
        kind: MessageType::Data,
        flags: if end { FLAG_END } else { 0 },
        request_id,
    }
    .to_bytes()
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
