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
    // In the server's order: artist, album, title.
    let line = |file: &str, title: &str| format!("{}  {title}", bundled_id(file));
    assert_eq!(
        lines,
        [
            format!(
                "{} — Jukebox Ensemble (0:12)",
                line("03-small-hours.mp3", "Small Hours")
            ),
            format!(
                "{} — Jukebox Ensemble (0:25)",
                line("02-blue-tide.mp3", "Blue Tide")
            ),
            format!(
                "{} — Jukebox Ensemble (0:44)",
                line("04-long-road.mp3", "Long Road")
            ),
            format!(
                "{} — Jukebox Ensemble (0:28)",
                line("01-morning-steps.mp3", "Morning Steps")
            ),
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
    let id = bundled_id("03-small-hours.mp3");
    let output = run_jukebox(
        &["--output", &format!("wav:{}", wav.display())],
        format!("play {id}\nwait\n"),
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        stdout_lines(&output),
        [
            format!("playing {id}: Small Hours — Jukebox Ensemble (0:12)"),
            format!("finished {id}")
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
    let (small, morning) = (
        bundled_id("03-small-hours.mp3"),
        bundled_id("01-morning-steps.mp3"),
    );
    let output = run_jukebox(
        &["--output", &format!("wav:{}", wav.display())],
        format!("wait\nplay {small}\nplay {morning}\nstop\nstop\n"),
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        stdout_lines(&output),
        [
            format!("playing {small}: Small Hours — Jukebox Ensemble (0:12)"),
            format!("stopped {small}"),
            format!("playing {morning}: Morning Steps — Jukebox Ensemble (0:28)"),
            format!("stopped {morning}"),
            "stopped".to_string(),
        ]
    );
    // Song 3 (22.05 kHz mono) came first; song 1 (44.1 kHz stereo) was converted to it.
    let (rate, channels, _) = read_wav(&wav);
    assert_eq!((rate, channels), (22_050, 1));
}
