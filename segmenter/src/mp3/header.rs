//! The 4-byte MPEG audio frame header: what a frame holds and how long it is.
//!
//! Bit layout: `AAAAAAAA AAABBCCD EEEEFFGH IIJJKLMM` (A sync, B version, C layer, D no-CRC,
//! E bitrate, F sample rate, G padding, H private, I channel mode, J mode extension, K copyright,
//! L original, M emphasis).

use std::fmt;

/// Length of a frame header in bytes.
pub const MPEG_HEADER_LEN: usize = 4;

/// MPEG audio version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
    V25,
}

impl Version {
    /// The name used in the manifest: "1", "2" or "2.5".
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1 => "1",
            Version::V2 => "2",
            Version::V25 => "2.5",
        }
    }
}

/// MPEG audio layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    I,
    II,
    III,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layer::I => "Layer I",
            Layer::II => "Layer II",
            Layer::III => "Layer III",
        })
    }
}

/// Channel mode of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelMode {
    Stereo,
    JointStereo,
    DualChannel,
    Mono,
}

/// Why four bytes are not a usable frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// The 11 sync bits are not all set.
    NoSync,
    /// A reserved value in the version, layer, bitrate or sample-rate field.
    Reserved,
    /// Bitrate index 0: the frame length is not in the header, so frames cannot be walked.
    FreeFormat,
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HeaderError::NoSync => "no frame sync",
            HeaderError::Reserved => "reserved value in frame header",
            HeaderError::FreeFormat => "free-format bitrate is not supported",
        })
    }
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MpegHeader {
    pub version: Version,
    pub layer: Layer,
    /// Bits per second.
    pub bitrate: u32,
    /// Samples per second per channel.
    pub sample_rate: u32,
    pub padding: bool,
    pub channel_mode: ChannelMode,
    /// A 16-bit CRC follows the header.
    pub crc: bool,
}

/// Bitrates in kbit/s by index 1..=14, for each (version, layer) family.
const BITRATES_V1_L1: [u16; 14] = [
    32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448,
];
const BITRATES_V1_L2: [u16; 14] = [
    32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
];
const BITRATES_V1_L3: [u16; 14] = [
    32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
];
const BITRATES_V2_L1: [u16; 14] = [
    32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256,
];
const BITRATES_V2_L23: [u16; 14] = [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];

impl MpegHeader {
    /// Parses the first four bytes of `bytes`; fewer than four bytes is `NoSync`.
    #[inline]
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, HeaderError> {
        let [b0, b1, b2, b3] = match bytes.get(..MPEG_HEADER_LEN) {
            Some(&[b0, b1, b2, b3]) => [b0, b1, b2, b3],
            _ => return Err(HeaderError::NoSync),
        };
        if b0 != 0xFF || b1 & 0xE0 != 0xE0 {
            return Err(HeaderError::NoSync);
        }
        let version = match (b1 >> 3) & 0b11 {
            0b00 => Version::V25,
            0b10 => Version::V2,
            0b11 => Version::V1,
            _ => return Err(HeaderError::Reserved),
        };
        let layer = match (b1 >> 1) & 0b11 {
            0b01 => Layer::III,
            0b10 => Layer::II,
            0b11 => Layer::I,
            _ => return Err(HeaderError::Reserved),
        };
        let crc = b1 & 1 == 0;
        let bitrate_index = usize::from(b2 >> 4);
        let sample_rate = match ((b2 >> 2) & 0b11, version) {
            (0b00, Version::V1) => 44_100,
            (0b01, Version::V1) => 48_000,
            (0b10, Version::V1) => 32_000,
            (0b00, Version::V2) => 22_050,
            (0b01, Version::V2) => 24_000,
            (0b10, Version::V2) => 16_000,
            (0b00, Version::V25) => 11_025,
            (0b01, Version::V25) => 12_000,
            (0b10, Version::V25) => 8_000,
            _ => return Err(HeaderError::Reserved),
        };
        let bitrate_kbps = match bitrate_index {
            0 => return Err(HeaderError::FreeFormat),
            15 => return Err(HeaderError::Reserved),
            i => {
                let table = match (version, layer) {
                    (Version::V1, Layer::I) => &BITRATES_V1_L1,
                    (Version::V1, Layer::II) => &BITRATES_V1_L2,
                    (Version::V1, Layer::III) => &BITRATES_V1_L3,
                    (_, Layer::I) => &BITRATES_V2_L1,
                    (_, _) => &BITRATES_V2_L23,
                };
                table[i - 1]
            }
        };
        let padding = b2 & 0b10 != 0;
        let channel_mode = match b3 >> 6 {
            0b00 => ChannelMode::Stereo,
            0b01 => ChannelMode::JointStereo,
            0b10 => ChannelMode::DualChannel,
            _ => ChannelMode::Mono,
        };
        Ok(MpegHeader {
            version,
            layer,
            bitrate: u32::from(bitrate_kbps) * 1000,
            sample_rate,
            padding,
            channel_mode,
            crc,
        })
    }

    /// Number of channels: 1 for mono, 2 otherwise.
    pub fn channels(&self) -> u16 {
        if self.channel_mode == ChannelMode::Mono {
            1
        } else {
            2
        }
    }

    /// Length of the whole frame in bytes, header included.
    pub fn frame_len(&self) -> usize {
        let padding = usize::from(self.padding);
        let (bitrate, rate) = (self.bitrate as usize, self.sample_rate as usize);
        match (self.layer, self.version) {
            (Layer::I, _) => (12 * bitrate / rate + padding) * 4,
            (Layer::II, _) | (Layer::III, Version::V1) => 144 * bitrate / rate + padding,
            (Layer::III, _) => 72 * bitrate / rate + padding,
        }
    }

    /// Samples per channel that the frame decodes to.
    pub fn samples(&self) -> u32 {
        match (self.layer, self.version) {
            (Layer::I, _) => 384,
            (Layer::II, _) | (Layer::III, Version::V1) => 1152,
            (Layer::III, _) => 576,
        }
    }

    /// Length of the Layer III side information that follows the header (and the CRC, if any).
    pub fn side_info_len(&self) -> usize {
        match (self.version, self.channel_mode) {
            (Version::V1, ChannelMode::Mono) => 17,
            (Version::V1, _) => 32,
            (_, ChannelMode::Mono) => 9,
            (_, _) => 17,
        }
    }

    /// Whether `other` belongs to the same stream: same version, layer, sample rate and channel
    /// count. Bitrate and padding change from frame to frame in VBR streams, so they are not compared.
    #[inline]
    pub fn same_stream(&self, other: &MpegHeader) -> bool {
        self.version == other.version
            && self.layer == other.layer
            && self.sample_rate == other.sample_rate
            && self.channels() == other.channels()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mpeg1_layer3_128k_44100() {
        let h = MpegHeader::from_bytes(&[0xFF, 0xFB, 0x90, 0x64]).unwrap();
        assert_eq!(h.version, Version::V1);
        assert_eq!(h.layer, Layer::III);
        assert_eq!(h.bitrate, 128_000);
        assert_eq!(h.sample_rate, 44_100);
        assert!(!h.padding && !h.crc);
        assert_eq!(h.channel_mode, ChannelMode::JointStereo);
        assert_eq!(h.frame_len(), 417);
        assert_eq!(h.samples(), 1152);
        let padded = MpegHeader::from_bytes(&[0xFF, 0xFB, 0x92, 0x64]).unwrap();
        assert_eq!(padded.frame_len(), 418);
    }

    #[test]
    fn mpeg2_and_25_mono() {
        // MPEG-2, Layer III, CRC, 48 kbit/s, 22.05 kHz, mono.
        let h = MpegHeader::from_bytes(&[0xFF, 0xF2, 0x60, 0xC0]).unwrap();
        assert_eq!(
            (h.version, h.bitrate, h.sample_rate),
            (Version::V2, 48_000, 22_050)
        );
        assert!(h.crc);
        assert_eq!(h.channels(), 1);
        assert_eq!(h.frame_len(), 72 * 48_000 / 22_050);
        assert_eq!(h.samples(), 576);
        assert_eq!(h.side_info_len(), 9);
        // MPEG-2.5, 8 kbit/s, 8 kHz.
        let h = MpegHeader::from_bytes(&[0xFF, 0xE3, 0x18, 0x00]).unwrap();
        assert_eq!(
            (h.version, h.bitrate, h.sample_rate),
            (Version::V25, 8_000, 8_000)
        );
        assert_eq!(h.frame_len(), 72);
    }

    #[test]
    fn layers_1_and_2() {
        let l2 = MpegHeader::from_bytes(&[0xFF, 0xFD, 0x90, 0x00]).unwrap();
        assert_eq!((l2.layer, l2.bitrate), (Layer::II, 160_000));
        assert_eq!(l2.frame_len(), 144 * 160_000 / 44_100);
        let l1 = MpegHeader::from_bytes(&[0xFF, 0xFF, 0x90, 0x00]).unwrap();
        assert_eq!(
            (l1.layer, l1.bitrate, l1.samples()),
            (Layer::I, 288_000, 384)
        );
        assert_eq!(l1.frame_len(), (12 * 288_000 / 44_100) * 4);
    }

    #[test]
    fn rejects_bad_headers() {
        assert_eq!(
            MpegHeader::from_bytes(&[0xFF, 0xFB, 0x90]),
            Err(HeaderError::NoSync)
        );
        assert_eq!(
            MpegHeader::from_bytes(&[0xFE, 0xFB, 0x90, 0]),
            Err(HeaderError::NoSync)
        );
        assert_eq!(
            MpegHeader::from_bytes(&[0xFF, 0xEB, 0x90, 0]),
            Err(HeaderError::Reserved)
        ); // version 01
        assert_eq!(
            MpegHeader::from_bytes(&[0xFF, 0xF9, 0x90, 0]),
            Err(HeaderError::Reserved)
        ); // layer 00
        assert_eq!(
            MpegHeader::from_bytes(&[0xFF, 0xFB, 0xF0, 0]),
            Err(HeaderError::Reserved)
        ); // bitrate 15
        assert_eq!(
            MpegHeader::from_bytes(&[0xFF, 0xFB, 0x9C, 0]),
            Err(HeaderError::Reserved)
        ); // rate 11
        assert_eq!(
            MpegHeader::from_bytes(&[0xFF, 0xFB, 0x00, 0]),
            Err(HeaderError::FreeFormat)
        );
    }
}
