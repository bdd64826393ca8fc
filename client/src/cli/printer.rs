//! Writing lines to the user. Piped: straight to stdout, flushed at once. At a terminal: through
//! rustyline's external printer, which prints above the prompt and redraws it, so output never
//! garbles the line being typed. The progress bar is kept as the single line just above the
//! prompt by replacing it in place (cursor up, clear line) on each update.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rustyline::ExternalPrinter;

use super::display::printable;

/// Moves to the line above and clears it: where the progress bar is.
const OVER_BAR: &str = "\x1b[1A\x1b[2K";

#[derive(Clone)]
pub enum Printer {
    Plain,
    Terminal(Arc<TerminalPrinter>),
}

pub struct TerminalPrinter {
    printer: Mutex<Box<dyn ExternalPrinter + Send>>,
    /// True while the line just above the prompt is the progress bar.
    bar_shown: AtomicBool,
}

impl TerminalPrinter {
    pub fn new(printer: Box<dyn ExternalPrinter + Send>) -> TerminalPrinter {
        TerminalPrinter {
            printer: Mutex::new(printer),
            bar_shown: AtomicBool::new(false),
        }
    }

    fn print(&self, text: String) {
        let mut printer = self.printer.lock().unwrap_or_else(|e| e.into_inner());
        if printer.print(text).is_err() {
            tracing::debug!("terminal output failed");
        }
    }

    /// The user entered a line: the bar is no longer right above the prompt.
    pub fn bar_detached(&self) {
        self.bar_shown.store(false, Ordering::Release);
    }

    /// Shows `text` as the bar, replacing the previous one.
    pub fn bar(&self, text: &str) {
        if self.bar_shown.swap(true, Ordering::AcqRel) {
            self.print(format!("{OVER_BAR}{text}"));
        } else {
            self.print(text.to_string());
        }
    }

    /// Removes the bar.
    pub fn clear_bar(&self) {
        if self.bar_shown.swap(false, Ordering::AcqRel) {
            // Clear the bar's line and step above it; the printer's newline lands back on it.
            self.print(format!("{OVER_BAR}\x1b[1A"));
        }
    }

    fn line(&self, text: &str) {
        if self.bar_shown.swap(false, Ordering::AcqRel) {
            // The line takes the bar's place; the bar comes back below it at the next update.
            self.print(format!("{OVER_BAR}{text}"));
        } else {
            self.print(text.to_string());
        }
    }
}

impl Printer {
    /// Prints one line.
    pub fn line(&self, text: &str) {
        match self {
            Printer::Plain => {
                let mut out = std::io::stdout().lock();
                // A closed stdout is not worth dying for; the exit status tells the rest.
                let _ = writeln!(out, "{text}");
                let _ = out.flush();
            }
            Printer::Terminal(terminal) => terminal.line(text),
        }
    }

    /// Prints an error as one line; its text may quote the server.
    pub fn error(&self, error: &dyn std::fmt::Display) {
        self.line(&format!("error: {}", printable(&error.to_string())));
    }
}
