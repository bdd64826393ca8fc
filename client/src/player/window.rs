//! Which part of a song a play request plays: from which segment it is fetched, from which frame
//! it is decoded, and which samples are kept. One plan serves playing from the start (encoder
//! delay and padding trimmed, as a gapless decoder does) and seeking.
//!
//! Samples are counted in two ways. *Raw* samples count every sample the frames decode to, from
//! the first audio frame (a Xing/Info frame is not audio). *Song* samples are what a listener
//! hears: raw samples without the encoder's delay at the start and its padding at the end. The
//! delay and padding come from the manifest (the LAME tag), with the decoder's own delay of 529
//! samples added to the delay and taken from the padding, as LAME and symphonia count them, so
//! that the samples kept are those of symphonia's gapless decode of the whole file.
//!
//! An MP3 frame cannot be decoded on its own: its data may begin up to 511 bytes back, in earlier
//! frames (the bit reservoir), and its output overlaps the previous granule's. So a seek decodes
//! [`warm_up_frames`] frames before the target's and throws their samples away; those frames'
//! own data may be incomplete, but every frame from the target's on is decoded exactly as in a
//! decode of the whole file.

use jukebox_protocol::Manifest;

/// The decoder delay LAME and symphonia add to the encoder delay of a LAME tag.
pub const DECODER_DELAY: u64 = 529;

/// Frames decoded and thrown away before the target's: enough for the bit reservoir (511 bytes
/// back, which at the smallest frames, 24 bytes at 8 kbit/s and 24 kHz, is 22 frames) and for the
/// two granules whose state the target frame's output depends on, plus a margin.
pub fn warm_up_frames(samples_per_frame: u64) -> u64 {
    if samples_per_frame >= 1152 {
        // MPEG-1: 96 bytes at the least (32 kbit/s at 48 kHz): 6 frames of reservoir.
        10
    } else {
        26
    }
}

/// What a play request fetches, decodes and keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The first segment fetched.
    pub first_segment: usize,
    /// The index of that segment's first frame in the song.
    pub first_frame: u64,
    /// Frames before this one are read but not decoded.
    pub decode_from_frame: u64,
    /// Raw samples before this one are decoded and thrown away.
    pub keep_from: u64,
    /// Raw samples from this one on are padding.
    pub keep_until: u64,
    /// Samples per frame (per channel).
    pub samples_per_frame: u64,
    /// The song sample the request starts at.
    pub start: u64,
}

/// The encoder delay and padding to trim, in raw samples: none without a LAME tag.
pub fn trim(manifest: &Manifest) -> (u64, u64) {
    if manifest.encoder_delay == 0 && manifest.encoder_padding == 0 {
        return (0, 0);
    }
    (
        u64::from(manifest.encoder_delay) + DECODER_DELAY,
        u64::from(manifest.encoder_padding).saturating_sub(DECODER_DELAY),
    )
}

/// Samples per channel of one Layer III frame: fixed by the MPEG version, so the player does not
/// depend on the manifest's sample counts (which `tests/read_ahead.rs` makes lie).
pub fn samples_per_frame(manifest: &Manifest) -> u64 {
    if manifest.mpeg_version == "1" {
        1152
    } else {
        576
    }
}

/// Samples per channel the listener hears.
pub fn song_samples(manifest: &Manifest) -> u64 {
    let (delay, padding) = trim(manifest);
    manifest
        .frames
        .saturating_mul(samples_per_frame(manifest))
        .saturating_sub(delay + padding)
}

impl Window {
    /// The window that plays `manifest` from song sample `start` (past the end: nothing).
    pub fn new(manifest: &Manifest, start: u64) -> Window {
        let (delay, _) = trim(manifest);
        let length = song_samples(manifest);
        let start = start.min(length);
        let samples_per_frame = samples_per_frame(manifest);
        let keep_from = start + delay;
        let keep_until = length + delay;
        let target_frame = keep_from / samples_per_frame;
        let decode_from_frame = target_frame.saturating_sub(warm_up_frames(samples_per_frame));
        // The last segment starting at or before the first frame decoded.
        let mut first_segment = 0;
        let mut first_frame = 0;
        let mut frame = 0;
        for (i, segment) in manifest.segments.iter().enumerate() {
            if frame > decode_from_frame {
                break;
            }
            first_segment = i;
            first_frame = frame;
            frame += u64::from(segment.frames);
        }
        Window {
            first_segment,
            first_frame,
            decode_from_frame,
            keep_from,
            keep_until,
            samples_per_frame,
            start,
        }
    }

    /// Raw samples fetched before the first one kept: what the read-ahead does not count.
    pub fn lead_in(&self) -> u64 {
        self.keep_from
            .saturating_sub(self.first_frame * self.samples_per_frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jukebox_protocol::SegmentInfo;

    /// A manifest of MPEG-1 frames in segments of `frames` each.
    fn manifest(segments: &[u32], delay: u32, padding: u32) -> Manifest {
        let segments = segments
            .iter()
            .enumerate()
            .map(|(i, &frames)| SegmentInfo {
                frames,
                samples: u64::from(frames) * 1152,
                ..jukebox_test_kit::segment_info(i as u32, &[0; 100])
            })
            .collect();
        Manifest {
            encoder_delay: delay,
            encoder_padding: padding,
            ..jukebox_test_kit::manifest(1, segments)
        }
    }

    #[test]
    fn from_the_start_the_delay_and_padding_are_trimmed() {
        let m = manifest(&[77, 77, 10], 576, 1000);
        let w = Window::new(&m, 0);
        assert_eq!(
            (w.first_segment, w.first_frame, w.decode_from_frame),
            (0, 0, 0)
        );
        assert_eq!(w.keep_from, 576 + 529);
        assert_eq!(w.keep_until, 164 * 1152 - 471);
        assert_eq!(song_samples(&m), 164 * 1152 - 1105 - 471);
        // No LAME tag: nothing trimmed.
        let m = manifest(&[77], 0, 0);
        assert_eq!(trim(&m), (0, 0));
        assert_eq!(Window::new(&m, 0).keep_until, 77 * 1152);
    }

    #[test]
    fn a_seek_fetches_the_segment_with_the_warm_up_frames() {
        let m = manifest(&[77, 77, 77], 576, 1000);
        let delay = 1105;
        // Deep in segment 1: only segment 1 is fetched.
        let start = 100 * 1152 - delay;
        let w = Window::new(&m, start);
        assert_eq!((w.first_segment, w.first_frame), (1, 77));
        assert_eq!(w.decode_from_frame, 90);
        assert_eq!(w.keep_from, 100 * 1152);
        assert_eq!(w.lead_in(), 23 * 1152);
        // At the start of segment 2: the warm-up is in segment 1.
        let w = Window::new(&m, 154 * 1152 - delay);
        assert_eq!((w.first_segment, w.decode_from_frame), (1, 144));
        // Past the end: an empty window at the end.
        let w = Window::new(&m, u64::MAX / 2);
        assert_eq!(w.keep_from, w.keep_until);
    }
}
