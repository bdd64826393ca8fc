//! `jukebox`: the command-line client. The exit status is documented in `cli::args::EXIT_STATUS`.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use jukebox_client::cli::{self, Args};
use tracing_subscriber::EnvFilter;

/// symphonia logs as errors what is routine here (a probe cut short because the song was stopped
/// before its first segment); the player reports real decode failures. RUST_LOG's directives come
/// after these, so they can turn symphonia back on.
const QUIET: &str = "warn,symphonia_core=off,symphonia_bundle_mp3=off";

fn main() -> ExitCode {
    // clap exits with 2 on a usage error, 0 for --help and --version.
    let args = Args::parse();
    if let Some(shell) = args.completions {
        clap_complete::generate(
            shell,
            &mut Args::command(),
            "jukebox",
            &mut std::io::stdout(),
        );
        return ExitCode::SUCCESS;
    }
    if args.man {
        let mut out = std::io::stdout().lock();
        return match clap_mangen::Man::new(Args::command()).render(&mut out) {
            Ok(()) if out.flush().is_ok() => ExitCode::SUCCESS,
            _ => ExitCode::FAILURE,
        };
    }
    let directives = match std::env::var("RUST_LOG") {
        Ok(own) if !own.trim().is_empty() => format!("{QUIET},{own}"),
        _ => QUIET.to_string(),
    };
    // At the prompt, log lines are drawn by the screen, where colour codes would be shown as
    // text; elsewhere stderr gets colour when it is a terminal.
    let ansi = std::io::stderr().is_terminal() && !cli::interactive(&args);
    tracing_subscriber::fmt()
        .with_writer(cli::log::LogWriter)
        .with_ansi(ansi)
        .with_env_filter(EnvFilter::try_new(&directives).unwrap_or_else(|e| {
            eprintln!("warning: RUST_LOG is not understood ({e}); using the default");
            EnvFilter::new(QUIET)
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
    // Threads blocked on stdin, and requests a stopped server never answers, must not hold the
    // exit up.
    runtime.shutdown_background();
    match result {
        Ok(exit) => match exit.signal {
            Some(signal) => ExitCode::from(signal.exit_status()),
            None if exit.failed => ExitCode::FAILURE,
            None => ExitCode::SUCCESS,
        },
        Err(e) => {
            eprintln!("error: {}", cli::display::printable(&e));
            ExitCode::FAILURE
        }
    }
}
