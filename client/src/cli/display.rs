//! How songs and events are written: one line each, stable, easy for people and scripts to read.
//!
//! ```text
//!   3  Small Hours — Jukebox Ensemble (0:12)      list (ID first, right-aligned in its page)
//! playing 3: Small Hours — Jukebox Ensemble (0:12)
//! finished 3
//! stopped 3
//! error: unknown song 42
//! ```

use std::borrow::Cow;

use jukebox_protocol::{Manifest, SongSummary};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

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

/// Columns `text` takes on a terminal (wide characters count two). `text` must be printable.
pub fn width(text: &str) -> usize {
    text.width()
}

/// `text` cut to at most `max` columns, ending with "…" when something was cut.
pub fn truncate(text: &str, max: usize) -> Cow<'_, str> {
    if text.width() <= max {
        return Cow::Borrowed(text);
    }
    if max == 0 {
        return Cow::Borrowed("");
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > max - 1 {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    Cow::Owned(out)
}

/// "m:ss", rounded down.
pub fn minutes(ms: u64) -> String {
    let seconds = ms / 1000;
    format!("{}:{:02}", seconds / 60, seconds % 60)
}

/// "Title — Artist", or the title alone.
pub fn title_and_artist(title: &str, artist: &str) -> String {
    let (title, artist) = (printable(title), printable(artist));
    if artist.is_empty() {
        title.into_owned()
    } else {
        format!("{title} — {artist}")
    }
}

fn describe(title: &str, artist: &str, duration_ms: u64) -> String {
    format!(
        "{} ({})",
        title_and_artist(title, artist),
        minutes(duration_ms)
    )
}

/// The width that right-aligns every ID of `songs`: song IDs can have one digit or sixteen.
pub fn id_width<'a>(songs: impl IntoIterator<Item = &'a SongSummary>) -> usize {
    songs
        .into_iter()
        .map(|s| s.id.to_string().len())
        .max()
        .unwrap_or(0)
        .max(3)
}

/// A line of `list` and `search`, the ID right-aligned to `id_width` columns.
pub fn song_line(song: &SongSummary, id_width: usize) -> String {
    format!(
        "{:>id_width$}  {}",
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

/// "1 song", "2 songs": a count with its noun.
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn song(id: u64, title: &str, artist: &str) -> SongSummary {
        SongSummary {
            id,
            title: title.into(),
            artist: artist.into(),
            album: String::new(),
            duration_ms: 12_500,
            segments: 7,
        }
    }

    #[test]
    fn formats_songs() {
        assert_eq!(minutes(0), "0:00");
        assert_eq!(minutes(12_999), "0:12");
        assert_eq!(minutes(61_000), "1:01");
        let small = song(3, "Small Hours", "Jukebox Ensemble");
        assert_eq!(
            song_line(&small, 3),
            "  3  Small Hours — Jukebox Ensemble (0:12)"
        );
        assert_eq!(
            song_line(&song(3, "Small Hours", ""), 3),
            "  3  Small Hours (0:12)"
        );
        let big = song(4_503_599_627_370_496, "Long Road", "");
        let width = id_width([&small, &big]);
        assert_eq!(width, 16);
        assert_eq!(
            song_line(&small, width),
            "               3  Small Hours — Jukebox Ensemble (0:12)"
        );
        assert_eq!(count(1, "song"), "1 song");
        assert_eq!(count(0, "song"), "0 songs");
    }

    #[test]
    fn control_characters_from_the_server_are_not_printed() {
        let song = song(1, "Clear\x1b[2J\nfinished 9", "\x07");
        assert_eq!(
            song_line(&song, 3),
            "  1  Clear\u{fffd}[2J\u{fffd}finished 9 — \u{fffd} (0:12)"
        );
        assert_eq!(printable("plain — text"), "plain — text");
    }

    #[test]
    fn truncates_by_columns_with_an_ellipsis() {
        assert_eq!(truncate("Small Hours", 20), "Small Hours");
        assert_eq!(truncate("Small Hours", 6), "Small…");
        assert_eq!(truncate("Small Hours", 1), "…");
        assert_eq!(truncate("Small Hours", 0), "");
        // Wide characters take two columns and are never split.
        assert_eq!(truncate("日本語の歌", 6), "日本…");
        assert_eq!(width(&truncate("日本語の歌", 6)), 5);
    }
}
