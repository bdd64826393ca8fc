//! One song folder of a catalog on disk: its name, writing it whole under a temporary name, checking
//! that it is current, and removing folders.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::catalog::files::{segment_file_name, MANIFEST_FILE};
use crate::catalog::index::INDEX_FILE;
use crate::Song;

/// Prefix of song folders being written.
pub const TMP_PREFIX: &str = ".tmp-";

/// The song folder's name: a hash of what its content depends on.
pub(crate) fn folder_name(rel: &Path, content: &[u8; 32], target: Duration) -> String {
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
pub(crate) fn manifest_file(song: &Song) -> Vec<u8> {
    let mut manifest = song.manifest.clone();
    manifest.id = 0;
    let mut json = serde_json::to_vec_pretty(&manifest).expect("a manifest always serialises");
    json.push(b'\n');
    json
}

/// Whether `dir` already holds this song: the same manifest file and every segment file of the
/// right size. (Its name says its content hash matched; this guards against damage since.)
pub(crate) fn folder_is_current(dir: &Path, song: &Song, manifest_json: &[u8]) -> bool {
    if std::fs::read(dir.join(MANIFEST_FILE)).ok().as_deref() != Some(manifest_json) {
        return false;
    }
    song.manifest.segments.iter().all(|s| {
        std::fs::metadata(dir.join(segment_file_name(s.index)))
            .is_ok_and(|m| m.is_file() && m.len() == u64::from(s.bytes))
    })
}

/// Writes the song folder under a temporary name, then renames it to `name`.
pub(crate) fn write_folder(
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
pub(crate) fn remove_leftovers(songs_dir: &Path) -> std::io::Result<()> {
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
pub(crate) fn remove_any(path: &Path) -> std::io::Result<()> {
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
