//! `jukebox-server`: serves every mp3 below a folder, or a catalog pre-chunked by
//! `jukebox-segmenter`, over the Jukebox protocol.

use std::io::{IsTerminal, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{ArgGroup, CommandFactory, Parser};
use jukebox_server::{Config, Listener, Store};
use tracing_subscriber::EnvFilter;

/// Examples, logs and exit status; shown by --help and in the man page.
const AFTER_HELP: &str = "\
Examples:
  jukebox-server --music ~/Music
      serves every mp3 below ~/Music on 127.0.0.1:5853
  jukebox-server --catalog /srv/catalog --listen 0.0.0.0:5853
      serves a catalog written by `jukebox-segmenter ~/Music /srv/catalog` to other machines
  jukebox-server --completions bash > ~/.local/share/bash-completion/completions/jukebox-server
  jukebox-server --man > ~/.local/share/man/man1/jukebox-server.1

Environment:
  RUST_LOG  what is logged to stderr, as tracing directives, e.g. jukebox_server=debug
            (default: info)

Exit status:
  0  stopped by SIGINT or SIGTERM
  1  cannot start (the port is in use, the folder or catalog cannot be read)
  2  the command line is wrong";

/// Serves the mp3 files of a folder, or a catalog written by jukebox-segmenter, to Jukebox
/// clients over TCP.
#[derive(Debug, Parser)]
#[command(name = "jukebox-server", version, after_help = AFTER_HELP)]
#[command(
    override_usage = "jukebox-server [OPTIONS] <--music <DIR>|--catalog <DIR>>
       jukebox-server --completions <SHELL>
       jukebox-server --man"
)]
// --completions and --man are in the group so that they need neither --music nor --catalog.
#[command(group(ArgGroup::new("songs").required(true)
    .args(["music", "catalog", "completions", "man"])))]
struct Args {
    /// Folder whose *.mp3 files (searched recursively) are segmented at startup and served.
    #[arg(long, value_name = "DIR")]
    music: Option<PathBuf>,

    /// Catalog folder written by `jukebox-segmenter IN_DIR DIR`: served without reading any audio
    /// at startup; segments are read from disk when first asked for, then cached. Or such a
    /// folder uploaded to an S3-compatible store, as s3://BUCKET/PREFIX (e.g. with aws s3 sync):
    /// the index is downloaded at startup, segments fetched when first asked for; endpoint,
    /// region and credentials from AWS_ENDPOINT, AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY (AWS_ALLOW_HTTP=true for an http:// endpoint).
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

    /// Connections come through a load balancer that opens each with a PROXY protocol v2 header
    /// (HAProxy's send-proxy-v2): its client address counts for --max-per-source and
    /// --source-rate and in logs; a connection without one is closed. Without this flag such a
    /// header is refused (ERROR FRAME_TOO_LARGE).
    #[arg(long)]
    proxy_protocol: bool,

    /// Seconds a drain lasts at most. On SIGTERM (or Ctrl-C) the server stops accepting, sends each
    /// client GOAWAY with this time, finishes the transfers under way, and exits when its clients
    /// have moved to a new connection or this time is over. A second signal exits at once.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_seconds)]
    drain_time: Duration,

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

    /// Print the completion script for SHELL (bash, zsh, fish, elvish, powershell) and exit.
    #[arg(long, value_name = "SHELL", exclusive = true)]
    completions: Option<clap_complete::Shell>,

    /// Print the man page (roff) and exit.
    #[arg(long, exclusive = true)]
    man: bool,
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
    if let Some(exit) = print_docs(&args) {
        return exit;
    }
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
        proxy_protocol: args.proxy_protocol,
        ..Config::default()
    };
    let (runtime, listener) = bind(config)?;
    // Segmenting uses every core through its own thread pool, so it runs before the async runtime
    // does.
    let store = Arc::new(match (&args.music, &args.catalog) {
        (_, Some(catalog)) => {
            let cache = args.cache_mib.saturating_mul(1 << 20);
            let url = catalog
                .to_str()
                .filter(|path| path.starts_with(jukebox_server::object_catalog::SCHEME));
            let store = match url {
                Some(url) => Store::open_objects(url, cache),
                None => Store::open_catalog(catalog, cache),
            }
            .map_err(|e| format!("cannot open catalog {}: {e}", catalog.display()))?;
            report(&store, &format!("catalog {}", catalog.display()))?;
            tracing::info!(
                "segments are read from {} when first asked for; cache {} MiB, {} MiB more \
                 for segments being sent",
                if url.is_some() {
                    "the object store"
                } else {
                    "disk"
                },
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
    runtime.block_on(async {
        let server = listener.serve(store);
        tracing::info!("listening on {}", server.local_addr());
        // Connections are served on one single-threaded runtime per core (see run_on_threads).
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let drainer = server.drainer();
        let run = server.run_on_threads(threads);
        tokio::pin!(run);
        tokio::select! {
            result = &mut run => {
                return result.map_err(|e| format!("cannot start connection threads: {e}"));
            }
            () = shutdown_signal() => {}
        }
        tracing::info!(
            "shutting down: draining for at most {} s",
            args.drain_time.as_secs_f64()
        );
        drainer.drain(args.drain_time);
        tokio::select! {
            _ = &mut run => tracing::info!("every client has moved; exiting"),
            () = shutdown_signal() => tracing::info!("a second signal: exiting now"),
            // Connections close at the drain time; this is only a safety net.
            () = tokio::time::sleep(args.drain_time + std::time::Duration::from_secs(5)) => {
                tracing::warn!("connections outlived the drain time; exiting");
            }
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

/// With --completions or --man, prints what they ask for and gives the exit status.
fn print_docs(args: &Args) -> Option<ExitCode> {
    let mut out = std::io::stdout().lock();
    let written = if let Some(shell) = args.completions {
        clap_complete::generate(shell, &mut Args::command(), "jukebox-server", &mut out);
        Ok(())
    } else if args.man {
        clap_mangen::Man::new(Args::command()).render(&mut out)
    } else {
        return None;
    };
    Some(match written.and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jukebox-server: cannot write to stdout: {e}");
            ExitCode::FAILURE
        }
    })
}

/// Binds the port before the songs are loaded, which can take minutes, so that a port in use
/// fails at once. The runtime returned, which holds the listener, only accepts connections and
/// waits for signals.
fn bind(config: Config) -> Result<(tokio::runtime::Runtime, Listener), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start: {e}"))?;
    let addr = config.listen;
    let listener = runtime
        .block_on(Listener::bind(config))
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    Ok((runtime, listener))
}

/// Logs what is served.
fn report(store: &Store, from: &str) -> Result<(), String> {
    let meta = store.meta()?;
    tracing::info!(
        "loaded {} ({} segments, {:.1} MB of audio) from {from}",
        count(meta.songs, "song", "songs"),
        meta.segments,
        meta.bytes as f64 / 1e6,
    );
    if meta.songs == 0 {
        tracing::warn!("no song to serve in {from}");
    }
    Ok(())
}

/// `1 song`, `2 songs`.
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
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
