//! The error codes carried by ERROR frames.
//!
//! Whether an error ends the connection is told by its request ID, not its code: 0 for the whole
//! connection (the server closes after sending it), the request's ID otherwise. A receiver therefore
//! handles a code it does not know ([`ErrorCode::Other`]) as well as one it does, and later versions
//! may add codes.

macro_rules! error_codes {
    ($($(#[$doc:meta])* $name:ident = $code:expr, $rfc:literal, connection: $connection:expr,)*) => {
        /// Why a request or a connection failed.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $name,)*
            /// A code this version does not define, kept as received.
            Other(u16),
        }

        impl ErrorCode {
            /// Every error code this version defines, in code order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)*];

            /// The error code for a number: [`ErrorCode::Other`] for one this version does not
            /// define.
            pub fn from_code(code: u16) -> Self {
                match code {
                    $($code => ErrorCode::$name,)*
                    other => ErrorCode::Other(other),
                }
            }

            /// The code on the wire.
            pub fn code(self) -> u16 {
                match self {
                    $(ErrorCode::$name => $code,)*
                    ErrorCode::Other(code) => code,
                }
            }

            /// The name used for this code in the RFC (`"OTHER"` for an unknown code).
            pub fn name(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => $rfc,)*
                    ErrorCode::Other(_) => "OTHER",
                }
            }

            /// True for the codes a server sends with request ID 0, about the whole connection,
            /// which it then closes; false for those it sends about one request. Receivers go by
            /// the request ID, not by this.
            pub fn is_connection_level(self) -> bool {
                match self {
                    $(ErrorCode::$name => $connection,)*
                    ErrorCode::Other(_) => false,
                }
            }
        }
    };
}

error_codes! {
    /// A frame broke the framing or payload rules (bad magic, a payload length its type does not
    /// allow, reserved bits set, invalid UTF-8).
    MalformedFrame = 1, "MALFORMED_FRAME", connection: true,
    /// The HELLO named only protocol versions older than the server speaks.
    UnsupportedVersion = 2, "UNSUPPORTED_VERSION", connection: true,
    /// A frame header announced a payload larger than the maximum.
    FrameTooLarge = 3, "FRAME_TOO_LARGE", connection: true,
    /// A frame header carried a type code this version does not define.
    UnknownType = 4, "UNKNOWN_TYPE", connection: true,
    /// A well-formed message arrived where it is not allowed: anything before HELLO, a second HELLO,
    /// a message only servers send, or request ID 0.
    UnexpectedMessage = 5, "UNEXPECTED_MESSAGE", connection: true,
    /// No song has the requested ID.
    UnknownSong = 6, "UNKNOWN_SONG", connection: false,
    /// The song has no segment with the requested index.
    SegmentOutOfRange = 7, "SEGMENT_OUT_OF_RANGE", connection: false,
    /// The connection already has the maximum number of segment requests queued.
    TooManyRequests = 8, "TOO_MANY_REQUESTS", connection: false,
    /// The server is at its connection limit, or the client's address at its own.
    ServerBusy = 9, "SERVER_BUSY", connection: true,
    /// The connection sent nothing for too long.
    IdleTimeout = 10, "IDLE_TIMEOUT", connection: true,
    /// The server failed for a reason of its own.
    Internal = 11, "INTERNAL", connection: false,
    /// A request's document is not acceptable: a LIST whose JSON does not parse, a search too long,
    /// a cursor the server did not make.
    BadRequest = 12, "BAD_REQUEST", connection: false,
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ErrorCode::Other(code) => write!(f, "error {code}"),
            known => f.write_str(known.name()),
        }
    }
}
