//! The Jukebox wire protocol, with no I/O.
//!
//! Everything that defines a byte on the wire lives in this crate: the frame header ([`frame`]), the
//! messages and their payloads ([`message`]), the incremental decoder and the encoder ([`codec`]), the
//! error codes ([`error_code`]) and the JSON documents that travel inside frames ([`manifest`],
//! [`catalog`]). The server and the client drive it from thin async shells; the RFC in `docs/rfc/`
//! specifies the same bytes, and a test checks the two against each other.

pub mod catalog;
pub mod codec;
pub mod error_code;
pub mod frame;
pub mod manifest;
pub mod message;

pub use catalog::{Catalog, SongSummary};
pub use codec::{decode_frame, encode_frame, DecodeError};
pub use error_code::ErrorCode;
pub use frame::{FrameHeader, MessageType, FLAG_END, HEADER_LEN};
pub use manifest::{Manifest, ManifestError, SegmentInfo};
pub use message::{Frame, Message};

/// The protocol version this crate speaks; sent in HELLO and echoed in WELCOME.
pub const VERSION: u16 = 1;

/// The four bytes that open every HELLO and WELCOME payload, so that a peer which is not speaking
/// Jukebox at all is told apart from one speaking another version.
pub const MAGIC: [u8; 4] = *b"JKBX";

/// Largest payload of any frame. Catalogs of many thousands of songs still fit; anything larger is a
/// broken or hostile peer, and a receiver can bound its buffer before reading the payload.
pub const MAX_PAYLOAD: u32 = 1 << 20;

/// Largest payload of a DATA frame. Segments are sent as a run of DATA frames no larger than this, so a
/// control response waits behind at most one of them.
pub const MAX_DATA_PAYLOAD: usize = 16 * 1024;

/// Largest message text in an ERROR frame, in bytes.
pub const MAX_ERROR_MESSAGE: usize = 1024;

/// The TCP port a server listens on unless told otherwise ("JUKE" on a phone keypad).
pub const DEFAULT_PORT: u16 = 5853;
