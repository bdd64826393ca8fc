//! One song folder of a catalog on disk: its name, writing it whole under a temporary name, checking
//! that it is current, and removing folders.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::catalog::files::segment_file_name;
use crate::Song;

/// Prefix of song folders being written.
pub const TMP_PREFIX: &str = ".tmp-";

/// The song folder's name: a hash of its segments' hashes, all its content depends on. A song
/// renamed, moved or retagged keeps its folder; one cut otherwise, or whose audio or info frame
/// changed, gets another.
pub(crate) fn folder_name(song: &Song) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"jukebox song folder v2\0");
    for segment in &song.manifest.segments {
        hasher.update(segment.bytes.to_le_bytes());
        hasher.update(segment.sha256.as_bytes());
    }
    hex::encode(&hasher.finalize()[..16])
}

/// Whether `dir` already holds this song: every segment file there, of the right size. (Its name
/// says the segments' hashes matched; this guards against damage since.)
pub(crate) fn folder_is_current(dir: &Path, song: &Song) -> bool {
    song.manifest.segments.iter().all(|s| {
        std::fs::metadata(dir.join(segment_file_name(s.index)))
            .is_ok_and(|m| m.is_file() && m.len() == u64::from(s.bytes))
    })
}

/// Writes the song folder under a temporary name, then renames it to `name`. Two files with the
/// same segments may write the same folder at once: whichever renames last finds it complete.
pub(crate) fn write_folder(songs_dir: &Path, name: &str, song: &Song) -> std::io::Result<()> {
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let n = WRITES.fetch_add(1, Ordering::Relaxed);
    let tmp = songs_dir.join(format!("{TMP_PREFIX}{name}-{}-{n}", std::process::id()));
    let dest = songs_dir.join(name);
    let result = (|| {
        remove_any(&tmp)?;
        std::fs::create_dir(&tmp)?;
        for (info, bytes) in song.manifest.segments.iter().zip(&song.segments) {
            File::create(tmp.join(segment_file_name(info.index)))?.write_all(bytes)?;
        }
        // A folder of that name is damaged (or it would have been kept): replace it.
        remove_any(&dest)?;
        std::fs::rename(&tmp, &dest)
    })();
    match result {
        Err(_) if folder_is_current(&dest, song) => remove_any(&tmp),
        Err(e) => {
            let _ = remove_any(&tmp);
            Err(e)
        }
        Ok(()) => Ok(()),
    }
}

/// Removes what an interrupted run left: song folders still under their temporary names (an
/// interrupted index transaction is SQLite's to roll back).
pub(crate) fn remove_leftovers(songs_dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(songs_dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
            remove_any(&entry.path())?;
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
