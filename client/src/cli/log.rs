//! Where `tracing` writes: stderr, except while the prompt is up, when a log line written
//! straight to the terminal would land in the middle of the line being edited. Then each line goes
//! through the [`Printer`] like any other, above the prompt.

use std::io::{self, Write};
use std::sync::Mutex;

use tracing_subscriber::fmt::MakeWriter;

use super::printer::Printer;

/// The printer of the terminal being drawn, if any.
static TERMINAL: Mutex<Option<Printer>> = Mutex::new(None);

/// Routes log lines through `printer` until [`to_stderr`] is called.
pub fn to_printer(printer: Printer) {
    *TERMINAL.lock().unwrap_or_else(|e| e.into_inner()) = Some(printer);
}

/// Log lines go to stderr again.
pub fn to_stderr() {
    *TERMINAL.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

/// The `MakeWriter` to give `tracing_subscriber::fmt`.
pub struct LogWriter;

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine(Vec::new())
    }
}

/// One formatted event, handed on whole when dropped.
pub struct LogLine(Vec<u8>);

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let printer = TERMINAL.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match printer {
            Some(printer) => {
                let text = String::from_utf8_lossy(&self.0);
                printer.log(text.trim_end_matches('\n'));
            }
            None => {
                let _ = io::stderr().lock().write_all(&self.0);
            }
        }
    }
}
