//! How songs and events are written: one line each, stable, easy for people and scripts to read.
//!
//! ```text
//!   3  Small Hours — Jukebox Ensemble (0:12)      list (id first, right-aligned to 3)
//! playing 3: Small Hours — Jukebox Ensemble (0:12)
//! finished 3
//! stopped 3
//! error: unknown song 42
//! ```

use std::borrow::Cow;

use jukebox_protocol::{Manifest, SongSummary};

/// `text` with every control character (escape sequences, newlines) replaced by U+FFFD. Titles
/// and error messages come from the server; written raw, they could move the cursor, clear the
/// screen or forge output lines.
pub fn printable(text: &str) -> Cow<'_, str> {
    if text.chars().any(char::is_control) {
        Cow::Owned(
            text.chars()
                .map(|c| if c.is_control() { '\u{fffd}' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(text)
    }
}

/// "m:ss", rounded down.
pub fn minutes(ms: u64) -> String {
    let seconds = ms / 1000;
    format!("{}:{:02}", seconds / 60, seconds % 60)
}

fn describe(title: &str, artist: &str, duration_ms: u64) -> String {
    let (title, artist) = (printable(title), printable(artist));
    if artist.is_empty() {
        format!("{title} ({})", minutes(duration_ms))
    } else {
        format!("{title} — {artist} ({})", minutes(duration_ms))
    }
}

/// A line of `list`.
pub fn song_line(song: &SongSummary) -> String {
    format!(
        "{:>3}  {}",
        song.id,
        describe(&song.title, &song.artist, song.duration_ms)
    )
}

/// The line printed when a song starts.
pub fn playing_line(manifest: &Manifest) -> String {
    format!(
        "playing {}: {}",
        manifest.id,
        describe(&manifest.title, &manifest.artist, manifest.duration_ms)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_songs() {
        assert_eq!(minutes(0), "0:00");
        assert_eq!(minutes(12_999), "0:12");
        assert_eq!(minutes(61_000), "1:01");
        let song = SongSummary {
            id: 3,
            title: "Small Hours".into(),
            artist: "Jukebox Ensemble".into(),
            album: String::new(),
            duration_ms: 12_500,
            segments: 7,
        };
        assert_eq!(
            song_line(&song),
            "  3  Small Hours — Jukebox Ensemble (0:12)"
        );
        let anonymous = SongSummary {
            artist: String::new(),
            ..song
        };
        assert_eq!(song_line(&anonymous), "  3  Small Hours (0:12)");
    }

    #[test]
    fn control_characters_from_the_server_are_not_printed() {
        let song = SongSummary {
            id: 1,
            title: "Clear\x1b[2J\nfinished 9".into(),
            artist: "\x07".into(),
            album: String::new(),
            duration_ms: 0,
            segments: 1,
        };
        assert_eq!(
            song_line(&song),
            "  1  Clear\u{fffd}[2J\u{fffd}finished 9 — \u{fffd} (0:00)"
        );
        assert_eq!(printable("plain — text"), "plain — text");
    }
}
