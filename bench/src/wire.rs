//! The protocol as a load generator needs it: requests encoded into fixed arrays, and a reader that
//! walks incoming frames in place, skipping DATA payloads without copying or allocating, so the
//! generator spends its CPU on the server rather than on itself.

use bytes::{Bytes, BytesMut};
use jukebox_protocol::{
    encode_frame, Frame, FrameHeader, Message, MessageType, FLAG_END, HEADER_LEN, VERSION,
};

/// A request frame, encoded by the protocol crate.
pub struct Request(BytesMut);

impl Request {
    fn new(request_id: u32, message: Message) -> Request {
        let mut buf = BytesMut::with_capacity(HEADER_LEN + 12);
        encode_frame(
            &Frame {
                request_id,
                message,
            },
            &mut buf,
        );
        Request(buf)
    }

    pub fn hello() -> Request {
        Request::new(0, Message::Hello { version: VERSION })
    }

    /// A LIST with this payload (a [`jukebox_protocol::ListRequest`] as JSON, or empty).
    pub fn list(id: u32, payload: &[u8]) -> Request {
        Request::new(id, Message::List(Bytes::copy_from_slice(payload)))
    }

    pub fn get_manifest(id: u32, song: u64) -> Request {
        Request::new(id, Message::GetManifest { song })
    }

    pub fn get_segment(id: u32, song: u64, index: u32) -> Request {
        Request::new(id, Message::GetSegment { song, index })
    }

    pub fn cancel(id: u32) -> Request {
        Request::new(id, Message::Cancel)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// What the reader found in the bytes it was fed.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// Part of a DATA payload; `end` when it completes the last frame of a segment.
    Data {
        request_id: u32,
        bytes: &'a [u8],
        end: bool,
    },
    /// A whole non-DATA frame (WELCOME, PAGE, MANIFEST, ERROR, GOAWAY) with its payload.
    Control {
        kind: MessageType,
        request_id: u32,
        payload: &'a [u8],
    },
}

/// Largest non-DATA payload kept; the protocol allows 1 MiB.
const MAX_CONTROL: usize = jukebox_protocol::MAX_PAYLOAD as usize;

/// Walks a server's byte stream frame by frame. DATA payloads are handed out as slices of the
/// caller's buffer as they arrive; only control payloads (rare and small) are gathered into a buffer
/// of the reader's own.
#[derive(Default)]
pub struct FrameReader {
    header: [u8; HEADER_LEN],
    header_len: usize,
    /// The frame whose payload is being read, once its header is complete.
    current: Option<FrameHeader>,
    payload_left: usize,
    control: Vec<u8>,
}

/// The server broke the protocol.
#[derive(Debug)]
pub struct ProtocolError(pub String);

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl FrameReader {
    /// Feeds bytes read from the socket, calling `on` for every event; stops at the first error
    /// returned by `on` or found in the stream.
    pub fn feed<E: From<ProtocolError>>(
        &mut self,
        mut bytes: &[u8],
        mut on: impl FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        while !bytes.is_empty() {
            let Some(header) = self.current else {
                let take = (HEADER_LEN - self.header_len).min(bytes.len());
                self.header[self.header_len..self.header_len + take]
                    .copy_from_slice(&bytes[..take]);
                self.header_len += take;
                bytes = &bytes[take..];
                if self.header_len == HEADER_LEN {
                    self.header_len = 0;
                    let header = FrameHeader::parse(&self.header)
                        .map_err(|e| ProtocolError(format!("bad frame from server: {e}")))?;
                    if header.kind.is_request() {
                        return Err(ProtocolError(format!(
                            "server sent a {} frame",
                            header.kind.name()
                        ))
                        .into());
                    }
                    self.payload_left = header.length as usize;
                    if header.kind == MessageType::Data && self.payload_left == 0 {
                        return Err(ProtocolError("empty DATA frame".into()).into());
                    }
                    if header.kind != MessageType::Data && self.payload_left > MAX_CONTROL {
                        return Err(ProtocolError("oversize control frame".into()).into());
                    }
                    self.current = Some(header);
                    if self.payload_left == 0 {
                        self.current = None;
                        on(Event::Control {
                            kind: header.kind,
                            request_id: header.request_id,
                            payload: &[],
                        })?;
                    }
                }
                continue;
            };
            let take = self.payload_left.min(bytes.len());
            let (piece, rest) = bytes.split_at(take);
            bytes = rest;
            self.payload_left -= take;
            let done = self.payload_left == 0;
            if done {
                self.current = None;
            }
            if header.kind == MessageType::Data {
                on(Event::Data {
                    request_id: header.request_id,
                    bytes: piece,
                    end: done && header.flags & FLAG_END != 0,
                })?;
            } else {
                self.control.extend_from_slice(piece);
                if done {
                    let result = on(Event::Control {
                        kind: header.kind,
                        request_id: header.request_id,
                        payload: &self.control,
                    });
                    self.control.clear();
                    result?;
                }
            }
        }
        Ok(())
    }
}

/// The code and text of an ERROR payload, for reports.
pub fn describe_error(payload: &[u8]) -> String {
    if payload.len() < 2 {
        return "malformed ERROR".into();
    }
    let code = jukebox_protocol::ErrorCode::from_code(u16::from_be_bytes([payload[0], payload[1]]));
    format!("{code}: {}", String::from_utf8_lossy(&payload[2..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jukebox_protocol::decode_frame;

    #[test]
    fn requests_decode_as_the_protocol_crate_reads_them() {
        let cases = [
            (Request::hello(), 0, Message::Hello { version: VERSION }),
            (Request::list(3, b""), 3, Message::List(Bytes::new())),
            (
                Request::get_manifest(4, 9),
                4,
                Message::GetManifest { song: 9 },
            ),
            (
                Request::get_segment(5, 2, 7),
                5,
                Message::GetSegment { song: 2, index: 7 },
            ),
            (Request::cancel(6), 6, Message::Cancel),
        ];
        for (request, id, message) in cases {
            let mut buf = BytesMut::from(request.as_bytes());
            let frame = decode_frame(&mut buf).unwrap().unwrap();
            assert_eq!(
                frame,
                Frame {
                    request_id: id,
                    message
                }
            );
            assert!(buf.is_empty());
        }
    }

    /// Collected events, with DATA pieces of one frame joined.
    fn events(wire: &[u8], split: usize) -> Vec<(u32, Vec<u8>, bool, bool)> {
        let mut reader = FrameReader::default();
        let mut out: Vec<(u32, Vec<u8>, bool, bool)> = Vec::new();
        for chunk in wire.chunks(split) {
            reader
                .feed::<ProtocolError>(chunk, |event| {
                    match event {
                        Event::Data {
                            request_id,
                            bytes,
                            end,
                        } => match out.last_mut() {
                            Some(last) if last.3 && last.0 == request_id && !last.2 => {
                                last.1.extend_from_slice(bytes);
                                last.2 = end;
                            }
                            _ => out.push((request_id, bytes.to_vec(), end, true)),
                        },
                        Event::Control {
                            request_id,
                            payload,
                            ..
                        } => out.push((request_id, payload.to_vec(), false, false)),
                    }
                    Ok(())
                })
                .unwrap();
        }
        out
    }

    #[test]
    fn frames_are_found_however_the_bytes_are_split() {
        let frames = [
            Frame {
                request_id: 0,
                message: Message::Welcome {
                    version: VERSION,
                    info: Bytes::from_static(b"{}"),
                },
            },
            Frame {
                request_id: 7,
                message: Message::Data {
                    end: true,
                    bytes: Bytes::from_static(b"hello segment"),
                },
            },
            Frame {
                request_id: 8,
                message: Message::Manifest(Bytes::from_static(b"{}")),
            },
        ];
        let mut wire = BytesMut::new();
        for frame in &frames {
            encode_frame(frame, &mut wire);
        }
        for split in [1, 2, 5, 12, 13, 100] {
            let got = events(&wire, split);
            assert_eq!(got.len(), 3, "split {split}: {got:?}");
            assert_eq!(got[1], (7, b"hello segment".to_vec(), true, true));
            assert_eq!(got[2], (8, b"{}".to_vec(), false, false));
        }
    }

    #[test]
    fn a_request_type_from_the_server_is_an_error() {
        let mut reader = FrameReader::default();
        let result = reader.feed::<ProtocolError>(Request::list(1, b"").as_bytes(), |_| Ok(()));
        assert!(result.is_err());
    }
}
