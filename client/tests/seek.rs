//! Seeking is exact: after `seek`, the client's output equals the reference decode of the whole
//! file from the target sample on, at segment starts, segment ends and mid-segment, for CBR, VBR
//! and MPEG-2 files. The songs are made with sox and lame; the segment boundaries come from the
//! segmenter, as the embedded server cuts them.

mod common;

use std::path::Path;

use common::*;
use jukebox_test_kit::audio::synth_mp3;
use jukebox_test_kit::{decode_file, read_wav};

/// Makes `name.mp3` in `dir`: a tone with a slow tremolo, at `rate`, encoded with `lame_args`.
fn make_mp3(dir: &Path, name: &str, rate: u32, seconds: f32, lame_args: &[&str]) {
    let (rate, seconds) = (rate.to_string(), seconds.to_string());
    let synth = [&*seconds, "sine", "200-3000", "tremolo", "3", "60"];
    let lame_args = [lame_args, &["--tt", name]].concat();
    synth_mp3(dir, name, &["-r", &rate, "-c", "2"], &synth, &lame_args);
}

/// Plays the song from the start, pauses at once, seeks to song sample `target`, resumes and
/// plays to the end; checks that the WAV holds what played before the pause (a prefix of the
/// reference) and then the reference from `target` on, sample for sample.
fn check_seek(music: &Path, id: u64, rate: u32, reference: &[f32], channels: usize, target: u64) {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("out.wav");
    let seconds = format!("{:.6}", target as f64 / f64::from(rate));
    let output = run_jukebox(
        &[
            "--music",
            music.to_str().unwrap(),
            "--output",
            &format!("wav:{}", wav.display()),
        ],
        format!("play {id}\npause\nseek {seconds}\nresume\nwait\n"),
    );
    assert!(output.status.success(), "{output:?}");
    let played = read_wav(&wav).samples;
    let rest = &reference[target as usize * channels..];
    assert!(
        played.len() >= rest.len(),
        "target {target}: {} samples played, {} expected after the seek",
        played.len(),
        rest.len()
    );
    let before = played.len() - rest.len();
    let same = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .position(|(x, y)| x.to_bits() != y.to_bits())
    };
    assert_eq!(
        same(&played[..before], &reference[..before]),
        None,
        "target {target}: what played before the seek"
    );
    assert_eq!(
        same(&played[before..], rest),
        None,
        "target {target}: first difference after the seek"
    );
}

/// Seeks `file` to the start, the end and the middle of its segments, one client per target.
fn seek_case(rate: u32, seconds: f32, lame_args: &[&str]) {
    let music = tempfile::tempdir().unwrap();
    make_mp3(music.path(), "song", rate, seconds, lame_args);
    let path = music.path().join("song.mp3");
    let song = jukebox_segmenter::segment_file(&path, jukebox_segmenter::DEFAULT_SEGMENT_DURATION)
        .expect("the song segments");
    let manifest = song.manifest;
    assert!(
        manifest.segments.len() >= 3,
        "{} segments",
        manifest.segments.len()
    );
    let reference = decode_file(&path);
    assert_eq!(reference.sample_rate, rate);
    let channels = usize::from(reference.channels);
    let reference = reference.samples;
    let length = (reference.len() / channels) as u64;
    // Song samples where each segment starts: raw samples less the delay symphonia trims.
    let delay = u64::from(manifest.encoder_delay) + 529;
    let mut starts = Vec::new();
    let mut raw = 0u64;
    for segment in &manifest.segments {
        starts.push(raw.saturating_sub(delay));
        raw += segment.samples;
    }
    let mut targets = vec![0, 1, 700];
    for &start in &starts[1..] {
        // The first sample of a segment, the last of the one before, and the middle of it.
        targets.extend([start, start - 1, start + 1]);
    }
    let middle = (starts[1] + starts[2]) / 2;
    targets.extend([middle, length - 1]);
    let id = manifest.id;
    let music = music.path().to_path_buf();
    let reference = std::sync::Arc::new(reference);
    let runs: Vec<_> = targets
        .into_iter()
        .map(|target| {
            let (music, reference) = (music.clone(), reference.clone());
            std::thread::spawn(move || check_seek(&music, id, rate, &reference, channels, target))
        })
        .collect();
    for run in runs {
        run.join().expect("the seek is exact");
    }
}

#[test]
fn seeks_are_exact_in_a_cbr_file() {
    seek_case(44_100, 5.0, &["-b", "128"]);
}

#[test]
fn seeks_are_exact_in_a_vbr_file() {
    seek_case(44_100, 5.0, &["-V", "6"]);
}

#[test]
fn seeks_are_exact_in_a_low_bitrate_mpeg2_file() {
    seek_case(22_050, 5.0, &["-b", "16", "--resample", "22.05"]);
}

#[test]
fn seek_commands_say_where_they_went_or_why_not() {
    let music = tempfile::tempdir().unwrap();
    make_mp3(music.path(), "song", 44_100, 3.0, &["-b", "128"]);
    let output = run_jukebox(
        &[
            "--music",
            music.path().to_str().unwrap(),
            "--output",
            "null",
        ],
        "seek 1\nplay song\npause\nseek 50%\nseek -10\nseek +1\nseek 1:00\nseek 0:02\nstop\n",
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let out = stdout_lines(&output);
    let moved: Vec<&String> = out.iter().filter(|l| l.starts_with("moved ")).collect();
    let to: Vec<&str> = moved
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap())
        .collect();
    assert_eq!(to, ["0:01", "0:00", "0:01", "0:02"], "{out:?}");
    let errors = stderr_lines(&output);
    assert_eq!(errors[0], "nothing is playing");
    assert!(
        errors[1].starts_with("error: the song is only 0:0"),
        "{errors:?}"
    );
}
