//! Command-line flags.

use std::path::PathBuf;

use clap::Parser;

use crate::output::OutputSpec;

/// Jukebox client: list, play, switch and stop songs streamed from a Jukebox server.
///
/// Reads commands from the prompt (or, when stdin is not a terminal, one per line):
/// list, play N, stop, wait, help, quit.
#[derive(Debug, Parser)]
#[command(name = "jukebox", version)]
pub struct Args {
    /// Server to connect to. Without it, a server is started inside this process on the
    /// --music folder, listening on 127.0.0.1 on a free port.
    #[arg(long, value_name = "HOST:PORT")]
    pub server: Option<String>,

    /// Music folder for the embedded server [default: ./music if it exists, else the music folder
    /// bundled with the sources].
    #[arg(long, value_name = "DIR", conflicts_with = "server")]
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
    #[arg(long, value_name = "OUTPUT")]
    pub output: Option<OutputSpec>,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags() {
        let args = Args::try_parse_from(["jukebox", "--output", "wav:/tmp/x.wav"]).unwrap();
        assert_eq!(args.output, Some(OutputSpec::Wav("/tmp/x.wav".into())));
        assert!(args.server.is_none());
        assert!(Args::try_parse_from(["jukebox", "--output", "speaker"]).is_err());
        assert!(Args::try_parse_from(["jukebox", "--server", "h:1", "--music", "d"]).is_err());
    }
}
