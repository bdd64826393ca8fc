//! Junk before and between frames, false syncs inside tags, and tags at the end: the segments still
//! hold exactly the audio frames.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::concat;
use jukebox_segmenter::{segment_bytes, Song};
use jukebox_test_kit::audio::lame_bytes;

const TARGET: Duration = Duration::from_millis(500);

/// Compares without printing megabytes on failure.
#[track_caller]
fn assert_same(ours: &[u8], expected: &[u8]) {
    let first_difference = ours.iter().zip(expected).position(|(a, b)| a != b);
    assert!(
        ours == expected,
        "{} bytes vs {} expected, first difference at {first_difference:?}",
        ours.len(),
        expected.len()
    );
}

fn segment(data: &[u8]) -> Song {
    segment_bytes("fallback", Bytes::copy_from_slice(data), TARGET).expect("segments")
}

/// A clean 1 s MPEG-1 128 kbit/s file with an Info frame, and its segments' bytes.
fn clean() -> (Vec<u8>, Song) {
    let data = lame_bytes(44_100, 2, 1.0, &["-b", "128"]);
    let song = segment(&data);
    assert_same(&concat(&song), &data);
    (data, song)
}

/// Pseudo-random bytes, rich in 0xFF and sync-like pairs.
fn junk(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|i| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            match i % 7 {
                0 => 0xFF,
                1 => 0xE0 | (x >> 27) as u8,
                _ => (x >> 24) as u8,
            }
        })
        .collect()
}

/// The first `n` frame boundaries after the Info frame, as offsets in the file.
fn frames_of(song: &Song, data: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut at = 0;
    let mut out = Vec::new();
    while at + 4 <= data.len() {
        let h = jukebox_segmenter::mp3::header::MpegHeader::from_bytes(&data[at..])
            .expect("clean file");
        out.push(at..at + h.frame_len());
        at += h.frame_len();
    }
    assert_eq!(
        out.len() as u64,
        song.manifest.frames + 1,
        "Info frame plus audio frames"
    );
    out
}

#[test]
fn junk_before_the_first_frame_is_skipped() {
    let (data, song) = clean();
    // A lone valid-looking header, then junk, then the file.
    let mut input = vec![0xFF, 0xFB, 0x90, 0x64];
    input.extend(junk(3000, 1));
    input.extend(&data);
    let resynced = segment(&input);
    assert_same(&concat(&resynced), &data);
    assert_eq!(resynced.manifest.frames, song.manifest.frames);
    assert_eq!(resynced.manifest.encoder_delay, song.manifest.encoder_delay);
}

#[test]
fn junk_between_frames_is_skipped() {
    let (data, song) = clean();
    let frames = frames_of(&song, &data);
    // Runs of at least four frames between junk: a shorter run cannot be told from a false sync.
    let cuts = [frames[5].start, frames[20].start, frames[24].start];
    let mut input = Vec::new();
    let mut from = 0;
    for (i, &cut) in cuts.iter().enumerate() {
        input.extend(&data[from..cut]);
        input.extend(junk(200 + 150 * i, i as u32 + 7));
        from = cut;
    }
    input.extend(&data[from..]);
    let resynced = segment(&input);
    assert_same(&concat(&resynced), &data);
    assert_eq!(resynced.manifest.frames, song.manifest.frames);
    assert_eq!(resynced.manifest.samples, song.manifest.samples);
    resynced.manifest.validate().unwrap();
}

#[test]
fn frames_inside_an_id3_tag_are_not_audio() {
    use id3::TagLike;
    let (data, song) = clean();
    let frames = frames_of(&song, &data);
    // A picture whose bytes are real frames: a run of syncs that chain on, inside the tag.
    let fake = data[frames[3].start..frames[8].end].to_vec();
    let mut tag = id3::Tag::new();
    tag.set_title("Framed");
    tag.add_frame(id3::frame::Picture {
        mime_type: "image/jpeg".into(),
        picture_type: id3::frame::PictureType::CoverFront,
        description: String::new(),
        data: fake.clone(),
    });
    let mut input = Vec::new();
    tag.write_to(&mut input, id3::Version::Id3v23).unwrap();
    assert!(
        input.windows(fake.len()).any(|w| w == fake),
        "the tag holds the frames verbatim"
    );
    let tag_len = input.len();
    input.extend(&data);
    let buffer = Bytes::from(input);
    let song2 = segment_bytes("fallback", buffer.clone(), TARGET).unwrap();
    assert_eq!(song2.manifest.title, "Framed");
    assert_same(&concat(&song2), &data);
    // The segments are slices of the file buffer, not copies: segment 0 starts right after the tag.
    assert_eq!(song2.segments[0].as_ptr(), buffer[tag_len..].as_ptr());
}

#[test]
fn a_sync_inside_an_untrustworthy_tag_is_not_audio() {
    let (data, _) = clean();
    // An ID3v2 header whose size runs past the end of the file, so it cannot be skipped by length,
    // holding a valid-looking header followed by padding.
    let mut input = b"ID3\x03\x00\x00\x7F\x7F\x7F\x7F".to_vec();
    input.extend(b"TIT2\x00\x00\x00\x20\x00\x00\x00");
    input.extend([0xFF, 0xFB, 0x90, 0x64]);
    input.extend([0u8; 600]);
    input.extend(&data);
    assert_same(&concat(&segment(&input)), &data);
}

#[test]
fn a_broken_id3_tag_does_not_fail_good_audio() {
    let (data, _) = clean();
    // A well-formed header whose body is nonsense: a TIT2 frame claiming far more bytes than exist.
    let mut input = b"ID3\x03\x00\x00\x00\x00\x00\x40".to_vec();
    input.extend(b"TIT2\x7F\xFF\xFF\xFF\x00\x00\x03garbage");
    input.resize(10 + 64, 0xEE);
    input.extend(&data);
    let song = segment(&input);
    assert_eq!(song.manifest.title, "fallback");
    assert_same(&concat(&song), &data);
}

#[test]
fn trailing_tags_are_excluded() {
    let (data, song) = clean();
    let frames = frames_of(&song, &data);
    let real = &data[frames[2].start..frames[5].end];
    // APEv2 with header and footer, holding real frames (which would chain on after the audio).
    let ape_block = |items: usize, header: bool| {
        let mut b = b"APETAGEX".to_vec();
        b.extend(2000u32.to_le_bytes());
        b.extend(((items + 32) as u32).to_le_bytes());
        b.extend(1u32.to_le_bytes());
        b.extend((1u32 << 31 | if header { 1 << 29 } else { 0 }).to_le_bytes());
        b.extend([0; 8]);
        b
    };
    let mut item = (real.len() as u32).to_le_bytes().to_vec();
    item.extend([0, 0, 0, 0]);
    item.extend(b"Cover Art (Front)\0");
    item.extend(real);
    let mut ape = ape_block(item.len(), true);
    ape.extend(&item);
    ape.extend(ape_block(item.len(), false));
    let mut v1 = b"TAG".to_vec();
    v1.extend(b"Tail Title");
    v1.resize(128, 0);

    for tail in [
        [ape.clone(), v1.clone()].concat(),
        [v1.clone(), ape.clone()].concat(),
        v1.clone(),
    ] {
        let mut input = data.clone();
        input.extend(&tail);
        let tagged = segment(&input);
        assert_same(&concat(&tagged), &data);
        assert_eq!(tagged.manifest.frames, song.manifest.frames);
    }
    let mut input = data.clone();
    input.extend(&v1);
    assert_eq!(segment(&input).manifest.title, "Tail Title", "ID3v1 title");
}

#[test]
fn a_truncated_last_frame_is_dropped() {
    let (data, song) = clean();
    let frames = frames_of(&song, &data);
    let last = frames.last().unwrap().clone();
    let cut = &data[..last.start + 100];
    let truncated = segment(cut);
    assert_same(&concat(&truncated), &data[..last.start]);
    assert_eq!(truncated.manifest.frames, song.manifest.frames - 1);
}
