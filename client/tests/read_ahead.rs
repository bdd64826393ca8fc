//! The fetcher stays a few seconds ahead of what has been played, measured in real audio: a
//! manifest whose sample counts lie cannot make the client fetch (and decode) the whole song at
//! once.

mod common;

use jukebox_client::output::OutputSpec;
use jukebox_client::player::{Player, ReadAhead};
use jukebox_client::Client;
use jukebox_protocol::Message;
use jukebox_segmenter::{segment_file, DEFAULT_SEGMENT_DURATION};
use jukebox_test_kit::wire::{listen, Peer};
use jukebox_test_kit::{music_dir, within};
use tokio::sync::{mpsc, oneshot};

/// Seconds of audio fetched beyond what has been played that the test tolerates.
const TOLERATED_AHEAD: f64 = 10.0;
/// The segment request at which the test stops: 6 segments are 12 s, more than tolerated.
const LAST_CHECKED: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_ahead_follows_the_audio_not_the_manifest_sample_counts() {
    let song = segment_file(
        &music_dir().join("04-long-road.mp3"),
        DEFAULT_SEGMENT_DURATION,
    )
    .unwrap();
    let rate = f64::from(song.manifest.sample_rate);
    let real_seconds: Vec<f64> = song
        .manifest
        .segments
        .iter()
        .map(|s| s.samples as f64 / rate)
        .collect();
    assert!(real_seconds[..LAST_CHECKED].iter().sum::<f64>() > TOLERATED_AHEAD);
    // Every segment claims one sample: by the manifest, the whole song is a few milliseconds.
    let mut lying = song.manifest.clone();
    lying.id = 1;
    for segment in &mut lying.segments {
        segment.samples = 1;
    }
    lying.samples = lying.segments.len() as u64;
    lying.validate().unwrap();

    let (listener, addr) = listen().await;
    let (requests_tx, mut requests) = mpsc::unbounded_channel();
    let segments = song.segments.clone();
    let server = tokio::spawn(async move {
        let mut peer = Peer::accept(&listener).await;
        while let Some(frame) = peer.recv().await {
            let Message::GetSegment { song: 1, index } = frame.message else {
                continue;
            };
            // Hold the answer until the test has looked at the player.
            let (go_tx, go) = oneshot::channel();
            if requests_tx.send((index as usize, go_tx)).is_err() || go.await.is_err() {
                return;
            }
            peer.send_segment(frame.request_id, &segments[index as usize])
                .await;
        }
    });

    let client = within(Client::connect(addr)).await.unwrap();
    let mut player = Player::new(&OutputSpec::Null, ReadAhead::default()).unwrap();
    player.play(client, lying).unwrap();
    loop {
        let (index, go) = within(requests.recv()).await.expect("the client asks on");
        let fetched: f64 = real_seconds[..index].iter().sum();
        let played = player.progress().expect("the song plays").elapsed;
        assert!(
            fetched - played <= TOLERATED_AHEAD,
            "segment {index} requested with {fetched:.1} s fetched and {played:.1} s played"
        );
        if index == LAST_CHECKED {
            break;
        }
        go.send(()).unwrap();
    }
    player.close().unwrap();
    drop(requests);
    within(server).await.unwrap();
}
