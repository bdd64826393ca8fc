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
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::dir::{find, Found};
use crate::files::{segment_file_name, MANIFEST_FILE};
use crate::index::{Entry, Index, INDEX_FILE, SONGS_DIR};
use crate::{segment_bytes, Skipped, Song};

/// Prefix of song folders being written.
pub const TMP_PREFIX: &str = ".tmp-";
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
                done.entry.id = index.songs.len() as u32 + 1;
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
    skipped.sort_by(|a, b| crate::dir::path_order(&a.path, &b.path));
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

/// A source file's bytes, with the size and modification time they were read at.
pub(crate) struct Source {
    pub data: Bytes,
    pub size: u64,
    pub mtime_ns: i64,
}

/// Reads a whole file and makes sure it did not change meanwhile: same size and modification time
/// before and after, and as many bytes read as it had. `between` runs after the read, before the
/// second look (tests change the file there).
pub(crate) fn read_source(path: &Path, between: impl FnOnce()) -> Result<Source, String> {
    let cannot = |e: std::io::Error| format!("cannot read: {e}");
    let mut file = File::open(path).map_err(cannot)?;
    let before = file.metadata().map_err(cannot)?;
    if before.is_dir() {
        return Err("is a directory".into());
    }
    let mut data = Vec::with_capacity(before.len() as usize);
    file.read_to_end(&mut data).map_err(cannot)?;
    between();
    let after = std::fs::metadata(path).map_err(cannot)?;
    let stamp = |m: &std::fs::Metadata| (m.len(), m.modified().ok());
    if stamp(&before) != stamp(&after) || data.len() as u64 != after.len() {
        return Err("changed while being read".into());
    }
    Ok(Source {
        data: Bytes::from(data),
        size: after.len(),
        mtime_ns: after.modified().map_or(0, nanos_since_epoch),
    })
}

fn nanos_since_epoch(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

/// SHA-256 over the file with each segment replaced by its SHA-256; see the module documentation.
/// Every region is prefixed with its kind and length, so different files never hash alike.
pub(crate) fn content_hash(data: &[u8], song: &Song) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"jukebox content v1\0");
    hasher.update((data.len() as u64).to_le_bytes());
    let base = data.as_ptr() as usize;
    let mut at = 0;
    for (bytes, info) in song.segments.iter().zip(&song.manifest.segments) {
        let start = (bytes.as_ptr() as usize).wrapping_sub(base).min(data.len());
        if start > at {
            hasher.update(b"r");
            hasher.update(((start - at) as u64).to_le_bytes());
            hasher.update(&data[at..start]);
        }
        hasher.update(b"s");
        hasher.update((bytes.len() as u64).to_le_bytes());
        let mut digest = [0u8; 32];
        // The manifest's hashes are well formed: validation passed.
        let _ = hex::decode_to_slice(&info.sha256, &mut digest);
        hasher.update(digest);
        at = (start + bytes.len()).min(data.len());
    }
    if at < data.len() {
        hasher.update(b"r");
        hasher.update(((data.len() - at) as u64).to_le_bytes());
        hasher.update(&data[at..]);
    }
    hasher.finalize().into()
}

/// The song folder's name: a hash of what its content depends on.
fn folder_name(rel: &Path, content: &[u8; 32], target: Duration) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"jukebox song folder v1\0");
    hasher.update((rel.as_os_str().len() as u64).to_le_bytes());
    hasher.update(rel.as_os_str().as_encoded_bytes());
    hasher.update(content);
    hasher.update(target.as_nanos().to_le_bytes());
    hex::encode(&hasher.finalize()[..16])
}

/// The manifest file's bytes: the manifest with ID 0, since IDs come from the index (adding a song
/// renumbers those after it, and must not rewrite their folders).
fn manifest_file(song: &Song) -> Vec<u8> {
    let mut manifest = song.manifest.clone();
    manifest.id = 0;
    let mut json = serde_json::to_vec_pretty(&manifest).expect("a manifest always serialises");
    json.push(b'\n');
    json
}

/// Whether `dir` already holds this song: the same manifest file and every segment file of the
/// right size. (Its name says its content hash matched; this guards against damage since.)
fn folder_is_current(dir: &Path, song: &Song, manifest_json: &[u8]) -> bool {
    if std::fs::read(dir.join(MANIFEST_FILE)).ok().as_deref() != Some(manifest_json) {
        return false;
    }
    song.manifest.segments.iter().all(|s| {
        std::fs::metadata(dir.join(segment_file_name(s.index)))
            .is_ok_and(|m| m.is_file() && m.len() == u64::from(s.bytes))
    })
}

/// Writes the song folder under a temporary name, then renames it to `name`.
fn write_folder(
    songs_dir: &Path,
    name: &str,
    song: &Song,
    manifest_json: &[u8],
) -> std::io::Result<()> {
    let tmp = songs_dir.join(format!("{TMP_PREFIX}{name}-{}", std::process::id()));
    let result = (|| {
        remove_any(&tmp)?;
        std::fs::create_dir(&tmp)?;
        for (info, bytes) in song.manifest.segments.iter().zip(&song.segments) {
            File::create(tmp.join(segment_file_name(info.index)))?.write_all(bytes)?;
        }
        File::create(tmp.join(MANIFEST_FILE))?.write_all(manifest_json)?;
        let dest = songs_dir.join(name);
        // A folder of that name is damaged (or it would have been kept): replace it.
        remove_any(&dest)?;
        std::fs::rename(&tmp, &dest)
    })();
    if result.is_err() {
        let _ = remove_any(&tmp);
    }
    result
}

/// Removes what an interrupted run left: song folders still under their temporary names, and a
/// temporary index.
fn remove_leftovers(songs_dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(songs_dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
            remove_any(&entry.path())?;
        }
    }
    if let Some(out) = songs_dir.parent() {
        let prefix = format!(".{INDEX_FILE}.tmp-");
        for entry in std::fs::read_dir(out)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                remove_any(&entry.path())?;
            }
        }
    }
    Ok(())
}

/// Removes a file or a folder with its content; nothing there is fine.
fn remove_any(path: &Path) -> std::io::Result<()> {
    let result = match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) => Err(e),
    };
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_changes_while_being_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.mp3");
        std::fs::write(&path, b"first").unwrap();
        let grow = || {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap();
            f.write_all(b" and more").unwrap();
        };
        let err = read_source(&path, grow).err().unwrap();
        assert_eq!(err, "changed while being read");
        let ok = read_source(&path, || {}).unwrap();
        assert_eq!(&ok.data[..], b"first and more");
        assert_eq!(ok.size, 14);
    }

    #[test]
    fn content_hash_covers_every_byte() {
        let data = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../music/03-small-hours.mp3"
        ))
        .unwrap();
        let hash = |data: &[u8]| {
            let bytes = Bytes::copy_from_slice(data);
            let song = segment_bytes(1, "t", bytes.clone(), Duration::from_secs(2)).unwrap();
            content_hash(&bytes, &song)
        };
        let original = hash(&data);
        assert_eq!(hash(&data), original);
        // A byte in the tag, in the audio, and in the last byte (ID3v1 or audio) each change it.
        for at in [20, data.len() / 2, data.len() - 1] {
            let mut changed = data.clone();
            changed[at] ^= 0x01;
            assert_ne!(hash(&changed), original, "byte {at}");
        }
    }
}
