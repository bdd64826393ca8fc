//! The commands a user types.

/// One parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    List,
    Play(u64),
    Stop,
    Wait,
    Help,
    Quit,
    /// A blank line.
    Nothing,
}

pub const HELP: &str = "\
commands:
  list      show the songs on the server
  play N    play song N (switches at once if another one plays)
  stop      stop playing
  wait      wait until the current song ends or is stopped
  help      show this help
  quit      stop playing and exit";

impl Command {
    /// Parses a line; the error is a message for the user.
    pub fn parse(line: &str) -> Result<Command, String> {
        let mut words = line.split_whitespace();
        let Some(name) = words.next() else {
            return Ok(Command::Nothing);
        };
        let command = match name.to_ascii_lowercase().as_str() {
            "list" | "ls" => Command::List,
            "play" | "p" => {
                let Some(id) = words.next() else {
                    return Err("play needs a song number, as in: play 3".into());
                };
                let id = id
                    .parse::<u64>()
                    .ok()
                    .filter(|&id| id != 0 && id <= jukebox_protocol::MAX_SONG_ID)
                    .ok_or_else(|| format!("not a song number: {id:?}"))?;
                Command::Play(id)
            }
            "stop" => Command::Stop,
            "wait" => Command::Wait,
            "help" | "?" => Command::Help,
            "quit" | "exit" | "q" => Command::Quit,
            other => return Err(format!("unknown command {other:?}; type help")),
        };
        if let Some(extra) = words.next() {
            return Err(format!("unexpected {extra:?} after {name}"));
        }
        Ok(command)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands() {
        assert_eq!(Command::parse("  list "), Ok(Command::List));
        assert_eq!(Command::parse("play 3"), Ok(Command::Play(3)));
        assert_eq!(Command::parse("PLAY 12"), Ok(Command::Play(12)));
        assert_eq!(Command::parse(""), Ok(Command::Nothing));
        assert_eq!(Command::parse("quit"), Ok(Command::Quit));
        assert!(Command::parse("play").is_err());
        assert!(Command::parse("play x").is_err());
        assert!(Command::parse("play 0").is_err());
        assert_eq!(
            Command::parse("play 9007199254740991"),
            Ok(Command::Play(9_007_199_254_740_991))
        );
        assert!(Command::parse("play 9007199254740992").is_err());
        assert!(Command::parse("stop now").is_err());
        assert!(Command::parse("dance").is_err());
    }
}
