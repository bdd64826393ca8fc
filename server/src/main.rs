//! `jukebox-server`: serves every mp3 below a folder, or a catalog pre-chunked by
//! `jukebox-segmenter`, over the Jukebox protocol.

use std::io::IsTerminal;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{ArgGroup, Parser};
use jukebox_server::{Config, Server, Store};
use tracing_subscriber::EnvFilter;

/// Serves the mp3 files of a folder, or a catalog written by jukebox-segmenter, to Jukebox
/// clients over TCP.
#[derive(Debug, Parser)]
#[command(name = "jukebox-server", version)]
#[command(group(ArgGroup::new("songs").required(true).args(["music", "catalog"])))]
struct Args {
    /// Folder whose *.mp3 files (searched recursively) are segmented at startup and served.
    #[arg(long, value_name = "DIR")]
    music: Option<PathBuf>,

    /// Catalog folder written by `jukebox-segmenter IN_DIR DIR`: served without reading any audio
    /// at startup; segments are read from disk when first asked for, then cached.
    #[arg(long, value_name = "DIR", conflicts_with = "segment_duration")]
    catalog: Option<PathBuf>,

    /// Memory for segments read from the catalog, in MiB (0: no cache).
    #[arg(long, value_name = "MIB", default_value_t = jukebox_server::DEFAULT_CACHE_BYTES >> 20,
          conflicts_with = "music")]
    cache_mib: u64,

    /// Memory for segments read from the catalog that transfers hold beyond what the cache keeps,
    /// in MiB: reads wait (within --read-timeout) while segment buffers read from disk, cached or
    /// being sent, take --cache-mib plus this.
    #[arg(long, value_name = "MIB",
          default_value_t = jukebox_server::store::DEFAULT_TRANSFER_BYTES >> 20,
          conflicts_with = "music")]
    transfer_mib: u64,

    /// Seconds a segment read from the catalog may take (waiting for its turn included) before
    /// that request is answered with ERROR INTERNAL.
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = parse_seconds,
          conflicts_with = "music")]
    read_timeout: Duration,

    /// Address to listen on. The Jukebox port is 5853; port 0 picks a free one.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:5853", value_parser = parse_addr)]
    listen: SocketAddr,

    /// Connections served at once; more are refused with SERVER_BUSY. Lowered at start (with a
    /// warning) if the file descriptor limit cannot be raised to fit it.
    #[arg(long, value_name = "N", default_value_t = Config::default().max_connections)]
    max_connections: usize,

    /// Connections one source (an IPv4 address, or an IPv6 /64) may have open at once; more are
    /// refused with SERVER_BUSY. 0: no limit.
    #[arg(long, value_name = "N", default_value_t = jukebox_server::DEFAULT_MAX_PER_SOURCE)]
    max_per_source: usize,

    /// New connections per second one source may open, after a burst of --max-per-source; more
    /// are refused with SERVER_BUSY. 0: no limit.
    #[arg(long, value_name = "N", default_value_t = jukebox_server::DEFAULT_SOURCE_RATE)]
    source_rate: u32,

    /// Percent of --max-connections kept for sources that hold few connections: once only these
    /// slots are free, a source holding --reserve-per-source or more is refused with SERVER_BUSY,
    /// so that attackers from many addresses cannot fill the server. 0: no reserve.
    #[arg(long, value_name = "PERCENT", default_value_t = jukebox_server::DEFAULT_RESERVE_PERCENT,
          value_parser = clap::value_parser!(u8).range(0..=100))]
    reserve: u8,

    /// Connections a source may hold and still be given one of the reserved slots (see
    /// --reserve).
    #[arg(long, value_name = "N", default_value_t = jukebox_server::DEFAULT_RESERVE_PER_SOURCE)]
    reserve_per_source: usize,

    /// Connections the kernel queues before the server accepts them (capped by the system's
    /// net.core.somaxconn).
    #[arg(long, value_name = "N", default_value_t = jukebox_server::DEFAULT_BACKLOG)]
    backlog: u32,

    /// Seconds a connection may go without a whole frame received or sent before it is closed
    /// (waiting for a catalog read does not count).
    #[arg(long, value_name = "SECONDS", default_value = "60", value_parser = parse_seconds)]
    idle_timeout: Duration,

    /// Seconds within which a frame must be whole once its first byte has arrived.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_seconds)]
    frame_timeout: Duration,

    /// Seconds a client may take no byte while data waits for it before it is closed.
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = parse_seconds)]
    send_timeout: Duration,

    /// --send-timeout for a client that has closed its sending side (if shorter).
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = parse_seconds)]
    fin_timeout: Duration,

    /// TCP_NOTSENT_LOWAT of client sockets: unsent bytes the kernel holds per connection, which a
    /// control response cannot overtake. 0 leaves the system default.
    #[arg(long, value_name = "BYTES", default_value_t = jukebox_server::DEFAULT_NOTSENT_LOWAT)]
    notsent_lowat: u32,

    /// DATA frames per write (1 to 8); more than 1 breaks the rule of one DATA frame between
    /// checks for control requests, and is only for measuring what that rule costs.
    #[arg(long, value_name = "N", default_value_t = 1, hide = true)]
    data_frames_per_write: usize,

    /// Target duration of a segment, in seconds (with --music; a catalog's segments are cut
    /// already).
    #[arg(long, value_name = "SECONDS", default_value = "2", value_parser = parse_seconds)]
    segment_duration: Duration,
}

fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    text.to_socket_addrs()
        .map_err(|e| format!("{text}: {e}"))?
        .next()
        .ok_or_else(|| format!("{text} resolves to no address"))
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("{text} is not a number of seconds"))?;
    if seconds.is_nan() || seconds <= 0.0 {
        return Err("must be more than 0 seconds".into());
    }
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text}: {e}"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("jukebox-server: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    // Segmenting uses every core through its own thread pool, so it runs before the async runtime.
    let store = Arc::new(match (&args.music, &args.catalog) {
        (_, Some(catalog)) => {
            let cache = args.cache_mib.saturating_mul(1 << 20);
            let store = Store::open_catalog(catalog, cache)
                .map_err(|e| format!("cannot open catalog {}: {e}", catalog.display()))?;
            report(&store, &format!("catalog {}", catalog.display()))?;
            tracing::info!(
                "segments are read from disk when first asked for; cache {} MiB, {} MiB more for \
                 segments being sent",
                args.cache_mib,
                args.transfer_mib
            );
            store
                .with_transfer_budget(args.transfer_mib.saturating_mul(1 << 20))
                .with_read_timeout(args.read_timeout)
        }
        (Some(music), None) => {
            let loaded = jukebox_segmenter::load_dir(music, args.segment_duration)
                .map_err(|e| format!("cannot read music folder {}: {e}", music.display()))?;
            for skipped in &loaded.skipped {
                tracing::warn!("skipping {}: {}", skipped.path.display(), skipped.reason);
            }
            let store = Store::try_new(loaded.songs, jukebox_server::DEFAULT_CACHE_BYTES)
                .map_err(|e| format!("cannot index music folder {}: {e}", music.display()))?;
            report(&store, &music.display().to_string())?;
            store
        }
        // clap requires one of the two.
        (None, None) => return Err("give --music DIR or --catalog DIR".into()),
    });
    let config = Config {
        listen: args.listen,
        max_connections: fit_descriptors(args.max_connections)?,
        max_per_source: args.max_per_source,
        source_rate: args.source_rate,
        reserve_percent: args.reserve,
        reserve_per_source: args.reserve_per_source,
        backlog: args.backlog,
        idle_timeout: args.idle_timeout,
        frame_timeout: args.frame_timeout,
        send_timeout: args.send_timeout,
        fin_timeout: args.fin_timeout,
        notsent_lowat: (args.notsent_lowat > 0).then_some(args.notsent_lowat),
        data_frames_per_write: args.data_frames_per_write,
        ..Config::default()
    };
    // This runtime only accepts connections and waits for signals.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start: {e}"))?;
    runtime.block_on(async {
        let server = Server::bind(config, store)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        tracing::info!("listening on {}", server.local_addr());
        // Connections are served on one single-threaded runtime per core (see run_on_threads).
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        tokio::select! {
            result = server.run_on_threads(threads) => {
                result.map_err(|e| format!("cannot start connection threads: {e}"))?
            }
            () = shutdown_signal() => tracing::info!("shutting down"),
        }
        Ok(())
    })
}

/// Raises the file descriptor limit to what `max_connections` needs (see
/// [`jukebox_server::descriptors_needed`]), or, where the hard limit does not allow that, lowers
/// the connection limit to what fits and says so, as redis does: a server past its descriptors
/// cannot accept at all, and clients would wait for a connection that never comes instead of
/// getting SERVER_BUSY.
fn fit_descriptors(max_connections: usize) -> Result<usize, String> {
    let needed = jukebox_server::descriptors_needed(max_connections);
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit through the pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(format!(
            "cannot read the file descriptor limit: {}",
            std::io::Error::last_os_error()
        ));
    }
    // Only up to the hard limit; already there, there is nothing to raise.
    if limit.rlim_cur < needed.min(limit.rlim_max) {
        let raised = libc::rlimit {
            rlim_cur: needed.min(limit.rlim_max),
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads one rlimit through the pointer.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            tracing::info!(
                "file descriptor limit raised from {} to {}",
                limit.rlim_cur,
                raised.rlim_cur
            );
            limit.rlim_cur = raised.rlim_cur;
        }
    }
    if limit.rlim_cur >= needed {
        return Ok(max_connections);
    }
    let fits = jukebox_server::connections_within(limit.rlim_cur);
    if fits == 0 {
        return Err(format!(
            "{} file descriptors are too few to serve any connection (ulimit -n); \
             {needed} are needed for --max-connections {max_connections}",
            limit.rlim_cur
        ));
    }
    tracing::warn!(
        "--max-connections {max_connections} needs {needed} file descriptors, but only {} are \
         allowed (hard limit {}); serving at most {fits} connections. Raise the limit \
         (ulimit -n, LimitNOFILE=) to serve more",
        limit.rlim_cur,
        limit.rlim_max
    );
    Ok(fits)
}

/// Logs what is served.
fn report(store: &Store, from: &str) -> Result<(), String> {
    let meta = store.meta()?;
    tracing::info!(
        "loaded {} songs ({} segments, {:.1} MB of audio) from {from}",
        meta.songs,
        meta.segments,
        meta.bytes as f64 / 1e6,
    );
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    if let Ok(mut term) = signal(SignalKind::terminate()) {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        return;
    }
    if tokio::signal::ctrl_c().await.is_err() {
        // No signal handling available: serve until killed.
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flags_default_to_the_library_defaults() {
        let args = Args::parse_from(["jukebox-server", "--music", "m"]);
        let config = Config::default();
        assert_eq!(args.max_connections, config.max_connections);
        assert_eq!(args.max_per_source, config.max_per_source);
        assert_eq!(args.source_rate, config.source_rate);
        assert_eq!(args.reserve, config.reserve_percent);
        assert_eq!(args.reserve_per_source, config.reserve_per_source);
        assert_eq!(args.backlog, config.backlog);
        assert_eq!(args.idle_timeout, config.idle_timeout);
        assert_eq!(args.frame_timeout, config.frame_timeout);
        assert_eq!(args.send_timeout, config.send_timeout);
        assert_eq!(args.fin_timeout, config.fin_timeout);
        assert_eq!(Some(args.notsent_lowat), config.notsent_lowat);
        assert_eq!(
            args.read_timeout,
            jukebox_server::store::DEFAULT_READ_TIMEOUT
        );
        assert_eq!(
            args.transfer_mib << 20,
            jukebox_server::store::DEFAULT_TRANSFER_BYTES
        );
        assert_eq!(args.cache_mib << 20, jukebox_server::DEFAULT_CACHE_BYTES);
    }
}
