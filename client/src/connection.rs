//! One TCP connection to a server, shared by every request the client has in flight.
//!
//! A writer task sends frames from a channel (so a dropped request can send its CANCEL from
//! `Drop`); a reader task decodes frames and routes each, by request id, to the request waiting
//! for it. Any number of requests may be outstanding, so a LIST is answered while a segment is
//! still arriving.
//! Frames for ids that are not outstanding (a segment cancelled while its frames were on the way)
//! are discarded and counted.
//!
//! A GOAWAY from the server (it is shutting down or moving its clients) makes the connection
//! refuse new requests, so that the client opens another, while the requests outstanding on it
//! finish there; when the last has, the connection closes its side.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{Bytes, BytesMut};
use jukebox_protocol::{
    decode_frame, encode_frame, Frame, ListRequest, Manifest, Message, Page, ServerInfo,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot, Notify};

use crate::error::{ClientError, Result};
use crate::handshake::handshake;

/// The largest segment this client buffers. The protocol allows up to 4 GiB; a 2-second segment
/// of a 320 kbit/s stream is about 80 KB, so this is hundreds of seconds of the richest mp3 and
/// keeps a hostile manifest from making the client hold gigabytes.
pub const MAX_SEGMENT_BYTES: u32 = 16 << 20;

/// A handle to an open connection; clones share it. When the last clone and the last request are
/// gone, the writer task ends, which shuts the socket down and stops the reader task.
#[derive(Clone)]
pub struct Connection {
    routes: Arc<Mutex<Routes>>,
    /// To the writer task; unbounded, so that a dropped request can send its CANCEL from `Drop`.
    writer: mpsc::UnboundedSender<Frame>,
    /// What the server said of itself in WELCOME.
    info: Arc<ServerInfo>,
}

/// Which request waits for which id: the one table the reader task shares with the requests.
#[derive(Default)]
struct Routes {
    last_id: u32,
    pending: HashMap<u32, mpsc::UnboundedSender<Message>>,
    /// Frames that arrived for ids no longer pending.
    stale_frames: u64,
    /// Why the connection ended, once it has.
    closed: Option<String>,
    /// The server sent GOAWAY (its text): no new request here.
    going_away: Option<String>,
    /// Tells the writer task to shut the socket's sending side down once the connection closed.
    closing: Arc<Notify>,
}

fn lock(routes: &Mutex<Routes>) -> MutexGuard<'_, Routes> {
    // A panic while holding this lock cannot leave the map inconsistent; keep going.
    routes.lock().unwrap_or_else(|e| e.into_inner())
}

impl Routes {
    /// A fresh id for a request whose answers go to `waiter`: from a wrapping counter, never 0
    /// (the handshake's) nor an id in use.
    fn register(&mut self, waiter: mpsc::UnboundedSender<Message>) -> Result<u32> {
        if self.closed.is_some() {
            return Err(self.closed_error());
        }
        if let Some(message) = &self.going_away {
            return Err(ClientError::Closed(going_away_reason(message)));
        }
        let mut id = self.last_id;
        loop {
            id = id.wrapping_add(1);
            if id != 0 && !self.pending.contains_key(&id) {
                break;
            }
        }
        self.last_id = id;
        self.pending.insert(id, waiter);
        Ok(id)
    }

    /// Hands a frame to the request it answers. Returns the reason to close on a
    /// connection-level error.
    fn route(&mut self, frame: Frame) -> Result<(), String> {
        let Frame {
            request_id,
            message,
        } = frame;
        if request_id == 0 {
            return match message {
                Message::GoAway { within_ms, message } => {
                    if self.going_away.is_none() {
                        tracing::info!(
                            "the server asks to move within {within_ms} ms (GOAWAY: {message}); \
                             {} request(s) finish on this connection",
                            self.pending.len()
                        );
                        self.going_away = Some(message);
                    }
                    self.close_if_gone_away()
                }
                Message::Error { code, message } => Err(format!("{code}: {message}")),
                other => Err(format!(
                    "unexpected {} with request id 0",
                    other.kind().name()
                )),
            };
        }
        let last = !matches!(message, Message::Data { end: false, .. });
        let kind = message.kind();
        match self.pending.get(&request_id) {
            Some(waiter) => {
                // A waiter that has gone away will be removed by its own Drop.
                let _ = waiter.send(message);
                if last {
                    self.pending.remove(&request_id);
                }
            }
            None => {
                self.stale_frames += 1;
                tracing::debug!(
                    "discarded stale {} frame for request {request_id}",
                    kind.name()
                );
            }
        }
        self.close_if_gone_away()
    }

    /// After a GOAWAY, the connection ends when nothing is outstanding on it any more.
    fn close_if_gone_away(&mut self) -> Result<(), String> {
        match &self.going_away {
            Some(message) if self.pending.is_empty() => Err(going_away_reason(message)),
            _ => Ok(()),
        }
    }

    fn close(&mut self, reason: String) {
        if self.closed.is_none() {
            tracing::debug!("connection closed: {reason}");
            self.closed = Some(reason);
        }
        // Dropping the senders wakes every waiting request with the close reason.
        self.pending.clear();
        self.closing.notify_one();
    }

    fn closed_error(&self) -> ClientError {
        ClientError::Closed(self.closed.clone().unwrap_or_else(|| "closed".into()))
    }
}

impl Connection {
    /// Whether `self` and `other` are the same connection (clones of one).
    pub fn same(&self, other: &Connection) -> bool {
        Arc::ptr_eq(&self.routes, &other.routes)
    }

    /// Connects to `addr` (HOST:PORT) and performs the handshake within
    /// [`DEFAULT_TIMEOUT`](crate::client::DEFAULT_TIMEOUT).
    pub async fn connect(addr: &str) -> Result<Connection> {
        Connection::connect_within(addr, crate::client::DEFAULT_TIMEOUT).await
    }

    /// Connects to `addr` and performs the handshake within `deadline`.
    pub async fn connect_within(addr: &str, deadline: std::time::Duration) -> Result<Connection> {
        let handshake = handshake(addr, deadline).await?;
        let (read, write) = handshake.stream.into_split();
        let closing = Arc::new(Notify::new());
        let routes = Arc::new(Mutex::new(Routes {
            closing: closing.clone(),
            ..Routes::default()
        }));
        let (writer, frames) = mpsc::unbounded_channel();
        let (writer_alive, writer_ended) = oneshot::channel();
        tokio::spawn(write_frames(
            write,
            frames,
            routes.clone(),
            closing,
            writer_alive,
        ));
        tokio::spawn(read_frames(
            read,
            handshake.buf,
            routes.clone(),
            writer_ended,
        ));
        Ok(Connection {
            routes,
            writer,
            info: Arc::new(handshake.info),
        })
    }

    /// True once the connection takes no new request: the server closed it, it failed, or the
    /// server sent GOAWAY (requests already outstanding may still finish on it).
    pub fn is_closed(&self) -> bool {
        let routes = lock(&self.routes);
        routes.closed.is_some() || routes.going_away.is_some()
    }

    /// True once the server sent GOAWAY on this connection.
    pub fn is_going_away(&self) -> bool {
        lock(&self.routes).going_away.is_some()
    }

    /// The server information of the WELCOME.
    pub fn info(&self) -> &ServerInfo {
        &self.info
    }

    /// Names the catalog the server serves on this connection (64 hex digits): two connections
    /// with the same value serve the same songs, manifests and segments.
    pub fn catalog(&self) -> &str {
        &self.info.catalog
    }

    /// Gives the connection up (the server stopped answering): every waiting request fails with
    /// `reason` and the next command opens a new connection.
    pub fn close(&self, reason: &str) {
        lock(&self.routes).close(reason.to_string());
    }

    /// Frames received for requests that were no longer outstanding.
    pub fn stale_frames(&self) -> u64 {
        lock(&self.routes).stale_frames
    }

    /// Fetches one page of the song list.
    pub async fn list(&self, list: &ListRequest) -> Result<Page> {
        let mut request = self.send(Message::List(list.to_json().into()), false)?;
        match request.next().await? {
            Message::Page(json) => Page::from_json(&json)
                .map_err(|e| ClientError::Protocol(format!("invalid page: {e}"))),
            Message::Error { code, message } => Err(ClientError::Server { code, message }),
            other => Err(unexpected(&other, "LIST")),
        }
    }

    /// Fetches and validates a song's manifest.
    pub async fn get_manifest(&self, song: u64) -> Result<Manifest> {
        let mut request = self.send(Message::GetManifest { song }, false)?;
        match request.next().await? {
            Message::Manifest(json) => {
                let manifest =
                    Manifest::from_json(&json).map_err(|e| ClientError::bad_manifest(song, e))?;
                if manifest.id != song {
                    return Err(ClientError::BadManifest {
                        song,
                        reason: format!("it describes song {}", manifest.id),
                    });
                }
                if let Some(info) = manifest
                    .segments
                    .iter()
                    .find(|s| s.bytes > MAX_SEGMENT_BYTES)
                {
                    return Err(ClientError::BadManifest {
                        song,
                        reason: format!(
                            "segment {} has {} bytes, more than this client accepts ({MAX_SEGMENT_BYTES})",
                            info.index, info.bytes
                        ),
                    });
                }
                Ok(manifest)
            }
            Message::Error { code, message } => {
                Err(ClientError::from_server(code, message, song, None))
            }
            other => Err(unexpected(&other, "GET_MANIFEST")),
        }
    }

    /// Fetches one whole segment of `expected` bytes (from the manifest). Dropping the future
    /// before it completes cancels the request, and so does a server sending more than `expected`
    /// bytes: what is buffered for a segment never exceeds what the manifest promised, even if the
    /// END never comes.
    pub async fn get_segment(&self, song: u64, index: u32, expected: u32) -> Result<Bytes> {
        let mut request = self.send(Message::GetSegment { song, index }, true)?;
        let mut bytes = BytesMut::new();
        loop {
            match request.next().await? {
                Message::Data { end, bytes: chunk } => {
                    if bytes.len() + chunk.len() > expected as usize {
                        return Err(ClientError::Protocol(format!(
                            "segment {index} of song {song} has more than {expected} bytes"
                        )));
                    }
                    if bytes.is_empty() && end {
                        return Ok(chunk);
                    }
                    bytes.extend_from_slice(&chunk);
                    if end {
                        return Ok(bytes.freeze());
                    }
                }
                Message::Error { code, message } => {
                    return Err(ClientError::from_server(code, message, song, Some(index)))
                }
                other => return Err(unexpected(&other, "GET_SEGMENT")),
            }
        }
    }

    /// Registers a new request id and sends the request.
    fn send(&self, message: Message, cancel_on_drop: bool) -> Result<Request> {
        let (waiter, responses) = mpsc::unbounded_channel();
        let request_id = lock(&self.routes).register(waiter)?;
        let request = Request {
            id: request_id,
            responses,
            connection: self.clone(),
            cancel_on_drop,
            done: false,
        };
        let frame = Frame {
            request_id,
            message,
        };
        if self.writer.send(frame).is_err() {
            return Err(lock(&self.routes).closed_error());
        }
        Ok(request)
    }
}

/// An outstanding request: its id stays registered until the last response or until it is dropped.
struct Request {
    id: u32,
    responses: mpsc::UnboundedReceiver<Message>,
    connection: Connection,
    cancel_on_drop: bool,
    done: bool,
}

impl Request {
    async fn next(&mut self) -> Result<Message> {
        match self.responses.recv().await {
            Some(message) => {
                if !matches!(message, Message::Data { end: false, .. }) {
                    self.done = true;
                }
                Ok(message)
            }
            None => {
                self.done = true;
                Err(lock(&self.connection.routes).closed_error())
            }
        }
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let connection = &self.connection;
        let mut routes = lock(&connection.routes);
        let removed = routes.pending.remove(&self.id).is_some();
        if let Err(reason) = routes.close_if_gone_away() {
            // Nothing else is outstanding: the CANCEL is not needed either.
            routes.close(reason);
            return;
        }
        drop(routes);
        if removed && self.cancel_on_drop {
            tracing::debug!("cancelling request {}", self.id);
            let _ = connection.writer.send(Frame {
                request_id: self.id,
                message: Message::Cancel,
            });
        }
    }
}

fn unexpected(message: &Message, request: &str) -> ClientError {
    ClientError::Protocol(format!(
        "unexpected {} in answer to {request}",
        message.kind().name()
    ))
}

fn going_away_reason(message: &str) -> String {
    format!("the server asked the client to move (GOAWAY: {message})")
}

/// Sends frames until every handle to the connection is gone, sending fails or the connection
/// closed, then shuts the socket's write side down. Ending drops `alive`, which stops the reader.
async fn write_frames(
    mut socket: OwnedWriteHalf,
    mut frames: mpsc::UnboundedReceiver<Frame>,
    routes: Arc<Mutex<Routes>>,
    closing: Arc<Notify>,
    alive: oneshot::Sender<()>,
) {
    let mut buf = BytesMut::new();
    loop {
        let frame = tokio::select! {
            frame = frames.recv() => frame,
            () = closing.notified() => None,
        };
        let Some(frame) = frame else { break };
        encode_frame(&frame, &mut buf);
        while let Ok(frame) = frames.try_recv() {
            encode_frame(&frame, &mut buf);
        }
        if let Err(e) = socket.write_all(&buf).await {
            lock(&routes).close(format!("cannot send: {e}"));
            return;
        }
        buf.clear();
    }
    let _ = socket.shutdown().await;
    drop(alive);
}

/// Routes frames to their requests until the server closes, sends something invalid, or the
/// writer has ended.
async fn read_frames(
    mut socket: OwnedReadHalf,
    mut buf: BytesMut,
    routes: Arc<Mutex<Routes>>,
    mut writer_ended: oneshot::Receiver<()>,
) {
    let reason = loop {
        match decode_frame(&mut buf) {
            Ok(Some(frame)) => {
                if let Err(reason) = lock(&routes).route(frame) {
                    break reason;
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => break format!("the server sent an invalid frame: {e}"),
        }
        tokio::select! {
            read = socket.read_buf(&mut buf) => match read {
                Ok(0) => break "the server closed the connection".to_string(),
                Ok(_) => {}
                Err(e) => break format!("cannot receive: {e}"),
            },
            _ = &mut writer_ended => break "the connection is no longer used".to_string(),
        }
    };
    lock(&routes).close(reason);
}
