//! The Xing/Info and VBRI frames encoders put first, and the LAME tag's encoder delay and padding.
//!
//! Such a frame is a valid MPEG frame holding silence-free metadata instead of audio: decoders skip
//! it, so it is not counted as audio. Detection follows symphonia (the decoder clients use): the tag
//! sits right after the side information (Xing/Info) or 32 bytes after the header (VBRI), and the
//! bytes before it are zero; except that a CRC is allowed before a Xing/Info tag, as ffmpeg does.

use crate::mp3::header::{Layer, MpegHeader, MPEG_HEADER_LEN};

const VBRI_OFFSET: usize = MPEG_HEADER_LEN + 32;

/// What an info frame tells.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InfoFrame {
    /// Samples per channel the encoder added at the start (LAME tag; 0 if none).
    pub encoder_delay: u32,
    /// Samples per channel the encoder added at the end (LAME tag; 0 if none).
    pub encoder_padding: u32,
}

/// Reads `frame` (a whole frame, header included) as a Xing, Info or VBRI frame, if it is one.
pub fn parse(frame: &[u8], header: &MpegHeader) -> Option<InfoFrame> {
    if header.layer != Layer::III {
        return None;
    }
    let at = MPEG_HEADER_LEN + header.side_info_len();
    let id = frame.get(at..at + 4)?;
    // LAME puts the tag at the same place when the frame has a CRC, whose two bytes then take the
    // start of the (otherwise zero) side information. ffmpeg and mpg123 find the tag there too;
    // symphonia 0.5 expects zeros and decodes such a frame as audio.
    let side = MPEG_HEADER_LEN + if header.crc { 2 } else { 0 };
    if (id == b"Xing" || id == b"Info") && zeros(&frame[side..at]) {
        return Some(lame_tag(frame, at).unwrap_or_default());
    }
    if frame.get(VBRI_OFFSET..VBRI_OFFSET + 4)? == b"VBRI"
        && zeros(&frame[MPEG_HEADER_LEN..VBRI_OFFSET])
    {
        return Some(InfoFrame::default());
    }
    None
}

/// The encoder delay and padding from the LAME extension that follows the Xing/Info fields at `at`.
fn lame_tag(frame: &[u8], at: usize) -> Option<InfoFrame> {
    let flags = u32::from_be_bytes(frame.get(at + 4..at + 8)?.try_into().ok()?);
    let optional = [(1, 4), (2, 4), (4, 100), (8, 4)]; // frames, bytes, TOC, quality
    let lame = at
        + 8
        + optional
            .iter()
            .filter(|(bit, _)| flags & bit != 0)
            .map(|(_, len)| len)
            .sum::<usize>();
    // Encoder string (9), revision (1), lowpass (1), peak (4), two gains (2+2), flags (1), bitrate (1),
    // then delay and padding as two 12-bit numbers.
    let encoder = frame.get(lame..lame + 4)?;
    if !matches!(encoder, b"LAME" | b"Lavf" | b"Lavc") {
        return None;
    }
    let trim = frame.get(lame + 21..lame + 24)?;
    let delay = (u32::from(trim[0]) << 4) | (u32::from(trim[1]) >> 4);
    let padding = (u32::from(trim[1] & 0x0F) << 8) | u32::from(trim[2]);
    Some(InfoFrame {
        encoder_delay: delay,
        encoder_padding: padding,
    })
}

fn zeros(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> MpegHeader {
        MpegHeader::from_bytes(&[0xFF, 0xFB, 0x90, 0x64]).unwrap()
    }

    fn frame() -> Vec<u8> {
        let mut f = vec![0xFF, 0xFB, 0x90, 0x64];
        f.resize(417, 0);
        f
    }

    #[test]
    fn reads_lame_delay_and_padding() {
        let mut f = frame();
        let at = 4 + 32;
        f[at..at + 4].copy_from_slice(b"Info");
        f[at + 4..at + 8].copy_from_slice(&0x0Fu32.to_be_bytes());
        let lame = at + 8 + 4 + 4 + 100 + 4;
        f[lame..lame + 9].copy_from_slice(b"LAME3.100");
        // delay 576 = 0x240, padding 1234 = 0x4D2
        f[lame + 21..lame + 24].copy_from_slice(&[0x24, 0x04, 0xD2]);
        let info = parse(&f, &header()).unwrap();
        assert_eq!(
            info,
            InfoFrame {
                encoder_delay: 576,
                encoder_padding: 1234
            }
        );
    }

    #[test]
    fn xing_without_lame_tag_and_vbri() {
        let mut f = frame();
        f[36..40].copy_from_slice(b"Xing");
        assert_eq!(parse(&f, &header()), Some(InfoFrame::default()));
        let mut f = frame();
        f[36..40].copy_from_slice(b"VBRI");
        assert_eq!(parse(&f, &header()), Some(InfoFrame::default()));
    }

    #[test]
    fn an_info_frame_with_a_crc() {
        // As LAME writes it with -p: the CRC, then zeros up to the tag at the usual place.
        let mut f = frame();
        f[1] = 0xFA;
        f[4..6].copy_from_slice(&[0x86, 0x1F]);
        f[36..40].copy_from_slice(b"Info");
        let h = MpegHeader::from_bytes(&f).unwrap();
        assert!(h.crc);
        assert_eq!(parse(&f, &h), Some(InfoFrame::default()));
        f[6] = 1;
        assert_eq!(parse(&f, &h), None);
    }

    #[test]
    fn audio_frames_are_not_info_frames() {
        let mut f = frame();
        f[36..40].copy_from_slice(b"Xing");
        f[10] = 1; // side information is not zero: real audio
        assert_eq!(parse(&f, &header()), None);
        assert_eq!(parse(&frame(), &header()), None);
        assert_eq!(parse(&frame()[..30], &header()), None);
    }
}
