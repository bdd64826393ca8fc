//! Many clients at once, the connection limit, and clients that disappear.

mod common;

use common::{songs, start, start_default};
use jukebox_protocol::{ErrorCode, Manifest, Message, Page, VERSION};
use jukebox_server::Config;
use jukebox_test_kit::sha256;
use jukebox_test_kit::wire::Client;

#[tokio::test]
async fn connections_beyond_the_limit_are_busy() {
    let config = Config {
        max_connections: 2,
        ..Config::default()
    };
    let (addr, _) = start(songs(1, 1000), config).await;
    // Both handshakes done: both connections hold a slot.
    let first = Client::open(addr).await;
    let _second = Client::open(addr).await;
    let mut third = Client::connect(addr).await;
    third.send(0, Message::Hello { version: VERSION }).await;
    third.expect_fatal(ErrorCode::ServerBusy).await;

    // A slot frees up once a client leaves; the server notices the close on its own schedule, so
    // try until a connection is welcomed, each attempt awaiting the server's answer.
    drop(first);
    let mut attempts = 0;
    let mut client = loop {
        attempts += 1;
        assert!(attempts < 10_000, "no slot was freed");
        let mut client = Client::connect(addr).await;
        client.send(0, Message::Hello { version: VERSION }).await;
        let frame = client.recv().await.expect("EOF instead of an answer");
        match frame.message {
            Message::Welcome { .. } => break client,
            Message::Error {
                code: ErrorCode::ServerBusy,
                ..
            } => continue,
            other => panic!("unexpected {other:?}"),
        }
    };
    client.send(1, Message::list_all()).await;
    assert_eq!(client.recv().await.unwrap().request_id, 1);
}

#[tokio::test]
async fn a_vanishing_client_does_not_disturb_the_others() {
    let (addr, store) = start(songs(2, 8 << 20), Config::default()).await;
    let mut steady = Client::open(addr).await;
    let mut leaver = Client::open(addr).await;
    // Both in the middle of a long transfer.
    steady
        .send(1, Message::GetSegment { song: 3, index: 0 })
        .await;
    leaver
        .send(1, Message::GetSegment { song: 3, index: 1 })
        .await;
    let first = leaver.recv().await.unwrap();
    assert!(matches!(first.message, Message::Data { end: false, .. }));
    leaver.vanish();

    assert_eq!(steady.collect(1).await, common::held(&store, 3, 0).as_ref());
    assert_eq!(
        steady.fetch(2, 1, 4).await,
        common::held(&store, 1, 4).as_ref()
    );
    // And the server still takes new clients.
    let mut newcomer = Client::open(addr).await;
    assert_eq!(
        newcomer.fetch(1, 2, 1).await,
        common::held(&store, 2, 1).as_ref()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_clients_get_correct_bytes() {
    let (addr, _) = start_default().await;
    let clients = (0..50u32).map(|n| {
        tokio::spawn(async move {
            let mut client = Client::open(addr).await;
            client.send(1, Message::list_all()).await;
            let Message::Page(json) = client.recv().await.unwrap().message else {
                panic!("expected PAGE");
            };
            let catalog = Page::from_json(&json).unwrap();
            let mut id = 1;
            // Each client walks the songs starting from a different one.
            for k in 0..catalog.songs.len() {
                let song = &catalog.songs[(n as usize + k) % catalog.songs.len()];
                id += 1;
                client
                    .send(id, Message::GetManifest { song: song.id })
                    .await;
                let Message::Manifest(json) = client.recv().await.unwrap().message else {
                    panic!("expected MANIFEST");
                };
                let manifest = Manifest::from_json(&json).unwrap();
                for info in &manifest.segments {
                    id += 1;
                    let bytes = client.fetch(id, song.id, info.index).await;
                    assert_eq!(sha256(&bytes), info.sha256, "client {n}");
                }
            }
            id
        })
    });
    for client in clients.collect::<Vec<_>>() {
        assert!(client.await.unwrap() > 10);
    }
}
