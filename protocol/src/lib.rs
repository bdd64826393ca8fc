//! The Jukebox wire protocol, with no I/O.
//!
//! Everything that defines a byte on the wire lives in this crate: the frame header and the message
//! table ([`frame`]), the messages ([`message`]), the incremental decoder and the encoder
//! ([`codec`]), a decoder that hands out DATA payloads in place as they arrive ([`stream`]), the
//! error codes ([`error_code`]) and the JSON documents that travel inside frames
//! ([`welcome`], [`page`], [`manifest`], under the rules of [`document`]). The server and the client
//! drive it from async shells; the RFC in `docs/rfc/` specifies the same bytes, and a test checks
//! the two against each other.

pub mod codec;
pub mod document;
pub mod error_code;
pub mod frame;
pub mod manifest;
pub mod message;
pub mod page;
pub mod stream;
pub mod welcome;

pub use codec::{data_header, decode_frame, encode_frame, DecodeError};
pub use document::DocumentError;
pub use error_code::ErrorCode;
pub use frame::{FrameHeader, MessageType, Sender, FLAG_END, HEADER_LEN};
pub use manifest::{Manifest, SegmentInfo};
pub use message::{Frame, Message};
pub use page::{ListRequest, Page, SongSummary};
pub use stream::{Piece, StreamDecoder};
pub use welcome::ServerInfo;

/// The protocol version this crate speaks: sent in HELLO as the highest the client speaks, and in
/// WELCOME as the one the connection speaks. Version 1 had 32-bit song IDs and one CATALOG document
/// for the whole library; it is not spoken any more.
pub const VERSION: u16 = 2;

/// The four bytes that open every HELLO and WELCOME payload, so that a peer which is not speaking
/// Jukebox at all is told apart from one speaking another version.
pub const MAGIC: [u8; 4] = *b"JKBX";

/// Largest payload of any frame. A receiver can bound its buffer before reading the payload; a
/// server splits anything larger (a long song list is paged).
pub const MAX_PAYLOAD: u32 = 1 << 20;

/// Largest payload of a frame a client sends. Requests are small, so a server reads them through a
/// small buffer.
pub const MAX_REQUEST_PAYLOAD: u32 = 1024;

/// Largest payload of a DATA frame. Segments are sent as a run of DATA frames no larger than this, so
/// a control response waits behind at most one of them.
pub const MAX_DATA_PAYLOAD: usize = 16 * 1024;

/// Largest message text in an ERROR or GOAWAY frame, in bytes.
pub const MAX_ERROR_MESSAGE: usize = 1024;

/// Largest song ID. IDs are 64-bit on the wire but stay below 2^53 so that they are exact in the
/// JSON documents for every JSON implementation (many hold numbers as IEEE doubles).
pub const MAX_SONG_ID: u64 = (1 << 53) - 1;

/// The TCP port a server listens on unless told otherwise ("JUKE" on a phone keypad).
pub const DEFAULT_PORT: u16 = 5853;
