//! A player's link ([`jukebox_bench::link::Link`]) against a scripted peer, one script per
//! connection in the order they are opened: what it does on GOAWAY (before a request, inside a
//! transfer), on a connection lost inside a transfer, on a busy or refused reconnect, and when the
//! new connection serves another catalog. Every wait is for an event, bounded by [`PATIENCE`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use jukebox_bench::link::Link;
use jukebox_bench::load::Dial;
use jukebox_protocol::{
    decode_frame, encode_frame, ErrorCode, Frame, Manifest, Message, SegmentInfo, ServerInfo,
};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};

/// Longest any step may take before the test fails; never used to synchronise.
const PATIENCE: Duration = Duration::from_secs(30);

const CATALOG_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const CATALOG_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const SONG: u64 = 7;
/// Each segment: three DATA frames of this many bytes.
const PIECE: usize = 1000;

fn segment_bytes() -> Vec<u8> {
    (0..3 * PIECE).map(|i| (i % 251) as u8).collect()
}

fn manifest(title: &str) -> Manifest {
    let bytes = segment_bytes();
    let sha256: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let segments: Vec<SegmentInfo> = (0..2)
        .map(|index| SegmentInfo {
            index,
            bytes: bytes.len() as u32,
            frames: 1,
            samples: 1152,
            sha256: sha256.clone(),
        })
        .collect();
    Manifest {
        id: SONG,
        title: title.into(),
        artist: String::new(),
        album: String::new(),
        codec: "mp3".into(),
        mpeg_version: "1".into(),
        sample_rate: 44_100,
        channels: 2,
        bitrate: 128_000,
        frames: 2,
        samples: 2304,
        duration_ms: 52,
        encoder_delay: 0,
        encoder_padding: 0,
        loudness_lufs: None,
        true_peak_dbtp: None,
        segments,
    }
}

/// What the peer does on one connection.
#[derive(Clone, Copy)]
enum Script {
    /// WELCOME (of this catalog), then answers every request.
    Serve(&'static str),
    /// WELCOME and at once GOAWAY; then answers what it is asked.
    GoAwayAtOnce,
    /// Answers, sending GOAWAY between the first and second DATA frame of a segment.
    GoAwayInSegment,
    /// Answers manifests; closes after the first DATA frame of a segment.
    CloseInSegment,
    /// ERROR SERVER_BUSY (request ID 0) instead of WELCOME, then closes.
    Busy,
    /// Closes without answering HELLO (a balancer with no replica up).
    Refuse,
}

/// What a connection saw: its number, then the requests it was sent, and whether the client
/// closed it.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Request(usize, Message),
    ClosedByClient(usize),
}

/// A peer on a free loopback port playing `scripts[k]` on its k-th connection (the last one on
/// every later connection); what each connection sees goes to the returned channel.
async fn peer(scripts: Vec<Script>) -> (SocketAddr, mpsc::UnboundedReceiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (seen, events) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        for k in 0.. {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let script = scripts[k.min(scripts.len() - 1)];
            tokio::spawn(connection(stream, k, script, seen.clone()));
        }
    });
    (addr, events)
}

fn frame(request_id: u32, message: Message) -> BytesMut {
    let mut buf = BytesMut::new();
    encode_frame(
        &Frame {
            request_id,
            message,
        },
        &mut buf,
    );
    buf
}

fn welcome(catalog: &str) -> BytesMut {
    let info = ServerInfo {
        server: "scripted".into(),
        catalog: catalog.into(),
        songs: 1,
        max_page: 100,
    };
    frame(
        0,
        Message::Welcome {
            version: 2,
            info: Bytes::from(info.to_json()),
        },
    )
}

fn goaway() -> BytesMut {
    frame(
        0,
        Message::GoAway {
            within_ms: 10_000,
            message: "restarting".into(),
        },
    )
}

/// The next whole frame from the client; `None` once it closed (or sent something undecodable).
async fn next(stream: &mut TcpStream, buf: &mut BytesMut) -> Option<Frame> {
    loop {
        match decode_frame(buf) {
            Ok(Some(frame)) => return Some(frame),
            Ok(None) => {}
            Err(_) => return None,
        }
        match stream.read_buf(buf).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

async fn connection(
    mut stream: TcpStream,
    k: usize,
    script: Script,
    seen: mpsc::UnboundedSender<Seen>,
) {
    let mut buf = BytesMut::new();
    let Some(_hello) = next(&mut stream, &mut buf).await else {
        return;
    };
    let catalog = match script {
        Script::Refuse => return,
        Script::Busy => {
            let busy = frame(
                0,
                Message::Error {
                    code: ErrorCode::ServerBusy,
                    message: "busy".into(),
                },
            );
            let _ = stream.write_all(&busy).await;
            return;
        }
        Script::Serve(catalog) => catalog,
        _ => CATALOG_A,
    };
    let mut out = welcome(catalog);
    if let Script::GoAwayAtOnce = script {
        out.extend_from_slice(&goaway());
    }
    if stream.write_all(&out).await.is_err() {
        return;
    }
    let data = segment_bytes();
    loop {
        let Some(request) = next(&mut stream, &mut buf).await else {
            let _ = seen.send(Seen::ClosedByClient(k));
            return;
        };
        let id = request.request_id;
        let _ = seen.send(Seen::Request(k, request.message.clone()));
        match request.message {
            Message::GetManifest { .. } => {
                let title = if catalog == CATALOG_A { "one" } else { "other" };
                let json = Bytes::from(manifest(title).to_json());
                if stream
                    .write_all(&frame(id, Message::Manifest(json)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Message::GetSegment { .. } => {
                for (i, piece) in data.chunks(PIECE).enumerate() {
                    let data = Message::Data {
                        end: i == 2,
                        bytes: Bytes::copy_from_slice(piece),
                    };
                    if stream.write_all(&frame(id, data)).await.is_err() {
                        return;
                    }
                    let after = match (script, i) {
                        (Script::GoAwayInSegment, 0) => goaway(),
                        (Script::CloseInSegment, 0) => return,
                        _ => continue,
                    };
                    if stream.write_all(&after).await.is_err() {
                        return;
                    }
                }
            }
            _ => return,
        }
    }
}

/// A link on a first connection to `addr`, for songs of catalog A.
async fn link(addr: SocketAddr) -> Link {
    let dial = Arc::new(Dial::new(addr, 16 * 1024 + 64));
    let conn = timeout(PATIENCE, dial.open(0)).await.unwrap().unwrap();
    Link::new(dial, 0, conn, CATALOG_A.into())
}

async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    timeout(PATIENCE, future)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {PATIENCE:?}"))
}

/// Everything the peer's connections have seen so far.
fn drain(events: &mut mpsc::UnboundedReceiver<Seen>) -> Vec<Seen> {
    let mut all = Vec::new();
    while let Ok(seen) = events.try_recv() {
        all.push(seen);
    }
    all
}

fn segment(index: u32) -> Message {
    Message::GetSegment { song: SONG, index }
}

#[tokio::test]
async fn a_goaway_inside_a_transfer_lets_it_finish_and_moves_the_next_request() {
    let (addr, mut events) = peer(vec![Script::GoAwayInSegment, Script::Serve(CATALOG_A)]).await;
    let mut link = link(addr).await;
    let song = manifest("one");
    let len = within("segment 0", link.segment(&song, 0)).await.unwrap();
    assert_eq!(len, 3 * PIECE, "segment 0 finished on the old connection");
    assert!(
        !link.take_resumed(),
        "segment 0 came on the first connection"
    );
    let len = within("segment 1", link.segment(&song, 1)).await.unwrap();
    assert_eq!(len, 3 * PIECE);
    assert!(link.take_resumed());
    let seen = drain(&mut events);
    assert!(seen.contains(&Seen::Request(0, segment(0))), "{seen:?}");
    assert!(seen.contains(&Seen::Request(1, segment(1))), "{seen:?}");
    assert!(!seen.contains(&Seen::Request(0, segment(1))), "{seen:?}");
    let m = link.moves;
    assert_eq!((m.goaways, m.lost, m.reconnects), (1, 0, 1), "{m:?}");
}

#[tokio::test]
async fn a_connection_lost_inside_a_transfer_is_asked_again_on_a_new_one() {
    let (addr, mut events) = peer(vec![Script::CloseInSegment, Script::Serve(CATALOG_A)]).await;
    let mut link = link(addr).await;
    let song = manifest("one");
    let len = within("segment 0", link.segment(&song, 0)).await.unwrap();
    assert_eq!(len, 3 * PIECE, "the whole segment, from its start");
    assert!(link.take_resumed());
    let seen = drain(&mut events);
    assert!(seen.contains(&Seen::Request(0, segment(0))), "{seen:?}");
    assert!(seen.contains(&Seen::Request(1, segment(0))), "{seen:?}");
    let m = link.moves;
    assert_eq!((m.goaways, m.lost, m.reconnects), (0, 1, 1), "{m:?}");
}

#[tokio::test]
async fn a_goaway_between_requests_closes_the_connection_and_opens_another_at_once() {
    let (addr, mut events) = peer(vec![Script::GoAwayAtOnce, Script::Serve(CATALOG_A)]).await;
    let mut link = link(addr).await;
    let song = manifest("one");
    // The player waits (here: until the old connection is closed, well before the deadline).
    let idle = link.idle_until(Instant::now() + PATIENCE, Some(&song));
    let closed = async {
        while let Some(seen) = events.recv().await {
            if seen == Seen::ClosedByClient(0) {
                return;
            }
        }
    };
    tokio::select! {
        result = idle => panic!("the idle wait ended first: {result:?}"),
        () = within("closing the old connection", closed) => {}
    }
    let len = within("segment 0", link.segment(&song, 0)).await.unwrap();
    assert_eq!(len, 3 * PIECE);
    let seen = drain(&mut events);
    assert!(
        seen.iter().all(|s| !matches!(s, Seen::Request(0, _))),
        "nothing was asked on the connection going away: {seen:?}"
    );
    assert_eq!(link.moves.goaways, 1, "{:?}", link.moves);
}

#[tokio::test]
async fn busy_and_refused_reconnects_are_retried_after_a_backoff() {
    let scripts = vec![
        Script::CloseInSegment,
        Script::Busy,
        Script::Refuse,
        Script::Serve(CATALOG_A),
    ];
    let (addr, _events) = peer(scripts).await;
    let mut link = link(addr).await;
    let len = within("segment 0", link.segment(&manifest("one"), 0))
        .await
        .unwrap();
    assert_eq!(len, 3 * PIECE);
    let m = link.moves;
    assert_eq!(
        (m.lost, m.failed_attempts, m.reconnects),
        (1, 2, 1),
        "{m:?}"
    );
    let why = link.attempt_failure.as_deref().unwrap_or_default();
    assert!(why.contains("closed"), "the last attempt's reason: {why:?}");
}

#[tokio::test]
async fn another_catalog_with_the_same_song_plays_on() {
    let (addr, _events) = peer(vec![Script::CloseInSegment, Script::Serve(CATALOG_B)]).await;
    let mut link = link(addr).await;
    // Catalog B's manifest of the song has another title, so play the one B has.
    let theirs = manifest("other");
    let len = within("segment 0", link.segment(&theirs, 0)).await.unwrap();
    assert_eq!(len, 3 * PIECE);
    assert_eq!(link.moves.catalog_changes, 1, "{:?}", link.moves);
}

#[tokio::test]
async fn another_catalog_with_another_manifest_fails_the_stream() {
    let (addr, _events) = peer(vec![Script::CloseInSegment, Script::Serve(CATALOG_B)]).await;
    let mut link = link(addr).await;
    let error = within("segment 0", link.segment(&manifest("one"), 0))
        .await
        .unwrap_err();
    assert!(
        error.0.contains("not the same in catalog bbbbbbbbbbbb"),
        "{error}"
    );
}
