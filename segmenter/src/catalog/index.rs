//! The catalog index, `index.json` at the top of a catalog folder: which song folders make up the
//! catalog, in ID order, and what source file each was made from. See docs/CATALOG.md.
//!
//! The index is the only way in: a song folder it does not list is never served, so a folder is
//! written in full under a temporary name, renamed, and only then listed by a new index, itself
//! written to a temporary file and renamed over the old one.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// File name of the index inside a catalog folder.
pub const INDEX_FILE: &str = "index.json";
/// Folder holding the song folders.
pub const SONGS_DIR: &str = "songs";
/// What `format` holds, so that a stray JSON file is not taken for a catalog.
pub const FORMAT: &str = "jukebox-catalog";
/// The layout version this crate writes and reads.
pub const VERSION: u32 = 1;

/// The catalog index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`].
    pub version: u32,
    /// The target segment duration the songs were cut with, in seconds.
    pub segment_duration: f64,
    /// The songs in ID order; IDs are 1, 2, 3... in the byte order of the source paths, as a
    /// server loading the source folder would give them.
    pub songs: Vec<Entry>,
}

/// One song of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The song's ID.
    pub id: u64,
    /// The song folder's name under `songs/`.
    pub dir: String,
    /// Path of the source file relative to the source folder (lossy when it is not UTF-8).
    pub source: String,
    /// The source path's bytes in hex, only when it is not valid UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_hex: Option<String>,
    /// Size of the source file in bytes when it was segmented.
    pub size: u64,
    /// Modification time of the source file, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// Content hash of the source file (see `source::content_hash`), 64 hex digits.
    pub sha256: String,
    /// Number of segments, as in the manifest.
    pub segments: u32,
    /// Total bytes of the segments.
    pub bytes: u64,
    /// The song's duration, as in the manifest.
    pub duration_ms: u64,
}

impl Entry {
    /// The source path, relative to the source folder.
    pub fn source_path(&self) -> PathBuf {
        use std::os::unix::ffi::OsStringExt;
        match self.source_hex.as_deref().and_then(|h| hex::decode(h).ok()) {
            Some(bytes) => PathBuf::from(std::ffi::OsString::from_vec(bytes)),
            None => PathBuf::from(&self.source),
        }
    }

    /// `source` and `source_hex` for a path.
    pub fn source_fields(path: &Path) -> (String, Option<String>) {
        match path.to_str() {
            Some(s) => (s.to_owned(), None),
            None => (
                path.to_string_lossy().into_owned(),
                Some(hex::encode(path.as_os_str().as_encoded_bytes())),
            ),
        }
    }
}

impl Index {
    /// An empty index for segments of `segment_duration` seconds.
    pub fn new(segment_duration: f64) -> Self {
        Index {
            format: FORMAT.into(),
            version: VERSION,
            segment_duration,
            songs: Vec::new(),
        }
    }

    /// Reads the index of the catalog in `dir`; `Ok(None)` when there is none yet.
    pub fn read(dir: &Path) -> std::io::Result<Option<Index>> {
        let bytes = match std::fs::read(dir.join(INDEX_FILE)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let index: Index = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
        if index.format != FORMAT || index.version != VERSION {
            return Err(invalid(format!(
                "{} is not a version {VERSION} {FORMAT} index",
                INDEX_FILE
            )));
        }
        Ok(Some(index))
    }

    /// Replaces the index of the catalog in `dir` at once: written in full and flushed to disk
    /// under a temporary name, then renamed over the old one.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let tmp = dir.join(format!(".{INDEX_FILE}.tmp-{}", std::process::id()));
        let result = (|| {
            let mut file = std::fs::File::create(&tmp)?;
            let mut json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
            json.push(b'\n');
            file.write_all(&json)?;
            file.sync_all()?;
            std::fs::rename(&tmp, dir.join(INDEX_FILE))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

fn invalid(why: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, why)
}
