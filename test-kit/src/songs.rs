//! Manifests and songs built by hand, with real SHA-256 hashes, for tests that need a song's
//! shape rather than its audio.

use bytes::Bytes;
use jukebox_protocol::{Manifest, SegmentInfo};
use jukebox_segmenter::mp3::header::MpegHeader;
use jukebox_segmenter::{segment_file, Song, DEFAULT_SEGMENT_DURATION};
use sha2::{Digest, Sha256};

/// The SHA-256 of `bytes` in lowercase hex, as a manifest gives it.
pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The manifest entry of segment `index` holding `bytes`: one MPEG-1 frame of 1152 samples.
pub fn segment_info(index: u32, bytes: &[u8]) -> SegmentInfo {
    SegmentInfo {
        index,
        bytes: bytes.len() as u32,
        frames: 1,
        samples: 1152,
        sha256: sha256(bytes),
    }
}

/// A valid manifest of song `id` titled "Song ID", without artist or album: 44.1 kHz stereo
/// MPEG-1 at 128 kbit/s, no encoder delay or padding, its counts and duration those of `segments`
/// (change the format, then [`recount`]).
pub fn manifest(id: u64, segments: Vec<SegmentInfo>) -> Manifest {
    let mut manifest = Manifest {
        id,
        title: format!("Song {id}"),
        artist: String::new(),
        album: String::new(),
        codec: "mp3".into(),
        mpeg_version: "1".into(),
        sample_rate: 44_100,
        channels: 2,
        bitrate: 128_000,
        frames: 0,
        samples: 0,
        duration_ms: 0,
        encoder_delay: 0,
        encoder_padding: 0,
        loudness_lufs: None,
        true_peak_dbtp: None,
        segments,
    };
    recount(&mut manifest);
    manifest
}

/// Sets a manifest's frame and sample counts to its segments' sums and its duration to match, as
/// the segmenter does.
pub fn recount(manifest: &mut Manifest) {
    manifest.frames = manifest.segments.iter().map(|s| u64::from(s.frames)).sum();
    manifest.samples = manifest.segments.iter().map(|s| s.samples).sum();
    manifest.duration_ms = manifest.samples * 1000 / u64::from(manifest.sample_rate);
}

/// Song `id` by the artist "Tester", held in memory: `segments` with a [`manifest`] of one frame a
/// segment.
pub fn song(id: u64, segments: Vec<Bytes>) -> Song {
    let infos = segments
        .iter()
        .enumerate()
        .map(|(index, bytes)| segment_info(index as u32, bytes))
        .collect();
    let mut manifest = manifest(id, infos);
    manifest.artist = "Tester".into();
    Song {
        path: format!("song-{id}.mp3").into(),
        audio_hash: id << 11,
        manifest,
        segments,
        files: None,
    }
}

/// Three MPEG frames of the bundled "Small Hours", after its info frame: a valid, tiny mp3.
pub fn three_frames() -> Vec<u8> {
    let song = segment_file(
        &crate::music_dir().join("03-small-hours.mp3"),
        DEFAULT_SEGMENT_DURATION,
    )
    .expect("the bundled song");
    let audio = &song.segments[1];
    let mut at = 0;
    for _ in 0..3 {
        at += MpegHeader::from_bytes(&audio[at..])
            .expect("a frame")
            .frame_len();
    }
    audio[..at].to_vec()
}
