//! Replicas behind HAProxy (`deploy/haproxy/haproxy.cfg`): a real client plays through the
//! balancer while the replica holding its connection goes away, and what it plays is exactly the
//! reference decode, without the fetcher ever running late (a gap a listener would hear); and
//! jukebox-bench's real-time players carry on the same way through a drain and a kill.
#![cfg(unix)]

use std::time::{Duration, Instant};

use jukebox_e2e::haproxy::{Haproxy, Replica};
use jukebox_e2e::process::binary;
use jukebox_e2e::{decode_file, make_song, read_wav, wait_for_audio, ClientProcess, ServerProcess};
use jukebox_test_kit::process::{Killed, Lines};

/// The replica that holds the one client connection, by its index in the server lines.
fn holding(replicas: &[Replica]) -> Option<usize> {
    let held: Vec<usize> = (0..replicas.len())
        .filter(|&i| replicas[i].sessions > 0)
        .collect();
    match held.as_slice() {
        [one] if replicas[*one].sessions == 1 => Some(*one),
        _ => None,
    }
}

/// Plays a 24-second song through HAProxy and three replicas; `move_away` is called with the
/// replica that holds the client's connection once audio flows, and must make it go away. Checks
/// that another replica takes the client over and that the song plays to its end, sample for
/// sample, without a late segment.
fn play_through_haproxy(move_away: impl Fn(&mut ServerProcess, &Haproxy)) {
    let music = tempfile::tempdir().unwrap();
    make_song(music.path(), "long", "Long", 24.0, 330, &["-b", "128"]);
    // HAProxy sends each replica the client's address in a PROXY v2 header, checks included.
    let mut replicas: Vec<ServerProcess> = (0..3)
        .map(|_| ServerProcess::start_with(music.path(), &["--proxy-protocol"]))
        .collect();
    let addrs = [replicas[0].addr, replicas[1].addr, replicas[2].addr];
    let haproxy = Haproxy::start(addrs, true);

    let scratch = tempfile::tempdir().unwrap();
    let wav = scratch.path().join("out.wav");
    let mut client = ClientProcess::start(haproxy.addr, &wav);
    client.send("list");
    let line = client.expect_prefix("");
    let id: u64 = line.split_whitespace().next().unwrap().parse().unwrap();
    client.send(&format!("play {id}"));
    client.expect_prefix("playing ");
    wait_for_audio(&wav);
    let replicas_now =
        haproxy.wait_until("one replica holding the client", |r| holding(r).is_some());
    let first = holding(&replicas_now).unwrap();
    move_away(&mut replicas[first], &haproxy);
    let moved = haproxy.wait_until("another replica holding the client", |r| {
        holding(r).is_some_and(|i| i != first)
    });
    assert_ne!(holding(&moved), Some(first));
    client.send("wait");
    client.expect("the song's end", |l| l == format!("finished {id}"));
    client.send("quit");
    let (status, _, stderr) = client.finish();
    assert!(status.success(), "{stderr:?}");
    let late: Vec<&String> = stderr.iter().filter(|l| l.contains("is late")).collect();
    assert!(late.is_empty(), "playback stalled: {late:?}");
    assert!(
        stderr
            .iter()
            .any(|l| l.contains("reconnecting") || l.contains("connecting to")),
        "the client did not move: {stderr:?}"
    );
    let played = read_wav(&wav);
    let reference = decode_file(&music.path().join("long.mp3"));
    assert_eq!(
        (played.sample_rate, played.channels),
        (reference.sample_rate, reference.channels)
    );
    assert_eq!(played.samples.len(), reference.samples.len());
    assert!(played.samples == reference.samples, "the samples differ");
}

#[test]
fn a_client_plays_on_when_its_replica_is_killed() {
    play_through_haproxy(|replica, _| {
        replica.signal(libc::SIGKILL);
        replica.wait_exit();
    });
}

#[test]
fn a_client_plays_on_when_its_replica_drains() {
    play_through_haproxy(|replica, _| {
        replica.signal(libc::SIGTERM);
        // The client moves at once, so the replica exits long before its drain time (10 s).
        let asked = Instant::now();
        assert!(replica.wait_exit().success());
        assert!(
            asked.elapsed() < Duration::from_secs(8),
            "{:?}",
            asked.elapsed()
        );
        // Read to the end of its log, not only what the reader has seen when the process exits.
        replica.wait_for_line(&["every client has moved"]);
    });
}

/// Client connections HAProxy holds to the replicas, in all.
fn sessions(replicas: &[Replica]) -> u64 {
    replicas.iter().map(|r| r.sessions).sum()
}

/// The replica (index) holding the most client connections.
fn busiest(replicas: &[Replica]) -> usize {
    (0..replicas.len())
        .max_by_key(|&i| replicas[i].sessions)
        .expect("three replicas")
}

#[test]
fn bench_players_carry_on_through_a_drain_and_a_kill() {
    const PLAYERS: u64 = 12;
    let music = tempfile::tempdir().unwrap();
    make_song(music.path(), "long", "Long", 24.0, 330, &["-b", "128"]);
    let mut replicas: Vec<ServerProcess> = (0..3)
        .map(|_| ServerProcess::start_with(music.path(), &["--proxy-protocol"]))
        .collect();
    let haproxy = Haproxy::start([replicas[0].addr, replicas[1].addr, replicas[2].addr], true);
    // Long enough for both events on a slow machine; checked below.
    let mut bench = Killed::spawn(
        std::process::Command::new(binary("jukebox-bench"))
            .args([
                "--server",
                &haproxy.addr.to_string(),
                "--duration",
                "20",
                "--json",
            ])
            .args(["realtime", "--clients", &PLAYERS.to_string()])
            .args(["--source", "127.0.0.2", "--sources", "3"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped()),
    );
    let report = Lines::read(bench.stdout.take().unwrap());
    let errors = Lines::read(bench.stderr.take().unwrap());

    // The players are all connected; the replica holding the most drains.
    let now = haproxy.wait_until("every player connected", |r| sessions(r) == PLAYERS);
    let drained = busiest(&now);
    let moved = now[drained].sessions;
    replicas[drained].signal(libc::SIGTERM);
    assert!(replicas[drained].wait_exit().success());
    let now = haproxy.wait_until("every player on the other replicas", |r| {
        sessions(r) == PLAYERS && r[drained].sessions == 0
    });
    // Then the busiest of the others is killed.
    let killed = busiest(&now);
    let lost = now[killed].sessions;
    assert!(killed != drained && lost > 0, "{now:?}");
    replicas[killed].signal(libc::SIGKILL);
    replicas[killed].wait_exit();
    haproxy.wait_until("every player on the last replica", |r| {
        sessions(r) == PLAYERS && r[killed].sessions == 0
    });
    assert!(
        bench.try_wait().unwrap().is_none(),
        "the run ended before the players had moved: the machine is too slow for this test"
    );

    let status = bench.wait();
    report.wait_end();
    errors.wait_end();
    let (report, errors) = (report.all().join("\n"), errors.all().join("\n"));
    let report: serde_json::Value = serde_json::from_str(report.trim())
        .unwrap_or_else(|e| panic!("not a report ({e}): {report:?}; stderr: {errors}"));
    assert!(status.success(), "{report}; stderr: {errors}");
    assert_eq!(report["clients"], PLAYERS, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    assert_eq!(report["underruns"], 0, "{report}");
    let moves = &report["moves"];
    assert!(moves["goaways"].as_u64() >= Some(moved), "{report}");
    assert!(moves["lost"].as_u64() >= Some(lost), "{report}");
    assert!(
        moves["reconnects"].as_u64() >= Some(moved + lost),
        "{report}"
    );
    // No underrun: whoever resumed mid-song did so with audio still buffered.
    if moves["resumed"].as_u64() > Some(0) {
        assert!(
            moves["least_buffered_on_resume_s"].as_f64() > Some(0.0),
            "{report}"
        );
    }
}
