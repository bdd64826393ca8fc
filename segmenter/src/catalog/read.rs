//! Reading a whole catalog, every song with its manifest and segment files checked: for tools and
//! tests that want to see all of it. A server never does this: it opens the index
//! ([`crate::open_catalog`]) and reads what clients ask for.
//!
//! Each song the index lists is checked: its manifest parses and passes
//! [`jukebox_protocol::Manifest::from_json`] with the ID the index gives, and every segment file
//! exists with the size the manifest gives. A song that fails is skipped with its reason.

use std::path::Path;

use jukebox_protocol::Manifest;

use crate::catalog::files::{segment_file_name, SegmentFiles};
use crate::catalog::index::{Entry, Index, IndexError, SONGS_DIR};
use crate::{LoadedDir, Skipped, Song};

/// See [`crate::read_catalog`].
pub fn read(dir: &Path) -> Result<LoadedDir, IndexError> {
    let index = Index::open_catalog(dir)?;
    let mut loaded = LoadedDir::default();
    for entry in index.entries()? {
        match read_song(dir, &entry) {
            Ok(song) => loaded.songs.push(song),
            Err(reason) => loaded.skipped.push(Skipped {
                path: entry.source_path(),
                reason: format!(
                    "{reason} (catalog folder songs/{})",
                    entry.dir.as_deref().unwrap_or("")
                ),
            }),
        }
    }
    Ok(loaded)
}

/// Reads and checks one song folder.
fn read_song(dir: &Path, entry: &Entry) -> Result<Song, String> {
    let Some(name) = entry.dir.as_deref() else {
        return Err("no song folder".into());
    };
    // The folder name comes from the index: it must name a folder inside `songs/`, nothing else.
    if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\', '\0']) {
        return Err(format!("bad folder name {name:?}"));
    }
    let folder = dir.join(SONGS_DIR).join(name);
    let manifest =
        Manifest::from_json(&entry.manifest).map_err(|e| format!("invalid manifest: {e}"))?;
    if manifest.id != entry.id {
        return Err(format!("the manifest is song {}'s", manifest.id));
    }
    for segment in &manifest.segments {
        let name = segment_file_name(segment.index);
        match std::fs::metadata(folder.join(&name)) {
            Ok(m) if m.is_file() && m.len() == u64::from(segment.bytes) => {}
            Ok(m) => {
                return Err(format!(
                    "segment file {name} holds {} bytes, the manifest says {}",
                    m.len(),
                    segment.bytes
                ))
            }
            Err(e) => return Err(format!("segment file {name}: {e}")),
        }
    }
    let sizes = manifest.segments.iter().map(|s| s.bytes).collect();
    Ok(Song {
        path: entry.source_path(),
        audio_hash: 0,
        manifest,
        segments: Vec::new(),
        files: Some(SegmentFiles::new(folder, sizes)),
    })
}
