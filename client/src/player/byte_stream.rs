//! A blocking `Read` over segments handed over a channel: the decoder thread reads the song as one
//! byte stream while the fetcher is still pulling later segments.

use std::io::{self, Read};

use bytes::{Buf, Bytes};
use tokio::sync::mpsc::Receiver;

/// Reads the segments received on a channel, in order; end of stream when the sender is dropped.
/// The channel is bounded, so a fetcher sending into it waits while the decoder is behind.
pub struct ByteStream {
    segments: Receiver<Bytes>,
    current: Bytes,
}

impl ByteStream {
    pub fn new(segments: Receiver<Bytes>) -> ByteStream {
        ByteStream {
            segments,
            current: Bytes::new(),
        }
    }
}

impl Read for ByteStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.segments.blocking_recv() {
                Some(bytes) => self.current = bytes,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_segments_in_order_then_ends() {
        let (tx, rx) = tokio::sync::mpsc::channel(3);
        tx.try_send(Bytes::from_static(b"abc")).unwrap();
        tx.try_send(Bytes::new()).unwrap();
        tx.try_send(Bytes::from_static(b"defg")).unwrap();
        drop(tx);
        let mut out = Vec::new();
        ByteStream::new(rx).read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abcdefg");
    }
}
