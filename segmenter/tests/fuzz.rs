//! Random bytes and random damage to a real file never panic: the result is a song that passes
//! manifest validation and holds only bytes of the input, or an error.

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use jukebox_segmenter::{segment_bytes, Song};
use proptest::prelude::*;

/// The start of a bundled song (ID3v2 tag and ~1.5 s of MPEG-2 frames), small enough to hash quickly.
fn real_file() -> &'static [u8] {
    static FILE: OnceLock<Vec<u8>> = OnceLock::new();
    FILE.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../music/03-small-hours.mp3");
        let mut data = std::fs::read(path).expect("bundled song");
        data.truncate(12_000);
        data
    })
}

fn check(data: Vec<u8>, target_ms: u64) {
    let buffer = Bytes::from(data);
    if let Ok(song) = segment_bytes("t", buffer.clone(), Duration::from_millis(target_ms)) {
        check_song(&song, &buffer);
    }
}

fn check_song(song: &Song, buffer: &Bytes) {
    song.manifest
        .validate()
        .expect("a produced manifest is valid");
    let range = buffer.as_ptr_range();
    let mut last_end = range.start;
    for segment in &song.segments {
        let seg = segment.as_ptr_range();
        assert!(
            seg.start >= last_end && seg.end <= range.end,
            "segments are ordered slices of the input"
        );
        last_end = seg.end;
    }
}

/// A change to a file: overwrite a byte, cut the file, insert or delete a run.
#[derive(Debug, Clone)]
enum Damage {
    Set(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Damage::Set(at, b)),
        1 => any::<usize>().prop_map(Damage::Truncate),
        1 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..64))
            .prop_map(|(at, bytes)| Damage::Insert(at, bytes)),
        1 => (any::<usize>(), 1..500usize).prop_map(|(at, len)| Damage::Delete(at, len)),
    ]
}

fn apply(data: &mut Vec<u8>, change: &Damage) {
    if data.is_empty() {
        return;
    }
    match change {
        Damage::Set(at, b) => {
            let i = at % data.len();
            data[i] = *b;
        }
        Damage::Truncate(at) => data.truncate(at % data.len()),
        Damage::Insert(at, bytes) => {
            let i = at % data.len();
            data.splice(i..i, bytes.iter().copied());
        }
        Damage::Delete(at, len) => {
            let i = at % data.len();
            let end = (i + len).min(data.len());
            data.drain(i..end);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..4096), ms in 0u64..3000) {
        check(data, ms);
    }

    #[test]
    fn sync_rich_bytes_never_panic(
        data in proptest::collection::vec(prop_oneof![Just(0xFFu8), 0xE0u8..=0xFF, any::<u8>()], 0..4096),
    ) {
        check(data, 100);
    }

    #[test]
    fn random_tags_around_real_audio_never_panic(
        head in proptest::collection::vec(any::<u8>(), 0..600),
        tail in proptest::collection::vec(any::<u8>(), 0..600),
        version in 2u8..5,
        flags in any::<u8>(),
        kind in 0usize..4,
    ) {
        // An ID3v2 header with a size that fits what follows, then random tag bytes.
        let mut data = vec![b'I', b'D', b'3', version, 0, flags];
        let size = head.len();
        data.extend([0, 0, (size >> 7) as u8 & 0x7F, size as u8 & 0x7F]);
        data.extend(&head);
        let audio = &real_file()[real_file().len() / 2..];
        data.extend(audio);
        // A random ID3v1, APEv2 footer, Lyrics3v2 end or bare bytes at the end.
        let mut tail = tail;
        match kind {
            0 => {
                tail.resize(128, 0);
                tail[..3].copy_from_slice(b"TAG");
            }
            1 => {
                tail.resize(32, 0);
                tail[..8].copy_from_slice(b"APETAGEX");
            }
            2 => tail.extend(b"000020LYRICS200"),
            _ => {}
        }
        data.extend(tail);
        check(data, 500);
    }

    #[test]
    fn damaged_real_files_never_panic(changes in proptest::collection::vec(damage(), 1..12), ms in 0u64..3000) {
        let mut data = real_file().to_vec();
        for change in &changes {
            apply(&mut data, change);
        }
        check(data, ms);
    }
}

#[test]
fn the_undamaged_file_segments() {
    let buffer = Bytes::copy_from_slice(real_file());
    let song = segment_bytes("t", buffer.clone(), Duration::from_millis(500)).unwrap();
    check_song(&song, &buffer);
    assert!(song.manifest.frames > 50);
}
