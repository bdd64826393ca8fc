//! A short run of every mode of the real binary against an in-process server on the bundled music:
//! a smoke test that the load generator speaks the protocol and reports errors, not a benchmark (no
//! timing is asserted: docs/BENCHMARKS.md has the figures, underruns included).

use std::net::SocketAddr;
use std::process::Output;
use std::sync::Arc;

use jukebox_server::{Config, Server, Store};
use jukebox_test_kit::music_dir;
use jukebox_test_kit::process::{command, output_within};
use serde_json::Value;

/// Runs `jukebox-bench ARGS` and returns what it printed once it has exited; fails the test, with
/// what it printed so far, after the kit's patience, so that a hung load generator fails the test
/// instead of hanging it.
fn run_bench(args: &[&str]) -> Output {
    output_within(command(env!("CARGO_BIN_EXE_jukebox-bench")).args(args), b"")
}

/// Starts a server on a free loopback port in a runtime of its own; it lives as long as the test.
fn start_server() -> SocketAddr {
    let loaded =
        jukebox_segmenter::load_dir(&music_dir(), jukebox_segmenter::DEFAULT_SEGMENT_DURATION)
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
    let addr = addr.to_string();
    let output = run_bench(&[&["--server", &addr, "--json"], args].concat());
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
fn realtime_players_fetch_segments_and_count_underruns() {
    let addr = start_server();
    let (ok, report) = bench(addr, &["--duration", "2", "realtime", "--clients", "8"]);
    assert!(ok, "{report}");
    assert_eq!(report["clients"], 8, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    // How many come late depends on how busy the machine is: only that they are counted.
    assert!(report["underruns"].is_u64(), "{report}");
    assert!(report["segments"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(
        report["latency"]["count"], report["segments"],
        "every segment is timed: {report}"
    );
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
    assert_eq!(report["seek_to_first_audio"]["count"], 10, "{report}");
    assert!(
        report["list_during_transfer"]["count"].as_u64().unwrap() > 0,
        "{report}"
    );
}

#[test]
fn a_server_that_is_not_there_fails_the_run() {
    // A port bound but not listening refuses connections, and nobody else can take it meanwhile
    // (a listener bound and dropped frees a port that a concurrent test may be given).
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("a free port");
    let addr = socket.local_addr().expect("its address").to_string();
    let output = run_bench(&[
        "--server",
        &addr,
        "--duration",
        "1",
        "throughput",
        "--clients",
        "2",
    ]);
    drop(socket);
    assert!(!output.status.success());
    assert!(!output.stderr.is_empty());
}
