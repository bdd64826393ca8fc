//! Feeds arbitrary bytes to the segmenter: it must never panic, and whatever song it returns must
//! pass manifest validation and consist of ordered, non-overlapping slices of the input whose sizes
//! and counts match the manifest.
#![no_main]

use std::time::Duration;

use bytes::Bytes;
use jukebox_segmenter::segment_bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the target segment duration (0 to 2.55 s), so short segments, single
    // frame segments and the default all get exercised.
    let (target_ms, body) = match data.split_first() {
        Some((&b, rest)) => (u64::from(b) * 10, rest),
        None => (0, data),
    };
    let _ = jukebox_segmenter::mp3::tags::locate(body);
    let buffer = Bytes::copy_from_slice(body);
    let Ok(song) = segment_bytes("fuzz", buffer.clone(), Duration::from_millis(target_ms)) else {
        return;
    };
    song.manifest
        .validate()
        .expect("a produced manifest is valid");
    assert_eq!(song.segments.len(), song.manifest.segments.len());
    let range = buffer.as_ptr_range();
    let mut last_end = range.start;
    for (segment, info) in song.segments.iter().zip(&song.manifest.segments) {
        let seg = segment.as_ptr_range();
        assert!(
            seg.start >= last_end && seg.end <= range.end,
            "ordered slices of the input"
        );
        assert_eq!(segment.len(), info.bytes as usize);
        last_end = seg.end;
    }
});
