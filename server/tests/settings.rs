//! The server's socket and scheduling settings change how bytes leave, never which: with the
//! low-water mark off or tiny, with several DATA frames per write, and on per-core threads, every
//! segment arrives whole, control responses still overtake transfers, and cancels still work.

mod common;

use std::sync::Arc;

use common::{songs, start};
use jukebox_protocol::{Message, MAX_DATA_PAYLOAD};
use jukebox_server::{Config, Server, Store};
use jukebox_test_kit::sha256;
use jukebox_test_kit::wire::Client;

fn configs() -> Vec<Config> {
    vec![
        Config::default(),
        Config {
            notsent_lowat: None,
            ..Config::default()
        },
        Config {
            notsent_lowat: Some(1),
            ..Config::default()
        },
        Config {
            data_frames_per_write: 3,
            ..Config::default()
        },
    ]
}

/// Pipelines every segment of every song and checks each against its manifest, then checks that a
/// LIST overtakes a long transfer and that a cancelled transfer leaves the connection usable.
async fn check(addr: std::net::SocketAddr, store: &Store) {
    let mut client = Client::open(addr).await;
    let mut expected = Vec::new();
    let mut id = 0;
    let _ = store;
    for song in songs(1, 32 << 20).iter().filter(|s| s.manifest.id != 3) {
        for info in &song.manifest.segments {
            id += 1;
            client
                .send(
                    id,
                    Message::GetSegment {
                        song: song.manifest.id,
                        index: info.index,
                    },
                )
                .await;
            expected.push((id, info.sha256.clone(), info.bytes as usize));
            if expected.len() == 16 {
                for (id, hash, len) in expected.drain(..) {
                    let bytes = client.collect(id).await;
                    assert_eq!((bytes.len(), sha256(&bytes)), (len, hash));
                }
            }
        }
    }
    for (id, hash, len) in expected {
        let bytes = client.collect(id).await;
        assert_eq!((bytes.len(), sha256(&bytes)), (len, hash));
    }

    // A long transfer: LIST overtakes it, CANCEL stops it.
    client
        .send(100, Message::GetSegment { song: 3, index: 0 })
        .await;
    let first = client.recv().await.unwrap();
    assert_eq!(first.request_id, 100);
    client.send(101, Message::list_all()).await;
    let answer = loop {
        let frame = client.recv().await.unwrap();
        if frame.request_id != 100 {
            break frame;
        }
        let Message::Data { end, bytes } = frame.message else {
            panic!("expected DATA");
        };
        assert!(!end && bytes.len() <= MAX_DATA_PAYLOAD);
    };
    assert_eq!(answer.request_id, 101);
    assert!(matches!(answer.message, Message::Page(_)));
    client.send(100, Message::Cancel).await;
    client.send(102, Message::GetManifest { song: 2 }).await;
    loop {
        let frame = client.recv().await.unwrap();
        if frame.request_id == 102 {
            assert!(matches!(frame.message, Message::Manifest(_)));
            break;
        }
        assert_eq!(frame.request_id, 100, "only frames sent before the cancel");
    }
    // Nothing of the cancelled transfer follows: the next answer is the next request's.
    assert_eq!(client.fetch(103, 2, 1).await.len(), 3_000);
}

#[tokio::test]
async fn every_setting_serves_the_same_bytes() {
    for config in configs() {
        let (addr, store) = start(songs(1, 32 << 20), config.clone()).await;
        check(addr, &store).await;
    }
}

#[tokio::test]
async fn connections_served_on_per_core_threads() {
    let store = Arc::new(Store::new(songs(1, 32 << 20)));
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Config::default()
    };
    let server = Server::bind(config, store.clone()).await.unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.run_on_threads(2));
    // Several clients at once, dealt to both threads.
    let checks: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { check(addr, &store).await })
        })
        .collect();
    for check in checks {
        check.await.unwrap();
    }
}
