//! Opening a connection: TCP connect, HELLO, and telling a Jukebox server from anything else.

use std::time::Duration;

use bytes::BytesMut;
use jukebox_protocol::{decode_frame, encode_frame, ErrorCode, Frame, Message, VERSION};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::{ClientError, Result};

/// Connects to `addr` and completes the HELLO/WELCOME exchange, all within `deadline`: the TCP
/// connect succeeds even when the server process is stopped (the kernel completes it), so only
/// the answer to HELLO tells that it is there. Returns the stream and any bytes that arrived
/// after the WELCOME, which belong to the next frames.
pub async fn handshake(addr: &str, deadline: Duration) -> Result<(TcpStream, BytesMut)> {
    let connect_error = |e: std::io::Error| ClientError::Connect {
        addr: addr.to_string(),
        reason: e.to_string(),
    };
    let deadline_at = tokio::time::Instant::now() + deadline;
    let mut stream = tokio::time::timeout_at(deadline_at, TcpStream::connect(addr))
        .await
        .map_err(|_| connect_error(std::io::ErrorKind::TimedOut.into()))?
        .map_err(connect_error)?;
    let _ = stream.set_nodelay(true);
    let mut out = BytesMut::new();
    encode_frame(
        &Frame {
            request_id: 0,
            message: Message::Hello { version: VERSION },
        },
        &mut out,
    );
    stream.write_all(&out).await.map_err(connect_error)?;
    let mut buf = BytesMut::with_capacity(4096);
    let frame = tokio::time::timeout_at(deadline_at, first_frame(&mut stream, &mut buf, addr))
        .await
        .map_err(|_| ClientError::Timeout {
            what: format!("HELLO at {addr}"),
            after: deadline,
        })??;
    if frame.request_id != 0 {
        // The handshake frames carry request ID 0; anything else answers no HELLO.
        return Err(not_jukebox(
            addr,
            &format!(
                "it answered HELLO with {} for request {}",
                frame.message.kind().name(),
                frame.request_id
            ),
        ));
    }
    match frame.message {
        Message::Welcome { version, .. } if version == VERSION => Ok((stream, buf)),
        Message::Welcome { version, .. } => Err(ClientError::UnsupportedVersion {
            addr: addr.to_string(),
            version: VERSION,
            message: format!("it answered with version {version}"),
        }),
        Message::Error {
            code: ErrorCode::UnsupportedVersion,
            message,
        } => Err(ClientError::UnsupportedVersion {
            addr: addr.to_string(),
            version: VERSION,
            message,
        }),
        Message::Error { code, message } => Err(ClientError::Server { code, message }),
        other => Err(not_jukebox(
            addr,
            &format!("it answered HELLO with {}", other.kind().name()),
        )),
    }
}

async fn first_frame(stream: &mut TcpStream, buf: &mut BytesMut, addr: &str) -> Result<Frame> {
    loop {
        match decode_frame(buf) {
            Ok(Some(frame)) => return Ok(frame),
            Ok(None) => {}
            Err(e) => return Err(not_jukebox(addr, &e.to_string())),
        }
        let n = stream
            .read_buf(buf)
            .await
            .map_err(|e| not_jukebox(addr, &e.to_string()))?;
        if n == 0 {
            return Err(not_jukebox(
                addr,
                "it closed the connection during the handshake",
            ));
        }
    }
}

fn not_jukebox(addr: &str, reason: &str) -> ClientError {
    ClientError::NotJukebox {
        addr: addr.to_string(),
        reason: reason.to_string(),
    }
}
