//! Manifests from a peer are checked before anything trusts them.

use jukebox_protocol::{ListRequest, Manifest, Page, SegmentInfo, ServerInfo, SongSummary};

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
        loudness_lufs: None,
        true_peak_dbtp: None,
        segments: vec![segment(0), segment(1)],
    }
}

#[test]
fn a_manifest_round_trips_through_json() {
    let m = manifest();
    assert_eq!(Manifest::from_json(&m.to_json()).unwrap(), m);
    let measured = Manifest {
        loudness_lufs: Some(-9.57),
        true_peak_dbtp: Some(0.31),
        ..manifest()
    };
    let json = measured.to_json();
    assert_eq!(Manifest::from_json(&json).unwrap(), measured);
    let text = String::from_utf8(json).unwrap();
    assert!(
        text.contains(
            r#""encoder_padding":0,"loudness_lufs":-9.57,"true_peak_dbtp":0.31,"segments""#
        ),
        "{text}"
    );
}

#[test]
fn loudness_is_optional_and_left_out_when_unknown() {
    let text = String::from_utf8(manifest().to_json()).unwrap();
    assert!(
        !text.contains("loudness") && !text.contains("peak"),
        "{text}"
    );
    let mut value: serde_json::Value = serde_json::from_slice(&manifest().to_json()).unwrap();
    value["loudness_lufs"] = serde_json::Value::Null;
    value["true_peak_dbtp"] = serde_json::Value::Null;
    assert_eq!(
        Manifest::from_json(&serde_json::to_vec(&value).unwrap()).unwrap(),
        manifest()
    );
    // One without the other is allowed; integers are numbers too.
    value["loudness_lufs"] = (-14).into();
    let parsed = Manifest::from_json(&serde_json::to_vec(&value).unwrap()).unwrap();
    assert_eq!(
        (parsed.loudness_lufs, parsed.true_peak_dbtp),
        (Some(-14.0), None)
    );
}

#[test]
fn loudness_out_of_range_or_of_another_type_is_refused() {
    let with = |member: &str, number: &str| {
        let mut json = manifest().to_json();
        json.pop();
        json.extend_from_slice(format!(r#","{member}":{number}}}"#).as_bytes());
        Manifest::from_json(&json)
    };
    for (member, number) in [
        ("loudness_lufs", "-70.01"),
        ("loudness_lufs", "20.5"),
        ("loudness_lufs", "1e400"),
        ("loudness_lufs", r#""-14""#),
        ("loudness_lufs", "{}"),
        ("true_peak_dbtp", "-200.5"),
        ("true_peak_dbtp", "21"),
        ("true_peak_dbtp", "-1e308"),
        ("true_peak_dbtp", "true"),
    ] {
        assert!(with(member, number).is_err(), "{member}: {number} accepted");
    }
    for (member, number) in [
        ("loudness_lufs", "-70"),
        ("loudness_lufs", "20"),
        ("loudness_lufs", "-1.4e1"),
        ("true_peak_dbtp", "-200"),
        ("true_peak_dbtp", "20.0"),
    ] {
        assert!(with(member, number).is_ok(), "{member}: {number} refused");
    }
    let twice = with("loudness_lufs", r#"-14,"loudness_lufs":-15"#);
    assert!(twice.is_err(), "a repeated member is refused");
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
fn wrong_types_are_rejected_and_unknown_members_ignored() {
    assert!(Manifest::from_json(b"{}").is_err());
    assert!(Manifest::from_json(b"not json").is_err());
    // A later version may add members; this one ignores them.
    let mut value: serde_json::Value = serde_json::from_slice(&manifest().to_json()).unwrap();
    value["extra"] = 1.into();
    assert_eq!(
        Manifest::from_json(&serde_json::to_vec(&value).unwrap()).unwrap(),
        manifest()
    );
    let mut value: serde_json::Value = serde_json::from_slice(&manifest().to_json()).unwrap();
    value["sample_rate"] = "fast".into();
    assert!(Manifest::from_json(&serde_json::to_vec(&value).unwrap()).is_err());
}

fn summary(id: u64) -> SongSummary {
    SongSummary {
        id,
        title: "Blue Tide".into(),
        artist: String::new(),
        album: String::new(),
        duration_ms: 25_000,
        segments: 13,
    }
}

#[test]
fn a_page_round_trips_through_json() {
    let page = Page {
        total: 3,
        songs: vec![summary(1), summary(9_007_199_254_740_991)],
        next: Some("a2".into()),
    };
    assert_eq!(Page::from_json(&page.to_json()).unwrap(), page);
    assert!(Page::from_json(b"[1,2]").is_err());
    let last = Page {
        total: 1,
        songs: vec![summary(1)],
        next: None,
    };
    assert_eq!(&last.to_json()[..], br#"{"total":1,"songs":[{"id":1,"title":"Blue Tide","artist":"","album":"","duration_ms":25000,"segments":13}]}"#);
}

#[test]
fn a_page_must_list_each_song_once_with_an_id_in_range() {
    for songs in [
        vec![summary(0)],
        vec![summary(1 << 53)],
        vec![summary(4), summary(4)],
    ] {
        let page = Page {
            total: 2,
            songs,
            next: None,
        };
        assert!(Page::from_json(&page.to_json()).is_err(), "{page:?}");
    }
    let page = Page {
        total: 0,
        songs: vec![summary(1)],
        next: None,
    };
    assert!(
        Page::from_json(&page.to_json()).is_err(),
        "more songs than the total"
    );
}

#[test]
fn documents_ignore_unknown_members_and_refuse_repeated_ones() {
    let json = br#"{"total":1,"songs":[{"id":1,"title":"t","artist":"","album":"","duration_ms":1,"segments":1,"rating":5}],"cursor_hint":"x"}"#;
    assert_eq!(Page::from_json(json).unwrap().songs[0].id, 1);
    let twice = br#"{"total":1,"total":2,"songs":[]}"#;
    assert!(Page::from_json(twice).is_err());
    let mut m = manifest().to_json();
    m.pop();
    m.extend_from_slice(br#","loudness":{"integrated_lufs":-9.5}}"#);
    assert_eq!(Manifest::from_json(&m).unwrap(), manifest());
}

#[test]
fn integers_above_2_to_the_53_are_refused() {
    let json = br#"{"total":9007199254740992,"songs":[]}"#;
    assert!(Page::from_json(json).is_err());
    let json = br#"{"total":9007199254740991,"songs":[]}"#;
    assert_eq!(Page::from_json(json).unwrap().total, (1 << 53) - 1);
}

#[test]
fn a_list_request_is_empty_by_default_and_bounded() {
    assert_eq!(ListRequest::from_json(b"").unwrap(), ListRequest::default());
    assert!(ListRequest::default().to_json().is_empty());
    let request = ListRequest {
        query: "blue tide".into(),
        cursor: Some("a3".into()),
        limit: Some(20),
    };
    assert_eq!(ListRequest::from_json(&request.to_json()).unwrap(), request);
    let long = ListRequest {
        query: "x".repeat(257),
        ..ListRequest::default()
    };
    assert!(ListRequest::from_json(&long.to_json()).is_err());
    assert!(ListRequest::from_json(br#"{"limit":0}"#).is_err());
}

#[test]
fn null_is_an_absent_optional_member_and_no_required_one() {
    let nulls = br#"{"query":null,"cursor":null,"limit":null}"#;
    assert_eq!(
        ListRequest::from_json(nulls).unwrap(),
        ListRequest::default()
    );
    let page = br#"{"total":0,"songs":[],"next":null}"#;
    assert_eq!(Page::from_json(page).unwrap(), Page::default());
    assert!(Page::from_json(br#"{"total":null,"songs":[]}"#).is_err());
    let mut m: serde_json::Value = serde_json::from_slice(&manifest().to_json()).unwrap();
    m["artist"] = serde_json::Value::Null;
    assert!(Manifest::from_json(&serde_json::to_vec(&m).unwrap()).is_err());
}

#[test]
fn server_info_names_its_catalog_by_a_digest() {
    let info = ServerInfo {
        server: "jukebox-server/0.1.0".into(),
        catalog: "ab".repeat(32),
        songs: 4,
        max_page: 500,
    };
    assert_eq!(ServerInfo::from_json(&info.to_json()).unwrap(), info);
    let bad = ServerInfo {
        catalog: "AB".repeat(32),
        ..info
    };
    assert!(ServerInfo::from_json(&bad.to_json()).is_err());
}
