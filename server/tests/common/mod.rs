//! Helpers for the server's socket tests: songs built by hand, an in-process server on a free
//! loopback port, and a raw protocol client built on jukebox-protocol's encoder and decoder.

#![allow(dead_code)] // each test file uses a different part of this

pub mod process;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use jukebox_protocol::{
    decode_frame, encode_frame, ErrorCode, Frame, Manifest, Message, SegmentInfo, VERSION,
};
use jukebox_segmenter::Song;
use jukebox_server::{Config, Server, Store};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest a test waits for anything before failing, so that a bug shows up as a failure rather
/// than a hung test. Never used to synchronise.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A song with the given ID whose manifest describes `segments`, with real SHA-256 hashes.
pub fn song(id: u64, segments: Vec<Bytes>) -> Song {
    let infos = segments
        .iter()
        .enumerate()
        .map(|(index, bytes)| SegmentInfo {
            index: index as u32,
            bytes: bytes.len() as u32,
            frames: 1,
            samples: 1152,
            sha256: sha256(bytes),
        })
        .collect::<Vec<_>>();
    let n = infos.len() as u64;
    Song {
        path: format!("song-{id}.mp3").into(),
        audio_hash: id << 11,
        manifest: Manifest {
            id,
            title: format!("Song {id}"),
            artist: "Tester".into(),
            album: String::new(),
            codec: "mp3".into(),
            mpeg_version: "1".into(),
            sample_rate: 44_100,
            channels: 2,
            bitrate: 128_000,
            frames: n,
            samples: n * 1152,
            duration_ms: n * 1152 * 1000 / 44_100,
            encoder_delay: 0,
            encoder_padding: 0,
            loudness_lufs: None,
            true_peak_dbtp: None,
            segments: infos,
        },
        segments,
        files: None,
    }
}

pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `len` bytes of a pattern that differs per `seed`, so misplaced bytes are noticed.
pub fn pattern(seed: u32, len: usize) -> Bytes {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

/// Song 1: segments of awkward sizes around the DATA frame limit. Song 2: three small segments.
/// Song 3: `big_segments` segments of `big_len` bytes, one shared buffer, for long transfers.
pub fn songs(big_segments: usize, big_len: usize) -> Vec<Song> {
    let big = pattern(99, big_len);
    vec![
        song(
            1,
            [1, 16_383, 16_384, 16_385, 100_000]
                .iter()
                .enumerate()
                .map(|(i, &len)| pattern(i as u32, len))
                .collect(),
        ),
        song(2, (0..3).map(|i| pattern(10 + i, 3_000)).collect()),
        song(3, vec![big; big_segments]),
    ]
}

/// Starts an in-process server on a free loopback port; it runs until the test's runtime ends.
pub async fn start(songs: Vec<Song>, config: Config) -> (SocketAddr, Arc<Store>) {
    start_store(Arc::new(Store::new(songs)), config).await
}

/// [`start`] with a store of the caller's.
pub async fn start_store(store: Arc<Store>, config: Config) -> (SocketAddr, Arc<Store>) {
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..config
    };
    let server = Server::bind(config, store.clone()).await.unwrap();
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);
    tokio::spawn(server.run());
    (addr, store)
}

/// [`start`], with connections served on a connection thread of their own, as the binary serves
/// them (`Server::run_on_threads`), instead of on the test's runtime.
pub async fn start_on_thread(songs: Vec<Song>, config: Config) -> (SocketAddr, Arc<Store>) {
    let store = Arc::new(Store::new(songs));
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..config
    };
    let server = Server::bind(config, store.clone()).await.unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.run_on_threads(1));
    (addr, store)
}

/// A server with [`songs`] and default limits.
pub async fn start_default() -> (SocketAddr, Arc<Store>) {
    start(songs(4, 1 << 20), Config::default()).await
}

/// A client speaking raw frames.
pub struct Client {
    stream: TcpStream,
    buf: BytesMut,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        Client {
            stream,
            buf: BytesMut::new(),
        }
    }

    /// Connects and completes the handshake.
    pub async fn open(addr: SocketAddr) -> Client {
        Client::handshake(Client::connect(addr).await).await
    }

    /// [`Client::open`] with a receive buffer of `bytes` (which the kernel doubles), set before
    /// connecting so that the window follows it.
    pub async fn open_with_receive_buffer(addr: SocketAddr, bytes: u32) -> Client {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(bytes).unwrap();
        let stream = socket.connect(addr).await.unwrap();
        Client::handshake(Client {
            stream,
            buf: BytesMut::new(),
        })
        .await
    }

    /// Connects from `source` (a loopback address such as 127.0.0.2, so that tests can play
    /// several sources) without a handshake.
    pub async fn connect_from(addr: SocketAddr, source: std::net::IpAddr) -> Client {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(source, 0)).unwrap();
        let stream = socket.connect(addr).await.unwrap();
        Client {
            stream,
            buf: BytesMut::new(),
        }
    }

    /// [`Client::connect_from`] and the handshake.
    pub async fn open_from(addr: SocketAddr, source: std::net::IpAddr) -> Client {
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
        jukebox_protocol::ServerInfo::from_json(&info).expect("a valid WELCOME document");
        client
    }

    pub async fn send(&mut self, request_id: u32, message: Message) {
        let mut bytes = BytesMut::new();
        encode_frame(
            &Frame {
                request_id,
                message,
            },
            &mut bytes,
        );
        self.send_raw(&bytes).await;
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next frame, or `None` at EOF (or when the server reset the connection after closing it).
    pub async fn recv(&mut self) -> Option<Frame> {
        tokio::time::timeout(PATIENCE, self.recv_inner())
            .await
            .expect("server sent nothing in time")
    }

    async fn recv_inner(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = decode_frame(&mut self.buf).expect("server sent a bad frame") {
                return Some(frame);
            }
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) => {
                    assert!(self.buf.is_empty(), "EOF in the middle of a frame");
                    return None;
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("read failed: {e}"),
            }
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
            assert!(!piece.is_empty() && piece.len() <= jukebox_protocol::MAX_DATA_PAYLOAD);
            bytes.extend_from_slice(&piece);
            if end {
                return bytes;
            }
        }
    }

    /// Reads whatever the server still sends until it closes, frames or not (a server that gives
    /// up on a client may stop in the middle of one); returns how many bytes came.
    pub async fn read_to_close(&mut self) -> usize {
        let mut total = self.buf.len();
        self.buf.clear();
        let mut chunk = vec![0; 64 << 10];
        loop {
            let read = tokio::time::timeout(PATIENCE, self.stream.read(&mut chunk))
                .await
                .expect("the server did not close in time");
            match read {
                Ok(0) => return total,
                Ok(n) => total += n,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return total,
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }

    /// Closes the sending side only; the client still reads.
    pub async fn shutdown_write(&mut self) {
        self.stream.shutdown().await.unwrap();
    }

    /// The client's socket, for looking at it.
    pub fn socket(&self) -> &TcpStream {
        &self.stream
    }

    /// Bytes received and not yet taken as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Drops the connection without reading what is waiting.
    pub fn vanish(self) {
        drop(self.stream);
    }

    /// Resets the connection (closes it with SO_LINGER 0, which sends RST), as a client that
    /// crashes or is killed behind a middlebox often looks to the server.
    pub fn reset(self) {
        socket2::SockRef::from(&self.stream)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(self.stream);
    }
}

/// The server's end of a client's connection, for a server in this process: the descriptor of this
/// process whose socket's addresses are the client's, swapped.
pub struct ServerEnd {
    pub fd: std::os::fd::RawFd,
    /// What the descriptor names ("socket:[inode]"), to tell it from a later one with its number.
    link: std::path::PathBuf,
}

impl ServerEnd {
    pub fn of(client: &Client) -> ServerEnd {
        use std::os::fd::{BorrowedFd, RawFd};
        let (local, peer) = (
            client.socket().local_addr().unwrap(),
            client.socket().peer_addr().unwrap(),
        );
        for entry in std::fs::read_dir("/proc/self/fd").unwrap() {
            let entry = entry.unwrap();
            let Ok(fd) = entry.file_name().to_string_lossy().parse::<RawFd>() else {
                continue;
            };
            // SAFETY: the descriptor is only borrowed for two system calls; if it was closed since
            // the listing, they fail, and if it was reused, the addresses tell.
            let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
            let socket = socket2::SockRef::from(&borrowed);
            if let (Ok(l), Ok(p)) = (socket.local_addr(), socket.peer_addr()) {
                if l.as_socket() == Some(peer) && p.as_socket() == Some(local) {
                    let link = std::fs::read_link(entry.path()).unwrap();
                    return ServerEnd { fd, link };
                }
            }
        }
        panic!("no socket of this process is the server's end of {local}");
    }

    /// True while the server still holds this socket open.
    pub fn is_open(&self) -> bool {
        std::fs::read_link(format!("/proc/self/fd/{}", self.fd)).is_ok_and(|l| l == self.link)
    }

    /// Waits, at most [`PATIENCE`], for the server to close its end; false if it did not. The
    /// server closes in its own time and tells no one, so this looks every few milliseconds.
    pub async fn closed_in_time(&self) -> bool {
        let give_up = tokio::time::Instant::now() + PATIENCE;
        while self.is_open() {
            if tokio::time::Instant::now() >= give_up {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }
}

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

/// Segment `index` of song `id`, as the store holds it in memory.
pub fn held(store: &Store, id: u64, index: u32) -> Bytes {
    match store.locate(id, index) {
        Ok(jukebox_server::store::Located::Memory(bytes)) => bytes.clone(),
        other => panic!("segment {index} of song {id} is not in memory: {other:?}"),
    }
}
