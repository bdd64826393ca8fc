//! The songs a server offers, prepared once at startup so that serving a request never serialises or
//! copies anything: every connection sends clones of the same shared buffers.

use bytes::Bytes;
use jukebox_protocol::MAX_PAYLOAD;
use jukebox_segmenter::{catalog_of, Song};

/// The songs a server offers, with their catalog and manifests serialised once for everyone.
pub struct Store {
    /// Sorted by song ID, IDs unique and nonzero, so lookups are a binary search.
    songs: Vec<Song>,
    /// `manifest_json[i]` is the manifest of `songs[i]`.
    manifest_json: Vec<Bytes>,
    catalog_json: Bytes,
}

/// Why a segment cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    UnknownSong,
    OutOfRange,
}

impl Store {
    /// Indexes the songs by ID and serialises the catalog and every manifest.
    ///
    /// Songs with ID 0 or with an ID already taken are left out with a warning: a client could not
    /// address them unambiguously.
    pub fn new(songs: Vec<Song>) -> Store {
        let mut songs = songs;
        songs.sort_by_key(|song| song.manifest.id);
        let mut kept: Vec<Song> = Vec::with_capacity(songs.len());
        for song in songs {
            let id = song.manifest.id;
            if id == 0 || kept.last().is_some_and(|s| s.manifest.id == id) {
                tracing::warn!(
                    id,
                    path = %song.path.display(),
                    "song left out: its ID is 0 or already taken"
                );
                continue;
            }
            if song.segments.len() != song.manifest.segments.len() {
                tracing::warn!(
                    id,
                    path = %song.path.display(),
                    "song has {} segments but its manifest lists {}",
                    song.segments.len(),
                    song.manifest.segments.len()
                );
            }
            kept.push(song);
        }
        let manifest_json = kept
            .iter()
            .map(|song| {
                let json = Bytes::from(song.manifest.to_json());
                if !fits(&json) {
                    tracing::warn!(
                        id = song.manifest.id,
                        "manifest is too large for one frame; GET_MANIFEST will fail"
                    );
                }
                json
            })
            .collect();
        let catalog_json = Bytes::from(catalog_of(&kept).to_json());
        if !fits(&catalog_json) {
            tracing::warn!("catalog is too large for one frame; LIST will fail");
        }
        Store {
            songs: kept,
            manifest_json,
            catalog_json,
        }
    }

    /// Number of songs offered.
    pub fn len(&self) -> usize {
        self.songs.len()
    }

    /// True when no song is offered.
    pub fn is_empty(&self) -> bool {
        self.songs.is_empty()
    }

    /// The songs offered, in ID order.
    pub fn songs(&self) -> &[Song] {
        &self.songs
    }

    /// The catalog as compact JSON.
    pub fn catalog_json(&self) -> &Bytes {
        &self.catalog_json
    }

    /// A song's manifest as compact JSON.
    pub fn manifest_json(&self, id: u32) -> Option<&Bytes> {
        self.position(id).map(|i| &self.manifest_json[i])
    }

    /// The bytes of one segment of a song.
    pub fn segment(&self, id: u32, index: u32) -> Result<&Bytes, Lookup> {
        let song = &self.songs[self.position(id).ok_or(Lookup::UnknownSong)?];
        usize::try_from(index)
            .ok()
            .and_then(|i| song.segments.get(i))
            .ok_or(Lookup::OutOfRange)
    }

    fn position(&self, id: u32) -> Option<usize> {
        self.songs
            .binary_search_by_key(&id, |song| song.manifest.id)
            .ok()
    }
}

/// True when a JSON document fits in one frame's payload.
pub(crate) fn fits(json: &Bytes) -> bool {
    !json.is_empty() && json.len() <= MAX_PAYLOAD as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_songs::song;
    use jukebox_protocol::Catalog;

    #[test]
    fn looks_up_songs_and_segments_by_id() {
        let store = Store::new(vec![song(7, &[b"seven"]), song(2, &[b"two-a", b"two-b"])]);
        assert_eq!(store.len(), 2);
        assert_eq!(store.segment(2, 1).unwrap().as_ref(), b"two-b");
        assert_eq!(store.segment(7, 0).unwrap().as_ref(), b"seven");
        assert_eq!(store.segment(7, 1), Err(Lookup::OutOfRange));
        assert_eq!(store.segment(7, u32::MAX), Err(Lookup::OutOfRange));
        assert_eq!(store.segment(3, 0), Err(Lookup::UnknownSong));
        assert!(store.manifest_json(1).is_none());
        let manifest =
            jukebox_protocol::Manifest::from_json(store.manifest_json(7).unwrap()).unwrap();
        assert_eq!(manifest.id, 7);
    }

    #[test]
    fn catalog_lists_songs_in_id_order() {
        let store = Store::new(vec![song(3, &[b"c"]), song(1, &[b"a", b"b"])]);
        let catalog = Catalog::from_json(store.catalog_json()).unwrap();
        let ids: Vec<u32> = catalog.songs.iter().map(|s| s.id).collect();
        assert_eq!(ids, [1, 3]);
        assert_eq!(catalog.songs[0].segments, 2);
    }

    #[test]
    fn leaves_out_duplicate_and_zero_ids() {
        let store = Store::new(vec![
            song(1, &[b"first"]),
            song(1, &[b"second"]),
            song(0, &[b"z"]),
        ]);
        assert_eq!(store.len(), 1);
        assert!(store.manifest_json(0).is_none());
        let catalog = Catalog::from_json(store.catalog_json()).unwrap();
        assert_eq!(catalog.songs.len(), 1);
    }

    #[test]
    fn segments_are_shared_not_copied() {
        let data = Bytes::from_static(b"shared segment");
        let mut s = song(1, &[b"x"]);
        s.segments = vec![data.clone()];
        let store = Store::new(vec![s]);
        assert_eq!(store.segment(1, 0).unwrap().as_ptr(), data.as_ptr());
    }
}
