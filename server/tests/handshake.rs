//! Connection opening, the rules on who may send what, and the time limits.

mod common;

use std::time::Duration;

use common::{songs, start, start_default};
use jukebox_protocol::{ErrorCode, Message};
use jukebox_server::Config;
use jukebox_test_kit::wire::Client;
use tokio::time::Instant;

#[tokio::test]
async fn hello_is_welcomed() {
    let (addr, _) = start_default().await;
    let mut client = Client::open(addr).await;
    // The connection is usable afterwards.
    client.send(1, Message::list_all()).await;
    assert!(matches!(
        client.recv().await.unwrap().message,
        Message::Page(_)
    ));
}

#[tokio::test]
async fn an_earlier_version_is_refused() {
    let (addr, _) = start_default().await;
    let mut client = Client::connect(addr).await;
    client.send(0, Message::Hello { version: 1 }).await;
    client.expect_fatal(ErrorCode::UnsupportedVersion).await;
}

#[tokio::test]
async fn a_later_version_is_welcomed_in_this_one() {
    let (addr, _) = start_default().await;
    let mut client = Client::connect(addr).await;
    // A later version's HELLO, longer than this version's.
    let mut hello = bytes::BytesMut::new();
    jukebox_protocol::encode_frame(
        &jukebox_protocol::Frame {
            request_id: 0,
            message: Message::Hello { version: 7 },
        },
        &mut hello,
    );
    hello[3] += 4;
    hello.extend_from_slice(b"more");
    client.send_raw(&hello).await;
    let welcome = client.recv().await.unwrap();
    assert!(
        matches!(
            welcome.message,
            Message::Welcome {
                version: jukebox_protocol::VERSION,
                ..
            }
        ),
        "{welcome:?}"
    );
    client.send(1, Message::list_all()).await;
    assert!(matches!(
        client.recv().await.unwrap().message,
        Message::Page(_)
    ));
}

#[tokio::test]
async fn first_frame_must_be_hello() {
    let (addr, _) = start_default().await;
    let mut client = Client::connect(addr).await;
    client.send(1, Message::list_all()).await;
    client.expect_fatal(ErrorCode::UnexpectedMessage).await;
}

#[tokio::test]
async fn second_hello_is_refused() {
    let (addr, _) = start_default().await;
    let mut client = Client::open(addr).await;
    client.send(0, Message::Hello { version: 1 }).await;
    client.expect_fatal(ErrorCode::UnexpectedMessage).await;
}

#[tokio::test]
async fn request_id_zero_is_refused() {
    let (addr, _) = start_default().await;
    let mut client = Client::open(addr).await;
    client.send(0, Message::GetManifest { song: 1 }).await;
    client.expect_fatal(ErrorCode::UnexpectedMessage).await;
}

#[tokio::test]
async fn server_messages_from_a_client_are_refused() {
    let (addr, _) = start_default().await;
    let mut client = Client::open(addr).await;
    client
        .send(
            1,
            Message::Welcome {
                version: 2,
                info: bytes::Bytes::from_static(b"{}"),
            },
        )
        .await;
    client.expect_fatal(ErrorCode::UnexpectedMessage).await;
}

fn quick_timeout() -> Config {
    Config {
        idle_timeout: Duration::from_millis(300),
        ..Config::default()
    }
}

// The HELLO deadline and the idle time are the session's rules, unit-tested there with simulated
// time. These check that the shell keeps them over a socket, on the runtime's clock, paused so that
// no test waits for them in real time: the clock jumps to the next deadline whenever nothing else
// is ready.

#[tokio::test(start_paused = true)]
async fn silent_connection_times_out() {
    let (addr, _) = start(songs(1, 1000), quick_timeout()).await;
    let mut client = Client::open(addr).await;
    let welcomed = Instant::now();
    client.expect_fatal(ErrorCode::IdleTimeout).await;
    assert!(welcomed.elapsed() >= quick_timeout().idle_timeout);
}

#[tokio::test(start_paused = true)]
async fn missing_hello_times_out() {
    let (addr, _) = start(songs(1, 1000), quick_timeout()).await;
    let connected = Instant::now();
    let mut client = Client::connect(addr).await;
    client.expect_fatal(ErrorCode::IdleTimeout).await;
    assert!(connected.elapsed() >= quick_timeout().idle_timeout);
}

#[tokio::test]
async fn client_closing_after_its_requests_still_gets_the_answers() {
    let (addr, store) = start_default().await;
    let mut client = Client::open(addr).await;
    client
        .send(1, Message::GetSegment { song: 1, index: 4 })
        .await;
    client.shutdown_write().await;
    assert_eq!(client.collect(1).await, common::held(&store, 1, 4).as_ref());
    assert_eq!(client.recv().await, None);
}
