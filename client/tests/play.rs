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
    assert!(
        errors[2].starts_with("error: play needs a song ID"),
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
    assert_eq!(
        stdout_lines(&output),
        [
            "playing 3: Small Hours — Jukebox Ensemble (0:12)",
            "stopped 3"
        ]
    );
    let errors = stderr_lines(&output);
    assert_eq!(
        errors[0],
        "error: 4 songs match \"ensemble\"; play one by its ID:"
    );
    assert_eq!(errors[1], "  1  Morning Steps — Jukebox Ensemble (0:28)");
    assert_eq!(errors[4], "  4  Long Road — Jukebox Ensemble (0:44)");
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
    assert_eq!(
        stdout_lines(&output),
        [
            "  2  Blue Tide — Jukebox Ensemble (0:25)",
            "  2  Blue Tide — Jukebox Ensemble (0:25)"
        ]
    );
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
    assert_eq!(
        stdout_lines(&output),
        [
            "playing 3: Small Hours — Jukebox Ensemble (0:12)",
            "finished 3"
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
        ]
    );
    assert_eq!(stderr_lines(&output), ["nothing is playing"]);
    // Song 3 (22.05 kHz mono) came first; song 1 (44.1 kHz stereo) was converted to it.
    let (rate, channels, _) = read_wav(&wav);
    assert_eq!((rate, channels), (22_050, 1));
}
