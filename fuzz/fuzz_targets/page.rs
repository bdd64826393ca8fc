//! Arbitrary bytes as a PAGE payload: the parser must never panic, and what it accepts must obey
//! the page's rules (IDs in range and unique, no more songs than the total, a sane cursor) and
//! survive a round trip through its encoder.
#![no_main]

use std::collections::HashSet;

use jukebox_protocol::document::MAX_SAFE_INTEGER;
use jukebox_protocol::page::MAX_CURSOR_BYTES;
use jukebox_protocol::{Page, MAX_SONG_ID};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(page) = Page::from_json(data) else {
        return;
    };
    let mut ids = HashSet::new();
    for song in &page.songs {
        assert!((1..=MAX_SONG_ID).contains(&song.id));
        assert!(ids.insert(song.id), "an ID twice");
        assert!(song.duration_ms <= MAX_SAFE_INTEGER);
    }
    assert!(page.songs.len() as u64 <= page.total && page.total <= MAX_SAFE_INTEGER);
    assert!(page
        .next
        .as_ref()
        .is_none_or(|c| !c.is_empty() && c.len() <= MAX_CURSOR_BYTES));
    let again = Page::from_json(&page.to_json()).expect("an encoded page parses");
    assert_eq!(again, page);
});
