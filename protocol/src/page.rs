//! The song list, a page at a time: what a client asks for in LIST and what the server answers in
//! PAGE. No answer depends on the whole library fitting into one frame.

use serde::{Deserialize, Serialize};

use crate::document::{self, safe_u64, DocumentError};
use crate::MAX_SONG_ID;

/// Longest search text, in bytes.
pub const MAX_QUERY_BYTES: usize = 256;

/// Longest cursor, in bytes.
pub const MAX_CURSOR_BYTES: usize = 256;

/// A LIST request; every member is optional, and an empty LIST payload means all defaults: the
/// first page of every song.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRequest {
    /// Only songs matching these words, in any order, case and accents ignored: each word but the
    /// last must be a whole word of the title, artist or album, and the last may be the beginning
    /// of one (the user may still be typing it). Empty or absent: every song.
    #[serde(
        default,
        deserialize_with = "document::null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub query: String,
    /// Where to go on: the `next` of the previous page of the same query. Absent: the first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Most songs wanted; the server gives at most its `max_page`. Absent: the server's choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

impl ListRequest {
    /// Parses and checks a LIST payload; an empty one is the default request.
    pub fn from_json(bytes: &[u8]) -> Result<Self, DocumentError> {
        if bytes.is_empty() {
            return Ok(ListRequest::default());
        }
        document::parse(bytes, |request: &ListRequest| {
            if request.query.len() > MAX_QUERY_BYTES {
                return Err(format!("the search is over {MAX_QUERY_BYTES} bytes"));
            }
            if request
                .cursor
                .as_ref()
                .is_some_and(|c| c.len() > MAX_CURSOR_BYTES)
            {
                return Err(format!("the cursor is over {MAX_CURSOR_BYTES} bytes"));
            }
            if request.limit == Some(0) {
                return Err("the limit is 0".into());
            }
            Ok(())
        })
    }

    /// The LIST payload: empty for the default request, else compact JSON.
    pub fn to_json(&self) -> Vec<u8> {
        if *self == ListRequest::default() {
            return Vec::new();
        }
        document::to_json(self)
    }
}

/// One page of songs, the answer to a LIST.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// How many songs match the request in all pages together.
    #[serde(deserialize_with = "safe_u64")]
    pub total: u64,
    /// This page's songs, in the server's order (the same for every page of a request).
    pub songs: Vec<SongSummary>,
    /// The cursor for the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// One song in a page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SongSummary {
    /// The song's ID, from 1 to 2^53 - 1.
    #[serde(deserialize_with = "safe_u64")]
    pub id: u64,
    pub title: String,
    /// Empty when unknown.
    pub artist: String,
    /// Empty when unknown.
    pub album: String,
    #[serde(deserialize_with = "safe_u64")]
    pub duration_ms: u64,
    /// Number of segments in the song's manifest.
    pub segments: u32,
}

impl Page {
    /// Parses and checks a page received from a peer: IDs in range, no ID twice.
    pub fn from_json(bytes: &[u8]) -> Result<Self, DocumentError> {
        document::parse(bytes, |page: &Page| {
            let mut seen = std::collections::HashSet::new();
            for song in &page.songs {
                if song.id == 0 || song.id > MAX_SONG_ID {
                    return Err(format!("song ID {} is out of range", song.id));
                }
                if !seen.insert(song.id) {
                    return Err(format!("song {} is listed twice", song.id));
                }
            }
            if (page.songs.len() as u64) > page.total {
                return Err("more songs than the total".into());
            }
            if page
                .next
                .as_ref()
                .is_some_and(|c| c.is_empty() || c.len() > MAX_CURSOR_BYTES)
            {
                return Err("the next cursor is empty or too long".into());
            }
            Ok(())
        })
    }

    /// Compact JSON.
    pub fn to_json(&self) -> Vec<u8> {
        document::to_json(self)
    }
}
