//! The errors a client command can end with. Each prints as one line after "error: ".

use std::time::Duration;

use jukebox_protocol::{DocumentError, ErrorCode};

/// Why a request to the server, or playing a song, failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the server at {addr}: {reason}")]
    Connect { addr: String, reason: String },
    #[error("the peer at {addr} is not a Jukebox server: {reason}")]
    NotJukebox { addr: String, reason: String },
    #[error("the server at {addr} does not support protocol version {version}: {message}")]
    UnsupportedVersion {
        addr: String,
        version: u16,
        message: String,
    },
    /// The connection ended; the next command opens a new one.
    #[error("connection to the server lost: {0}")]
    Closed(String),
    /// A request got no answer within its deadline: the server stopped answering.
    #[error("the server did not answer {what} within {}", seconds(*.after))]
    Timeout { what: String, after: Duration },
    #[error("unknown song {0}")]
    UnknownSong(u64),
    #[error("song {song} has no segment {index}")]
    SegmentOutOfRange { song: u64, index: u32 },
    #[error("the server refused the request: too many requests queued")]
    TooManyRequests,
    /// Any other ERROR frame the server sent for a request.
    #[error("server error {code}: {message}")]
    Server { code: ErrorCode, message: String },
    /// The server answered with something that breaks the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("invalid manifest for song {song}: {reason}")]
    BadManifest { song: u64, reason: String },
    #[error(
        "segment {index} of song {song} failed verification (SHA-256 mismatch); playback stopped"
    )]
    Corrupt { song: u64, index: u32 },
    /// The server behind the address serves another catalog, in which the playing song is not
    /// the same.
    #[error(
        "the server now serves another catalog ({catalog}), and song {song} {reason}; playback stopped"
    )]
    CatalogChanged {
        song: u64,
        catalog: String,
        reason: String,
    },
    /// A listing cannot go on: the server behind the address serves another catalog now.
    #[error("the server now serves another catalog ({catalog}); list or search again")]
    ListingChanged { catalog: String },
    #[error("cannot decode song {song}: {reason}")]
    Decode { song: u64, reason: String },
    #[error("audio output failed: {0}")]
    Output(String),
}

impl ClientError {
    /// Builds the error for an ERROR frame answering a request about `song` (and `index`).
    pub fn from_server(code: ErrorCode, message: String, song: u64, index: Option<u32>) -> Self {
        match (code, index) {
            (ErrorCode::UnknownSong, _) => ClientError::UnknownSong(song),
            (ErrorCode::SegmentOutOfRange, Some(index)) => {
                ClientError::SegmentOutOfRange { song, index }
            }
            (ErrorCode::TooManyRequests, _) => ClientError::TooManyRequests,
            _ => ClientError::Server { code, message },
        }
    }

    /// The connection failed, the server stopped answering, or it was too busy to take a new
    /// connection (as a replica may be for a moment while another drains): another connection
    /// may do.
    pub fn is_connection_problem(&self) -> bool {
        matches!(
            self,
            ClientError::Connect { .. }
                | ClientError::Closed(_)
                | ClientError::Timeout { .. }
                | ClientError::Server {
                    code: ErrorCode::ServerBusy,
                    ..
                }
        )
    }

    pub(crate) fn bad_manifest(song: u64, error: DocumentError) -> Self {
        ClientError::BadManifest {
            song,
            reason: error.to_string(),
        }
    }
}

/// "5 s", "0.5 s".
fn seconds(duration: Duration) -> String {
    let tenths = (duration.as_secs_f64() * 10.0).round() / 10.0;
    format!("{tenths} s")
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;
