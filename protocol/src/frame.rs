//! The fixed 12-byte frame header and the message type codes.
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
//! from the first four bytes alone.

use crate::codec::DecodeError;
use crate::MAX_PAYLOAD;

/// Size of the frame header in bytes.
pub const HEADER_LEN: usize = 12;

/// The only flag defined: set on the last DATA frame of a segment.
pub const FLAG_END: u8 = 0x01;

macro_rules! message_types {
    ($($(#[$doc:meta])* $name:ident = $code:expr, $rfc:literal,)*) => {
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
        }
    };
}

message_types! {
    /// Client opens the connection: magic and protocol version.
    Hello = 0x01, "HELLO",
    /// Server accepts the version.
    Welcome = 0x02, "WELCOME",
    /// Client asks for the catalog.
    List = 0x03, "LIST",
    /// Server answers LIST with the catalog as JSON.
    Catalog = 0x04, "CATALOG",
    /// Client asks for a song's manifest.
    GetManifest = 0x05, "GET_MANIFEST",
    /// Server answers GET_MANIFEST with the manifest as JSON.
    Manifest = 0x06, "MANIFEST",
    /// Client asks for one segment of a song.
    GetSegment = 0x07, "GET_SEGMENT",
    /// Server sends a piece of a segment.
    Data = 0x08, "DATA",
    /// Client abandons one of its requests.
    Cancel = 0x09, "CANCEL",
    /// Server reports that a request, or the connection, failed.
    Error = 0x0A, "ERROR",
}

impl MessageType {
    /// The code on the wire.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// True for the types a client sends; the others are sent only by a server.
    pub fn is_request(self) -> bool {
        matches!(
            self,
            MessageType::Hello
                | MessageType::List
                | MessageType::GetManifest
                | MessageType::GetSegment
                | MessageType::Cancel
        )
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
    /// the reserved field is zero, and only DATA carries a flag.
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
        Ok(FrameHeader {
            length,
            kind,
            flags,
            request_id,
        })
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
