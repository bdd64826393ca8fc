//! The commands a user types, in one table: names, aliases, arguments and help all come from
//! [`COMMANDS`], so `help`, completion and parsing cannot disagree. A new command is one entry
//! here, one variant of [`Command`] and its handler in the command loop.

use super::playlist::Repeat;
use crate::player::Normalize;
use jukebox_protocol::page::MAX_QUERY_BYTES;
use jukebox_protocol::MAX_SONG_ID;

/// One parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// The first page of the song list, or with `all` every page.
    List {
        all: bool,
    },
    /// The songs matching some words.
    Search {
        words: String,
        all: bool,
    },
    /// The next page of the last `list` or `search`.
    More,
    Play(Target),
    /// `play` alone: start the queue where it is.
    PlayQueue,
    /// Append songs to the queue: an ID, or every song matching the words.
    Add(Target),
    /// Show the queue.
    Queue,
    Next,
    Prev,
    Clear,
    /// Remove the entry at this position (1-based, as `queue` shows it).
    Remove(usize),
    Shuffle,
    /// Set the repeat mode, or show it.
    Repeat(Option<Repeat>),
    Seek(SeekTo),
    /// Set the volume (or change it by, when relative), or show it.
    Volume(Option<VolumeTo>),
    /// Mute, or unmute if muted.
    Mute,
    /// Set the loudness normalisation, or show it.
    Normalize(Option<Normalize>),
    /// What plays, where, and how; `json`: one JSON object.
    Status {
        json: bool,
    },
    Pause,
    Resume,
    /// Pause if playing, resume if paused.
    Toggle,
    Stop,
    Wait,
    Help,
    Quit,
    /// A blank line.
    Nothing,
}

/// What `volume` sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeTo {
    At(u8),
    By(i16),
}

impl VolumeTo {
    pub fn parse(word: &str) -> Result<VolumeTo, String> {
        let bad = || format!("not a volume: {word:?} (0 to 100, or +5, -5)");
        if let Some(rest) = word.strip_prefix(['+', '-']) {
            let by: i16 = rest.parse().map_err(|_| bad())?;
            if by > 100 || rest.starts_with(['+', '-']) {
                return Err(bad());
            }
            return Ok(VolumeTo::By(if word.starts_with('-') { -by } else { by }));
        }
        match word.parse::<u8>() {
            Ok(v) if v <= 100 => Ok(VolumeTo::At(v)),
            _ => Err(bad()),
        }
    }

    /// The volume this gives from `now`, within 0 to 100.
    pub fn from(self, now: u8) -> u8 {
        match self {
            VolumeTo::At(v) => v,
            VolumeTo::By(by) => (i16::from(now) + by).clamp(0, 100) as u8,
        }
    }
}

/// Where `seek` goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SeekTo {
    /// Seconds from the start.
    At(f64),
    /// Seconds from where the song is (negative: back).
    By(f64),
    /// A percentage of the song.
    Percent(f64),
}

impl Eq for SeekTo {}

/// Parses seconds written as `90`, `1.5`, `1:30`, `1:30.25` or `1:02:03`.
pub fn parse_time(text: &str) -> Option<f64> {
    let mut seconds = 0.0;
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() > 3 {
        return None;
    }
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let value: f64 = if last {
            part.parse().ok()?
        } else {
            f64::from(part.parse::<u32>().ok()?)
        };
        if !value.is_finite() || value < 0.0 || (i > 0 && value >= 60.0) || part.starts_with('+') {
            return None;
        }
        seconds = seconds * 60.0 + value;
    }
    Some(seconds)
}

impl SeekTo {
    pub fn parse(word: &str) -> Result<SeekTo, String> {
        let bad = || format!("not a place in a song: {word:?} (as in 1:30, 90, +10, -10 or 50%)");
        if let Some(percent) = word.strip_suffix('%') {
            return match percent.parse::<f64>() {
                Ok(p) if (0.0..=100.0).contains(&p) => Ok(SeekTo::Percent(p)),
                _ => Err(bad()),
            };
        }
        if let Some(rest) = word.strip_prefix('+') {
            return parse_time(rest).map(SeekTo::By).ok_or_else(bad);
        }
        if let Some(rest) = word.strip_prefix('-') {
            return parse_time(rest).map(|s| SeekTo::By(-s)).ok_or_else(bad);
        }
        parse_time(word).map(SeekTo::At).ok_or_else(bad)
    }
}

/// Which song a command means: an ID, or words that must match exactly one song.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Id(u64),
    Search(String),
}

/// What follows a command's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arguments {
    None,
    /// `--all` or nothing.
    All,
    /// Search words, and `--all`.
    Words,
    /// A song: an ID or search words.
    Song,
    /// A song, or nothing.
    MaybeSong,
    /// A queue position.
    Position,
    /// One of these words, or nothing.
    Mode(&'static [&'static str]),
    /// A place in the song.
    Place,
    /// A volume, or nothing.
    Volume,
    /// `--json` or nothing.
    Json,
}

pub struct Spec {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    /// How the arguments are written in `help`.
    pub usage: &'static str,
    pub help: &'static str,
    pub arguments: Arguments,
}

pub const COMMANDS: &[Spec] = &[
    Spec {
        name: "list",
        aliases: &["ls"],
        usage: "[--all]",
        help: "the songs a page at a time (--all: all pages)",
        arguments: Arguments::All,
    },
    Spec {
        name: "search",
        aliases: &["find"],
        usage: "WORDS [--all]",
        help: "songs whose title, artist or album match",
        arguments: Arguments::Words,
    },
    Spec {
        name: "more",
        aliases: &[],
        usage: "",
        help: "the next page of the last list or search",
        arguments: Arguments::None,
    },
    Spec {
        name: "play",
        aliases: &["p"],
        usage: "[ID|WORDS]",
        help: "play a song now; alone: start the queue",
        arguments: Arguments::MaybeSong,
    },
    Spec {
        name: "add",
        aliases: &["a"],
        usage: "ID|WORDS",
        help: "queue a song, or all songs the words match",
        arguments: Arguments::Song,
    },
    Spec {
        name: "queue",
        aliases: &["playlist"],
        usage: "",
        help: "show the queue, > at the current song",
        arguments: Arguments::None,
    },
    Spec {
        name: "next",
        aliases: &["n"],
        usage: "",
        help: "play the next song in the queue",
        arguments: Arguments::None,
    },
    Spec {
        name: "prev",
        aliases: &["previous"],
        usage: "",
        help: "play the previous song in the queue",
        arguments: Arguments::None,
    },
    Spec {
        name: "remove",
        aliases: &["rm"],
        usage: "N",
        help: "remove the Nth song from the queue",
        arguments: Arguments::Position,
    },
    Spec {
        name: "clear",
        aliases: &[],
        usage: "",
        help: "empty the queue (the song playing plays on)",
        arguments: Arguments::None,
    },
    Spec {
        name: "shuffle",
        aliases: &[],
        usage: "",
        help: "put the queue in random order, the song playing first",
        arguments: Arguments::None,
    },
    Spec {
        name: "repeat",
        aliases: &[],
        usage: "[off|one|all]",
        help: "what follows the last song (one: the same song again)",
        arguments: Arguments::Mode(&["off", "one", "all"]),
    },
    Spec {
        name: "seek",
        aliases: &[],
        usage: "TIME|+S|-S|P%",
        help: "go to 1:30, 10 s on (+10) or back (-10), or 50% in",
        arguments: Arguments::Place,
    },
    Spec {
        name: "volume",
        aliases: &["vol"],
        usage: "[N|+N|-N]",
        help: "set the volume (perceptual scale) or show it",
        arguments: Arguments::Volume,
    },
    Spec {
        name: "mute",
        aliases: &[],
        usage: "",
        help: "mute, or unmute if muted",
        arguments: Arguments::None,
    },
    Spec {
        name: "normalize",
        aliases: &[],
        usage: "[off|track]",
        help: "track: every song at -14 LUFS, peaks below -1 dBTP",
        arguments: Arguments::Mode(&["off", "track"]),
    },
    Spec {
        name: "status",
        aliases: &["st"],
        usage: "[--json]",
        help: "what plays, where, volume, queue, buffer",
        arguments: Arguments::Json,
    },
    Spec {
        name: "pause",
        aliases: &[],
        usage: "",
        help: "pause; resume goes on at the very next sample",
        arguments: Arguments::None,
    },
    Spec {
        name: "resume",
        aliases: &[],
        usage: "",
        help: "go on after a pause",
        arguments: Arguments::None,
    },
    Spec {
        name: "toggle",
        aliases: &["t"],
        usage: "",
        help: "pause, or go on if paused",
        arguments: Arguments::None,
    },
    Spec {
        name: "stop",
        aliases: &[],
        usage: "",
        help: "stop playing",
        arguments: Arguments::None,
    },
    Spec {
        name: "wait",
        aliases: &[],
        usage: "",
        help: "wait for the queue to end (Ctrl-C stops at a terminal)",
        arguments: Arguments::None,
    },
    Spec {
        name: "help",
        aliases: &["?"],
        usage: "",
        help: "this help",
        arguments: Arguments::None,
    },
    Spec {
        name: "quit",
        aliases: &["exit", "q"],
        usage: "",
        help: "stop playing and exit (Ctrl-D too)",
        arguments: Arguments::None,
    },
];

/// The flag of `list` and `search`.
pub const ALL_FLAG: &str = "--all";

/// The spec named or aliased `word`, any case.
pub fn find(word: &str) -> Option<&'static Spec> {
    let word = word.to_ascii_lowercase();
    COMMANDS
        .iter()
        .find(|spec| spec.name == word || spec.aliases.contains(&word.as_str()))
}

/// The text of `help`.
pub fn help() -> String {
    let usages: Vec<String> = COMMANDS
        .iter()
        .map(|spec| {
            format!("{} {}", spec.name, spec.usage)
                .trim_end()
                .to_string()
        })
        .collect();
    let width = usages.iter().map(String::len).max().unwrap_or(0);
    let mut text = String::from("commands:");
    for (spec, usage) in COMMANDS.iter().zip(&usages) {
        text.push_str(&format!("\n  {usage:width$}  {}", spec.help));
        if !spec.aliases.is_empty() {
            text.push_str(&format!("; also {}", spec.aliases.join(", ")));
        }
    }
    text.push_str(
        "\nTab completes commands and songs; Up and Down recall earlier lines.\n\
         Ctrl-C interrupts a command or clears the line; twice, or Ctrl-D, quits.",
    );
    text
}

/// Parses a song ID: 1 to 2^53 - 1.
pub fn parse_id(word: &str) -> Result<u64, String> {
    word.parse::<u64>()
        .ok()
        .filter(|&id| id != 0 && id <= MAX_SONG_ID)
        .ok_or_else(|| format!("not a song ID: {word:?} (IDs go from 1 to {MAX_SONG_ID})"))
}

/// True for a word that can only be meant as an ID.
pub fn is_id(word: &str) -> bool {
    !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit())
}

fn search_words(name: &str, words: &[&str]) -> Result<String, String> {
    if words.is_empty() {
        return Err(format!("{name} needs words, as in: {name} small hours"));
    }
    let joined = words.join(" ");
    // The server matches words of letters and digits; without any, every song would match.
    if !joined.chars().any(char::is_alphanumeric) {
        return Err(format!("nothing to search for in {joined:?}"));
    }
    if joined.len() > MAX_QUERY_BYTES {
        return Err(format!("a search has at most {MAX_QUERY_BYTES} bytes"));
    }
    Ok(joined)
}

impl Command {
    /// Parses a line; the error is a message for the user.
    pub fn parse(line: &str) -> Result<Command, String> {
        let mut words = line.split_whitespace();
        let Some(name) = words.next() else {
            return Ok(Command::Nothing);
        };
        let Some(spec) = find(name) else {
            return Err(format!("unknown command {name:?}; type help"));
        };
        let rest: Vec<&str> = words.collect();
        let all = rest.contains(&ALL_FLAG);
        let unexpected = |word: &str| format!("unexpected {word:?} after {}", spec.name);
        let command = match spec.arguments {
            Arguments::None => {
                if let Some(extra) = rest.first() {
                    return Err(unexpected(extra));
                }
                match spec.name {
                    "more" => Command::More,
                    "queue" => Command::Queue,
                    "next" => Command::Next,
                    "prev" => Command::Prev,
                    "clear" => Command::Clear,
                    "shuffle" => Command::Shuffle,
                    "stop" => Command::Stop,
                    "pause" => Command::Pause,
                    "resume" => Command::Resume,
                    "toggle" => Command::Toggle,
                    "mute" => Command::Mute,
                    "wait" => Command::Wait,
                    "help" => Command::Help,
                    "quit" => Command::Quit,
                    other => unreachable!("no command {other} without arguments"),
                }
            }
            Arguments::All => {
                if let Some(extra) = rest.iter().find(|w| **w != ALL_FLAG) {
                    return Err(unexpected(extra));
                }
                Command::List { all }
            }
            Arguments::Words => {
                let words: Vec<&str> = rest.into_iter().filter(|w| *w != ALL_FLAG).collect();
                Command::Search {
                    words: search_words(spec.name, &words)?,
                    all,
                }
            }
            Arguments::MaybeSong if rest.is_empty() => Command::PlayQueue,
            Arguments::Song | Arguments::MaybeSong => {
                let target = match rest.as_slice() {
                    [] => {
                        return Err(format!(
                            "{} needs a song ID or search words, as in: {} 3",
                            spec.name, spec.name
                        ))
                    }
                    [word] if is_id(word) => Target::Id(parse_id(word)?),
                    words => Target::Search(search_words(spec.name, words)?),
                };
                match spec.name {
                    "add" => Command::Add(target),
                    _ => Command::Play(target),
                }
            }
            Arguments::Position => match rest.as_slice() {
                [word] => match word.parse::<usize>() {
                    Ok(n) if n > 0 => Command::Remove(n),
                    _ => return Err(format!("not a queue position: {word:?} (1 is the first)")),
                },
                [] => {
                    return Err(format!(
                        "{} needs a queue position, as in: {} 2",
                        spec.name, spec.name
                    ))
                }
                [_, extra, ..] => return Err(unexpected(extra)),
            },
            Arguments::Place => match rest.as_slice() {
                [word] => Command::Seek(SeekTo::parse(word)?),
                [] => {
                    return Err(format!(
                        "{} needs a place, as in: {} 1:30",
                        spec.name, spec.name
                    ))
                }
                [_, extra, ..] => return Err(unexpected(extra)),
            },
            Arguments::Volume => match rest.as_slice() {
                [] => Command::Volume(None),
                [word] => Command::Volume(Some(VolumeTo::parse(word)?)),
                [_, extra, ..] => return Err(unexpected(extra)),
            },
            Arguments::Json => match rest.as_slice() {
                [] => Command::Status { json: false },
                ["--json"] => Command::Status { json: true },
                [extra, ..] => return Err(unexpected(extra)),
            },
            Arguments::Mode(_) => match (spec.name, rest.as_slice()) {
                ("normalize", []) => Command::Normalize(None),
                ("normalize", [mode]) => Command::Normalize(Some(mode.parse()?)),
                (_, []) => Command::Repeat(None),
                (_, [mode]) => Command::Repeat(Some(mode.parse()?)),
                (_, [_, extra, ..]) => return Err(unexpected(extra)),
            },
        };
        Ok(command)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands() {
        assert_eq!(Command::parse("  list "), Ok(Command::List { all: false }));
        assert_eq!(Command::parse("ls --all"), Ok(Command::List { all: true }));
        assert_eq!(Command::parse("play 3"), Ok(Command::Play(Target::Id(3))));
        assert_eq!(Command::parse("PLAY 12"), Ok(Command::Play(Target::Id(12))));
        assert_eq!(
            Command::parse("play small  hours"),
            Ok(Command::Play(Target::Search("small hours".into())))
        );
        assert_eq!(
            Command::parse("find blue --all"),
            Ok(Command::Search {
                words: "blue".into(),
                all: true
            })
        );
        assert_eq!(Command::parse("more"), Ok(Command::More));
        assert_eq!(Command::parse(""), Ok(Command::Nothing));
        assert_eq!(Command::parse("quit"), Ok(Command::Quit));
        assert_eq!(Command::parse("Exit"), Ok(Command::Quit));
        assert_eq!(Command::parse("play"), Ok(Command::PlayQueue));
        assert!(Command::parse("add").is_err());
        assert_eq!(Command::parse("a 7"), Ok(Command::Add(Target::Id(7))));
        assert_eq!(
            Command::parse("add blue tide"),
            Ok(Command::Add(Target::Search("blue tide".into())))
        );
        assert_eq!(Command::parse("rm 2"), Ok(Command::Remove(2)));
        assert!(Command::parse("remove 0").is_err());
        assert!(Command::parse("remove").is_err());
        assert!(Command::parse("remove 1 2").is_err());
        assert_eq!(Command::parse("repeat"), Ok(Command::Repeat(None)));
        assert_eq!(
            Command::parse("repeat ALL"),
            Ok(Command::Repeat(Some(Repeat::All)))
        );
        assert!(Command::parse("repeat twice").is_err());
        assert_eq!(Command::parse("normalize"), Ok(Command::Normalize(None)));
        assert_eq!(
            Command::parse("normalize OFF"),
            Ok(Command::Normalize(Some(Normalize::Off)))
        );
        assert!(Command::parse("normalize album").is_err());
        assert!(Command::parse("normalize off track").is_err());
        assert_eq!(Command::parse("next"), Ok(Command::Next));
        assert_eq!(Command::parse("previous"), Ok(Command::Prev));
        assert_eq!(Command::parse("shuffle"), Ok(Command::Shuffle));
        assert_eq!(Command::parse("clear"), Ok(Command::Clear));
        assert_eq!(Command::parse("queue"), Ok(Command::Queue));
        assert_eq!(
            Command::parse("seek 1:30"),
            Ok(Command::Seek(SeekTo::At(90.0)))
        );
        assert_eq!(
            Command::parse("seek 1:02:03.5"),
            Ok(Command::Seek(SeekTo::At(3723.5)))
        );
        assert_eq!(
            Command::parse("seek 2.25"),
            Ok(Command::Seek(SeekTo::At(2.25)))
        );
        assert_eq!(
            Command::parse("seek +10"),
            Ok(Command::Seek(SeekTo::By(10.0)))
        );
        assert_eq!(
            Command::parse("seek -0:10"),
            Ok(Command::Seek(SeekTo::By(-10.0)))
        );
        assert_eq!(
            Command::parse("seek 50%"),
            Ok(Command::Seek(SeekTo::Percent(50.0)))
        );
        for bad in [
            "seek",
            "seek 1:60",
            "seek 101%",
            "seek x",
            "seek --1",
            "seek 1 2",
            "seek 1::2",
            "seek nan",
            "seek inf",
        ] {
            assert!(Command::parse(bad).is_err(), "{bad}");
        }
        assert!(Command::parse("play 0").is_err());
        assert!(Command::parse("search").is_err());
        assert!(Command::parse("search --all").is_err());
        assert!(Command::parse("play \u{fffd} -").is_err());
        assert_eq!(
            Command::parse("play 9007199254740991"),
            Ok(Command::Play(Target::Id(9_007_199_254_740_991)))
        );
        assert!(Command::parse("play 9007199254740992").is_err());
        assert!(Command::parse("stop now").is_err());
        assert!(Command::parse("list songs").is_err());
        assert!(Command::parse("dance").is_err());
        assert!(Command::parse(&format!("search {}", "x".repeat(300))).is_err());
    }

    #[test]
    fn help_names_every_command_and_alias_in_80_columns() {
        let help = help();
        for line in help.lines() {
            assert!(line.chars().count() < 80, "{line:?}");
        }
        for spec in COMMANDS {
            assert!(help.contains(spec.name), "{}", spec.name);
            for alias in spec.aliases {
                assert!(help.contains(alias), "{alias}");
            }
        }
    }
}
