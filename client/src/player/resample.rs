//! Sample-rate conversion for a song whose rate is not the output's: rubato's synchronous FFT
//! resampler (band-limited, a fixed ratio such as 48,000 to 44,100) instead of linear
//! interpolation. One converter runs over the whole song as the decoder hands it over, so its
//! filter state carries across segments and chunks: nothing clicks where a segment ends.
//!
//! The converter delays its output by [`Resampler::output_delay`] frames; those are dropped, and
//! at the end of the input it is flushed, so that the output is the input's length times the
//! ratio (rounded), aligned with the input.

use audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};

/// Input frames per call: small enough that a converter's latency is a few milliseconds.
const CHUNK: usize = 1024;

/// `input`'s interleaved samples at `from` Hz, as samples at `to` Hz.
pub struct Resampled<I: Iterator<Item = f32>> {
    input: I,
    channels: usize,
    resampler: Fft<f32>,
    ratio: f64,
    inbuf: Vec<f32>,
    outbuf: Vec<f32>,
    /// The next sample of `outbuf` to give, and the end of those in it.
    pos: usize,
    len: usize,
    /// Output frames of the converter's delay still to drop.
    skip: usize,
    in_frames: u64,
    out_frames: u64,
    /// The input has ended: flushing.
    ended: bool,
}

impl<I: Iterator<Item = f32>> Resampled<I> {
    /// `None` if rubato cannot convert between these rates.
    pub fn new(input: I, from: u32, to: u32, channels: u16) -> Option<Self> {
        let channels = usize::from(channels.max(1));
        let resampler = Fft::<f32>::new(
            from as usize,
            to as usize,
            CHUNK,
            channels,
            FixedSync::Input,
        )
        .ok()?;
        let skip = resampler.output_delay();
        let out_max = resampler.output_frames_max();
        Some(Resampled {
            input,
            channels,
            ratio: f64::from(to) / f64::from(from),
            inbuf: Vec::with_capacity(CHUNK * channels),
            outbuf: vec![0.0; out_max * channels],
            resampler,
            pos: 0,
            len: 0,
            skip,
            in_frames: 0,
            out_frames: 0,
            ended: false,
        })
    }

    /// Output frames owed for the input so far.
    fn owed(&self) -> u64 {
        (self.in_frames as f64 * self.ratio).round() as u64
    }

    /// Converts the next chunk into `outbuf`; false once everything owed is out.
    fn refill(&mut self) -> bool {
        loop {
            if self.ended && self.out_frames >= self.owed() {
                return false;
            }
            let wanted = self.resampler.input_frames_next();
            self.inbuf.clear();
            if !self.ended {
                self.inbuf
                    .extend(self.input.by_ref().take(wanted * self.channels));
                // Only whole frames.
                self.inbuf
                    .truncate(self.inbuf.len() / self.channels * self.channels);
            }
            let frames = self.inbuf.len() / self.channels;
            self.in_frames += frames as u64;
            if frames < wanted {
                self.ended = true;
            }
            // A partial chunk is padded with silence by the converter.
            self.inbuf.resize(wanted * self.channels, 0.0);
            let Ok(input) = InterleavedSlice::new(&self.inbuf, self.channels, wanted) else {
                return false;
            };
            let capacity = self.outbuf.len() / self.channels;
            let Ok(mut output) =
                InterleavedSlice::new_mut(&mut self.outbuf, self.channels, capacity)
            else {
                return false;
            };
            let indexing = Indexing {
                input_offset: 0,
                output_offset: 0,
                partial_len: (frames < wanted).then_some(frames),
                active_channels_mask: None,
            };
            let Ok((_, produced)) =
                self.resampler
                    .process_into_buffer(&input, &mut output, Some(&indexing))
            else {
                return false;
            };
            let dropped = produced.min(self.skip);
            self.skip -= dropped;
            let mut kept = (produced - dropped) as u64;
            if self.ended {
                kept = kept.min(self.owed().saturating_sub(self.out_frames));
            }
            self.out_frames += kept;
            self.pos = dropped * self.channels;
            self.len = self.pos + kept as usize * self.channels;
            if kept > 0 {
                return true;
            }
        }
    }
}

impl<I: Iterator<Item = f32>> Iterator for Resampled<I> {
    type Item = f32;

    fn next(&mut self) -> Option<f32> {
        if self.pos >= self.len && !self.refill() {
            return None;
        }
        let sample = self.outbuf[self.pos];
        self.pos += 1;
        Some(sample)
    }
}

/// THD+N of `samples` (mono) as a sine of `hz` at `rate`: the power of what is left once the best
/// fitting sine of that frequency is taken out, relative to the sine's, in dB. Used by the tests
/// and the measurement in docs/BENCHMARKS.md.
pub fn thd_n_db(samples: &[f32], hz: f64, rate: u32) -> f64 {
    let w = 2.0 * std::f64::consts::PI * hz / f64::from(rate);
    // Least squares for a*sin + b*cos + c: the normal equations, solved directly.
    let (mut ss, mut cc, mut sc, mut s1, mut c1, mut n) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut ys, mut yc, mut y1) = (0.0, 0.0, 0.0);
    for (i, &y) in samples.iter().enumerate() {
        let (s, c) = (w * i as f64).sin_cos();
        let y = f64::from(y);
        ss += s * s;
        cc += c * c;
        sc += s * c;
        s1 += s;
        c1 += c;
        n += 1.0;
        ys += y * s;
        yc += y * c;
        y1 += y;
    }
    let m = [[ss, sc, s1], [sc, cc, c1], [s1, c1, n]];
    let v = [ys, yc, y1];
    let det = |m: [[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(m);
    let solve = |col: usize| {
        let mut mm = m;
        for (row, value) in mm.iter_mut().zip(v) {
            row[col] = value;
        }
        det(mm) / d
    };
    let (a, b, c) = (solve(0), solve(1), solve(2));
    let (mut signal, mut residual) = (0.0, 0.0);
    for (i, &y) in samples.iter().enumerate() {
        let (s, cs) = (w * i as f64).sin_cos();
        let fit = a * s + b * cs;
        signal += fit * fit;
        let r = f64::from(y) - fit - c;
        residual += r * r;
    }
    10.0 * (residual / signal).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(hz: f64, rate: u32, frames: usize, channels: usize) -> Vec<f32> {
        (0..frames)
            .flat_map(|i| {
                let x = (0.5 * (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(rate)).sin())
                    as f32;
                std::iter::repeat_n(x, channels)
            })
            .collect()
    }

    #[test]
    fn the_output_has_the_input_length_times_the_ratio() {
        for frames in [0, 1, 1000, 1024, 48_000, 48_017] {
            let input = sine(1000.0, 48_000, frames, 2);
            let out: Vec<f32> = Resampled::new(input.into_iter(), 48_000, 44_100, 2)
                .unwrap()
                .collect();
            let want = (frames as f64 * 44_100.0 / 48_000.0).round() as usize;
            assert_eq!(out.len(), want * 2, "{frames} frames");
        }
    }

    #[test]
    fn a_sine_converted_keeps_its_phase_and_is_clean() {
        let input = sine(1000.0, 48_000, 96_000, 1);
        let out: Vec<f32> = Resampled::new(input.into_iter(), 48_000, 44_100, 1)
            .unwrap()
            .collect();
        // Aligned with the input: the sine at 44.1 kHz, sample for sample, to within the filter.
        let expected = sine(1000.0, 44_100, out.len(), 1);
        let middle = 4410..out.len() - 4410;
        let worst = middle
            .clone()
            .map(|i| (out[i] - expected[i]).abs())
            .fold(0.0, f32::max);
        assert!(worst < 1e-3, "worst difference {worst}");
        let thd_n = thd_n_db(&out[middle], 1000.0, 44_100);
        assert!(thd_n < -90.0, "THD+N {thd_n:.1} dB");
    }

    /// The figures of docs/BENCHMARKS.md: rubato against the linear interpolation of rodio's
    /// `SampleRateConverter`, which the client used before, on a 1 kHz sine from 48 to 44.1 kHz.
    #[test]
    fn linear_interpolation_does_not_reach_minus_90_db() {
        use std::num::NonZero;
        let input = sine(1000.0, 48_000, 96_000, 1);
        let rubato: Vec<f32> = Resampled::new(input.clone().into_iter(), 48_000, 44_100, 1)
            .unwrap()
            .collect();
        let linear: Vec<f32> = rodio::conversions::SampleRateConverter::new(
            input.into_iter(),
            NonZero::new(48_000).unwrap(),
            NonZero::new(44_100).unwrap(),
            NonZero::new(1).unwrap(),
        )
        .collect();
        let measure = |out: &[f32]| thd_n_db(&out[4410..out.len() - 4410], 1000.0, 44_100);
        let (good, poor) = (measure(&rubato), measure(&linear));
        eprintln!("THD+N, 1 kHz 48 -> 44.1 kHz: rubato {good:.1} dB, linear {poor:.1} dB");
        assert!(
            good < -90.0 && poor > -90.0,
            "rubato {good:.1} dB, linear {poor:.1} dB"
        );
    }
}
