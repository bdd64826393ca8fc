//! The catalog: the list of songs a server offers.

use serde::{Deserialize, Serialize};

/// The catalog, sent as the JSON payload of a CATALOG frame.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Songs in ascending ID order.
    pub songs: Vec<SongSummary>,
}

/// One song's entry in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SongSummary {
    /// The song's ID: a positive integer, stable for a given catalog.
    pub id: u32,
    pub title: String,
    /// Empty when unknown.
    pub artist: String,
    /// Empty when unknown.
    pub album: String,
    pub duration_ms: u64,
    /// Number of segments in the song's manifest.
    pub segments: u32,
}

impl Catalog {
    /// Parses a catalog received from a peer.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// Serialises the catalog to compact JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a catalog always serialises")
    }
}
