//! Serving a pre-chunked catalog written by `jukebox_segmenter::write_catalog`: the same songs and
//! bytes as the music folder it was made from, segments read from disk without holding up the
//! connection, and errors (not wrong bytes) when the catalog changes under a running server.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::process::{output_within, server_command};
use jukebox_protocol::{ErrorCode, Manifest, Message, Page};
use jukebox_segmenter::catalog::write::Quiet;
use jukebox_segmenter::{load_dir, write_catalog, Song, DEFAULT_SEGMENT_DURATION};
use jukebox_server::{Config, Store};
use jukebox_test_kit::music_dir;
use jukebox_test_kit::process::ServerProcess;
use jukebox_test_kit::wire::{assert_error, Client};
use jukebox_test_kit::{sha256, PATIENCE};

/// A catalog of the bundled music in a temporary folder.
fn catalog() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_catalog(&music_dir(), dir.path(), DEFAULT_SEGMENT_DURATION, &Quiet).unwrap();
    dir
}

/// The bundled songs in path order, as the music folder gives them.
fn bundled() -> &'static [Song] {
    static SONGS: std::sync::OnceLock<Vec<Song>> = std::sync::OnceLock::new();
    SONGS.get_or_init(|| {
        load_dir(&music_dir(), DEFAULT_SEGMENT_DURATION)
            .unwrap()
            .songs
    })
}

/// The ID of the `n`-th bundled song (from 1, in path order).
fn id(n: usize) -> u64 {
    bundled()[n - 1].manifest.id
}

/// The manifest of the `n`-th bundled song.
fn manifest(n: usize) -> &'static Manifest {
    &bundled()[n - 1].manifest
}

/// The folder holding song `id`'s segments.
fn song_folder(store: &Store, id: u64) -> PathBuf {
    store.song_folder(id).expect("a song on disk")
}

/// An in-process server on the catalog in `dir`.
async fn serve_catalog(dir: &Path, config: Config) -> (SocketAddr, Arc<Store>) {
    let store = Store::open_catalog(dir, jukebox_server::DEFAULT_CACHE_BYTES).unwrap();
    common::start_store(Arc::new(store), config).await
}

/// Starts the binary with `args` on a free port and waits for its `listening on` line.
fn spawn_server(args: &[&std::ffi::OsStr]) -> ServerProcess {
    common::process::start(args)
}

/// LIST, every MANIFEST and every segment, as raw payloads.
async fn everything(addr: SocketAddr) -> (Vec<u8>, Vec<Vec<u8>>, Vec<Vec<u8>>) {
    common::everything(&mut Client::open(addr).await).await
}

#[tokio::test]
async fn a_catalog_serves_what_its_music_folder_serves() {
    let catalog = catalog();
    let from_music = spawn_server(&["--music".as_ref(), music_dir().as_os_str()]);
    let from_catalog = spawn_server(&["--catalog".as_ref(), catalog.path().as_os_str()]);
    let (list_m, manifests_m, segments_m) = everything(from_music.addr).await;
    let (list_c, manifests_c, segments_c) = everything(from_catalog.addr).await;
    assert_eq!(list_m, list_c, "PAGE payloads differ");
    assert_eq!(manifests_m, manifests_c, "MANIFEST payloads differ");
    assert_eq!(segments_m.len(), 57);
    assert_eq!(segments_m, segments_c, "segment bytes differ");
    let log = from_catalog.log();
    assert!(log.contains("loaded 4 songs (57 segments, 1.8 MB"), "{log}");
    // The same contents, so the same WELCOME: its digest names them.
    let music = Store::new(
        load_dir(&music_dir(), DEFAULT_SEGMENT_DURATION)
            .unwrap()
            .songs,
    );
    let served = Store::open_catalog(catalog.path(), 0).unwrap();
    assert_eq!(music.info_json(), served.info_json());
    let info = jukebox_protocol::ServerInfo::from_json(&served.info_json()).unwrap();
    assert_eq!(info.songs, 4);
    assert_ne!(
        info.catalog,
        jukebox_segmenter::catalog::index::digest(Vec::new()),
        "not the digest of no songs"
    );
}

#[tokio::test]
async fn a_segment_gone_after_startup_is_an_internal_error_and_the_connection_goes_on() {
    let dir = catalog();
    let (addr, store) = serve_catalog(dir.path(), Config::default()).await;
    // As a later segmenter run does to a song that changed: its folder is removed.
    std::fs::remove_dir_all(song_folder(&store, id(2))).unwrap();
    let mut client = Client::open(addr).await;
    client
        .send(
            1,
            Message::GetSegment {
                song: id(2),
                index: 0,
            },
        )
        .await;
    client
        .send(
            2,
            Message::GetSegment {
                song: id(1),
                index: 1,
            },
        )
        .await;
    client.expect_error(1, ErrorCode::Internal).await;
    let bytes = client.collect(2).await;
    assert_eq!(sha256(&bytes), manifest(1).segments[1].sha256);
    // Still an error when asked again (errors are not cached), and the connection still serves.
    client
        .send(
            3,
            Message::GetSegment {
                song: id(2),
                index: 0,
            },
        )
        .await;
    client.expect_error(3, ErrorCode::Internal).await;
    client.send(4, Message::GetManifest { song: id(2) }).await;
    assert!(matches!(
        client.recv().await.unwrap().message,
        Message::Manifest(_)
    ));
}

#[tokio::test]
async fn a_rewritten_segment_file_is_refused_not_sent() {
    let dir = catalog();
    let (addr, store) = serve_catalog(dir.path(), Config::default()).await;
    let file = song_folder(&store, id(1)).join("000003.seg");
    let size = std::fs::metadata(&file).unwrap().len() as usize;
    std::fs::write(&file, vec![0x55; size]).unwrap();
    let mut client = Client::open(addr).await;
    client
        .send(
            1,
            Message::GetSegment {
                song: id(1),
                index: 3,
            },
        )
        .await;
    client.expect_error(1, ErrorCode::Internal).await;
}

#[tokio::test]
async fn connections_asking_for_one_segment_all_get_it() {
    let dir = catalog();
    for cache_mib in [256, 0] {
        let config = Config::default();
        let store = Arc::new(Store::open_catalog(dir.path(), cache_mib << 20).unwrap());
        let server = jukebox_server::Server::bind(
            Config {
                listen: "127.0.0.1:0".parse().unwrap(),
                ..config
            },
            store.clone(),
        )
        .await
        .unwrap();
        let addr = server.local_addr();
        let task = tokio::spawn(server.run());
        let mut clients = Vec::new();
        for _ in 0..4 {
            clients.push(Client::open(addr).await);
        }
        // Every request is sent before any answer is read.
        for client in &mut clients {
            for index in 0..3 {
                client
                    .send(index + 1, Message::GetSegment { song: id(4), index })
                    .await;
            }
        }
        let manifest = &manifest(4);
        for client in &mut clients {
            for index in 0..3 {
                let bytes = client.collect(index + 1).await;
                assert_eq!(sha256(&bytes), manifest.segments[index as usize].sha256);
            }
        }
        if cache_mib > 0 {
            assert_eq!(store.cache().len(), 3, "each segment is cached once");
        } else {
            assert!(store.cache().is_empty());
        }
        task.abort();
    }
}

/// Segment files replaced by FIFOs: reading one blocks in `open` until a writer comes, as a read
/// from a hung disk or network filesystem does.
struct Fifos(Vec<PathBuf>);

impl Fifos {
    fn make(files: Vec<PathBuf>) -> Fifos {
        for file in &files {
            std::fs::remove_file(file).unwrap();
            let status = Command::new("mkfifo").arg(file).status().unwrap();
            assert!(status.success());
        }
        Fifos(files)
    }
}

impl Drop for Fifos {
    /// Lets every read blocked in opening a FIFO go on, to find it empty. On Linux, opening a FIFO
    /// for reading and writing never blocks and wakes every reader waiting in `open`.
    fn drop(&mut self) {
        for file in &self.0 {
            drop(
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(file),
            );
        }
    }
}

/// Runs `test` on a runtime that, when it ends, does not wait for blocking threads still stuck in
/// a FIFO (as dropping a runtime does), bounded by [`PATIENCE`], panics included.
fn with_stuck_reads(test: impl std::future::Future<Output = ()>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(async {
            tokio::time::timeout(2 * PATIENCE, test)
                .await
                .expect("the test did not finish in time")
        })
    }));
    runtime.shutdown_background();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// A server on a catalog of the bundled music, its reads bounded by `read_timeout`.
async fn serve_with_read_timeout(
    dir: &Path,
    read_timeout: std::time::Duration,
) -> (SocketAddr, Arc<Store>) {
    let store = Store::open_catalog(dir, jukebox_server::DEFAULT_CACHE_BYTES)
        .unwrap()
        .with_read_timeout(read_timeout);
    common::start_store(Arc::new(store), Config::default()).await
}

#[test]
fn a_pending_read_holds_up_nothing_and_can_be_cancelled() {
    with_stuck_reads(async {
        let dir = catalog();
        // Far longer than the test: the read stays pending throughout.
        let (addr, store) = serve_with_read_timeout(dir.path(), 4 * PATIENCE).await;
        let _fifo = Fifos::make(vec![song_folder(&store, id(1)).join("000002.seg")]);

        let mut client = Client::open(addr).await;
        client
            .send(
                1,
                Message::GetSegment {
                    song: id(1),
                    index: 2,
                },
            )
            .await;
        // The read cannot finish, yet control requests are answered.
        client.send(2, Message::list_all()).await;
        client.send(3, Message::GetManifest { song: id(3) }).await;
        let answer = client.recv().await.unwrap();
        assert_eq!(answer.request_id, 2);
        assert!(matches!(answer.message, Message::Page(_)));
        let answer = client.recv().await.unwrap();
        assert_eq!(answer.request_id, 3);
        assert!(matches!(answer.message, Message::Manifest(_)));

        // Cancelled while reading: the next segment request is served at once, and nothing is
        // ever sent for the cancelled one.
        client.send(1, Message::Cancel).await;
        let bytes = client.fetch(4, id(1), 0).await;
        assert_eq!(sha256(&bytes), manifest(1).segments[0].sha256);
        client.send(5, Message::list_all()).await;
        assert_eq!(client.recv().await.unwrap().request_id, 5);
    });
}

#[test]
fn a_read_that_hangs_is_an_internal_error_and_gives_its_place_back() {
    with_stuck_reads(async {
        let dir = catalog();
        // Short, so that the hung reads fail fast; long enough that the real read at the end,
        // a fresh blocking thread reading and hashing a segment, does not fail on a busy machine.
        let (addr, store) =
            serve_with_read_timeout(dir.path(), std::time::Duration::from_secs(2)).await;
        // More hung segments than reads may run at once (32): all but segment 0 of song 4.
        let hung: Vec<(u64, u32)> = bundled()
            .iter()
            .flat_map(|song| {
                (0..song.manifest.segments.len() as u32).map(|i| (song.manifest.id, i))
            })
            .filter(|&segment| segment != (id(4), 0))
            .take(40)
            .collect();
        assert_eq!(hung.len(), 40);
        let _fifos = Fifos::make(
            hung.iter()
                .map(|&(id, index)| {
                    song_folder(&store, id)
                        .join(jukebox_segmenter::catalog::files::segment_file_name(index))
                })
                .collect(),
        );
        // One request per connection (a connection reads one segment at a time), so that more
        // reads wait than may run.
        let mut clients = Vec::new();
        for chunk in hung.chunks(1) {
            let mut client = Client::open(addr).await;
            for (k, &(song, index)) in chunk.iter().enumerate() {
                client
                    .send(k as u32 + 1, Message::GetSegment { song, index })
                    .await;
            }
            clients.push((client, chunk.len() as u32));
        }
        for (client, count) in &mut clients {
            let mut answered = std::collections::BTreeSet::new();
            for _ in 0..*count {
                let frame = client.recv().await.expect("EOF instead of ERROR");
                assert_error(&frame, frame.request_id, ErrorCode::Internal);
                answered.insert(frame.request_id);
            }
            assert_eq!(
                answered,
                (1..=*count).collect(),
                "each hung read is answered once"
            );
        }
        // The hung reads' threads are still stuck, but their places are free: a segment not yet
        // read (nothing else was) is read and served.
        let (client, _) = &mut clients[0];
        let bytes = client.fetch(100, id(4), 0).await;
        assert_eq!(sha256(&bytes), manifest(4).segments[0].sha256);
        client.send(101, Message::list_all()).await;
        assert_eq!(client.recv().await.unwrap().request_id, 101);
    });
}

#[test]
fn a_reset_is_seen_while_the_server_neither_reads_nor_writes() {
    with_stuck_reads(async {
        let dir = catalog();
        // Far longer than the test: the read stays pending throughout.
        let (addr, store) = serve_with_read_timeout(dir.path(), 4 * PATIENCE).await;
        let _fifo = Fifos::make(vec![song_folder(&store, id(1)).join("000002.seg")]);
        let mut client = Client::open(addr).await;
        client
            .send(
                1,
                Message::GetSegment {
                    song: id(1),
                    index: 2,
                },
            )
            .await;
        // Closed its side: the server reads no more, has nothing to write until the read ends,
        // and no deadline of the client's runs. Only the socket's error event tells it of a reset.
        client.shutdown_write().await;
        let server = common::ServerEnd::of(&client);
        client.reset();
        assert!(
            server.closed_in_time().await,
            "the server kept a reset connection"
        );
    });
}

#[test]
fn a_broken_song_folder_is_an_internal_error_and_the_rest_is_served() {
    let dir = catalog();
    let broken = {
        let store = Store::open_catalog(dir.path(), 0).unwrap();
        song_folder(&store, id(2))
    };
    std::fs::remove_file(broken.join("000000.seg")).unwrap();
    // Opening reads no song folder: the server starts with every song.
    let server = spawn_server(&["--catalog".as_ref(), dir.path().as_os_str()]);
    let log = server.log();
    assert!(log.contains("loaded 4 songs"), "{log}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut client = Client::open(server.addr).await;
        client.send(1, Message::list_all()).await;
        let Message::Page(json) = client.recv().await.unwrap().message else {
            panic!("expected PAGE");
        };
        assert_eq!(Page::from_json(&json).unwrap().songs.len(), 4);
        client
            .send(
                2,
                Message::GetSegment {
                    song: id(2),
                    index: 0,
                },
            )
            .await;
        client.expect_error(2, ErrorCode::Internal).await;
        let bytes = client.fetch(3, id(2), 1).await;
        assert_eq!(sha256(&bytes), manifest(2).segments[1].sha256);
    });
    server.wait_for_line(&["WARN", "cannot serve a catalog segment", "000000.seg"]);
}

/// Runs the binary with `args` and returns its exit code and standard error.
fn run(args: &[&str]) -> (Option<i32>, String) {
    let output = output_within(
        server_command()
            .args(args)
            .args(["--listen", "127.0.0.1:0"]),
    );
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (output.status.code(), stderr)
}

#[test]
fn wrong_combinations_of_options_are_usage_errors() {
    let (code, stderr) = run(&["--music", "m", "--catalog", "c"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("'--music <DIR>' cannot be used with '--catalog <DIR>'"),
        "{stderr}"
    );
    let (code, stderr) = run(&["--catalog", "c", "--segment-duration", "3"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("'--catalog <DIR>' cannot be used with '--segment-duration"),
        "{stderr}"
    );
    for catalog_only in ["--cache-mib", "--transfer-mib"] {
        let (code, stderr) = run(&["--music", "m", catalog_only, "10"]);
        assert_eq!(code, Some(2));
        assert!(stderr.contains("cannot be used with"), "{stderr}");
    }
    let (code, stderr) = run(&[]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--music <DIR>|--catalog <DIR>"), "{stderr}");
}

#[test]
fn a_folder_that_is_not_a_catalog_is_a_one_line_error() {
    let empty = tempfile::tempdir().unwrap();
    let (code, stderr) = run(&["--catalog", empty.path().to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot open catalog"), "{stderr}");
    assert!(stderr.contains("no index.sqlite"), "{stderr}");

    std::fs::write(empty.path().join("index.sqlite"), b"[1, 2").unwrap();
    let (code, stderr) = run(&["--catalog", empty.path().to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot open catalog"), "{stderr}");
}

#[test]
fn a_catalog_of_the_earlier_version_is_refused_with_how_to_rebuild_it() {
    let old = tempfile::tempdir().unwrap();
    std::fs::write(
        old.path().join("index.json"),
        br#"{"format": "jukebox-catalog", "version": 1, "segment_duration": 2.0, "songs": []}"#,
    )
    .unwrap();
    std::fs::create_dir(old.path().join("songs")).unwrap();
    let (code, stderr) = run(&["--catalog", old.path().to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("earlier version"), "{stderr}");
    assert!(
        stderr.contains("rebuild it with `jukebox-segmenter IN_DIR"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_server_warns_of_a_segment_it_cannot_read() {
    let dir = catalog();
    let server = spawn_server(&["--catalog".as_ref(), dir.path().as_os_str()]);
    let folder = song_folder(&Store::open_catalog(dir.path(), 0).unwrap(), id(4));
    std::fs::remove_file(folder.join("000001.seg")).unwrap();
    let mut client = Client::open(server.addr).await;
    client
        .send(
            1,
            Message::GetSegment {
                song: id(4),
                index: 1,
            },
        )
        .await;
    client.expect_error(1, ErrorCode::Internal).await;
    let line = server.wait_for_line(&["WARN", "cannot serve a catalog segment", "000001.seg"]);
    assert!(
        line.contains(&format!("song={}", id(4))) && line.contains("index=1"),
        "{line}"
    );
}
