//! The binary's own documentation, and its logs: completions and the man page come from the
//! clap definitions; an ordinary stop logs no error.

mod common;

use common::*;
use jukebox_test_kit::process::{command, output_within};

fn jukebox(args: &[&str]) -> std::process::Output {
    output_within(command(env!("CARGO_BIN_EXE_jukebox")).args(args), b"")
}

#[test]
fn the_man_page_and_help_document_the_exit_status() {
    let man = jukebox(&["--man"]);
    assert!(man.status.success(), "{man:?}");
    let man = String::from_utf8(man.stdout).unwrap();
    assert!(
        man.starts_with(".ie") || man.contains(".TH jukebox"),
        "{man}"
    );
    for text in [
        "Exit status",
        "130",
        "JUKEBOX_SERVER",
        "\\-\\-timeout",
        "search",
    ] {
        assert!(man.contains(text), "the man page lacks {text:?}");
    }
    let help = jukebox(&["--help"]);
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(
        help.contains("Exit status") && help.contains("143"),
        "{help}"
    );
}

#[test]
fn completions_are_generated_for_the_usual_shells() {
    for (shell, marker) in [
        ("bash", "complete -F _jukebox"),
        ("zsh", "#compdef jukebox"),
        ("fish", "complete -c jukebox"),
    ] {
        let output = jukebox(&["--completions", shell]);
        assert!(output.status.success(), "{shell}: {output:?}");
        let script = String::from_utf8(output.stdout).unwrap();
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(script.contains("search"), "{shell} completes the commands");
    }
    assert_eq!(jukebox(&["--completions", "tcsh"]).status.code(), Some(2));
}

#[test]
fn an_ordinary_stop_logs_no_error_even_with_rust_log_set() {
    // Each song stopped before its first segment is decoded: the decoder's probe is cut short.
    let output = output_within(
        command(env!("CARGO_BIN_EXE_jukebox"))
            .args(["--output", "null"])
            .env("RUST_LOG", "info"),
        b"play small hours\nstop\nplay morning steps\nplay blue tide\nstop\n",
    );
    assert!(output.status.success(), "{output:?}");
    let stderr = stderr_lines(&output);
    assert!(!stderr.iter().any(|l| l.contains("ERROR")), "{stderr:#?}");
    assert!(
        stderr.iter().any(|l| l.contains("INFO")),
        "RUST_LOG=info is obeyed"
    );
}
