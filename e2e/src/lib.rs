//! Harness for the end-to-end tests: runs the real `jukebox-server` and `jukebox` binaries as child
//! processes on loopback, talks to the client through its stdin and stdout as a script would, and
//! decodes audio independently with symphonia to check what the client wrote.

pub mod audio;
pub mod process;
pub mod terminal;

pub use audio::{decode_file, make_song, read_wav, Pcm};
pub use process::{ClientProcess, ServerProcess};
pub use terminal::{Screen, Terminal};
