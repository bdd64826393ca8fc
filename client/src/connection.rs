//! One TCP connection to a server, shared by every request the client has in flight.
//!
//! A writer task sends frames from a channel (so a dropped request can send its CANCEL from
//! `Drop`); a reader task decodes frames and routes each, by request id, to the request waiting
//! for it. Any number of requests may be outstanding, so a LIST is answered while a segment is
//! still arriving.
//! Frames for ids that are not outstanding (a segment cancelled while its frames were on the way)
//! are discarded and counted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use jukebox_protocol::{decode_frame, encode_frame, Frame, ListRequest, Manifest, Message, Page};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::error::{ClientError, Result};
use crate::handshake::handshake;

/// The largest segment this client buffers. The protocol allows up to 4 GiB; a 2-second segment
/// of a 320 kbit/s stream is about 80 KB, so this is hundreds of seconds of the richest mp3 and
/// keeps a hostile manifest from making the client hold gigabytes.
pub const MAX_SEGMENT_BYTES: u32 = 16 << 20;

/// A handle to an open connection; clones share it. The socket closes when the last clone drops.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    writer: mpsc::UnboundedSender<Frame>,
    reader: AbortHandle,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// State shared with the reader task.
struct Shared {
    state: Mutex<State>,
    stale_frames: AtomicU64,
}

#[derive(Default)]
struct State {
    last_id: u32,
    pending: HashMap<u32, mpsc::UnboundedSender<Message>>,
    /// Why the connection ended, once it has.
    closed: Option<String>,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the map inconsistent; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn close(&self, reason: String) {
        let mut state = self.state();
        if state.closed.is_none() {
            tracing::debug!("connection closed: {reason}");
            state.closed = Some(reason);
        }
        // Dropping the senders wakes every waiting request with the close reason.
        state.pending.clear();
    }

    fn closed_error(&self) -> ClientError {
        let reason = self.state().closed.clone();
        ClientError::Closed(reason.unwrap_or_else(|| "closed".into()))
    }
}

impl Connection {
    /// Connects to `addr` (HOST:PORT) and performs the handshake.
    pub async fn connect(addr: &str) -> Result<Connection> {
        let (stream, buf) = handshake(addr).await?;
        let (read, write) = stream.into_split();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            stale_frames: AtomicU64::new(0),
        });
        let (writer, frames) = mpsc::unbounded_channel();
        tokio::spawn(write_frames(write, frames, shared.clone()));
        let reader = tokio::spawn(read_frames(read, buf, shared.clone())).abort_handle();
        Ok(Connection {
            inner: Arc::new(Inner {
                shared,
                writer,
                reader,
            }),
        })
    }

    /// True once the server closed the connection or it failed.
    pub fn is_closed(&self) -> bool {
        self.inner.shared.state().closed.is_some()
    }

    /// Frames received for requests that were no longer outstanding.
    pub fn stale_frames(&self) -> u64 {
        self.inner.shared.stale_frames.load(Ordering::Relaxed)
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
    pub async fn manifest(&self, song: u64) -> Result<Manifest> {
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
    pub async fn segment(&self, song: u64, index: u32, expected: u32) -> Result<Bytes> {
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
        let shared = &self.inner.shared;
        let (tx, rx) = mpsc::unbounded_channel();
        let id = {
            let mut state = shared.state();
            if state.closed.is_some() {
                drop(state);
                return Err(shared.closed_error());
            }
            let mut id = state.last_id;
            loop {
                id = id.wrapping_add(1);
                if id != 0 && !state.pending.contains_key(&id) {
                    break;
                }
            }
            state.last_id = id;
            state.pending.insert(id, tx);
            id
        };
        let request = Request {
            id,
            responses: rx,
            connection: self.clone(),
            cancel_on_drop,
            done: false,
        };
        let frame = Frame {
            request_id: id,
            message,
        };
        if self.inner.writer.send(frame).is_err() {
            return Err(shared.closed_error());
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
                Err(self.connection.inner.shared.closed_error())
            }
        }
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let inner = &self.connection.inner;
        let removed = inner.shared.state().pending.remove(&self.id).is_some();
        if removed && self.cancel_on_drop {
            tracing::debug!("cancelling request {}", self.id);
            let _ = inner.writer.send(Frame {
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

async fn write_frames(
    mut socket: OwnedWriteHalf,
    mut frames: mpsc::UnboundedReceiver<Frame>,
    shared: Arc<Shared>,
) {
    let mut buf = BytesMut::new();
    while let Some(frame) = frames.recv().await {
        encode_frame(&frame, &mut buf);
        while let Ok(frame) = frames.try_recv() {
            encode_frame(&frame, &mut buf);
        }
        if let Err(e) = socket.write_all(&buf).await {
            shared.close(format!("cannot send: {e}"));
            return;
        }
        buf.clear();
    }
    let _ = socket.shutdown().await;
}

async fn read_frames(mut socket: OwnedReadHalf, mut buf: BytesMut, shared: Arc<Shared>) {
    let reason = loop {
        match decode_frame(&mut buf) {
            Ok(Some(frame)) => {
                if let Err(reason) = route(&shared, frame) {
                    break reason;
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => break format!("the server sent an invalid frame: {e}"),
        }
        match socket.read_buf(&mut buf).await {
            Ok(0) => break "the server closed the connection".to_string(),
            Ok(_) => {}
            Err(e) => break format!("cannot receive: {e}"),
        }
    };
    shared.close(reason);
}

/// Hands a frame to the request it answers. Returns the reason to close on a connection-level
/// error.
fn route(shared: &Shared, frame: Frame) -> Result<(), String> {
    let Frame {
        request_id,
        message,
    } = frame;
    if request_id == 0 {
        return Err(match message {
            Message::Error { code, message } => format!("{code}: {message}"),
            other => format!("unexpected {} with request id 0", other.kind().name()),
        });
    }
    let mut state = shared.state();
    let last = !matches!(message, Message::Data { end: false, .. });
    let kind = message.kind();
    match state.pending.get(&request_id) {
        Some(waiter) => {
            // A waiter that has gone away will be removed by its own Drop.
            let _ = waiter.send(message);
            if last {
                state.pending.remove(&request_id);
            }
        }
        None => {
            shared.stale_frames.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                "discarded stale {} frame for request {request_id}",
                kind.name()
            );
        }
    }
    Ok(())
}
