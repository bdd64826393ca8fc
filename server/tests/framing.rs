//! Frames that break the wire format end the connection with the matching error.

mod common;

use bytes::BytesMut;
use common::start_default;
use jukebox_protocol::{encode_frame, ErrorCode, Frame, Message};
use jukebox_test_kit::wire::Client;

fn list(request_id: u32) -> BytesMut {
    let mut buf = BytesMut::new();
    encode_frame(
        &Frame {
            request_id,
            message: Message::list_all(),
        },
        &mut buf,
    );
    buf
}

async fn send_after_hello(bytes: &[u8]) -> Client {
    let (addr, _) = start_default().await;
    let mut client = Client::open(addr).await;
    client.send_raw(bytes).await;
    client
}

#[tokio::test]
async fn reserved_bits_are_malformed() {
    let mut frame = list(1);
    frame[7] = 0x80;
    let mut client = send_after_hello(&frame).await;
    client.expect_fatal(ErrorCode::MalformedFrame).await;
}

#[tokio::test]
async fn wrong_payload_size_is_malformed() {
    // A GET_SEGMENT carries 8 bytes; this one carries 5.
    let mut frame = BytesMut::from(&[0, 0, 0, 5, 0x07, 0, 0, 0, 0, 0, 0, 1][..]);
    frame.extend_from_slice(&[0; 5]);
    let mut client = send_after_hello(&frame).await;
    client.expect_fatal(ErrorCode::MalformedFrame).await;
}

#[tokio::test]
async fn bad_magic_is_malformed() {
    let (addr, _) = start_default().await;
    let mut client = Client::connect(addr).await;
    client
        .send_raw(&[
            0, 0, 0, 6, 0x01, 0, 0, 0, 0, 0, 0, 0, b'J', b'K', b'B', b'Y', 0, 1,
        ])
        .await;
    client.expect_fatal(ErrorCode::MalformedFrame).await;
}

#[tokio::test]
async fn oversize_length_is_too_large() {
    // Announces 2 MiB; the error comes from the header alone.
    let mut client = send_after_hello(&[0, 0x20, 0, 0, 0x03, 0, 0, 0, 0, 0, 0, 1]).await;
    client.expect_fatal(ErrorCode::FrameTooLarge).await;
}

#[tokio::test]
async fn unknown_type_is_refused() {
    let mut frame = list(1);
    frame[4] = 0x42;
    let mut client = send_after_hello(&frame).await;
    client.expect_fatal(ErrorCode::UnknownType).await;
}

#[tokio::test]
async fn error_arrives_even_when_the_client_keeps_sending() {
    // Garbage followed by more bytes the server never reads as frames: the ERROR must still
    // arrive before the close, not be lost to a connection reset.
    let mut bytes = list(1);
    bytes[6] = 1;
    bytes.extend_from_slice(&[0xAB; 4000]);
    let mut client = send_after_hello(&bytes).await;
    client.expect_fatal(ErrorCode::MalformedFrame).await;
}

#[tokio::test]
async fn frames_split_across_writes_are_reassembled() {
    let (addr, _) = start_default().await;
    let mut client = Client::open(addr).await;
    let frame = list(9);
    for byte in frame.iter() {
        client.send_raw(&[*byte]).await;
    }
    let answer = client.recv().await.unwrap();
    assert_eq!(answer.request_id, 9);
    assert!(matches!(answer.message, Message::Page(_)));
}
