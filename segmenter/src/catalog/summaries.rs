//! The song list entry of each song.

use jukebox_protocol::SongSummary;

use crate::Song;

/// The song list entries of `songs`, in the order given (ascending IDs when they come from
/// `load_dir`).
pub fn summaries_of(songs: &[Song]) -> Vec<SongSummary> {
    songs
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
        .collect()
}
