//! The manifest: everything a client needs to fetch, verify and decode one song.

use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use crate::document::{self, safe_u64, DocumentError};
use crate::welcome::is_hex_digest;
use crate::MAX_SONG_ID;

/// The values `loudness_lufs` may take: from EBU R128's absolute gate (no integrated loudness is
/// lower) to well above what any decoded mp3 reaches (full-scale square waves are about +6).
pub const LOUDNESS_LUFS_RANGE: RangeInclusive<f64> = -70.0..=20.0;

/// The values `true_peak_dbtp` may take: down to far below any audible signal, up to far above
/// what a decoded mp3 reaches (a few dB over full scale).
pub const TRUE_PEAK_DBTP_RANGE: RangeInclusive<f64> = -200.0..=20.0;

/// A song's manifest, sent as the JSON payload of a MANIFEST frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The song's ID, as in every page that lists it.
    #[serde(deserialize_with = "safe_u64")]
    pub id: u64,
    pub title: String,
    /// Empty when unknown.
    pub artist: String,
    /// Empty when unknown.
    pub album: String,
    /// Always "mp3" in this version.
    pub codec: String,
    /// "1", "2" or "2.5".
    pub mpeg_version: String,
    /// Samples per second per channel.
    pub sample_rate: u32,
    /// 1 or 2.
    pub channels: u16,
    /// Average bit rate of the audio frames, bits per second.
    pub bitrate: u32,
    /// Number of audio frames, not counting a Xing, Info or VBRI frame.
    #[serde(deserialize_with = "safe_u64")]
    pub frames: u64,
    /// Samples per channel in all audio frames, before removing encoder delay and padding.
    #[serde(deserialize_with = "safe_u64")]
    pub samples: u64,
    /// `samples` as milliseconds, rounded down.
    #[serde(deserialize_with = "safe_u64")]
    pub duration_ms: u64,
    /// Samples per channel the encoder added at the start (from a LAME tag; 0 if none).
    pub encoder_delay: u32,
    /// Samples per channel the encoder added at the end (from a LAME tag; 0 if none).
    pub encoder_padding: u32,
    /// Integrated loudness of the song's samples (encoder delay and padding removed), in LUFS,
    /// as ITU-R BS.1770 and EBU R128 measure it, a mono song as dual mono (as heard from two
    /// loudspeakers). Optional: `None` when unknown (not measured, or nothing above the gate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loudness_lufs: Option<f64>,
    /// The highest true peak (BS.1770's oversampled peak) of any channel of those samples, in
    /// dBTP. Optional: `None` when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub true_peak_dbtp: Option<f64>,
    /// The segments, in play order.
    pub segments: Vec<SegmentInfo>,
}

/// One segment of a song.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentInfo {
    /// Position in the song, from 0.
    pub index: u32,
    /// Length in bytes.
    pub bytes: u32,
    /// Number of audio frames in the segment (a Xing, Info or VBRI frame is not counted).
    pub frames: u32,
    /// Samples per channel in those frames.
    #[serde(deserialize_with = "safe_u64")]
    pub samples: u64,
    /// SHA-256 of the segment's bytes, 64 lowercase hex digits.
    pub sha256: String,
}

impl Manifest {
    /// Parses and checks a manifest received from a peer, its ID included.
    pub fn from_json(bytes: &[u8]) -> Result<Self, DocumentError> {
        document::parse(bytes, |m: &Manifest| {
            if m.id == 0 || m.id > MAX_SONG_ID {
                return Err(format!("song ID {} is out of range", m.id));
            }
            m.check()
        })
    }

    /// Serialises the manifest to compact JSON.
    pub fn to_json(&self) -> Vec<u8> {
        document::to_json(self)
    }

    /// The checks of [`Manifest::from_json`] but for the ID, which whoever builds a manifest may
    /// assign last.
    pub fn validate(&self) -> Result<(), DocumentError> {
        self.check().map_err(DocumentError::Invalid)
    }

    /// The rules a receiver relies on: segments numbered 0, 1, 2... with positive sizes and
    /// well-formed hashes, frame and sample counts that add up, a plausible audio format, and
    /// loudness values in their ranges (a client derives a gain from them).
    fn check(&self) -> Result<(), String> {
        let bad = |why: String| Err(why);
        if self.codec != "mp3" {
            return bad(format!("unsupported codec {:?}", self.codec));
        }
        if !matches!(self.mpeg_version.as_str(), "1" | "2" | "2.5") {
            return bad(format!("unknown MPEG version {:?}", self.mpeg_version));
        }
        if !(1..=2).contains(&self.channels) {
            return bad(format!("{} channels", self.channels));
        }
        if !(8_000..=48_000).contains(&self.sample_rate) {
            return bad(format!("sample rate {}", self.sample_rate));
        }
        if self.segments.is_empty() {
            return bad("no segments".into());
        }
        let (mut frames, mut samples) = (0u64, 0u64);
        for (i, segment) in self.segments.iter().enumerate() {
            if segment.index as usize != i {
                return bad(format!("segment {i} has index {}", segment.index));
            }
            if segment.bytes == 0 {
                return bad(format!("segment {i} is empty"));
            }
            if !is_hex_digest(&segment.sha256) {
                return bad(format!("segment {i} has a malformed sha256"));
            }
            frames += u64::from(segment.frames);
            samples = samples.saturating_add(segment.samples);
        }
        if frames != self.frames || samples != self.samples {
            return bad("segment frame or sample counts do not add up".into());
        }
        if let Some(lufs) = self
            .loudness_lufs
            .filter(|v| !LOUDNESS_LUFS_RANGE.contains(v))
        {
            return bad(format!("loudness {lufs} LUFS is out of range"));
        }
        if let Some(dbtp) = self
            .true_peak_dbtp
            .filter(|v| !TRUE_PEAK_DBTP_RANGE.contains(v))
        {
            return bad(format!("true peak {dbtp} dBTP is out of range"));
        }
        Ok(())
    }
}
