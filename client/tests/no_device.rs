//! With no sound card: `--output default` fails with one line that says what to use instead, and
//! without `--output` the client warns in one line and goes on without sound. On a machine with a
//! sound card there is no missing device to check: the tests say so on stderr (`--nocapture`).

mod common;

use std::process::Output;

use common::run_jukebox;

/// A session that insists on the sound device and ends at once: it succeeds only with a device.
fn with_the_sound_device() -> Output {
    run_jukebox(&["--output", "default"], "quit\n")
}

#[test]
fn a_missing_sound_device_is_one_clear_line() {
    let output = with_the_sound_device();
    if output.status.success() {
        eprintln!("skipped: this machine has a sound device, so --output default opened it");
        return;
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(lines[0].contains("--output wav:PATH"), "{stderr}");
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn without_output_flag_a_missing_device_is_a_warning_and_the_session_goes_on() {
    let output = run_jukebox(&[], "list\nquit\n");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("Small Hours"), "{stdout}");
    // Asked apart, as a sound device's driver may write to stderr what it likes.
    if with_the_sound_device().status.success() {
        eprintln!("skipped the warning check: this machine has a sound device");
        return;
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("warning: "), "{stderr}");
    assert!(lines[0].contains("without sound"), "{stderr}");
}
