//! A catalog written by `write_catalog` and loaded by `read_catalog` offers the same songs, IDs,
//! manifests and segment bytes as `load_dir` on the source folder; re-runs are incremental; damage
//! and interrupted writes are never served.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use jukebox_segmenter::catalog::index::{INDEX_FILE, OLD_INDEX_FILE, SONGS_DIR};
use jukebox_segmenter::catalog::write::Quiet;
use jukebox_segmenter::{
    load_dir, read_catalog, write_catalog, LoadedDir, Summary, DEFAULT_SEGMENT_DURATION,
};
use jukebox_test_kit::audio::lame_bytes;
use jukebox_test_kit::music_dir;

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
        &lame_bytes(22_050, 1, 1.0, &["-b", "32"]),
    );
    write(&dir.path().join("broken.mp3"), b"not an mp3 at all");
    std::fs::create_dir(dir.path().join("folder.mp3")).unwrap();
    dir
}

/// Asserts that two loads offer the same songs: IDs, paths, manifests, and every segment's bytes.
fn assert_same_songs(from_music: &LoadedDir, from_catalog: &LoadedDir) {
    assert_eq!(from_music.songs.len(), from_catalog.songs.len());
    let mut catalog: Vec<_> = from_catalog.songs.iter().collect();
    catalog.sort_by(|a, b| {
        a.path
            .as_os_str()
            .as_encoded_bytes()
            .cmp(b.path.as_os_str().as_encoded_bytes())
    });
    for (a, b) in from_music.songs.iter().zip(catalog) {
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

    let from_catalog = read_catalog(out.path()).unwrap();
    assert!(from_catalog.skipped.is_empty());
    assert_same_songs(&from_music, &from_catalog);
    // IDs are stable: loading again gives the same.
    let again = read_catalog(out.path()).unwrap();
    let ids = |l: &LoadedDir| -> Vec<(u64, PathBuf)> {
        let mut ids: Vec<_> = l
            .songs
            .iter()
            .map(|s| (s.manifest.id, s.path.clone()))
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&again), ids(&from_music));

    // The segment files concatenate to the song's audio.
    let index = common::listing(out.path());
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
    let index1 = common::listing(out.path());
    let dir_of = |index: &common::Listing, source: &str| {
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
    assert_eq!(common::listing(out.path()), index1);
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
        &lame_bytes(16_000, 1, 1.0, &["-b", "24"]),
    );
    std::fs::remove_file(src.path().join("sub/02-blue-tide.mp3")).unwrap();
    let third = run(src.path(), out.path());
    assert_eq!(
        (third.songs, third.written, third.unchanged, third.removed),
        (5, 2, 3, 1)
    );
    let index3 = common::listing(out.path());
    let sources: Vec<&str> = index3.songs.iter().map(|e| e.source.as_str()).collect();
    assert_eq!(
        sources,
        [
            "01-morning-steps.mp3",
            "03-small-hours.mp3",
            "A-new.mp3",
            "B-generated.mp3",
            "sub/04-long-road.mp3"
        ]
    );
    // Songs keep their IDs whatever was added or removed; the changed audio has a new one.
    let id_of = |index: &common::Listing, source: &str| {
        index
            .songs
            .iter()
            .find(|e| e.source == source)
            .map(|e| e.id)
    };
    for kept in [
        "01-morning-steps.mp3",
        "03-small-hours.mp3",
        "sub/04-long-road.mp3",
    ] {
        assert_eq!(id_of(&index3, kept), id_of(&index1, kept), "{kept}");
    }
    assert_ne!(
        id_of(&index3, "B-generated.mp3"),
        id_of(&index1, "B-generated.mp3")
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
        &read_catalog(out.path()).unwrap(),
    );
}

#[test]
fn leftovers_of_an_interrupted_run_are_never_served_and_are_cleaned() {
    let src = source();
    let out = tempfile::tempdir().unwrap();
    run(src.path(), out.path());
    let songs = out.path().join(SONGS_DIR);
    let index = common::listing(out.path());
    // A run killed while writing a folder, and one killed after renaming a folder but before the
    // index: neither is listed, so neither is served.
    let half = songs.join(".tmp-0123456789abcdef0123456789abcdef-999");
    write(&half.join("000000.seg"), b"half");
    let orphan = songs.join("0123456789abcdef0123456789abcdef");
    copy_dir(&songs.join(&index.songs[0].dir), &orphan);
    let loaded = read_catalog(out.path()).unwrap();
    assert_eq!(loaded.songs.len(), 5);
    assert!(loaded.skipped.is_empty());

    let summary = run(src.path(), out.path());
    assert_eq!((summary.written, summary.unchanged), (0, 5));
    assert!(!half.exists() && !orphan.exists());
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
    let index = common::listing(out.path());
    let folder = |i: usize| out.path().join(SONGS_DIR).join(&index.songs[i].dir);
    // Song 1: a segment cut short. Song 2: a segment missing. Song 4: its folder gone.
    let seg = folder(0).join("000000.seg");
    let len = std::fs::metadata(&seg).unwrap().len();
    std::fs::File::options()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 1)
        .unwrap();
    std::fs::remove_file(folder(1).join("000001.seg")).unwrap();
    std::fs::remove_dir_all(folder(3)).unwrap();

    let mut loaded = read_catalog(out.path()).unwrap();
    let mut ids: Vec<u64> = loaded.songs.iter().map(|s| s.manifest.id).collect();
    ids.sort();
    let mut expected = [index.songs[2].id, index.songs[4].id];
    expected.sort();
    assert_eq!(ids, expected);
    loaded.skipped.sort_by(|a, b| a.path.cmp(&b.path));
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
    assert!(reasons[2].1.contains("000000.seg"), "{reasons:?}");

    // A segment damaged after loading is refused when read, not served.
    let song = loaded
        .songs
        .iter()
        .find(|s| s.manifest.id == index.songs[2].id)
        .unwrap();
    let path = song.files.as_ref().unwrap().path(0);
    std::fs::write(&path, b"short").unwrap();
    let err = song.get_segment(0).unwrap_err();
    assert!(err.to_string().contains("holds 5 bytes"), "{err}");

    // The next run repairs all three.
    let summary = run(src.path(), out.path());
    assert_eq!(
        (summary.written, summary.unchanged),
        (4, 1),
        "three repaired, one cut short since"
    );
    assert_eq!(read_catalog(out.path()).unwrap().songs.len(), 5);
}

#[test]
fn a_missing_or_foreign_catalog_is_an_error() {
    let empty = tempfile::tempdir().unwrap();
    let err = read_catalog(empty.path()).unwrap_err();
    assert!(err.to_string().contains(INDEX_FILE), "{err}");
    std::fs::write(empty.path().join(INDEX_FILE), b"{\"songs\": []}").unwrap();
    assert!(read_catalog(empty.path()).is_err());

    // A folder with other things in it is never taken over (a run deletes unlisted folders).
    let busy = tempfile::tempdir().unwrap();
    write(&busy.path().join("songs/mine/keep.txt"), b"precious");
    let err =
        write_catalog(&music_dir(), busy.path(), DEFAULT_SEGMENT_DURATION, &Quiet).unwrap_err();
    assert!(err.to_string().contains("refusing"), "{err}");
    assert!(busy.path().join("songs/mine/keep.txt").exists());
}

#[test]
fn a_folder_without_a_song_writes_nothing_and_keeps_the_catalog() {
    let src = tempfile::tempdir().unwrap();
    write(&src.path().join("sub/notes.txt"), b"no songs here");
    let out = tempfile::tempdir().unwrap();
    let fresh = out.path().join("catalog");
    let err = write_catalog(src.path(), &fresh, DEFAULT_SEGMENT_DURATION, &Quiet).unwrap_err();
    assert!(err.to_string().starts_with("no mp3 file below "), "{err}");
    assert!(!fresh.exists(), "nothing is created");
    let err =
        jukebox_segmenter::segment_all(src.path(), DEFAULT_SEGMENT_DURATION, &Quiet).unwrap_err();
    assert!(err.to_string().starts_with("no mp3 file below "), "{err}");

    // A run on a folder that lost its songs (a disk not mounted) leaves the catalog as it was.
    run(&music_dir(), out.path());
    let before = common::listing(out.path());
    write_catalog(src.path(), out.path(), DEFAULT_SEGMENT_DURATION, &Quiet).unwrap_err();
    assert_eq!(common::listing(out.path()), before);
    // So does a run on files that are all broken, and it says how many.
    write(&src.path().join("a.mp3"), b"not audio");
    write(&src.path().join("sub/b.mp3"), b"not audio either");
    let err = write_catalog(src.path(), out.path(), DEFAULT_SEGMENT_DURATION, &Quiet).unwrap_err();
    let err = err.to_string();
    assert!(err.starts_with("no mp3 file below "), "{err}");
    assert!(err.ends_with(" could be segmented (2 skipped)"), "{err}");
    assert_eq!(common::listing(out.path()), before);
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
    let loaded = read_catalog(out.path()).unwrap();
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
    let index = common::listing(out.path());
    assert_eq!(index.songs[0].source_bytes, b"caf\xe9.mp3");
    assert_same_songs(
        &load_dir(src.path(), DEFAULT_SEGMENT_DURATION).unwrap(),
        &read_catalog(out.path()).unwrap(),
    );
    assert_eq!(run(src.path(), out.path()).unchanged, 1);
}

#[test]
fn a_catalog_of_the_earlier_version_is_rebuilt() {
    let out = tempfile::tempdir().unwrap();
    // What version 1 left: index.json, and song folders holding a manifest.json each.
    write(
        &out.path().join(OLD_INDEX_FILE),
        br#"{"format": "jukebox-catalog", "version": 1, "segment_duration": 2.0, "songs": []}"#,
    );
    let old_folder = out
        .path()
        .join(SONGS_DIR)
        .join("49274a58d04c22396d0f726d0b35bffe");
    write(&old_folder.join("manifest.json"), b"{\"id\": 0}");
    write(&old_folder.join("000000.seg"), b"old");
    assert!(jukebox_segmenter::open_catalog(out.path())
        .unwrap_err()
        .to_string()
        .contains("earlier version"));

    let summary = run(&music_dir(), out.path());
    assert_eq!((summary.songs, summary.written), (4, 4));
    assert!(!out.path().join(OLD_INDEX_FILE).exists());
    assert!(!old_folder.exists());
    assert!(out.path().join(INDEX_FILE).is_file());
    assert_same_songs(
        &load_dir(&music_dir(), DEFAULT_SEGMENT_DURATION).unwrap(),
        &read_catalog(out.path()).unwrap(),
    );
}

/// `data` with the title `from` of its ID3 tag (UTF-16, as the bundled songs have it) replaced by
/// `to`, of the same length.
fn retitled(data: &[u8], from: &str, to: &str) -> Vec<u8> {
    let utf16 = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(u16::to_le_bytes).collect() };
    let (from, to) = (utf16(from), utf16(to));
    assert_eq!(from.len(), to.len());
    let at = data
        .windows(from.len())
        .position(|w| w == from)
        .expect("the title in the tag");
    let mut changed = data.to_vec();
    changed[at..at + to.len()].copy_from_slice(&to);
    changed
}

/// The source path and ID of every song a catalog lists, by path.
fn ids(out: &Path) -> Vec<(String, u64)> {
    common::listing(out)
        .songs
        .into_iter()
        .map(|s| (s.source, s.id))
        .collect()
}

#[test]
fn ids_survive_renames_moves_retagging_and_other_files_coming_and_going() {
    let src = source();
    let out = tempfile::tempdir().unwrap();
    run(src.path(), out.path());
    let before: std::collections::HashMap<String, u64> = ids(out.path()).into_iter().collect();
    let folders_before = common::listing(out.path());

    // Renamed into another folder; retagged (a title of the same length); one file removed and
    // another added before all the others in path order.
    std::fs::create_dir(src.path().join("renamed")).unwrap();
    std::fs::rename(
        src.path().join("01-morning-steps.mp3"),
        src.path().join("renamed/first.mp3"),
    )
    .unwrap();
    let small = src.path().join("03-small-hours.mp3");
    let data = retitled(
        &std::fs::read(&small).unwrap(),
        "Small Hours",
        "Large Hours",
    );
    std::fs::write(&small, &data).unwrap();
    std::fs::remove_file(src.path().join("sub/04-long-road.mp3")).unwrap();
    write(
        &src.path().join("0-new.mp3"),
        &lame_bytes(16_000, 1, 1.0, &["-b", "24"]),
    );

    let summary = run(src.path(), out.path());
    assert_eq!(summary.songs, 5);
    assert_eq!(summary.written, 1, "only the new song's folder is written");
    let after: std::collections::HashMap<String, u64> = ids(out.path()).into_iter().collect();
    assert_eq!(after["renamed/first.mp3"], before["01-morning-steps.mp3"]);
    assert_eq!(after["03-small-hours.mp3"], before["03-small-hours.mp3"]);
    assert_eq!(after["B-generated.mp3"], before["B-generated.mp3"]);
    assert_eq!(
        after["sub/02-blue-tide.mp3"],
        before["sub/02-blue-tide.mp3"]
    );
    assert!(!after
        .values()
        .any(|&id| id == before["sub/04-long-road.mp3"]));
    let retagged = read_catalog(out.path()).unwrap();
    let retagged = retagged
        .songs
        .iter()
        .find(|s| s.manifest.id == before["03-small-hours.mp3"])
        .unwrap();
    assert_eq!(retagged.manifest.title, "Large Hours");
    // The renamed song kept its folder.
    let dir =
        |l: &common::Listing, id: u64| l.songs.iter().find(|s| s.id == id).unwrap().dir.clone();
    let id = before["01-morning-steps.mp3"];
    assert_eq!(
        dir(&common::listing(out.path()), id),
        dir(&folders_before, id)
    );

    // Another catalog of the same files, and the music folder itself, give the same IDs.
    let elsewhere = tempfile::tempdir().unwrap();
    run(src.path(), elsewhere.path());
    assert_eq!(ids(elsewhere.path()), ids(out.path()));
    let mut from_music: Vec<(String, u64)> = load_dir(src.path(), DEFAULT_SEGMENT_DURATION)
        .unwrap()
        .songs
        .iter()
        .map(|s| (s.path.to_string_lossy().into_owned(), s.manifest.id))
        .collect();
    from_music.sort();
    let mut listed = ids(out.path());
    listed.sort();
    assert_eq!(from_music, listed);
}

#[test]
fn two_files_with_the_same_audio_are_one_song() {
    let src = tempfile::tempdir().unwrap();
    let song = std::fs::read(music_dir().join("03-small-hours.mp3")).unwrap();
    write(&src.path().join("a.mp3"), &song);
    // The same audio under other tags: still the same song.
    let retagged = retitled(&song, "Small Hours", "Other Title");
    write(&src.path().join("b.mp3"), &retagged);
    let out = tempfile::tempdir().unwrap();
    let summary = run(src.path(), out.path());
    assert_eq!(summary.songs, 1);
    let id = common::listing(out.path()).songs[0].id;
    assert_eq!(summary.skipped.len(), 1);
    assert_eq!(summary.skipped[0].path, PathBuf::from("b.mp3"));
    assert_eq!(
        summary.skipped[0].reason,
        format!("the same audio as a.mp3 (song {id})")
    );
}

/// Runs `sql` on the catalog index in `out`, as another program would.
fn sql(out: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(out.join(INDEX_FILE)).unwrap();
    conn.execute_batch(sql).unwrap();
}

/// Each listed song's manifest loudness, by source path.
fn loudness(out: &Path) -> Vec<(String, Option<f64>)> {
    common::listing(out)
        .songs
        .into_iter()
        .map(|s| {
            let manifest = jukebox_protocol::Manifest::from_json(&s.manifest).unwrap();
            (s.source, manifest.loudness_lufs)
        })
        .collect()
}

#[test]
fn a_run_measures_only_songs_it_has_not_measured() {
    let input = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let song = |name: &str| std::fs::read(music_dir().join(name)).unwrap();
    write(&input.path().join("a.mp3"), &song("01-morning-steps.mp3"));
    write(&input.path().join("b.mp3"), &song("02-blue-tide.mp3"));
    write(&input.path().join("c.mp3"), &song("03-small-hours.mp3"));
    run(input.path(), out.path());
    let first = loudness(out.path());
    assert!(first.iter().all(|(_, l)| l.is_some()), "{first:?}");
    // Another value in the index than the audio's: a run that reused it serves it, one that
    // decoded the song again would serve the audio's.
    sql(out.path(), "UPDATE songs SET loudness_lufs = -33.33");
    // Retagged (same audio, same folder), and one song's audio changed.
    write(
        &input.path().join("a.mp3"),
        &retitled(&song("01-morning-steps.mp3"), "Morning", "Evening"),
    );
    write(
        &input.path().join("c.mp3"),
        &common::audio_changed(&song("03-small-hours.mp3"), 1),
    );
    run(input.path(), out.path());
    let second = loudness(out.path());
    assert_eq!(second[0], ("a.mp3".into(), Some(-33.33)), "retagged: kept");
    assert_eq!(second[1], ("b.mp3".into(), Some(-33.33)), "unchanged: kept");
    let (path, changed) = &second[2];
    assert_eq!(path, "c.mp3");
    assert!(
        changed.is_some_and(|l| l != -33.33 && (l - first[2].1.unwrap()).abs() < 1.0),
        "new audio: measured, {changed:?}"
    );
}

#[test]
fn a_catalog_written_before_loudness_is_served_then_measured_once() {
    let out = tempfile::tempdir().unwrap();
    run(&music_dir(), out.path());
    // What a run before songs had a loudness left: no loudness columns, manifests without it.
    {
        use sha2::{Digest, Sha256};
        let conn = rusqlite::Connection::open(out.path().join(INDEX_FILE)).unwrap();
        let manifests: Vec<(u64, Vec<u8>)> = conn
            .prepare("SELECT id, json FROM manifests")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for (id, json) in manifests {
            let mut manifest = jukebox_protocol::Manifest::from_json(&json).unwrap();
            (manifest.loudness_lufs, manifest.true_peak_dbtp) = (None, None);
            let json = manifest.to_json();
            let sha: [u8; 32] = Sha256::digest(&json).into();
            conn.execute(
                "UPDATE manifests SET json = ?1 WHERE id = ?2",
                rusqlite::params![json, id],
            )
            .unwrap();
            conn.execute(
                "UPDATE songs SET manifest_sha256 = ?1 WHERE id = ?2",
                rusqlite::params![sha, id],
            )
            .unwrap();
        }
        conn.execute_batch(
            "ALTER TABLE songs DROP COLUMN loudness_lufs;
             ALTER TABLE songs DROP COLUMN true_peak_dbtp;
             ALTER TABLE songs DROP COLUMN loudness_version;",
        )
        .unwrap();
    }
    // Served as it is: every song, none with a loudness.
    let old = read_catalog(out.path()).unwrap();
    assert_eq!((old.songs.len(), old.skipped.len()), (4, 0));
    assert!(old.songs.iter().all(|s| s.manifest.loudness_lufs.is_none()));
    let generation = common::listing(out.path()).generation;
    // The next run measures every song, and then the catalog is the one a fresh run writes.
    let summary = run(&music_dir(), out.path());
    assert_eq!((summary.songs, summary.unchanged), (4, 4), "folders kept");
    assert_same_songs(
        &load_dir(&music_dir(), DEFAULT_SEGMENT_DURATION).unwrap(),
        &read_catalog(out.path()).unwrap(),
    );
    let measured = common::listing(out.path());
    assert_eq!(measured.generation, generation + 1);
    // Once measured, a run changes nothing.
    run(&music_dir(), out.path());
    assert_eq!(common::listing(out.path()), measured);
}
