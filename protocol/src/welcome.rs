//! The document a server sends in WELCOME: what a client may want to know before its first request.

use serde::{Deserialize, Serialize};

use crate::document::{self, safe_u64, DocumentError};

/// About the server and the catalog it serves; the JSON part of a WELCOME payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// The server's software and version, for logs, e.g. `"jukebox-server/0.2.0"`.
    pub server: String,
    /// Names the catalog's contents: 64 lowercase hex digits that change whenever a song, a
    /// manifest or a segment changes. Servers that give the same value serve the same songs, IDs,
    /// manifests and segment bytes, so a client that reconnects (perhaps to another server behind
    /// the same address) can tell whether what it already fetched still holds.
    pub catalog: String,
    /// Number of songs in the catalog.
    #[serde(deserialize_with = "safe_u64")]
    pub songs: u64,
    /// Most songs the server puts in one PAGE; a LIST asking for more gets this many.
    pub max_page: u32,
}

impl ServerInfo {
    /// Parses and checks the document received from a peer.
    pub fn from_json(bytes: &[u8]) -> Result<Self, DocumentError> {
        document::parse(bytes, |info: &ServerInfo| {
            if !is_hex_digest(&info.catalog) {
                return Err("catalog is not 64 lowercase hex digits".into());
            }
            if info.max_page == 0 {
                return Err("max_page is 0".into());
            }
            Ok(())
        })
    }

    /// Compact JSON.
    pub fn to_json(&self) -> Vec<u8> {
        document::to_json(self)
    }
}

/// True for 64 lowercase hex digits, as a SHA-256 digest is written in every document.
pub fn is_hex_digest(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
