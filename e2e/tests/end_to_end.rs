//! The whole service, end to end: a real `jukebox-server` process and real `jukebox` clients on
//! loopback, driven through stdin as a script would, with what they play written to WAV files and
//! compared sample for sample with a direct symphonia decode of the same mp3.

use jukebox_e2e::{
    decode_file, ids, make_song, read_wav, wait_for_audio, ClientProcess, Pcm, ServerProcess,
};
use jukebox_test_kit::music_dir;
use tempfile::TempDir;

/// A folder of short songs, all 44.1 kHz stereo so that one WAV can hold any sequence of them.
fn short_songs() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    make_song(dir.path(), "a", "Alpha", 6.0, 440, &["-b", "128"]);
    make_song(dir.path(), "b", "Bravo", 3.0, 660, &["-b", "128"]);
    make_song(dir.path(), "c", "Charlie", 3.0, 550, &["-V", "5"]);
    dir
}

fn assert_same_format(wav: &Pcm, reference: &Pcm) {
    assert_eq!(
        (wav.sample_rate, wav.channels),
        (reference.sample_rate, reference.channels)
    );
}

/// Checks that the frames the client discarded as stale all answer the one request it cancelled on
/// a switch or stop. The client fetches one segment at a time, so there is at most one to cancel;
/// how many of its frames were already on the way by then depends on timing and is not checked.
fn assert_stale_frames_only_of_one_cancelled_request(stderr: &[String]) {
    let ids = |marker: &str| -> Vec<u32> {
        stderr
            .iter()
            .filter_map(|l| l.split_once(marker))
            .map(|(_, id)| id.trim().parse().expect("a request id"))
            .collect()
    };
    let cancelled = ids("cancelling request ");
    let stale = ids("stale DATA frame for request ");
    assert!(cancelled.len() <= 1, "cancelled {cancelled:?}: {stderr:#?}");
    assert!(
        stale.iter().all(|id| cancelled.contains(id)),
        "stale frames of requests not cancelled: {stderr:#?}"
    );
}

#[test]
fn list_shows_every_bundled_song() {
    let server = ServerProcess::start(&music_dir());
    let dir = tempfile::tempdir().unwrap();
    let mut client = ClientProcess::start(server.addr, &dir.path().join("out.wav"));
    client.send("list");
    // In the server's order: artist, album, title.
    for title in ["Small Hours", "Blue Tide", "Long Road", "Morning Steps"] {
        let line = client.expect(title, |l| l.contains(title));
        let id = line.split_whitespace().next().unwrap();
        assert!(
            id.parse::<u64>().is_ok_and(|id| id > 0),
            "{line:?} lacks an ID"
        );
        assert!(
            line.contains("Jukebox Ensemble"),
            "{line:?} lacks the artist"
        );
        assert!(line.contains("0:"), "{line:?} lacks a duration");
    }
    client.send("quit");
    let (status, _, _) = client.finish();
    assert!(status.success());
}

#[test]
fn play_writes_exactly_the_decoded_song() {
    let server = ServerProcess::start(&music_dir());
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("out.wav");
    let small_hours = ids(&server, dir.path())["Small Hours"];
    let mut client = ClientProcess::start(server.addr, &wav);
    client.send(&format!("play {small_hours}"));
    client.expect_prefix(&format!("playing {small_hours}"));
    client.send("wait");
    client.expect_prefix(&format!("finished {small_hours}"));
    let (status, _, stderr) = client.finish();
    assert!(status.success(), "{stderr:?}");
    let reference = decode_file(&music_dir().join("03-small-hours.mp3"));
    let played = read_wav(&wav);
    assert_same_format(&played, &reference);
    assert_eq!(played.samples.len(), reference.samples.len());
    assert!(
        played.samples == reference.samples,
        "PCM differs from a direct decode"
    );
}

#[test]
fn switching_songs_mid_song_plays_all_of_the_new_one() {
    // Alpha is long enough that the switch comes in its middle even on a busy machine.
    let songs = tempfile::tempdir().unwrap();
    make_song(songs.path(), "a", "Alpha", 20.0, 440, &["-b", "128"]);
    make_song(songs.path(), "b", "Bravo", 3.0, 660, &["-b", "128"]);
    let server = ServerProcess::start(songs.path());
    let wav = songs.path().join("out.wav");
    let ids = ids(&server, songs.path());
    let (alpha, bravo) = (ids["Alpha"], ids["Bravo"]);
    let mut client = ClientProcess::start(server.addr, &wav);
    client.send(&format!("play {alpha}"));
    client.expect_prefix(&format!("playing {alpha}"));
    wait_for_audio(&wav);
    client.send(&format!("play {bravo}"));
    client.expect_prefix(&format!("playing {bravo}"));
    client.send("wait");
    client.expect_prefix(&format!("finished {bravo}"));
    let (status, _, stderr) = client.finish();
    assert!(status.success(), "{stderr:?}");

    let alpha = decode_file(&songs.path().join("a.mp3"));
    let bravo = decode_file(&songs.path().join("b.mp3"));
    let played = read_wav(&wav);
    assert_same_format(&played, &bravo);
    let split = played
        .samples
        .len()
        .checked_sub(bravo.samples.len())
        .expect("all of Bravo");
    assert!(
        played.samples[split..] == bravo.samples[..],
        "Bravo is not whole at the end"
    );
    let head = &played.samples[..split];
    assert!(
        !head.is_empty() && head.len() < alpha.samples.len(),
        "Alpha played {}",
        head.len()
    );
    assert!(
        head == &alpha.samples[..split],
        "what played of Alpha is not its beginning"
    );
    assert_stale_frames_only_of_one_cancelled_request(&stderr);
}

#[test]
fn stop_ends_sound_and_transfer() {
    // Long Road (0:44) is long enough that the stop comes in its middle even on a busy machine.
    let server = ServerProcess::start(&music_dir());
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("out.wav");
    let long_road = ids(&server, dir.path())["Long Road"];
    let mut client = ClientProcess::start(server.addr, &wav);
    client.send(&format!("play {long_road}"));
    client.expect_prefix(&format!("playing {long_road}"));
    wait_for_audio(&wav);
    client.send("stop");
    client.expect_prefix("stopped");
    // The connection is still good for the next command.
    client.send("list");
    client.expect("Small Hours listed", |l| l.contains("Small Hours"));
    client.send("quit");
    let (status, stdout, stderr) = client.finish();
    assert!(status.success(), "{stderr:?}");
    assert!(
        !stdout.iter().any(|l| l.starts_with("finished")),
        "{stdout:?}"
    );
    let song = decode_file(&music_dir().join("04-long-road.mp3"));
    let played = read_wav(&wav);
    assert!(!played.samples.is_empty() && played.seconds() < song.seconds() - 1.0);
    assert!(played.samples[..] == song.samples[..played.samples.len()]);
    assert_stale_frames_only_of_one_cancelled_request(&stderr);
}

#[test]
fn list_answers_while_a_long_song_streams() {
    let dir = tempfile::tempdir().unwrap();
    make_song(dir.path(), "long", "Long Haul", 120.0, 330, &["-b", "320"]);
    let server = ServerProcess::start(dir.path());
    let long = ids(&server, dir.path())["Long Haul"];
    let mut client = ClientProcess::start(server.addr, &dir.path().join("out.wav"));
    client.send(&format!("play {long}"));
    client.expect_prefix(&format!("playing {long}"));
    client.send("list");
    let line = client.expect_prefix(&format!("{long} "));
    assert!(line.contains("Long Haul"));
    client.send("stop");
    client.expect_prefix("stopped");
    client.send("quit");
    let (status, stdout, _) = client.finish();
    assert!(status.success());
    assert!(
        !stdout.iter().any(|l| l.starts_with("finished")),
        "the list waited for the song"
    );
}

#[test]
fn twenty_clients_at_once_each_get_correct_audio() {
    let songs = short_songs();
    let server = ServerProcess::start(songs.path());
    let ids = ids(&server, songs.path());
    let names = [("a.mp3", "Alpha"), ("b.mp3", "Bravo"), ("c.mp3", "Charlie")];
    let mut clients = Vec::new();
    for i in 0..20 {
        let wav = songs.path().join(format!("client{i}.wav"));
        let mut client = ClientProcess::start(server.addr, &wav);
        let (file, title) = names[i % 3];
        let song = ids[title];
        client.send(&format!("play {song}"));
        client.send("wait");
        clients.push((client, wav, song, file));
    }
    for (client, wav, song, file) in clients {
        client.expect_prefix(&format!("finished {song}"));
        let (status, _, stderr) = client.finish();
        assert!(status.success(), "{stderr:?}");
        let reference = decode_file(&songs.path().join(file));
        assert!(
            read_wav(&wav).samples == reference.samples,
            "client of song {song}"
        );
    }
}

#[test]
fn a_client_killed_mid_stream_harms_no_one_else() {
    let songs = short_songs();
    let mut server = ServerProcess::start(songs.path());
    let alpha_id = ids(&server, songs.path())["Alpha"];
    let mut victim = ClientProcess::start(server.addr, &songs.path().join("victim.wav"));
    victim.send(&format!("play {alpha_id}"));
    let mut others = Vec::new();
    for i in 0..3 {
        let wav = songs.path().join(format!("other{i}.wav"));
        let mut client = ClientProcess::start(server.addr, &wav);
        client.send(&format!("play {alpha_id}"));
        client.send("wait");
        others.push((client, wav));
    }
    victim.expect_prefix(&format!("playing {alpha_id}"));
    victim.kill();
    let alpha = decode_file(&songs.path().join("a.mp3"));
    for (client, wav) in others {
        client.expect_prefix(&format!("finished {alpha_id}"));
        let (status, _, stderr) = client.finish();
        assert!(status.success(), "{stderr:?}");
        assert!(read_wav(&wav).samples == alpha.samples);
    }
    assert!(server.is_running());
    let mut late = ClientProcess::start(server.addr, &songs.path().join("late.wav"));
    late.send("list");
    late.expect_prefix(&format!("{alpha_id} "));
    late.send("quit");
    assert!(late.finish().0.success());
}

#[test]
fn the_server_skips_broken_files_and_serves_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    make_song(dir.path(), "good", "Good Song", 2.0, 440, &["-b", "128"]);
    std::fs::write(dir.path().join("empty.mp3"), b"").unwrap();
    std::fs::write(
        dir.path().join("noise.mp3"),
        (0..50_000u32)
            .map(|i| (i * 7919 % 251) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("folder.mp3")).unwrap();
    let server = ServerProcess::start(dir.path());
    let log = server.log();
    for name in ["empty.mp3", "noise.mp3", "folder.mp3"] {
        assert!(log.contains(name), "no warning about {name} in {log}");
    }
    let mut client = ClientProcess::start(server.addr, &dir.path().join("out.wav"));
    client.send("list");
    client.expect("Good Song listed", |l| l.contains("Good Song"));
    client.send("quit");
    let (status, stdout, _) = client.finish();
    assert!(status.success());
    assert_eq!(stdout.len(), 1, "one song: {stdout:?}");
}
