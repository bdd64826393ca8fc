//! With no sound card, the default output fails with one line that says what to use instead.

mod common;

use common::run_jukebox;

#[test]
fn a_missing_sound_device_is_one_clear_line() {
    let output = run_jukebox(&[], "quit\n");
    if output.status.success() {
        // This machine has a sound device; nothing to check.
        return;
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(lines[0].contains("--output wav:PATH"), "{stderr}");
    assert_eq!(output.status.code(), Some(1));
}
