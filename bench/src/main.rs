//! `jukebox-bench`: loads a Jukebox server over its own protocol and reports what it measured.

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use jukebox_bench::conn::Failure;
use jukebox_bench::load::thread_runtime;
use jukebox_bench::{attack, dump, latency, probe, realtime, throughput};
use serde::Serialize;

/// Load generator and latency probe for a Jukebox server.
#[derive(Debug, Parser)]
#[command(name = "jukebox-bench", version)]
struct Args {
    /// Server to load.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:5853", value_parser = parse_addr, global = true)]
    server: SocketAddr,

    /// How long the load (or the list probe of `latency`) runs, in seconds.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_seconds, global = true)]
    duration: Duration,

    /// Threads of the load generator, each with its own event loop (default: one per core).
    #[arg(long, value_name = "N", global = true)]
    threads: Option<usize>,

    /// Print the report as one JSON object instead of a line of text.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// N players at real-time pace: underruns, segment latency, failed streams. A player whose
    /// server goes away (GOAWAY) or whose connection is lost reconnects to the same address and
    /// plays on; reconnects are counted.
    Realtime {
        #[arg(long, value_name = "N", default_value_t = 100)]
        clients: usize,
        /// Every player plays this song, over and over (default: the songs in turn).
        #[arg(long, value_name = "ID")]
        song: Option<u64>,
        /// Players connect from this local address and the next --sources - 1 in turn (e.g.
        /// 127.0.0.2 and up, so that a server's per-source limits see many listeners), default:
        /// the system's choice.
        #[arg(long, value_name = "ADDR")]
        source: Option<std::net::Ipv4Addr>,
        /// Source addresses to use, counting up from --source.
        #[arg(long, value_name = "N", default_value_t = 1, requires = "source")]
        sources: u32,
    },
    /// N connections pulling segments back to back: segments/s, MB/s, latency.
    Throughput {
        #[arg(long, value_name = "N", default_value_t = 64)]
        clients: usize,
        /// Ask only for this song's segments (default: every song's, in turn).
        #[arg(long, value_name = "ID")]
        song: Option<u64>,
        /// Ask only for the segment with this index, e.g. to match a load that fetches one file.
        #[arg(long, value_name = "INDEX")]
        segment: Option<u32>,
    },
    /// Writes every segment the server offers to OUT/SONG/INDEX.mp3 (verified against its manifest),
    /// for serving the same bytes with another server.
    Dump {
        #[arg(long, value_name = "DIR")]
        out: std::path::PathBuf,
    },
    /// Hostile clients of one kind (see docs/BENCHMARKS.md, "Hostile clients"), from SOURCE and
    /// the next N-1 addresses in turn.
    Attack {
        #[arg(long, value_enum)]
        kind: attack::Kind,
        /// Connections held (or, for `dead` kinds, in flight) at once; for `burst`, opened.
        #[arg(long, value_name = "N", default_value_t = 1000)]
        connections: usize,
        /// New connections per second (0: as fast as possible).
        #[arg(long, value_name = "N", default_value_t = 0.0)]
        rate: f64,
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.2")]
        source: std::net::Ipv4Addr,
        /// Source addresses to use, counting up from --source.
        #[arg(long, value_name = "N", default_value_t = 1)]
        sources: u32,
        /// For `dead` kinds: milliseconds from the requests to the reset.
        #[arg(long, value_name = "MS", default_value_t = 200)]
        hold_ms: u64,
    },
    /// A newcomer from SOURCE, every INTERVAL: whether and how fast it is welcomed.
    Probe {
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.3")]
        source: std::net::Ipv4Addr,
        #[arg(long, value_name = "MS", default_value_t = 250)]
        interval_ms: u64,
    },
    /// Time to first audio for play and switch, and LIST round trips during a long transfer.
    Latency {
        /// Play and switch trials.
        #[arg(long, value_name = "N", default_value_t = 200)]
        trials: usize,
        /// Milliseconds between LIST probes.
        #[arg(long, value_name = "MS", default_value_t = 10)]
        list_interval_ms: u64,
    },
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
    // Thousands of connections need thousands of descriptors: take what the hard limit allows.
    let wanted = match &args.mode {
        Mode::Realtime { clients, .. } | Mode::Throughput { clients, .. } => *clients as u64 + 64,
        Mode::Attack { connections, .. } => *connections as u64 + 64,
        Mode::Latency { .. } | Mode::Dump { .. } | Mode::Probe { .. } => 64,
    };
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < wanted => eprintln!(
            "jukebox-bench: warning: only {limit} file descriptors allowed; connections beyond that will fail"
        ),
        Ok(_) => {}
        Err(e) => eprintln!("jukebox-bench: warning: cannot raise the file descriptor limit: {e}"),
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let server = args.server;
    let duration = args.duration;
    let json = args.json;
    let outcome = match args.mode {
        Mode::Realtime {
            clients,
            song,
            source,
            sources,
        } => {
            let sources = source.map_or_else(Vec::new, |first| {
                jukebox_bench::load::sources_from(first, sources)
            });
            realtime::realtime(server, sources, clients, duration, song, threads)
                .map(|r| (r.failed + r.underruns == 0, render(&r, json)))
        }
        Mode::Throughput {
            clients,
            song,
            segment,
        } => {
            let selection = throughput::Selection { song, segment };
            throughput::throughput(server, clients, duration, selection, threads)
                .map(|r| (r.failed == 0, render(&r, json)))
        }
        Mode::Latency {
            trials,
            list_interval_ms,
        } => {
            let options = latency::Options {
                trials,
                duration,
                list_interval: Duration::from_millis(list_interval_ms.max(1)),
            };
            thread_runtime()
                .map_err(Failure::from)
                .and_then(|rt| rt.block_on(latency::latency(server, options)))
                .map(|r| (r.failed == 0, render(&r, json)))
        }
        Mode::Attack {
            kind,
            connections,
            rate,
            source,
            sources,
            hold_ms,
        } => thread_runtime()
            .map_err(Failure::from)
            .and_then(|rt| {
                rt.block_on(async {
                    let manifests = jukebox_bench::load::manifests(server).await?;
                    let segments = jukebox_bench::load::all_segments(&manifests)
                        .into_iter()
                        .map(|(song, index, _)| (song, index))
                        .collect();
                    let options = attack::Options {
                        kind,
                        connections,
                        rate,
                        duration,
                        sources: (0..sources.max(1))
                            .map(|k| std::net::IpAddr::V4((u32::from(source) + k).into()))
                            .collect(),
                        segments: std::sync::Arc::new(segments),
                        hold: Duration::from_millis(hold_ms),
                    };
                    attack::attack(server, options).await
                })
            })
            .map(|r| (true, render(&r, json))),
        Mode::Probe {
            source,
            interval_ms,
        } => thread_runtime()
            .map_err(Failure::from)
            .and_then(|rt| {
                rt.block_on(probe::probe(
                    server,
                    source.into(),
                    duration,
                    Duration::from_millis(interval_ms.max(1)),
                ))
            })
            .map(|r| (r.failed == 0, render(&r, json))),
        Mode::Dump { out } => thread_runtime()
            .map_err(Failure::from)
            .and_then(|rt| rt.block_on(dump::dump(server, &out)))
            .map(|r| (true, render(&r, json))),
    };
    match outcome {
        Ok((clean, text)) => {
            println!("{text}");
            if clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("jukebox-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn render<R: Serialize + std::fmt::Display>(report: &R, json: bool) -> String {
    if json {
        serde_json::to_string(report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    } else {
        report.to_string()
    }
}
