//! Loudness normalisation end to end: songs of very different loudness, made here and encoded
//! with lame, served by a real `jukebox-server` (whose segmenter measures them), played one after
//! the other by a real `jukebox` writing a WAV file. The file is cut at the song boundaries (the
//! lengths of the reference decodes) and each part measured with EBU R128: normalised, each song
//! comes out within 0.5 LU of -14 LUFS, or, for one whose peaks would go over -1 dBTP, lowered to
//! keep them at -1 dBTP; every part is its reference decode times one constant gain (nothing is
//! clipped, and each song's gain starts at its first sample); without normalisation the file is
//! the reference decodes, sample for sample.

use std::f32::consts::TAU;
use std::path::{Path, PathBuf};

use jukebox_e2e::audio::encode_samples;
use jukebox_e2e::{decode_file, ids, make_song, read_wav, ClientProcess, Pcm, ServerProcess};

const RATE: u32 = 44_100;
const SECONDS: f32 = 2.5;
const TARGET: f64 = -14.0;
const CEILING: f64 = -1.0;

/// `channels` of the same signal, `f(t)` at time `t` seconds.
fn signal(channels: u16, f: impl Fn(f32) -> f32) -> Vec<f32> {
    let frames = (SECONDS * RATE as f32) as usize;
    (0..frames)
        .flat_map(|i| {
            let value = f(i as f32 / RATE as f32);
            std::iter::repeat_n(value, usize::from(channels))
        })
        .collect()
}

/// The songs, in play order, with whether normalisation brings each to the target (or, for a
/// song whose peaks would go over the ceiling, leaves them at the ceiling instead).
fn songs(dir: &Path) -> Vec<(&'static str, PathBuf, bool)> {
    let encode = |name, title, channels, samples: Vec<f32>| {
        encode_samples(dir, name, title, (RATE, channels), &samples, &["-b", "192"])
    };
    // About -23 LUFS: raised 9 dB.
    let whisper = encode(
        "whisper",
        "Whisper",
        2,
        signal(2, |t| 0.07 * (TAU * 440.0 * t).sin()),
    );
    // A nearly square wave close to full scale, about -3 LUFS: lowered 11 dB.
    let roar = encode(
        "roar",
        "Roar",
        2,
        signal(2, |t| 0.9 * (4.0 * (TAU * 220.0 * t).sin()).tanh()),
    );
    // Plucked strings, as the other tests' songs: about -21 LUFS with peaks near -5 dBTP, so
    // raised only until its peaks reach -1 dBTP.
    make_song(dir, "pluck", "Pluck", SECONDS, 330, &["-b", "192"]);
    // Mono, measured as dual mono: played on the stereo output it must reach the target too.
    let mono = encode(
        "mono",
        "Mono",
        1,
        signal(1, |t| 0.5 * (TAU * 550.0 * t).sin()),
    );
    // A millisecond of 3 kHz near full scale every 200 ms, and nothing else: about -22 LUFS with
    // peaks near 0 dBTP, so lowered, where the loudness alone would raise it, until its peaks
    // are at -1 dBTP.
    let spikes = encode(
        "spikes",
        "Spikes",
        2,
        signal(2, |t| {
            if t % 0.2 < 0.001 {
                0.95 * (TAU * 3000.0 * t).sin()
            } else {
                0.0
            }
        }),
    );
    vec![
        ("Whisper", whisper, true),
        ("Roar", roar, true),
        ("Pluck", dir.join("pluck.mp3"), false),
        ("Mono", mono, true),
        ("Spikes", spikes, false),
    ]
}

/// Starts a client that queues `order`, plays it, prints `status --json` once the first song
/// plays, and waits for the end.
fn play_queue(server: &ServerProcess, wav: &Path, order: &[u64], normalize: &str) -> ClientProcess {
    let mut client = ClientProcess::start_with(server.addr, wav, &["--normalize", normalize]);
    client.send("normalize");
    for id in order {
        client.send(&format!("add {id}"));
    }
    client.send("play");
    client.send("status --json");
    client.send("wait");
    client
}

/// The gain `part` is `reference` multiplied by, failing unless every sample is exactly that
/// (to float rounding): no clipping, no limiter, no ramp at the start.
fn constant_gain(title: &str, part: &[f32], reference: &[f32]) -> f64 {
    assert_eq!(part.len(), reference.len(), "{title}: length");
    let (mut cross, mut energy) = (0.0f64, 0.0f64);
    for (&p, &r) in part.iter().zip(reference) {
        cross += f64::from(p) * f64::from(r);
        energy += f64::from(r) * f64::from(r);
    }
    let gain = cross / energy;
    let worst = part
        .iter()
        .zip(reference)
        .map(|(&p, &r)| (f64::from(p) - gain * f64::from(r)).abs())
        .fold(0.0, f64::max);
    assert!(
        worst < 1e-5,
        "{title}: not one gain: off by {worst} at worst"
    );
    gain
}

#[test]
fn songs_of_very_different_loudness_play_at_the_target_and_never_clip() {
    let dir = tempfile::tempdir().unwrap();
    let music = dir.path().join("music");
    std::fs::create_dir(&music).unwrap();
    let songs = songs(&music);
    let server = ServerProcess::start(&music);
    let ids = ids(&server, dir.path());
    let order: Vec<u64> = songs.iter().map(|(title, ..)| ids[*title]).collect();

    // Both play at once, in real time.
    let track_wav = dir.path().join("track.wav");
    let off_wav = dir.path().join("off.wav");
    let track = play_queue(&server, &track_wav, &order, "track");
    let off = play_queue(&server, &off_wav, &order, "off");
    let status = track.expect("status --json", |l| l.starts_with('{'));
    let (exit, stdout, stderr) = track.finish();
    assert!(exit.success(), "{stdout:?} {stderr:?}");
    assert!(stdout.iter().any(|l| l == "normalize track"), "{stdout:?}");
    let (exit, off_stdout, stderr) = off.finish();
    assert!(exit.success(), "{off_stdout:?} {stderr:?}");
    assert!(
        off_stdout.iter().any(|l| l == "normalize off"),
        "{off_stdout:?}"
    );

    // The references, on the output's format (the first song's: 44.1 kHz stereo).
    let references: Vec<Pcm> = songs
        .iter()
        .map(|(_, path, _)| {
            let pcm = decode_file(path);
            if pcm.channels == 1 {
                pcm.to_stereo()
            } else {
                pcm
            }
        })
        .collect();
    let all: Vec<f32> = references
        .iter()
        .flat_map(|r| r.samples.iter().copied())
        .collect();

    let off = read_wav(&off_wav);
    assert_eq!((off.sample_rate, off.channels), (RATE, 2));
    let first_difference = off
        .samples
        .iter()
        .zip(&all)
        .position(|(a, b)| a.to_bits() != b.to_bits());
    assert_eq!(
        (first_difference, off.samples.len()),
        (None, all.len()),
        "--normalize off plays the reference decodes: first difference, length"
    );

    let played = read_wav(&track_wav);
    assert_eq!((played.sample_rate, played.channels), (RATE, 2));
    assert_eq!(
        played.samples.len(),
        all.len(),
        "the whole queue was played"
    );
    let mut at = 0;
    let mut gains_db = Vec::new();
    for ((title, _, to_target), reference) in songs.iter().zip(&references) {
        let part = Pcm {
            samples: played.samples[at..at + reference.samples.len()].to_vec(),
            ..reference.clone()
        };
        at += reference.samples.len();
        let gain_db = 20.0 * constant_gain(title, &part.samples, &reference.samples).log10();
        let (before, peak_before) = reference.loudness();
        let (after, peak_after) = part.loudness();
        // The song is of the kind it is meant to be, and within the client's +12 dB.
        let (wanted, headroom) = (TARGET - before, CEILING - peak_before);
        assert_eq!(
            wanted <= headroom,
            *to_target,
            "{title}: {before} LUFS, {peak_before} dBTP"
        );
        assert!(wanted < 12.0, "{title}: {before} LUFS");
        eprintln!(
            "{title}: {before:.2} LUFS, {peak_before:.2} dBTP; gain {gain_db:+.2} dB; \
             played at {after:.2} LUFS, {peak_after:.2} dBTP"
        );
        assert!(peak_after <= CEILING + 0.001, "{title}: peak {peak_after}");
        if *to_target {
            assert!((after - TARGET).abs() <= 0.5, "{title}: {after} LUFS");
        } else {
            // Lowered (from a wanted boost) just far enough to keep its peaks at the ceiling.
            assert!(
                after < TARGET - 0.5 && before < TARGET,
                "{title}: {after} LUFS"
            );
            assert!(
                (peak_after - CEILING).abs() <= 0.02,
                "{title}: peak {peak_after}"
            );
        }
        gains_db.push(gain_db);
    }

    // status --json says the gain of the song playing.
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["normalize"], "track", "{status}");
    let said = status["gain_db"].as_f64().expect("a gain");
    assert!(
        (said - gains_db[0]).abs() <= 0.01,
        "{status} vs {gains_db:?}"
    );
}
