//! Splits mp3 files into numbered segments on MPEG frame boundaries, with a manifest.
//!
//! The crate has two jobs, one module each:
//!
//! - [`mp3`]: one file's analysis. [`mp3::tags`] finds where the audio lies between the tags,
//!   [`mp3::scan`] walks its frames (headers read by [`mp3::header`]), [`mp3::xing`] recognises an
//!   info frame and its encoder delay, [`mp3::plan`] cuts the frames into segments, and
//!   [`mp3::song`] builds the manifest ([`segment_bytes`]).
//! - [`catalog`]: folders. [`load_dir`] segments every mp3 below a folder in memory; a folder can
//!   also be segmented once into a catalog on disk ([`write_catalog`], the `jukebox-segmenter`
//!   binary) that a server opens in constant time and reads as clients ask ([`open_catalog`]).

pub mod catalog;
pub mod mp3;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use jukebox_protocol::Manifest;

pub use catalog::files::{SegmentFiles, SegmentReadError};
pub use catalog::write::{segment_all, write_catalog, Outcome, Progress, Summary, WriteError};
pub use mp3::song::segment_bytes;

/// Default target duration of a segment. See [`mp3::plan`] for why.
pub const DEFAULT_SEGMENT_DURATION: Duration = Duration::from_secs(2);

/// A segmented song: its manifest and its segments, in memory (from [`load_dir`] and
/// [`segment_file`]: slices of one shared buffer holding the file) or on disk, read on demand
/// (`files`, as [`read_catalog`] gives them). [`Song::get_segment`] gives a segment either way.
#[derive(Debug, Clone)]
pub struct Song {
    /// Path of the source file relative to the folder it was loaded from.
    pub path: PathBuf,
    pub manifest: Manifest,
    /// XXH3-64 of the audio frames, whose top 53 bits are the ID ([`mp3::song::audio_id`]): tells
    /// two files with the same audio from two audios whose IDs collide.
    pub audio_hash: u64,
    /// `segments[i]` holds the bytes of manifest segment `i`; slices of one shared buffer.
    /// Empty for a song whose segments are on disk: see `files`.
    pub segments: Vec<Bytes>,
    /// For a song whose segments are files, where they are read from; `None` otherwise.
    pub files: Option<SegmentFiles>,
}

impl Song {
    /// Sets the manifest's loudness members from a measurement ([`mp3::loudness::measure`]);
    /// `None` leaves them out (unknown).
    pub fn set_loudness(&mut self, loudness: Option<mp3::loudness::Loudness>) {
        self.manifest.loudness_lufs = loudness.map(|l| l.integrated_lufs);
        self.manifest.true_peak_dbtp = loudness.map(|l| l.true_peak_dbtp);
    }

    /// The manifest's loudness members, if both are there.
    pub fn loudness(&self) -> Option<mp3::loudness::Loudness> {
        Some(mp3::loudness::Loudness {
            integrated_lufs: self.manifest.loudness_lufs?,
            true_peak_dbtp: self.manifest.true_peak_dbtp?,
        })
    }

    /// Number of segments, as the manifest lists them.
    pub fn segment_count(&self) -> usize {
        self.manifest.segments.len()
    }

    /// Bytes of all segments, as the manifest lists them (whether in memory or on disk).
    pub fn audio_bytes(&self) -> u64 {
        self.manifest
            .segments
            .iter()
            .map(|s| u64::from(s.bytes))
            .sum()
    }

    /// The bytes of segment `index`: a cheap clone when the song is in memory, otherwise one
    /// blocking read of its file (tens of microseconds from the page cache; call it where blocking
    /// is allowed, e.g. `tokio::task::spawn_blocking`).
    pub fn get_segment(&self, index: u32) -> Result<Bytes, SegmentReadError> {
        if let Some(bytes) = self.segments.get(index as usize) {
            return Ok(bytes.clone());
        }
        match &self.files {
            Some(files) => files.read(index),
            None => Err(SegmentReadError::OutOfRange(index)),
        }
    }
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
    /// Valid songs, sorted by relative path, each with the ID of its audio, no ID twice.
    pub songs: Vec<Song>,
    pub skipped: Vec<Skipped>,
}

/// Reads and segments one file; the title falls back to the file name without extension.
/// The song's `path` is the file name.
pub fn segment_file(path: &Path, target: Duration) -> Result<Song, SegmentError> {
    let data = Bytes::from(std::fs::read(path)?);
    let title = path
        .file_stem()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default();
    let mut song = segment_bytes(&title, data, target)?;
    song.path = path.file_name().map(PathBuf::from).unwrap_or_default();
    Ok(song)
}

/// Segments every `*.mp3` below `dir` (recursively), using all cores. Files that fail are skipped
/// and reported, never fatal; only an unreadable `dir` itself is an error.
/// A song's ID comes from its audio ([`mp3::song::audio_id`]); of files with one ID, the first in
/// the byte order of the paths relative to `dir` is kept and the others are skipped.
pub fn load_dir(dir: &Path, target: Duration) -> std::io::Result<LoadedDir> {
    catalog::dir::load(dir, target)
}

/// Opens the index of a catalog folder written by [`write_catalog`] (or the `jukebox-segmenter`
/// binary) for serving: in constant time, whatever the catalog's size. A catalog of an earlier
/// version is refused with an error saying how to rebuild it.
pub fn open_catalog(dir: &Path) -> Result<catalog::index::Index, catalog::index::IndexError> {
    catalog::index::Index::open_catalog(dir)
}

/// Reads every song of a catalog folder, each checked against its folder (manifest valid, every
/// segment file there with its size), the segments left on disk: for tools and tests that want the
/// whole catalog, in listing order. Songs that fail are listed in `skipped`. A server uses
/// [`open_catalog`] instead, which reads nothing but what clients ask for.
pub fn read_catalog(dir: &Path) -> Result<LoadedDir, catalog::index::IndexError> {
    catalog::read::read(dir)
}
