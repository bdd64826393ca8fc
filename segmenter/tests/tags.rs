//! Tags of every kind, at both ends and in combination, built byte by byte: ID3v2.2/2.3/2.4 (with
//! unsynchronisation, an extended header, a footer, appended), ID3v1, APEv2, Lyrics3 v1 and v2, and
//! tags whose size field lies. The segments are always exactly the audio frames of the clean file
//! and the title is read; symphonia and ffprobe agree on frames and samples where they read the file.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{check_against_ffprobe, check_against_oracle, concat};
use jukebox_segmenter::{segment_bytes, Song};
use jukebox_test_kit::audio::lame_bytes;

/// Options for an ID3v2 tag built by [`id3v2`].
#[derive(Default, Clone, Copy)]
struct Id3 {
    version: u8,
    unsync: bool,
    extended: bool,
    footer: bool,
    padding: usize,
}

fn syncsafe(n: usize) -> [u8; 4] {
    [21, 14, 7, 0].map(|s| (n >> s) as u8 & 0x7F)
}

/// Unsynchronisation: a zero after every 0xFF that is followed by 0b111xxxxx or 0x00 (or ends).
fn unsynchronise(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, &b) in data.iter().enumerate() {
        out.push(b);
        if b == 0xFF && data.get(i + 1).is_none_or(|&n| n >= 0xE0 || n == 0) {
            out.push(0);
        }
    }
    out
}

/// An ID3v2 tag with a title and a binary frame holding `binary` (real MPEG frames, so that a
/// scanner that does not skip the tag would find them).
fn id3v2(o: Id3, title: &str, binary: &[u8]) -> Vec<u8> {
    let frame = |id: &str, payload: &[u8]| -> Vec<u8> {
        let payload = if o.version == 4 && o.unsync {
            unsynchronise(payload)
        } else {
            payload.to_vec()
        };
        let mut f = id.as_bytes().to_vec();
        match o.version {
            2 => f.extend(&(payload.len() as u32).to_be_bytes()[1..]),
            3 => f.extend((payload.len() as u32).to_be_bytes()),
            _ => f.extend(syncsafe(payload.len())),
        }
        if o.version > 2 {
            f.extend([0, if o.version == 4 && o.unsync { 0x02 } else { 0 }]);
        }
        f.extend(payload);
        f
    };
    let (title_id, binary_id) = if o.version == 2 {
        ("TT2", "GEO")
    } else {
        ("TIT2", "PRIV")
    };
    let mut text = vec![0u8];
    text.extend(title.as_bytes());
    let mut body = Vec::new();
    if o.extended {
        match o.version {
            3 => body.extend([0, 0, 0, 6, 0, 0, 0, 0, 0, 0]),
            _ => body.extend([0, 0, 0, 6, 1, 0]),
        }
    }
    body.extend(frame(title_id, &text));
    let mut private = b"owner\0".to_vec();
    private.extend(binary);
    body.extend(frame(binary_id, &private));
    body.resize(body.len() + o.padding, 0);
    if o.unsync && o.version < 4 {
        body = unsynchronise(&body);
    }
    let flags = (if o.unsync { 0x80 } else { 0 })
        | (if o.extended { 0x40 } else { 0 })
        | (if o.footer { 0x10 } else { 0 });
    let mut tag = vec![b'I', b'D', b'3', o.version, 0, flags];
    tag.extend(syncsafe(body.len()));
    tag.extend(&body);
    if o.footer {
        tag.extend([b'3', b'D', b'I', o.version, 0, flags]);
        tag.extend(syncsafe(body.len()));
    }
    tag
}

fn id3v1(title: &str) -> Vec<u8> {
    let mut tag = b"TAG".to_vec();
    tag.extend(title.as_bytes());
    tag.resize(128, 0);
    tag
}

fn ape(holding: &[u8]) -> Vec<u8> {
    let mut item = (holding.len() as u32).to_le_bytes().to_vec();
    item.extend([0, 0, 0, 0]);
    item.extend(b"Cover Art (Front)\0");
    item.extend(holding);
    let block = |is_header: bool| {
        let mut b = b"APETAGEX".to_vec();
        b.extend(2000u32.to_le_bytes());
        b.extend(((item.len() + 32) as u32).to_le_bytes());
        b.extend(1u32.to_le_bytes());
        b.extend((1u32 << 31 | if is_header { 1 << 29 } else { 0 }).to_le_bytes());
        b.extend([0; 8]);
        b
    };
    [block(true), item.clone(), block(false)].concat()
}

fn lyrics3v2(text: &[u8]) -> Vec<u8> {
    let mut tag = b"LYRICSBEGIN".to_vec();
    tag.extend(b"LYR");
    tag.extend(format!("{:05}", text.len()).bytes());
    tag.extend(text);
    let size = tag.len();
    tag.extend(format!("{size:06}LYRICS200").bytes());
    tag
}

fn lyrics3v1(text: &[u8]) -> Vec<u8> {
    [b"LYRICSBEGIN".as_slice(), text, b"LYRICSEND"].concat()
}

fn segment(data: &[u8]) -> Song {
    segment_bytes(
        "fallback",
        Bytes::copy_from_slice(data),
        Duration::from_millis(500),
    )
    .expect("segments")
}

/// A clean file (LAME Info frame, no tags) and a run of its audio frames to hide in tags.
fn clean() -> (Vec<u8>, Vec<u8>) {
    let data = lame_bytes(44_100, 2, 1.0, &["-b", "128"]);
    let frames = data[417 * 3..417 * 8].to_vec();
    (data, frames)
}

#[test]
fn id3v2_tags_of_every_version_and_layout() {
    let (data, frames) = clean();
    let clean_song = segment(&data);
    let base = Id3 {
        padding: 64,
        ..Id3::default()
    };
    let cases = [
        ("2.2", Id3 { version: 2, ..base }),
        (
            "2.2 unsync",
            Id3 {
                version: 2,
                unsync: true,
                ..base
            },
        ),
        ("2.3", Id3 { version: 3, ..base }),
        (
            "2.3 extended",
            Id3 {
                version: 3,
                extended: true,
                ..base
            },
        ),
        (
            "2.3 unsync",
            Id3 {
                version: 3,
                unsync: true,
                ..base
            },
        ),
        (
            "2.3 unsync ext",
            Id3 {
                version: 3,
                unsync: true,
                extended: true,
                ..base
            },
        ),
        ("2.4", Id3 { version: 4, ..base }),
        (
            "2.4 extended footer",
            Id3 {
                version: 4,
                extended: true,
                footer: true,
                ..base
            },
        ),
        (
            "2.4 unsync",
            Id3 {
                version: 4,
                unsync: true,
                ..base
            },
        ),
        (
            "2.4 no padding",
            Id3 {
                version: 4,
                padding: 0,
                ..base
            },
        ),
    ];
    for (what, options) in cases {
        let title = format!("Title {what}");
        let tag = id3v2(options, &title, &frames);
        if options.unsync {
            assert!(
                !tag.windows(2).any(|w| w[0] == 0xFF && w[1] >= 0xE0),
                "{what}: no sync pattern left in an unsynchronised tag"
            );
        }
        let input = [tag, data.clone()].concat();
        let song = segment(&input);
        assert_eq!(song.manifest.title, title, "{what}");
        assert!(
            concat(&song) == data,
            "{what}: segments are the audio frames"
        );
        assert_eq!(song.manifest.frames, clean_song.manifest.frames, "{what}");
        assert_eq!(
            song.manifest.encoder_delay,
            clean_song.manifest.encoder_delay
        );
        check_against_oracle(&song, &input, what);
        check_against_ffprobe(&song, &input, what);
    }
}

#[test]
fn tags_at_the_end_and_at_both_ends() {
    let (data, frames) = clean();
    let clean_song = segment(&data);
    let v24 = |footer| Id3 {
        version: 4,
        footer,
        ..Id3::default()
    };
    // Each case twice: with real MPEG frames hidden in the tags (which symphonia and ffprobe take
    // for audio: they do not skip APEv2 or appended ID3v2 tags), and with a plain payload, on which
    // they must agree with the segmenter. ffprobe makes one packet more of the bytes of a Lyrics3
    // tag or an appended ID3v2 tag, which it does not know; it is compared on the other cases.
    for hidden in [frames.as_slice(), &[0x55; 300][..]] {
        let cases: Vec<(&str, Vec<u8>, Vec<u8>, &str)> = vec![
            ("ID3v1", vec![], id3v1("One"), "One"),
            ("APEv2", vec![], ape(hidden), "fallback"),
            (
                "APEv2 + ID3v1",
                vec![],
                [ape(hidden), id3v1("Two")].concat(),
                "Two",
            ),
            (
                "Lyrics3v2 + ID3v1",
                vec![],
                [lyrics3v2(b"la la la"), id3v1("Three")].concat(),
                "Three",
            ),
            (
                "Lyrics3v1 + ID3v1",
                vec![],
                [lyrics3v1(b"la la"), id3v1("Four")].concat(),
                "Four",
            ),
            (
                "appended ID3v2.4",
                vec![],
                id3v2(v24(true), "Five", hidden),
                "fallback",
            ),
            (
                "both ends",
                id3v2(v24(false), "Six", hidden),
                [ape(hidden), lyrics3v2(b"words"), id3v1("Not six")].concat(),
                "Six",
            ),
            (
                "both ends, v2.4 with footer",
                id3v2(v24(true), "Seven", hidden),
                [id3v2(v24(true), "Appended", hidden), id3v1("")].concat(),
                "Seven",
            ),
        ];
        for (what, head, tail, title) in cases {
            let input = [head, data.clone(), tail].concat();
            let song = segment(&input);
            assert_eq!(song.manifest.title, title, "{what}");
            assert!(
                concat(&song) == data,
                "{what}: segments are the audio frames"
            );
            assert_eq!(song.manifest.frames, clean_song.manifest.frames, "{what}");
            if hidden != frames.as_slice() {
                check_against_oracle(&song, &input, what);
                if what.starts_with("ID3v1") || what.starts_with("APEv2") {
                    check_against_ffprobe(&song, &input, what);
                }
            }
        }
    }
}

#[test]
fn tags_whose_size_field_lies() {
    let (data, frames) = clean();
    let tag = id3v2(
        Id3 {
            version: 3,
            padding: 32,
            ..Id3::default()
        },
        "Liar",
        &frames,
    );
    let with_size = |size: usize| {
        let mut t = tag.clone();
        t[6..10].copy_from_slice(&syncsafe(size));
        [t, data.clone()].concat()
    };
    let real = tag.len() - 10;
    // Too small (the rest of the tag is junk before the audio), too large by a few frames (it would
    // swallow the first frames), and past the end of the file.
    for (what, size) in [
        ("too small", real / 2),
        ("too large", real + 2000),
        ("past the end", real + data.len() + 10),
    ] {
        let input = with_size(size);
        let song = segment(&input);
        assert!(
            concat(&song) == data,
            "{what}: segments are the audio frames"
        );
    }
    // An APEv2 footer whose size runs past the start of the file, and a Lyrics3v2 size that lies:
    // not trusted, and the audio frames are all still there.
    let mut bad_ape = ape(b"x");
    let at = bad_ape.len() - 20;
    bad_ape[at..at + 4].copy_from_slice(&999_999u32.to_le_bytes());
    let mut bad_lyrics = lyrics3v2(b"words");
    let at = bad_lyrics.len() - 15;
    bad_lyrics[at..at + 6].copy_from_slice(b"999999");
    for (what, tail) in [("APEv2", bad_ape), ("Lyrics3v2", bad_lyrics)] {
        let input = [data.clone(), tail].concat();
        let song = segment(&input);
        assert!(
            concat(&song) == data,
            "{what}: segments are the audio frames"
        );
    }
}
