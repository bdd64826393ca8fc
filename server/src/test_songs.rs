//! Songs built by hand for unit tests, with manifests whose hashes match their segments.

use bytes::Bytes;
use jukebox_protocol::{Manifest, SegmentInfo};
use jukebox_segmenter::Song;
use sha2::{Digest, Sha256};

/// A song with the given ID and segment contents.
pub fn song(id: u64, segments: &[&[u8]]) -> Song {
    let infos = segments
        .iter()
        .enumerate()
        .map(|(index, bytes)| SegmentInfo {
            index: index as u32,
            bytes: bytes.len() as u32,
            frames: 1,
            samples: 1152,
            sha256: hex::encode(Sha256::digest(bytes)),
        })
        .collect::<Vec<_>>();
    let n = infos.len() as u64;
    Song {
        path: format!("song-{id}.mp3").into(),
        audio_hash: id << 11,
        manifest: Manifest {
            id,
            title: format!("Song {id}"),
            artist: String::new(),
            album: String::new(),
            codec: "mp3".into(),
            mpeg_version: "1".into(),
            sample_rate: 44_100,
            channels: 2,
            bitrate: 128_000,
            frames: n,
            samples: n * 1152,
            duration_ms: n * 1152 * 1000 / 44_100,
            encoder_delay: 0,
            encoder_padding: 0,
            loudness_lufs: None,
            true_peak_dbtp: None,
            segments: infos,
        },
        segments: segments.iter().map(|s| Bytes::copy_from_slice(s)).collect(),
        files: None,
    }
}

/// A song of a catalog on disk with segments of the given sizes, in a folder that need not exist:
/// the session never reads, it asks its shell to.
pub fn on_disk(id: u64, sizes: &[u32]) -> Song {
    let contents: Vec<Vec<u8>> = sizes.iter().map(|&n| vec![0; n as usize]).collect();
    let slices: Vec<&[u8]> = contents.iter().map(Vec::as_slice).collect();
    let mut s = song(id, &slices);
    s.segments.clear();
    s.files = Some(jukebox_segmenter::SegmentFiles::new(
        format!("/nonexistent/catalog/{id}").into(),
        sizes.to_vec(),
    ));
    s
}
