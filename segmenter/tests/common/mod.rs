//! The segmenter's test helpers: symphonia's demuxer and ffprobe as oracles, and a catalog's
//! index as a listing. Test audio comes from the workspace's test kit.
#![allow(dead_code)] // each test file uses a different part of this

use std::io::Cursor;
use std::path::Path;
use std::process::Command;

use jukebox_segmenter::Song;
use jukebox_test_kit::audio::{mp3_reader, next_packet};

/// What symphonia's mp3 demuxer finds in a file.
pub struct Oracle {
    /// Each packet's bytes: one whole MPEG frame, header included (the Xing/Info frame is skipped).
    pub packets: Vec<Vec<u8>>,
    /// Sum of the packets' durations, in samples per channel.
    pub samples: u64,
    pub sample_rate: u32,
    pub channels: u16,
    /// Encoder delay and padding from the LAME tag, when symphonia read one.
    pub delay: Option<u32>,
    pub padding: Option<u32>,
}

pub fn oracle(data: &[u8]) -> Oracle {
    let mut format = mp3_reader(Box::new(Cursor::new(data.to_vec())), false);
    let params = format
        .default_track()
        .expect("a track")
        .codec_params
        .clone();
    let (mut packets, mut samples) = (Vec::new(), 0);
    while let Some(packet) = next_packet(format.as_mut()) {
        samples += packet.dur;
        packets.push(packet.data.to_vec());
    }
    Oracle {
        packets,
        samples,
        sample_rate: params.sample_rate.expect("sample rate"),
        channels: params.channels.expect("channels").count() as u16,
        delay: params.delay,
        padding: params.padding,
    }
}

/// What `ffprobe -count_packets` finds in a file.
#[derive(Debug, PartialEq, Eq)]
pub struct Probe {
    /// Packets read: audio frames (ffmpeg skips a Xing/Info/VBRI frame too).
    pub packets: u64,
    /// Samples per channel of all packets (the sum of their durations), before gapless trimming.
    pub samples: u64,
    /// The start time in samples: encoder delay plus the decoder's 529, when a LAME tag tells.
    pub start: u64,
}

pub fn ffprobe(data: &[u8]) -> Probe {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("probe.mp3");
    std::fs::write(&path, data).expect("write probe file");
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_packets", "-select_streams", "a:0"])
        .args([
            "-show_entries",
            "stream=nb_read_packets,time_base,start_pts,sample_rate:packet=duration",
        ])
        .args(["-of", "default=noprint_wrappers=1"])
        .arg(&path)
        .output()
        .expect("run ffprobe (is ffmpeg installed?)");
    assert!(
        out.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |name: &str| -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("ffprobe printed no {name}: {text}"))
            .to_owned()
    };
    let number = |name: &str| -> u64 { field(name).parse().unwrap_or(0) };
    let rate = number("sample_rate");
    let (num, den) = field("time_base")
        .split_once('/')
        .map(|(n, d)| (n.parse::<u64>().unwrap(), d.parse::<u64>().unwrap()))
        .expect("time base");
    let to_samples =
        |ts: u64| (u128::from(ts) * u128::from(num) * u128::from(rate) / u128::from(den)) as u64;
    Probe {
        packets: number("nb_read_packets"),
        samples: text
            .lines()
            .filter_map(|l| l.strip_prefix("duration="))
            .map(|d| to_samples(d.parse().expect("packet duration")))
            .sum(),
        start: to_samples(number("start_pts")),
    }
}

/// Checks a song against ffprobe: the same number of frames and of samples, and for a LAME tag
/// the same encoder delay.
pub fn check_against_ffprobe(song: &Song, data: &[u8], what: &str) {
    let probe = ffprobe(data);
    let m = &song.manifest;
    assert_eq!(m.frames, probe.packets, "{what}: ffprobe frame count");
    assert_eq!(m.samples, probe.samples, "{what}: ffprobe samples");
    if m.encoder_delay > 0 {
        assert_eq!(
            u64::from(m.encoder_delay) + 529,
            probe.start,
            "{what}: ffprobe encoder delay"
        );
    }
}

/// The song's segments, concatenated.
pub fn concat(song: &Song) -> Vec<u8> {
    song.segments
        .iter()
        .flat_map(|s| s.iter().copied())
        .collect()
}

/// Whether `frame` is a Xing/Info frame (the tag after the side information; MPEG-1 stereo 32
/// bytes, mono 17, MPEG-2/2.5 stereo 17, mono 9) or a VBRI frame (32 bytes after the header).
pub fn is_info_frame(frame: &[u8]) -> bool {
    let vbri = frame.get(36..40).is_some_and(|id| id == b"VBRI");
    vbri || [17, 32, 9].iter().any(|side| {
        let at = 4 + side;
        frame
            .get(at..at + 4)
            .is_some_and(|id| id == b"Xing" || id == b"Info")
    })
}

/// Checks a song against symphonia: same frames, samples, format; segments = frames byte for byte
/// (plus the info frame symphonia skips, at the start of segment 0).
pub fn check_against_oracle(song: &Song, data: &[u8], what: &str) {
    let mut oracle = oracle(data);
    // symphonia 0.5 takes an Info frame whose frames have a CRC (LAME -p) for audio, as the CRC
    // stands where it expects zeros; ffprobe, mpg123 and the segmenter do not. Compare the rest.
    if oracle.packets.first().is_some_and(|p| is_info_frame(p)) {
        oracle.packets.remove(0);
        let per_frame = if song.manifest.mpeg_version == "1" {
            1152
        } else {
            576
        };
        oracle.samples -= per_frame;
    }
    let m = &song.manifest;
    m.validate().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(m.frames, oracle.packets.len() as u64, "{what}: frame count");
    assert_eq!(m.samples, oracle.samples, "{what}: samples");
    assert_eq!(
        m.duration_ms,
        oracle.samples * 1000 / u64::from(oracle.sample_rate),
        "{what}"
    );
    assert_eq!(m.sample_rate, oracle.sample_rate, "{what}: sample rate");
    assert_eq!(m.channels, oracle.channels, "{what}: channels");
    // symphonia adds the decoder's delay of 529 samples to the encoder's and takes it off the
    // padding; the manifest carries the LAME tag's own figures.
    if let (Some(delay), Some(padding)) = (oracle.delay, oracle.padding) {
        assert_eq!(
            (m.encoder_delay + 529, m.encoder_padding.saturating_sub(529)),
            (delay, padding),
            "{what}: LAME tag delay and padding"
        );
    }
    let audio: Vec<u8> = oracle.packets.concat();
    let ours = concat(song);
    assert!(
        ours.len() >= audio.len(),
        "{what}: segments shorter than the audio"
    );
    let (info, rest) = ours.split_at(ours.len() - audio.len());
    assert!(
        rest == audio.as_slice(),
        "{what}: segments differ from symphonia's frames"
    );
    assert!(
        info.is_empty() || is_info_frame(info),
        "{what}: extra bytes before the first frame"
    );
    assert_eq!(m.segments.len(), song.segments.len(), "{what}");
    for (info, bytes) in m.segments.iter().zip(&song.segments) {
        assert_eq!(info.bytes as usize, bytes.len(), "{what}");
    }
}

/// What a catalog's index lists, songs in the byte order of their source paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub generation: i64,
    pub digest: String,
    pub songs: Vec<Listed>,
}

/// A song of a [`Listing`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub id: u64,
    pub dir: String,
    pub source: String,
    pub source_bytes: Vec<u8>,
    pub manifest: Vec<u8>,
}

impl Listed {
    pub fn source_path(&self) -> std::path::PathBuf {
        std::path::PathBuf::from(&self.source)
    }
}

/// Reads the index of the catalog in `dir`.
pub fn listing(dir: &Path) -> Listing {
    let index = jukebox_segmenter::open_catalog(dir).expect("a catalog");
    let meta = index.meta().unwrap();
    let mut songs: Vec<Listed> = index
        .entries()
        .unwrap()
        .into_iter()
        .map(|e| Listed {
            id: e.id,
            dir: e.dir.clone().unwrap(),
            source: e.source_path().to_string_lossy().into_owned(),
            source_bytes: e.source,
            manifest: e.manifest,
        })
        .collect();
    songs.sort_by(|a, b| a.source_bytes.cmp(&b.source_bytes));
    Listing {
        generation: meta.generation,
        digest: meta.digest,
        songs,
    }
}

/// `data` with one byte of its audio changed by `n`: another song, as far as IDs go.
pub fn audio_changed(data: &[u8], n: u8) -> Vec<u8> {
    let mut changed = data.to_vec();
    let at = changed.len() / 2 + 7;
    changed[at] ^= n;
    changed
}
