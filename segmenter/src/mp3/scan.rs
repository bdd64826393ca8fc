//! Walking the MPEG frames of the audio region.
//!
//! A frame is accepted where a previous frame ended and its header belongs to the same stream, as
//! long as it is followed by another such header or the end of the audio; a frame followed by junk
//! is kept unless confirmed frames begin inside it (then it was a header-like pattern in junk).
//! Anywhere else (at the start, or after junk) a sync word is only taken for a frame when the frames
//! it announces chain on: the next [`CONFIRM_FRAMES`] headers follow exactly, each of the same
//! stream, or the chain reaches the end of the audio. Random bytes inside a tag or a damaged region
//! pass that test with negligible odds, so a false sync does not become a frame. A last frame that
//! runs past the end of the audio is truncated and dropped. The price of that caution: a run of
//! fewer than four frames between two stretches of junk cannot be told from a false sync and is
//! skipped with the junk.

use std::ops::Range;

use crate::mp3::header::{HeaderError, Layer, MpegHeader, MPEG_HEADER_LEN};

/// How many following frames must chain on before a sync word found by searching is believed.
pub const CONFIRM_FRAMES: usize = 3;

/// The frames of one stream, in order.
#[derive(Debug, Clone)]
pub struct Stream {
    /// The header of the first frame: version, layer, sample rate and channels hold for all frames.
    pub header: MpegHeader,
    /// Each frame's byte range in the scanned buffer.
    pub frames: Vec<Range<usize>>,
}

/// Why no stream could be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("no MPEG audio frames found")]
    NoFrames,
    #[error("{0} audio is not supported")]
    UnsupportedLayer(Layer),
    #[error("free-format bitrate is not supported")]
    FreeFormat,
}

/// Finds the frames of the stream in `data[audio]`. Only Layer III is accepted.
pub fn scan(data: &[u8], audio: Range<usize>) -> Result<Stream, ScanError> {
    let end = audio.end.min(data.len());
    let start = audio.start.min(end);
    let data = &data[..end];

    let Some(first) = find_confirmed(data, start, None) else {
        return Err(first_sync_error(data, start).unwrap_or(ScanError::NoFrames));
    };
    let stream_header = MpegHeader::from_bytes(&data[first..]).map_err(|_| ScanError::NoFrames)?;
    if stream_header.layer != Layer::III {
        return Err(ScanError::UnsupportedLayer(stream_header.layer));
    }

    // A rough capacity guess avoids most reallocations for CBR and VBR alike.
    let mut frames = Vec::with_capacity((end - first) / stream_header.frame_len().max(1) + 1);
    let same = |h: &MpegHeader| h.same_stream(&stream_header);
    let mut pos = first;
    // The header at `pos` when already parsed (while checking what follows the previous frame).
    let mut known = Some(stream_header);
    loop {
        let here = known
            .take()
            .or_else(|| MpegHeader::from_bytes(&data[pos..]).ok().filter(same));
        let Some(next) = here
            .map(|h| pos + h.frame_len())
            .filter(|&next| next <= end)
        else {
            // Junk, or a truncated last frame: look for the stream again after this byte.
            match find_confirmed(data, pos + 1, Some(&stream_header)) {
                Some(resync) => {
                    pos = resync;
                    continue;
                }
                None => break,
            }
        };
        if next + MPEG_HEADER_LEN > end {
            // The frame reaches the end of the audio, give or take a few stray bytes.
            frames.push(pos..next);
            break;
        }
        if let Some(following) = MpegHeader::from_bytes(&data[next..]).ok().filter(same) {
            frames.push(pos..next);
            pos = next;
            known = Some(following);
            continue;
        }
        // Junk follows. If confirmed frames start inside this one, it is junk itself (a header-like
        // pattern just before real frames); otherwise it is a real frame.
        match find_confirmed(data, pos + 1, Some(&stream_header)) {
            Some(resync) if resync < next => pos = resync,
            Some(resync) => {
                frames.push(pos..next);
                pos = resync;
            }
            None => {
                frames.push(pos..next);
                break;
            }
        }
    }
    Ok(Stream {
        header: stream_header,
        frames,
    })
}

/// The first offset at or after `from` where a confirmed run of frames starts (of the same stream
/// as `stream`, when given).
fn find_confirmed(data: &[u8], from: usize, stream: Option<&MpegHeader>) -> Option<usize> {
    let mut pos = from;
    while pos + MPEG_HEADER_LEN <= data.len() {
        pos += memchr::memchr(0xFF, &data[pos..data.len() - MPEG_HEADER_LEN + 1])?;
        if let Ok(h) = MpegHeader::from_bytes(&data[pos..]) {
            if stream.is_none_or(|s| s.same_stream(&h)) && confirms(data, pos, &h) {
                return Some(pos);
            }
        }
        pos += 1;
    }
    None
}

/// Whether the frame with header `first` at `pos` is complete and the frames after it chain on.
fn confirms(data: &[u8], pos: usize, first: &MpegHeader) -> bool {
    let mut at = pos;
    let mut header = *first;
    for checked in 0..CONFIRM_FRAMES {
        let next = at + header.frame_len();
        if next > data.len() {
            // A truncated frame is only believable as the last one after a complete frame.
            return checked > 0;
        }
        if data.len() - next < MPEG_HEADER_LEN {
            // The frame reaches the end of the audio (give or take a few stray bytes).
            return true;
        }
        match MpegHeader::from_bytes(&data[next..]) {
            Ok(h) if h.same_stream(first) => header = h,
            _ => return false,
        }
        at = next;
    }
    true
}

/// When no frames were found: whether the first sync word tells why (an unsupported bitrate).
fn first_sync_error(data: &[u8], from: usize) -> Option<ScanError> {
    let mut pos = from;
    while pos + MPEG_HEADER_LEN <= data.len() {
        pos += memchr::memchr(0xFF, &data[pos..data.len() - MPEG_HEADER_LEN + 1])?;
        match MpegHeader::from_bytes(&data[pos..]) {
            Err(HeaderError::FreeFormat) => return Some(ScanError::FreeFormat),
            Ok(_) => return None,
            Err(_) => pos += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An MPEG-1 Layer III 128 kbit/s 44.1 kHz joint-stereo frame of 417 bytes (418 when padded),
    /// its body filled with `fill`.
    fn frame(padded: bool, fill: u8) -> Vec<u8> {
        let mut f = vec![0xFF, 0xFB, if padded { 0x92 } else { 0x90 }, 0x64];
        f.resize(if padded { 418 } else { 417 }, fill);
        f
    }

    fn frames(n: usize) -> Vec<u8> {
        (0..n).flat_map(|i| frame(i % 3 == 1, i as u8)).collect()
    }

    #[test]
    fn walks_clean_frames() {
        let data = frames(10);
        let stream = scan(&data, 0..data.len()).unwrap();
        assert_eq!(stream.frames.len(), 10);
        assert_eq!(stream.frames[0], 0..417);
        assert_eq!(stream.frames[1], 417..835);
        assert_eq!(stream.frames.last().unwrap().end, data.len());
    }

    #[test]
    fn skips_junk_before_and_between() {
        let mut data = vec![0xFF, 0xFB, 0x90, 0x64, 1, 2, 3, 0xFF, 0xE0];
        let lead = data.len();
        data.extend(frames(5));
        let middle = data.len();
        data.extend([0xFF; 7]);
        data.extend(frames(5));
        let stream = scan(&data, 0..data.len()).unwrap();
        assert_eq!(stream.frames.len(), 10);
        assert_eq!(stream.frames[0].start, lead);
        assert_eq!(stream.frames[5].start, middle + 7);
    }

    #[test]
    fn a_header_in_junk_overlapping_real_frames_is_not_a_frame() {
        let mut data = frames(5);
        let junk_at = data.len();
        // A header of the same stream whose 417 bytes would run into the frames after it.
        data.extend([0xFF, 0xFB, 0x90, 0x64, 9, 9, 9, 9, 9, 9]);
        let resume = data.len();
        data.extend(frames(5));
        let stream = scan(&data, 0..data.len()).unwrap();
        assert_eq!(stream.frames.len(), 10);
        assert_eq!(stream.frames[4].end, junk_at);
        assert_eq!(stream.frames[5].start, resume);
    }

    #[test]
    fn drops_truncated_last_frame() {
        let mut data = frames(6);
        data.truncate(data.len() - 100);
        let stream = scan(&data, 0..data.len()).unwrap();
        assert_eq!(stream.frames.len(), 5);
    }

    #[test]
    fn a_single_sync_word_is_not_a_frame() {
        let mut data = vec![0u8; 2000];
        data[100..104].copy_from_slice(&[0xFF, 0xFB, 0x90, 0x64]);
        assert_eq!(scan(&data, 0..data.len()).unwrap_err(), ScanError::NoFrames);
    }

    #[test]
    fn rejects_other_layers_and_free_format() {
        let mut l2 = Vec::new();
        for _ in 0..5 {
            let mut f = vec![0xFF, 0xFD, 0x90, 0x00];
            f.resize(522, 0);
            l2.extend(f);
        }
        let err = scan(&l2, 0..l2.len()).unwrap_err();
        assert_eq!(err.to_string(), "Layer II audio is not supported");
        let mut free = vec![0xFF, 0xFB, 0x00, 0x64];
        free.resize(1000, 0);
        assert_eq!(
            scan(&free, 0..free.len()).unwrap_err(),
            ScanError::FreeFormat
        );
    }

    #[test]
    fn respects_the_audio_range() {
        let mut data = vec![0u8; 50];
        data.extend(frames(4));
        let end = data.len();
        data.extend(frame(false, 0));
        let stream = scan(&data, 50..end).unwrap();
        assert_eq!(stream.frames.len(), 4);
        assert_eq!(stream.frames.last().unwrap().end, end);
    }
}
