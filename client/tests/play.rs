//! The `jukebox` binary against its embedded server on the bundled songs, audio to a WAV file.

mod common;

use common::*;
use jukebox_test_kit::{decode_file, music_dir, read_wav};

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
    assert!(read_wav(&wav).samples.is_empty());
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
    let played = read_wav(&wav);
    let decoded = decode_file(&music_dir().join("03-small-hours.mp3"));
    assert_eq!(
        (played.sample_rate, played.channels),
        (decoded.sample_rate, decoded.channels)
    );
    assert_eq!(played.samples.len(), decoded.samples.len());
    let first_difference = played
        .samples
        .iter()
        .zip(&decoded.samples)
        .position(|(a, b)| a.to_bits() != b.to_bits());
    assert_eq!(first_difference, None);
}

#[test]
fn errors_go_to_stderr_the_session_goes_on_and_the_exit_status_says_it() {
    let output = run_jukebox(
        &["--output", "null"],
        "play 42\nfrobnicate\nplay\nlist\nquit\nlist\n",
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let errors = stderr_lines(&output);
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert_eq!(errors[0], "error: unknown song 42");
    assert!(
        errors[1].starts_with("error: unknown command"),
        "{errors:?}"
    );
    // `play` alone starts the queue, which is empty.
    assert!(
        errors[2].starts_with("error: the queue is empty"),
        "{errors:?}"
    );
    // The list after the errors is answered; the one after quit is not.
    assert_eq!(stdout_lines(&output).len(), 4, "{output:?}");
}

#[test]
fn a_line_that_is_not_utf8_is_an_error_and_the_session_goes_on() {
    let output = run_jukebox(&["--output", "null"], b"play \xff\nlist\n");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let errors = stderr_lines(&output);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("error: nothing to search for"),
        "{errors:?}"
    );
    assert_eq!(stdout_lines(&output).len(), 4, "{output:?}");
}

#[test]
fn play_takes_words_that_match_one_song_and_lists_the_choices_otherwise() {
    let output = run_jukebox(
        &["--output", "null"],
        "play small hours\nstop\nplay ensemble\nplay nothing like it\n",
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let small = bundled_id("03-small-hours.mp3");
    assert_eq!(
        stdout_lines(&output),
        [
            format!("playing {small}: Small Hours — Jukebox Ensemble (0:12)"),
            format!("stopped {small}")
        ]
    );
    let errors = stderr_lines(&output);
    assert_eq!(
        errors[0],
        "error: 4 songs match \"ensemble\"; play one by its ID:"
    );
    // The choices come in the server's order: artist, album, title.
    assert_eq!(
        errors[1],
        format!("{small}  Small Hours — Jukebox Ensemble (0:12)")
    );
    assert_eq!(
        errors[4],
        format!(
            "{}  Morning Steps — Jukebox Ensemble (0:28)",
            bundled_id("01-morning-steps.mp3")
        )
    );
    assert_eq!(errors[5], "error: no song matches \"nothing like it\"");
    assert_eq!(errors.len(), 6, "{errors:?}");
}

#[test]
fn search_lists_the_matching_songs() {
    let output = run_jukebox(
        &["--output", "null"],
        "search TIDE\nfind blue --all\nsearch zebra\n",
    );
    assert!(output.status.success(), "{output:?}");
    let blue = format!(
        "{}  Blue Tide — Jukebox Ensemble (0:25)",
        bundled_id("02-blue-tide.mp3")
    );
    assert_eq!(stdout_lines(&output), [blue.clone(), blue]);
    // Finding nothing is an answer, not a failure; it is said on stderr.
    assert_eq!(stderr_lines(&output), ["no song matches \"zebra\""]);
}

#[test]
fn one_shot_commands_run_and_exit() {
    let dir = tempfile::tempdir().unwrap();
    let wav = format!("wav:{}", dir.path().join("out.wav").display());
    let output = run_jukebox(&["list"], "");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(stdout_lines(&output).len(), 4, "{output:?}");
    let output = run_jukebox(&["play", "small", "hours", "--output", &wav], "");
    assert!(output.status.success(), "{output:?}");
    let small = bundled_id("03-small-hours.mp3");
    assert_eq!(
        stdout_lines(&output),
        [
            format!("playing {small}: Small Hours — Jukebox Ensemble (0:12)"),
            format!("finished {small}")
        ]
    );
    let output = run_jukebox(&["play", "42", "--output", "null"], "");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(stderr_lines(&output), ["error: unknown song 42"]);
    // A wrong command line is a usage error.
    let output = run_jukebox(&["play"], "");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let output = run_jukebox(&["--timeout", "soon"], "");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
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
        ]
    );
    assert_eq!(stderr_lines(&output), ["nothing is playing"]);
    // Song 3 (22.05 kHz mono) came first; song 1 (44.1 kHz stereo) was converted to it.
    let played = read_wav(&wav);
    assert_eq!((played.sample_rate, played.channels), (22_050, 1));
}
