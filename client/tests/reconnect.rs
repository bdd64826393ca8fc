//! A server that closes the connection in the middle of a song (as an idle timeout does while the
//! read-ahead is full): the client reconnects, fetches the next segment again, and the song plays
//! on without a gap or a repeated sample.

mod common;

use std::process::Output;

use common::*;
use jukebox_protocol::{Manifest, Message};
use jukebox_segmenter::{segment_file, DEFAULT_SEGMENT_DURATION};
use jukebox_test_kit::songs::recount;
use jukebox_test_kit::wire::{listen, Peer};
use jukebox_test_kit::{decode_bytes, music_dir, read_wav, within, Pcm};

/// The first `n` segments of song 3 as a song of their own (short, to keep the test fast).
fn short_song(n: usize) -> (Manifest, Vec<bytes::Bytes>) {
    let song = segment_file(
        &music_dir().join("03-small-hours.mp3"),
        DEFAULT_SEGMENT_DURATION,
    )
    .unwrap();
    let mut manifest = song.manifest;
    manifest.id = 1;
    manifest.segments.truncate(n);
    recount(&mut manifest);
    manifest.validate().unwrap();
    (manifest, song.segments[..n].to_vec())
}

/// Answers requests until it has sent `close_after` segments (then closes), or the client leaves.
async fn serve(
    peer: &mut Peer,
    manifest: &Manifest,
    segments: &[bytes::Bytes],
    close_after: usize,
) {
    let mut sent = 0;
    while let Some(frame) = peer.recv().await {
        match frame.message {
            Message::GetManifest { song: 1 } => {
                peer.send(
                    frame.request_id,
                    Message::Manifest(manifest.to_json().into()),
                )
                .await
            }
            Message::GetSegment { song: 1, index } => {
                peer.send_segment(frame.request_id, &segments[index as usize])
                    .await;
                sent += 1;
                if sent == close_after {
                    return;
                }
            }
            Message::Cancel => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Plays song 1 from the server at `addr` into a WAV file; checks that it played to its end and
/// that the WAV holds `expected`, sample for sample.
async fn plays_to_the_end(addr: String, expected: &Pcm) {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("out.wav");
    let output = run_jukebox_against(addr, &wav, "play 1\nwait\n").await;
    assert!(output.status.success(), "{output:?}");
    let lines = stdout_lines(&output);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("playing 1: Small Hours"), "{lines:?}");
    assert_eq!(lines[1], "finished 1");
    let played = read_wav(&wav);
    assert_eq!(
        (played.sample_rate, played.channels),
        (expected.sample_rate, expected.channels)
    );
    assert_eq!(played.samples.len(), expected.samples.len());
    assert!(played.samples == expected.samples, "the samples differ");
}

#[tokio::test]
async fn a_connection_closed_mid_song_is_reopened_and_the_song_plays_on() {
    let (manifest, segments) = short_song(2);
    let expected = decode_bytes(segments.concat());
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut first = Peer::accept(&listener).await;
        serve(&mut first, &manifest, &segments, 1).await;
        drop(first);
        let mut second = Peer::accept(&listener).await;
        serve(&mut second, &manifest, &segments, usize::MAX).await;
    });
    plays_to_the_end(addr, &expected).await;
    within(server).await.unwrap();
}

/// A full server (or one source's share of a replica, behind a balancer) answers the reconnect
/// with SERVER_BUSY: the client tries again within its deadline and the song plays on.
#[tokio::test]
async fn a_busy_server_on_reconnect_is_tried_again_and_the_song_plays_on() {
    let (manifest, segments) = short_song(2);
    let expected = decode_bytes(segments.concat());
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut first = Peer::accept(&listener).await;
        serve(&mut first, &manifest, &segments, 1).await;
        drop(first);
        let mut busy = Peer::accept_raw(&listener).await;
        let hello = busy.recv().await.expect("a HELLO");
        assert_eq!(hello.request_id, 0);
        let message = "too many connections".to_string();
        let refusal = Message::Error {
            code: jukebox_protocol::ErrorCode::ServerBusy,
            message,
        };
        busy.send(0, refusal).await;
        drop(busy);
        let mut third = Peer::accept(&listener).await;
        serve(&mut third, &manifest, &segments, usize::MAX).await;
    });
    plays_to_the_end(addr, &expected).await;
    within(server).await.unwrap();
}

/// Serves the manifest and segments until the client asks for segment `goaway_at`: then sends
/// GOAWAY, answers that request in full, and returns once the client has closed its side without
/// asking anything more here.
async fn serve_until_goaway(
    peer: &mut Peer,
    manifest: &Manifest,
    segments: &[bytes::Bytes],
    goaway_at: u32,
) {
    while let Some(frame) = peer.recv().await {
        match frame.message {
            Message::GetManifest { song: 1 } => {
                peer.send(
                    frame.request_id,
                    Message::Manifest(manifest.to_json().into()),
                )
                .await
            }
            Message::GetSegment { song: 1, index } => {
                if index == goaway_at {
                    let goaway = Message::GoAway {
                        within_ms: 10_000,
                        message: "restarting".into(),
                    };
                    peer.send(0, goaway).await;
                }
                peer.send_segment(frame.request_id, &segments[index as usize])
                    .await;
                if index == goaway_at {
                    break;
                }
            }
            Message::Cancel => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    // Nothing more is asked here: the client closes its side once the request has finished.
    assert_eq!(peer.recv().await, None, "a request after GOAWAY");
}

#[tokio::test]
async fn after_goaway_the_request_finishes_and_the_song_plays_on_from_a_new_connection() {
    let (manifest, segments) = short_song(3);
    let expected = decode_bytes(segments.concat());
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut first = Peer::accept(&listener).await;
        serve_until_goaway(&mut first, &manifest, &segments, 1).await;
        let mut second = Peer::accept(&listener).await;
        serve(&mut second, &manifest, &segments, usize::MAX).await;
    });
    plays_to_the_end(addr, &expected).await;
    within(server).await.unwrap();
}

/// The song is served until segment 1 by a server of one catalog, then the connection closes and
/// the client lands on a server of another catalog, which serves `there` as song 1's manifest.
async fn play_across_catalogs(there: impl FnOnce(&Manifest) -> Option<Manifest>) -> Output {
    let (manifest, segments) = short_song(3);
    let other = there(&manifest);
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut first = Peer::accept_serving(&listener, &"a".repeat(64)).await;
        serve(&mut first, &manifest, &segments, 1).await;
        drop(first);
        let mut second = Peer::accept_serving(&listener, &"b".repeat(64)).await;
        let ask = second.recv().await.expect("the manifest asked for again");
        assert_eq!(ask.message, Message::GetManifest { song: 1 });
        match other {
            Some(other) => {
                second
                    .send(ask.request_id, Message::Manifest(other.to_json().into()))
                    .await;
                if other == manifest {
                    serve(&mut second, &manifest, &segments, usize::MAX).await;
                } else {
                    // Not one segment asked for.
                    assert_eq!(second.recv().await.map(|f| f.message), None);
                }
            }
            None => {
                let unknown = Message::Error {
                    code: jukebox_protocol::ErrorCode::UnknownSong,
                    message: "no song 1".into(),
                };
                second.send(ask.request_id, unknown).await;
                assert_eq!(second.recv().await.map(|f| f.message), None);
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("out.wav");
    let output = run_jukebox_against(addr, &wav, "play 1\nwait\nquit\n").await;
    within(server).await.unwrap();
    output
}

#[tokio::test]
async fn a_server_of_another_catalog_with_the_same_song_plays_it_on() {
    let output = play_across_catalogs(|manifest| Some(manifest.clone())).await;
    assert!(output.status.success(), "{output:?}");
    assert_eq!(stdout_lines(&output)[1], "finished 1", "{output:?}");
    let warned = stderr_lines(&output);
    assert!(
        warned
            .iter()
            .any(|l| l.contains("serves another catalog now")),
        "{warned:?}"
    );
}

#[tokio::test]
async fn a_server_of_another_catalog_with_another_song_is_reported_not_mixed() {
    let output = play_across_catalogs(|manifest| {
        let mut other = manifest.clone();
        other.segments[2].sha256 = "f".repeat(64);
        Some(other)
    })
    .await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let errors = stderr_lines(&output);
    assert!(
        errors.iter().any(|l| l.contains("error: ")
            && l.contains("another catalog (bbbbbbbbbbbb)")
            && l.contains("song 1 has another manifest there")),
        "{errors:?}"
    );
    assert!(!stdout_lines(&output).contains(&"finished 1".to_string()));
}

#[tokio::test]
async fn a_server_of_another_catalog_without_the_song_is_reported() {
    let output = play_across_catalogs(|_| None).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let errors = stderr_lines(&output);
    assert!(
        errors.iter().any(|l| l.contains("song 1 is not in it")),
        "{errors:?}"
    );
}
