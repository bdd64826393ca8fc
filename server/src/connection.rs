//! The async shell around one client's [`Session`]: moves bytes between the socket and the session
//! and keeps the time limits, and reads the catalog segments the session asks for. All protocol
//! decisions are the session's.

use std::collections::{HashMap, VecDeque};
use std::io::{self, IoSlice, Read};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use jukebox_protocol::{ErrorCode, Frame, Message, HEADER_LEN, MAX_REQUEST_PAYLOAD};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::{sleep_until, timeout_at, Instant};

use crate::backlog::Backlog;
use crate::outgoing::OutFrame;
use crate::session::{Session, Ticket};
use crate::store::Store;

/// How long a new connection has to send its HELLO (or the idle timeout, if shorter).
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Holds the largest request a client may send (a LIST with its search), or dozens of small ones.
const READ_CHUNK: usize = HEADER_LEN + MAX_REQUEST_PAYLOAD as usize;

/// After a fatal error the server sends the ERROR, shuts down its side and reads (discarding) what
/// the client still sends, for at most this long or [`DRAIN_LIMIT`] bytes. Closing at once with
/// unread bytes would make the kernel send a reset, which can destroy the ERROR before the client
/// reads it.
const LINGER: Duration = Duration::from_secs(2);
const DRAIN_LIMIT: usize = 64 * 1024;

/// How often a slow client's socket is looked at while the kernel holds more unsent bytes than
/// [`Limits::notsent_lowat`]. The kernel applies the mark to readiness, not to writes, so a server
/// that writes whenever a write succeeds can still queue far more than the mark.
const SLOW_PACE: Duration = Duration::from_millis(5);

/// Most frames gathered into one vectored write (see `Config::data_frames_per_write`).
pub const MAX_FRAMES_PER_WRITE: usize = 8;

/// The per-connection limits and socket settings from the server's configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub idle_timeout: Duration,
    pub max_queued_segments: usize,
    pub notsent_lowat: Option<u32>,
    /// 1 to [`MAX_FRAMES_PER_WRITE`].
    pub data_frames_per_write: usize,
}

/// When the server drains (SIGTERM): the moment every connection is closed at the latest. Each
/// connection sends GOAWAY as soon as it sees one, and closes when its client has closed its side
/// and has its answers, or at that moment.
pub type Drain = tokio::sync::watch::Receiver<Option<Instant>>;

/// Serves one client until it closes, fails, or breaks the protocol. Never panics on what the peer
/// does; how the connection ended is logged.
pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    store: Arc<Store>,
    limits: Limits,
    drain: Drain,
) {
    tracing::debug!(%peer, "connection opened");
    match drive(stream, store, limits, drain).await {
        Ok(()) => tracing::debug!(%peer, "connection closed"),
        Err(e) => tracing::debug!(%peer, "connection ended: {e}"),
    }
}

async fn drive(
    mut stream: TcpStream,
    store: Arc<Store>,
    limits: Limits,
    mut drain: Drain,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    if let Some(lowat) = limits.notsent_lowat {
        socket2::SockRef::from(&stream).set_tcp_notsent_lowat(lowat)?;
    }
    let mut session = Session::new(store.clone(), limits.max_queued_segments);
    let mut reads = Reads::default();
    let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
    // The frames of the write under way (one, unless `data_frames_per_write` says otherwise).
    let mut out: VecDeque<OutFrame> = VecDeque::with_capacity(limits.data_frames_per_write);
    // The kernel holds the tail of the last write back for the next one (MSG_MORE): see write_some.
    let mut corked = false;
    let mut backlog = Backlog::default();
    // While set, a slow client's socket holds enough: no write before this time.
    let mut pace: Option<Instant> = None;
    let mut eof = false;
    let opened = Instant::now();
    // Last frame received or fully sent: the idle timeout counts from here.
    let mut last_activity = opened;
    let mut closing_since: Option<Instant> = None;
    let timer = sleep_until(opened + HELLO_TIMEOUT.min(limits.idle_timeout));
    tokio::pin!(timer);
    // Set once the server drains: the connection closes then at the latest.
    let mut gone_by: Option<Instant> = None;
    let mut drain_open = true;

    loop {
        if gone_by.is_none() {
            if let Some(deadline) = *drain.borrow_and_update() {
                gone_by = Some(deadline);
                let within = deadline.saturating_duration_since(Instant::now());
                let within_ms = u32::try_from(within.as_millis()).unwrap_or(u32::MAX);
                session.go_away(within_ms, "the server is shutting down; connect again");
            }
        }
        // Take in whatever the client has sent, without waiting.
        if !eof && session.accepts_input() && rbuf.len() < READ_CHUNK {
            let room = READ_CHUNK - rbuf.len();
            let got = if out.is_empty() && session.data_next() {
                // About to send DATA: look at the socket itself, since the runtime may not have
                // noticed a request that arrived during the last frame. This keeps a LIST or CANCEL
                // behind at most one DATA frame.
                read_arrived(&stream, &mut rbuf, room)?
            } else {
                rbuf.reserve(room);
                match stream.try_read_buf(&mut rbuf) {
                    Ok(n) => Some(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
                    Err(e) => return Err(e),
                }
            };
            match got {
                Some(0) => eof = true,
                // A read that did not fill the room took everything there was: tell the runtime,
                // so that waiting for the next request does not begin with a read that finds
                // nothing. New bytes raise a new readiness event, so none is missed.
                Some(n) if n < room => forget_readable(&stream),
                _ => {}
            }
        }
        if session.receive(&mut rbuf) > 0 {
            last_activity = Instant::now();
        }
        reads.dispatch(&mut session, &store);
        if eof && session.accepts_input() && !rbuf.is_empty() {
            tracing::debug!("client closed in the middle of a frame");
            return Ok(());
        }
        if session.is_closing() && closing_since.is_none() {
            let now = Instant::now();
            closing_since = Some(now);
            timer.as_mut().reset(now + LINGER);
        }
        if out.is_empty() {
            let max_data = backlog.data_payload();
            out.extend(session.next_frame_within(max_data));
            while out.len() < limits.data_frames_per_write && session.data_next() {
                out.extend(session.next_frame_within(max_data));
            }
        }
        if out.is_empty() && corked {
            // The transfer that was to continue was cancelled: send what the kernel holds back.
            uncork(&stream)?;
            corked = false;
        }
        if out.is_empty() {
            if session.is_closing() {
                break;
            }
            if eof && session.is_idle() {
                // The client closed its side and has every answer it asked for.
                return Ok(());
            }
        }

        let want_read = !eof && session.accepts_input() && rbuf.len() < READ_CHUNK;
        tokio::select! {
            biased;
            () = sleep_until(gone_by.unwrap_or(opened)), if gone_by.is_some() => {
                // The drain time is over: what is not sent is lost, as at any close.
                return Err(io::Error::new(io::ErrorKind::TimedOut, "closed at the end of the drain"));
            }
            changed = drain.changed(), if gone_by.is_none() && drain_open => {
                // A server gone without draining sends nothing more.
                drain_open = changed.is_ok();
            }
            ready = stream.readable(), if want_read => ready?,
            () = sleep_until(pace.unwrap_or(opened)), if pace.is_some() => pace = None,
            Some(done) = reads.tasks.join_next_with_id(), if !reads.tasks.is_empty() => {
                reads.finished(&mut session, done);
            }
            ready = stream.writable(), if !out.is_empty() && pace.is_none() => {
                ready?;
                if backlog.is_slow() && over_lowat(&stream, limits.notsent_lowat)? {
                    // A slow client: the kernel still holds more unsent bytes than the low-water
                    // mark, though it took the last write. Look again shortly instead of queueing
                    // more for a control response to wait behind.
                    if corked {
                        uncork(&stream)?;
                        corked = false;
                    }
                    backlog.refused();
                    pace = Some(Instant::now() + SLOW_PACE);
                    continue;
                }
                // Not for a slow client: held-back bytes would count as unsent in over_lowat.
                let more = !backlog.is_slow() && out.back().is_some_and(OutFrame::continues_segment);
                if write_some(&stream, &mut out, more)? {
                    corked = more;
                    if out.is_empty() {
                        last_activity = Instant::now();
                        backlog.sent_frame();
                    }
                } else {
                    backlog.refused();
                    if corked {
                        // The socket is full: what is held back must go for room to come.
                        uncork(&stream)?;
                        corked = false;
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
                if out.is_empty() && !reads.tasks.is_empty() && !session.is_idle() && !session.data_next() {
                    // Nothing to send until a segment is read from disk: the wait is the server's,
                    // not the client's, and a transfer is in progress.
                    last_activity = Instant::now();
                    timer.as_mut().reset(last_activity + limits.idle_timeout);
                    continue;
                }
                if !out.is_empty() || !session.is_idle() {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "client stopped reading"));
                }
                let message = if session.awaiting_hello() {
                    "no HELLO received in time".to_string()
                } else {
                    format!("no request for {} s", limits.idle_timeout.as_secs_f64())
                };
                session.fail(ErrorCode::IdleTimeout, message);
                reads.dispatch(&mut session, &store);
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

/// What a read task hands back.
type ReadResult = Result<bytes::Bytes, crate::store::ReadFailed>;

/// The catalog segment reads of one connection: each runs as a task of its own, so that the
/// connection goes on answering requests meanwhile, and is aborted when no longer wanted.
#[derive(Default)]
struct Reads {
    tasks: JoinSet<ReadResult>,
    /// The ticket of each running task, and how to abort it.
    running: HashMap<Ticket, AbortHandle>,
    tickets: HashMap<tokio::task::Id, Ticket>,
}

impl Reads {
    /// Hands a finished read to the session. A task that panicked is its request's ERROR INTERNAL,
    /// like a failed read; an aborted one (its transfer was cancelled) has nothing to hand back.
    fn finished(
        &mut self,
        session: &mut Session,
        done: Result<(tokio::task::Id, ReadResult), tokio::task::JoinError>,
    ) {
        let (task, result) = match done {
            Ok((task, result)) => (task, result.map_err(|e| e.to_string())),
            Err(e) if e.is_cancelled() => {
                self.tickets.remove(&e.id());
                return;
            }
            Err(e) => {
                tracing::warn!("a catalog segment read failed: {e}");
                (e.id(), Err("the segment read failed".to_string()))
            }
        };
        if let Some(ticket) = self.tickets.remove(&task) {
            self.running.remove(&ticket);
            session.segment_read(ticket, result);
        }
    }

    /// Drops the reads the session no longer wants, and answers the new ones: at once from the
    /// cache, else by starting a read.
    fn dispatch(&mut self, session: &mut Session, store: &Arc<Store>) {
        for ticket in session.take_abandoned() {
            if let Some(read) = self.running.remove(&ticket) {
                // Its id stays in `tickets` until the join reports the abort.
                read.abort();
            }
        }
        let mut ready = Vec::new();
        for read in session.take_reads() {
            match store.cached(read.song, read.index) {
                Some(bytes) => ready.push((read.ticket, bytes)),
                None => {
                    let store = store.clone();
                    let task = self
                        .tasks
                        .spawn(async move { store.read(read.song, read.index).await });
                    self.tickets.insert(task.id(), read.ticket);
                    self.running.insert(read.ticket, task);
                }
            }
        }
        for (ticket, bytes) in ready {
            session.segment_read(ticket, Ok(bytes));
        }
    }
}

/// Writes as much of `out` as the socket takes now, headers and payloads in one vectored write,
/// and drops the frames written whole. Returns false when the socket was not ready after all.
///
/// With `more` (the last frame is DATA and the next DATA frame of its segment follows), the write
/// carries MSG_MORE: the kernel keeps the bytes that do not fill a packet until the next write, so
/// the frames of a segment, still written one at a time with a check for requests in between, leave
/// in as few packets as if written together. The next write without MSG_MORE, or [`uncork`],
/// sends them.
fn write_some(stream: &TcpStream, out: &mut VecDeque<OutFrame>, more: bool) -> io::Result<bool> {
    let written = {
        let mut slices = [IoSlice::new(&[]); 2 * MAX_FRAMES_PER_WRITE];
        let mut count = 0;
        for frame in out.iter() {
            count += frame.chunks_vectored(&mut slices[count..]);
        }
        let slices = &slices[..count];
        let result = if more {
            stream.try_io(Interest::WRITABLE, || {
                socket2::SockRef::from(stream).send_vectored_with_flags(slices, libc::MSG_MORE)
            })
        } else {
            stream.try_write_vectored(slices)
        };
        match result {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    };
    let mut left = written;
    while let Some(frame) = out.front_mut() {
        let remaining = frame.remaining();
        if left < remaining {
            frame.advance(left);
            break;
        }
        left -= remaining;
        out.pop_front();
    }
    Ok(true)
}

/// Reads straight from the (non-blocking) socket whatever has arrived, at most `room` bytes,
/// bypassing the runtime's cached readiness. `None` when nothing is there.
fn read_arrived(stream: &TcpStream, rbuf: &mut BytesMut, room: usize) -> io::Result<Option<usize>> {
    let mut chunk = [0u8; READ_CHUNK];
    let room = room.clamp(1, READ_CHUNK);
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

/// True when the kernel holds at least `lowat` bytes of this socket not yet sent.
fn over_lowat(stream: &TcpStream, lowat: Option<u32>) -> io::Result<bool> {
    match lowat {
        Some(lowat) => Ok(unsent(stream)? >= lowat),
        None => Ok(false),
    }
}

/// Bytes written to the socket that the kernel has not sent yet.
#[cfg(target_os = "linux")]
fn unsent(stream: &TcpStream) -> io::Result<u32> {
    use std::os::fd::AsRawFd;
    let mut bytes: libc::c_int = 0;
    // SAFETY: SIOCOUTQNSD stores one int through the pointer, which is valid for the call.
    let rc = unsafe { libc::ioctl(stream.as_raw_fd(), libc::SIOCOUTQNSD as _, &mut bytes) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(bytes.max(0) as u32)
}

/// Elsewhere only the kernel's own use of the low-water mark applies.
#[cfg(not(target_os = "linux"))]
fn unsent(_: &TcpStream) -> io::Result<u32> {
    Ok(0)
}

/// Sends at once whatever a write with MSG_MORE left held back (setting TCP_NODELAY pushes it).
fn uncork(stream: &TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)
}

/// Clears the runtime's record that the socket is readable, without a system call.
fn forget_readable(stream: &TcpStream) {
    let _ = stream.try_io(Interest::READABLE, || {
        Err::<(), _>(io::Error::from(io::ErrorKind::WouldBlock))
    });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_songs::on_disk;
    use bytes::{Bytes, BytesMut};
    use jukebox_protocol::{decode_frame, encode_frame, VERSION};

    fn feed(session: &mut Session, frames: &[Frame]) {
        let mut buf = BytesMut::new();
        for frame in frames {
            encode_frame(frame, &mut buf);
        }
        session.receive(&mut buf);
    }

    fn sent(session: &mut Session) -> Vec<Frame> {
        let mut frames = Vec::new();
        while let Some(mut out) = session.next_frame() {
            let mut bytes = BytesMut::new();
            while out.has_remaining() {
                bytes.extend_from_slice(out.chunk());
                out.advance(out.chunk().len());
            }
            frames.push(decode_frame(&mut bytes).unwrap().unwrap());
        }
        frames
    }

    /// A session with two catalog segments asked for (requests 1 and 2), their reads spawned as
    /// `tasks` would be by `dispatch`, one that panics and one that returns `bytes`.
    async fn two_reads(bytes: &'static [u8]) -> (Session, Reads, Arc<Store>) {
        let store = Arc::new(Store::new(vec![on_disk(5, &[10, 10])]));
        let mut session = Session::new(store.clone(), 4);
        feed(
            &mut session,
            &[
                Frame {
                    request_id: 0,
                    message: Message::Hello { version: VERSION },
                },
                Frame {
                    request_id: 1,
                    message: Message::GetSegment { song: 5, index: 0 },
                },
                Frame {
                    request_id: 2,
                    message: Message::GetSegment { song: 5, index: 1 },
                },
            ],
        );
        assert!(matches!(
            sent(&mut session)[..],
            [Frame {
                message: Message::Welcome { .. },
                ..
            }]
        ));
        let mut reads = Reads::default();
        let asked: Vec<_> = session.take_reads().collect();
        for (read, panics) in asked.into_iter().zip([true, false]) {
            let task = reads.tasks.spawn(async move {
                if panics {
                    panic!("a read task panicked");
                }
                Ok(Bytes::from_static(bytes))
            });
            reads.tickets.insert(task.id(), read.ticket);
            reads.running.insert(read.ticket, task);
        }
        (session, reads, store)
    }

    #[tokio::test]
    async fn a_read_task_that_panics_is_its_requests_internal_error() {
        let (mut session, mut reads, _) = two_reads(b"second!!!!").await;
        while let Some(done) = reads.tasks.join_next_with_id().await {
            reads.finished(&mut session, done);
        }
        assert!(reads.running.is_empty() && reads.tickets.is_empty());
        let out = sent(&mut session);
        let error = out
            .iter()
            .find(|f| f.request_id == 1)
            .expect("request 1 is answered");
        assert!(
            matches!(
                error.message,
                Message::Error {
                    code: ErrorCode::Internal,
                    ..
                }
            ),
            "{error:?}"
        );
        let data: Vec<u8> = out
            .iter()
            .filter(|f| f.request_id == 2)
            .flat_map(|f| match &f.message {
                Message::Data { bytes, .. } => bytes.to_vec(),
                other => panic!("expected DATA, got {other:?}"),
            })
            .collect();
        assert_eq!(data, b"second!!!!", "the transfer behind it goes on");
        assert!(session.is_idle() && !session.is_closing());
    }

    #[tokio::test]
    async fn an_aborted_read_hands_back_nothing() {
        let (mut session, mut reads, store) = two_reads(b"second!!!!").await;
        feed(
            &mut session,
            &[Frame {
                request_id: 1,
                message: Message::Cancel,
            }],
        );
        // Request 1's read is aborted before it runs: it panics never, and reports nothing.
        reads.dispatch(&mut session, &store);
        while let Some(done) = reads.tasks.join_next_with_id().await {
            reads.finished(&mut session, done);
        }
        assert!(reads.tickets.is_empty());
        let out = sent(&mut session);
        assert!(out.iter().all(|f| f.request_id == 2), "{out:?}");
    }
}
