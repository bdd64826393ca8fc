//! The catalog entry of each song.

use jukebox_protocol::{Catalog, SongSummary};

use crate::Song;

/// The catalog listing `songs`, in the order given (ascending IDs when they come from `load_dir`).
pub fn catalog_of(songs: &[Song]) -> Catalog {
    let songs = songs
        .iter()
        .map(|song| {
            let m = &song.manifest;
            SongSummary {
                id: m.id,
                title: m.title.clone(),
                artist: m.artist.clone(),
                album: m.album.clone(),
                duration_ms: m.duration_ms,
                segments: m.segments.len() as u32,
            }
        })
        .collect();
    Catalog { songs }
}
