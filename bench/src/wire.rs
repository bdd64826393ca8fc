//! The requests a load generator sends, each encoded once by the protocol crate. Incoming frames are
//! read with the protocol crate's [`jukebox_protocol::StreamDecoder`], which hands DATA payloads out
//! in place without copying or allocating, so the generator spends its CPU on the server rather than
//! on itself.

use bytes::{Bytes, BytesMut};
use jukebox_protocol::{encode_frame, Frame, Message, HEADER_LEN, VERSION};

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
}
