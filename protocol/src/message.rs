//! Messages: what a frame means once its header and payload are parsed.

use bytes::Bytes;

use crate::error_code::ErrorCode;
use crate::frame::MessageType;

/// A whole frame: the request it belongs to and the message it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Chosen by the client for each request and echoed by every response to it; 0 only on HELLO,
    /// WELCOME and errors that concern the whole connection.
    pub request_id: u32,
    pub message: Message,
}

/// One message of the protocol. JSON documents are carried as raw bytes so that a server can send
/// the same pre-serialised buffer to every client; parse them with [`crate::Catalog::from_json`] and
/// [`crate::Manifest::from_json`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Client to server, first frame of a connection.
    Hello { version: u16 },
    /// Server to client, the answer to a HELLO it accepts.
    Welcome { version: u16 },
    /// Client to server: send me the catalog.
    List,
    /// Server to client: the catalog, UTF-8 JSON.
    Catalog(Bytes),
    /// Client to server: send me this song's manifest.
    GetManifest { song: u32 },
    /// Server to client: a manifest, UTF-8 JSON.
    Manifest(Bytes),
    /// Client to server: send me this segment.
    GetSegment { song: u32, index: u32 },
    /// Server to client: the next bytes of a segment; `end` on the last piece.
    Data { end: bool, bytes: Bytes },
    /// Client to server: abandon the request named by this frame's request ID.
    Cancel,
    /// Server to client: the request (or, with request ID 0, the connection) failed.
    Error { code: ErrorCode, message: String },
}

impl Message {
    /// The type code this message travels under.
    pub fn kind(&self) -> MessageType {
        match self {
            Message::Hello { .. } => MessageType::Hello,
            Message::Welcome { .. } => MessageType::Welcome,
            Message::List => MessageType::List,
            Message::Catalog(_) => MessageType::Catalog,
            Message::GetManifest { .. } => MessageType::GetManifest,
            Message::Manifest(_) => MessageType::Manifest,
            Message::GetSegment { .. } => MessageType::GetSegment,
            Message::Data { .. } => MessageType::Data,
            Message::Cancel => MessageType::Cancel,
            Message::Error { .. } => MessageType::Error,
        }
    }
}
