//! Harness for the end-to-end tests: runs the real `jukebox-server` and `jukebox` binaries as child
//! processes on loopback, talks to the client through its stdin and stdout as a script would, and
//! decodes audio independently with symphonia to check what the client wrote; on unix it also runs
//! the client in a pseudo-terminal and reads its screen through a terminal emulator.

pub mod audio;
#[cfg(unix)]
pub mod haproxy;
pub mod process;
#[cfg(unix)]
pub mod terminal;

pub use audio::{decode_file, make_song, read_wav, Pcm};
pub use process::{ClientProcess, ServerProcess};
#[cfg(unix)]
pub use terminal::{Screen, Terminal};
