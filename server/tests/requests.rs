//! LIST, GET_MANIFEST, GET_SEGMENT and CANCEL over a real socket.

mod common;

use common::{songs, start, start_default};
use jukebox_protocol::{ErrorCode, Frame, Manifest, Message, Page};
use jukebox_server::Config;
use jukebox_test_kit::wire::{assert_error, Client};
use jukebox_test_kit::{sha256, song};

/// Size of the segments of song 3 in the long-transfer tests: far more than loopback socket
/// buffers hold, so the transfer cannot finish while the client is not reading.
const BIG: usize = 32 << 20;

#[tokio::test]
async fn list_returns_a_page() {
    let (addr, _) = start_default().await;
    let mut client = Client::open(addr).await;
    client.send(7, Message::list_all()).await;
    let frame = client.recv().await.unwrap();
    assert_eq!(frame.request_id, 7);
    let Message::Page(json) = frame.message else {
        panic!("expected PAGE, got {frame:?}");
    };
    let catalog = Page::from_json(&json).unwrap();
    assert_eq!(catalog.total, 3);
    let ids: Vec<u64> = catalog.songs.iter().map(|s| s.id).collect();
    assert_eq!(ids, [1, 2, 3]);
    assert_eq!(catalog.songs[0].segments, 5);
    assert_eq!(catalog.songs[0].artist, "Tester");
}

#[tokio::test]
async fn manifest_and_unknown_song() {
    let (addr, store) = start_default().await;
    let mut client = Client::open(addr).await;
    client.send(1, Message::GetManifest { song: 2 }).await;
    client.send(2, Message::GetManifest { song: 99 }).await;
    let frame = client.recv().await.unwrap();
    let Message::Manifest(json) = frame.message else {
        panic!("expected MANIFEST, got {frame:?}");
    };
    assert_eq!(frame.request_id, 1);
    let manifest = Manifest::from_json(&json).unwrap();
    assert_eq!(&manifest, &common::songs(4, 1 << 20)[1].manifest);
    drop(store);
    client.expect_error(2, ErrorCode::UnknownSong).await;
    // Not fatal.
    client.send(3, Message::GetManifest { song: 1 }).await;
    assert_eq!(client.recv().await.unwrap().request_id, 3);
}

#[tokio::test]
async fn every_segment_arrives_exactly() {
    let (addr, _store) = start_default().await;
    let mut client = Client::open(addr).await;
    let mut id = 0;
    for song in &common::songs(4, 1 << 20) {
        for info in &song.manifest.segments {
            id += 1;
            let bytes = client.fetch(id, song.manifest.id, info.index).await;
            assert_eq!(bytes.len(), info.bytes as usize);
            assert_eq!(
                sha256(&bytes),
                info.sha256,
                "song {} segment {}",
                song.manifest.id,
                info.index
            );
        }
    }
    assert_eq!(id, 5 + 3 + 4);
}

#[tokio::test]
async fn pipelined_segments_come_in_request_order() {
    let (addr, store) = start_default().await;
    let mut client = Client::open(addr).await;
    for index in 0..5 {
        client
            .send(10 + index, Message::GetSegment { song: 1, index })
            .await;
    }
    for index in 0..5 {
        let bytes = client.collect(10 + index).await;
        assert_eq!(bytes, common::held(&store, 1, index).as_ref());
    }
}

#[tokio::test]
async fn segment_errors_leave_the_connection_open() {
    let (addr, _) = start_default().await;
    let mut client = Client::open(addr).await;
    client
        .send(1, Message::GetSegment { song: 42, index: 0 })
        .await;
    client.expect_error(1, ErrorCode::UnknownSong).await;
    client
        .send(2, Message::GetSegment { song: 2, index: 3 })
        .await;
    client.expect_error(2, ErrorCode::SegmentOutOfRange).await;
    assert_eq!(client.fetch(3, 2, 2).await.len(), 3_000);
}

/// Starts a transfer of a segment far larger than the socket buffers and returns once its first
/// DATA frame has arrived.
async fn start_long_transfer(client: &mut Client, request_id: u32) {
    client
        .send(request_id, Message::GetSegment { song: 3, index: 0 })
        .await;
    let first = client.recv().await.unwrap();
    assert_eq!(first.request_id, request_id);
    assert!(matches!(first.message, Message::Data { end: false, .. }));
}

/// Reads DATA frames of `request_id` (none of them the last) until a frame of another request
/// arrives; returns that frame and the DATA bytes seen.
async fn skip_data(client: &mut Client, request_id: u32) -> (Frame, usize) {
    let mut seen = 0;
    loop {
        let frame = client.recv().await.expect("EOF");
        if frame.request_id != request_id {
            return (frame, seen);
        }
        let Message::Data { end, bytes } = frame.message else {
            panic!("expected DATA, got {:?}", frame.message);
        };
        assert!(!end, "the transfer ended before the other answer came");
        seen += bytes.len();
    }
}

#[tokio::test]
async fn list_is_answered_during_a_long_transfer() {
    let (addr, store) = start(songs(1, BIG), Config::default()).await;
    let mut client = Client::open(addr).await;
    start_long_transfer(&mut client, 1).await;
    client.send(2, Message::list_all()).await;
    let (answer, _) = skip_data(&mut client, 1).await;
    assert_eq!(answer.request_id, 2);
    assert!(matches!(answer.message, Message::Page(_)));
    // The transfer goes on to its END, and the segment fetched again arrives whole.
    let rest = client.collect(1).await;
    assert!(!rest.is_empty());
    let whole = client.fetch(3, 3, 0).await;
    assert_eq!(whole, common::held(&store, 3, 0).as_ref());
}

#[tokio::test]
async fn cancel_stops_a_transfer() {
    let (addr, _) = start(songs(1, BIG), Config::default()).await;
    let mut client = Client::open(addr).await;
    start_long_transfer(&mut client, 1).await;
    client.send(1, Message::Cancel).await;
    // Requests are handled in order, so once this LIST is answered the cancel has been handled.
    client.send(2, Message::list_all()).await;
    let (answer, seen) = skip_data(&mut client, 1).await;
    assert_eq!(answer.request_id, 2);
    assert!(seen < BIG);
    // Nothing more of request 1 after that: the next frame answers the next request.
    client.send(3, Message::list_all()).await;
    let next = client.recv().await.unwrap();
    assert_eq!(next.request_id, 3, "{next:?}");
    // Cancelling again, or cancelling something never asked for, is ignored.
    client.send(1, Message::Cancel).await;
    client.send(77, Message::Cancel).await;
    client.send(4, Message::list_all()).await;
    assert_eq!(client.recv().await.unwrap().request_id, 4);
}

#[tokio::test]
async fn cancel_of_a_queued_transfer_skips_it() {
    let (addr, store) = start(songs(1, BIG), Config::default()).await;
    let mut client = Client::open(addr).await;
    start_long_transfer(&mut client, 1).await;
    client
        .send(2, Message::GetSegment { song: 1, index: 4 })
        .await;
    client
        .send(3, Message::GetSegment { song: 1, index: 3 })
        .await;
    client.send(2, Message::Cancel).await;
    client.send(1, Message::Cancel).await;
    let (next, _) = skip_data(&mut client, 1).await;
    assert_eq!(next.request_id, 3, "{next:?}");
    let Message::Data { bytes, .. } = next.message else {
        panic!("expected DATA");
    };
    let mut segment = bytes.to_vec();
    segment.extend(client.collect(3).await);
    assert_eq!(segment, common::held(&store, 1, 3).as_ref());
}

#[tokio::test]
async fn too_many_queued_segments_refuses_the_extra_one() {
    let (addr, _) = start(songs(1, BIG), Config::default()).await;
    let mut client = Client::open(addr).await;
    let max = Config::default().max_queued_segments as u32;
    // All requests in one write, before reading anything: the first transfer cannot be finished.
    let mut burst = bytes::BytesMut::new();
    for id in 1..=max + 1 {
        jukebox_protocol::encode_frame(
            &Frame {
                request_id: id,
                message: Message::GetSegment { song: 3, index: 0 },
            },
            &mut burst,
        );
    }
    client.send_raw(&burst).await;
    let (refusal, _) = skip_data(&mut client, 1).await;
    assert_error(&refusal, max + 1, ErrorCode::TooManyRequests);
    // The connection goes on. The cancels go in one write, so that no transfer starts between
    // two of them.
    let mut cancels = bytes::BytesMut::new();
    for id in 1..=max {
        jukebox_protocol::encode_frame(
            &Frame {
                request_id: id,
                message: Message::Cancel,
            },
            &mut cancels,
        );
    }
    client.send_raw(&cancels).await;
    client.send(100, Message::list_all()).await;
    let (answer, _) = skip_data(&mut client, 1).await;
    assert_eq!(answer.request_id, 100);
    client.send(101, Message::GetManifest { song: 2 }).await;
    assert_eq!(client.recv().await.unwrap().request_id, 101);
    assert_eq!(client.fetch(102, 2, 0).await.len(), 3_000);
}

fn ids_of(songs: Vec<jukebox_protocol::SongSummary>) -> Vec<u64> {
    songs.iter().map(|s| s.id).collect()
}

#[tokio::test]
async fn a_long_list_is_paged_and_every_song_is_listed_once() {
    let songs: Vec<_> = (1..=1234)
        .map(|id| song(id, vec![common::pattern(id as u32, 10)]))
        .collect();
    let (addr, _) = common::start(songs, jukebox_server::Config::default()).await;
    let mut client = Client::open(addr).await;
    // In title order ("Song 1", "Song 10", "Song 100"...), each song once.
    let mut ids = ids_of(common::list_all(&mut client, "", 100).await);
    let mut titles: Vec<(String, u64)> =
        (1..=1234u64).map(|id| (format!("song {id}"), id)).collect();
    titles.sort();
    assert_eq!(ids, titles.iter().map(|t| t.1).collect::<Vec<u64>>());
    ids.sort();
    assert_eq!(ids, (1..=1234).collect::<Vec<u64>>());
    // A search: every word but the last is a whole word of the title ("Song N"), artist or
    // album; the last may begin one.
    let mut ids = ids_of(common::list_all(&mut client, "SONG 12", 7).await);
    ids.sort();
    let expected: Vec<u64> = (1..=1234u64)
        .filter(|id| id.to_string().starts_with("12"))
        .collect();
    assert_eq!(ids, expected);
    assert!(common::list_all(&mut client, "tester 99 xyz", 50)
        .await
        .is_empty());
}
