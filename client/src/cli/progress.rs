//! The progress bar shown at a terminal while a song plays: title, elapsed / total, buffered
//! seconds. indicatif renders it into a [`TermLike`] that hands each finished drawing to the
//! terminal printer, which keeps it on the line above the prompt.

use std::fmt;
use std::io;
use std::sync::{Arc, Mutex};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

use super::display::{minutes, printable};
use super::printer::TerminalPrinter;
use crate::player::Progress;

/// Redraws per second; each one redraws the prompt too.
const REFRESH_HZ: u8 = 4;

pub struct SongBar {
    bar: ProgressBar,
    song: u64,
}

impl SongBar {
    pub fn new(printer: Arc<TerminalPrinter>, progress: &Progress) -> SongBar {
        let target = ProgressDrawTarget::term_like_with_hz(
            Box::new(Capture {
                printer,
                text: Mutex::new(String::new()),
            }),
            REFRESH_HZ,
        );
        let bar = ProgressBar::with_draw_target(Some(ms(progress.total)), target);
        let style = ProgressStyle::with_template("{prefix} [{bar:24}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        let full_title = printable(&progress.title);
        let mut title: String = full_title.chars().take(28).collect();
        if title.len() < full_title.len() {
            title.push('…');
        }
        bar.set_prefix(format!("{} {title}", progress.song));
        let mut song_bar = SongBar {
            bar,
            song: progress.song,
        };
        song_bar.update(progress);
        song_bar
    }

    pub fn song(&self) -> u64 {
        self.song
    }

    pub fn update(&mut self, progress: &Progress) {
        self.bar.set_position(ms(progress.elapsed));
        self.bar.set_message(format!(
            "{} / {}  buffered {:.0} s",
            minutes(ms(progress.elapsed)),
            minutes(ms(progress.total)),
            progress.buffered
        ));
    }

    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}

fn ms(seconds: f64) -> u64 {
    (seconds * 1000.0) as u64
}

/// Collects what indicatif draws and passes each complete drawing on as the bar's text. Cursor
/// movements are dropped: the printer does its own positioning.
struct Capture {
    printer: Arc<TerminalPrinter>,
    text: Mutex<String>,
}

impl fmt::Debug for Capture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Capture")
    }
}

impl TermLike for Capture {
    fn width(&self) -> u16 {
        80
    }
    fn move_cursor_up(&self, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn move_cursor_down(&self, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn move_cursor_right(&self, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn move_cursor_left(&self, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn write_line(&self, s: &str) -> io::Result<()> {
        self.write_str(s)
    }
    fn write_str(&self, s: &str) -> io::Result<()> {
        self.text
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_str(s.trim_matches(['\r', '\n']));
        Ok(())
    }
    fn clear_line(&self) -> io::Result<()> {
        Ok(())
    }
    fn flush(&self) -> io::Result<()> {
        let text = std::mem::take(&mut *self.text.lock().unwrap_or_else(|e| e.into_inner()));
        if text.trim().is_empty() {
            self.printer.clear_bar();
        } else {
            self.printer.bar(&text);
        }
        Ok(())
    }
}
