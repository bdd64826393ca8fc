//! Loading a catalog written by [`crate::write_catalog`] for serving: manifests in memory, segments
//! left on disk and read on demand ([`crate::SegmentFiles`]).
//!
//! Each song listed by the index is checked before it is offered: its manifest parses and passes
//! [`jukebox_protocol::Manifest::validate`], agrees with the index, and every segment file exists with
//! the size the manifest gives. A song that fails is skipped with its reason; the others keep the IDs
//! the index gives them, so one damaged folder does not renumber the rest.

use std::path::Path;

use jukebox_protocol::Manifest;
use rayon::prelude::*;

use crate::catalog::files::{segment_file_name, SegmentFiles, MANIFEST_FILE};
use crate::catalog::index::{Entry, Index, SONGS_DIR};
use crate::{LoadedDir, Skipped, Song};

/// See [`crate::load_catalog`].
pub fn load(dir: &Path) -> std::io::Result<LoadedDir> {
    let index = Index::read(dir)?.ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "no {} (not a catalog folder)",
                crate::catalog::index::INDEX_FILE
            ),
        )
    })?;
    let mut ids = std::collections::HashSet::new();
    let results: Vec<(Entry, Result<Song, String>)> = index
        .songs
        .into_par_iter()
        .map(|entry| {
            let song = load_song(dir, &entry);
            (entry, song)
        })
        .collect();
    let mut loaded = LoadedDir::default();
    for (entry, result) in results {
        let result = result.and_then(|song| {
            if ids.insert(song.manifest.id) {
                Ok(song)
            } else {
                Err(format!("ID {} is listed twice", song.manifest.id))
            }
        });
        match result {
            Ok(song) => loaded.songs.push(song),
            Err(reason) => loaded.skipped.push(Skipped {
                path: entry.source_path(),
                reason: format!("{reason} (catalog folder songs/{})", entry.dir),
            }),
        }
    }
    loaded.songs.sort_by_key(|s| s.manifest.id);
    Ok(loaded)
}

/// Reads and checks one song folder.
fn load_song(dir: &Path, entry: &Entry) -> Result<Song, String> {
    if entry.id == 0 {
        return Err("ID 0".into());
    }
    // The folder name comes from the index: it must name a folder inside `songs/`, nothing else.
    if entry.dir.is_empty() || entry.dir.starts_with('.') || entry.dir.contains(['/', '\\', '\0']) {
        return Err(format!("bad folder name {:?}", entry.dir));
    }
    let folder = dir.join(SONGS_DIR).join(&entry.dir);
    let json = std::fs::read(folder.join(MANIFEST_FILE))
        .map_err(|e| format!("cannot read {MANIFEST_FILE}: {e}"))?;
    // A catalog's manifest files hold ID 0 (the index gives the ID), so it is checked once set.
    let invalid = |e: &dyn std::fmt::Display| format!("invalid {MANIFEST_FILE}: {e}");
    let mut manifest: Manifest = serde_json::from_slice(&json).map_err(|e| invalid(&e))?;
    manifest.id = entry.id;
    manifest.validate().map_err(|e| invalid(&e))?;
    if manifest.segments.len() != entry.segments as usize
        || manifest.duration_ms != entry.duration_ms
    {
        return Err("manifest does not match the index".into());
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
        manifest,
        segments: Vec::new(),
        files: Some(SegmentFiles::new(folder, sizes)),
    })
}
