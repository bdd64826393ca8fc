//! The `jukebox-server` binary, run as a process on the bundled music.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{sha256, Client};
use jukebox_protocol::{Manifest, Message, Page};

fn music_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../music")
}

/// A running server process, killed when dropped.
struct Running {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary on a free port and waits for its `listening on` line.
fn spawn_server(music: &Path) -> Running {
    spawn_server_limited(music, "").0
}

/// [`spawn_server`] under `ulimit -n` options (for example "-Sn 1024"; none if empty); also
/// returns what it logged before listening.
fn spawn_server_limited(music: &Path, ulimit: &str) -> (Running, Vec<String>) {
    let mut command = if ulimit.is_empty() {
        Command::new(env!("CARGO_BIN_EXE_jukebox-server"))
    } else {
        let mut shell = Command::new("bash");
        shell.args([
            "-c",
            &format!("ulimit {ulimit} && exec \"$0\" \"$@\""),
            env!("CARGO_BIN_EXE_jukebox-server"),
        ]);
        shell
    };
    let mut child = command
        .arg("--music")
        .arg(music)
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let addr = loop {
        let Some(line) = lines.next() else {
            let _ = child.kill();
            panic!("server exited before listening: {seen:?}");
        };
        let line = line.unwrap();
        if let Some((_, addr)) = line.split_once("listening on ") {
            break addr.trim().parse().unwrap();
        }
        seen.push(line);
    };
    // Keep reading the log so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (Running { child, addr }, seen)
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
    let ids: Vec<u64> = catalog.songs.iter().map(|s| s.id).collect();
    assert_eq!(ids, [1, 2, 3, 4]);

    // Every segment of the first song matches its manifest's hash.
    client.send(2, Message::GetManifest { song: 1 }).await;
    let Message::Manifest(json) = client.recv().await.unwrap().message else {
        panic!("expected MANIFEST");
    };
    let manifest = Manifest::from_json(&json).unwrap();
    assert_eq!(manifest.segments.len() as u32, catalog.songs[0].segments);
    let mut id = 2;
    for info in &manifest.segments {
        id += 1;
        let bytes = client.fetch(id, 1, info.index).await;
        assert_eq!(sha256(&bytes), info.sha256);
    }
}

#[test]
fn unreadable_folder_is_a_one_line_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_jukebox-server"))
        .args([
            "--music",
            "/nonexistent/jukebox/music",
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot read music folder /nonexistent/jukebox/music"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn address_in_use_is_a_one_line_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let empty = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_jukebox-server"))
        .arg("--music")
        .arg(empty.path())
        .args(["--listen", &addr])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
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
    let mut child = Command::new(env!("CARGO_BIN_EXE_jukebox-server"))
        .arg("--music")
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        let done = line.contains("listening on ");
        seen.push(line);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let log = seen.join("\n");
    assert!(
        seen.iter()
            .any(|l| l.contains("WARN") && l.contains("broken.mp3")),
        "{log}"
    );
    assert!(seen.iter().any(|l| l.contains("loaded 1 songs")), "{log}");
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
    let (_server, log) = spawn_server_limited(&music_dir(), "-Sn 1024");
    let needed =
        jukebox_server::descriptors_needed(jukebox_server::Config::default().max_connections);
    let raised = format!(
        "file descriptor limit raised from 1024 to {}",
        needed.min(hard.rlim_max)
    );
    assert!(log.iter().any(|l| l.contains(&raised)), "{log:?}");
}

#[tokio::test]
async fn a_descriptor_limit_that_cannot_be_raised_lowers_the_connection_limit() {
    // Soft and hard limit: the server cannot raise it, and serves what fits.
    let (server, log) = spawn_server_limited(&music_dir(), "-n 500");
    let fits = jukebox_server::connections_within(500);
    assert!(fits > 0);
    let warned = format!("serving at most {fits} connections");
    assert!(
        log.iter()
            .any(|l| l.contains("WARN") && l.contains(&warned)),
        "{log:?}"
    );
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
