//! `--proxy-protocol`: behind HAProxy (`send-proxy-v2`) each connection starts with a PROXY v2
//! header naming the client. With the option the header is required and its address is the one
//! the per-source limits count; without it a header is refused like any bytes that are no frame.

mod common;

use std::net::SocketAddr;

use common::{songs, start};
use jukebox_protocol::{ErrorCode, Message, VERSION};
use jukebox_server::Config;
use jukebox_test_kit::wire::Client;

/// A PROXY v2 header for a TCP connection from `client` (IPv4) to 127.0.0.1:5853.
fn header(client: SocketAddr) -> Vec<u8> {
    let SocketAddr::V4(client) = client else {
        panic!("IPv4 only here")
    };
    let mut bytes = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    bytes.extend([0x21, 0x11, 0, 12]);
    bytes.extend(client.ip().octets());
    bytes.extend([127, 0, 0, 1]);
    bytes.extend(client.port().to_be_bytes());
    bytes.extend(5853u16.to_be_bytes());
    bytes
}

/// A HAProxy health check's header: LOCAL, no address.
fn local_header() -> Vec<u8> {
    let mut bytes = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    bytes.extend([0x20, 0x00, 0, 0]);
    bytes
}

fn hello() -> Vec<u8> {
    let mut out = bytes::BytesMut::new();
    jukebox_protocol::encode_frame(
        &jukebox_protocol::Frame {
            request_id: 0,
            message: Message::Hello { version: VERSION },
        },
        &mut out,
    );
    out.to_vec()
}

/// Connects, sends `first` then HELLO, and returns the first frame's message, if any.
async fn first_answer(addr: SocketAddr, first: &[u8]) -> (Client, Option<Message>) {
    let mut client = Client::connect(addr).await;
    let mut bytes = first.to_vec();
    bytes.extend(hello());
    client.send_raw(&bytes).await;
    let answer = client.recv().await.map(|f| f.message);
    (client, answer)
}

fn proxied(max_per_source: usize) -> Config {
    Config {
        proxy_protocol: true,
        max_per_source,
        ..Config::default()
    }
}

#[tokio::test]
async fn with_the_option_a_header_is_required_and_then_the_session_is_as_ever() {
    let (addr, _) = start(songs(1, 1000), proxied(16)).await;
    let client: SocketAddr = "203.0.113.7:4242".parse().unwrap();
    let (mut proxied, answer) = first_answer(addr, &header(client)).await;
    assert!(
        matches!(answer, Some(Message::Welcome { .. })),
        "{answer:?}"
    );
    proxied.send(1, Message::GetManifest { song: 2 }).await;
    assert!(matches!(
        proxied.recv().await.unwrap().message,
        Message::Manifest(_)
    ));
    // A health check says LOCAL: served as the balancer's own connection.
    let (_, answer) = first_answer(addr, &local_header()).await;
    assert!(
        matches!(answer, Some(Message::Welcome { .. })),
        "{answer:?}"
    );
    // No header: closed without a word.
    let (_, answer) = first_answer(addr, &[]).await;
    assert_eq!(answer, None);
}

#[tokio::test]
async fn the_per_source_limit_counts_the_address_in_the_header() {
    let (addr, _) = start(songs(1, 1000), proxied(1)).await;
    let one: SocketAddr = "203.0.113.7:4242".parse().unwrap();
    let same: SocketAddr = "203.0.113.7:4243".parse().unwrap();
    let other: SocketAddr = "198.51.100.1:4242".parse().unwrap();
    let (_first, answer) = first_answer(addr, &header(one)).await;
    assert!(
        matches!(answer, Some(Message::Welcome { .. })),
        "{answer:?}"
    );
    // All come from 127.0.0.1 (the balancer); only the header tells them apart.
    let (_second, answer) = first_answer(addr, &header(same)).await;
    assert!(
        matches!(
            answer,
            Some(Message::Error {
                code: ErrorCode::ServerBusy,
                ..
            })
        ),
        "{answer:?}"
    );
    let (_third, answer) = first_answer(addr, &header(other)).await;
    assert!(
        matches!(answer, Some(Message::Welcome { .. })),
        "{answer:?}"
    );
}

#[tokio::test]
async fn without_the_option_a_header_is_refused() {
    let (addr, _) = start(songs(1, 1000), Config::default()).await;
    let mut client = Client::connect(addr).await;
    let mut bytes = header("203.0.113.7:4242".parse().unwrap());
    bytes.extend(hello());
    client.send_raw(&bytes).await;
    client.expect_fatal(ErrorCode::FrameTooLarge).await;
}

fn is_busy(answer: &Option<Message>) -> bool {
    matches!(
        answer,
        Some(Message::Error {
            code: ErrorCode::ServerBusy,
            ..
        })
    )
}

#[tokio::test]
async fn the_reserve_of_slots_counts_the_address_in_the_header() {
    let config = Config {
        max_connections: 10,
        // No limit of each source's own: only the reserve's.
        max_per_source: 0,
        source_rate: 0,
        reserve_percent: 30,
        reserve_per_source: 2,
        ..proxied(0)
    };
    let (addr, _) = start(songs(1, 1000), config).await;
    let from = |text: &str| -> SocketAddr { text.parse().unwrap() };
    let mut held = Vec::new();
    // Every connection comes from 127.0.0.1; the headers name the sources. One takes every slot
    // but the three reserved.
    for port in 0..7 {
        let (client, answer) =
            first_answer(addr, &header(from(&format!("203.0.113.7:{}", 4000 + port)))).await;
        assert!(
            matches!(answer, Some(Message::Welcome { .. })),
            "{answer:?}"
        );
        held.push(client);
    }
    // A source holding fewer than two gets a reserved slot, up to two.
    for port in 0..2 {
        let (client, answer) = first_answer(
            addr,
            &header(from(&format!("198.51.100.1:{}", 4000 + port))),
        )
        .await;
        assert!(
            matches!(answer, Some(Message::Welcome { .. })),
            "{answer:?}"
        );
        held.push(client);
    }
    // The source holding seven does not, nor the one holding two now.
    for client in ["203.0.113.7:4100", "198.51.100.1:4100"] {
        let (mut refused, answer) = first_answer(addr, &header(from(client))).await;
        assert!(is_busy(&answer), "{client}: {answer:?}");
        assert!(refused.recv().await.is_none(), "closed after SERVER_BUSY");
    }
    // The last slot goes to another source, once the refused connections have given back the
    // slots they held while being answered (they were admitted to the server before the header).
    let patience = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (client, answer) = first_answer(addr, &header(from("192.0.2.1:4000"))).await;
        if matches!(answer, Some(Message::Welcome { .. })) {
            held.push(client);
            break;
        }
        assert!(is_busy(&answer), "{answer:?}");
        assert!(
            std::time::Instant::now() < patience,
            "the last slot was never free"
        );
        drop(client);
        tokio::task::yield_now().await;
    }
}
