//! A blocking `Read` over segments handed over a channel: the decoder thread reads the song as one
//! byte stream while the fetcher is still pulling later segments.

use std::io::{self, Read};
use std::sync::mpsc::Receiver;
use std::sync::Mutex;

use bytes::{Buf, Bytes};

/// Reads the segments received on a channel, in order; end of stream when the sender is dropped.
pub struct ByteStream {
    /// Behind a lock only because symphonia wants a `Sync` source; one thread reads it.
    segments: Mutex<Receiver<Bytes>>,
    current: Bytes,
}

impl ByteStream {
    pub fn new(segments: Receiver<Bytes>) -> ByteStream {
        ByteStream {
            segments: Mutex::new(segments),
            current: Bytes::new(),
        }
    }
}

impl Read for ByteStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            let segments = self.segments.get_mut().unwrap_or_else(|e| e.into_inner());
            match segments.recv() {
                Ok(bytes) => self.current = bytes,
                Err(_) => return Ok(0),
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
        let (tx, rx) = std::sync::mpsc::channel();
        tx.send(Bytes::from_static(b"abc")).unwrap();
        tx.send(Bytes::new()).unwrap();
        tx.send(Bytes::from_static(b"defg")).unwrap();
        drop(tx);
        let mut out = Vec::new();
        ByteStream::new(rx).read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abcdefg");
    }
}
