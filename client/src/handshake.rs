//! Opening a connection: TCP connect, HELLO, and telling a Jukebox server from anything else.

use std::time::Duration;

use bytes::BytesMut;
use jukebox_protocol::{
    decode_frame, encode_frame, ErrorCode, Frame, Message, ServerInfo, VERSION,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::{ClientError, Result};

/// Connects to `addr` and completes the HELLO/WELCOME exchange, all within `deadline`: the TCP
/// connect succeeds even when the server process is stopped (the kernel completes it), so only
/// the answer to HELLO tells that it is there. Returns the stream, any bytes that arrived after
/// the WELCOME (they belong to the next frames) and the server information, checked.
///
/// A peer that closes or resets the connection before answering anything is a connection
/// failure, not a foreign peer: a load balancer in front of servers that are all down, or
/// restarting, does exactly that, and another attempt may find one.
pub async fn handshake(addr: &str, deadline: Duration) -> Result<Handshake> {
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
        Message::Welcome { version, info } if version == VERSION => {
            let info = ServerInfo::from_json(&info).map_err(|e| {
                ClientError::Protocol(format!("invalid server information from {addr}: {e}"))
            })?;
            Ok(Handshake { stream, buf, info })
        }
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

/// An open connection whose server answered HELLO with WELCOME.
pub struct Handshake {
    pub stream: TcpStream,
    /// Bytes received after the WELCOME.
    pub buf: BytesMut,
    /// The WELCOME's document: among others, which catalog the server serves.
    pub info: ServerInfo,
}

async fn first_frame(stream: &mut TcpStream, buf: &mut BytesMut, addr: &str) -> Result<Frame> {
    let lost = |reason: String| ClientError::Connect {
        addr: addr.to_string(),
        reason,
    };
    loop {
        match decode_frame(buf) {
            Ok(Some(frame)) => return Ok(frame),
            Ok(None) => {}
            Err(e) => return Err(not_jukebox(addr, &e.to_string())),
        }
        let n = stream.read_buf(buf).await.map_err(|e| {
            if buf.is_empty() {
                lost(format!("the connection failed before WELCOME: {e}"))
            } else {
                not_jukebox(addr, &e.to_string())
            }
        })?;
        if n == 0 && buf.is_empty() {
            return Err(lost("the connection was closed before WELCOME".into()));
        }
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
