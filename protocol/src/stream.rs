//! Decoding a byte stream without buffering DATA: for a receiver that consumes segment bytes as they
//! arrive (a load generator, a proxy) and should not copy them into a frame first.
//!
//! [`StreamDecoder`] reads the same bytes as [`crate::decode_frame`] and checks them with the same
//! code (the header with [`FrameHeader::parse`], every other payload with the codec's payload
//! decoder), so the two cannot disagree about what is valid. The difference is only in what they
//! hand out: `decode_frame` waits for a whole frame and returns it; the stream decoder returns each
//! DATA payload in pieces, as slices of the input it was given, as soon as they arrive, and gathers
//! only the payloads of the other types (at most [`crate::MAX_PAYLOAD`] bytes, one frame at a time).

use bytes::BytesMut;

use crate::codec::{decode_payload, DecodeError};
use crate::frame::{FrameHeader, MessageType, FLAG_END, HEADER_LEN};
use crate::message::Frame;

/// What [`StreamDecoder::next`] found in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    /// The next bytes of a DATA payload, a slice of the input. A frame's payload may come in several
    /// pieces; `end` is set on the piece that completes a DATA frame carrying the END flag (the last
    /// bytes of a segment).
    Data {
        request_id: u32,
        bytes: &'a [u8],
        end: bool,
    },
    /// A whole frame of any type but DATA, decoded and checked.
    Frame(Frame),
}

/// Takes frames off a byte stream fed in arbitrary chunks. After an error the stream's framing is
/// lost and the decoder must not be used again (the connection ends, as after any decode error).
#[derive(Debug, Default)]
pub struct StreamDecoder {
    header: [u8; HEADER_LEN],
    /// Header bytes gathered so far, while no frame is under way.
    header_len: usize,
    /// The frame whose payload is being read, and how many of its payload bytes are still to come.
    current: Option<(FrameHeader, usize)>,
    /// The payload gathered so far of a frame other than DATA.
    payload: BytesMut,
}

impl StreamDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next piece in `input`, advancing `input` past the bytes it used; `Ok(None)` once all of
    /// `input` has been used and more bytes are needed. A header is checked as soon as its 12 bytes
    /// are there, before any of its payload is read.
    pub fn next<'a>(&mut self, input: &mut &'a [u8]) -> Result<Option<Piece<'a>>, DecodeError> {
        loop {
            let Some((header, left)) = self.current else {
                let header = match input.first_chunk::<HEADER_LEN>() {
                    // The usual case: the whole header is in this input.
                    Some(bytes) if self.header_len == 0 => {
                        let header = FrameHeader::parse(bytes)?;
                        *input = &input[HEADER_LEN..];
                        header
                    }
                    _ => {
                        if input.is_empty() {
                            return Ok(None);
                        }
                        let take = (HEADER_LEN - self.header_len).min(input.len());
                        self.header[self.header_len..self.header_len + take]
                            .copy_from_slice(&input[..take]);
                        self.header_len += take;
                        *input = &input[take..];
                        if self.header_len < HEADER_LEN {
                            return Ok(None);
                        }
                        self.header_len = 0;
                        FrameHeader::parse(&self.header)?
                    }
                };
                self.current = Some((header, header.length as usize));
                if header.kind != MessageType::Data {
                    self.payload.reserve(header.length as usize);
                }
                continue;
            };
            if header.kind == MessageType::Data {
                // The message table gives DATA at least one byte, so `left` is never 0 here.
                if input.is_empty() {
                    return Ok(None);
                }
                let (bytes, rest) = input.split_at(left.min(input.len()));
                *input = rest;
                let left = left - bytes.len();
                self.current = (left > 0).then_some((header, left));
                return Ok(Some(Piece::Data {
                    request_id: header.request_id,
                    bytes,
                    end: left == 0 && header.flags & FLAG_END != 0,
                }));
            }
            if left > 0 {
                if input.is_empty() {
                    return Ok(None);
                }
                let (bytes, rest) = input.split_at(left.min(input.len()));
                *input = rest;
                self.payload.extend_from_slice(bytes);
                self.current = Some((header, left - bytes.len()));
                continue;
            }
            self.current = None;
            let message = decode_payload(&header, self.payload.split().freeze())?;
            return Ok(Some(Piece::Frame(Frame {
                request_id: header.request_id,
                message,
            })));
        }
    }
}
