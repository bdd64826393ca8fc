//! The async shell around one client's [`Session`]: moves bytes between the socket and the session
//! and keeps the time limits. All protocol decisions are the session's.

use std::io::{self, IoSlice, Read};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use jukebox_protocol::{ErrorCode, Frame, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep_until, timeout_at, Instant};

use crate::outgoing::OutFrame;
use crate::session::Session;
use crate::store::Store;

/// How long a new connection has to send its HELLO (or the idle timeout, if shorter).
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Client requests are at most 20 bytes, so a small read buffer holds dozens of them.
const READ_CHUNK: usize = 1024;

/// After a fatal error the server sends the ERROR, shuts down its side and reads (discarding) what
/// the client still sends, for at most this long or [`DRAIN_LIMIT`] bytes. Closing at once with
/// unread bytes would make the kernel send a reset, which can destroy the ERROR before the client
/// reads it.
const LINGER: Duration = Duration::from_secs(2);
const DRAIN_LIMIT: usize = 64 * 1024;

/// The per-connection limits from the server's configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub idle_timeout: Duration,
    pub max_queued_segments: usize,
}

/// Serves one client until it closes, fails, or breaks the protocol. Never panics on what the peer
/// does; how the connection ended is logged.
pub async fn serve(stream: TcpStream, peer: SocketAddr, store: Arc<Store>, limits: Limits) {
    tracing::debug!(%peer, "connection opened");
    match drive(stream, store, limits).await {
        Ok(()) => tracing::debug!(%peer, "connection closed"),
        Err(e) => tracing::debug!(%peer, "connection ended: {e}"),
    }
}

async fn drive(mut stream: TcpStream, store: Arc<Store>, limits: Limits) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut session = Session::new(store, limits.max_queued_segments);
    let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut out: Option<OutFrame> = None;
    let mut eof = false;
    let opened = Instant::now();
    // Last frame received or fully sent: the idle timeout counts from here.
    let mut last_activity = opened;
    let mut closing_since: Option<Instant> = None;
    let timer = sleep_until(opened + HELLO_TIMEOUT.min(limits.idle_timeout));
    tokio::pin!(timer);

    loop {
        // Take in whatever the client has sent, without waiting.
        if !eof && session.accepts_input() && rbuf.len() < READ_CHUNK {
            rbuf.reserve(READ_CHUNK);
            let mut got = match stream.try_read_buf(&mut rbuf) {
                Ok(n) => Some(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
                Err(e) => return Err(e),
            };
            if got.is_none() && out.is_none() && session.data_next() {
                // About to send DATA: look at the socket itself, since the runtime may not have
                // noticed a request that arrived during the last frame. This keeps a LIST or CANCEL
                // behind at most one DATA frame.
                got = read_arrived(&stream, &mut rbuf)?;
            }
            if got == Some(0) {
                eof = true;
            }
        }
        if session.receive(&mut rbuf) > 0 {
            last_activity = Instant::now();
        }
        if eof && session.accepts_input() && !rbuf.is_empty() {
            tracing::debug!("client closed in the middle of a frame");
            return Ok(());
        }
        if session.is_closing() && closing_since.is_none() {
            let now = Instant::now();
            closing_since = Some(now);
            timer.as_mut().reset(now + LINGER);
        }
        if out.is_none() {
            out = session.next_frame();
        }
        if out.is_none() {
            if session.is_closing() {
                break;
            }
            if eof {
                // The client closed its side and has every answer it asked for.
                return Ok(());
            }
        }

        let want_read = !eof && session.accepts_input() && rbuf.len() < READ_CHUNK;
        tokio::select! {
            biased;
            ready = stream.readable(), if want_read => ready?,
            ready = stream.writable(), if out.is_some() => {
                ready?;
                if let Some(frame) = out.as_mut() {
                    if write_some(&stream, frame)? && !frame.has_remaining() {
                        out = None;
                        last_activity = Instant::now();
                    }
                }
            }
            () = &mut timer => {
                let deadline = match closing_since {
                    Some(since) => since + LINGER,
                    None if session.awaiting_hello() => opened + HELLO_TIMEOUT.min(limits.idle_timeout),
                    None => last_activity + limits.idle_timeout,
                };
                if Instant::now() < deadline {
                    timer.as_mut().reset(deadline);
                    continue;
                }
                if closing_since.is_some() {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "client did not take its error"));
                }
                if out.is_some() || !session.is_idle() {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "client stopped reading"));
                }
                let message = if session.awaiting_hello() {
                    "no HELLO received in time".to_string()
                } else {
                    format!("no request for {} s", limits.idle_timeout.as_secs_f64())
                };
                session.fail(ErrorCode::IdleTimeout, message);
            }
        }
    }

    linger(
        &mut stream,
        closing_since.unwrap_or_else(Instant::now) + LINGER,
    )
    .await;
    Ok(())
}

/// Writes as much of `frame` as the socket takes now, header and payload in one vectored write.
/// Returns false when the socket was not ready after all.
fn write_some(stream: &TcpStream, frame: &mut OutFrame) -> io::Result<bool> {
    let mut slices = [IoSlice::new(&[]); 2];
    let count = frame.chunks_vectored(&mut slices);
    match stream.try_write_vectored(&slices[..count]) {
        Ok(0) => Err(io::ErrorKind::WriteZero.into()),
        Ok(n) => {
            frame.advance(n);
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Err(e) => Err(e),
    }
}

/// Reads straight from the (non-blocking) socket whatever has arrived, bypassing the runtime's
/// cached readiness. `None` when nothing is there.
fn read_arrived(stream: &TcpStream, rbuf: &mut BytesMut) -> io::Result<Option<usize>> {
    let mut chunk = [0u8; READ_CHUNK];
    let room = READ_CHUNK.saturating_sub(rbuf.len()).max(1);
    let socket = socket2::SockRef::from(stream);
    match (&*socket).read(&mut chunk[..room]) {
        Ok(n) => {
            rbuf.extend_from_slice(&chunk[..n]);
            Ok(Some(n))
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
        Err(e) => Err(e),
    }
}

/// Closes after a fatal error without losing the ERROR: shut down our side, then discard what the
/// client still sends until it closes too, or the deadline or byte limit is reached.
pub async fn linger(stream: &mut TcpStream, deadline: Instant) {
    if timeout_at(deadline, stream.shutdown()).await.is_err() {
        return;
    }
    let mut sink = [0u8; 1024];
    let mut drained = 0;
    while drained < DRAIN_LIMIT {
        match timeout_at(deadline, stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => return,
        }
    }
}

/// Turns away a connection beyond the server's limit: ERROR SERVER_BUSY (request ID 0), then close.
pub async fn reject_busy(mut stream: TcpStream, peer: SocketAddr) {
    let deadline = Instant::now() + LINGER;
    let mut frame = OutFrame::encode(&Frame {
        request_id: 0,
        message: Message::Error {
            code: ErrorCode::ServerBusy,
            message: "the server is at its connection limit; try again later".into(),
        },
    });
    let _ = stream.set_nodelay(true);
    match timeout_at(deadline, stream.write_all_buf(&mut frame)).await {
        Ok(Ok(())) => linger(&mut stream, deadline).await,
        Ok(Err(e)) => tracing::debug!(%peer, "could not send SERVER_BUSY: {e}"),
        Err(_) => tracing::debug!(%peer, "could not send SERVER_BUSY in time"),
    }
}
