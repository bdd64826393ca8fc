//! Arbitrary bytes as a MANIFEST payload: the parser must never panic, and what it accepts must be
//! a manifest a client can rely on (an ID in range, a format it can decode, segments numbered in
//! order, not empty, with well-formed hashes, counts that add up, loudness values in range) and
//! survive a round trip through its encoder.
#![no_main]

use jukebox_protocol::document::MAX_SAFE_INTEGER;
use jukebox_protocol::manifest::{LOUDNESS_LUFS_RANGE, TRUE_PEAK_DBTP_RANGE};
use jukebox_protocol::{Manifest, MAX_SONG_ID};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(manifest) = Manifest::from_json(data) else {
        return;
    };
    assert!((1..=MAX_SONG_ID).contains(&manifest.id));
    assert_eq!(manifest.codec, "mp3");
    assert!(["1", "2", "2.5"].contains(&manifest.mpeg_version.as_str()));
    assert!((1..=2).contains(&manifest.channels));
    assert!((8_000..=48_000).contains(&manifest.sample_rate));
    assert!(!manifest.segments.is_empty());
    let (mut frames, mut samples) = (0u64, 0u64);
    for (i, segment) in manifest.segments.iter().enumerate() {
        assert_eq!(segment.index as usize, i);
        assert!(segment.bytes > 0);
        assert_eq!(segment.sha256.len(), 64);
        assert!(segment
            .sha256
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        frames += u64::from(segment.frames);
        samples = samples.saturating_add(segment.samples);
    }
    assert_eq!((frames, samples), (manifest.frames, manifest.samples));
    assert!(manifest.frames <= MAX_SAFE_INTEGER);
    assert!(manifest.samples <= MAX_SAFE_INTEGER && manifest.duration_ms <= MAX_SAFE_INTEGER);
    assert!(manifest
        .loudness_lufs
        .is_none_or(|v| LOUDNESS_LUFS_RANGE.contains(&v)));
    assert!(manifest
        .true_peak_dbtp
        .is_none_or(|v| TRUE_PEAK_DBTP_RANGE.contains(&v)));
    let again = Manifest::from_json(&manifest.to_json()).expect("an encoded manifest parses");
    assert_eq!(again, manifest);
});
