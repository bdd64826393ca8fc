//! A song's loudness: the integrated loudness and true peak (ITU-R BS.1770, EBU R128, measured by
//! `ebur128`) of the samples a client plays, that is of the segments decoded one after the other
//! by symphonia with encoder delay and padding trimmed (the gapless decode the client's output
//! equals). The only step of the analysis that decodes audio, and so by far the dearest: a run
//! of the segmenter keeps a measurement for a song whose audio has not changed (`catalog::write`).

use std::collections::VecDeque;
use std::io::Read;
use std::panic::AssertUnwindSafe;

use bytes::{Buf, Bytes};
use ebur128::{Channel, EbuR128, Mode};
use jukebox_protocol::manifest::{LOUDNESS_LUFS_RANGE, TRUE_PEAK_DBTP_RANGE};
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::DecoderOptions;
use symphonia::core::errors::Error;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::{MediaSourceStream, ReadOnlySource};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// What measuring a song found, as the manifest carries it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Loudness {
    /// Integrated loudness, LUFS, rounded to 0.01.
    pub integrated_lufs: f64,
    /// The highest true peak of any channel, dBTP, rounded up to 0.01 (so that a gain chosen to
    /// keep peaks below a ceiling keeps them there).
    pub true_peak_dbtp: f64,
}

/// Measures the song made of `segments` (in play order). `None` when there is nothing to
/// measure: no block above the absolute gate of -70 LUFS (silence), or audio the decoder cannot
/// read (it may even panic on it). A mono song is measured as dual mono, as it sounds from two
/// loudspeakers, which is how a stereo output plays it.
pub fn measure(segments: &[Bytes]) -> Option<Loudness> {
    let segments = Segments(segments.iter().cloned().collect());
    std::panic::catch_unwind(AssertUnwindSafe(|| decode_and_measure(segments))).unwrap_or(None)
}

fn decode_and_measure(segments: Segments) -> Option<Loudness> {
    let stream =
        MediaSourceStream::new(Box::new(ReadOnlySource::new(segments)), Default::default());
    let mut hint = Hint::new();
    hint.with_extension("mp3");
    let options = FormatOptions {
        enable_gapless: true,
        ..Default::default()
    };
    let mut format = symphonia::default::get_probe()
        .format(&hint, stream, &options, &MetadataOptions::default())
        .ok()?
        .format;
    let track = format.default_track()?;
    let track_id = track.id;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .ok()?;
    let mut meter: Option<EbuR128> = None;
    let mut buf: Option<SampleBuffer<f32>> = None;
    loop {
        let packet = match format.next_packet() {
            Ok(packet) => packet,
            Err(Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(_) => return None,
        };
        if packet.track_id() != track_id {
            continue;
        }
        let audio = match decoder.decode(&packet) {
            Ok(audio) => audio,
            // Skipped, as the client skips it.
            Err(Error::DecodeError(_)) => continue,
            Err(_) => return None,
        };
        if audio.frames() == 0 {
            continue;
        }
        let spec = *audio.spec();
        let channels = spec.channels.count() as u32;
        let meter = match &mut meter {
            Some(meter) if meter.channels() == channels && meter.rate() == spec.rate => meter,
            // The stream keeps one format; a frame of another is not this song's.
            Some(_) => continue,
            slot => {
                let mut meter =
                    EbuR128::new(channels, spec.rate, Mode::I | Mode::TRUE_PEAK).ok()?;
                if channels == 1 {
                    meter.set_channel(0, Channel::DualMono).ok()?;
                }
                slot.insert(meter)
            }
        };
        let buf = match &mut buf {
            Some(buf) if buf.capacity() >= audio.capacity() * spec.channels.count() => buf,
            slot => slot.insert(SampleBuffer::new(audio.capacity() as u64, spec)),
        };
        buf.copy_interleaved_ref(audio);
        meter.add_frames_f32(buf.samples()).ok()?;
    }
    let meter = meter?;
    let integrated = meter.loudness_global().ok()?;
    let peak = (0..meter.channels())
        .filter_map(|c| meter.true_peak(c).ok())
        .fold(0.0, f64::max);
    let loudness = Loudness {
        integrated_lufs: (integrated * 100.0).round() / 100.0,
        true_peak_dbtp: (20.0 * peak.log10() * 100.0).ceil() / 100.0,
    };
    (LOUDNESS_LUFS_RANGE.contains(&loudness.integrated_lufs)
        && TRUE_PEAK_DBTP_RANGE.contains(&loudness.true_peak_dbtp))
    .then_some(loudness)
}

/// The segments as one stream of bytes, without copying them.
struct Segments(VecDeque<Bytes>);

impl Read for Segments {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while let Some(front) = self.0.front_mut() {
            if front.has_remaining() {
                let n = out.len().min(front.len());
                front.copy_to_slice(&mut out[..n]);
                return Ok(n);
            }
            self.0.pop_front();
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_read_as_one_stream() {
        let mut stream = Segments(
            [&b"ab"[..], b"", b"cde"]
                .into_iter()
                .map(Bytes::from_static)
                .collect(),
        );
        let mut all = Vec::new();
        stream.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"abcde");
    }

    #[test]
    fn what_is_not_mp3_has_no_loudness() {
        assert_eq!(measure(&[]), None);
        assert_eq!(measure(&[Bytes::from_static(&[0xff; 4000])]), None);
    }
}
