//! Harness for the end-to-end tests: runs the real `jukebox-server` and `jukebox` binaries as child
//! processes on loopback and talks to the client through its stdin and stdout as a script would;
//! on unix it also runs the client in a pseudo-terminal and reads its screen through a terminal
//! emulator, and HAProxy in front of replicas. The reference audio (songs made with sox and lame,
//! decoded independently with symphonia, and the client's WAV read back) is the test kit's.

#[cfg(unix)]
pub mod haproxy;
pub mod process;
#[cfg(unix)]
pub mod terminal;

pub use jukebox_test_kit::{audio, decode_file, make_song, read_wav, Pcm};
pub use process::{ids, wait_for_audio, ClientProcess, ServerProcess};
#[cfg(unix)]
pub use terminal::{Screen, Terminal};
