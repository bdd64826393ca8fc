//! The server started inside the client when no `--server` is given, so `jukebox` alone plays the
//! bundled songs. It listens on 127.0.0.1 on a free port and the client reaches it over real TCP,
//! exactly as it would a remote one.
//!
//! Only with the `embedded-server` feature (on by default); without it the client does not
//! depend on the server or the segmenter, and `start` says that `--server` is needed.

use std::net::SocketAddr;
use std::path::Path;

/// Loads `dir`, starts serving it, and returns the address to connect to.
#[cfg(feature = "embedded-server")]
pub async fn start(dir: &Path) -> Result<SocketAddr, String> {
    use std::sync::Arc;

    use jukebox_segmenter::{load_dir, DEFAULT_SEGMENT_DURATION};
    use jukebox_server::{Config, Server, Store};

    let owned = dir.to_path_buf();
    let loaded = tokio::task::spawn_blocking(move || load_dir(&owned, DEFAULT_SEGMENT_DURATION))
        .await
        .map_err(|e| format!("loading {} failed: {e}", dir.display()))?
        .map_err(|e| format!("cannot read the music folder {}: {e}", dir.display()))?;
    for skipped in &loaded.skipped {
        tracing::warn!("skipped {}: {}", skipped.path.display(), skipped.reason);
    }
    let store = Arc::new(Store::new(loaded.songs));
    let config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..Config::default()
    };
    let server = Server::bind(config, store)
        .await
        .map_err(|e| format!("cannot start the embedded server: {e}"))?;
    let addr = server.local_addr();
    tokio::spawn(server.run());
    Ok(addr)
}

/// This client was built without the embedded server.
#[cfg(not(feature = "embedded-server"))]
pub async fn start(_dir: &Path) -> Result<SocketAddr, String> {
    Err("this jukebox was built without the embedded server; use --server HOST:PORT".into())
}
