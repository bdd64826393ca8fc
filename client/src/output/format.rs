//! The shape of PCM audio: sample rate and channel count.

use std::fmt;

/// Interleaved f32 PCM at `sample_rate` frames per second, `channels` samples per frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcmFormat {
    pub sample_rate: u32,
    pub channels: u16,
}

impl fmt::Display for PcmFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} Hz, {} channel(s)", self.sample_rate, self.channels)
    }
}
