//! Clients that try to hold the server's resources without using them, over real sockets: one
//! source taking every slot, resets the server must notice while it neither reads nor writes,
//! frames trickled in, and clients that stop reading, with or without closing their side. The
//! rules are the session's and the source table's, unit-tested there; these check that the shell
//! and the accept loop apply them to real connections.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::{songs, start, start_on_thread, ServerEnd};
use jukebox_protocol::{ErrorCode, Message, VERSION};
use jukebox_server::session::SLOW_DATA_PAYLOAD;
use jukebox_server::Config;
use jukebox_test_kit::wire::Client;
use jukebox_test_kit::PATIENCE;
use tokio::time::Instant;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[tokio::test]
async fn a_source_at_its_limit_is_busy_and_another_source_gets_in() {
    let config = Config {
        max_per_source: 3,
        source_rate: 0,
        ..Config::default()
    };
    let (addr, _) = start(songs(1, 1000), config).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(Client::open_from(addr, ip("127.0.0.2")).await);
    }
    let mut fourth = Client::connect_from(addr, ip("127.0.0.2")).await;
    assert_eq!(fourth.hello().await, Err(ErrorCode::ServerBusy));
    assert_eq!(fourth.recv().await, None, "closed after SERVER_BUSY");
    // Another source is not held up by the first.
    let mut other = Client::open_from(addr, ip("127.0.0.3")).await;
    other.send(1, Message::list_all()).await;
    assert_eq!(other.recv().await.unwrap().request_id, 1);
    // Connections that never finish their HELLO count too: they hold a place as long as they last.
    drop(held.pop());
    let mut silent = Vec::new();
    let patience = Instant::now() + PATIENCE;
    loop {
        // The server frees the place in its own time; until then the newcomer is busy.
        let mut client = Client::connect_from(addr, ip("127.0.0.2")).await;
        client.send_raw(b"JK").await;
        silent.push(client);
        let mut probe = Client::connect_from(addr, ip("127.0.0.2")).await;
        if probe.hello().await == Err(ErrorCode::ServerBusy) {
            break;
        }
        assert!(Instant::now() < patience, "the source's limit was not kept");
    }
}

#[tokio::test]
async fn the_last_slots_are_kept_for_sources_with_few_connections() {
    let config = Config {
        max_connections: 10,
        // No limit of each source's own: only the reserve's.
        max_per_source: 0,
        source_rate: 0,
        reserve_percent: 30,
        reserve_per_source: 2,
        ..Config::default()
    };
    let (addr, _) = start(songs(1, 1000), config).await;
    let mut held = Vec::new();
    // One source takes every slot but the three reserved, and no more.
    for _ in 0..7 {
        held.push(Client::open_from(addr, ip("127.0.0.2")).await);
    }
    let mut heavy = Client::connect_from(addr, ip("127.0.0.2")).await;
    assert_eq!(heavy.hello().await, Err(ErrorCode::ServerBusy));
    // A source holding fewer than two gets a reserved slot, up to two.
    for _ in 0..2 {
        held.push(Client::open_from(addr, ip("127.0.0.3")).await);
    }
    let mut third = Client::connect_from(addr, ip("127.0.0.3")).await;
    assert_eq!(third.hello().await, Err(ErrorCode::ServerBusy));
    // The last slot goes to another source; then the server is full for everyone.
    held.push(Client::open_from(addr, ip("127.0.0.4")).await);
    let mut late = Client::connect_from(addr, ip("127.0.0.5")).await;
    assert_eq!(late.hello().await, Err(ErrorCode::ServerBusy));
    // Those held are served.
    let last = held.last_mut().unwrap();
    last.send(1, Message::list_all()).await;
    assert_eq!(last.recv().await.unwrap().request_id, 1);
}

#[tokio::test]
async fn the_listen_backlog_is_the_configured_one() {
    let config = Config {
        backlog: 37,
        ..Config::default()
    };
    let (addr, _) = start(songs(1, 1000), config).await;
    // For a listening socket, ss shows the backlog as its send queue.
    let out = std::process::Command::new("ss")
        .args(["-Hltn", &format!("sport = :{}", addr.port())])
        .output()
        .expect("ss (iproute2) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(fields.get(2), Some(&"37"), "ss says: {text}");
}

/// A client that has made the server count it slow and then stopped reading, in the middle of a
/// long segment: the server's writes wait for room that never comes.
async fn stalled_slow_client(addr: std::net::SocketAddr) -> Client {
    let mut client = Client::open_with_receive_buffer(addr, 24 << 10).await;
    client
        .send(1, Message::GetSegment { song: 3, index: 0 })
        .await;
    loop {
        let frame = client.recv().await.unwrap();
        match frame.message {
            Message::Data { end: false, bytes } if bytes.len() == SLOW_DATA_PAYLOAD => break,
            Message::Data { end: false, .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    client
}

#[tokio::test]
async fn a_stalled_client_that_resets_is_freed_at_once() {
    let (addr, _) = start_on_thread(songs(1, 32 << 20), Config::default()).await;
    let client = stalled_slow_client(addr).await;
    let server = ServerEnd::of(&client);
    // Give the server time to find the socket full and wait on it, as it does for a stalled client.
    tokio::time::sleep(Duration::from_millis(50)).await;
    client.reset();
    assert!(
        server.closed_in_time().await,
        "the server kept a reset connection"
    );
}

#[tokio::test]
async fn a_half_closed_client_that_resets_is_freed_at_once() {
    // The client asks for more than it reads, closes its side (the server then reads no more) and
    // resets: only the socket's error event can tell the server.
    let (addr, _) = start_on_thread(songs(1, 32 << 20), Config::default()).await;
    let mut client = stalled_slow_client(addr).await;
    client.shutdown_write().await;
    let server = ServerEnd::of(&client);
    tokio::time::sleep(Duration::from_millis(50)).await;
    client.reset();
    assert!(
        server.closed_in_time().await,
        "the server kept a reset connection"
    );
}

#[tokio::test]
async fn a_client_with_unread_answers_that_resets_is_freed_at_once() {
    // Requests without reading the answers: the server stops reading at its backlog of answers
    // and its writes wait; then the client resets.
    let (addr, _) = start_on_thread(songs(1, 32 << 20), Config::default()).await;
    let mut client = Client::open_with_receive_buffer(addr, 4 << 10).await;
    client
        .send(1, Message::GetSegment { song: 3, index: 0 })
        .await;
    for id in 2..200 {
        client.send(id, Message::list_all()).await;
    }
    let server = ServerEnd::of(&client);
    tokio::time::sleep(Duration::from_millis(50)).await;
    client.reset();
    assert!(
        server.closed_in_time().await,
        "the server kept a reset connection"
    );
}

// The deadlines are the session's rules, unit-tested there with simulated time; these check that
// the shell keeps them over a socket, on the runtime's clock, paused so that no test waits for them
// in real time.

#[tokio::test(start_paused = true)]
async fn a_frame_trickled_in_is_cut_off_at_the_frame_deadline() {
    let (addr, _) = start(songs(1, 1000), Config::default()).await;
    let mut client = Client::open(addr).await;
    let mut list = bytes::BytesMut::new();
    jukebox_protocol::encode_frame(
        &jukebox_protocol::Frame {
            request_id: 1,
            message: Message::list_all(),
        },
        &mut list,
    );
    let began = Instant::now();
    // A byte every 3 s: each within the idle time, the frame never within the frame deadline.
    for byte in &list[..list.len() - 1] {
        client.send_raw(&[*byte]).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        if began.elapsed() > Config::default().frame_timeout {
            break;
        }
    }
    client.expect_fatal(ErrorCode::IdleTimeout).await;
    let waited = began.elapsed();
    assert!(waited >= Config::default().frame_timeout, "{waited:?}");
    assert!(waited < Config::default().idle_timeout, "{waited:?}");
}

#[tokio::test(start_paused = true)]
async fn a_client_that_stops_reading_is_closed_at_the_send_deadline() {
    const SEGMENT: usize = 32 << 20;
    let (addr, _) = start(songs(1, SEGMENT), Config::default()).await;
    let mut client = Client::open_with_receive_buffer(addr, 24 << 10).await;
    client
        .send(1, Message::GetSegment { song: 3, index: 0 })
        .await;
    tokio::time::sleep(Config::default().send_timeout + Duration::from_secs(1)).await;
    // What the buffers held, then the end: the rest of the segment never came.
    let got = client.read_to_close().await;
    assert!(got < SEGMENT / 2, "{got} bytes of {SEGMENT}");
}

#[tokio::test(start_paused = true)]
async fn a_half_closed_client_that_stops_reading_is_closed_sooner() {
    const SEGMENT: usize = 32 << 20;
    let (addr, _) = start(songs(1, SEGMENT), Config::default()).await;
    let mut client = Client::open_with_receive_buffer(addr, 24 << 10).await;
    client
        .send(1, Message::GetSegment { song: 3, index: 0 })
        .await;
    client.shutdown_write().await;
    let fin = Config::default().fin_timeout;
    assert!(fin + Duration::from_secs(1) < Config::default().send_timeout);
    tokio::time::sleep(fin + Duration::from_secs(1)).await;
    let got = client.read_to_close().await;
    assert!(got < SEGMENT / 2, "{got} bytes of {SEGMENT}");
}

#[tokio::test(start_paused = true)]
async fn a_half_closed_client_that_reads_gets_everything() {
    const SEGMENT: usize = 4 << 20;
    let (addr, _) = start(songs(1, SEGMENT), Config::default()).await;
    let mut client = Client::connect(addr).await;
    client.send(0, Message::Hello { version: VERSION }).await;
    client
        .send(1, Message::GetSegment { song: 3, index: 0 })
        .await;
    client.shutdown_write().await;
    let welcome = client.recv().await.unwrap();
    assert!(matches!(welcome.message, Message::Welcome { .. }));
    let got = client.collect(1).await.len();
    assert_eq!(got, SEGMENT);
    assert_eq!(client.recv().await, None, "closed once everything was sent");
}
