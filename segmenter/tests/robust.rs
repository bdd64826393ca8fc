//! Broken and foreign inputs give errors, never panics; a folder of good and bad files loads the
//! good ones in path order and lists the bad ones with reasons.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use jukebox_segmenter::{
    load_dir, segment_bytes, segment_file, SegmentError, DEFAULT_SEGMENT_DURATION,
};
use jukebox_test_kit::audio::{lame_bytes, write_noisy_sine};
use jukebox_test_kit::music_dir;

fn reason(data: Vec<u8>) -> String {
    match segment_bytes("x", Bytes::from(data), DEFAULT_SEGMENT_DURATION) {
        Ok(song) => panic!("segmented into {} segments", song.segments.len()),
        Err(SegmentError::Invalid(reason)) => reason,
        Err(other) => panic!("unexpected error {other}"),
    }
}

fn garbage(len: usize) -> Vec<u8> {
    let mut x = 12345u32;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 16) as u8
        })
        .collect()
}

#[test]
fn empty_garbage_and_tags_only_are_errors() {
    assert_eq!(reason(Vec::new()), "no MPEG audio frames found");
    assert_eq!(reason(vec![0; 4096]), "no MPEG audio frames found");
    assert_eq!(reason(vec![0xFF; 4096]), "no MPEG audio frames found");
    assert_eq!(reason(garbage(200_000)), "no MPEG audio frames found");
    let mut tags = b"ID3\x03\x00\x00\x00\x00\x01\x00".to_vec();
    tags.resize(10 + 128, 0);
    tags.extend(b"TAG");
    tags.resize(tags.len() + 125, b' ');
    assert_eq!(reason(tags), "no MPEG audio frames found");
}

#[test]
fn a_file_cut_inside_its_first_frames_is_an_error() {
    let data = lame_bytes(44_100, 2, 1.0, &["-b", "128", "-t"]);
    assert_eq!(reason(data[..300].to_vec()), "no MPEG audio frames found");
    assert_eq!(reason(data[..4].to_vec()), "no MPEG audio frames found");
    // One whole frame and a bit: the frame reaches the (truncated) end, so it counts.
    let song = segment_bytes(
        "x",
        Bytes::copy_from_slice(&data[..500]),
        Duration::from_secs(2),
    )
    .unwrap();
    assert_eq!(song.manifest.frames, 1);
    assert_eq!(song.segments[0].len(), 417);
}

#[test]
fn a_file_with_only_an_info_frame_is_an_error() {
    let data = lame_bytes(44_100, 2, 1.0, &["-b", "128"]);
    assert_eq!(
        reason(data[..417 + 100].to_vec()),
        "no audio frames, only an info frame"
    );
}

#[test]
fn a_wav_named_mp3_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("song.mp3");
    write_noisy_sine(&wav, 44_100, 2, 0.5);
    let err = segment_file(&wav, DEFAULT_SEGMENT_DURATION).unwrap_err();
    assert_eq!(
        err.to_string(),
        "not a playable mp3: no MPEG audio frames found"
    );
}

#[test]
fn layer_2_audio_is_rejected_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("song.mp2");
    let status = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=1",
            "-c:a",
            "mp2",
        ])
        .arg(&out)
        .status()
        .expect("run ffmpeg (is it installed?)");
    assert!(status.success());
    let data = std::fs::read(&out).unwrap();
    assert_eq!(reason(data), "Layer II audio is not supported");
}

#[test]
fn free_format_and_layer_1_are_rejected_with_a_reason() {
    let free = lame_bytes(44_100, 2, 1.0, &["--freeformat", "-b", "400"]);
    assert_eq!(free[2] >> 4, 0, "lame wrote a free-format bitrate index");
    assert_eq!(reason(free), "free-format bitrate is not supported");
    // MPEG-1 Layer I, 288 kbit/s, 44.1 kHz: frames of 312 bytes (no encoder at hand, so built).
    let mut layer1 = Vec::new();
    for _ in 0..20 {
        let mut frame = vec![0xFF, 0xFF, 0x90, 0x00];
        frame.resize(312, 0x11);
        layer1.extend(frame);
    }
    assert_eq!(reason(layer1), "Layer I audio is not supported");
}

#[test]
fn an_unreadable_file_is_an_io_error_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    // Reading /proc/self/mem from its start fails with EIO even for root, who reads any file
    // whatever its permission bits.
    std::os::unix::fs::symlink("/proc/self/mem", dir.path().join("mem.mp3")).unwrap();
    let locked = dir.path().join("locked.mp3");
    std::fs::write(&locked, lame_bytes(22_050, 1, 0.5, &["-b", "32"])).unwrap();
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let root = std::fs::read(&locked).is_ok();
    let err = segment_file(&dir.path().join("mem.mp3"), DEFAULT_SEGMENT_DURATION).unwrap_err();
    assert!(matches!(err, SegmentError::Io(_)), "{err}");
    let loaded = load_dir(dir.path(), DEFAULT_SEGMENT_DURATION).unwrap();
    let skipped: Vec<_> = loaded
        .skipped
        .iter()
        .map(|s| s.path.display().to_string())
        .collect();
    if root {
        assert_eq!(skipped, ["mem.mp3"]);
        assert_eq!(loaded.songs.len(), 1);
    } else {
        assert_eq!(skipped, ["locked.mp3", "mem.mp3"]);
    }
    assert!(loaded
        .skipped
        .iter()
        .all(|s| s.reason.starts_with("cannot read: ")));
}

#[test]
fn a_directory_and_a_missing_file_are_io_errors() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("x.mp3");
    std::fs::create_dir(&sub).unwrap();
    assert!(matches!(
        segment_file(&sub, DEFAULT_SEGMENT_DURATION),
        Err(SegmentError::Io(_))
    ));
    let missing = dir.path().join("missing.mp3");
    assert!(matches!(
        segment_file(&missing, DEFAULT_SEGMENT_DURATION),
        Err(SegmentError::Io(_))
    ));
}

fn write(path: &Path, data: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

#[test]
fn load_dir_keeps_good_files_in_path_order_and_lists_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let small = std::fs::read(music_dir().join("03-small-hours.mp3")).unwrap();
    let generated = lame_bytes(22_050, 1, 1.0, &["-b", "32"]);
    // Each song's audio differs (a song's ID is its audio's), but for one copy.
    write(&root.join("b/03.mp3"), &small);
    write(&root.join("B.mp3"), &generated);
    write(&root.join("a-b.MP3"), &common::audio_changed(&generated, 1));
    write(&root.join("b-c.mp3"), &common::audio_changed(&generated, 2));
    write(&root.join("c-copy.mp3"), &generated);
    write(
        &root.join("x.mp3/inner.mp3"),
        &common::audio_changed(&small, 1),
    );
    write(&root.join("garbage.mp3"), &garbage(5000));
    write(&root.join("empty.mp3"), &[]);
    write(&root.join("notes.txt"), b"not a song");
    write(&root.join("song.mp3.bak"), &small);
    write_noisy_sine(&root.join("wave.mp3"), 8_000, 1, 0.2);
    std::os::unix::fs::symlink(root.join("nowhere"), root.join("dangling.mp3")).unwrap();
    std::os::unix::fs::symlink(root.join("nowhere"), root.join("dangling.txt")).unwrap();
    std::os::unix::fs::symlink(root, root.join("b/loop")).unwrap();

    let loaded = load_dir(root, DEFAULT_SEGMENT_DURATION).unwrap();
    let paths: Vec<_> = loaded.songs.iter().map(|s| s.path.clone()).collect();
    // Byte order of the relative paths: 'B' (0x42) before 'a' (0x61), and "b-c.mp3" before
    // "b/03.mp3" as '-' (0x2D) < '/' (0x2F), unlike a component-wise path order.
    let expected: Vec<PathBuf> = ["B.mp3", "a-b.MP3", "b-c.mp3", "b/03.mp3", "x.mp3/inner.mp3"]
        .iter()
        .map(PathBuf::from)
        .collect();
    assert_eq!(paths, expected);
    let mut ids: Vec<u64> = loaded.songs.iter().map(|s| s.manifest.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5, "five IDs");
    assert_eq!(
        loaded.songs[0].manifest.title, "B",
        "no tags: the file name"
    );
    assert_eq!(loaded.songs[3].manifest.title, "Small Hours");

    let skipped: Vec<(String, &str)> = loaded
        .skipped
        .iter()
        .map(|s| (s.path.display().to_string(), s.reason.as_str()))
        .collect();
    let names: Vec<&str> = skipped.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        names,
        [
            "b/loop",
            "c-copy.mp3",
            "dangling.mp3",
            "empty.mp3",
            "garbage.mp3",
            "wave.mp3",
            "x.mp3"
        ]
    );
    for (path, reason) in &skipped {
        assert!(!reason.is_empty(), "{path} has a reason");
    }
    assert_eq!(
        skipped[1].1,
        format!(
            "the same audio as B.mp3 (song {})",
            loaded.songs[0].manifest.id
        )
    );
    assert_eq!(skipped[6].1, "is a directory");
    assert_eq!(
        skipped[5].1,
        "not a playable mp3: no MPEG audio frames found"
    );
}

#[test]
fn load_dir_of_the_bundled_songs_and_of_nothing() {
    let loaded = load_dir(&music_dir(), DEFAULT_SEGMENT_DURATION).unwrap();
    assert_eq!(loaded.songs.len(), 4);
    assert!(loaded.skipped.is_empty());
    assert_eq!(loaded.songs[0].path, PathBuf::from("01-morning-steps.mp3"));
    let again = load_dir(&music_dir(), DEFAULT_SEGMENT_DURATION).unwrap();
    for (a, b) in loaded.songs.iter().zip(&again.songs) {
        assert_eq!(
            a.manifest.id, b.manifest.id,
            "an ID is the audio's, every time"
        );
    }

    let empty = tempfile::tempdir().unwrap();
    let loaded = load_dir(empty.path(), DEFAULT_SEGMENT_DURATION).unwrap();
    assert!(loaded.songs.is_empty() && loaded.skipped.is_empty());
    assert!(load_dir(&empty.path().join("missing"), DEFAULT_SEGMENT_DURATION).is_err());
}
