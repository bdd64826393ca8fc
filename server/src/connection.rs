//! The async shell around one client's [`Session`]: a pump. It reads what has arrived, runs the
//! catalog reads the session asks for, writes what the session hands out, sleeps until the
//! session's next deadline, and reports each of these, with the time, to the session, which
//! decides everything else (see the call order in `session/mod.rs`). What is here is what only a
//! socket needs: readiness, system calls and socket options. One thing it decides alone: a socket
//! error (the client reset the connection) ends the connection at once, noticed from the kernel's
//! error event even while the session neither reads nor writes.

use std::collections::HashMap;
use std::io::{self, IoSlice, Read};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;

use socket2::SockRef;
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Instant;

use crate::session::{
    Busy, Closed, Limits, Session, Ticket, Transmit, MAX_FRAMES_PER_WRITE, READ_CHUNK,
};
use crate::store::Store;

/// When the server drains (SIGTERM): the moment by which every connection closes. A connection
/// tells its session as soon as it sees one ([`Session::handle_drain`]).
pub type Drain = tokio::sync::watch::Receiver<Option<Instant>>;

/// Serves one client until it closes, fails, or breaks the protocol. Catalog reads run on `reads`
/// (the runtime whose blocking pool reads segment files). Never panics on what the peer does; how
/// the connection ended is logged.
pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    store: Arc<Store>,
    limits: Limits,
    reads: Handle,
    drain: Drain,
) {
    tracing::debug!(%peer, "connection opened");
    let session = Session::new(store.clone(), limits, now());
    run(
        stream,
        peer,
        session,
        &store,
        limits.notsent_lowat,
        reads,
        Some(drain),
    )
    .await;
}

/// How a connection through a load balancer is admitted once its PROXY header has named the
/// client: among the sources (its address's limits), and to the reserve of connection slots as
/// a connection from that address would be (the connection holds one of `slots` already).
pub struct HeaderAdmission {
    pub sources: Arc<crate::sources::Sources>,
    pub slots: Arc<tokio::sync::Semaphore>,
    /// The last slots, kept for sources holding fewer than `reserve_per_source` (0: none).
    pub reserved: usize,
    pub reserve_per_source: usize,
}

impl HeaderAdmission {
    fn admit(
        &self,
        client: std::net::IpAddr,
    ) -> Result<crate::sources::SourceSlot, crate::sources::Refused> {
        // This connection's own slot is taken: the reserve is all that is left when fewer than
        // `reserved` are free, as the accept loop sees it before taking one.
        let reserve_only = self.reserved > 0 && self.slots.available_permits() < self.reserved;
        self.sources
            .admit_with_reserve(client, now(), reserve_only, self.reserve_per_source)
    }
}

/// Serves a connection that comes through a load balancer: first its PROXY protocol v2 header,
/// within the HELLO time, which names the client (a health check's names none: the balancer is
/// the client); then the client is admitted ([`HeaderAdmission`]), or turned away with
/// SERVER_BUSY, and served. A connection without a valid header is closed unanswered.
pub async fn serve_proxied(
    mut stream: TcpStream,
    balancer: SocketAddr,
    store: Arc<Store>,
    limits: Limits,
    reads: Handle,
    drain: Drain,
    admission: HeaderAdmission,
) {
    let deadline = Instant::now() + crate::session::HELLO_TIMEOUT.min(limits.idle_timeout);
    let peer = match crate::proxy_header::read(&mut stream, deadline).await {
        Ok(client) => client.unwrap_or(balancer),
        Err(e) => {
            tracing::info!(%balancer, "closing a connection without a valid PROXY header: {e}");
            return;
        }
    };
    match admission.admit(peer.ip()) {
        Ok(slot) => {
            serve(stream, peer, store, limits, reads, drain).await;
            drop(slot);
        }
        Err(why) => {
            tracing::debug!(%peer, "turning a connection away: {why:?}");
            reject_busy(stream, peer, store, limits, Busy::Source).await;
        }
    }
}

/// Turns a connection away: ERROR SERVER_BUSY (request ID 0), then closed as after any fatal
/// error.
pub async fn reject_busy(
    stream: TcpStream,
    peer: SocketAddr,
    store: Arc<Store>,
    limits: Limits,
    why: Busy,
) {
    let session = Session::busy(store.clone(), limits, now(), why);
    let reads = Handle::current();
    run(
        stream,
        peer,
        session,
        &store,
        limits.notsent_lowat,
        reads,
        None,
    )
    .await;
}

async fn run(
    stream: TcpStream,
    peer: SocketAddr,
    session: Session,
    store: &Arc<Store>,
    notsent_lowat: Option<u32>,
    reads: Handle,
    drain: Option<Drain>,
) {
    match drive(stream, session, store, notsent_lowat, reads, drain).await {
        Ok(why) => tracing::debug!(%peer, "connection closed: {why}"),
        Err(e) => tracing::debug!(%peer, "connection ended: {e}"),
    }
}

async fn drive(
    stream: TcpStream,
    mut session: Session,
    store: &Arc<Store>,
    notsent_lowat: Option<u32>,
    on: Handle,
    mut drain: Option<Drain>,
) -> io::Result<Closed> {
    stream.set_nodelay(true)?;
    if let Some(lowat) = notsent_lowat {
        SockRef::from(&stream).set_tcp_notsent_lowat(lowat)?;
    }
    let mut reads = Reads::new(on);
    let mut chunk = [0u8; READ_CHUNK];
    let timer = tokio::time::sleep_until(Instant::now());
    tokio::pin!(timer);

    loop {
        // The server drains: tell the session once (it sends GOAWAY and closes by the deadline).
        if let Some(deadline) = drain.as_mut().and_then(|d| *d.borrow_and_update()) {
            session.handle_drain(now(), deadline.into_std());
            drain = None;
        }
        // Take in whatever the client has sent, without waiting.
        let room = session.read_room();
        if room > 0 {
            match read_now(&stream, &mut chunk[..room], session.next_is_data())? {
                Some(0) => session.handle_eof(now()),
                Some(n) => {
                    if n < room {
                        // The read took everything there was: tell the runtime, so that waiting
                        // for the next request does not begin with a read that finds nothing. New
                        // bytes raise a new readiness event, so none is missed.
                        forget_readable(&stream);
                    }
                    session.handle_input(now(), &chunk[..n]);
                }
                None => {}
            }
        }
        reads.dispatch(&mut session, store);
        let write = loop {
            match session.poll_transmit() {
                Some(Transmit::Uncork) => uncork(&stream)?,
                Some(Transmit::Shutdown) => SockRef::from(&stream).shutdown(Shutdown::Write)?,
                Some(Transmit::Close(why)) => return Ok(why),
                write => break write,
            }
        };
        let deadline = session.poll_timeout().map(Instant::from_std);
        if let Some(deadline) = deadline {
            if timer.is_elapsed() || timer.deadline() != deadline {
                timer.as_mut().reset(deadline);
            }
        }

        tokio::select! {
            biased;
            // A reset or other error, even while the session reads nothing (the client closed its
            // side, or answers wait for it to read them) and its transfer is stalled.
            ready = stream.ready(Interest::ERROR) => {
                ready?;
                return Err(socket_error(&stream));
            }
            ready = stream.readable(), if session.read_room() > 0 => ready?,
            changed = async { drain.as_mut()?.changed().await.ok() }, if drain.is_some() => {
                // A server gone without draining sends nothing more.
                if changed.is_none() {
                    drain = None;
                }
            }
            Some(done) = reads.tasks.join_next_with_id(), if !reads.tasks.is_empty() => {
                reads.finished(&mut session, done);
            }
            ready = stream.writable(), if write.is_some() => {
                ready?;
                match write {
                    Some(Transmit::CheckRoom) => match has_room(&stream) {
                        Ok(()) => session.handle_room(),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            session.handle_write_refused();
                        }
                        Err(e) => return Err(e),
                    },
                    Some(Transmit::Write { more }) => match write_frames(&stream, &session, more) {
                        Ok(n) => session.handle_written(now(), n),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            session.handle_write_refused();
                        }
                        Err(e) => return Err(e),
                    },
                    _ => {}
                }
            }
            () = &mut timer, if deadline.is_some() => session.handle_timeout(now()),
        }
    }
}

/// The time, from the runtime's clock, which the timer also follows (and which tests may pause).
fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// What a read task hands back.
type ReadResult = Result<bytes::Bytes, crate::store::ReadFailed>;

/// The catalog segment reads of one connection: each runs as a task of its own, so that the
/// connection goes on answering requests meanwhile, and is aborted when no longer wanted. The
/// tasks run on the runtime `on`, whose blocking pool reads the files: one pool for the whole
/// server, of a bounded size, whichever thread serves the connection.
struct Reads {
    on: Handle,
    tasks: JoinSet<ReadResult>,
    /// The ticket of each running task, and how to abort it.
    running: HashMap<Ticket, AbortHandle>,
    tickets: HashMap<tokio::task::Id, Ticket>,
}

impl Reads {
    fn new(on: Handle) -> Reads {
        Reads {
            on,
            tasks: JoinSet::new(),
            running: HashMap::new(),
            tickets: HashMap::new(),
        }
    }

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
            session.handle_segment_read(now(), ticket, result);
        }
    }

    /// Aborts the reads the session no longer wants, and answers the new ones: at once from the
    /// cache, else by starting a read.
    fn dispatch(&mut self, session: &mut Session, store: &Arc<Store>) {
        while let Some(ticket) = session.poll_abandoned() {
            if let Some(read) = self.running.remove(&ticket) {
                // Its id stays in `tickets` until the join reports the abort.
                read.abort();
            }
        }
        while let Some(read) = session.poll_read() {
            match store.cached(read.song, read.index) {
                Some(bytes) => session.handle_segment_read(now(), read.ticket, Ok(bytes)),
                None => {
                    let store = store.clone();
                    let task = self
                        .tasks
                        .spawn_on(store.read(read.song, read.index), &self.on);
                    self.tickets.insert(task.id(), read.ticket);
                    self.running.insert(read.ticket, task);
                }
            }
        }
    }
}

/// Reads what has arrived, at most `buf.len()` bytes, without waiting; `None` when nothing has.
/// With `direct`, straight from the socket, bypassing the runtime's record of readiness, which may
/// not have caught up with a request that arrived while a frame was being written: this keeps a
/// LIST or CANCEL behind at most one DATA frame.
fn read_now(stream: &TcpStream, buf: &mut [u8], direct: bool) -> io::Result<Option<usize>> {
    let read = if direct {
        (&*SockRef::from(stream)).read(buf)
    } else {
        stream.try_read(buf)
    };
    match read {
        Ok(n) => Ok(Some(n)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes as much of the session's write under way as the socket takes now, headers and payloads
/// in one vectored write, with MSG_MORE when `more`: the kernel then keeps the bytes that do not
/// fill a packet until the next write. Returns the bytes written.
fn write_frames(stream: &TcpStream, session: &Session, more: bool) -> io::Result<usize> {
    let mut slices = [IoSlice::new(&[]); 2 * MAX_FRAMES_PER_WRITE];
    let count = session.write_slices(&mut slices);
    let slices = &slices[..count];
    let written = if more {
        stream.try_io(Interest::WRITABLE, || {
            SockRef::from(stream).send_vectored_with_flags(slices, libc::MSG_MORE)
        })
    } else {
        stream.try_write_vectored(slices)
    }?;
    if written == 0 {
        return Err(io::ErrorKind::WriteZero.into());
    }
    Ok(written)
}

/// Whether the kernel has room on the socket now: it would report it writable, that is, it holds
/// less than TCP_NOTSENT_LOWAT unsent (and has send buffer to spare). Asked with `poll` without
/// waiting, which also makes the kernel wake the runtime when room comes: without room this is
/// `WouldBlock`, and the runtime's record of writability is cleared (unless an event came since it
/// was read), so waiting for writability then waits for the kernel instead of looking again and
/// again. An error pending on the socket (a reset) is returned as that error, so it ends the
/// connection before anything else is tried.
fn has_room(stream: &TcpStream) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    stream.try_io(Interest::WRITABLE, || {
        let mut fd = libc::pollfd {
            fd: stream.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        loop {
            // SAFETY: one valid pollfd, and no waiting.
            let rc = unsafe { libc::poll(&mut fd, 1, 0) };
            if rc >= 0 {
                break;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        if fd.revents & (libc::POLLERR | libc::POLLHUP) != 0 {
            Err(socket_error(stream))
        } else if fd.revents & libc::POLLOUT != 0 {
            Ok(())
        } else {
            Err(io::ErrorKind::WouldBlock.into())
        }
    })
}

/// The error the kernel holds for the socket (clearing it), or a reset if it holds none any more.
fn socket_error(stream: &TcpStream) -> io::Error {
    match stream.take_error() {
        Ok(Some(e)) | Err(e) => e,
        Ok(None) => io::ErrorKind::ConnectionReset.into(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::tests::{feed, limits, sent};
    use crate::test_songs::on_disk;
    use bytes::Bytes;
    use jukebox_protocol::{ErrorCode, Frame, Message, VERSION};

    /// A session with two catalog segments asked for (requests 1 and 2); only the first is read
    /// yet (a segment is read when it is next to send).
    fn two_requests() -> (Session, Reads, Arc<Store>) {
        let store = Arc::new(Store::new(vec![on_disk(5, &[10, 10])]));
        let mut session = Session::new(store.clone(), limits(4), now());
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
        (session, Reads::new(Handle::current()), store)
    }

    /// Spawns the read the session asks for next, as `dispatch` would: a task that panics, or
    /// that returns `bytes`.
    fn spawn_next(session: &mut Session, reads: &mut Reads, panics: bool, bytes: &'static [u8]) {
        let read = session.poll_read().expect("a read is asked for");
        let task = reads.tasks.spawn(async move {
            if panics {
                panic!("a read task panicked");
            }
            Ok(Bytes::from_static(bytes))
        });
        reads.tickets.insert(task.id(), read.ticket);
        reads.running.insert(read.ticket, task);
    }

    async fn finish_all(session: &mut Session, reads: &mut Reads) {
        while let Some(done) = reads.tasks.join_next_with_id().await {
            reads.finished(session, done);
        }
    }

    #[tokio::test]
    async fn a_read_task_that_panics_is_its_requests_internal_error() {
        let (mut session, mut reads, _) = two_requests();
        spawn_next(&mut session, &mut reads, true, b"");
        finish_all(&mut session, &mut reads).await;
        let mut out = sent(&mut session);
        // The failed read gave the front to request 2, whose read is asked for now.
        spawn_next(&mut session, &mut reads, false, b"second!!!!");
        finish_all(&mut session, &mut reads).await;
        assert!(reads.running.is_empty() && reads.tickets.is_empty());
        out.extend(sent(&mut session));
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
        let (mut session, mut reads, store) = two_requests();
        spawn_next(&mut session, &mut reads, true, b"");
        feed(
            &mut session,
            &[Frame {
                request_id: 1,
                message: Message::Cancel,
            }],
        );
        // Request 1's read is aborted before it runs: it panics never, and reports nothing.
        // Request 2's read is asked for in its place.
        reads.dispatch(&mut session, &store);
        finish_all(&mut session, &mut reads).await;
        assert!(reads.tickets.is_empty());
        let out = sent(&mut session);
        assert!(
            !out.is_empty() && out.iter().all(|f| f.request_id == 2),
            "{out:?}"
        );
    }
}
