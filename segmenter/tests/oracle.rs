//! Every bundled song and lame-encoded files of every MPEG version, rate, mode and bitrate scheme
//! agree with symphonia's demuxer: frames, samples, format, and the audio bytes.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{check_against_ffprobe, check_against_oracle, is_info_frame};
use jukebox_segmenter::{segment_bytes, segment_file, DEFAULT_SEGMENT_DURATION};
use jukebox_test_kit::audio::lame_bytes;
use jukebox_test_kit::music_dir;
use sha2::{Digest, Sha256};

#[test]
fn bundled_songs_agree_with_symphonia() {
    let mut seen = 0;
    for entry in std::fs::read_dir(music_dir()).expect("music dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "mp3") {
            continue;
        }
        seen += 1;
        let data = std::fs::read(&path).expect("read song");
        let song = segment_file(&path, DEFAULT_SEGMENT_DURATION).expect("song segments");
        let what = path.display().to_string();
        check_against_oracle(&song, &data, &what);
        check_against_ffprobe(&song, &data, &what);
        let m = &song.manifest;
        assert!(
            (1..=jukebox_protocol::MAX_SONG_ID).contains(&m.id),
            "{what}"
        );
        assert_eq!(m.artist, "Jukebox Ensemble", "{what}");
        assert!(!m.title.is_empty());
        // Segments are ~2 s: all but the last hold at least 2 s and less than 2 s plus one frame.
        let frame = if m.mpeg_version == "1" { 1152 } else { 576 };
        let two_s = 2 * u64::from(m.sample_rate);
        for s in &m.segments[..m.segments.len() - 1] {
            assert!(
                s.samples >= two_s && s.samples < two_s + frame,
                "{what}: {s:?}"
            );
        }
        for (info, bytes) in m.segments.iter().zip(&song.segments) {
            assert_eq!(info.sha256, hex::encode(Sha256::digest(bytes)));
        }
    }
    assert_eq!(seen, 4, "the four bundled songs");
}

#[test]
fn bundled_song_details() {
    let song =
        |name: &str| segment_file(&music_dir().join(name), DEFAULT_SEGMENT_DURATION).unwrap();
    let morning = song("01-morning-steps.mp3");
    let m = &morning.manifest;
    assert_eq!(
        (m.title.as_str(), m.album.as_str()),
        ("Morning Steps", "Loopback Sessions")
    );
    assert_eq!(
        (m.mpeg_version.as_str(), m.sample_rate, m.channels),
        ("1", 44_100, 2)
    );
    assert!(m.bitrate.abs_diff(128_000) < 1_000, "{}", m.bitrate);

    let tide = song("02-blue-tide.mp3");
    assert!(
        is_info_frame(&tide.segments[0][..]),
        "VBR file starts with its Xing frame"
    );
    assert!(tide.manifest.encoder_delay > 0 && tide.manifest.encoder_padding > 0);

    let small = song("03-small-hours.mp3");
    let m = &small.manifest;
    assert_eq!(
        (m.mpeg_version.as_str(), m.sample_rate, m.channels),
        ("2", 22_050, 1)
    );
    assert!(m.bitrate.abs_diff(48_000) < 500, "{}", m.bitrate);
    assert_eq!(m.album, "", "no album tag");

    let road = song("04-long-road.mp3");
    assert_eq!(
        (road.manifest.sample_rate, road.manifest.title.as_str()),
        (48_000, "Long Road")
    );
    let data = std::fs::read(music_dir().join("04-long-road.mp3")).unwrap();
    assert_eq!(
        &data[data.len() - 128..][..3],
        b"TAG",
        "the file has an ID3v1 tag"
    );
    let last = road.segments.last().unwrap();
    assert!(
        !last.ends_with(&data[data.len() - 128..]),
        "ID3v1 is not audio"
    );
}

/// (sample rate, channels, lame arguments, expected MPEG version)
const VARIANTS: &[(u32, u16, &[&str], &str)] = &[
    (32_000, 2, &["--resample", "32", "-b", "64", "--cbr"], "1"),
    (44_100, 2, &["--resample", "44.1", "-V", "2"], "1"),
    (
        48_000,
        1,
        &["--resample", "48", "-m", "m", "--abr", "96"],
        "1",
    ),
    (44_100, 2, &["--resample", "44.1", "-b", "128", "-t"], "1"),
    (
        16_000,
        1,
        &["--resample", "16", "-m", "m", "-b", "32", "--cbr"],
        "2",
    ),
    (22_050, 2, &["--resample", "22.05", "--abr", "48"], "2"),
    (24_000, 2, &["--resample", "24", "-V", "5"], "2"),
    (
        24_000,
        1,
        &["--resample", "24", "-m", "m", "-b", "24", "-t"],
        "2",
    ),
    (
        8_000,
        1,
        &["--resample", "8", "-m", "m", "-b", "16", "--cbr"],
        "2.5",
    ),
    (11_025, 2, &["--resample", "11.025", "-V", "6"], "2.5"),
    (
        12_000,
        1,
        &["--resample", "12", "-m", "m", "--abr", "24"],
        "2.5",
    ),
    (8_000, 2, &["--resample", "8", "-b", "8", "-t"], "2.5"),
    // Frames with a CRC after the header.
    (44_100, 2, &["--resample", "44.1", "-p", "-V", "4"], "1"),
    (
        22_050,
        1,
        &["--resample", "22.05", "-m", "m", "-p", "-b", "32"],
        "2",
    ),
    (
        11_025,
        2,
        &["--resample", "11.025", "-p", "--abr", "24"],
        "2.5",
    ),
];

#[test]
fn lame_files_of_every_kind_agree_with_symphonia() {
    let mut with_info = 0;
    for &(rate, channels, args, version) in VARIANTS {
        let what = format!("{rate} Hz, {channels} ch, lame {args:?}");
        let data = lame_bytes(rate, channels, 1.5, args);
        // Short segments, so that every file has several.
        let song = segment_bytes(
            "fallback",
            Bytes::from(data.clone()),
            Duration::from_millis(300),
        )
        .unwrap_or_else(|e| panic!("{what}: {e}"));
        check_against_oracle(&song, &data, &what);
        check_against_ffprobe(&song, &data, &what);
        let m = &song.manifest;
        assert_eq!(m.mpeg_version, version, "{what}");
        let first =
            jukebox_segmenter::mp3::header::MpegHeader::from_bytes(&song.segments[0]).unwrap();
        assert_eq!(
            first.crc,
            args.contains(&"-p"),
            "{what}: CRC as lame was asked"
        );
        assert_eq!(m.sample_rate, rate, "{what}");
        assert_eq!(m.channels, channels, "{what}");
        assert_eq!(
            m.title, "fallback",
            "{what}: no tags, so the fallback title"
        );
        assert!(
            m.segments.len() >= 4,
            "{what}: {} segments",
            m.segments.len()
        );
        // No tags: the file opens with its first frame. lame writes no Info frame with `-t`, nor
        // when the frames are too small to hold one.
        let lame_wrote_info = is_info_frame(&data);
        let has_info = is_info_frame(&song.segments[0][..]);
        assert_eq!(
            has_info, lame_wrote_info,
            "{what}: info frame kept iff lame wrote one"
        );
        assert!(!(args.contains(&"-t") && has_info), "{what}");
        with_info += usize::from(has_info);
        if has_info {
            assert!(m.encoder_delay > 0, "{what}: LAME tag delay");
        } else {
            assert_eq!((m.encoder_delay, m.encoder_padding), (0, 0), "{what}");
        }
        if let Some(i) = args.iter().position(|a| *a == "-b") {
            let nominal: u32 = args[i + 1].parse::<u32>().unwrap() * 1000;
            assert!(
                m.bitrate.abs_diff(nominal) <= nominal / 100,
                "{what}: bitrate {}",
                m.bitrate
            );
        }
    }
    assert!(
        with_info >= 6,
        "most variants have an Info/Xing frame: {with_info}"
    );
}

/// A VBRI frame as Fraunhofer's encoder writes it, for a stream of `frames` frames of `bytes`: the
/// first frame's header, 32 zero bytes, then the tag (version 1, delay, quality, sizes, an empty
/// table of contents).
fn vbri_frame(header: [u8; 4], len: usize, bytes: u32, frames: u32) -> Vec<u8> {
    let mut f = header.to_vec();
    f.resize(36, 0);
    f.extend(b"VBRI");
    f.extend(1u16.to_be_bytes());
    f.extend(0x0DFAu16.to_be_bytes()); // delay 0x0DFA (as a fixed-point float)
    f.extend(75u16.to_be_bytes());
    f.extend(bytes.to_be_bytes());
    f.extend(frames.to_be_bytes());
    f.extend([0, 0, 0, 1, 0, 2, 0, 1]); // TOC: 0 entries, scale 1, 2 bytes each, 1 frame each
    f.resize(len, 0);
    f
}

#[test]
fn a_vbri_frame_is_carried_not_counted() {
    for (rate, channels, args) in [
        (44_100, 2, &["-b", "128", "-t"][..]),
        (
            22_050,
            1,
            &["--resample", "22.05", "-m", "m", "-b", "32", "-t"][..],
        ),
    ] {
        let clean = lame_bytes(rate, channels, 1.0, args);
        let header = [clean[0], clean[1], clean[2] & !0x02, clean[3]];
        let len = jukebox_segmenter::mp3::header::MpegHeader::from_bytes(&header)
            .unwrap()
            .frame_len();
        let plain =
            segment_bytes("t", Bytes::from(clean.clone()), DEFAULT_SEGMENT_DURATION).unwrap();
        let frames = plain.manifest.frames as u32;
        let mut data = vbri_frame(header, len, clean.len() as u32, frames);
        data.extend(&clean);
        let what = format!("VBRI, {rate} Hz");
        let song = segment_bytes("t", Bytes::from(data.clone()), DEFAULT_SEGMENT_DURATION).unwrap();
        assert_eq!(song.manifest.frames, plain.manifest.frames, "{what}");
        assert_eq!(
            &song.segments[0][36..40],
            b"VBRI",
            "{what}: segment 0 starts with it"
        );
        assert_eq!(common::concat(&song), data, "{what}");
        check_against_oracle(&song, &data, &what);
        check_against_ffprobe(&song, &data, &what);
    }
}
