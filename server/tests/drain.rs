//! Draining (what SIGTERM does): the listener closes at once, every connection gets GOAWAY with
//! the time left and is still served, and the server's run ends when its clients have closed
//! their side, or when the time is over.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::songs;
use jukebox_protocol::Message;
use jukebox_server::{Config, Server, Store};
use jukebox_test_kit::wire::Client;
use jukebox_test_kit::PATIENCE;
use tokio::net::TcpStream;

async fn serving() -> (
    std::net::SocketAddr,
    jukebox_server::Drainer,
    tokio::task::JoinHandle<()>,
) {
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Config::default()
    };
    let server = Server::bind(config, Arc::new(Store::new(songs(2, 100_000))))
        .await
        .unwrap();
    let addr = server.local_addr();
    let drainer = server.drainer();
    (addr, drainer, tokio::spawn(server.run()))
}

#[tokio::test]
async fn a_drained_server_says_goaway_serves_on_and_ends_when_its_clients_have_left() {
    let (addr, drainer, run) = serving().await;
    let mut client = Client::open(addr).await;
    // A transfer under way when the drain begins.
    client
        .send(1, Message::GetSegment { song: 3, index: 1 })
        .await;
    drainer.drain(Duration::from_secs(30));
    let mut data = Vec::new();
    let mut goaway = None;
    let mut ended = false;
    // The GOAWAY may overtake the transfer's DATA or follow it.
    while !ended || goaway.is_none() {
        let frame = client.recv().await.expect("the connection stays open");
        match frame.message {
            Message::GoAway { within_ms, .. } => {
                assert_eq!(frame.request_id, 0);
                goaway = Some(within_ms);
            }
            Message::Data { end, bytes } => {
                assert_eq!(frame.request_id, 1);
                data.extend_from_slice(&bytes);
                ended = end;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let within_ms = goaway.expect("GOAWAY came with the transfer");
    assert!((25_000..=30_000).contains(&within_ms), "{within_ms}");
    assert_eq!(data.len(), 100_000, "the transfer under way is finished");
    // No new connection is taken.
    let refused = tokio::time::timeout(PATIENCE, TcpStream::connect(addr))
        .await
        .unwrap();
    assert!(refused.is_err(), "a connection accepted while draining");
    // Requests sent before the client saw GOAWAY are still answered.
    client.send(2, Message::GetManifest { song: 2 }).await;
    assert!(matches!(
        client.recv().await.unwrap().message,
        Message::Manifest(_)
    ));
    // The client has moved: the server closes, and its run ends long before the time given.
    client.shutdown_write().await;
    assert_eq!(client.recv().await, None);
    let began = Instant::now();
    tokio::time::timeout(PATIENCE, run).await.unwrap().unwrap();
    assert!(began.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_client_that_stays_is_closed_at_the_end_of_the_drain() {
    let (addr, drainer, run) = serving().await;
    let mut client = Client::open(addr).await;
    let began = Instant::now();
    drainer.drain(Duration::from_millis(300));
    let frame = client.recv().await.unwrap();
    assert!(matches!(frame.message, Message::GoAway { .. }), "{frame:?}");
    // The client ignores it and keeps the connection: closed at the drain time, without ERROR.
    assert_eq!(client.recv().await, None);
    tokio::time::timeout(PATIENCE, run).await.unwrap().unwrap();
    let took = began.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(5),
        "{took:?}"
    );
}
