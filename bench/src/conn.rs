//! One benchmark connection: the socket, a read buffer sized for the mode, and the requests every
//! mode makes (handshake, manifest, catalog, whole segments).

use std::net::SocketAddr;
use std::time::Duration;

use jukebox_protocol::{ListRequest, Manifest, MessageType, Page, SongSummary};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::wire::{describe_error, Event, FrameReader, ProtocolError, Request};

/// Why a connection failed; counted and shown, never hidden.
#[derive(Debug)]
pub struct Failure(pub String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure(e.to_string())
    }
}

impl From<ProtocolError> for Failure {
    fn from(e: ProtocolError) -> Self {
        Failure(e.0)
    }
}

pub type Result<T> = std::result::Result<T, Failure>;

/// Longest wait for any byte from the server before the connection counts as failed.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// What a callback tells [`Conn::read_until`].
pub enum Flow {
    More,
    Done,
}

pub struct Conn {
    pub stream: TcpStream,
    reader: FrameReader,
    buf: Vec<u8>,
    next_id: u32,
}

impl Conn {
    /// Connects and completes the handshake. `buf_size` is the read buffer: large for throughput
    /// (fewer reads), small where thousands of connections mostly wait.
    pub async fn open(addr: SocketAddr, buf_size: usize) -> Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let mut conn = Conn {
            stream,
            reader: FrameReader::default(),
            buf: vec![0; buf_size],
            next_id: 0,
        };
        conn.send(&Request::hello()).await?;
        conn.read_until(|event| match event {
            Event::Control {
                kind: MessageType::Welcome,
                request_id: 0,
                ..
            } => Ok(Flow::Done),
            other => Err(unexpected(&other)),
        })
        .await?;
        Ok(conn)
    }

    /// A fresh request ID: nonzero, never reused on this connection.
    pub fn id(&mut self) -> u32 {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.next_id
    }

    pub async fn send(&mut self, request: &Request) -> Result<()> {
        self.stream.write_all(request.as_bytes()).await?;
        Ok(())
    }

    /// Reads whatever the server has sent (waiting for something); returns how many bytes, for
    /// [`Conn::walk`]. Cancel-safe, so it can race a timer.
    pub async fn read_some(&mut self) -> Result<usize> {
        match timeout(IO_TIMEOUT, self.stream.read(&mut self.buf)).await {
            Err(_) => Err(Failure(format!(
                "no answer from the server in {} s",
                IO_TIMEOUT.as_secs()
            ))),
            Ok(Err(e)) => Err(e.into()),
            Ok(Ok(0)) => Err(Failure("server closed the connection".into())),
            Ok(Ok(n)) => Ok(n),
        }
    }

    /// Walks the `n` bytes just read, handing each event to `on`.
    pub fn walk(&mut self, n: usize, on: impl FnMut(Event<'_>) -> Result<()>) -> Result<()> {
        self.reader.feed(&self.buf[..n], on)
    }

    /// Reads and walks frames, handing each event to `on`, until it says [`Flow::Done`].
    pub async fn read_until(
        &mut self,
        mut on: impl FnMut(Event<'_>) -> Result<Flow>,
    ) -> Result<()> {
        let mut done = false;
        loop {
            let n = self.read_some().await?;
            self.reader.feed(&self.buf[..n], |event| {
                if done {
                    // A response arrived in the same read as the awaited one; pass it on too.
                    return on(event).map(|_| ());
                }
                if let Flow::Done = on(event)? {
                    done = true;
                }
                Ok::<(), Failure>(())
            })?;
            if done {
                return Ok(());
            }
        }
    }

    /// Asks for a control response and returns its payload.
    async fn control(&mut self, request: Request, id: u32, want: MessageType) -> Result<Vec<u8>> {
        self.send(&request).await?;
        let mut payload = None;
        self.read_until(|event| match event {
            Event::Control {
                kind,
                request_id,
                payload: p,
            } if request_id == id && kind == want => {
                payload = Some(p.to_vec());
                Ok(Flow::Done)
            }
            other => Err(unexpected(&other)),
        })
        .await?;
        payload.ok_or_else(|| Failure("no response".into()))
    }

    pub async fn manifest(&mut self, song: u64) -> Result<Manifest> {
        let id = self.id();
        let json = self
            .control(Request::get_manifest(id, song), id, MessageType::Manifest)
            .await?;
        Manifest::from_json(&json).map_err(|e| Failure(format!("bad manifest of song {song}: {e}")))
    }

    /// Every song, a page at a time.
    pub async fn songs(&mut self) -> Result<Vec<SongSummary>> {
        let mut songs = Vec::new();
        let mut list = ListRequest::default();
        loop {
            let id = self.id();
            let json = self
                .control(Request::list(id, &list.to_json()), id, MessageType::Page)
                .await?;
            let page = Page::from_json(&json).map_err(|e| Failure(format!("bad page: {e}")))?;
            songs.extend(page.songs);
            match page.next {
                Some(next) => list.cursor = Some(next),
                None => return Ok(songs),
            }
        }
    }

    /// Fetches one segment, passing its bytes to `keep` as they arrive; returns its length.
    pub async fn segment(
        &mut self,
        song: u64,
        index: u32,
        mut keep: impl FnMut(&[u8]),
    ) -> Result<usize> {
        let id = self.id();
        self.send(&Request::get_segment(id, song, index)).await?;
        let mut len = 0;
        self.read_until(|event| match event {
            Event::Data {
                request_id,
                bytes,
                end,
            } if request_id == id => {
                len += bytes.len();
                keep(bytes);
                Ok(if end { Flow::Done } else { Flow::More })
            }
            other => Err(unexpected(&other)),
        })
        .await?;
        Ok(len)
    }
}

/// The failure for a frame nobody asked for (or an ERROR).
pub fn unexpected(event: &Event<'_>) -> Failure {
    match event {
        Event::Control {
            kind: MessageType::Error,
            request_id,
            payload,
        } => Failure(format!(
            "server error (request {request_id}): {}",
            describe_error(payload)
        )),
        Event::Control {
            kind, request_id, ..
        } => Failure(format!(
            "unexpected {} for request {request_id}",
            kind.name()
        )),
        Event::Data { request_id, .. } => {
            Failure(format!("unexpected DATA for request {request_id}"))
        }
    }
}
