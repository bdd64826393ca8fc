//! Showing a run as it goes: a progress bar on a terminal, one line per song otherwise (logs).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use jukebox_segmenter::{Outcome, Progress};

use crate::text::{count, printable, shown};

/// A bar of bytes read, with songs done, rate and ETA.
pub struct Bar {
    bar: ProgressBar,
    files: AtomicU64,
    done: AtomicU64,
}

impl Bar {
    pub fn new() -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{wide_bar} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}",
            )
            .expect("a valid template"),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        Bar {
            bar,
            files: AtomicU64::new(0),
            done: AtomicU64::new(0),
        }
    }

    /// Removes the bar, leaving the terminal for the summary.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for Bar {
    fn start(&self, files: u64, bytes: u64) {
        self.files.store(files, Ordering::Relaxed);
        self.bar.set_length(bytes);
        self.bar.set_message(format!("songs 0/{files}"));
    }

    fn file_done(&self, path: &Path, bytes: u64, outcome: &Outcome) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Outcome::Skipped(reason) = outcome {
            self.bar.println(format!(
                "skipping {}: {}",
                shown(path.display()),
                printable(reason)
            ));
        }
        self.bar.inc(bytes);
        let files = self.files.load(Ordering::Relaxed);
        self.bar.set_message(format!("songs {done}/{files}"));
    }
}

/// One plain line per song on stderr, for logs.
pub struct Lines {
    files: AtomicU64,
    done: AtomicU64,
}

impl Lines {
    pub fn new() -> Self {
        Lines {
            files: AtomicU64::new(0),
            done: AtomicU64::new(0),
        }
    }
}

impl Progress for Lines {
    fn start(&self, files: u64, bytes: u64) {
        self.files.store(files, Ordering::Relaxed);
        let files = count(files, "file", "files");
        eprintln!("{files}, {:.1} MB to read", bytes as f64 / 1e6);
    }

    fn file_done(&self, path: &Path, _bytes: u64, outcome: &Outcome) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        let files = self.files.load(Ordering::Relaxed);
        let what = match outcome {
            Outcome::Written => "written".to_owned(),
            Outcome::Unchanged => "unchanged".to_owned(),
            Outcome::Segmented => "segmented".to_owned(),
            Outcome::Skipped(reason) => format!("skipped: {}", printable(reason)),
        };
        eprintln!("[{done}/{files}] {}: {what}", shown(path.display()));
    }
}
