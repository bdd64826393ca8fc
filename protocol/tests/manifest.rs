//! Manifests from a peer are checked before anything trusts them.

use jukebox_protocol::{Catalog, Manifest, SegmentInfo, SongSummary};

fn manifest() -> Manifest {
    let segment = |index: u32| SegmentInfo {
        index,
        bytes: 417,
        frames: 1,
        samples: 1152,
        sha256: "ab".repeat(32),
    };
    Manifest {
        id: 1,
        title: "Morning Steps".into(),
        artist: "Jukebox Ensemble".into(),
        album: String::new(),
        codec: "mp3".into(),
        mpeg_version: "1".into(),
        sample_rate: 44_100,
        channels: 2,
        bitrate: 128_000,
        frames: 2,
        samples: 2304,
        duration_ms: 52,
        encoder_delay: 576,
        encoder_padding: 0,
        segments: vec![segment(0), segment(1)],
    }
}

#[test]
fn a_manifest_round_trips_through_json() {
    let m = manifest();
    assert_eq!(Manifest::from_json(&m.to_json()).unwrap(), m);
}

/// A way to spoil a manifest, and its name.
type Breakage = (&'static str, fn(&mut Manifest));

#[test]
fn inconsistent_manifests_are_rejected() {
    let cases: Vec<Breakage> = vec![
        ("index gap", |m| m.segments[1].index = 2),
        ("empty segment", |m| m.segments[0].bytes = 0),
        ("short hash", |m| m.segments[0].sha256.truncate(63)),
        ("uppercase hash", |m| m.segments[0].sha256 = "AB".repeat(32)),
        ("frame sum", |m| m.frames = 3),
        ("sample sum", |m| m.samples = 1),
        ("no segments", |m| {
            m.segments.clear();
            m.frames = 0;
            m.samples = 0;
        }),
        ("codec", |m| m.codec = "flac".into()),
        ("version", |m| m.mpeg_version = "3".into()),
        ("channels", |m| m.channels = 6),
        ("rate", |m| m.sample_rate = 0),
    ];
    for (name, break_it) in cases {
        let mut m = manifest();
        break_it(&mut m);
        assert!(
            Manifest::from_json(&m.to_json()).is_err(),
            "{name} accepted"
        );
    }
}

#[test]
fn unknown_fields_and_wrong_types_are_rejected() {
    assert!(Manifest::from_json(b"{}").is_err());
    assert!(Manifest::from_json(b"not json").is_err());
    let mut value: serde_json::Value = serde_json::from_slice(&manifest().to_json()).unwrap();
    value["extra"] = 1.into();
    assert!(Manifest::from_json(&serde_json::to_vec(&value).unwrap()).is_err());
    let mut value: serde_json::Value = serde_json::from_slice(&manifest().to_json()).unwrap();
    value["sample_rate"] = "fast".into();
    assert!(Manifest::from_json(&serde_json::to_vec(&value).unwrap()).is_err());
}

#[test]
fn a_catalog_round_trips_through_json() {
    let catalog = Catalog {
        songs: vec![SongSummary {
            id: 1,
            title: "Blue Tide".into(),
            artist: String::new(),
            album: String::new(),
            duration_ms: 25_000,
            segments: 13,
        }],
    };
    assert_eq!(Catalog::from_json(&catalog.to_json()).unwrap(), catalog);
    assert!(Catalog::from_json(b"[1,2]").is_err());
}
