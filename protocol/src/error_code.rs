//! The error codes carried by ERROR frames.

macro_rules! error_codes {
    ($($(#[$doc:meta])* $name:ident = $code:expr, $rfc:literal, fatal: $fatal:expr,)*) => {
        /// Why a request or a connection failed.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u16)]
        pub enum ErrorCode {
            $($(#[$doc])* $name = $code,)*
        }

        impl ErrorCode {
            /// Every error code, in code order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)*];

            /// The error code for a number, if this version defines it.
            pub fn from_code(code: u16) -> Option<Self> {
                match code {
                    $($code => Some(ErrorCode::$name),)*
                    _ => None,
                }
            }

            /// The name used for this code in the RFC.
            pub fn name(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => $rfc,)*
                }
            }

            /// True when the server closes the connection after sending this error.
            pub fn is_fatal(self) -> bool {
                match self {
                    $(ErrorCode::$name => $fatal,)*
                }
            }
        }
    };
}

error_codes! {
    /// A frame broke the framing or payload rules (bad magic, wrong payload size, reserved bits set,
    /// invalid UTF-8).
    MalformedFrame = 1, "MALFORMED_FRAME", fatal: true,
    /// The HELLO named a protocol version the server does not speak.
    UnsupportedVersion = 2, "UNSUPPORTED_VERSION", fatal: true,
    /// A frame header announced a payload larger than the maximum.
    FrameTooLarge = 3, "FRAME_TOO_LARGE", fatal: true,
    /// A frame header carried a type code this version does not define.
    UnknownType = 4, "UNKNOWN_TYPE", fatal: true,
    /// A well-formed message arrived where it is not allowed: anything before HELLO, a second HELLO,
    /// a message only servers send, or request ID 0.
    UnexpectedMessage = 5, "UNEXPECTED_MESSAGE", fatal: true,
    /// No song has the requested ID.
    UnknownSong = 6, "UNKNOWN_SONG", fatal: false,
    /// The song has no segment with the requested index.
    SegmentOutOfRange = 7, "SEGMENT_OUT_OF_RANGE", fatal: false,
    /// The connection already has the maximum number of segment requests queued.
    TooManyRequests = 8, "TOO_MANY_REQUESTS", fatal: false,
    /// The server is at its connection limit.
    ServerBusy = 9, "SERVER_BUSY", fatal: true,
    /// The connection sent nothing for too long.
    IdleTimeout = 10, "IDLE_TIMEOUT", fatal: true,
    /// The server failed for a reason of its own.
    Internal = 11, "INTERNAL", fatal: false,
}

impl ErrorCode {
    /// The code on the wire.
    pub fn code(self) -> u16 {
        self as u16
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
