//! One frame on its way out: a 12-byte header and a payload that is a slice of a shared buffer, so a
//! segment or the catalog goes from the store to the socket without being copied per client.

use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};
use jukebox_protocol::{encode_frame, Frame, FrameHeader, HEADER_LEN};

/// A frame to write, as a [`Buf`] whose two chunks (header, payload) go out in one vectored write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutFrame {
    header: [u8; HEADER_LEN],
    /// Header bytes already written.
    written: usize,
    payload: Bytes,
}

impl OutFrame {
    /// A frame made of a prepared header and a shared payload.
    pub fn new(header: [u8; HEADER_LEN], payload: Bytes) -> Self {
        OutFrame {
            header,
            written: 0,
            payload,
        }
    }

    /// Encodes a small message (WELCOME, ERROR) the ordinary way.
    pub fn encode(frame: &Frame) -> Self {
        let mut buf = BytesMut::new();
        encode_frame(frame, &mut buf);
        let payload = buf.split_off(HEADER_LEN).freeze();
        let header = buf[..]
            .try_into()
            .expect("an encoded frame starts with a whole header");
        OutFrame::new(header, payload)
    }

    /// The frame's payload.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// True for a DATA frame that is not the last of its segment: unless the transfer is
    /// cancelled, another DATA frame follows at once.
    pub fn continues_segment(&self) -> bool {
        // The header was built by the protocol crate, so it parses; asking the crate keeps the
        // header's layout in one place.
        FrameHeader::parse(&self.header).is_ok_and(|header| header.continues_segment())
    }
}

impl Buf for OutFrame {
    fn remaining(&self) -> usize {
        HEADER_LEN - self.written + self.payload.len()
    }

    fn chunk(&self) -> &[u8] {
        if self.written < HEADER_LEN {
            &self.header[self.written..]
        } else {
            &self.payload
        }
    }

    fn advance(&mut self, mut cnt: usize) {
        let from_header = cnt.min(HEADER_LEN - self.written);
        self.written += from_header;
        cnt -= from_header;
        self.payload.advance(cnt);
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for chunk in [&self.header[self.written..], &self.payload[..]] {
            if n == dst.len() {
                break;
            }
            if !chunk.is_empty() {
                dst[n] = IoSlice::new(chunk);
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jukebox_protocol::{decode_frame, Message};

    #[test]
    fn encoded_frame_round_trips_through_the_decoder() {
        let frame = Frame {
            request_id: 0,
            message: Message::Welcome {
                version: 2,
                info: Bytes::from_static(b"{}"),
            },
        };
        let mut out = OutFrame::encode(&frame);
        let mut wire = BytesMut::new();
        while out.has_remaining() {
            let chunk = out.chunk().to_vec();
            // Take the bytes a few at a time, as a socket might.
            let n = chunk.len().min(5);
            wire.extend_from_slice(&chunk[..n]);
            out.advance(n);
        }
        assert_eq!(decode_frame(&mut wire).unwrap(), Some(frame));
        assert!(wire.is_empty());
    }

    #[test]
    fn only_data_before_the_end_continues_a_segment() {
        let data = |end| {
            OutFrame::new(
                jukebox_protocol::codec::data_header(1, 3, end),
                Bytes::from_static(b"abc"),
            )
        };
        assert!(data(false).continues_segment());
        assert!(!data(true).continues_segment());
        let welcome = OutFrame::encode(&Frame {
            request_id: 0,
            message: Message::Welcome {
                version: 2,
                info: Bytes::from_static(b"{}"),
            },
        });
        assert!(!welcome.continues_segment());
    }

    #[test]
    fn vectored_chunks_skip_what_was_written() {
        fn chunks(out: &OutFrame) -> Vec<Vec<u8>> {
            let mut slices = [IoSlice::new(&[]); 4];
            let n = out.chunks_vectored(&mut slices);
            slices[..n].iter().map(|s| s.to_vec()).collect()
        }
        let mut out = OutFrame::new([9; HEADER_LEN], Bytes::from_static(b"abc"));
        assert_eq!(chunks(&out), [vec![9; HEADER_LEN], b"abc".to_vec()]);
        assert_eq!(out.remaining(), HEADER_LEN + 3);
        out.advance(HEADER_LEN + 1);
        assert_eq!(chunks(&out), [b"bc".to_vec()]);
        out.advance(2);
        assert_eq!(out.remaining(), 0);
        assert!(chunks(&out).is_empty());
    }
}
