//! A scripted peer on 127.0.0.1 that speaks the wire format, to drive the client through exact
//! frame sequences (a real server never sends stale frames on cue).

use bytes::{Bytes, BytesMut};
use jukebox_protocol::{decode_frame, encode_frame, Frame, Message, MAX_DATA_PAYLOAD, VERSION};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::within;

pub struct Peer {
    stream: TcpStream,
    buf: BytesMut,
}

/// Binds a listener; returns it and its address as HOST:PORT.
pub async fn listen() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    (listener, addr)
}

impl Peer {
    /// Accepts one connection without answering anything.
    pub async fn accept_raw(listener: &TcpListener) -> Peer {
        let (stream, _) = within(listener.accept()).await.unwrap();
        Peer {
            stream,
            buf: BytesMut::new(),
        }
    }

    /// Accepts one connection and completes the handshake.
    pub async fn accept(listener: &TcpListener) -> Peer {
        Peer::accept_serving(listener, &"0".repeat(64)).await
    }

    /// Accepts one connection and completes the handshake, naming `catalog` (64 hex digits) in
    /// the WELCOME.
    pub async fn accept_serving(listener: &TcpListener, catalog: &str) -> Peer {
        let mut peer = Peer::accept_raw(listener).await;
        let hello = peer.recv().await.expect("a HELLO");
        assert_eq!(hello.request_id, 0);
        assert_eq!(hello.message, Message::Hello { version: VERSION });
        peer.send(
            0,
            Message::Welcome {
                version: VERSION,
                info: bytes::Bytes::from(
                    jukebox_protocol::ServerInfo {
                        server: "fake".into(),
                        catalog: catalog.to_string(),
                        songs: 1,
                        max_page: 100,
                    }
                    .to_json(),
                ),
            },
        )
        .await;
        peer
    }

    /// The next frame from the client; `None` when it closed the connection. Like every wait of
    /// the peer, fails the test after [`super::PATIENCE`].
    pub async fn recv(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = decode_frame(&mut self.buf).expect("the client sends valid frames")
            {
                return Some(frame);
            }
            if within(self.stream.read_buf(&mut self.buf))
                .await
                .unwrap_or(0)
                == 0
            {
                return None;
            }
        }
    }

    pub async fn send(&mut self, request_id: u32, message: Message) {
        let mut out = BytesMut::new();
        encode_frame(
            &Frame {
                request_id,
                message,
            },
            &mut out,
        );
        self.send_raw(&out).await;
    }

    /// Sends a segment as a real server does: DATA frames of at most 16 KiB, the last with END.
    pub async fn send_segment(&mut self, request_id: u32, segment: &Bytes) {
        let chunks: Vec<_> = segment.chunks(MAX_DATA_PAYLOAD).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let data = Message::Data {
                end: i + 1 == chunks.len(),
                bytes: segment.slice_ref(chunk),
            };
            self.send(request_id, data).await;
        }
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        within(self.stream.write_all(bytes)).await.unwrap();
    }
}
