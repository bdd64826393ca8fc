//! SIGTERM ends the client like `quit`: playback stops, the WAV file is completed, exit status 0.

#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use common::*;

#[test]
fn sigterm_stops_playback_and_completes_the_wav() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("out.wav");
    let mut child = Command::new(env!("CARGO_BIN_EXE_jukebox"))
        .args(["--output", &format!("wav:{}", wav.display())])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Stdin stays open: only the signal can end the session.
    let mut stdin = child.stdin.take().unwrap();
    let id = bundled_id("03-small-hours.mp3");
    stdin.write_all(format!("play {id}\n").as_bytes()).unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(
        line.trim_end(),
        format!("playing {id}: Small Hours — Jukebox Ensemble (0:12)")
    );
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: sends a signal to the child this test started and has not yet reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    line.clear();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line.trim_end(), format!("stopped {id}"));
    let (rate, channels, samples) = read_wav(&wav);
    assert_eq!((rate, channels), (22_050, 1));
    // Stopped early: at most the whole song, and a prefix of it.
    let (_, _, decoded) = decode_file(&music_dir().join("03-small-hours.mp3"));
    assert!(samples.len() < decoded.len());
    assert_eq!(samples[..], decoded[..samples.len()]);
    drop(stdin);
}

#[tokio::test]
async fn sigterm_ends_a_command_waiting_for_a_silent_server() {
    let (listener, addr) = fake_server::listen().await;
    let (got_list, list_seen) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(async move {
        let mut peer = fake_server::Peer::accept(&listener).await;
        let list = peer.recv().await.unwrap();
        assert_eq!(list.message, jukebox_protocol::Message::list_all());
        got_list.send(()).unwrap();
        // Never answers; returns when the client has gone.
        while peer.recv().await.is_some() {}
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_jukebox"))
        .args(["--server", &addr, "--output", "null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"list\n").unwrap();
    list_seen.await.unwrap();
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: sends a signal to the child this test started and has not yet reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap());
    // A client stuck in the command would never exit; give it far more than it needs.
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), status)
        .await
        .expect("the client exits on SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
    server.await.unwrap();
    drop(stdin);
}
