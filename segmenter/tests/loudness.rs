//! A song's loudness, as its manifest carries it: the bundled songs measure as ffmpeg's EBU R128
//! filter measures them, a 1 kHz sine's loudness is its level (a mono one measured as dual mono,
//! as loud as the same sine on both channels), silence has none, and `load_dir` (what `--music`
//! serves) puts it in every manifest.

mod common;

use std::path::Path;
use std::process::Command;

use bytes::Bytes;
use jukebox_segmenter::mp3::loudness::{measure, Loudness};
use jukebox_segmenter::{load_dir, segment_bytes, segment_file, DEFAULT_SEGMENT_DURATION};
use jukebox_test_kit::music_dir;

/// ffmpeg's integrated loudness and true peak of a file (its summary prints one decimal).
fn ffmpeg_r128(path: &Path) -> (f64, f64) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(path)
        .args(["-af", "ebur128=peak=true:dualmono=true", "-f", "null", "-"])
        .output()
        .expect("run ffmpeg (is it installed?)");
    assert!(out.status.success(), "ffmpeg failed on {}", path.display());
    let text = String::from_utf8_lossy(&out.stderr);
    let value = |name: &str| -> f64 {
        text.lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("ffmpeg printed no {name}: {text}"))
    };
    (value("I:"), value("Peak:"))
}

/// A 1 kHz sine of `amplitude` (or silence), 3 s at 44.1 kHz, on `channels`, encoded by lame.
fn sine(channels: u16, amplitude: f64) -> Bytes {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("sine.wav");
    let spec = hound::WavSpec {
        channels,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&wav, spec).unwrap();
    for n in 0..3 * 44_100 {
        let t = f64::from(n) / 44_100.0;
        let value = amplitude * (std::f64::consts::TAU * 1000.0 * t).sin();
        for _ in 0..channels {
            writer
                .write_sample((value * 32_767.0).round() as i16)
                .unwrap();
        }
    }
    writer.finalize().unwrap();
    let mp3 = dir.path().join("sine.mp3");
    let status = Command::new("lame")
        .args(["--quiet", "-b", "192"])
        .arg(&wav)
        .arg(&mp3)
        .status()
        .expect("run lame (is it installed?)");
    assert!(status.success());
    Bytes::from(std::fs::read(mp3).unwrap())
}

fn measured(data: Bytes) -> Option<Loudness> {
    let song = segment_bytes("t", data, DEFAULT_SEGMENT_DURATION).unwrap();
    measure(&song.segments)
}

#[test]
fn bundled_songs_measure_as_ffmpeg_measures_them() {
    let mut seen = 0;
    for entry in std::fs::read_dir(music_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "mp3") {
            continue;
        }
        seen += 1;
        let song = segment_file(&path, DEFAULT_SEGMENT_DURATION).unwrap();
        let ours = measure(&song.segments).expect("a loudness");
        let (integrated, peak) = ffmpeg_r128(&path);
        let what = path.display();
        assert!(
            (ours.integrated_lufs - integrated).abs() <= 0.1,
            "{what}: {ours:?}, ffmpeg {integrated} LUFS"
        );
        assert!(
            (ours.true_peak_dbtp - peak).abs() <= 0.15,
            "{what}: {ours:?}, ffmpeg {peak} dBTP"
        );
        // Hundredths: loudness rounded, the peak rounded up.
        for value in [ours.integrated_lufs, ours.true_peak_dbtp] {
            assert!(
                ((value * 100.0).round() - value * 100.0).abs() < 1e-6,
                "{value}"
            );
        }
    }
    assert_eq!(seen, 4);
}

#[test]
fn a_sine_is_as_loud_as_its_level_on_one_channel_or_two() {
    // At 1 kHz, where the K-weighting is 0 dB, a sine on two channels is as many LUFS as its
    // level in dBFS, its true peak; and a mono song is measured as played on two (as one channel
    // it would be 3 dB less). lame keeps the level of -20 dBFS within a few tenths of a dB.
    for channels in [1, 2] {
        let loudness = measured(sine(channels, 0.1)).expect("a loudness");
        let what = format!("{channels} channels: {loudness:?}");
        assert!((loudness.integrated_lufs + 20.0).abs() <= 0.5, "{what}");
        assert!(
            (loudness.integrated_lufs - loudness.true_peak_dbtp).abs() <= 0.05,
            "{what}"
        );
    }
}

#[test]
fn silence_has_no_loudness_and_load_dir_measures_every_song() {
    assert_eq!(measured(sine(2, 0.0)), None);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("silence.mp3"), sine(2, 0.0)).unwrap();
    for entry in std::fs::read_dir(music_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "mp3") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let loaded = load_dir(dir.path(), DEFAULT_SEGMENT_DURATION).unwrap();
    assert_eq!(loaded.songs.len(), 5);
    for song in &loaded.songs {
        let m = &song.manifest;
        let expected = measure(&song.segments);
        assert_eq!(song.loudness(), expected, "{}", song.path.display());
        if song.path == Path::new("silence.mp3") {
            assert_eq!((m.loudness_lufs, m.true_peak_dbtp), (None, None));
            assert!(!String::from_utf8(m.to_json()).unwrap().contains("loudness"));
        } else {
            assert!(m.loudness_lufs.is_some() && m.true_peak_dbtp.is_some());
        }
    }
}
