//! The player's commands end to end: a real `jukebox-server` and a real `jukebox` driven through
//! stdin, songs made with sox and lame, what is played written to a WAV file and compared sample
//! for sample with symphonia's decode of each file. Queue order with shuffle and repeat, and
//! gapless changes from one song to the next.

use std::path::{Path, PathBuf};

use jukebox_e2e::{decode_file, ids, make_song, read_wav, ClientProcess, Pcm, ServerProcess};
use jukebox_test_kit::audio::make_sweep;

/// The `playing` and `finished` lines, as (word, ID).
fn song_events(stdout: &[String]) -> Vec<(String, u64)> {
    stdout
        .iter()
        .filter_map(|line| {
            let (word, rest) = line.split_once(' ')?;
            if !matches!(word, "playing" | "finished" | "stopped") {
                return None;
            }
            let id = rest.split(':').next()?.trim().parse().ok()?;
            Some((word.to_string(), id))
        })
        .collect()
}

/// Fails with the first sample that differs, if any, and the lengths.
fn assert_same_samples(what: &str, played: &[f32], expected: &[f32]) {
    let first_difference = played
        .iter()
        .zip(expected)
        .position(|(a, b)| a.to_bits() != b.to_bits());
    assert_eq!(
        (first_difference, played.len()),
        (None, expected.len()),
        "{what}: first difference, length (expected {} samples)",
        expected.len()
    );
}

fn concat(parts: &[Pcm]) -> Pcm {
    Pcm {
        sample_rate: parts[0].sample_rate,
        channels: parts[0].channels,
        samples: parts
            .iter()
            .flat_map(|p| p.samples.iter().copied())
            .collect(),
    }
}

fn gapless_case(lame_args: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let music = dir.path().join("music");
    std::fs::create_dir(&music).unwrap();
    let files: Vec<PathBuf> = make_sweep(&music, 4.5, 3, lame_args);
    let server = ServerProcess::start(&music);
    let ids = ids(&server, dir.path());
    let order: Vec<u64> = (1..=3).map(|i| ids[&format!("Sweep {i}")]).collect();
    let wav = dir.path().join("out.wav");
    let mut client = ClientProcess::start(server.addr, &wav);
    for id in &order {
        client.send(&format!("add {id}"));
    }
    client.send("play");
    client.send("wait");
    let (status, stdout, stderr) = client.finish();
    assert!(status.success(), "{stdout:?} {stderr:?}");
    let expected: Vec<(String, u64)> = order
        .iter()
        .flat_map(|&id| [("playing".to_string(), id), ("finished".to_string(), id)])
        .collect();
    assert_eq!(song_events(&stdout), expected, "{stdout:?}");
    let reference = concat(&files.iter().map(|f| decode_file(f)).collect::<Vec<_>>());
    let played = read_wav(&wav);
    assert_eq!(
        (played.sample_rate, played.channels),
        (reference.sample_rate, reference.channels)
    );
    assert_same_samples("the queued sweep", &played.samples, &reference.samples);
    // The file holds what was played; the output also never waited for the next song.
    assert!(
        stderr
            .iter()
            .any(|l| l.ends_with("the output was starved of 0 frames")),
        "{stderr:?}"
    );
}

#[test]
fn a_sweep_cut_in_three_plays_as_one_without_a_gap_cbr() {
    gapless_case(&["-b", "128"]);
}

#[test]
fn a_sweep_cut_in_three_plays_as_one_without_a_gap_vbr() {
    gapless_case(&["-V", "4"]);
}

/// Three songs of 1.5 s, titled Alpha, Bravo and Charlie (listed in that order).
fn three_songs(dir: &Path) -> (ServerProcess, Vec<u64>) {
    let music = dir.join("music");
    std::fs::create_dir(&music).unwrap();
    make_song(&music, "a", "Alpha", 1.5, 440, &["-b", "96"]);
    make_song(&music, "b", "Bravo", 1.5, 660, &["-b", "96"]);
    make_song(&music, "c", "Charlie", 1.5, 550, &["-V", "5"]);
    let server = ServerProcess::start(&music);
    let ids = ids(&server, dir);
    let songs = ["Alpha", "Bravo", "Charlie"].map(|t| ids[t]).to_vec();
    (server, songs)
}

#[test]
fn shuffle_and_repeat_decide_what_plays_next() {
    let dir = tempfile::tempdir().unwrap();
    let (server, songs) = three_songs(dir.path());
    let mut client = ClientProcess::start(server.addr, &dir.path().join("out.wav"));
    client.send("add test band");
    client.expect_prefix("added 3 songs; 3 in the queue");
    client.send("shuffle");
    client.expect_prefix("shuffled the queue (3 songs)");
    client.send("queue");
    // The queue as shown: "  1  ID  Title — Artist (0:01)".
    let mut order = Vec::new();
    for _ in 0..3 {
        let line = client.expect("a queue line", |l| l.contains(" — Test Band"));
        let id: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        order.push(id);
    }
    let mut sorted = order.clone();
    sorted.sort();
    let mut all = songs.clone();
    all.sort();
    assert_eq!(sorted, all, "the shuffled queue holds every song once");
    client.send("repeat all");
    client.expect_prefix("repeat all");
    client.send("play");
    for id in &order {
        client.expect_prefix(&format!("playing {id}:"));
    }
    // After the last song, the first again.
    client.expect_prefix(&format!("playing {}:", order[0]));
    client.send("repeat one");
    client.expect_prefix("repeat one");
    client.expect_prefix(&format!("finished {}", order[0]));
    let again = client.expect_prefix("playing ");
    assert!(
        again.starts_with(&format!("playing {}:", order[0])),
        "{again}"
    );
    client.send("stop");
    client.expect_prefix(&format!("stopped {}", order[0]));
    let (status, stdout, stderr) = client.finish();
    assert!(status.success(), "{stdout:?} {stderr:?}");
    let mut expected = Vec::new();
    for id in order.iter().chain([&order[0], &order[0]]) {
        expected.push(("playing".to_string(), *id));
        expected.push(("finished".to_string(), *id));
    }
    *expected.last_mut().unwrap() = ("stopped".into(), order[0]);
    assert_eq!(song_events(&stdout), expected, "{stdout:?}");
}

#[test]
fn next_prev_remove_and_clear_edit_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let (server, songs) = three_songs(dir.path());
    let [a, b, c] = [songs[0], songs[1], songs[2]];
    let mut client = ClientProcess::start(server.addr, &dir.path().join("out.wav"));
    for line in [
        "add test band",
        "next",
        "next",
        "prev",
        "remove 2",
        "queue",
        "remove 1",
        "clear",
        "queue",
        "next",
        "remove 5",
        "wait",
    ] {
        client.send(line);
    }
    let (status, stdout, stderr) = client.finish();
    // `remove 5` fails: there is no fifth song.
    assert_eq!(status.code(), Some(1), "{stdout:?} {stderr:?}");
    assert_eq!(
        song_events(&stdout),
        [
            ("playing".to_string(), a),
            ("stopped".into(), a),
            ("playing".into(), b),
            ("stopped".into(), b),
            ("playing".into(), a),
            // remove 1: the song playing goes, the one after it plays.
            ("stopped".into(), a),
            ("playing".into(), c),
            ("finished".into(), c),
        ],
        "{stdout:?}"
    );
    let removed = stdout.iter().find(|l| l.starts_with("removed 2:")).unwrap();
    assert!(removed.contains(&b.to_string()), "{removed}");
    let queue: Vec<&String> = stdout
        .iter()
        .filter(|l| (l.starts_with("> ") || l.starts_with("  ")) && l.contains(" — Test Band"))
        .collect();
    assert_eq!(queue.len(), 2, "{stdout:?}");
    assert!(queue[0].starts_with("> 1") && queue[0].contains(&a.to_string()));
    assert!(queue[1].starts_with("  2") && queue[1].contains(&c.to_string()));
    assert!(stdout.contains(&"cleared the queue (1 song)".to_string()));
    assert!(
        stderr.contains(&"the queue is empty".to_string()),
        "{stderr:?}"
    );
    assert!(
        stderr.contains(&"that was the last song in the queue".to_string()),
        "{stderr:?}"
    );
    assert!(
        stderr
            .iter()
            .any(|l| l.starts_with("error: no song 5 in the queue")),
        "{stderr:?}"
    );
}

#[test]
fn a_pause_long_enough_for_the_server_to_hang_up_resumes_at_the_next_sample() {
    let dir = tempfile::tempdir().unwrap();
    let music = dir.path().join("music");
    std::fs::create_dir(&music).unwrap();
    make_song(&music, "a", "Alpha", 5.0, 440, &["-b", "128"]);
    // Longer than the client's pauses between segment requests while it plays (a 2-second
    // segment at a time), shorter than the pause below.
    let server = ServerProcess::start_with(&music, &["--idle-timeout", "3"]);
    let id = ids(&server, dir.path())["Alpha"];
    let wav = dir.path().join("out.wav");
    let mut client = ClientProcess::start(server.addr, &wav);
    client.send(&format!("play {id}"));
    client.expect_prefix(&format!("playing {id}:"));
    client.send("pause");
    client.expect_prefix(&format!("paused {id} at 0:0"));
    // The read-ahead fills and stops; the server closes the idle connection.
    client.expect_stderr("the server closing the idle connection", |l| {
        l.contains("connection closed") && l.contains("IDLE_TIMEOUT")
    });
    client.send("pause");
    client.send("toggle");
    client.expect_prefix(&format!("resumed {id} at 0:0"));
    client.send("wait");
    client.expect_prefix(&format!("finished {id}"));
    let (status, stdout, stderr) = client.finish();
    assert!(status.success(), "{stdout:?} {stderr:?}");
    assert!(stderr.contains(&"already paused".to_string()), "{stderr:?}");
    // Reconnected quietly: nothing but logs on stderr.
    assert!(
        !stderr
            .iter()
            .any(|l| l.starts_with("error") || l.contains(" WARN ") || l.contains(" ERROR ")),
        "{stderr:?}"
    );
    let played = read_wav(&wav);
    let reference = decode_file(&music.join("a.mp3"));
    assert_same_samples("paused and resumed", &played.samples, &reference.samples);
}

#[test]
fn volume_ramps_to_its_perceptual_gain_and_status_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let music = dir.path().join("music");
    std::fs::create_dir(&music).unwrap();
    make_song(&music, "a", "Alpha", 2.0, 440, &["-b", "128"]);
    let server = ServerProcess::start(&music);
    let id = ids(&server, dir.path())["Alpha"];
    let wav = dir.path().join("out.wav");
    let mut client = ClientProcess::start(server.addr, &wav);
    client.send(&format!("play {id}"));
    client.expect_prefix(&format!("playing {id}:"));
    client.send("pause");
    client.expect_prefix(&format!("paused {id}"));
    // 50 on the cubic scale: a gain of 0.125, exactly representable.
    client.send("volume 60");
    client.send("volume -10");
    client.expect_prefix("volume 50");
    client.send("status --json");
    let json = client.expect("the status", |l| l.starts_with('{'));
    let status: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(status["state"], "paused", "{status}");
    assert_eq!(status["song"]["id"], id, "{status}");
    assert_eq!(status["song"]["title"], "Alpha", "{status}");
    assert_eq!(status["volume"], 50, "{status}");
    assert_eq!(status["queue"]["position"], 1, "{status}");
    assert_eq!(status["queue"]["length"], 1, "{status}");
    assert!(status["bitrate"].as_u64().unwrap() > 100_000, "{status}");
    assert!(status["duration"].as_f64().unwrap() > 1.9, "{status}");
    client.send("resume");
    client.send("wait");
    client.expect_prefix(&format!("finished {id}"));
    let (status, stdout, stderr) = client.finish();
    assert!(status.success(), "{stdout:?} {stderr:?}");
    let played = read_wav(&wav).samples;
    let reference = decode_file(&music.join("a.mp3")).samples;
    assert_eq!(played.len(), reference.len());
    // Full volume up to the pause, exactly; then a ramp of 5 ms (220 frames at 44.1 kHz) in
    // which the gain falls frame by frame; then exactly an eighth.
    let ratio = |i: usize| played[i] / reference[i];
    let first_scaled = (0..played.len())
        .find(|&i| played[i].to_bits() != reference[i].to_bits())
        .expect("the volume changed something");
    let ramp_end = first_scaled + 2 * 221;
    for i in (first_scaled..ramp_end).filter(|&i| reference[i].abs() > 1e-3) {
        let gain = ratio(i);
        assert!((0.125 - 1e-4..1.0).contains(&gain), "gain {gain} at {i}");
    }
    for i in ramp_end..played.len() {
        assert_eq!(
            played[i].to_bits(),
            (reference[i] * 0.125).to_bits(),
            "sample {i} after the ramp"
        );
    }
}
