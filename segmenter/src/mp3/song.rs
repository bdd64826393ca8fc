//! Turning one mp3 held in memory into a [`Song`]: tags, frames, info frame, plan, manifest.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use jukebox_protocol::{Manifest, SegmentInfo};
use sha2::{Digest, Sha256};
use xxhash_rust::xxh3::Xxh3;

use crate::mp3::plan::{plan, PlanFrame};
use crate::mp3::{scan, tags, xing};
use crate::{SegmentError, Song};

/// Segments an mp3 held in memory. `fallback_title` is used when the tags carry no title.
/// The segments are slices of `data` (no copies); the song's `path` is left empty for the caller.
/// The manifest's ID is the song's [`audio_id`].
pub fn segment_bytes(
    fallback_title: &str,
    data: Bytes,
    target: Duration,
) -> Result<Song, SegmentError> {
    let layout = tags::locate(&data);
    let stream = scan::scan(&data, layout.audio.clone())
        .map_err(|e| SegmentError::Invalid(e.to_string()))?;
    let header = stream.header;

    // The first frame may be an info frame; one later on (concatenated files) is carried, uncounted.
    let mut info = xing::InfoFrame::default();
    let mut audio = Xxh3::new();
    let (mut audio_bytes, mut frames) = (0u64, Vec::with_capacity(stream.frames.len()));
    for (i, range) in stream.frames.into_iter().enumerate() {
        let samples = match xing::parse(&data[range.clone()], &header) {
            Some(found) => {
                if i == 0 {
                    info = found;
                }
                0
            }
            None => {
                audio.update(&data[range.clone()]);
                audio_bytes += range.len() as u64;
                header.samples()
            }
        };
        frames.push(PlanFrame {
            bytes: range,
            samples,
        });
    }
    let audio_frames = frames.iter().filter(|f| f.samples > 0).count() as u64;
    if audio_frames == 0 {
        return Err(SegmentError::Invalid(
            "no audio frames, only an info frame".into(),
        ));
    }
    let samples = audio_frames * u64::from(header.samples());
    let rate = u64::from(header.sample_rate);

    let planned = plan(&frames, header.sample_rate, target);
    let segments: Vec<Bytes> = planned
        .iter()
        .map(|s| data.slice(s.bytes.clone()))
        .collect();
    let infos = planned
        .iter()
        .zip(&segments)
        .enumerate()
        .map(|(index, (s, bytes))| SegmentInfo {
            index: index as u32,
            bytes: bytes.len() as u32,
            frames: s.frames,
            samples: s.samples,
            sha256: hex::encode(Sha256::digest(bytes)),
        })
        .collect();

    let meta = tags::read_metadata(&data, &layout);
    let audio_hash = audio.digest();
    let manifest = Manifest {
        id: audio_id(audio_hash),
        title: meta.title.unwrap_or_else(|| fallback_title.to_owned()),
        artist: meta.artist.unwrap_or_default(),
        album: meta.album.unwrap_or_default(),
        codec: "mp3".into(),
        mpeg_version: header.version.as_str().into(),
        sample_rate: header.sample_rate,
        channels: header.channels(),
        bitrate: u32::try_from(
            u128::from(audio_bytes) * 8 * u128::from(rate) / u128::from(samples),
        )
        .unwrap_or(u32::MAX),
        frames: audio_frames,
        samples,
        duration_ms: samples * 1000 / rate,
        encoder_delay: info.encoder_delay,
        encoder_padding: info.encoder_padding,
        loudness_lufs: None,
        true_peak_dbtp: None,
        segments: infos,
    };
    manifest
        .validate()
        .map_err(|e| SegmentError::Invalid(e.to_string()))?;
    Ok(Song {
        path: PathBuf::new(),
        manifest,
        audio_hash,
        segments,
        files: None,
    })
}

/// A song's ID from the XXH3-64 hash of its audio frames in order, the Xing, Info or VBRI frame
/// left out: the audio alone names the song, so its ID survives renames, moves, retagging (tags,
/// and the LAME tag that mp3gain rewrites, are outside the audio) and any other file added or
/// removed, and is the same in every catalog made from the file. The top 53 bits, so that the ID
/// is exact in every JSON implementation (below [`jukebox_protocol::MAX_SONG_ID`]); 0 is no ID,
/// so it becomes 1. See docs/CATALOG.md for what happens when two files give one ID.
pub fn audio_id(audio_hash: u64) -> u64 {
    (audio_hash >> 11).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_53_bits_and_never_0() {
        assert_eq!(audio_id(0), 1);
        assert_eq!(audio_id(2047), 1);
        assert_eq!(audio_id(2048), 1);
        assert_eq!(audio_id(4096), 2);
        assert_eq!(audio_id(u64::MAX), jukebox_protocol::MAX_SONG_ID);
    }
}
