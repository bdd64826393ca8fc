//! Tab completion at the prompt. Command names complete from the command table; a song after
//! `play` completes from the songs this client has listed or searched ([`KnownSongs`]) when an ID
//! is being typed, and from a search on the server when words are: one match becomes its ID,
//! several are shown with their titles. Pure functions; the command loop sends the search.

use std::collections::{HashMap, VecDeque};

use jukebox_protocol::{Page, SongSummary};

use super::command::{self, Arguments, ALL_FLAG, COMMANDS};
use super::display::{id_width, song_line};

/// Songs shown at most for one Tab.
pub const MAX_SHOWN: usize = 12;

/// Songs remembered for completing IDs.
const MAX_KNOWN: usize = 10_000;

/// What a Tab does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// Nothing to complete.
    Nothing,
    /// The line becomes this, the cursor at its end.
    Line(String),
    /// Candidates shown above the prompt (with their titles, for songs); the line becomes
    /// `line` unless that is empty.
    Choices { line: String, shown: String },
    /// Ask the server for the songs matching `query`, then call [`after_search`] with `line`.
    Search { line: String, query: String },
}

/// The songs seen in pages and manifests, newest last, for completing IDs.
#[derive(Default)]
pub struct KnownSongs {
    songs: HashMap<u64, SongSummary>,
    order: VecDeque<u64>,
}

impl KnownSongs {
    pub fn remember(&mut self, song: &SongSummary) {
        if self.songs.insert(song.id, song.clone()).is_none() {
            self.order.push_back(song.id);
            if self.order.len() > MAX_KNOWN {
                if let Some(old) = self.order.pop_front() {
                    self.songs.remove(&old);
                }
            }
        }
    }

    /// The songs whose ID starts with `digits`, in the order they were seen.
    fn with_prefix(&self, digits: &str) -> Vec<&SongSummary> {
        self.order
            .iter()
            .filter(|id| id.to_string().starts_with(digits))
            .filter_map(|id| self.songs.get(id))
            .collect()
    }
}

/// Completes `line`, whose cursor is at its end.
pub fn complete(line: &str, known: &KnownSongs) -> Completion {
    let Some((name, rest)) = line.trim_start().split_once(' ') else {
        return complete_command(line.trim_start());
    };
    let Some(spec) = command::find(name) else {
        return Completion::Nothing;
    };
    let head = &line[..line.len() - rest.len()];
    let rest_trimmed = rest.trim_start();
    let last_word = rest.rsplit(' ').next().unwrap_or("");
    match spec.arguments {
        Arguments::None
        | Arguments::Position
        | Arguments::Place
        | Arguments::Volume
        | Arguments::Json => Completion::Nothing,
        Arguments::Mode(modes) => {
            let word = rest_trimmed.to_ascii_lowercase();
            let modes: Vec<&str> = modes
                .iter()
                .copied()
                .filter(|mode| mode.starts_with(&word))
                .collect();
            match modes.as_slice() {
                [mode] => Completion::Line(format!("{head}{mode}")),
                _ => Completion::Nothing,
            }
        }
        Arguments::All | Arguments::Words if !last_word.is_empty() => {
            if ALL_FLAG.starts_with(last_word) && last_word.starts_with('-') {
                Completion::Line(format!(
                    "{}{ALL_FLAG} ",
                    &line[..line.len() - last_word.len()]
                ))
            } else {
                Completion::Nothing
            }
        }
        Arguments::All | Arguments::Words => Completion::Nothing,
        Arguments::Song | Arguments::MaybeSong if command::is_id(rest_trimmed) => complete_id(
            &format!("{head}{}", &rest[..rest.len() - rest_trimmed.len()]),
            rest_trimmed,
            known,
        ),
        Arguments::Song | Arguments::MaybeSong if rest_trimmed.trim().is_empty() => {
            complete_id(line, "", known)
        }
        Arguments::Song | Arguments::MaybeSong => Completion::Search {
            line: head.to_string(),
            query: rest_trimmed.trim().to_string(),
        },
    }
}

fn complete_command(word: &str) -> Completion {
    let word = word.to_ascii_lowercase();
    let names: Vec<&str> = COMMANDS
        .iter()
        .map(|spec| spec.name)
        .filter(|name| name.starts_with(&word))
        .collect();
    match names.as_slice() {
        [] => Completion::Nothing,
        [name] => Completion::Line(format!("{name} ")),
        several => Completion::Choices {
            line: common_prefix(several.iter().copied()),
            shown: several.join("  "),
        },
    }
}

fn complete_id(head: &str, digits: &str, known: &KnownSongs) -> Completion {
    let songs = known.with_prefix(digits);
    match songs.as_slice() {
        [] => Completion::Nothing,
        [song] => Completion::Choices {
            line: format!("{head}{} ", song.id),
            shown: shown(&[song], 1),
        },
        several => {
            let ids: Vec<String> = several.iter().map(|s| s.id.to_string()).collect();
            let prefix = common_prefix(ids.iter().map(String::as_str));
            Completion::Choices {
                line: format!("{head}{prefix}"),
                shown: shown(several, several.len() as u64),
            }
        }
    }
}

/// What a Tab does once the server has answered the search of [`Completion::Search`].
pub fn after_search(line: &str, query: &str, page: &Page) -> Completion {
    match page.songs.as_slice() {
        [song] if page.total == 1 => Completion::Choices {
            line: format!("{line}{} ", song.id),
            shown: shown(&[song], 1),
        },
        [] => Completion::Choices {
            line: String::new(),
            shown: format!("no song matches {query:?}"),
        },
        songs => Completion::Choices {
            line: String::new(),
            shown: shown(&songs.iter().collect::<Vec<_>>(), page.total),
        },
    }
}

/// Up to [`MAX_SHOWN`] song lines, and how many more there are.
pub fn shown(songs: &[&SongSummary], total: u64) -> String {
    let songs = &songs[..songs.len().min(MAX_SHOWN)];
    let width = id_width(songs.iter().copied());
    let mut lines: Vec<String> = songs.iter().map(|s| song_line(s, width)).collect();
    let more = total.saturating_sub(songs.len() as u64);
    if more > 0 {
        lines.push(format!("… and {more} more"));
    }
    lines.join("\n")
}

fn common_prefix<'a>(mut words: impl Iterator<Item = &'a str>) -> String {
    let Some(first) = words.next() else {
        return String::new();
    };
    let mut prefix = first.to_string();
    for word in words {
        let common = prefix
            .chars()
            .zip(word.chars())
            .take_while(|(a, b)| a == b)
            .count();
        prefix = prefix.chars().take(common).collect();
    }
    prefix
}

#[cfg(test)]
mod tests {
    use super::*;

    fn song(id: u64, title: &str) -> SongSummary {
        SongSummary {
            id,
            title: title.into(),
            artist: String::new(),
            album: String::new(),
            duration_ms: 1000,
            segments: 1,
        }
    }

    #[test]
    fn commands_complete_by_prefix() {
        let known = KnownSongs::default();
        assert_eq!(complete("pl", &known), Completion::Line("play ".into()));
        assert_eq!(complete("sea", &known), Completion::Line("search ".into()));
        assert_eq!(
            complete("s", &known),
            Completion::Choices {
                line: "s".into(),
                shown: "search  shuffle  seek  status  stop".into()
            }
        );
        assert_eq!(complete("x", &known), Completion::Nothing);
        assert_eq!(
            complete("list --a", &known),
            Completion::Line("list --all ".into())
        );
        assert_eq!(complete("stop ", &known), Completion::Nothing);
    }

    #[test]
    fn song_ids_complete_from_the_songs_seen_with_their_titles() {
        let mut known = KnownSongs::default();
        known.remember(&song(4_503_599_627_370_496, "Morning Steps"));
        known.remember(&song(4_503_599_627_999_001, "Blue Tide"));
        known.remember(&song(7_000_000_000_000_001, "Small Hours"));
        assert_eq!(
            complete("play 7", &known),
            Completion::Choices {
                line: "play 7000000000000001 ".into(),
                shown: "7000000000000001  Small Hours (0:01)".into()
            }
        );
        match complete("play 45", &known) {
            Completion::Choices { line, shown } => {
                assert_eq!(line, "play 4503599627");
                assert!(shown.contains("4503599627370496  Morning Steps"), "{shown}");
                assert!(shown.contains("Blue Tide"), "{shown}");
                assert!(!shown.contains("Small Hours"), "{shown}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(complete("play 9", &known), Completion::Nothing);
    }

    #[test]
    fn words_after_play_are_searched() {
        let known = KnownSongs::default();
        assert_eq!(
            complete("play small ho", &known),
            Completion::Search {
                line: "play ".into(),
                query: "small ho".into()
            }
        );
        let one = Page {
            total: 1,
            songs: vec![song(42, "Small Hours")],
            next: None,
        };
        assert_eq!(
            after_search("play ", "small ho", &one),
            Completion::Choices {
                line: "play 42 ".into(),
                shown: " 42  Small Hours (0:01)".into()
            }
        );
        let many = Page {
            total: 30,
            songs: (1..=20).map(|i| song(i, "Hours")).collect(),
            next: Some("x".into()),
        };
        match after_search("play ", "hours", &many) {
            Completion::Choices { shown, .. } => {
                assert_eq!(shown.lines().count(), MAX_SHOWN + 1);
                assert!(shown.ends_with("… and 18 more"), "{shown}");
            }
            other => panic!("{other:?}"),
        }
    }
}
