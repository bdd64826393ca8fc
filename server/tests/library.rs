//! A library of many songs: a 20,000-song catalog written by the segmenter lists completely
//! through paging, each ID once, in the browsing order; a search pages the same way; and a server
//! follows the catalog index when a segmenter run changes it.

mod common;

use std::path::Path;
use std::sync::Arc;

use jukebox_protocol::{ListRequest, Message, Page, ServerInfo};
use jukebox_segmenter::catalog::index::sort_key;
use jukebox_segmenter::catalog::write::Quiet;
use jukebox_segmenter::{write_catalog, DEFAULT_SEGMENT_DURATION};
use jukebox_server::{Config, Store};
use jukebox_test_kit::songs::three_frames;
use jukebox_test_kit::wire::Client;

const SONGS: usize = 20_000;

/// An ID3v2.3 tag with a title, artist and album (ISO-8859-1).
fn id3(title: &str, artist: &str, album: &str) -> Vec<u8> {
    let mut frames = Vec::new();
    for (id, text) in [(b"TIT2", title), (b"TPE1", artist), (b"TALB", album)] {
        frames.extend_from_slice(id);
        frames.extend_from_slice(&(text.len() as u32 + 1).to_be_bytes());
        frames.extend_from_slice(&[0, 0, 0]);
        frames.extend_from_slice(text.as_bytes());
    }
    let size = frames.len() as u32;
    let mut tag = b"ID3\x03\x00\x00".to_vec();
    // Syncsafe: 7 bits a byte.
    tag.extend((0..4).rev().map(|i| ((size >> (7 * i)) & 0x7F) as u8));
    tag.extend(frames);
    tag
}

/// Song `i`: the three frames with `i` written into the middle frame's audio data (so that each
/// is a song of its own) under tags of its own.
fn song_file(frames: &[u8], i: usize) -> Vec<u8> {
    let mut audio = frames.to_vec();
    let at = audio.len() / 2;
    audio[at..at + 4].copy_from_slice(&(i as u32).to_be_bytes());
    let mut file = id3(
        &format!("Title {i}"),
        &format!("Artist {}", i % 300),
        &format!("Album {}", i % 1000),
    );
    file.extend(audio);
    file
}

/// A temporary folder in memory when the system has one: removing 20,000 song folders from a disk
/// mounted with `discard` takes a minute on a small virtual machine.
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = tempfile::tempdir_in(shm) {
            return dir;
        }
    }
    tempfile::tempdir().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_of_20000_songs_lists_completely_through_paging() {
    let src = scratch();
    let frames = three_frames();
    for i in 0..SONGS {
        let dir = src.path().join(format!("{:03}", i / 100));
        if i % 100 == 0 {
            std::fs::create_dir(&dir).unwrap();
        }
        std::fs::write(dir.join(format!("{i:05}.mp3")), song_file(&frames, i)).unwrap();
    }
    let out = scratch();
    let summary = tokio::task::spawn_blocking({
        let (src, out) = (src.path().to_path_buf(), out.path().to_path_buf());
        move || write_catalog(&src, &out, DEFAULT_SEGMENT_DURATION, &Quiet).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(summary.songs, SONGS, "{:?}", summary.skipped.first());

    let store = Arc::new(Store::open_catalog(out.path(), 0).unwrap());
    assert_eq!(store.len(), SONGS);
    let (addr, _) = common::start_store(store, Config::default()).await;
    let mut client = Client::open(addr).await;
    let songs = common::list_all(&mut client, "", jukebox_server::store::MAX_PAGE).await;
    assert_eq!(songs.len(), SONGS);
    let mut ids: Vec<u64> = songs.iter().map(|s| s.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), SONGS, "every ID once");
    // In browsing order: artist, album, title (then ID).
    let keys: Vec<_> = songs
        .iter()
        .map(|s| (sort_key(&s.artist, &s.album, &s.title), s.id))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "in browsing order");

    // A search pages the same way: "Artist 7" is 67 songs (7, 307, 607...), and the whole word
    // "7" matches no "Artist 70".
    let found = common::list_all(&mut client, "7 artist", 10).await;
    assert_eq!(
        found.len(),
        (0..SONGS).filter(|i| i % 300 == 7).count() + {
            // Titles and albums with the word 7 (and the last word, a prefix of "artist", in all).
            (0..SONGS)
                .filter(|i| i % 300 != 7 && (*i == 7 || i % 1000 == 7))
                .count()
        }
    );
    assert!(found
        .iter()
        .all(|s| s.artist == "Artist 7" || s.title == "Title 7" || s.album == "Album 7"));
    // A page larger than the server allows is cut to its limit.
    let mut request = ListRequest {
        limit: Some(10_000),
        ..ListRequest::default()
    };
    client
        .send(99, Message::List(request.to_json().into()))
        .await;
    let Message::Page(json) = client.recv().await.unwrap().message else {
        panic!("expected PAGE");
    };
    let page = Page::from_json(&json).unwrap();
    assert_eq!(page.songs.len(), jukebox_server::store::MAX_PAGE as usize);
    request.cursor = page.next;
    assert!(request.cursor.is_some());
}

#[tokio::test]
async fn a_server_follows_the_index_when_a_run_changes_it() {
    let music = Path::new(env!("CARGO_MANIFEST_DIR")).join("../music");
    let src = tempfile::tempdir().unwrap();
    for name in ["01-morning-steps.mp3", "02-blue-tide.mp3"] {
        std::fs::copy(music.join(name), src.path().join(name)).unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    write_catalog(src.path(), out.path(), DEFAULT_SEGMENT_DURATION, &Quiet).unwrap();
    let store = Arc::new(Store::open_catalog(out.path(), 1 << 20).unwrap());
    let (addr, store) = common::start_store(store, Config::default()).await;
    let welcome = |store: &Store| ServerInfo::from_json(&store.info_json()).unwrap();
    let before = welcome(&store);
    assert_eq!(before.songs, 2);
    let mut client = Client::open(addr).await;
    assert_eq!(common::list_all(&mut client, "", 100).await.len(), 2);

    std::fs::copy(
        music.join("03-small-hours.mp3"),
        src.path().join("03-small-hours.mp3"),
    )
    .unwrap();
    write_catalog(src.path(), out.path(), DEFAULT_SEGMENT_DURATION, &Quiet).unwrap();
    let after = welcome(&store);
    assert_eq!(after.songs, 3);
    assert_ne!(after.catalog, before.catalog);
    // The same LIST as before the run: answered for the index as it is now, not as it was.
    assert_eq!(common::list_all(&mut client, "", 100).await.len(), 3);
    let songs = common::list_all(&mut client, "small", 100).await;
    assert_eq!(songs.len(), 1);
    let bytes = client.fetch(1000, songs[0].id, 0).await;
    assert!(!bytes.is_empty());

    // A run that changes nothing keeps the digest.
    write_catalog(src.path(), out.path(), DEFAULT_SEGMENT_DURATION, &Quiet).unwrap();
    assert_eq!(welcome(&store), after);
}
