//! A short run of every mode of the real binary against an in-process server on the bundled music:
//! a smoke test that the load generator speaks the protocol and reports errors, not a benchmark. The
//! one timing it asserts is that eight real-time players on loopback have no underrun, which leaves
//! a margin of seconds.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use jukebox_server::{Config, Server, Store};
use serde_json::Value;

/// Starts a server on a free loopback port in a runtime of its own; it lives as long as the test.
fn start_server() -> SocketAddr {
    let music = Path::new(env!("CARGO_MANIFEST_DIR")).join("../music");
    let loaded = jukebox_segmenter::load_dir(&music, jukebox_segmenter::DEFAULT_SEGMENT_DURATION)
        .expect("bundled music loads");
    assert!(!loaded.songs.is_empty());
    let store = Arc::new(Store::new(loaded.songs));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let config = Config {
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                ..Config::default()
            };
            let server = Server::bind(config, store).await.expect("bind");
            tx.send(server.local_addr()).expect("test is waiting");
            server.run().await;
        });
    });
    rx.recv().expect("server started")
}

/// Runs `jukebox-bench --json ARGS` and returns its exit success and report.
fn bench(addr: SocketAddr, args: &[&str]) -> (bool, Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_jukebox-bench"))
        .arg("--server")
        .arg(addr.to_string())
        .arg("--json")
        .args(args)
        .output()
        .expect("jukebox-bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "not a JSON report ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.success(), report)
}

#[test]
fn realtime_players_get_every_segment_in_time() {
    let addr = start_server();
    let (ok, report) = bench(addr, &["--duration", "2", "realtime", "--clients", "8"]);
    assert!(ok, "{report}");
    assert_eq!(report["clients"], 8, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    assert_eq!(report["underruns"], 0, "{report}");
    // Each player has at least segment 0 and its read-ahead.
    assert!(report["segments"].as_u64().unwrap() >= 8 * 2, "{report}");
}

#[test]
fn throughput_pulls_segments_without_errors() {
    let addr = start_server();
    let (ok, report) = bench(addr, &["--duration", "1", "throughput", "--clients", "4"]);
    assert!(ok, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    assert!(report["segments"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(
        report["latency"]["count"], report["segments"],
        "every segment is timed: {report}"
    );
}

#[test]
fn latency_probes_decode_audio() {
    let addr = start_server();
    let (ok, report) = bench(addr, &["--duration", "1", "latency", "--trials", "10"]);
    assert!(ok, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    assert_eq!(report["play_to_first_audio"]["count"], 10, "{report}");
    assert_eq!(report["switch_to_first_audio"]["count"], 10, "{report}");
    assert!(
        report["list_during_transfer"]["count"].as_u64().unwrap() > 0,
        "{report}"
    );
}

#[test]
fn a_server_that_is_not_there_fails_the_run() {
    // Bind and drop a listener to find a port nobody listens on.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port");
    let output = Command::new(env!("CARGO_BIN_EXE_jukebox-bench"))
        .args([
            "--server",
            &addr.to_string(),
            "--duration",
            "1",
            "throughput",
            "--clients",
            "2",
        ])
        .output()
        .expect("jukebox-bench runs");
    assert!(!output.status.success());
    assert!(!output.stderr.is_empty());
}
