//! What the workspace's tests share, as h2's `h2-support` is for h2: a dev-dependency of every
//! crate whose tests need it, never a dependency of what ships.
//!
//! - [`process`]: child processes whose every wait is bounded and which are killed when the test
//!   ends, and a `jukebox-server` process found by its `listening on` line;
//! - [`audio`]: songs made with sox and lame, the reference decode with symphonia, WAV files read
//!   back as PCM;
//! - [`songs`]: manifests and songs built by hand, with real hashes;
//! - [`wire`]: a raw protocol client and a scripted server, speaking frames through
//!   jukebox-protocol's codec.
//!
//! Integration tests cannot see a crate's `cfg(test)` code, which is why these lived as copies in
//! each crate's `tests/`.

pub mod audio;
pub mod process;
pub mod songs;
pub mod wire;

use std::future::Future;
use std::panic::Location;
use std::path::PathBuf;
use std::time::Duration;

pub use audio::{decode_bytes, decode_file, make_song, read_wav, Pcm};
pub use songs::{manifest, segment_info, sha256, song};

/// Longest a test waits for any one thing (a process, a line, a frame) before failing, so that a
/// bug shows up as a failure rather than a hung test: far more than what takes milliseconds when
/// all is well, or a song played in real time. Never used to synchronise.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// `future`'s output; fails the test, naming the caller's line, if that takes over [`PATIENCE`].
#[track_caller]
pub fn within<F: Future>(future: F) -> impl Future<Output = F::Output> {
    let caller = Location::caller();
    async move {
        tokio::time::timeout(PATIENCE, future)
            .await
            .unwrap_or_else(|_| panic!("waited over {PATIENCE:?} at {caller}"))
    }
}

/// The bundled music folder.
pub fn music_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../music")
}
