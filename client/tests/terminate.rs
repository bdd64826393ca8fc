//! SIGTERM and SIGINT end the client like `quit`: playback stops, the WAV file is completed, and
//! the exit status is the one shells give for the signal (143, 130).

#![cfg(unix)]

mod common;

use std::io::Write;
use std::process::Stdio;

use common::*;
use jukebox_test_kit::process::{command, signal, Killed, Lines};
use jukebox_test_kit::wire::{listen, Peer};
use jukebox_test_kit::{decode_file, music_dir, read_wav, within};

#[test]
fn sigterm_stops_playback_and_completes_the_wav() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("out.wav");
    let mut child = Killed::spawn(
        command(env!("CARGO_BIN_EXE_jukebox"))
            .args(["--output", &format!("wav:{}", wav.display())])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    // Stdin stays open: only the signal can end the session.
    let mut stdin = child.stdin.take().unwrap();
    let id = bundled_id("03-small-hours.mp3");
    stdin.write_all(format!("play {id}\n").as_bytes()).unwrap();
    let stdout = Lines::read(child.stdout.take().unwrap());
    let line = stdout.next().expect("a line from jukebox");
    assert_eq!(
        line,
        format!("playing {id}: Small Hours — Jukebox Ensemble (0:12)")
    );
    signal(child.id(), libc::SIGTERM);
    let status = child.wait();
    assert_eq!(status.code(), Some(143), "{status:?}");
    let line = stdout.next().expect("a line from jukebox");
    assert_eq!(line, format!("stopped {id}"));
    let played = read_wav(&wav);
    assert_eq!((played.sample_rate, played.channels), (22_050, 1));
    let samples = played.samples;
    // Stopped early: at most the whole song, and a prefix of it.
    let decoded = decode_file(&music_dir().join("03-small-hours.mp3")).samples;
    assert!(samples.len() < decoded.len());
    assert_eq!(samples[..], decoded[..samples.len()]);
    drop(stdin);
}

#[tokio::test]
async fn sigint_ends_a_command_waiting_for_a_silent_server() {
    let (listener, addr) = listen().await;
    let (got_list, list_seen) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(async move {
        let mut peer = Peer::accept(&listener).await;
        let list = peer.recv().await.unwrap();
        assert_eq!(list.message, jukebox_protocol::Message::list_all());
        got_list.send(()).unwrap();
        // Never answers; returns when the client has gone.
        while peer.recv().await.is_some() {}
    });
    let mut child = Killed::spawn(
        command(env!("CARGO_BIN_EXE_jukebox"))
            .args(["--server", &addr, "--output", "null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"list\n").unwrap();
    within(list_seen).await.unwrap();
    signal(child.id(), libc::SIGINT);
    // A client stuck in the command would never exit. The wait is bounded, and the child is killed
    // if it fails, so the runtime never waits for ever on this blocking task when the test ends.
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("the client exits on SIGINT");
    assert_eq!(status.code(), Some(130), "{status:?}");
    within(server).await.unwrap();
    drop(stdin);
}
