//! Command-line flags, and the one-shot commands (`jukebox list`, `jukebox play 3`).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use jukebox_protocol::DEFAULT_PORT;

use crate::client::DEFAULT_TIMEOUT;
use crate::output::OutputSpec;
use crate::player::Normalize;

/// What the exit status means; shown by --help and in the man page.
pub const EXIT_STATUS: &str = "\
Exit status:
  0    every command succeeded
  1    a command or a song failed, or the server could not be reached
  2    the command line is wrong (an unknown flag, a missing argument)
  130  stopped by SIGINT
  143  stopped by SIGTERM

Results (songs, `playing`, `finished`, `stopped`) go to stdout; errors, warnings and hints go
to stderr.

Environment:
  JUKEBOX_SERVER  the server, as --server gives it
  RUST_LOG        what is logged to stderr, e.g. jukebox_client=debug (default: warnings)
  XDG_STATE_HOME  where the prompt's history is kept: $XDG_STATE_HOME/jukebox/history
                  (default ~/.local/state/jukebox/history)";

/// Jukebox client: list, search, play, switch and stop songs streamed from a Jukebox server.
///
/// Without a command, reads commands from the prompt (or, when stdin or stdout is not a
/// terminal, one per line from stdin): list, search WORDS, more, play [ID|WORDS], add ID|WORDS,
/// queue, next, prev, remove N, clear, shuffle, repeat off|one|all, seek TIME|+S|-S|P%, pause,
/// resume, toggle, volume [N|+N|-N], mute, normalize off|track, status [--json], stop,
/// wait, help, quit.
/// `help` says what each does. Songs in the queue follow one another without a gap. With a command, runs just that one and exits: `jukebox play 3` plays song 3 to
/// its end.
#[derive(Debug, Parser)]
#[command(name = "jukebox", version, after_long_help = EXIT_STATUS)]
pub struct Args {
    /// Server to connect to, as HOST or HOST:PORT (port 5853 when not given). Without it, a
    /// server is started inside this process on the --music folder, on 127.0.0.1 on a free port.
    #[arg(
        long,
        value_name = "HOST[:PORT]",
        env = "JUKEBOX_SERVER",
        global = true
    )]
    pub server: Option<String>,

    /// Music folder for the embedded server [default: ./music if it exists, else the music folder
    /// bundled with the sources].
    #[arg(long, value_name = "DIR", conflicts_with = "server", global = true)]
    pub music: Option<PathBuf>,

    /// Where audio goes: `default` (the sound device), `null` (discarded) or `wav:PATH` (a 32-bit
    /// float WAV file holding exactly the samples that were played). null and wav are paced in
    /// real time like a sound card, so stopping after two seconds leaves two seconds in the file.
    /// An output keeps one format for its whole life: the device's, or for null and wav the first
    /// song's sample rate and channel count. Later songs in another format are converted to it
    /// (rate and channels), as a sound card running at a fixed rate needs.
    /// Without --output the sound device is used if there is one; if there is none, the client
    /// says so in one line and goes on without sound (as with null). `--output default` insists on
    /// the device and fails without one.
    #[arg(long, value_name = "OUTPUT", global = true)]
    pub output: Option<OutputSpec>,

    /// Loudness normalisation: `track` plays every song at -14 LUFS, from the loudness and true
    /// peak the server measured (EBU R128), lowered further where a peak would exceed -1 dBTP (so
    /// nothing clips) and raised by at most 12 dB; a song the server has not measured plays
    /// unchanged. `off` plays every song as it is, sample for sample. The `normalize` command
    /// changes it during a session. Applied before the volume, to the sound device and a WAV
    /// file alike.
    #[arg(long, value_name = "MODE", value_enum, default_value_t = Normalize::Track,
          global = true)]
    pub normalize: Normalize,

    /// Seconds the server has to answer a request (the handshake, LIST, GET_MANIFEST) before it
    /// counts as not answering. A segment must arrive within this time after the audio before
    /// it has played out.
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_TIMEOUT.as_secs_f64(),
          value_parser = parse_seconds, global = true)]
    pub timeout: f64,

    /// Print the completion script for SHELL (bash, zsh, fish, elvish, powershell) and exit.
    #[arg(long, value_name = "SHELL", exclusive = true)]
    pub completions: Option<clap_complete::Shell>,

    /// Print the man page (roff) and exit.
    #[arg(long, exclusive = true)]
    pub man: bool,

    #[command(subcommand)]
    pub command: Option<OneShot>,
}

/// A command run on its own, as a script would.
#[derive(Debug, Subcommand)]
pub enum OneShot {
    /// Print the first page of songs (--all: every song) and exit.
    List {
        #[arg(long)]
        all: bool,
    },
    /// Print the songs whose title, artist or album match WORDS and exit.
    #[command(alias = "find")]
    Search {
        #[arg(required = true, value_name = "WORDS")]
        words: Vec<String>,
        #[arg(long)]
        all: bool,
    },
    /// Print the status (state, song, position, volume, queue, buffer, bitrate) and exit; a
    /// one-shot client plays nothing, so this says what a fresh session starts with. In a
    /// session, `status --json` says what plays.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Play a song to its end, given its ID or words that match only it, and exit.
    Play {
        #[arg(required = true, value_name = "ID|WORDS")]
        song: Vec<String>,
    },
}

fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && Duration::try_from_secs_f64(seconds).is_ok() => Ok(seconds),
        _ => Err(format!("not a number of seconds above 0: {text:?}")),
    }
}

impl Args {
    /// The folder the embedded server serves.
    pub fn music_dir(&self) -> PathBuf {
        if let Some(dir) = &self.music {
            return dir.clone();
        }
        let local = PathBuf::from("music");
        if local.is_dir() {
            return local;
        }
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../music")
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout)
    }

    /// The command lines the one-shot command stands for.
    pub fn script(&self) -> Option<Vec<String>> {
        let all = |all: bool| if all { " --all" } else { "" };
        Some(match self.command.as_ref()? {
            OneShot::List { all: a } => vec![format!("list{}", all(*a))],
            OneShot::Search { words, all: a } => {
                vec![format!("search {}{}", words.join(" "), all(*a))]
            }
            OneShot::Status { json } => {
                vec![format!("status{}", if *json { " --json" } else { "" })]
            }
            OneShot::Play { song } => vec![format!("play {}", song.join(" ")), "wait".into()],
        })
    }
}

/// `HOST:PORT` from `HOST`, `HOST:PORT`, `[V6]`, `[V6]:PORT` or a bare IPv6 address.
pub fn server_address(server: &str) -> String {
    let server = server.trim();
    if server.starts_with('[') {
        if server.ends_with(']') {
            return format!("{server}:{DEFAULT_PORT}");
        }
        return server.to_string();
    }
    match server.matches(':').count() {
        0 => format!("{server}:{DEFAULT_PORT}"),
        1 => server.to_string(),
        // Several colons and no brackets: an IPv6 address without a port.
        _ => format!("[{server}]:{DEFAULT_PORT}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn parses_flags() {
        let args = Args::try_parse_from(["jukebox", "--output", "wav:/tmp/x.wav"]).unwrap();
        assert_eq!(args.output, Some(OutputSpec::Wav("/tmp/x.wav".into())));
        assert_eq!(args.timeout(), DEFAULT_TIMEOUT);
        assert!(Args::try_parse_from(["jukebox", "--output", "speaker"]).is_err());
        assert!(Args::try_parse_from(["jukebox", "--server", "h:1", "--music", "d"]).is_err());
        assert!(Args::try_parse_from(["jukebox", "--timeout", "0"]).is_err());
        assert!(Args::try_parse_from(["jukebox", "--man", "--timeout", "3"]).is_err());
        assert_eq!(args.normalize, Normalize::Track);
        let off = Args::try_parse_from(["jukebox", "--normalize", "off"]).unwrap();
        assert_eq!(off.normalize, Normalize::Off);
        assert!(Args::try_parse_from(["jukebox", "--normalize", "album"]).is_err());
        Args::command().debug_assert();
    }

    #[test]
    fn one_shot_commands_take_the_flags_after_them_too() {
        let args = Args::try_parse_from([
            "jukebox",
            "--server",
            "h",
            "play",
            "3",
            "--output",
            "wav:x.wav",
        ])
        .unwrap();
        assert_eq!(args.output, Some(OutputSpec::Wav("x.wav".into())));
        assert_eq!(args.script().unwrap(), ["play 3", "wait"]);
        let args = Args::try_parse_from(["jukebox", "find", "small", "hours", "--all"]).unwrap();
        assert_eq!(args.script().unwrap(), ["search small hours --all"]);
        assert!(Args::try_parse_from(["jukebox", "play"]).is_err());
        assert!(Args::try_parse_from(["jukebox", "list", "extra"]).is_err());
    }

    #[test]
    fn a_server_without_a_port_uses_the_default_one() {
        assert_eq!(server_address("example.org"), "example.org:5853");
        assert_eq!(server_address("example.org:7"), "example.org:7");
        assert_eq!(server_address("[::1]"), "[::1]:5853");
        assert_eq!(server_address("[::1]:7"), "[::1]:7");
        assert_eq!(server_address("::1"), "[::1]:5853");
    }
}
