//! The `jukebox` binary against its embedded server on the bundled songs, audio to a WAV file.

mod common;

use common::*;

#[test]
fn list_shows_every_bundled_song() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("out.wav");
    let output = run_jukebox(&["--output", &format!("wav:{}", wav.display())], "list\n");
    assert!(output.status.success(), "{output:?}");
    let lines = stdout_lines(&output);
    assert_eq!(
        lines,
        [
            "  1  Morning Steps — Jukebox Ensemble (0:28)",
            "  2  Blue Tide — Jukebox Ensemble (0:25)",
            "  3  Small Hours — Jukebox Ensemble (0:12)",
            "  4  Long Road — Jukebox Ensemble (0:44)",
        ]
    );
    // No song played: still a valid, empty WAV file.
    let (_, _, samples) = read_wav(&wav);
    assert!(samples.is_empty());
}

#[test]
fn a_played_song_is_written_sample_for_sample_as_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("out.wav");
    let output = run_jukebox(
        &["--output", &format!("wav:{}", wav.display())],
        "play 3\nwait\n",
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        stdout_lines(&output),
        [
            "playing 3: Small Hours — Jukebox Ensemble (0:12)",
            "finished 3"
        ]
    );
    let (rate, channels, played) = read_wav(&wav);
    let (want_rate, want_channels, decoded) = decode_file(&music_dir().join("03-small-hours.mp3"));
    assert_eq!((rate, channels), (want_rate, want_channels));
    assert_eq!(played.len(), decoded.len());
    let first_difference = played
        .iter()
        .zip(&decoded)
        .position(|(a, b)| a.to_bits() != b.to_bits());
    assert_eq!(first_difference, None);
}

#[test]
fn errors_are_reported_and_the_session_goes_on() {
    let output = run_jukebox(
        &["--output", "null"],
        "play 42\nfrobnicate\nplay\nlist\nquit\nlist\n",
    );
    assert!(output.status.success(), "{output:?}");
    let lines = stdout_lines(&output);
    assert_eq!(lines[0], "error: unknown song 42");
    assert!(lines[1].starts_with("error: unknown command"), "{lines:?}");
    assert!(
        lines[2].starts_with("error: play needs a song number"),
        "{lines:?}"
    );
    // The list after the errors is answered; the one after quit is not.
    assert_eq!(lines.len(), 3 + 4, "{lines:?}");
}

#[test]
fn a_line_that_is_not_utf8_is_an_error_and_the_session_goes_on() {
    let output = run_jukebox(&["--output", "null"], b"play \xff\nlist\n");
    assert!(output.status.success(), "{output:?}");
    let lines = stdout_lines(&output);
    assert!(
        lines[0].starts_with("error: not a song number"),
        "{lines:?}"
    );
    assert_eq!(lines.len(), 1 + 4, "{lines:?}");
}

#[test]
fn switching_and_stopping_print_one_line_each_and_the_wav_keeps_the_first_format() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("out.wav");
    let output = run_jukebox(
        &["--output", &format!("wav:{}", wav.display())],
        "wait\nplay 3\nplay 1\nstop\nstop\n",
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        stdout_lines(&output),
        [
            "playing 3: Small Hours — Jukebox Ensemble (0:12)",
            "stopped 3",
            "playing 1: Morning Steps — Jukebox Ensemble (0:28)",
            "stopped 1",
            "stopped",
        ]
    );
    // Song 3 (22.05 kHz mono) came first; song 1 (44.1 kHz stereo) was converted to it.
    let (rate, channels, _) = read_wav(&wav);
    assert_eq!((rate, channels), (22_050, 1));
}
