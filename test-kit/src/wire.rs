//! Raw protocol peers on loopback, speaking frames through jukebox-protocol's encoder and decoder:
//! [`Client`], to drive a server through exact frame sequences, and [`Peer`], a scripted server to
//! drive a client (a real server never sends stale frames on cue).

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use jukebox_protocol::{
    decode_frame, encode_frame, ErrorCode, Frame, Message, ServerInfo, MAX_DATA_PAYLOAD, VERSION,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::{within, PATIENCE};

/// One frame's bytes.
fn encode(request_id: u32, message: Message) -> BytesMut {
    let mut bytes = BytesMut::new();
    encode_frame(
        &Frame {
            request_id,
            message,
        },
        &mut bytes,
    );
    bytes
}

/// A TCP connection read as frames.
struct Framed {
    stream: TcpStream,
    buf: BytesMut,
}

impl Framed {
    fn new(stream: TcpStream) -> Framed {
        Framed {
            stream,
            buf: BytesMut::new(),
        }
    }

    /// Writes `bytes`, waiting as long as the peer takes to make room for them.
    async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next frame, `Ok(None)` at EOF; fails the test on a frame the codec refuses, or after
    /// [`PATIENCE`].
    async fn recv(&mut self) -> std::io::Result<Option<Frame>> {
        within(async {
            loop {
                if let Some(frame) = decode_frame(&mut self.buf).expect("the peer sent a bad frame")
                {
                    return Ok(Some(frame));
                }
                if self.stream.read_buf(&mut self.buf).await? == 0 {
                    return Ok(None);
                }
            }
        })
        .await
    }
}

/// A client speaking raw frames to a server.
pub struct Client {
    conn: Framed,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        Client {
            conn: Framed::new(stream),
        }
    }

    /// Connects and completes the handshake.
    pub async fn open(addr: SocketAddr) -> Client {
        Client::handshake(Client::connect(addr).await).await
    }

    /// [`Client::open`] with a receive buffer of `bytes` (which the kernel doubles), set before
    /// connecting so that the window follows it.
    pub async fn open_with_receive_buffer(addr: SocketAddr, bytes: u32) -> Client {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(bytes).unwrap();
        let stream = socket.connect(addr).await.unwrap();
        Client::handshake(Client {
            conn: Framed::new(stream),
        })
        .await
    }

    /// Connects from `source` (a loopback address such as 127.0.0.2, so that tests can play
    /// several sources) without a handshake.
    pub async fn connect_from(addr: SocketAddr, source: IpAddr) -> Client {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(source, 0)).unwrap();
        let stream = socket.connect(addr).await.unwrap();
        Client {
            conn: Framed::new(stream),
        }
    }

    /// [`Client::connect_from`] and the handshake.
    pub async fn open_from(addr: SocketAddr, source: IpAddr) -> Client {
        Client::handshake(Client::connect_from(addr, source).await).await
    }

    /// The HELLO, and its answer: WELCOME (`Ok`) or the fatal ERROR's code.
    pub async fn hello(&mut self) -> Result<(), ErrorCode> {
        self.send(0, Message::Hello { version: VERSION }).await;
        match self
            .recv()
            .await
            .expect("EOF instead of an answer to HELLO")
        {
            Frame {
                request_id: 0,
                message: Message::Welcome { .. },
            } => Ok(()),
            Frame {
                request_id: 0,
                message: Message::Error { code, .. },
            } => Err(code),
            other => panic!("unexpected answer to HELLO: {other:?}"),
        }
    }

    async fn handshake(mut client: Client) -> Client {
        client.send(0, Message::Hello { version: VERSION }).await;
        let welcome = client.recv().await.expect("EOF instead of WELCOME");
        let Frame {
            request_id: 0,
            message: Message::Welcome { version, info },
        } = welcome
        else {
            panic!("expected WELCOME, got {welcome:?}");
        };
        assert_eq!(version, VERSION);
        ServerInfo::from_json(&info).expect("a valid WELCOME document");
        client
    }

    pub async fn send(&mut self, request_id: u32, message: Message) {
        self.send_raw(&encode(request_id, message)).await;
    }

    /// Writes `bytes` as they are. Unbounded: a test of a server that stops reading may wait on
    /// its timers, which a timeout here (on a paused clock) would overtake.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.conn.send_raw(bytes).await;
    }

    /// The next frame, or `None` at EOF (or when the server reset the connection after closing it).
    pub async fn recv(&mut self) -> Option<Frame> {
        match self.conn.recv().await {
            Ok(Some(frame)) => Some(frame),
            Ok(None) => {
                assert!(self.conn.buf.is_empty(), "EOF in the middle of a frame");
                None
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => None,
            Err(e) => panic!("read failed: {e}"),
        }
    }

    /// Expects an ERROR with this request ID and code.
    pub async fn expect_error(&mut self, request_id: u32, code: ErrorCode) {
        let frame = self.recv().await.expect("EOF instead of ERROR");
        assert_error(&frame, request_id, code);
    }

    /// Expects a fatal ERROR (request ID 0) followed by EOF.
    pub async fn expect_fatal(&mut self, code: ErrorCode) {
        self.expect_error(0, code).await;
        assert_eq!(
            self.recv().await,
            None,
            "the server did not close after a fatal error"
        );
    }

    /// Requests a segment and collects its DATA frames, checking the frame rules on the way.
    pub async fn fetch(&mut self, request_id: u32, song: u64, index: u32) -> Vec<u8> {
        self.send(request_id, Message::GetSegment { song, index })
            .await;
        self.collect(request_id).await
    }

    /// Collects the DATA frames of one request up to END; any other frame fails the test.
    pub async fn collect(&mut self, request_id: u32) -> Vec<u8> {
        let mut bytes = Vec::new();
        loop {
            let frame = self.recv().await.expect("EOF in the middle of a segment");
            assert_eq!(frame.request_id, request_id, "unexpected frame {frame:?}");
            let Message::Data { end, bytes: piece } = frame.message else {
                panic!("expected DATA, got {:?}", frame.message);
            };
            assert!(!piece.is_empty() && piece.len() <= MAX_DATA_PAYLOAD);
            bytes.extend_from_slice(&piece);
            if end {
                return bytes;
            }
        }
    }

    /// Reads whatever the server still sends until it closes, frames or not (a server that gives
    /// up on a client may stop in the middle of one); returns how many bytes came.
    pub async fn read_to_close(&mut self) -> usize {
        let mut total = self.conn.buf.len();
        self.conn.buf.clear();
        let mut chunk = vec![0; 64 << 10];
        loop {
            let read = tokio::time::timeout(PATIENCE, self.conn.stream.read(&mut chunk))
                .await
                .expect("the server did not close in time");
            match read {
                Ok(0) => return total,
                Ok(n) => total += n,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return total,
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }

    /// Closes the sending side only; the client still reads.
    pub async fn shutdown_write(&mut self) {
        self.conn.stream.shutdown().await.unwrap();
    }

    /// The client's socket, for looking at it.
    pub fn socket(&self) -> &TcpStream {
        &self.conn.stream
    }

    /// Bytes received and not yet taken as frames.
    pub fn buffered(&self) -> usize {
        self.conn.buf.len()
    }

    /// Drops the connection without reading what is waiting.
    pub fn vanish(self) {
        drop(self.conn);
    }

    /// Resets the connection (closes it with SO_LINGER 0, which sends RST), as a client that
    /// crashes or is killed behind a middlebox often looks to the server.
    pub fn reset(self) {
        socket2::SockRef::from(&self.conn.stream)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(self.conn);
    }
}

/// Fails the test unless `frame` is an ERROR with this request ID and code.
pub fn assert_error(frame: &Frame, request_id: u32, code: ErrorCode) {
    match &frame.message {
        Message::Error { code: got, .. } => {
            assert_eq!((frame.request_id, *got), (request_id, code), "{frame:?}")
        }
        other => panic!(
            "expected ERROR {code}, got {other:?} for request {}",
            frame.request_id
        ),
    }
}

/// Binds a listener on 127.0.0.1 for a [`Peer`]; returns it and its address as HOST:PORT.
pub async fn listen() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    (listener, addr)
}

/// A scripted server's end of one connection from a client.
pub struct Peer {
    conn: Framed,
}

impl Peer {
    /// Accepts one connection without answering anything.
    pub async fn accept_raw(listener: &TcpListener) -> Peer {
        let (stream, _) = within(listener.accept()).await.unwrap();
        Peer {
            conn: Framed::new(stream),
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
        let info = ServerInfo {
            server: "fake".into(),
            catalog: catalog.to_string(),
            songs: 1,
            max_page: 100,
        };
        let welcome = Message::Welcome {
            version: VERSION,
            info: Bytes::from(info.to_json()),
        };
        peer.send(0, welcome).await;
        peer
    }

    /// The next frame from the client; `None` when it closed the connection (or it broke). Like
    /// every wait of the peer, fails the test after [`PATIENCE`].
    pub async fn recv(&mut self) -> Option<Frame> {
        self.conn.recv().await.ok().flatten()
    }

    pub async fn send(&mut self, request_id: u32, message: Message) {
        self.send_raw(&encode(request_id, message)).await;
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
        within(self.conn.send_raw(bytes)).await;
    }
}
