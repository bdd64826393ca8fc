//! The client's connection against a scripted peer: handshake outcomes, request routing, cancel,
//! stale frames, server errors and reconnecting.

mod common;

use bytes::Bytes;
use jukebox_client::{Client, ClientError, Connection};
use jukebox_protocol::{ErrorCode, ListRequest, Manifest, Message, Page, SegmentInfo, SongSummary};
use jukebox_test_kit::songs::{self, segment_info};
use jukebox_test_kit::wire::{listen, Peer};
use jukebox_test_kit::{within, PATIENCE};

fn catalog() -> Page {
    Page {
        total: 1,
        next: None,
        songs: vec![SongSummary {
            id: 1,
            title: "One".into(),
            artist: String::new(),
            album: String::new(),
            duration_ms: 2000,
            segments: 1,
        }],
    }
}

fn catalog_message() -> Message {
    Message::Page(catalog().to_json().into())
}

fn data(bytes: &'static [u8], end: bool) -> Message {
    Message::Data {
        end,
        bytes: Bytes::from_static(bytes),
    }
}

#[tokio::test]
async fn a_list_is_answered_while_a_segment_is_in_flight() {
    let (listener, addr) = listen().await;
    let (started, segment_started) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(async move {
        let mut peer = Peer::accept(&listener).await;
        let get = peer.recv().await.unwrap();
        assert_eq!(get.message, Message::GetSegment { song: 1, index: 0 });
        assert_ne!(get.request_id, 0);
        peer.send(get.request_id, data(b"abc", false)).await;
        started.send(()).unwrap();
        // The LIST comes while the segment is still open; answer it first.
        let list = peer.recv().await.unwrap();
        assert_eq!(list.message, Message::list_all());
        assert!(list.request_id > get.request_id, "ids count up");
        peer.send(list.request_id, catalog_message()).await;
        peer.send(get.request_id, data(b"def", true)).await;
        peer
    });
    let connection = within(Connection::connect(&addr)).await.unwrap();
    let segment = tokio::spawn({
        let connection = connection.clone();
        async move { connection.get_segment(1, 0, 6).await }
    });
    within(segment_started).await.unwrap();
    // The list completes although the segment cannot until the catalog has been sent.
    assert_eq!(
        within(connection.list(&ListRequest::default()))
            .await
            .unwrap(),
        catalog()
    );
    assert_eq!(&within(segment).await.unwrap().unwrap()[..], b"abcdef");
    assert_eq!(connection.stale_frames(), 0);
    drop(within(server).await.unwrap());
}

#[tokio::test]
async fn dropping_a_segment_request_cancels_it_and_late_frames_are_discarded() {
    let (listener, addr) = listen().await;
    let (got_request, request_seen) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(async move {
        let mut peer = Peer::accept(&listener).await;
        let get = peer.recv().await.unwrap();
        got_request.send(()).unwrap();
        let cancel = peer.recv().await.unwrap();
        assert_eq!(cancel.message, Message::Cancel);
        assert_eq!(cancel.request_id, get.request_id);
        // Frames that were already on the way when the CANCEL arrived.
        peer.send(get.request_id, data(b"late", false)).await;
        peer.send(get.request_id, data(b"late", true)).await;
        let list = peer.recv().await.unwrap();
        peer.send(list.request_id, catalog_message()).await;
        peer
    });
    let connection = within(Connection::connect(&addr)).await.unwrap();
    let segment = tokio::spawn({
        let connection = connection.clone();
        async move { connection.get_segment(1, 0, 6).await }
    });
    within(request_seen).await.unwrap();
    segment.abort();
    assert!(within(segment).await.unwrap_err().is_cancelled());
    // Frames arrive in order, so both stale DATA frames are counted before the catalog.
    assert_eq!(
        within(connection.list(&ListRequest::default()))
            .await
            .unwrap(),
        catalog()
    );
    assert_eq!(connection.stale_frames(), 2);
    drop(within(server).await.unwrap());
}

#[tokio::test]
async fn server_errors_become_typed_errors_and_the_connection_goes_on() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut peer = Peer::accept(&listener).await;
        for code in [ErrorCode::UnknownSong, ErrorCode::SegmentOutOfRange] {
            let request = peer.recv().await.unwrap();
            let message = Message::Error {
                code,
                message: "no".into(),
            };
            peer.send(request.request_id, message).await;
        }
        let list = peer.recv().await.unwrap();
        peer.send(list.request_id, catalog_message()).await;
        peer
    });
    let connection = within(Connection::connect(&addr)).await.unwrap();
    let error = within(connection.get_manifest(42)).await.unwrap_err();
    assert!(matches!(error, ClientError::UnknownSong(42)), "{error:?}");
    assert_eq!(error.to_string(), "unknown song 42");
    let error = within(connection.get_segment(1, 9, 6)).await.unwrap_err();
    assert!(
        matches!(error, ClientError::SegmentOutOfRange { song: 1, index: 9 }),
        "{error:?}"
    );
    assert_eq!(
        within(connection.list(&ListRequest::default()))
            .await
            .unwrap(),
        catalog()
    );
    drop(within(server).await.unwrap());
}

#[tokio::test]
async fn an_unsupported_version_is_reported_clearly() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut peer = Peer::accept_raw(&listener).await;
        peer.recv().await.unwrap();
        let message = Message::Error {
            code: ErrorCode::UnsupportedVersion,
            message: "this server speaks version 2".into(),
        };
        peer.send(0, message).await;
    });
    let error = within(Connection::connect(&addr)).await.err().unwrap();
    assert!(
        matches!(error, ClientError::UnsupportedVersion { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("version 2"), "{error}");
    within(server).await.unwrap();
}

#[tokio::test]
async fn a_peer_that_is_not_a_jukebox_server_is_recognised() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut peer = Peer::accept_raw(&listener).await;
        peer.send_raw(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            .await;
    });
    let error = within(Connection::connect(&addr)).await.err().unwrap();
    assert!(matches!(error, ClientError::NotJukebox { .. }), "{error:?}");
    within(server).await.unwrap();
}

#[tokio::test]
async fn a_welcome_with_a_request_id_is_not_a_handshake() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut peer = Peer::accept_raw(&listener).await;
        peer.recv().await.unwrap();
        peer.send(
            5,
            Message::Welcome {
                version: jukebox_protocol::VERSION,
                info: Bytes::from_static(b"{}"),
            },
        )
        .await;
        peer
    });
    let error = within(Connection::connect(&addr)).await.err().unwrap();
    assert!(matches!(error, ClientError::NotJukebox { .. }), "{error:?}");
    drop(within(server).await.unwrap());
}

#[tokio::test]
async fn after_the_server_closes_the_next_command_reconnects() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut first = Peer::accept(&listener).await;
        let idle = Message::Error {
            code: ErrorCode::IdleTimeout,
            message: "idle for 300 s".into(),
        };
        first.send(0, idle).await;
        drop(first);
        let mut second = Peer::accept(&listener).await;
        let list = second.recv().await.unwrap();
        second.send(list.request_id, catalog_message()).await;
        second
    });
    let client = within(Client::connect(addr)).await.unwrap();
    let first = within(client.connection()).await.unwrap();
    // Wait until the close has been seen: a request on the old connection fails with the reason.
    let error = within(first.list(&ListRequest::default()))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("IDLE_TIMEOUT"), "{error}");
    assert!(first.is_closed());
    let second = within(client.connection()).await.unwrap();
    assert_eq!(
        within(second.list(&ListRequest::default())).await.unwrap(),
        catalog()
    );
    drop(within(server).await.unwrap());
}

#[tokio::test]
async fn a_segment_longer_than_the_manifest_says_is_cancelled_at_once() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut peer = Peer::accept(&listener).await;
        let get = peer.recv().await.unwrap();
        // Four bytes of a three-byte segment, and no END: a faulty server might never send one.
        peer.send(get.request_id, data(b"abcd", false)).await;
        let cancel = peer.recv().await.unwrap();
        assert_eq!(cancel.message, Message::Cancel);
        assert_eq!(cancel.request_id, get.request_id);
        peer
    });
    let connection = within(Connection::connect(&addr)).await.unwrap();
    let error = within(connection.get_segment(1, 0, 3)).await.unwrap_err();
    assert!(matches!(error, ClientError::Protocol(_)), "{error:?}");
    assert!(error.to_string().contains("more than 3 bytes"), "{error}");
    drop(within(server).await.unwrap());
}

#[tokio::test]
async fn a_manifest_with_a_giant_segment_is_refused() {
    let giant = SegmentInfo {
        bytes: u32::MAX,
        sha256: "0".repeat(64),
        ..segment_info(0, b"")
    };
    let manifest = Manifest {
        title: "Huge".into(),
        ..songs::manifest(1, vec![giant])
    };
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut peer = Peer::accept(&listener).await;
        let get = peer.recv().await.unwrap();
        peer.send(get.request_id, Message::Manifest(manifest.to_json().into()))
            .await;
        peer
    });
    let connection = within(Connection::connect(&addr)).await.unwrap();
    let error = within(connection.get_manifest(1)).await.unwrap_err();
    assert!(
        matches!(error, ClientError::BadManifest { song: 1, .. }),
        "{error:?}"
    );
    drop(within(server).await.unwrap());
}

#[tokio::test]
async fn dropping_the_last_handle_closes_the_connection() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut peer = Peer::accept(&listener).await;
        let list = peer.recv().await.unwrap();
        peer.send(list.request_id, catalog_message()).await;
        // The client's end of the stream, once its last handle is gone.
        peer.recv().await
    });
    let connection = within(Connection::connect(&addr)).await.unwrap();
    let clone = connection.clone();
    assert_eq!(
        within(clone.list(&ListRequest::default())).await.unwrap(),
        catalog()
    );
    drop(connection);
    drop(clone);
    let end = tokio::time::timeout(PATIENCE, server).await;
    assert_eq!(end.expect("the client closes its end").unwrap(), None);
}

#[tokio::test]
async fn a_peer_that_closes_before_welcome_is_a_connection_failure() {
    // What a load balancer does when no server behind it is up: another attempt may work.
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut peer = Peer::accept_raw(&listener).await;
        peer.recv().await.unwrap();
    });
    let error = within(Connection::connect(&addr)).await.err().unwrap();
    assert!(matches!(error, ClientError::Connect { .. }), "{error:?}");
    assert!(error.is_connection_problem());
    within(server).await.unwrap();
}
