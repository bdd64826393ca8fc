//! `jukebox-segmenter`: cuts every mp3 of a folder into a pre-chunked catalog that
//! `jukebox-server --catalog` serves without reading audio at startup.

mod progress;
mod text;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{CommandFactory, Parser};
use jukebox_segmenter::{segment_all, write_catalog, Progress, Summary};

use progress::{Bar, Lines};
use text::{count, printable, shown};

const AFTER_HELP: &str = "\
Examples:
  jukebox-segmenter ~/Music /srv/catalog
      cuts every mp3 below ~/Music into the catalog /srv/catalog; run it again after changes
  jukebox-server --catalog /srv/catalog
      serves it
  jukebox-segmenter --bench ~/Music --jobs 1
      measures segmenting on one core, writing nothing
  jukebox-segmenter --completions bash > ~/.local/share/bash-completion/completions/jukebox-segmenter
  jukebox-segmenter --man > ~/.local/share/man/man1/jukebox-segmenter.1

Exit status:
  0  the catalog was written (files that are not playable mp3 are skipped and listed)
  1  the run failed, and the previous catalog is left in place: IN_DIR holds no playable mp3,
     or a folder cannot be read or written
  2  the command line is wrong

Catalog layout (docs/CATALOG.md):
  OUT_DIR/index.sqlite                 the index (SQLite): every song's ID, tags, manifest and folder
  OUT_DIR/songs/<folder>/000000.seg    segment 0, 1, 2...: whole MPEG frames, concatenated = the audio

A song folder is written under a temporary name and renamed when complete, then the index changes in
one transaction, so an interrupted run leaves the previous catalog in place. Re-running on the same
input rewrites only songs that changed and removes songs whose source is gone. A song's ID comes from
its audio: renaming, moving or retagging a file keeps it, as does adding or removing other files, and
`jukebox-server --music IN_DIR` gives the same IDs. A catalog of an earlier version (index.json) is
rebuilt.";

/// Cuts every *.mp3 below IN_DIR (recursively) into a pre-chunked catalog in OUT_DIR, for
/// `jukebox-server --catalog OUT_DIR`.
#[derive(Debug, Parser)]
#[command(name = "jukebox-segmenter", version, after_help = AFTER_HELP)]
#[command(override_usage = "jukebox-segmenter [OPTIONS] <IN_DIR> <OUT_DIR>
       jukebox-segmenter --bench <DIR> [--jobs <N>] [--segment-duration <SECONDS>]
       jukebox-segmenter --completions <SHELL>
       jukebox-segmenter --man")]
struct Args {
    /// Folder of mp3 files to segment.
    #[arg(value_name = "IN_DIR", required_unless_present = "bench")]
    input: Option<PathBuf>,

    /// Catalog folder to write (created if missing; must be empty or a catalog).
    #[arg(value_name = "OUT_DIR", required_unless_present = "bench")]
    output: Option<PathBuf>,

    /// Target duration of a segment, in seconds.
    #[arg(long, value_name = "SECONDS", default_value = "2", value_parser = parse_seconds)]
    segment_duration: Duration,

    /// Read, segment and hash every mp3 below DIR without writing anything, and print the rate.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["input", "output"])]
    bench: Option<PathBuf>,

    /// Threads to use (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,

    /// Print the completion script for SHELL (bash, zsh, fish, elvish, powershell) and exit.
    #[arg(long, value_name = "SHELL", exclusive = true)]
    completions: Option<clap_complete::Shell>,

    /// Print the man page (roff) and exit.
    #[arg(long, exclusive = true)]
    man: bool,
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if seconds.is_nan() || seconds <= 0.0 {
        return Err("must be more than 0 seconds".into());
    }
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text}: {e}"))
}

fn main() -> ExitCode {
    // clap's own message for a wrong command line (what is wrong, the usage line), exit status 2.
    let args = Args::parse();
    if let Some(exit) = print_docs(&args) {
        return exit;
    }
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("jukebox-segmenter: {}", printable(&message));
            ExitCode::FAILURE
        }
    }
}

/// With --completions or --man, prints what they ask for and gives the exit status.
fn print_docs(args: &Args) -> Option<ExitCode> {
    let mut out = std::io::stdout().lock();
    let written = if let Some(shell) = args.completions {
        clap_complete::generate(shell, &mut Args::command(), "jukebox-segmenter", &mut out);
        Ok(())
    } else if args.man {
        clap_mangen::Man::new(Args::command()).render(&mut out)
    } else {
        return None;
    };
    Some(match written.and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jukebox-segmenter: cannot write to stdout: {e}");
            ExitCode::FAILURE
        }
    })
}

fn run(args: Args) -> Result<(), String> {
    if let Some(jobs) = args.jobs {
        rayon::ThreadPoolBuilder::new()
            .num_threads(usize::from(jobs))
            .build_global()
            .map_err(|e| format!("cannot start {jobs} threads: {e}"))?;
    }
    let terminal = std::io::stderr().is_terminal();
    let (bar, lines) = (terminal.then(Bar::new), (!terminal).then(Lines::new));
    let progress: &dyn Progress = match (&bar, &lines) {
        (Some(bar), _) => bar,
        (_, Some(lines)) => lines,
        _ => unreachable!("one of the two is set"),
    };
    let started = Instant::now();
    let result = match (&args.bench, &args.input, &args.output) {
        (Some(dir), _, _) => segment_all(dir, args.segment_duration, progress),
        (None, Some(input), Some(output)) => {
            write_catalog(input, output, args.segment_duration, progress)
        }
        _ => return Err("IN_DIR and OUT_DIR are required".into()),
    };
    let elapsed = started.elapsed();
    if let Some(bar) = &bar {
        bar.finish();
    }
    let summary = result.map_err(|e| e.to_string())?;
    match &args.bench {
        Some(dir) => print_bench(&summary, dir, elapsed),
        None => print_summary(
            &summary,
            args.output.as_deref().unwrap_or(".".as_ref()),
            elapsed,
        ),
    }
    Ok(())
}

fn print_summary(s: &Summary, output: &std::path::Path, elapsed: Duration) {
    println!(
        "{} in {} ({} written, {} unchanged, {} removed), {} skipped",
        count(s.songs as u64, "song", "songs"),
        shown(output.display()),
        s.written,
        s.unchanged,
        s.removed,
        s.skipped.len()
    );
    for skipped in &s.skipped {
        println!(
            "  skipped {}: {}",
            shown(skipped.path.display()),
            printable(&skipped.reason)
        );
    }
    println!(
        "total duration {}, {} bytes of segments from {} bytes of mp3, in {:.2} s",
        hms(s.duration_ms),
        s.bytes,
        s.source_bytes,
        elapsed.as_secs_f64()
    );
}

fn print_bench(s: &Summary, dir: &std::path::Path, elapsed: Duration) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    println!(
        "bench {}: {}, {} skipped, {} bytes read, {} bytes of segments hashed, {:.3} s, {:.1} MB/s, {}",
        shown(dir.display()),
        count(s.songs as u64, "song", "songs"),
        s.skipped.len(),
        s.source_bytes,
        s.bytes,
        secs,
        s.source_bytes as f64 / 1e6 / secs,
        count(rayon::current_num_threads() as u64, "thread", "threads")
    );
}

/// Milliseconds as h:mm:ss.
fn hms(ms: u64) -> String {
    let s = ms / 1000;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}
