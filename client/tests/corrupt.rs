//! A segment whose bytes do not match the manifest's SHA-256 stops the song with an error, and
//! nothing of it is played.

mod common;

use bytes::Bytes;
use common::*;
use jukebox_protocol::{Manifest, Message, SegmentInfo};
use jukebox_test_kit::songs::{manifest, recount, segment_info};
use jukebox_test_kit::wire::{listen, Peer};
use jukebox_test_kit::{read_wav, within};

/// Song 1, "Tampered": one MPEG-2 frame (22.05 kHz mono) whose manifest has the hash of
/// "0123456789".
fn tampered() -> Manifest {
    let segment = SegmentInfo {
        samples: 576,
        ..segment_info(0, b"0123456789")
    };
    let mut tampered = Manifest {
        title: "Tampered".into(),
        mpeg_version: "2".into(),
        sample_rate: 22_050,
        channels: 1,
        bitrate: 48_000,
        ..manifest(1, vec![segment])
    };
    recount(&mut tampered);
    tampered
}

#[tokio::test]
async fn a_corrupt_segment_stops_the_song_with_an_error() {
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut peer = Peer::accept(&listener).await;
        while let Some(frame) = peer.recv().await {
            let reply = match frame.message {
                Message::GetManifest { song: 1 } => Message::Manifest(tampered().to_json().into()),
                Message::GetSegment { song: 1, index: 0 } => Message::Data {
                    end: true,
                    bytes: Bytes::from_static(b"9876543210"),
                },
                other => panic!("unexpected {other:?}"),
            };
            peer.send(frame.request_id, reply).await;
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("out.wav");
    let output = run_jukebox_against(addr, &wav, "play 1\nwait\n").await;
    // A song that failed is a failed command: exit status 1, the error on stderr.
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(
        stdout_lines(&output),
        ["playing 1: Tampered (0:00)", "stopped 1"]
    );
    assert_eq!(
        stderr_lines(&output),
        ["error: song 1: segment 0 of song 1 failed verification (SHA-256 mismatch); playback stopped"]
    );
    assert!(read_wav(&wav).samples.is_empty());
    within(server).await.unwrap();
}
