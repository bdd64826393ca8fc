//! A catalog written by `write_catalog` and loaded by `load_catalog` offers the same songs, IDs,
//! manifests and segment bytes as `load_dir` on the source folder; re-runs are incremental; damage
//! and interrupted writes are never served.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{lame, music_dir};
use jukebox_segmenter::catalog::index::{Index, INDEX_FILE, SONGS_DIR};
use jukebox_segmenter::catalog::write::Quiet;
use jukebox_segmenter::{
    load_catalog, load_dir, write_catalog, LoadedDir, Summary, DEFAULT_SEGMENT_DURATION,
};

fn write(path: &Path, data: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

fn run(input: &Path, output: &Path) -> Summary {
    write_catalog(input, output, DEFAULT_SEGMENT_DURATION, &Quiet).expect("catalog written")
}

/// A source folder with the bundled songs in two levels, a generated song and two bad files.
fn source() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut songs: Vec<PathBuf> = std::fs::read_dir(music_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mp3"))
        .collect();
    songs.sort();
    // IDs: 1 01-morning-steps, 2 03-small-hours, 3 B-generated, 4 sub/02-blue-tide, 5 sub/04-long-road.
    for (i, path) in songs.into_iter().enumerate() {
        {
            let name = path.file_name().unwrap();
            let rel = if i % 2 == 0 {
                PathBuf::from(name)
            } else {
                Path::new("sub").join(name)
            };
            write(&dir.path().join(rel), &std::fs::read(&path).unwrap());
        }
    }
    write(
        &dir.path().join("B-generated.mp3"),
        &lame(22_050, 1, 1.0, &["-b", "32"]),
    );
    write(&dir.path().join("broken.mp3"), b"not an mp3 at all");
    std::fs::create_dir(dir.path().join("folder.mp3")).unwrap();
    dir
}

/// Asserts that two loads offer the same songs: IDs, paths, manifests, and every segment's bytes.
fn assert_same_songs(from_music: &LoadedDir, from_catalog: &LoadedDir) {
    assert_eq!(from_music.songs.len(), from_catalog.songs.len());
    for (a, b) in from_music.songs.iter().zip(&from_catalog.songs) {
        assert_eq!(a.path, b.path);
        assert_eq!(a.manifest, b.manifest, "{}", a.path.display());
        assert_eq!(a.manifest.to_json(), b.manifest.to_json(), "identical JSON");
        assert!(
            b.segments.is_empty(),
            "a catalog song keeps its audio on disk"
        );
        for i in 0..a.segment_count() as u32 {
            assert_eq!(
                a.get_segment(i).unwrap(),
                b.get_segment(i).unwrap(),
                "{} segment {i}",
                a.path.display()
            );
        }
        assert!(b.get_segment(a.segment_count() as u32).is_err());
    }
}

#[test]
fn a_catalog_serves_what_the_music_folder_serves() {
    let src = source();
    let out = tempfile::tempdir().unwrap();
    let summary = run(src.path(), out.path());
    let from_music = load_dir(src.path(), DEFAULT_SEGMENT_DURATION).unwrap();
    assert_eq!(from_music.songs.len(), 5);
    assert_eq!(summary.songs, 5);
    assert_eq!(
        (summary.written, summary.unchanged, summary.removed),
        (5, 0, 0)
    );
    let skipped: Vec<_> = summary.skipped.iter().map(|s| s.path.clone()).collect();
    assert_eq!(
        skipped,
        [PathBuf::from("broken.mp3"), PathBuf::from("folder.mp3")]
    );
    assert_eq!(
        summary.duration_ms,
        from_music
            .songs
            .iter()
            .map(|s| s.manifest.duration_ms)
            .sum::<u64>()
    );

    let from_catalog = load_catalog(out.path()).unwrap();
    assert!(from_catalog.skipped.is_empty());
    assert_same_songs(&from_music, &from_catalog);
    // IDs are stable: loading again gives the same.
    let again = load_catalog(out.path()).unwrap();
    let ids = |l: &LoadedDir| -> Vec<(u64, PathBuf)> {
        l.songs
            .iter()
            .map(|s| (s.manifest.id, s.path.clone()))
            .collect()
    };
    assert_eq!(ids(&again), ids(&from_music));

    // The segment files concatenate to the song's audio.
    let index = Index::read(out.path()).unwrap().unwrap();
    for (entry, song) in index.songs.iter().zip(&from_music.songs) {
        let folder = out.path().join(SONGS_DIR).join(&entry.dir);
        let mut files: Vec<_> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".seg"))
            .collect();
        files.sort();
        assert_eq!(files.len(), song.segment_count());
        let audio: Vec<u8> = files
            .iter()
            .flat_map(|f| std::fs::read(folder.join(f)).unwrap())
            .collect();
        assert_eq!(audio, common::concat(song));
    }
}

#[test]
fn re_runs_rewrite_only_what_changed_and_remove_what_is_gone() {
    let src = source();
    let out = tempfile::tempdir().unwrap();
    run(src.path(), out.path());
    let index1 = Index::read(out.path()).unwrap().unwrap();
    let dir_of = |index: &Index, source: &str| {
        index
            .songs
            .iter()
            .find(|e| e.source == source)
            .map(|e| e.dir.clone())
    };
    let morning = out
        .path()
        .join(SONGS_DIR)
        .join(dir_of(&index1, "01-morning-steps.mp3").unwrap());
    let written_at = std::fs::metadata(morning.join("000000.seg"))
        .unwrap()
        .modified()
        .unwrap();

    let again = run(src.path(), out.path());
    assert_eq!((again.written, again.unchanged, again.removed), (0, 5, 0));
    assert_eq!(Index::read(out.path()).unwrap().unwrap(), index1);
    assert_eq!(
        std::fs::metadata(morning.join("000000.seg"))
            .unwrap()
            .modified()
            .unwrap(),
        written_at,
        "an unchanged song's files are not rewritten"
    );

    // Same size and modification time, different content: the content hash tells.
    let generated = src.path().join("B-generated.mp3");
    let meta = std::fs::metadata(&generated).unwrap();
    let mut data = std::fs::read(&generated).unwrap();
    let last = data.len() - 200;
    data[last] ^= 0x55;
    std::fs::write(&generated, &data).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&generated)
        .unwrap()
        .set_modified(meta.modified().unwrap())
        .unwrap();
    // A new song before the others renumbers them; a removed one disappears.
    write(
        &src.path().join("A-new.mp3"),
        &lame(16_000, 1, 1.0, &["-b", "24"]),
    );
    std::fs::remove_file(src.path().join("sub/02-blue-tide.mp3")).unwrap();
    let third = run(src.path(), out.path());
    assert_eq!(
        (third.songs, third.written, third.unchanged, third.removed),
        (5, 2, 3, 1)
    );
    let index3 = Index::read(out.path()).unwrap().unwrap();
    let sources: Vec<(u64, &str)> = index3
        .songs
        .iter()
        .map(|e| (e.id, e.source.as_str()))
        .collect();
    assert_eq!(
        sources,
        [
            (1, "01-morning-steps.mp3"),
            (2, "03-small-hours.mp3"),
            (3, "A-new.mp3"),
            (4, "B-generated.mp3"),
            (5, "sub/04-long-road.mp3")
        ]
    );
    assert_ne!(
        dir_of(&index3, "B-generated.mp3"),
        dir_of(&index1, "B-generated.mp3"),
        "B-generated rewritten"
    );
    assert!(index3
        .songs
        .iter()
        .all(|e| e.source != "sub/02-blue-tide.mp3"));
    // Exactly the listed folders remain.
    let mut folders: Vec<String> = std::fs::read_dir(out.path().join(SONGS_DIR))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    folders.sort();
    let mut listed: Vec<String> = index3.songs.iter().map(|e| e.dir.clone()).collect();
    listed.sort();
    assert_eq!(folders, listed);
    assert_same_songs(
        &load_dir(src.path(), DEFAULT_SEGMENT_DURATION).unwrap(),
        &load_catalog(out.path()).unwrap(),
    );
}

#[test]
fn leftovers_of_an_interrupted_run_are_never_served_and_are_cleaned() {
    let src = source();
    let out = tempfile::tempdir().unwrap();
    run(src.path(), out.path());
    let songs = out.path().join(SONGS_DIR);
    let index = Index::read(out.path()).unwrap().unwrap();
    // A run killed while writing a folder, and one killed after renaming a folder but before the
    // index: neither is listed, so neither is served.
    let half = songs.join(".tmp-0123456789abcdef0123456789abcdef-999");
    write(&half.join("000000.seg"), b"half");
    let orphan = songs.join("0123456789abcdef0123456789abcdef");
    copy_dir(&songs.join(&index.songs[0].dir), &orphan);
    write(&out.path().join(".index.json.tmp-999"), b"{\"half");
    let loaded = load_catalog(out.path()).unwrap();
    assert_eq!(loaded.songs.len(), 5);
    assert!(loaded.skipped.is_empty());

    let summary = run(src.path(), out.path());
    assert_eq!((summary.written, summary.unchanged), (0, 5));
    assert!(!half.exists() && !orphan.exists());
    assert!(!out.path().join(".index.json.tmp-999").exists());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn damaged_songs_are_skipped_and_the_others_keep_their_ids() {
    let src = source();
    let out = tempfile::tempdir().unwrap();
    run(src.path(), out.path());
    let index = Index::read(out.path()).unwrap().unwrap();
    let folder = |i: usize| out.path().join(SONGS_DIR).join(&index.songs[i].dir);
    // Song 1: a segment cut short. Song 2: a segment missing. Song 4: a manifest that is not one.
    let seg = folder(0).join("000000.seg");
    let len = std::fs::metadata(&seg).unwrap().len();
    std::fs::File::options()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 1)
        .unwrap();
    std::fs::remove_file(folder(1).join("000001.seg")).unwrap();
    std::fs::write(folder(3).join("manifest.json"), b"{\"id\": 4}").unwrap();

    let loaded = load_catalog(out.path()).unwrap();
    let ids: Vec<u64> = loaded.songs.iter().map(|s| s.manifest.id).collect();
    assert_eq!(ids, [3, 5]);
    let reasons: Vec<(u64, &str)> = loaded
        .skipped
        .iter()
        .map(|s| {
            let id = index
                .songs
                .iter()
                .find(|e| e.source_path() == s.path)
                .unwrap()
                .id;
            (id, s.reason.as_str())
        })
        .collect();
    assert_eq!(reasons.len(), 3);
    assert!(reasons[0].1.contains("000000.seg holds"), "{reasons:?}");
    assert!(reasons[1].1.contains("000001.seg"), "{reasons:?}");
    assert!(reasons[2].1.contains("manifest"), "{reasons:?}");

    // A segment damaged after loading is refused when read, not served.
    let song = &loaded.songs[0];
    let path = song.files.as_ref().unwrap().path(0);
    std::fs::write(&path, b"short").unwrap();
    let err = song.get_segment(0).unwrap_err();
    assert!(err.to_string().contains("holds 5 bytes"), "{err}");

    // The next run repairs all three.
    let summary = run(src.path(), out.path());
    assert_eq!((summary.written, summary.unchanged), (4, 1));
    assert_eq!(load_catalog(out.path()).unwrap().songs.len(), 5);
}

#[test]
fn a_missing_or_foreign_catalog_is_an_error() {
    let empty = tempfile::tempdir().unwrap();
    let err = load_catalog(empty.path()).unwrap_err();
    assert!(err.to_string().contains(INDEX_FILE), "{err}");
    std::fs::write(empty.path().join(INDEX_FILE), b"{\"songs\": []}").unwrap();
    assert!(load_catalog(empty.path()).is_err());

    // A folder with other things in it is never taken over (a run deletes unlisted folders).
    let busy = tempfile::tempdir().unwrap();
    write(&busy.path().join("songs/mine/keep.txt"), b"precious");
    let err =
        write_catalog(&music_dir(), busy.path(), DEFAULT_SEGMENT_DURATION, &Quiet).unwrap_err();
    assert!(err.to_string().contains("refusing"), "{err}");
    assert!(busy.path().join("songs/mine/keep.txt").exists());
}

#[test]
fn a_catalog_inside_its_source_folder_does_not_read_itself() {
    let src = source();
    let out = src.path().join("catalog");
    let first = run(src.path(), &out);
    let second = run(src.path(), &out);
    assert_eq!(first.songs, 5);
    assert_eq!((second.songs, second.unchanged), (5, 5));
}

#[test]
fn a_different_segment_duration_rewrites_everything() {
    let out = tempfile::tempdir().unwrap();
    run(&music_dir(), out.path());
    let short =
        write_catalog(&music_dir(), out.path(), Duration::from_millis(500), &Quiet).unwrap();
    assert_eq!((short.written, short.unchanged), (4, 0));
    let loaded = load_catalog(out.path()).unwrap();
    assert_same_songs(
        &load_dir(&music_dir(), Duration::from_millis(500)).unwrap(),
        &loaded,
    );
}

#[test]
fn a_second_run_on_the_same_catalog_is_refused() {
    let out = tempfile::tempdir().unwrap();
    run(&music_dir(), out.path());
    let lock = std::fs::File::open(out.path().join(".lock")).unwrap();
    lock.lock().unwrap();
    let err =
        write_catalog(&music_dir(), out.path(), DEFAULT_SEGMENT_DURATION, &Quiet).unwrap_err();
    assert!(err.to_string().contains("another run"), "{err}");
    lock.unlock().unwrap();
    assert_eq!(run(&music_dir(), out.path()).unchanged, 4);
}

#[test]
fn a_path_that_is_not_utf8_keeps_its_bytes() {
    use std::os::unix::ffi::OsStrExt;
    let src = tempfile::tempdir().unwrap();
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.mp3");
    std::fs::copy(
        music_dir().join("03-small-hours.mp3"),
        src.path().join(name),
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    run(src.path(), out.path());
    let index = Index::read(out.path()).unwrap().unwrap();
    assert_eq!(
        index.songs[0].source_hex.as_deref(),
        Some("636166e92e6d7033")
    );
    assert_same_songs(
        &load_dir(src.path(), DEFAULT_SEGMENT_DURATION).unwrap(),
        &load_catalog(out.path()).unwrap(),
    );
    assert_eq!(run(src.path(), out.path()).unchanged, 1);
}
