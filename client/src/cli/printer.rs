//! Where the client's lines go. Results go to stdout and errors and notes to stderr, so a script
//! can keep them apart; piped, nothing but the text is written, no control codes at all. At a
//! terminal every line goes through the [`Screen`], the one owner of the terminal, which prints
//! it above the prompt and the status bar (errors too, unless stderr is redirected elsewhere).
//!
//! A `Printer` is cheap to clone and can be used from any task or thread: each line is printed
//! whole under one lock.

use std::io::{IsTerminal, Stdout, Write};
use std::sync::{Arc, Mutex, MutexGuard};

use super::display::printable;
use super::screen::Screen;

#[derive(Clone)]
pub struct Printer {
    target: Arc<Mutex<Target>>,
}

enum Target {
    Plain,
    Terminal {
        screen: Screen<Stdout>,
        /// stderr is this terminal too: errors are drawn by the screen, not written past it.
        stderr_here: bool,
    },
}

/// Which stream a line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    /// A result: stdout.
    Out,
    /// An error, a warning or a note for a person: stderr.
    Err,
}

impl Printer {
    /// Plain lines on stdout and stderr.
    pub fn plain() -> Printer {
        Printer {
            target: Arc::new(Mutex::new(Target::Plain)),
        }
    }

    /// Lines printed through `screen`, which owns the terminal from now on.
    pub fn terminal(screen: Screen<Stdout>) -> Printer {
        Printer {
            target: Arc::new(Mutex::new(Target::Terminal {
                screen,
                stderr_here: std::io::stderr().is_terminal(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Target> {
        // A panic while printing leaves nothing half-updated that matters; keep printing.
        self.target.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the screen, if the terminal is being drawn.
    pub fn with_screen(&self, f: impl FnOnce(&mut Screen<Stdout>)) {
        if let Target::Terminal { screen, .. } = &mut *self.lock() {
            f(screen);
        }
    }

    /// Clears the prompt and the status bar and prints plainly from now on: the terminal is
    /// about to be handed back.
    pub fn detach(&self) {
        let mut target = self.lock();
        if let Target::Terminal { screen, .. } = &mut *target {
            screen.close();
        }
        *target = Target::Plain;
    }

    pub fn is_terminal(&self) -> bool {
        matches!(*self.lock(), Target::Terminal { .. })
    }

    fn print(&self, stream: Stream, text: &str) {
        match &mut *self.lock() {
            Target::Terminal {
                screen,
                stderr_here,
            } if stream == Stream::Out || *stderr_here => screen.print(text),
            _ => {
                // A closed stdout or stderr is not worth dying for; the exit status says the rest.
                let _ = match stream {
                    Stream::Out => {
                        let mut out = std::io::stdout().lock();
                        writeln!(out, "{}", printable_lines(text)).and_then(|()| out.flush())
                    }
                    Stream::Err => writeln!(std::io::stderr().lock(), "{}", printable_lines(text)),
                };
            }
        }
    }

    /// A result line (or several): a song, a song starting or ending.
    pub fn line(&self, text: &str) {
        self.print(Stream::Out, text);
    }

    /// Something for the person rather than the script: a hint, "nothing is playing".
    pub fn note(&self, text: &str) {
        self.print(Stream::Err, text);
    }

    /// An error, as one "error: ..." line; its text may quote the server.
    pub fn error(&self, error: &dyn std::fmt::Display) {
        self.print(
            Stream::Err,
            &format!("error: {}", printable(&error.to_string())),
        );
    }

    /// A log line from `tracing`, already formatted.
    pub fn log(&self, text: &str) {
        self.print(Stream::Err, text);
    }
}

/// Each line of `text` printable, newlines kept.
fn printable_lines(text: &str) -> String {
    text.split('\n')
        .map(|line| printable(line).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}
