//! The Jukebox server library: serves segmented mp3 songs over the Jukebox protocol on TCP.
//!
//! The pieces, in the style of a sans-I/O protocol driven by a thin async shell:
//! - [`store`]: the songs, with the catalog and manifests serialised once and segments shared by all
//!   connections;
//! - [`cache`]: segments of a pre-chunked catalog read from disk, shared by all connections;
//! - [`session`]: one connection's protocol state and every rule of the protocol, time limits
//!   included, without I/O or a clock of its own;
//! - `connection`: the async shell that pumps bytes, readiness, time and catalog reads between a
//!   socket and a session, and does what the session says;
//! - [`sources`]: how many connections one source may hold and open;
//! - `server`: the accept loop, the connection limits and the log of refusals.
//!
//! The server runs on Linux only: it relies on MSG_MORE, TCP_NOTSENT_LOWAT and how Linux reports a
//! socket writable under it.
//!
//! The client crate runs an embedded server with exactly [`Config`], [`Store::new`],
//! [`Server::bind`], [`Server::local_addr`] and [`Server::run`].

#[cfg(not(target_os = "linux"))]
compile_error!("jukebox-server runs on Linux only: it relies on MSG_MORE and TCP_NOTSENT_LOWAT");

use std::net::SocketAddr;
use std::time::Duration;

pub mod cache;
mod connection;
pub mod object_catalog;
pub mod outgoing;
pub mod proxy_header;
mod refusals;
mod server;
pub mod session;
pub mod sources;
pub mod store;
#[cfg(test)]
mod test_songs;

pub use cache::DEFAULT_CACHE_BYTES;
pub use server::{Drainer, Listener, Server, MAX_REJECTING};
pub use session::HELLO_TIMEOUT;
pub use store::Store;

/// Default [`Config::notsent_lowat`]: one small DATA frame. See docs/BENCHMARKS.md for the measurements
/// behind it.
pub const DEFAULT_NOTSENT_LOWAT: u32 = 4 * 1024;

/// Default [`Config::idle_timeout`]. A player asks for a segment every couple of seconds, so only a
/// connection nobody uses is closed, and clients reconnect without a word when they next need one;
/// 60 s, as nginx's client timeouts, keeps an idle attacker's slots as dear as there.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Default [`Config::frame_timeout`]: the largest client frame is about 1 KiB, so this allows 100
/// bytes a second, as slow as any link that can play audio.
pub const DEFAULT_FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// Default [`Config::send_timeout`]: half nginx's `send_timeout`. A player whose link stalls this
/// long has run out of audio anyway (it reads about 6 s ahead) and reconnects.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Default [`Config::fin_timeout`], as HAProxy's `timeout client-fin` is usually set: a client that
/// has closed its side only waits for answers, so one that takes none is gone.
pub const DEFAULT_FIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Default [`Config::max_per_source`]: room for many listeners behind one NAT, while one address
/// takes at most 1/64 of the default connection limit.
pub const DEFAULT_MAX_PER_SOURCE: usize = 256;

/// Default [`Config::source_rate`]: new connections per second from one address, after a burst
/// of [`Config::max_per_source`].
pub const DEFAULT_SOURCE_RATE: u32 = 64;

/// Default [`Config::reserve_percent`]: of 16,384 connections, 1,638 are kept for sources with few.
pub const DEFAULT_RESERVE_PERCENT: u8 = 10;

/// Default [`Config::reserve_per_source`]: a household or a small office, not a NAT of thousands.
pub const DEFAULT_RESERVE_PER_SOURCE: usize = 8;

/// Default [`Config::backlog`], as nginx and redis use: room for a reconnect storm after a
/// restart. The kernel caps it at `net.core.somaxconn`.
pub const DEFAULT_BACKLOG: u32 = 511;

/// Descriptors the server keeps for itself besides its connections: the listener, the runtimes'
/// event queues, standard streams, and the catalog segment files being read (one per read thread).
const RESERVED_DESCRIPTORS: usize = 192;

/// File descriptors the server needs to serve `max_connections` at once: one per connection,
/// one per refusal under way ([`MAX_REJECTING`], so that SERVER_BUSY can still be sent when the
/// server is full), and a reserve for its own use.
pub fn descriptors_needed(max_connections: usize) -> u64 {
    (max_connections + MAX_REJECTING + RESERVED_DESCRIPTORS) as u64
}

/// The connections a limit of `descriptors` leaves room for (see [`descriptors_needed`]).
pub fn connections_within(descriptors: u64) -> usize {
    usize::try_from(descriptors)
        .unwrap_or(usize::MAX)
        .saturating_sub(MAX_REJECTING + RESERVED_DESCRIPTORS)
}

/// Server limits and address.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Connections beyond this are answered with SERVER_BUSY and closed.
    pub max_connections: usize,
    /// Connections from one source (an IPv4 address, or an IPv6 /64) served at once; more are
    /// answered with SERVER_BUSY. 0: no limit.
    pub max_per_source: usize,
    /// New connections per second from one source, after a burst of `max_per_source`; more are
    /// answered with SERVER_BUSY. 0: no limit.
    pub source_rate: u32,
    /// The last this many percent of `max_connections` are kept for sources that hold fewer than
    /// `reserve_per_source` connections: when no more slots are free than that, a source holding
    /// `reserve_per_source` or more is answered with SERVER_BUSY. Attackers from as many sources
    /// as fill `max_connections` at `max_per_source` each then leave the reserve to everyone else,
    /// and need a source for every `reserve_per_source` slots of it. 0: no reserve.
    pub reserve_percent: u8,
    /// See `reserve_percent`.
    pub reserve_per_source: usize,
    /// Connections the kernel completes and queues before the server accepts them.
    pub backlog: u32,
    /// A connection that neither sends a whole frame nor is sent one for this long is closed: with
    /// IDLE_TIMEOUT when nothing waits to be sent to it, without an ERROR when frames wait (it
    /// stopped reading). Waiting for a catalog read does not count.
    pub idle_timeout: Duration,
    /// A frame whose first byte has arrived must be whole within this time, else IDLE_TIMEOUT: a
    /// frame trickled in cannot hold a connection open.
    pub frame_timeout: Duration,
    /// A client that takes no byte for this long while frames wait for it is closed without an
    /// ERROR (as nginx's `send_timeout`).
    pub send_timeout: Duration,
    /// `send_timeout` once the client has closed its side, if shorter (as HAProxy's `timeout
    /// client-fin`).
    pub fin_timeout: Duration,
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
    /// Connections start with a PROXY protocol v2 header (a load balancer's `send-proxy-v2`),
    /// whose client address counts for the per-source limits and the logs; one without it is
    /// closed. Without this, a header is refused like any bytes that are not a frame.
    pub proxy_protocol: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], jukebox_protocol::DEFAULT_PORT)),
            max_connections: 16_384,
            max_per_source: DEFAULT_MAX_PER_SOURCE,
            source_rate: DEFAULT_SOURCE_RATE,
            reserve_percent: DEFAULT_RESERVE_PERCENT,
            reserve_per_source: DEFAULT_RESERVE_PER_SOURCE,
            backlog: DEFAULT_BACKLOG,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            frame_timeout: DEFAULT_FRAME_TIMEOUT,
            send_timeout: DEFAULT_SEND_TIMEOUT,
            fin_timeout: DEFAULT_FIN_TIMEOUT,
            max_queued_segments: 16,
            notsent_lowat: Some(DEFAULT_NOTSENT_LOWAT),
            data_frames_per_write: 1,
            proxy_protocol: false,
        }
    }
}

impl Config {
    /// Connection slots kept for sources that hold few connections (see
    /// [`Config::reserve_percent`]).
    pub fn reserved_slots(&self) -> usize {
        self.max_connections
            .saturating_mul(usize::from(self.reserve_percent.min(100)))
            / 100
    }
}
