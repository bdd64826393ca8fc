//! `list` a page at a time and `list --all` every page, against a scripted server that pages a
//! catalog of songs with large (16-digit) IDs, as IDs derived from the audio will be.

mod common;

use common::*;
use jukebox_protocol::{ListRequest, Message, Page, SongSummary};
use jukebox_test_kit::process::{command, output_within};
use jukebox_test_kit::wire::{listen, Peer};
use jukebox_test_kit::within;

const SONGS: u64 = 25;
const PAGE: usize = 10;

fn song(i: u64) -> SongSummary {
    SongSummary {
        id: 4_503_599_627_370_496 + i * 7_919,
        title: format!("Song {i}"),
        artist: "Band".into(),
        album: String::new(),
        duration_ms: 61_000,
        segments: 31,
    }
}

/// Answers every LIST with pages of `PAGE` songs, the cursor being the offset; counts them.
async fn serve_pages(peer: &mut Peer) -> usize {
    let mut pages = 0;
    while let Some(frame) = peer.recv().await {
        let Message::List(json) = frame.message else {
            panic!("unexpected {:?}", frame.message);
        };
        let request = ListRequest::from_json(&json).unwrap();
        assert!(request.query.is_empty());
        let start: u64 = request.cursor.as_deref().map_or(0, |c| c.parse().unwrap());
        let end = (start + PAGE as u64).min(SONGS);
        let page = Page {
            total: SONGS,
            songs: (start..end).map(song).collect(),
            next: (end < SONGS).then(|| end.to_string()),
        };
        peer.send(frame.request_id, Message::Page(page.to_json().into()))
            .await;
        pages += 1;
    }
    pages
}

#[tokio::test]
async fn list_shows_a_page_and_more_the_next_while_list_all_streams_every_page() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut peer = Peer::accept(&listener).await;
        serve_pages(&mut peer).await
    });
    let dir = tempfile::tempdir().unwrap();
    let output = run_jukebox_against(
        addr,
        &dir.path().join("out.wav"),
        "list\nmore\nlist --all\n",
    )
    .await;
    assert!(output.status.success(), "{output:?}");
    let lines = stdout_lines(&output);
    let expected: Vec<String> = (0..SONGS)
        .map(|i| format!("{}  Song {i} — Band (1:01)", song(i).id))
        .collect();
    // list: the first page; more: the second; list --all: all three pages, in order.
    assert_eq!(lines[..PAGE], expected[..PAGE]);
    assert_eq!(lines[PAGE..2 * PAGE], expected[PAGE..2 * PAGE]);
    assert_eq!(lines[2 * PAGE..], expected[..]);
    // How to see more is for the person, on stderr.
    assert_eq!(
        stderr_lines(&output),
        [
            "songs 1-10 of 25; type more for the next page",
            "songs 11-20 of 25; type more for the next page",
            "25 songs in all",
        ]
    );
    assert_eq!(server.await.unwrap(), 1 + 1 + 3);
}

#[tokio::test]
async fn an_empty_library_is_said_and_jukebox_server_names_the_server() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut peer = Peer::accept(&listener).await;
        while let Some(frame) = peer.recv().await {
            let page = Page {
                total: 0,
                songs: Vec::new(),
                next: None,
            };
            peer.send(frame.request_id, Message::Page(page.to_json().into()))
                .await;
        }
    });
    let output = tokio::task::spawn_blocking(move || {
        output_within(
            command(env!("CARGO_BIN_EXE_jukebox"))
                .args(["list", "--output", "null"])
                .env("JUKEBOX_SERVER", addr),
            b"",
        )
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    assert_eq!(stderr_lines(&output), ["the server has no songs"]);
    server.await.unwrap();
}

#[tokio::test]
async fn more_on_a_server_of_another_catalog_says_to_list_again() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut first = Peer::accept_serving(&listener, &"a".repeat(64)).await;
        let list = first.recv().await.unwrap();
        let page = Page {
            total: SONGS,
            songs: (0..PAGE as u64).map(song).collect(),
            next: Some(PAGE.to_string()),
        };
        first
            .send(list.request_id, Message::Page(page.to_json().into()))
            .await;
        drop(first);
        // The cursor of the first server's listing is not sent here.
        let mut second = Peer::accept_serving(&listener, &"b".repeat(64)).await;
        let mut cursors = Vec::new();
        while let Some(frame) = second.recv().await {
            let Message::List(json) = &frame.message else {
                panic!("unexpected {:?}", frame.message);
            };
            cursors.push(ListRequest::from_json(json).unwrap().cursor);
            let page = Page {
                total: 1,
                songs: vec![song(0)],
                next: None,
            };
            second
                .send(frame.request_id, Message::Page(page.to_json().into()))
                .await;
        }
        cursors
    });
    let dir = tempfile::tempdir().unwrap();
    let output = run_jukebox_against(addr, &dir.path().join("out.wav"), "list\nmore\nlist\n").await;
    assert_eq!(
        output.status.code(),
        Some(1),
        "a failed command: {output:?}"
    );
    let errors = stderr_lines(&output);
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert_eq!(errors[0], "songs 1-10 of 25; type more for the next page");
    assert!(
        errors[1].contains("WARN") && errors[1].contains("serves another catalog now"),
        "{errors:?}"
    );
    assert_eq!(
        errors[2],
        "error: the server now serves another catalog (bbbbbbbbbbbb); list or search again"
    );
    assert_eq!(stdout_lines(&output).len(), PAGE + 1);
    assert_eq!(within(server).await.unwrap(), [None]);
}
