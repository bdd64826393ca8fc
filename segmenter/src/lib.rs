//! Splits mp3 files into numbered segments on MPEG frame boundaries, with a manifest.
//!
//! The path of a file through the crate: [`tags`] finds where the audio lies between the tags,
//! [`scan`] walks its frames (parsed by [`header`]), [`xing`] recognises an info frame and its
//! encoder delay, [`plan`] cuts the frames into segments, and `song` builds the manifest. `dir` does
//! this for a whole folder in parallel.

mod catalog;
mod dir;
pub mod header;
pub mod plan;
pub mod scan;
mod song;
pub mod tags;
pub mod xing;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use jukebox_protocol::{Catalog, Manifest};

/// Default target duration of a segment. See [`plan`] for why.
pub const DEFAULT_SEGMENT_DURATION: Duration = Duration::from_secs(2);

/// A segmented song: its manifest and its segments, which share one buffer holding the file.
#[derive(Debug, Clone)]
pub struct Song {
    /// Path of the source file relative to the folder it was loaded from.
    pub path: PathBuf,
    pub manifest: Manifest,
    /// `segments[i]` holds the bytes of manifest segment `i`; slices of one shared buffer.
    pub segments: Vec<Bytes>,
}

/// Why a file could not be segmented.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a playable mp3: {0}")]
    Invalid(String),
}

/// A file that was skipped while loading a folder, and why.
#[derive(Debug)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// The result of loading a folder.
#[derive(Debug, Default)]
pub struct LoadedDir {
    /// Valid songs, sorted by relative path, with IDs 1, 2, 3...
    pub songs: Vec<Song>,
    pub skipped: Vec<Skipped>,
}

/// Segments an mp3 held in memory. `fallback_title` is used when the tags carry no title.
/// The segments are slices of `data` (no copies); the song's `path` is empty.
pub fn segment_bytes(
    id: u32,
    fallback_title: &str,
    data: Bytes,
    target: Duration,
) -> Result<Song, SegmentError> {
    song::segment(id, fallback_title, data, target)
}

/// Reads and segments one file; the title falls back to the file name without extension.
/// The song's `path` is the file name.
pub fn segment_file(path: &Path, id: u32, target: Duration) -> Result<Song, SegmentError> {
    let data = Bytes::from(std::fs::read(path)?);
    let title = path
        .file_stem()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default();
    let mut song = segment_bytes(id, &title, data, target)?;
    song.path = path.file_name().map(PathBuf::from).unwrap_or_default();
    Ok(song)
}

/// Segments every `*.mp3` below `dir` (recursively), using all cores. Files that fail are skipped
/// and reported, never fatal; only an unreadable `dir` itself is an error.
/// Valid songs are numbered 1, 2, 3... in the byte order of their paths relative to `dir`.
pub fn load_dir(dir: &Path, target: Duration) -> std::io::Result<LoadedDir> {
    dir::load(dir, target)
}

/// The catalog that lists these songs.
pub fn catalog_of(songs: &[Song]) -> Catalog {
    catalog::catalog_of(songs)
}
