//! Messages: what a frame means once its header and payload are parsed.

use bytes::Bytes;

use crate::error_code::ErrorCode;
use crate::frame::MessageType;

/// A whole frame: the request it belongs to and the message it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Chosen by the client for each request and echoed by every response to it; 0 only on HELLO,
    /// WELCOME, GOAWAY and errors that concern the whole connection.
    pub request_id: u32,
    pub message: Message,
}

/// One message of the protocol. JSON documents are carried as raw bytes so that a server can send
/// the same pre-serialised buffer to every client; parse them with the `from_json` of
/// [`crate::ServerInfo`], [`crate::ListRequest`], [`crate::Page`] and [`crate::Manifest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Client to server, first frame of a connection: the highest version the client speaks.
    Hello { version: u16 },
    /// Server to client, the answer to a HELLO it accepts: the version the connection speaks, and
    /// a JSON [`crate::ServerInfo`].
    Welcome { version: u16, info: Bytes },
    /// Client to server: send me a page of songs. A JSON [`crate::ListRequest`], or empty.
    List(Bytes),
    /// Server to client: a page of songs, a JSON [`crate::Page`].
    Page(Bytes),
    /// Client to server: send me this song's manifest.
    GetManifest { song: u64 },
    /// Server to client: a manifest, a JSON [`crate::Manifest`].
    Manifest(Bytes),
    /// Client to server: send me this segment.
    GetSegment { song: u64, index: u32 },
    /// Server to client: the next bytes of a segment; `end` on the last piece.
    Data { end: bool, bytes: Bytes },
    /// Client to server: abandon the request named by this frame's request ID.
    Cancel,
    /// Server to client: the request (or, with request ID 0, the connection) failed.
    Error { code: ErrorCode, message: String },
    /// Server to client: this connection closes within `within_ms` milliseconds; open another for
    /// new requests.
    GoAway { within_ms: u32, message: String },
}

impl Message {
    /// The type code this message travels under.
    pub fn kind(&self) -> MessageType {
        match self {
            Message::Hello { .. } => MessageType::Hello,
            Message::Welcome { .. } => MessageType::Welcome,
            Message::List(_) => MessageType::List,
            Message::Page(_) => MessageType::Page,
            Message::GetManifest { .. } => MessageType::GetManifest,
            Message::Manifest(_) => MessageType::Manifest,
            Message::GetSegment { .. } => MessageType::GetSegment,
            Message::Data { .. } => MessageType::Data,
            Message::Cancel => MessageType::Cancel,
            Message::Error { .. } => MessageType::Error,
            Message::GoAway { .. } => MessageType::GoAway,
        }
    }

    /// A LIST for the first page of every song, in the server's default page size.
    pub fn list_all() -> Message {
        Message::List(Bytes::new())
    }
}
