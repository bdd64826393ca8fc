//! Where the audio lies in a file, and the metadata in its tags.
//!
//! Tags are skipped by their own length fields: ID3v2 (one or more) at the start; ID3v1 (with an
//! optional "TAG+" extension), APEv2, Lyrics3 (v1 and v2) and an appended ID3v2.4 (footer "3DI") at
//! the end, in any order. A length field that does not fit the file is not trusted: that region is
//! left to the frame scanner, which skips whatever is not a run of frames.

use std::io::Cursor;
use std::ops::Range;

/// Where the tags and the audio are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The bytes between the leading and the trailing tags.
    pub audio: Range<usize>,
    /// The first ID3v2 tag at the start, if any.
    pub id3v2: Option<Range<usize>>,
    /// The ID3v1 tag (with its "TAG+" extension, if any).
    pub id3v1: Option<Range<usize>>,
}

/// Title, artist and album, as far as the tags tell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    pub title: Option<String>,
    pub artist: Option<String>,
    pub album: Option<String>,
}

const ID3V2_HEADER_LEN: usize = 10;
const ID3V1_LEN: usize = 128;
const ID3V1_EXT_LEN: usize = 227;
const APE_FOOTER_LEN: usize = 32;
const LYRICS3V1_MAX: usize = 5100 + 11 + 9;

/// Finds the tags at both ends of `data` and the audio between them.
pub fn locate(data: &[u8]) -> Layout {
    let mut start = 0;
    let mut id3v2 = None;
    while let Some(len) = id3v2_len(&data[start..], b"ID3") {
        if id3v2.is_none() {
            id3v2 = Some(start..start + len);
        }
        let audio = id3v2_audio_start(&data[start..], len);
        start += audio;
        if audio < len {
            break;
        }
    }
    // A tag whose size runs past the end of the file: skip the frames that can be walked.
    if id3v2_len(&data[start..], b"ID3").is_none() {
        start += truncated_id3v2_len(&data[start..]);
    }

    let mut end = data.len();
    let mut id3v1 = None;
    // Each step removes at least one tag, so this ends; the bound guards against pathological input.
    for _ in 0..64 {
        let region = &data[start..end];
        let removed = if region.ends_with_tag_at(ID3V1_LEN, b"TAG") {
            let mut len = ID3V1_LEN;
            if region[..region.len() - ID3V1_LEN].ends_with_tag_at(ID3V1_EXT_LEN, b"TAG+") {
                len += ID3V1_EXT_LEN;
            }
            id3v1.get_or_insert(end - len..end);
            len
        } else if let Some(len) = ape_len(region) {
            len
        } else if let Some(len) = lyrics3_len(region) {
            len
        } else if let Some(len) = appended_id3v2_len(region) {
            len
        } else {
            break;
        };
        end -= removed;
    }
    Layout {
        audio: start..end,
        id3v2,
        id3v1,
    }
}

/// Reads title, artist and album with the `id3` crate: ID3v2 first, ID3v1 for what it lacks. A tag
/// that does not parse gives what could be read of it, or nothing; it never fails the file.
pub fn read_metadata(data: &[u8], layout: &Layout) -> Metadata {
    use id3::TagLike;
    let mut meta = Metadata::default();
    let clean = |s: Option<&str>| {
        s.map(|s| {
            s.trim_matches(|c: char| c == '\0' || c.is_whitespace())
                .to_owned()
        })
        .filter(|s| !s.is_empty())
    };
    if let Some(tag) = layout
        .id3v2
        .as_ref()
        .and_then(|r| text_frames(&data[r.clone()]))
    {
        let read = id3::Tag::read_from2(Cursor::new(&tag[..]));
        if let Ok(tag) = id3::partial_tag_ok(read) {
            meta.title = clean(tag.title());
            meta.artist = clean(tag.artist());
            meta.album = clean(tag.album());
        }
    }
    if let Some(range) = &layout.id3v1 {
        if let Ok(tag) = id3::v1::Tag::read_from(Cursor::new(&data[..range.end])) {
            meta.title = meta.title.or_else(|| clean(Some(&tag.title)));
            meta.artist = meta.artist.or_else(|| clean(Some(&tag.artist)));
            meta.album = meta.album.or_else(|| clean(Some(&tag.album)));
        }
    }
    meta
}

/// A copy of an ID3v2 tag that holds only its title, artist and album frames, for the `id3` crate
/// to decode. The crate allocates whatever a frame header claims before reading it (up to 4 GiB for
/// a few bytes of input), so only frames that lie within the tag are passed on; compressed,
/// encrypted and grouped frames are left out as well. Whole-tag unsynchronisation (v2.2, v2.3) is
/// undone here and an extended header is skipped; v2.4's per-frame flags are kept for the crate.
fn text_frames(tag: &[u8]) -> Option<Vec<u8>> {
    let (version, body, frames) = id3v2_frames(tag)?;
    let wanted: [&[u8]; 3] = if version == 2 {
        [b"TT2", b"TP1", b"TAL"]
    } else {
        [b"TIT2", b"TPE1", b"TALB"]
    };
    let mut out = Vec::new();
    for frame in frames.frames {
        let flags = if version == 2 {
            0
        } else {
            body[frame.start + 9]
        };
        // v2.3: compression 0x80, encryption 0x40, grouping 0x20; v2.4: grouping 0x40,
        // compression 0x08, encryption 0x04.
        let unsupported = match version {
            3 => flags & 0xE0 != 0,
            4 => flags & 0x4C != 0,
            _ => false,
        };
        let id = &body[frame.start..frame.start + if version == 2 { 3 } else { 4 }];
        if wanted.contains(&id) && !unsupported {
            out.extend_from_slice(&body[frame]);
        }
    }
    let mut copy = vec![b'I', b'D', b'3', version, 0, 0];
    let len = out.len();
    copy.extend([21, 14, 7, 0].map(|shift| (len >> shift) as u8 & 0x7F));
    copy.extend(out);
    Some(copy)
}

/// The frames of an ID3v2 tag, found by walking their headers.
struct Id3Frames {
    /// Each frame's bytes (header included) in the body.
    frames: Vec<Range<usize>>,
    /// Where the walk stopped in the body: the start of the padding, or of damage.
    end: usize,
}

/// The version, the body (resynchronised for v2.2 and v2.3) and the frames of the ID3v2 tag at the
/// start of `tag`. Frames are taken while their headers are plausible and they fit in the body.
fn id3v2_frames(tag: &[u8]) -> Option<(u8, std::borrow::Cow<'_, [u8]>, Id3Frames)> {
    let header = tag.get(..ID3V2_HEADER_LEN)?;
    let (version, flags) = (header[3], header[5]);
    let size = syncsafe(&header[6..10])?;
    let mut body = std::borrow::Cow::Borrowed(tag.get(ID3V2_HEADER_LEN..ID3V2_HEADER_LEN + size)?);
    if version < 4 && flags & 0x80 != 0 {
        body = std::borrow::Cow::Owned(resynchronise(&body));
    }
    let at = extended_header_len(version, flags, &body)?;
    let frames = walk_frames(version, &body, at);
    Some((version, body, frames))
}

/// Length of the extended header at the start of an ID3v2 body, 0 when there is none.
fn extended_header_len(version: u8, flags: u8, body: &[u8]) -> Option<usize> {
    if flags & 0x40 == 0 {
        return Some(0);
    }
    let len = match version {
        3 => 4usize.checked_add(u32::from_be_bytes(body.get(..4)?.try_into().ok()?) as usize)?,
        4 => syncsafe(body.get(..4)?)?,
        // In v2.2 the bit means compression, which no decoder supports.
        _ => return None,
    };
    (len <= body.len()).then_some(len)
}

/// Walks the frames of an ID3v2 `body` from `at`, while their headers are plausible and they fit.
fn walk_frames(version: u8, body: &[u8], mut at: usize) -> Id3Frames {
    let header_len = if version == 2 { 6 } else { 10 };
    let id_len = if version == 2 { 3 } else { 4 };
    let mut frames = Vec::new();
    while let Some(frame_header) = body.get(at..at + header_len) {
        let id = &frame_header[..id_len];
        if !id
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            break; // padding, or damage
        }
        let size = match version {
            2 => {
                u32::from_be_bytes([0, frame_header[3], frame_header[4], frame_header[5]]) as usize
            }
            3 => u32::from_be_bytes([
                frame_header[4],
                frame_header[5],
                frame_header[6],
                frame_header[7],
            ]) as usize,
            _ => match syncsafe(&frame_header[4..8]) {
                Some(size) => size,
                None => break,
            },
        };
        let Some(end) = (at + header_len)
            .checked_add(size)
            .filter(|&e| e <= body.len())
        else {
            break;
        };
        frames.push(at..end);
        at = end;
    }
    Id3Frames { frames, end: at }
}

/// For an ID3v2 header whose size runs past the end of `data`: the length of its header and the
/// frames that can be walked; 0 when `data` does not start with an ID3v2 header.
fn truncated_id3v2_len(data: &[u8]) -> usize {
    let Some(header) = data.get(..ID3V2_HEADER_LEN) else {
        return 0;
    };
    let (version, flags) = (header[3], header[5]);
    let plausible = &header[..3] == b"ID3"
        && (2..=4).contains(&version)
        && syncsafe(&header[6..10]).is_some()
        && !(flags & 0x80 != 0 && version < 4);
    if !plausible {
        return 0;
    }
    let rest = &data[ID3V2_HEADER_LEN..];
    match extended_header_len(version, flags, rest) {
        Some(at) => ID3V2_HEADER_LEN + walk_frames(version, rest, at).end,
        None => 0,
    }
}

/// Where the audio may start after an ID3v2 tag of `len` bytes at the start of `data`: `len`,
/// unless the tag's size field lies. Claiming too much shows as bytes other than zeros (padding)
/// after the last frame: the audio may start there, and the frame scanner skips what is not audio.
/// Claiming too little shows as frames running on past the end: the audio starts after them.
fn id3v2_audio_start(data: &[u8], len: usize) -> usize {
    let (version, flags) = (data[3], data[5]);
    if (flags & 0x80 != 0 && version < 4) || flags & 0x10 != 0 {
        return len; // walk positions do not map to file offsets, or a footer closes the tag
    }
    let rest = &data[ID3V2_HEADER_LEN..];
    let Some(at) = extended_header_len(version, flags, rest) else {
        return len;
    };
    let walked = ID3V2_HEADER_LEN + walk_frames(version, rest, at).end;
    if walked > len {
        return walked;
    }
    let within = ID3V2_HEADER_LEN + walk_frames(version, &data[ID3V2_HEADER_LEN..len], at).end;
    if data[within..len].iter().all(|&b| b == 0) {
        len
    } else {
        within
    }
}

/// Undoes ID3v2 unsynchronisation: every 0xFF 0x00 becomes 0xFF.
fn resynchronise(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut previous = 0;
    for &b in data {
        if !(previous == 0xFF && b == 0x00) {
            out.push(b);
        }
        previous = b;
    }
    out
}

/// Length of an ID3v2 tag (header, body and footer) whose header opens `data` with `magic`, if the
/// header is well formed and the tag fits.
fn id3v2_len(data: &[u8], magic: &[u8; 3]) -> Option<usize> {
    let header = data.get(..ID3V2_HEADER_LEN)?;
    if &header[..3] != magic || header[3] == 0xFF || header[4] == 0xFF {
        return None;
    }
    let size = syncsafe(&header[6..10])?;
    let footer = if header[5] & 0x10 != 0 {
        ID3V2_HEADER_LEN
    } else {
        0
    };
    let len = ID3V2_HEADER_LEN + size + footer;
    (len <= data.len()).then_some(len)
}

/// Length of an ID3v2.4 tag appended at the end of `data`, found by its "3DI" footer.
fn appended_id3v2_len(data: &[u8]) -> Option<usize> {
    let footer = data.get(data.len().checked_sub(ID3V2_HEADER_LEN)?..)?;
    if &footer[..3] != b"3DI" {
        return None;
    }
    let len = 2 * ID3V2_HEADER_LEN + syncsafe(&footer[6..10])?;
    let start = data.len().checked_sub(len)?;
    data[start..].starts_with(b"ID3").then_some(len)
}

/// Length of an APEv2 (or APEv1) tag at the end of `data`, found by its footer, with its header if
/// it has one.
fn ape_len(data: &[u8]) -> Option<usize> {
    let footer = data.get(data.len().checked_sub(APE_FOOTER_LEN)?..)?;
    if &footer[..8] != b"APETAGEX" {
        return None;
    }
    let size = u32::from_le_bytes(footer[12..16].try_into().ok()?) as usize;
    let flags = u32::from_le_bytes(footer[20..24].try_into().ok()?);
    let has_header = flags & (1 << 31) != 0;
    let len = size.checked_add(if has_header { APE_FOOTER_LEN } else { 0 })?;
    (size >= APE_FOOTER_LEN && len <= data.len()).then_some(len)
}

/// Length of a Lyrics3 tag at the end of `data`: v2 ends with a 6-digit size and "LYRICS200", v1
/// ends with "LYRICSEND" and starts with "LYRICSBEGIN" at most 5100 bytes of lyrics earlier.
fn lyrics3_len(data: &[u8]) -> Option<usize> {
    if data.ends_with(b"LYRICS200") {
        let digits = data.get(data.len().checked_sub(15)?..data.len() - 9)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let size: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
        let len = size + 15;
        let start = data.len().checked_sub(len)?;
        return data[start..].starts_with(b"LYRICSBEGIN").then_some(len);
    }
    if data.ends_with(b"LYRICSEND") {
        let window = &data[data.len().saturating_sub(LYRICS3V1_MAX)..];
        let at = window.windows(11).rposition(|w| w == b"LYRICSBEGIN")?;
        return Some(window.len() - at);
    }
    None
}

/// Decodes a 28-bit syncsafe integer (7 bits per byte, top bits clear).
fn syncsafe(bytes: &[u8]) -> Option<usize> {
    bytes.iter().try_fold(0usize, |acc, &b| {
        (b < 0x80).then_some((acc << 7) | usize::from(b))
    })
}

/// Whether a slice ends with a block of `len` bytes that opens with `magic`.
trait EndsWithTag {
    fn ends_with_tag_at(&self, len: usize, magic: &[u8]) -> bool;
}

impl EndsWithTag for [u8] {
    fn ends_with_tag_at(&self, len: usize, magic: &[u8]) -> bool {
        self.len() >= len && self[self.len() - len..].starts_with(magic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id3v2(body: usize, footer: bool) -> Vec<u8> {
        let mut tag = b"ID3\x04\x00".to_vec();
        tag.push(if footer { 0x10 } else { 0 });
        tag.extend([0, 0, (body >> 7) as u8 & 0x7F, body as u8 & 0x7F]);
        tag.resize(10 + body, 0);
        if footer {
            tag.extend(b"3DI\x04\x00\x10");
            tag.extend([0, 0, (body >> 7) as u8 & 0x7F, body as u8 & 0x7F]);
        }
        tag
    }

    fn ape(items: usize, header: bool) -> Vec<u8> {
        let block = |is_header: bool| {
            let mut b = b"APETAGEX".to_vec();
            b.extend(2000u32.to_le_bytes());
            b.extend(((items + 32) as u32).to_le_bytes());
            b.extend(0u32.to_le_bytes());
            let flags = if header { 1u32 << 31 } else { 0 } | if is_header { 1 << 29 } else { 0 };
            b.extend(flags.to_le_bytes());
            b.extend([0; 8]);
            b
        };
        let mut tag = if header { block(true) } else { Vec::new() };
        tag.extend(vec![b'x'; items]);
        tag.extend(block(false));
        tag
    }

    fn id3v1() -> Vec<u8> {
        let mut tag = b"TAG".to_vec();
        tag.resize(128, b' ');
        tag
    }

    fn lyrics3v2(text: &[u8]) -> Vec<u8> {
        let mut tag = b"LYRICSBEGIN".to_vec();
        tag.extend(text);
        let size = tag.len();
        tag.extend(format!("{size:06}LYRICS200").bytes());
        tag
    }

    #[test]
    fn no_tags() {
        let data = vec![0xAA; 500];
        assert_eq!(locate(&data).audio, 0..500);
    }

    #[test]
    fn several_id3v2_tags_with_and_without_footer() {
        let mut data = id3v2(100, true);
        let first = data.len();
        data.extend(id3v2(50, false));
        let skipped = data.len();
        data.extend([0xAA; 300]);
        let layout = locate(&data);
        assert_eq!(layout.audio, skipped..skipped + 300);
        assert_eq!(layout.id3v2, Some(0..first));
        assert_eq!(first, 10 + 100 + 10);
    }

    #[test]
    fn trailing_tags_in_any_order() {
        let audio = [0xAA; 300];
        for tails in [
            vec![ape(40, true), lyrics3v2(b"la la"), id3v1()],
            vec![id3v1(), ape(40, false)],
            vec![lyrics3v2(b"x"), ape(0, true), id3v2(20, true)],
        ] {
            let mut data = id3v2(10, false);
            data.extend(audio);
            for tail in &tails {
                data.extend(tail);
            }
            assert_eq!(locate(&data).audio, 20..320, "{tails:?}");
        }
    }

    #[test]
    fn id3v1_with_extension() {
        let mut data = vec![0xAA; 300];
        let mut ext = b"TAG+".to_vec();
        ext.resize(227, 0);
        data.extend(ext);
        data.extend(id3v1());
        let layout = locate(&data);
        assert_eq!(layout.audio, 0..300);
        assert_eq!(layout.id3v1, Some(300..655));
    }

    #[test]
    fn oversized_lengths_are_not_trusted() {
        let mut data = b"ID3\x03\x00\x00\x7F\x7F\x7F\x7F".to_vec();
        data.extend([0xAA; 100]);
        // Only the header and the frames that can be walked (none here) are skipped.
        assert_eq!(locate(&data).audio, 10..110);
        let mut data = b"ID3\x03\x00\x00\x7F\x7F\x7F\x7FTIT2\x00\x00\x00\x02\x00\x00\x00x".to_vec();
        data.extend([0xAA; 100]);
        assert_eq!(locate(&data).audio, 22..122);
        let mut data = vec![0xAA; 100];
        let mut footer = ape(0, false);
        footer[12..16].copy_from_slice(&5000u32.to_le_bytes());
        data.extend(footer);
        assert_eq!(locate(&data).audio, 0..132);
    }

    #[test]
    fn tags_only() {
        let mut data = id3v2(30, false);
        data.extend(id3v1());
        assert_eq!(locate(&data).audio, 40..40);
        let data = id3v1();
        assert_eq!(locate(&data).audio, 0..0);
    }

    #[test]
    fn metadata_from_v1_when_v2_is_missing_or_broken() {
        let mut data = b"ID3\x03\x00\x00\x00\x00\x00\x05\xFF\xFF\xFF\xFF\xFF".to_vec();
        data.extend([0xAA; 100]);
        let mut v1 = id3v1();
        v1[3..8].copy_from_slice(b"Title");
        v1[33..39].copy_from_slice(b"Artist");
        data.extend(v1);
        let layout = locate(&data);
        let meta = read_metadata(&data, &layout);
        assert_eq!(meta.title.as_deref(), Some("Title"));
        assert_eq!(meta.artist.as_deref(), Some("Artist"));
        assert_eq!(meta.album, None);
    }
}
