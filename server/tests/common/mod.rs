//! Helpers for the server's socket tests: test songs, an in-process server on a free loopback
//! port, the server's end of a connection. The raw protocol client, songs built by hand and
//! processes come from the workspace's test kit.

#![allow(dead_code)] // each test file uses a different part of this

pub mod process;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use jukebox_protocol::{ListRequest, Manifest, Message, Page, SongSummary};
use jukebox_segmenter::Song;
use jukebox_server::{Config, Server, Store};
use jukebox_test_kit::wire::Client;
use jukebox_test_kit::{sha256, song, PATIENCE};

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

/// Segment `index` of song `id`, as the store holds it in memory.
pub fn held(store: &Store, id: u64, index: u32) -> Bytes {
    match store.locate(id, index) {
        Ok(jukebox_server::store::Located::Memory(bytes)) => bytes.clone(),
        other => panic!("segment {index} of song {id} is not in memory: {other:?}"),
    }
}

/// What a server serves, as raw payloads: the PAGE of LIST, then every song's MANIFEST and every
/// segment, each segment checked against its manifest's hash. `client` has had its WELCOME.
pub async fn everything(client: &mut Client) -> (Vec<u8>, Vec<Vec<u8>>, Vec<Vec<u8>>) {
    client.send(1, Message::list_all()).await;
    let Message::Page(page_json) = client.recv().await.unwrap().message else {
        panic!("expected PAGE");
    };
    let page = Page::from_json(&page_json).unwrap();
    let (mut manifests, mut segments) = (Vec::new(), Vec::new());
    let mut id = 1;
    for song in &page.songs {
        id += 1;
        client
            .send(id, Message::GetManifest { song: song.id })
            .await;
        let Message::Manifest(json) = client.recv().await.unwrap().message else {
            panic!("expected MANIFEST");
        };
        let manifest = Manifest::from_json(&json).unwrap();
        manifests.push(json.to_vec());
        for info in &manifest.segments {
            id += 1;
            let bytes = client.fetch(id, song.id, info.index).await;
            assert_eq!(sha256(&bytes), info.sha256);
            segments.push(bytes);
        }
    }
    (page_json.to_vec(), manifests, segments)
}

/// Every page of a LIST with `query`, `limit` songs a page (request IDs from 1001), checking that
/// each page answers its request, holds at most `limit` songs and gives the same total, and that
/// the total is what was listed; returns the songs in order.
pub async fn list_all(client: &mut Client, query: &str, limit: u32) -> Vec<SongSummary> {
    let mut request = ListRequest {
        query: query.into(),
        cursor: None,
        limit: Some(limit),
    };
    let (mut songs, mut total, mut id) = (Vec::new(), None, 1000);
    loop {
        id += 1;
        client
            .send(id, Message::List(request.to_json().into()))
            .await;
        let frame = client.recv().await.unwrap();
        assert_eq!(frame.request_id, id);
        let Message::Page(json) = frame.message else {
            panic!("expected PAGE, got {frame:?}");
        };
        let page = Page::from_json(&json).unwrap();
        assert!(page.songs.len() <= limit as usize);
        assert_eq!(
            *total.get_or_insert(page.total),
            page.total,
            "the total changed"
        );
        songs.extend(page.songs);
        match page.next {
            Some(next) => request.cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(total, Some(songs.len() as u64));
    songs
}
