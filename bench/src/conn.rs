//! One benchmark connection: the socket, a read buffer sized for the mode, and the requests every
//! mode makes (handshake, manifest, catalog, whole segments).
//!
//! A connection notes what a player must react to without failing the request under way: a GOAWAY
//! (the server's requests still finish here; new ones belong on a new connection) and a lost
//! connection (closed, reset or silent; what was asked may be asked again elsewhere).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use jukebox_protocol::{
    Frame, ListRequest, Manifest, Message, MessageType, Page, Piece, ServerInfo, SongSummary,
    StreamDecoder,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;

use crate::wire::Request;

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
    decoder: StreamDecoder,
    buf: Vec<u8>,
    next_id: u32,
    /// The WELCOME's catalog value.
    catalog: String,
    marks: Marks,
}

/// What a connection's frames and reads said of the connection itself.
#[derive(Debug, Default, Clone, Copy)]
struct Marks {
    /// A GOAWAY came: no new request belongs here.
    going_away: bool,
    /// The connection closed, was reset, failed or stayed silent, or the server sent an ERROR
    /// with request ID 0 (which ends a connection): nothing more comes from it.
    lost: bool,
}

impl Conn {
    /// Connects and completes the handshake. `buf_size` is the read buffer: large for throughput
    /// (fewer reads), small where thousands of connections mostly wait.
    pub async fn open(addr: SocketAddr, buf_size: usize) -> Result<Conn> {
        Conn::open_from(addr, None, buf_size).await
    }

    /// [`Conn::open`] from the local address `source` (any port), e.g. one of several loopback
    /// addresses, so that the server counts the connections against several sources.
    pub async fn open_from(
        addr: SocketAddr,
        source: Option<IpAddr>,
        buf_size: usize,
    ) -> Result<Conn> {
        let stream = match source {
            None => TcpStream::connect(addr).await?,
            Some(source) => connect_from(addr, source).await?,
        };
        stream.set_nodelay(true)?;
        let mut conn = Conn {
            stream,
            decoder: StreamDecoder::new(),
            buf: vec![0; buf_size],
            next_id: 0,
            catalog: String::new(),
            marks: Marks::default(),
        };
        conn.send(&Request::hello()).await?;
        let mut info = None;
        conn.read_until(|piece| match piece {
            Piece::Frame(Frame {
                request_id: 0,
                message: Message::Welcome { info: json, .. },
            }) => {
                info = Some(ServerInfo::from_json(&json));
                Ok(Flow::Done)
            }
            other => Err(unexpected(&other)),
        })
        .await?;
        match info {
            Some(Ok(info)) => conn.catalog = info.catalog,
            Some(Err(e)) => return Err(Failure(format!("bad WELCOME: {e}"))),
            None => return Err(Failure("no WELCOME".into())),
        }
        Ok(conn)
    }

    /// The catalog the server serves, as its WELCOME named it (64 hex digits).
    pub fn catalog(&self) -> &str {
        &self.catalog
    }

    /// True once the server has sent GOAWAY: requests already sent are answered here, new ones
    /// belong on a new connection.
    pub fn is_going_away(&self) -> bool {
        self.marks.going_away
    }

    /// True once the connection closed, was reset, or stayed silent past the timeout: an error
    /// of the request under way is then the connection's, and the request may be sent again on
    /// another.
    pub fn is_lost(&self) -> bool {
        self.marks.lost
    }

    /// A fresh request ID: nonzero, never reused on this connection.
    pub fn id(&mut self) -> u32 {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.next_id
    }

    pub async fn send(&mut self, request: &Request) -> Result<()> {
        if let Err(e) = self.stream.write_all(request.as_bytes()).await {
            self.marks.lost = true;
            return Err(e.into());
        }
        Ok(())
    }

    /// Reads whatever the server has sent (waiting for something); returns how many bytes, for
    /// [`Conn::walk`]. Cancel-safe, so it can race a timer.
    pub async fn read_some(&mut self) -> Result<usize> {
        let read = match timeout(IO_TIMEOUT, self.stream.read(&mut self.buf)).await {
            Err(_) => Err(Failure(format!(
                "no answer from the server in {} s",
                IO_TIMEOUT.as_secs()
            ))),
            Ok(Err(e)) => Err(e.into()),
            Ok(Ok(0)) if self.marks.going_away => {
                Err(Failure("server closed the connection after GOAWAY".into()))
            }
            Ok(Ok(0)) => Err(Failure("server closed the connection".into())),
            Ok(Ok(n)) => Ok(n),
        };
        self.marks.lost |= read.is_err();
        read
    }

    /// Walks the `n` bytes just read, handing each piece to `on` (a GOAWAY only marks the
    /// connection, see [`Conn::is_going_away`]).
    pub fn walk(&mut self, n: usize, on: impl FnMut(Piece<'_>) -> Result<()>) -> Result<()> {
        walk(&mut self.decoder, &self.buf[..n], &mut self.marks, on)
    }

    /// Reads and walks frames, handing each piece to `on`, until it says [`Flow::Done`].
    pub async fn read_until(
        &mut self,
        mut on: impl FnMut(Piece<'_>) -> Result<Flow>,
    ) -> Result<()> {
        let mut done = false;
        loop {
            let n = self.read_some().await?;
            walk(
                &mut self.decoder,
                &self.buf[..n],
                &mut self.marks,
                |piece| {
                    if done {
                        // A response arrived in the same read as the awaited one; pass it on too.
                        return on(piece).map(|_| ());
                    }
                    if let Flow::Done = on(piece)? {
                        done = true;
                    }
                    Ok(())
                },
            )?;
            if done {
                return Ok(());
            }
        }
    }

    /// Asks for a PAGE or MANIFEST and returns its document.
    async fn control(&mut self, request: Request, id: u32, want: MessageType) -> Result<Bytes> {
        self.send(&request).await?;
        let mut payload = None;
        self.read_until(|piece| match piece {
            Piece::Frame(Frame {
                request_id,
                message: Message::Page(json) | Message::Manifest(json),
            }) if request_id == id => {
                payload = Some(json);
                Ok(Flow::Done)
            }
            other => Err(unexpected(&other)),
        })
        .await?;
        payload.ok_or_else(|| Failure(format!("no {} in answer", want.name())))
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
        self.read_until(|piece| match piece {
            Piece::Data {
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

/// Hands every piece of `bytes` to `on`, stopping at the first error. A frame of a type only clients
/// send is the server's error, like one the decoder refuses. A GOAWAY (request ID 0) is noted in
/// `marks` instead of reaching `on`: it fails no request. An ERROR with request ID 0 is noted as
/// the connection's end, and still reaches `on`.
fn walk(
    decoder: &mut StreamDecoder,
    mut bytes: &[u8],
    marks: &mut Marks,
    mut on: impl FnMut(Piece<'_>) -> Result<()>,
) -> Result<()> {
    while let Some(piece) = decoder
        .next(&mut bytes)
        .map_err(|e| Failure(format!("bad frame from server: {e}")))?
    {
        if let Piece::Frame(frame) = &piece {
            if frame.message.kind().is_request() {
                let name = frame.message.kind().name();
                return Err(Failure(format!("server sent a {name} frame")));
            }
            match frame {
                Frame {
                    request_id: 0,
                    message: Message::GoAway { .. },
                } => {
                    marks.going_away = true;
                    continue;
                }
                Frame {
                    request_id: 0,
                    message: Message::Error { .. },
                } => marks.lost = true,
                _ => {}
            }
        }
        on(piece)?;
    }
    Ok(())
}

/// Connects from `source` (any port of it) to `addr`.
pub async fn connect_from(addr: SocketAddr, source: IpAddr) -> std::io::Result<TcpStream> {
    let socket = match source {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(addr).await
}

/// The failure for a frame nobody asked for (or an ERROR).
pub fn unexpected(piece: &Piece<'_>) -> Failure {
    match piece {
        Piece::Frame(Frame {
            request_id,
            message: Message::Error { code, message },
        }) => Failure(format!(
            "server error (request {request_id}): {code}: {message}"
        )),
        Piece::Frame(frame) => Failure(format!(
            "unexpected {} for request {}",
            frame.message.kind().name(),
            frame.request_id
        )),
        Piece::Data { request_id, .. } => {
            Failure(format!("unexpected DATA for request {request_id}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use jukebox_protocol::encode_frame;

    fn wire(frames: &[Frame]) -> Vec<u8> {
        let mut buf = BytesMut::new();
        for frame in frames {
            encode_frame(frame, &mut buf);
        }
        buf.to_vec()
    }

    #[test]
    fn data_pieces_and_frames_are_passed_on_however_the_bytes_are_split() {
        let bytes = wire(&[
            Frame {
                request_id: 7,
                message: Message::Data {
                    end: true,
                    bytes: Bytes::from_static(b"hello segment"),
                },
            },
            Frame {
                request_id: 8,
                message: Message::Manifest(Bytes::from_static(b"{}")),
            },
        ]);
        for split in [1, 5, 12, 13, 100] {
            let mut decoder = StreamDecoder::new();
            let (mut data, mut end, mut manifests) = (Vec::new(), false, 0);
            for chunk in bytes.chunks(split) {
                walk(&mut decoder, chunk, &mut Marks::default(), |piece| {
                    match piece {
                        Piece::Data { bytes, end: e, .. } => {
                            data.extend_from_slice(bytes);
                            end = e;
                        }
                        Piece::Frame(_) => manifests += 1,
                    }
                    Ok(())
                })
                .unwrap();
            }
            assert_eq!(
                (&data[..], end, manifests),
                (&b"hello segment"[..], true, 1)
            );
        }
    }

    #[test]
    fn a_goaway_marks_the_connection_and_an_error_of_request_0_ends_it() {
        let goaway = Frame {
            request_id: 0,
            message: Message::GoAway {
                within_ms: 10_000,
                message: "restarting".into(),
            },
        };
        let data = Frame {
            request_id: 3,
            message: Message::Data {
                end: true,
                bytes: Bytes::from_static(b"rest"),
            },
        };
        let mut marks = Marks::default();
        let mut passed = Vec::new();
        let bytes = wire(&[goaway, data]);
        walk(&mut StreamDecoder::new(), &bytes, &mut marks, |piece| {
            passed.push(matches!(piece, Piece::Data { request_id: 3, .. }));
            Ok(())
        })
        .unwrap();
        assert_eq!(passed, [true], "only the DATA is passed on");
        assert!(marks.going_away && !marks.lost, "{marks:?}");

        let busy = Frame {
            request_id: 0,
            message: Message::Error {
                code: jukebox_protocol::ErrorCode::ServerBusy,
                message: "busy".into(),
            },
        };
        let mut marks = Marks::default();
        let error = walk(
            &mut StreamDecoder::new(),
            &wire(&[busy]),
            &mut marks,
            |piece| Err(unexpected(&piece)),
        )
        .unwrap_err();
        assert!(
            error.0.contains("SERVER_BUSY") || error.0.contains("busy"),
            "{error}"
        );
        assert!(marks.lost && !marks.going_away, "{marks:?}");
    }

    #[test]
    fn a_request_type_from_the_server_is_an_error() {
        let mut decoder = StreamDecoder::new();
        let bytes = Request::list(1, b"");
        let error = walk(
            &mut decoder,
            bytes.as_bytes(),
            &mut Marks::default(),
            |_| Ok(()),
        )
        .unwrap_err();
        assert!(error.0.contains("server sent a LIST frame"), "{error}");
    }
}
