//! The Jukebox server library: serves segmented mp3 songs over the Jukebox protocol on TCP.
//!
//! The pieces, in the style of a sans-I/O protocol driven by a thin async shell:
//! - [`store`]: the songs, with the catalog and manifests serialised once and segments shared by all
//!   connections;
//! - [`cache`]: segments of a pre-chunked catalog read from disk, shared by all connections;
//! - [`session`]: one connection's protocol state, without I/O;
//! - `connection`: the async shell that moves bytes between a socket and a session;
//! - `server`: the accept loop and the connection limit.
//!
//! The client crate runs an embedded server with exactly [`Config`], [`Store::new`],
//! [`Server::bind`], [`Server::local_addr`] and [`Server::run`].

use std::net::SocketAddr;
use std::time::Duration;

mod backlog;
pub mod cache;
mod connection;
pub mod outgoing;
mod server;
pub mod session;
pub mod store;
#[cfg(test)]
mod test_songs;

pub use cache::DEFAULT_CACHE_BYTES;
pub use connection::HELLO_TIMEOUT;
pub use server::{Listener, Server};
pub use store::Store;

/// Default [`Config::notsent_lowat`]: one small DATA frame. See docs/BENCHMARKS.md for the measurements
/// behind it.
pub const DEFAULT_NOTSENT_LOWAT: u32 = 4 * 1024;

/// Server limits and address.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Connections beyond this are answered with SERVER_BUSY and closed.
    pub max_connections: usize,
    /// A connection that sends no frame for this long is closed with IDLE_TIMEOUT.
    pub idle_timeout: Duration,
    /// Segment requests a connection may have queued at once; more get TOO_MANY_REQUESTS.
    pub max_queued_segments: usize,
    /// TCP_NOTSENT_LOWAT for client sockets: the kernel holds at most about this many bytes not yet
    /// sent per connection (plus the frame being written), so a control response queued behind a
    /// transfer waits for little more than the link's round trip, even on a slow link. `None`
    /// leaves the system default (unlimited), letting a send buffer of megabytes build up ahead.
    pub notsent_lowat: Option<u32>,
    /// DATA frames written per system call when nothing else is queued. 1 (the default) checks for
    /// control requests and cancels between every two DATA frames, as the protocol specification
    /// requires; more is for measuring what that rule costs, not for serving.
    pub data_frames_per_write: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], jukebox_protocol::DEFAULT_PORT)),
            max_connections: 16_384,
            idle_timeout: Duration::from_secs(300),
            max_queued_segments: 16,
            notsent_lowat: Some(DEFAULT_NOTSENT_LOWAT),
            data_frames_per_write: 1,
        }
    }
}
