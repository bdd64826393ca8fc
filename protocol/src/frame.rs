//! The fixed 12-byte frame header, and the message table: every message type with its code, who
//! sends it and how long its payload may be.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                        Payload Length                         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Flags     |           Reserved            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                          Request ID                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! All integers are big-endian. The length comes first so that a receiver learns how much to read
//! from the first four bytes alone, and the header alone tells whether the payload's length is one
//! the type allows, so a receiver never buffers a payload it would refuse.

use std::ops::RangeInclusive;

use crate::codec::DecodeError;
use crate::{MAX_DATA_PAYLOAD, MAX_ERROR_MESSAGE, MAX_PAYLOAD, MAX_REQUEST_PAYLOAD};

/// Size of the frame header in bytes.
pub const HEADER_LEN: usize = 12;

/// The only flag defined: set on the last DATA frame of a segment.
pub const FLAG_END: u8 = 0x01;

/// Which side of a connection sends a message type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    Client,
    Server,
}

/// Shortest JSON document: `{}`.
const JSON_MIN: u32 = 2;

macro_rules! message_types {
    ($($(#[$doc:meta])* $name:ident = $code:expr, $rfc:literal, $sender:ident, $payload:expr;)*) => {
        /// The message type codes, one per message.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum MessageType {
            $($(#[$doc])* $name = $code,)*
        }

        impl MessageType {
            /// Every message type, in code order.
            pub const ALL: &'static [MessageType] = &[$(MessageType::$name,)*];

            /// The type for a code, if it is one this version defines.
            pub fn from_code(code: u8) -> Option<Self> {
                match code {
                    $($code => Some(MessageType::$name),)*
                    _ => None,
                }
            }

            /// The name used for this type in the RFC.
            pub fn name(self) -> &'static str {
                match self {
                    $(MessageType::$name => $rfc,)*
                }
            }

            /// Who sends this type.
            pub fn sender(self) -> Sender {
                match self {
                    $(MessageType::$name => Sender::$sender,)*
                }
            }

            /// The payload lengths this type allows, in bytes.
            pub fn payload(self) -> RangeInclusive<u32> {
                match self {
                    $(MessageType::$name => $payload,)*
                }
            }
        }
    };
}

// The message table. Payload layouts are in `codec.rs`; the RFC's table of message types is checked
// against this one by protocol/tests/rfc.rs.
message_types! {
    /// Client opens the connection: magic and the highest protocol version it speaks. Later
    /// versions may append to it, so anything after the version is ignored.
    Hello = 0x01, "HELLO", Client, 6..=MAX_REQUEST_PAYLOAD;
    /// Server accepts: magic, the version the connection speaks, and a JSON document about the
    /// server ([`crate::ServerInfo`]).
    Welcome = 0x02, "WELCOME", Server, 6 + JSON_MIN..=MAX_PAYLOAD;
    /// Client asks for one page of the song list, optionally filtered by a search: a JSON
    /// [`crate::ListRequest`], or nothing for the first page of every song.
    List = 0x03, "LIST", Client, 0..=MAX_REQUEST_PAYLOAD;
    /// Server answers LIST with one page of songs as JSON ([`crate::Page`]).
    Page = 0x04, "PAGE", Server, JSON_MIN..=MAX_PAYLOAD;
    /// Client asks for a song's manifest: the song ID.
    GetManifest = 0x05, "GET_MANIFEST", Client, 8..=8;
    /// Server answers GET_MANIFEST with the manifest as JSON ([`crate::Manifest`]).
    Manifest = 0x06, "MANIFEST", Server, JSON_MIN..=MAX_PAYLOAD;
    /// Client asks for one segment of a song: the song ID and the segment's index.
    GetSegment = 0x07, "GET_SEGMENT", Client, 12..=12;
    /// Server sends a piece of a segment.
    Data = 0x08, "DATA", Server, 1..=MAX_DATA_PAYLOAD as u32;
    /// Client abandons one of its requests.
    Cancel = 0x09, "CANCEL", Client, 0..=0;
    /// Server reports that a request, or (request ID 0) the connection, failed: code and text.
    Error = 0x0A, "ERROR", Server, 2..=2 + MAX_ERROR_MESSAGE as u32;
    /// Server asks the client to move to another connection before it closes this one: the time
    /// left in milliseconds, and a text.
    GoAway = 0x0B, "GOAWAY", Server, 4..=4 + MAX_ERROR_MESSAGE as u32;
}

impl MessageType {
    /// The code on the wire.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// True for the types a client sends; the others are sent only by a server.
    pub fn is_request(self) -> bool {
        self.sender() == Sender::Client
    }
}

/// A parsed and checked frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub length: u32,
    pub kind: MessageType,
    pub flags: u8,
    pub request_id: u32,
}

impl FrameHeader {
    /// Parses and checks a header: the payload length is within [`MAX_PAYLOAD`], the type is known,
    /// the reserved field is zero, only DATA carries a flag, and the length is one the type allows.
    pub fn parse(bytes: &[u8; HEADER_LEN]) -> Result<Self, DecodeError> {
        let length = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let code = bytes[4];
        let flags = bytes[5];
        let reserved = u16::from_be_bytes([bytes[6], bytes[7]]);
        let request_id = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        if length > MAX_PAYLOAD {
            return Err(DecodeError::TooLarge { length });
        }
        let kind = MessageType::from_code(code).ok_or(DecodeError::UnknownType { code })?;
        if reserved != 0 {
            return Err(DecodeError::Malformed("reserved header field is not zero"));
        }
        let allowed = if kind == MessageType::Data {
            FLAG_END
        } else {
            0
        };
        if flags & !allowed != 0 {
            return Err(DecodeError::Malformed("undefined flag bit set"));
        }
        if !kind.payload().contains(&length) {
            return Err(DecodeError::Length { kind, length });
        }
        Ok(FrameHeader {
            length,
            kind,
            flags,
            request_id,
        })
    }

    /// True for a DATA frame without END: unless the transfer is cancelled, another DATA frame of
    /// the same segment follows.
    pub fn continues_segment(&self) -> bool {
        self.kind == MessageType::Data && self.flags & FLAG_END == 0
    }

    /// The header's 12 bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..4].copy_from_slice(&self.length.to_be_bytes());
        out[4] = self.kind.code();
        out[5] = self.flags;
        out[8..12].copy_from_slice(&self.request_id.to_be_bytes());
        out
    }
}
