//! Loading a folder of mp3 files: find, sort, segment in parallel, number.

use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rayon::prelude::*;
use walkdir::WalkDir;

use crate::{segment_file, LoadedDir, Skipped, Song};

/// See [`crate::load_dir`].
pub fn load(dir: &Path, target: Duration) -> std::io::Result<LoadedDir> {
    let Found { files, mut skipped } = find(dir, None)?;
    let results: Vec<_> = files
        .into_par_iter()
        .map(|rel| {
            let result = segment_file(&dir.join(&rel), target).map(|mut song| {
                song.set_loudness(crate::mp3::loudness::measure(&song.segments));
                song
            });
            (rel, result)
        })
        .collect();

    let mut songs: Vec<Song> = Vec::new();
    let mut ids = Ids::default();
    for (rel, result) in results {
        let result = result.map_err(|e| e.to_string()).and_then(|song| {
            ids.claim(song.manifest.id, song.audio_hash, &rel)?;
            Ok(song)
        });
        match result {
            Ok(mut song) => {
                song.path = rel;
                songs.push(song);
            }
            Err(reason) => skipped.push(Skipped { path: rel, reason }),
        }
    }
    skipped.sort_by(|a, b| path_order(&a.path, &b.path));
    Ok(LoadedDir { songs, skipped })
}

/// The song IDs given so far, to files in path order: one file per ID.
#[derive(Default)]
pub(crate) struct Ids(std::collections::HashMap<u64, (u64, PathBuf)>);

impl Ids {
    /// Gives `id` to the file at `path` (relative) whose audio hashes to `audio_hash`, unless an
    /// earlier file has it: then the reason to skip this one, naming the earlier file.
    pub(crate) fn claim(&mut self, id: u64, audio_hash: u64, path: &Path) -> Result<(), String> {
        use std::collections::hash_map::Entry;
        match self.0.entry(id) {
            Entry::Vacant(free) => {
                free.insert((audio_hash, path.to_path_buf()));
                Ok(())
            }
            Entry::Occupied(taken) => {
                let (hash, first) = taken.get();
                Err(if *hash == audio_hash {
                    format!("the same audio as {} (song {id})", first.display())
                } else {
                    format!(
                        "its song ID {id} is that of {}, whose audio differs (a hash collision): \
                         change either file's audio, or leave one out",
                        first.display()
                    )
                })
            }
        }
    }
}

/// The songs below a folder, before reading them.
pub(crate) struct Found {
    /// Paths of the `*.mp3` files relative to the folder, in byte order: the order of song IDs.
    pub files: Vec<PathBuf>,
    /// Entries named like songs that are not files, and folders that could not be read.
    pub skipped: Vec<Skipped>,
}

/// Lists every `*.mp3` file below `dir`, recursively, following links, leaving out the folder
/// `exclude` (a catalog being written inside the folder it is made from). The folder itself must be
/// readable; anything below it that is not is reported in `skipped`.
pub(crate) fn find(dir: &Path, exclude: Option<&Path>) -> std::io::Result<Found> {
    std::fs::read_dir(dir)?;
    let (mut files, mut skipped) = (Vec::new(), Vec::new());
    let walk = WalkDir::new(dir).min_depth(1).follow_links(true);
    // Compared by device and inode, whatever way the two paths are spelled.
    let exclude = exclude
        .and_then(|p| std::fs::metadata(p).ok())
        .map(|m| (m.dev(), m.ino()));
    let excluded = |e: &walkdir::DirEntry| {
        exclude.is_some_and(|ex| {
            e.file_type().is_dir()
                && std::fs::metadata(e.path()).is_ok_and(|m| (m.dev(), m.ino()) == ex)
        })
    };
    for entry in walk.into_iter().filter_entry(|e| !excluded(e)) {
        match entry {
            Ok(entry) => {
                if !is_mp3(entry.path()) {
                    continue;
                }
                let rel = relative(dir, entry.path());
                let kind = entry.file_type();
                if kind.is_file() {
                    files.push(rel);
                } else {
                    let what = if kind.is_dir() {
                        "a directory"
                    } else {
                        "not a regular file"
                    };
                    skipped.push(Skipped {
                        path: rel,
                        reason: format!("is {what}"),
                    });
                }
            }
            // A folder that cannot be read (or loops) may hide songs: report it. A broken link
            // that is not named like a song is not worth a warning.
            Err(err) if err.path().is_none_or(|p| is_mp3(p) || p.is_dir()) => {
                let path = err.path().map_or_else(PathBuf::new, |p| relative(dir, p));
                skipped.push(Skipped {
                    path,
                    reason: err.to_string(),
                });
            }
            Err(_) => {}
        }
    }
    files.sort_by(|a, b| path_order(a, b));
    Ok(Found { files, skipped })
}

/// The byte order of two paths: the order song IDs follow.
pub(crate) fn path_order(a: &Path, b: &Path) -> std::cmp::Ordering {
    a.as_os_str()
        .as_encoded_bytes()
        .cmp(b.as_os_str().as_encoded_bytes())
}

/// Whether the name ends in ".mp3", in any case.
fn is_mp3(path: &Path) -> bool {
    path.extension()
        .and_then(OsStr::to_str)
        .is_some_and(|e| e.eq_ignore_ascii_case("mp3"))
}

fn relative(dir: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(dir).unwrap_or(path).to_path_buf()
}
