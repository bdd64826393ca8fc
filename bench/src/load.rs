//! What the load modes share: learning the catalog, opening many connections without overflowing
//! the server's accept backlog, and running one task per connection to a common deadline.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use jukebox_protocol::Manifest;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::conn::{Conn, Failure, Result};
use crate::stats::{ConnStats, Totals};

/// Connection attempts in flight at once while opening: below the listen backlog (tokio: 1024), so
/// thousands of clients come up without SYN retries.
const CONNECTING_AT_ONCE: usize = 256;

/// How a load's connections are opened: the server, the local addresses they come from (in turn,
/// by connection index; none: the system's choice) and the read buffer of each.
#[derive(Debug, Clone)]
pub struct Dial {
    pub addr: SocketAddr,
    pub sources: Vec<IpAddr>,
    pub buf_size: usize,
}

impl Dial {
    pub fn new(addr: SocketAddr, buf_size: usize) -> Dial {
        Dial {
            addr,
            sources: Vec::new(),
            buf_size,
        }
    }

    /// Connection `index` comes from this address, and so does every connection opened again
    /// in its place.
    pub fn source(&self, index: usize) -> Option<IpAddr> {
        (!self.sources.is_empty()).then(|| self.sources[index % self.sources.len()])
    }

    /// Opens (and greets) connection `index`.
    pub async fn open(&self, index: usize) -> Result<Conn> {
        Conn::open_from(self.addr, self.source(index), self.buf_size).await
    }
}

/// `count` IPv4 addresses from `first` up (at least one).
pub fn sources_from(first: std::net::Ipv4Addr, count: u32) -> Vec<IpAddr> {
    (0..count.max(1))
        .map(|k| IpAddr::V4((u32::from(first).wrapping_add(k)).into()))
        .collect()
}

/// Every song's manifest, learned once over one connection before the load starts.
pub async fn manifests(addr: SocketAddr) -> Result<Arc<Vec<Manifest>>> {
    Ok(catalog(addr).await?.1)
}

/// The catalog value of the server's WELCOME and every song's manifest, learned once over one
/// connection before the load starts.
pub async fn catalog(addr: SocketAddr) -> Result<(String, Arc<Vec<Manifest>>)> {
    let mut conn = Conn::open(addr, 64 * 1024).await?;
    let songs = conn.songs().await?;
    let mut manifests = Vec::with_capacity(songs.len());
    for song in &songs {
        manifests.push(conn.manifest(song.id).await?);
    }
    if !manifests.iter().any(|m| !m.segments.is_empty()) {
        return Err(Failure("the server offers no song with segments".into()));
    }
    Ok((conn.catalog().to_string(), Arc::new(manifests)))
}

/// A runtime for one load thread: single-threaded, so a connection's task never moves between
/// threads and no thread wakes another, as in wrk's one event loop per thread.
pub fn thread_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Spreads `clients` connections over `threads` threads, each with its own single-threaded runtime.
/// Every thread opens its connections (at most [`CONNECTING_AT_ONCE`] connecting at a time in all),
/// all wait until every connection is open, then run `work(index, connection)` on each. Returns the
/// totals and the seconds the work phase lasted.
pub fn run<F, Fut>(
    dial: Arc<Dial>,
    clients: usize,
    threads: usize,
    work: F,
) -> Result<(Totals, f64)>
where
    F: Fn(usize, Conn) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ConnStats> + Send + 'static,
{
    let threads = threads.clamp(1, clients.max(1));
    let work = Arc::new(work);
    let opened = Arc::new(Barrier::new(threads));
    let mut handles = Vec::with_capacity(threads);
    for thread in 0..threads {
        let work = work.clone();
        let opened = opened.clone();
        let dial = dial.clone();
        let runtime = thread_runtime()?;
        let gate = (CONNECTING_AT_ONCE / threads).max(1);
        handles.push(std::thread::spawn(move || {
            let mut totals = Totals::default();
            let conns = runtime.block_on(async {
                let gate = Arc::new(Semaphore::new(gate));
                let mut opening = JoinSet::new();
                for index in (thread..clients).step_by(threads) {
                    let gate = gate.clone();
                    let dial = dial.clone();
                    opening.spawn(async move {
                        let _permit = gate.acquire_owned().await;
                        (index, dial.open(index).await)
                    });
                }
                let mut conns = Vec::new();
                while let Some(joined) = opening.join_next().await {
                    match joined {
                        Ok((index, Ok(conn))) => conns.push((index, conn)),
                        Ok((_, Err(e))) => totals.add(&failed(format!("connect: {e}"))),
                        Err(e) => totals.add(&failed(format!("connect task: {e}"))),
                    }
                }
                conns
            });
            opened.wait();
            let started = Instant::now();
            runtime.block_on(async {
                let mut running = JoinSet::new();
                for (index, conn) in conns {
                    let work = work.clone();
                    running.spawn(async move { work(index, conn).await });
                }
                while let Some(joined) = running.join_next().await {
                    match joined {
                        Ok(stats) => totals.add(&stats),
                        Err(e) => totals.add(&failed(format!("connection task: {e}"))),
                    }
                }
            });
            (totals, started.elapsed().as_secs_f64())
        }));
    }
    let mut totals = Totals::default();
    let mut seconds: f64 = 0.0;
    for handle in handles {
        let (part, elapsed) = handle
            .join()
            .map_err(|_| Failure("a load thread panicked".into()))?;
        totals.merge(part);
        seconds = seconds.max(elapsed);
    }
    Ok((totals, seconds))
}

fn failed(message: String) -> ConnStats {
    ConnStats {
        failure: Some(message),
        ..ConnStats::default()
    }
}

/// Every (song, index, length) of the catalog, in order: what throughput clients cycle through.
pub fn all_segments(manifests: &[Manifest]) -> Vec<(u64, u32, usize)> {
    manifests
        .iter()
        .flat_map(|m| {
            m.segments
                .iter()
                .map(move |s| (m.id, s.index, s.bytes as usize))
        })
        .collect()
}

/// Seconds of audio in one segment of a song.
pub fn segment_seconds(manifest: &Manifest, index: usize) -> f64 {
    manifest.segments[index].samples as f64 / f64::from(manifest.sample_rate.max(1))
}

/// The deadline of a run of `duration` starting now.
pub fn deadline(duration: Duration) -> Instant {
    Instant::now() + duration
}
