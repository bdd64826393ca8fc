//! A song at another rate than the output's is converted by a real resampler: a 1 kHz sine at
//! 48 kHz, queued after a 44.1 kHz song (which fixes the WAV output's rate), comes out as clean as
//! the mp3 itself is, far below -90 dB THD+N, across all its segments.

mod common;

use std::path::Path;

use common::*;
use jukebox_client::player::resample::thd_n_db;
use jukebox_test_kit::audio::synth_mp3;
use jukebox_test_kit::{decode_file, read_wav};

/// Makes `name.mp3` in `dir`: sox's `synth` at `rate`, mono, 24-bit, encoded with `lame_args`.
fn make_mp3(dir: &Path, name: &str, rate: u32, synth: &[&str], lame_args: &[&str]) {
    let rate = rate.to_string();
    let lame_args = [lame_args, &["--tt", name]].concat();
    synth_mp3(
        dir,
        name,
        &["-r", &rate, "-c", "1", "-b", "24"],
        synth,
        &lame_args,
    );
}

#[test]
fn a_48_khz_sine_played_at_44_1_khz_stays_clean() {
    let music = tempfile::tempdir().unwrap();
    make_mp3(
        music.path(),
        "first",
        44_100,
        &["0.5", "sine", "440"],
        &["-b", "128"],
    );
    make_mp3(
        music.path(),
        "sine",
        48_000,
        &["5", "sine", "1000", "vol", "0.5"],
        &["-b", "320", "-q", "0"],
    );
    let wav = music.path().join("out.wav");
    let output = run_jukebox(
        &[
            "--music",
            music.path().to_str().unwrap(),
            "--output",
            &format!("wav:{}", wav.display()),
        ],
        "add first\nadd sine\nplay\nwait\n",
    );
    assert!(output.status.success(), "{output:?}");
    let played = read_wav(&wav);
    assert_eq!((played.sample_rate, played.channels), (44_100, 1));
    let played = played.samples;
    let first = decode_file(&music.path().join("first.mp3")).samples;
    let source = decode_file(&music.path().join("sine.mp3"));
    assert_eq!(source.sample_rate, 48_000);
    let source = source.samples;
    let converted = &played[first.len()..];
    let want = (source.len() as f64 * 44_100.0 / 48_000.0).round() as usize;
    assert_eq!(converted.len(), want, "the converted song's length");
    // The middle 4 s, away from the fade-in and -out of the encoder and the filter.
    let source_thd_n = thd_n_db(&source[24_000..source.len() - 24_000], 1000.0, 48_000);
    let out_thd_n = thd_n_db(&converted[22_050..converted.len() - 22_050], 1000.0, 44_100);
    eprintln!("THD+N: source decode {source_thd_n:.1} dB, converted {out_thd_n:.1} dB");
    assert!(out_thd_n < -90.0, "{out_thd_n:.1} dB");
    assert!(
        out_thd_n < source_thd_n + 1.0,
        "{out_thd_n:.1} dB against {source_thd_n:.1}"
    );
}
