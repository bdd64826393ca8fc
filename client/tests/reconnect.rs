//! A server that closes the connection in the middle of a song (as an idle timeout does while the
//! read-ahead is full): the client reconnects, fetches the next segment again, and the song plays
//! on without a gap or a repeated sample.

mod common;

use common::fake_server::{listen, Peer};
use common::*;
use jukebox_protocol::{Manifest, Message};
use jukebox_segmenter::{segment_file, DEFAULT_SEGMENT_DURATION};

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
    manifest.frames = manifest.segments.iter().map(|s| u64::from(s.frames)).sum();
    manifest.samples = manifest.segments.iter().map(|s| s.samples).sum();
    manifest.duration_ms = manifest.samples * 1000 / u64::from(manifest.sample_rate);
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
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("out.wav");
    let output = run_jukebox_against(addr, &wav, "play 1\nwait\n").await;
    assert!(output.status.success(), "{output:?}");
    let lines = stdout_lines(&output);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("playing 1: Small Hours"), "{lines:?}");
    assert_eq!(lines[1], "finished 1");
    let played = read_wav(&wav);
    assert_eq!((played.0, played.1), (expected.0, expected.1));
    assert_eq!(played.2.len(), expected.2.len());
    assert!(played.2 == expected.2, "the samples differ");
    within(server).await.unwrap();
}
