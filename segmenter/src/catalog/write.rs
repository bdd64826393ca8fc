//! Writing a pre-chunked catalog: every `*.mp3` of a source folder cut into segment files, one folder
//! per song, and an index (layout in docs/CATALOG.md).
//!
//! Crash safety: a song folder is written under a temporary name (`songs/.tmp-*`) and renamed when
//! complete; the index changes in one SQLite transaction; folders the new index no longer lists are
//! removed only after it committed. A server reads only folders the index lists, so whenever a run
//! is interrupted the catalog on disk is the old one or the new one.
//!
//! Incremental runs: every file is read, segmented and hashed again (its size, modification time
//! and content hash are recorded), but a song folder is named after the song's segments, so an
//! unchanged song maps to the folder that already holds it, which is checked and kept, not
//! rewritten; and the index rewrites only the rows that changed. Only songs whose folder the index
//! does not hold already are decoded to measure their loudness (the index keeps the measurement). The content hash is SHA-256 over
//! the file with each segment's bytes replaced by that segment's SHA-256 (the one the manifest
//! holds anyway): every byte is hashed once, which keeps a run close to the speed of hashing the
//! input.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rayon::prelude::*;

use crate::catalog::dir::{find, Found, Ids};
use crate::catalog::index::{
    self, Row, Stored, INDEX_FILE, LOUDNESS_VERSION, OLD_INDEX_FILE, SONGS_DIR,
};
use crate::catalog::song_dir::{
    folder_is_current, folder_name, remove_any, remove_leftovers, write_folder, TMP_PREFIX,
};
use crate::catalog::source::{content_hash, read_source};
use crate::mp3::loudness;
use crate::{segment_bytes, Skipped};

/// The lock file that keeps two runs from writing one catalog at once.
pub const LOCK_FILE: &str = ".lock";

/// What happened to one source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Segmented and written to a new song folder.
    Written,
    /// Its song folder was already complete and current.
    Unchanged,
    /// Segmented and hashed, nothing written (a dry run: [`segment_all`]).
    Segmented,
    /// Left out of the catalog, and why.
    Skipped(String),
}

/// Told about the run as it goes; called from several threads at once.
pub trait Progress: Sync {
    /// Before any file is read: how many files and bytes there are.
    fn start(&self, files: u64, bytes: u64);
    /// After each file (in any order): its path relative to the source folder, size and outcome.
    fn file_done(&self, path: &Path, bytes: u64, outcome: &Outcome);
}

/// A [`Progress`] that ignores everything.
pub struct Quiet;

impl Progress for Quiet {
    fn start(&self, _: u64, _: u64) {}
    fn file_done(&self, _: &Path, _: u64, _: &Outcome) {}
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Summary {
    /// Songs in the catalog now.
    pub songs: usize,
    /// Of those, written by this run.
    pub written: usize,
    /// Of those, already present and kept as they were.
    pub unchanged: usize,
    /// Songs of the previous index whose source is gone (or no longer segments), now removed.
    pub removed: usize,
    /// Files left out, with reasons, in path order.
    pub skipped: Vec<Skipped>,
    /// Duration of all songs in the catalog, in milliseconds.
    pub duration_ms: u64,
    /// Bytes of all segments in the catalog.
    pub bytes: u64,
    /// Bytes of source files read.
    pub source_bytes: u64,
}

/// Why a run could not be done at all.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot read source folder {path}: {source}")]
    Input {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write catalog folder {path}: {source}")]
    Output {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no mp3 file below {0}: nothing to segment")]
    NoMp3(PathBuf),
    /// Every file was skipped: the catalog is left as it was, as with [`WriteError::NoMp3`].
    #[error("no mp3 file below {path} could be segmented ({skipped} skipped)")]
    NoSong { path: PathBuf, skipped: usize },
    #[error("catalog folder {0} is being written by another run")]
    Locked(PathBuf),
    #[error("{0} is not empty and holds no catalog: refusing to write a catalog there")]
    Foreign(PathBuf),
    #[error("cannot write the catalog index {path}: {source}")]
    Index {
        path: PathBuf,
        source: index::IndexError,
    },
}

/// Reads, segments and hashes every `*.mp3` below `input` exactly as [`write_catalog`] does, using
/// all cores of the current rayon pool, but writes nothing: for measuring and for checking a folder.
pub fn segment_all(
    input: &Path,
    target: Duration,
    progress: &dyn Progress,
) -> Result<Summary, WriteError> {
    let found = found(input, None)?;
    let (summary, _) = segment_files(input, found, None, &HashMap::new(), target, progress)?;
    Ok(summary)
}

/// Segments every `*.mp3` below `input` into the catalog in `output` (created if needed), using
/// all cores; see the module documentation. Files that fail are skipped and listed in the summary.
/// A catalog written by an earlier version (`index.json`) is rebuilt.
pub fn write_catalog(
    input: &Path,
    output: &Path,
    target: Duration,
    progress: &dyn Progress,
) -> Result<Summary, WriteError> {
    let out_err = |source| WriteError::Output {
        path: output.to_path_buf(),
        source,
    };
    // The source first: nothing is created for a run that cannot read it or finds nothing in it.
    let found = found(input, Some(output))?;
    let songs_dir = output.join(SONGS_DIR);
    if !is_ours(output).map_err(out_err)? {
        return Err(WriteError::Foreign(output.to_path_buf()));
    }
    std::fs::create_dir_all(&songs_dir).map_err(out_err)?;
    let lock = File::create(output.join(LOCK_FILE)).map_err(out_err)?;
    if lock.try_lock().is_err() {
        return Err(WriteError::Locked(output.to_path_buf()));
    }
    remove_leftovers(&songs_dir).map_err(out_err)?;
    let index_path = output.join(INDEX_FILE);
    let index_err = |source| WriteError::Index {
        path: index_path.clone(),
        source,
    };
    let stored = index::stored(&index_path).map_err(index_err)?;

    let (mut summary, rows) = segment_files(input, found, Some(output), &stored, target, progress)?;
    let changes = index::write(&index_path, target.as_secs_f64(), rows).map_err(index_err)?;
    summary.removed = changes.removed;
    // Only now may what the new index does not list go: folders, and an earlier version's index.
    let kept: HashSet<String> = index::stored(&index_path)
        .map_err(index_err)?
        .into_values()
        .filter_map(|s| s.dir)
        .collect();
    for entry in std::fs::read_dir(&songs_dir).map_err(out_err)? {
        let entry = entry.map_err(out_err)?;
        let name = entry.file_name();
        if !name.to_str().is_some_and(|n| kept.contains(n)) {
            remove_any(&entry.path()).map_err(out_err)?;
        }
    }
    remove_any(&output.join(OLD_INDEX_FILE)).map_err(out_err)?;
    Ok(summary)
}

/// Whether `output` may be written: missing, empty, or holding nothing but a catalog's files (an
/// index of this version or an earlier one, or song folders and leftovers of a first run that was
/// interrupted). A run removes song folders the index does not list, so it must never take over a
/// folder holding other things.
fn is_ours(output: &Path) -> std::io::Result<bool> {
    let entries = match std::fs::read_dir(output) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(e),
    };
    if output.join(INDEX_FILE).is_file() || output.join(OLD_INDEX_FILE).is_file() {
        return Ok(true);
    }
    for entry in entries {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        // SQLite's own files beside an index being created.
        if name == LOCK_FILE || name.starts_with(&format!("{INDEX_FILE}-")) {
            continue;
        }
        if name != SONGS_DIR {
            return Ok(false);
        }
        for song in std::fs::read_dir(output.join(SONGS_DIR))? {
            let name = song?.file_name();
            let name = name.to_string_lossy();
            let folder = name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit());
            if !folder && !name.starts_with(TMP_PREFIX) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// Every `*.mp3` below `input`, leaving out the catalog folder `output`. None at all is an error
/// rather than an empty catalog: a run on the wrong folder (or on a disk not mounted) must not
/// empty a catalog, and a script must see that nothing was done.
fn found(input: &Path, output: Option<&Path>) -> Result<Found, WriteError> {
    let found = find(input, output).map_err(|source| WriteError::Input {
        path: input.to_path_buf(),
        source,
    })?;
    if found.files.is_empty() {
        return Err(WriteError::NoMp3(input.to_path_buf()));
    }
    Ok(found)
}

/// Segments the files `found` below `input`; with a catalog folder, writes the song folders that are not
/// current in it. Returns the summary so far and the rows of the new index (not yet written).
/// `stored` is what the index held: a manifest it already has is not kept in memory.
fn segment_files(
    input: &Path,
    Found { files, mut skipped }: Found,
    output: Option<&Path>,
    stored: &HashMap<u64, Stored>,
    target: Duration,
    progress: &dyn Progress,
) -> Result<(Summary, Vec<Row>), WriteError> {
    let songs_dir = output.map(|o| o.join(SONGS_DIR));
    let sizes: Vec<u64> = files
        .iter()
        .map(|rel| std::fs::metadata(input.join(rel)).map_or(0, |m| m.len()))
        .collect();
    progress.start(files.len() as u64, sizes.iter().sum());

    let results: Vec<(PathBuf, Result<Done, String>)> = files
        .into_par_iter()
        .zip(sizes)
        .map(|(rel, size)| {
            let result = process(input, songs_dir.as_deref(), stored, &rel, target);
            let outcome = match &result {
                Ok(done) => done.outcome.clone(),
                Err(reason) => Outcome::Skipped(reason.clone()),
            };
            progress.file_done(&rel, size, &outcome);
            (rel, result)
        })
        .collect();

    let mut rows = Vec::new();
    let mut summary = Summary::default();
    let mut ids = Ids::default();
    for (rel, result) in results {
        let result = result.and_then(|done| {
            ids.claim(done.row.id, done.audio_hash, &rel)?;
            Ok(done)
        });
        match result {
            Ok(done) => {
                summary.source_bytes += done.row.size;
                summary.bytes += done.row.bytes;
                summary.duration_ms += done.row.duration_ms;
                match done.outcome {
                    Outcome::Written => summary.written += 1,
                    Outcome::Unchanged => summary.unchanged += 1,
                    _ => {}
                }
                rows.push(done.row);
            }
            Err(reason) => skipped.push(Skipped { path: rel, reason }),
        }
    }
    if rows.is_empty() {
        return Err(WriteError::NoSong {
            path: input.to_path_buf(),
            skipped: skipped.len(),
        });
    }
    skipped.sort_by(|a, b| crate::catalog::dir::path_order(&a.path, &b.path));
    summary.songs = rows.len();
    summary.skipped = skipped;
    Ok((summary, rows))
}

/// A song ready for the index, and whether its folder was written.
struct Done {
    row: Row,
    audio_hash: u64,
    outcome: Outcome,
}

/// Reads, segments and, unless its folder is already current (or there is no catalog folder),
/// writes one song.
fn process(
    input: &Path,
    songs_dir: Option<&Path>,
    stored: &HashMap<u64, Stored>,
    rel: &Path,
    target: Duration,
) -> Result<Done, String> {
    let path = input.join(rel);
    let source = read_source(&path, || {})?;
    let title = path
        .file_stem()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default();
    let mut song = segment_bytes(&title, source.data.clone(), target).map_err(|e| e.to_string())?;
    song.path = rel.to_path_buf();
    let content = content_hash(&source.data, &song);
    let dir_name = folder_name(&song);
    // Decoding is the dear part of a run: a song whose segments are those of its folder in the
    // index (the folder is named after them) keeps the measurement stored with it.
    let loudness = match stored.get(&song.manifest.id) {
        Some(Stored {
            dir: Some(dir),
            loudness: Some(found),
            ..
        }) if *dir == dir_name => *found,
        _ => loudness::measure(&song.segments),
    };
    song.set_loudness(loudness);
    let outcome = match songs_dir {
        None => Outcome::Segmented,
        Some(songs_dir) => {
            if folder_is_current(&songs_dir.join(&dir_name), &song) {
                Outcome::Unchanged
            } else {
                write_folder(songs_dir, &dir_name, &song)
                    .map_err(|e| format!("cannot write its song folder: {e}"))?;
                Outcome::Written
            }
        }
    };
    let mut row = Row::of(&song);
    if stored
        .get(&row.id)
        .is_some_and(|s| s.manifest_sha256 == row.manifest_sha256)
    {
        row.manifest = None;
    }
    row.dir = Some(dir_name);
    row.size = source.size;
    row.mtime_ns = source.mtime_ns;
    row.content_sha256 = content;
    row.loudness_version = LOUDNESS_VERSION;
    Ok(Done {
        row,
        audio_hash: song.audio_hash,
        outcome,
    })
}
