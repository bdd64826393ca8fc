//! The `jukebox-server` binary, run as a process on the bundled music.

mod common;

use std::path::Path;

use common::process::{output_within, server_command, start, start_limited};
use jukebox_protocol::{Manifest, Message, Page};
use jukebox_test_kit::music_dir;
use jukebox_test_kit::process::ServerProcess;
use jukebox_test_kit::sha256;
use jukebox_test_kit::wire::Client;

/// Starts the binary on `music` at a free port and waits for its `listening on` line.
fn spawn_server(music: &Path) -> ServerProcess {
    start(&["--music".as_ref(), music.as_os_str()])
}

#[tokio::test]
async fn serves_the_bundled_music() {
    let server = spawn_server(&music_dir());
    let mut client = Client::open(server.addr).await;
    client.send(1, Message::list_all()).await;
    let Message::Page(json) = client.recv().await.unwrap().message else {
        panic!("expected PAGE");
    };
    let catalog = Page::from_json(&json).unwrap();
    assert_eq!(catalog.songs.len(), 4);
    // Each song's ID is that of its audio.
    let mut ids: Vec<u64> = catalog.songs.iter().map(|s| s.id).collect();
    ids.sort();
    let loaded =
        jukebox_segmenter::load_dir(&music_dir(), jukebox_segmenter::DEFAULT_SEGMENT_DURATION)
            .unwrap();
    let mut expected: Vec<u64> = loaded.songs.iter().map(|s| s.manifest.id).collect();
    expected.sort();
    assert_eq!(ids, expected);

    // Every segment of the first song matches its manifest's hash.
    let first = catalog.songs[0].id;
    client.send(2, Message::GetManifest { song: first }).await;
    let Message::Manifest(json) = client.recv().await.unwrap().message else {
        panic!("expected MANIFEST");
    };
    let manifest = Manifest::from_json(&json).unwrap();
    assert_eq!(manifest.segments.len() as u32, catalog.songs[0].segments);
    let mut id = 2;
    for info in &manifest.segments {
        id += 1;
        let bytes = client.fetch(id, first, info.index).await;
        assert_eq!(sha256(&bytes), info.sha256);
    }
}

#[test]
fn unreadable_folder_is_a_one_line_error() {
    let output = output_within(server_command().args([
        "--music",
        "/nonexistent/jukebox/music",
        "--listen",
        "127.0.0.1:0",
    ]));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot read music folder /nonexistent/jukebox/music"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn address_in_use_fails_before_any_song_is_loaded() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = output_within(
        server_command()
            .arg("--music")
            .arg(music_dir())
            .args(["--listen", &addr])
            .env("RUST_LOG", "info"),
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.lines().last().unwrap_or_default(),
        format!("jukebox-server: cannot listen on {addr}: Address already in use (os error 98)"),
        "{stderr}"
    );
    // Nothing was loaded: the port is bound first, and a large folder does not delay the error.
    assert!(!stderr.contains("loaded"), "{stderr}");
}

#[test]
fn an_empty_folder_is_served_with_a_warning() {
    let empty = tempfile::tempdir().unwrap();
    std::fs::write(empty.path().join("notes.txt"), b"no songs here").unwrap();
    let server = spawn_server(empty.path());
    let log = server.log();
    let warning = format!("no song to serve in {}", empty.path().display());
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains(&warning)),
        "{log}"
    );
    assert!(log.contains("loaded 0 songs ("), "{log}");
}

#[test]
fn completions_and_the_man_page_come_from_the_flags() {
    for (shell, marker) in [
        ("bash", "-o default jukebox-server"),
        ("zsh", "#compdef jukebox-server"),
        ("fish", "complete -c jukebox-server"),
    ] {
        let output = output_within(server_command().args(["--completions", shell]));
        assert!(output.status.success(), "{shell}: {output:?}");
        let script = String::from_utf8(output.stdout).unwrap();
        assert!(script.contains(marker), "{shell}: {script}");
        for flag in ["catalog", "listen", "max-connections"] {
            assert!(script.contains(flag), "{shell} completes --{flag}");
        }
    }
    let man = output_within(server_command().arg("--man"));
    assert!(man.status.success(), "{man:?}");
    let man = String::from_utf8(man.stdout).unwrap();
    assert!(man.contains(".TH jukebox-server 1"), "{man}");
    for text in [
        "\\-\\-music",
        "\\-\\-catalog",
        "\\-\\-listen",
        "RUST_LOG",
        "Exit status",
    ] {
        assert!(man.contains(text), "the man page lacks {text:?}");
    }
    // They need no songs, and take no other flag.
    let both = output_within(server_command().args(["--man", "--music", "m"]));
    assert_eq!(both.status.code(), Some(2));
    let none = output_within(&mut server_command());
    assert_eq!(none.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&none.stderr);
    assert!(stderr.contains("--music <DIR>|--catalog <DIR>"), "{stderr}");
}

#[test]
fn files_that_are_not_mp3_are_skipped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.mp3"), b"this is not audio").unwrap();
    std::fs::copy(
        music_dir().join("01-morning-steps.mp3"),
        dir.path().join("good.mp3"),
    )
    .unwrap();
    // The songs are loaded, and the log says so, before the server listens.
    let log = spawn_server(dir.path()).log();
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("broken.mp3")),
        "{log}"
    );
    assert!(log.lines().any(|l| l.contains("loaded 1 song (")), "{log}");
}

#[test]
fn the_descriptor_limit_is_raised_to_what_the_connections_need() {
    let mut hard = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit through the pointer.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut hard) },
        0
    );
    if hard.rlim_max <= 1024 {
        eprintln!(
            "skipped: the hard limit ({}) leaves nothing to raise",
            hard.rlim_max
        );
        return;
    }
    let server = start_limited("-Sn 1024", &["--music".as_ref(), music_dir().as_os_str()]);
    let needed =
        jukebox_server::descriptors_needed(jukebox_server::Config::default().max_connections);
    let raised = format!(
        "file descriptor limit raised from 1024 to {}",
        needed.min(hard.rlim_max)
    );
    let log = server.log();
    assert!(log.lines().any(|l| l.contains(&raised)), "{log}");
}

#[tokio::test]
async fn a_descriptor_limit_that_cannot_be_raised_lowers_the_connection_limit() {
    // Soft and hard limit: the server cannot raise it, and serves what fits.
    // No reserve for sources with few connections: every client here comes from one address.
    let server = start_limited(
        "-n 500",
        &[
            "--music".as_ref(),
            music_dir().as_os_str(),
            "--reserve".as_ref(),
            "0".as_ref(),
        ],
    );
    let log = server.log();
    let fits = jukebox_server::connections_within(500);
    assert!(fits > 0);
    let warned = format!("serving at most {fits} connections");
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains(&warned)),
        "{log}"
    );
    assert!(!log.contains("limit raised"), "nothing was raised: {log}");
    // Past that, newcomers get SERVER_BUSY (they would get no answer at all from a server out of
    // descriptors).
    let mut clients = Vec::new();
    for _ in 0..fits {
        clients.push(Client::open(server.addr).await);
    }
    let mut newcomer = Client::connect(server.addr).await;
    assert_eq!(
        newcomer.hello().await,
        Err(jukebox_protocol::ErrorCode::ServerBusy)
    );
}
