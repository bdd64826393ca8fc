//! Writing a pre-chunked catalog: every `*.mp3` of a source folder cut into segment files, one folder
//! per song, and an index (layout in docs/CATALOG.md).
//!
//! Crash safety: a song folder is written under a temporary name (`songs/.tmp-*`) and renamed when
//! complete; a new index is written to a temporary file and renamed over the old one; folders the
//! new index no longer lists are removed only after that. A server reads only folders the index
//! lists, so whenever a run is interrupted the catalog on disk is the old one or the new one.
//!
//! Incremental runs: a song folder is named after the source path, the file's content hash and the
//! segment duration, so an unchanged file maps to the folder that already holds it, which is checked
//! and kept, not rewritten. The content hash is SHA-256 over the file with each segment's bytes
//! replaced by that segment's SHA-256 (the one the manifest holds anyway): every byte is hashed
//! once, which keeps a run close to the speed of hashing the input.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rayon::prelude::*;

use crate::catalog::dir::{find, Found};
use crate::catalog::index::{Entry, Index, INDEX_FILE, SONGS_DIR};
use crate::catalog::song_dir::{
    folder_is_current, folder_name, manifest_file, remove_any, remove_leftovers, write_folder,
    TMP_PREFIX,
};
use crate::catalog::source::{content_hash, read_source};
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
    #[error("catalog folder {0} is being written by another run")]
    Locked(PathBuf),
    #[error("{0} is not empty and holds no catalog: refusing to write a catalog there")]
    Foreign(PathBuf),
}

/// Reads, segments and hashes every `*.mp3` below `input` exactly as [`write_catalog`] does, using
/// all cores of the current rayon pool, but writes nothing: for measuring and for checking a folder.
pub fn segment_all(
    input: &Path,
    target: Duration,
    progress: &dyn Progress,
) -> Result<Summary, WriteError> {
    let (summary, _) = segment_files(input, None, target, progress)?;
    Ok(summary)
}

/// Segments every `*.mp3` below `input` into the catalog in `output` (created if needed), using
/// all cores; see the module documentation. Files that fail are skipped and listed in the summary.
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
    // The source first: nothing is created for a run that cannot read it.
    std::fs::read_dir(input).map_err(|source| WriteError::Input {
        path: input.to_path_buf(),
        source,
    })?;
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
    // An unreadable index is replaced: every song is then checked against its folder.
    let old = Index::read(output).ok().flatten();

    let (mut summary, index) = segment_files(input, Some(output), target, progress)?;
    index.write(output).map_err(out_err)?;
    // Only now may folders the new index does not list go.
    let kept: HashSet<&str> = index.songs.iter().map(|e| e.dir.as_str()).collect();
    let sources: HashSet<&str> = index.songs.iter().map(|e| e.source.as_str()).collect();
    summary.removed = old.as_ref().map_or(0, |old| {
        old.songs
            .iter()
            .filter(|e| !sources.contains(e.source.as_str()))
            .count()
    });
    for entry in std::fs::read_dir(&songs_dir).map_err(out_err)? {
        let entry = entry.map_err(out_err)?;
        let name = entry.file_name();
        if !name.to_str().is_some_and(|n| kept.contains(n)) {
            remove_any(&entry.path()).map_err(out_err)?;
        }
    }
    Ok(summary)
}

/// Whether `output` may be written: missing, empty, or holding nothing but a catalog's files (an
/// index, or song folders and leftovers of a first run that was interrupted). A run removes song
/// folders the index does not list, so it must never take over a folder holding other things.
fn is_ours(output: &Path) -> std::io::Result<bool> {
    let entries = match std::fs::read_dir(output) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(e),
    };
    if output.join(INDEX_FILE).is_file() {
        return Ok(true);
    }
    let tmp_index = format!(".{INDEX_FILE}.tmp-");
    for entry in entries {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if name == LOCK_FILE || name.starts_with(&tmp_index) {
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

/// Segments every file below `input`; with a catalog folder, writes what is not current in it.
/// Returns the summary so far and the new index (not yet written).
fn segment_files(
    input: &Path,
    output: Option<&Path>,
    target: Duration,
    progress: &dyn Progress,
) -> Result<(Summary, Index), WriteError> {
    let songs_dir = output.map(|o| o.join(SONGS_DIR));
    let Found { files, mut skipped } = find(input, output).map_err(|source| WriteError::Input {
        path: input.to_path_buf(),
        source,
    })?;
    let sizes: Vec<u64> = files
        .iter()
        .map(|rel| std::fs::metadata(input.join(rel)).map_or(0, |m| m.len()))
        .collect();
    progress.start(files.len() as u64, sizes.iter().sum());

    let results: Vec<(PathBuf, Result<Done, String>)> = files
        .into_par_iter()
        .zip(sizes)
        .map(|(rel, size)| {
            let result = process(input, songs_dir.as_deref(), &rel, target);
            let outcome = match &result {
                Ok(done) => done.outcome.clone(),
                Err(reason) => Outcome::Skipped(reason.clone()),
            };
            progress.file_done(&rel, size, &outcome);
            (rel, result)
        })
        .collect();

    let mut index = Index::new(target.as_secs_f64());
    let mut summary = Summary::default();
    for (rel, result) in results {
        match result {
            Ok(mut done) => {
                done.entry.id = index.songs.len() as u64 + 1;
                summary.source_bytes += done.entry.size;
                summary.bytes += done.entry.bytes;
                summary.duration_ms += done.entry.duration_ms;
                match done.outcome {
                    Outcome::Written => summary.written += 1,
                    Outcome::Unchanged => summary.unchanged += 1,
                    _ => {}
                }
                index.songs.push(done.entry);
            }
            Err(reason) => skipped.push(Skipped { path: rel, reason }),
        }
    }
    skipped.sort_by(|a, b| crate::catalog::dir::path_order(&a.path, &b.path));
    summary.songs = index.songs.len();
    summary.skipped = skipped;
    Ok((summary, index))
}

/// A song ready for the index (its ID still to be given), and whether it was written.
struct Done {
    entry: Entry,
    outcome: Outcome,
}

/// Reads, segments and, unless its folder is already current (or there is no catalog folder),
/// writes one song.
fn process(
    input: &Path,
    songs_dir: Option<&Path>,
    rel: &Path,
    target: Duration,
) -> Result<Done, String> {
    let path = input.join(rel);
    let source = read_source(&path, || {})?;
    let title = path
        .file_stem()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default();
    let song = segment_bytes(0, &title, source.data.clone(), target).map_err(|e| e.to_string())?;
    let content = content_hash(&source.data, &song);
    let dir_name = folder_name(rel, &content, target);
    let outcome = match songs_dir {
        None => Outcome::Segmented,
        Some(songs_dir) => {
            let manifest_json = manifest_file(&song);
            if folder_is_current(&songs_dir.join(&dir_name), &song, &manifest_json) {
                Outcome::Unchanged
            } else {
                write_folder(songs_dir, &dir_name, &song, &manifest_json)
                    .map_err(|e| format!("cannot write its song folder: {e}"))?;
                Outcome::Written
            }
        }
    };
    let (source_str, source_hex) = Entry::source_fields(rel);
    let m = &song.manifest;
    Ok(Done {
        entry: Entry {
            id: 0,
            dir: dir_name,
            source: source_str,
            source_hex,
            size: source.size,
            mtime_ns: source.mtime_ns,
            sha256: hex::encode(content),
            segments: m.segments.len() as u32,
            bytes: m.segments.iter().map(|s| u64::from(s.bytes)).sum(),
            duration_ms: m.duration_ms,
        },
        outcome,
    })
}
