//! The whole service, end to end: a real `jukebox-server` process and real `jukebox` clients on
//! loopback, driven through stdin as a script would, with what they play written to WAV files and
//! compared sample for sample with a direct symphonia decode of the same mp3.

use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use jukebox_e2e::{decode_file, make_song, read_wav, ClientProcess, Pcm, ServerProcess};
use tempfile::TempDir;

fn bundled_music() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../music")
}

/// A folder of short songs, all 44.1 kHz stereo so that one WAV can hold any sequence of them.
fn short_songs() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    make_song(dir.path(), "a", "Alpha", 6.0, 440, &["-b", "128"]);
    make_song(dir.path(), "b", "Bravo", 3.0, 660, &["-b", "128"]);
    make_song(dir.path(), "c", "Charlie", 3.0, 550, &["-V", "5"]);
    dir
}

/// A user's pause between two commands. The checks that some of Alpha (6 s) played before the
/// switch or stop, but not all of it, depend on its length: it is synchronisation as well as
/// scenario.
fn user_pause() {
    thread::sleep(Duration::from_millis(1200));
}

fn assert_same_format(wav: &Pcm, reference: &Pcm) {
    assert_eq!(
        (wav.sample_rate, wav.channels),
        (reference.sample_rate, reference.channels)
    );
}

fn stale_frames(stderr: &[String]) -> usize {
    stderr
        .iter()
        .filter(|l| l.contains("discarded stale DATA frame"))
        .count()
}

#[test]
fn list_shows_every_bundled_song() {
    let server = ServerProcess::start(&bundled_music());
    let dir = tempfile::tempdir().unwrap();
    let mut client = ClientProcess::start(server.addr, &dir.path().join("out.wav"));
    client.send("list");
    for (id, title) in [
        (1, "Morning Steps"),
        (2, "Blue Tide"),
        (3, "Small Hours"),
        (4, "Long Road"),
    ] {
        let line = client.expect_prefix(&format!("{id} "));
        assert!(line.contains(title), "{line:?} lacks {title}");
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
    let server = ServerProcess::start(&bundled_music());
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("out.wav");
    let mut client = ClientProcess::start(server.addr, &wav);
    client.send("play 3");
    client.expect_prefix("playing 3");
    client.send("wait");
    client.expect_prefix("finished 3");
    let (status, _, stderr) = client.finish();
    assert!(status.success(), "{stderr:?}");
    let reference = decode_file(&bundled_music().join("03-small-hours.mp3"));
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
    let songs = short_songs();
    let server = ServerProcess::start(songs.path());
    let wav = songs.path().join("out.wav");
    let mut client = ClientProcess::start(server.addr, &wav);
    client.send("play 1");
    client.expect_prefix("playing 1");
    user_pause();
    client.send("play 2");
    client.expect_prefix("playing 2");
    client.send("wait");
    client.expect_prefix("finished 2");
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
    assert!(
        stale_frames(&stderr) <= 1,
        "stale frames after the switch: {stderr:#?}"
    );
}

#[test]
fn stop_ends_sound_and_transfer() {
    let songs = short_songs();
    let server = ServerProcess::start(songs.path());
    let wav = songs.path().join("out.wav");
    let mut client = ClientProcess::start(server.addr, &wav);
    client.send("play 1");
    client.expect_prefix("playing 1");
    user_pause();
    client.send("stop");
    client.expect_prefix("stopped");
    // The connection is still good for the next command.
    client.send("list");
    client.expect_prefix("3 ");
    client.send("quit");
    let (status, stdout, stderr) = client.finish();
    assert!(status.success(), "{stderr:?}");
    assert!(
        !stdout.iter().any(|l| l.starts_with("finished")),
        "{stdout:?}"
    );
    let alpha = decode_file(&songs.path().join("a.mp3"));
    let played = read_wav(&wav);
    assert!(!played.samples.is_empty() && played.seconds() < alpha.seconds() - 1.0);
    assert!(played.samples[..] == alpha.samples[..played.samples.len()]);
    assert!(stale_frames(&stderr) <= 1, "{stderr:#?}");
}

#[test]
fn list_answers_while_a_long_song_streams() {
    let dir = tempfile::tempdir().unwrap();
    make_song(dir.path(), "long", "Long Haul", 120.0, 330, &["-b", "320"]);
    let server = ServerProcess::start(dir.path());
    let mut client = ClientProcess::start(server.addr, &dir.path().join("out.wav"));
    client.send("play 1");
    client.expect_prefix("playing 1");
    client.send("list");
    let line = client.expect_prefix("1 ");
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
    let names = ["a.mp3", "b.mp3", "c.mp3"];
    let mut clients = Vec::new();
    for i in 0..20 {
        let wav = songs.path().join(format!("client{i}.wav"));
        let mut client = ClientProcess::start(server.addr, &wav);
        let song = i % 3 + 1;
        client.send(&format!("play {song}"));
        client.send("wait");
        clients.push((client, wav, song));
    }
    for (client, wav, song) in clients {
        client.expect_prefix(&format!("finished {song}"));
        let (status, _, stderr) = client.finish();
        assert!(status.success(), "{stderr:?}");
        let reference = decode_file(&songs.path().join(names[song - 1]));
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
    let mut victim = ClientProcess::start(server.addr, &songs.path().join("victim.wav"));
    victim.send("play 1");
    let mut others = Vec::new();
    for i in 0..3 {
        let wav = songs.path().join(format!("other{i}.wav"));
        let mut client = ClientProcess::start(server.addr, &wav);
        client.send("play 1");
        client.send("wait");
        others.push((client, wav));
    }
    victim.expect_prefix("playing 1");
    victim.kill();
    let alpha = decode_file(&songs.path().join("a.mp3"));
    for (client, wav) in others {
        client.expect_prefix("finished 1");
        let (status, _, stderr) = client.finish();
        assert!(status.success(), "{stderr:?}");
        assert!(read_wav(&wav).samples == alpha.samples);
    }
    assert!(server.is_running());
    let mut late = ClientProcess::start(server.addr, &songs.path().join("late.wav"));
    late.send("list");
    late.expect_prefix("1 ");
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
    let log = server.log().join("\n");
    for name in ["empty.mp3", "noise.mp3", "folder.mp3"] {
        assert!(log.contains(name), "no warning about {name} in {log}");
    }
    let mut client = ClientProcess::start(server.addr, &dir.path().join("out.wav"));
    client.send("list");
    let line = client.expect_prefix("1 ");
    assert!(line.contains("Good Song"));
    client.send("quit");
    let (status, stdout, _) = client.finish();
    assert!(status.success());
    assert!(
        !stdout.iter().any(|l| l.trim_start().starts_with("2 ")),
        "{stdout:?}"
    );
}
