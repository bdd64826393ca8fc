//! `jukebox`: the command-line client.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use jukebox_client::cli::{self, Args};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| {
            // symphonia logs as errors what is routine here (a probe cut short because the song
            // was stopped before its first segment); the player reports real decode failures.
            EnvFilter::new("warn,symphonia_core=off,symphonia_bundle_mp3=off")
        }))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(cli::run(args));
    // Threads blocked on stdin must not hold the exit up.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", cli::display::printable(&e));
            ExitCode::FAILURE
        }
    }
}
