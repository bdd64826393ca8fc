//! The interactive front end: the terminal in raw mode, its key and resize events as an async
//! stream (crossterm), the [`Editor`] for the line being typed, and the [`Screen`] that draws it,
//! all driven from the command loop's task. There is no prompt thread: a key, a song event and a
//! command's answer are handled one at a time by the same loop, and each redraw holds the
//! screen's lock, so nothing printed can be lost or drawn over.
//!
//! Raw mode is left, and the prompt and status bar cleared, when the `Terminal` is dropped: on
//! `quit`, Ctrl-D, a signal, the terminal going away, or a panic unwinding.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;

use crossterm::event::{Event, EventStream};
use futures_core::Stream;

use super::editor::{Editor, Key};
use super::history::History;
use super::log;
use super::printer::Printer;
use super::screen::Screen;

pub const PROMPT: &str = "jukebox> ";

/// What the person at the terminal did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UiEvent {
    /// Entered a line.
    Line(String),
    /// Ctrl-C while something was pending.
    Interrupt,
    /// Tab, with the line as it is.
    Complete(String),
    /// Ctrl-D, Ctrl-C twice, or the end of the input.
    End,
}

pub struct Terminal {
    printer: Printer,
    editor: Editor,
    events: EventStream,
}

impl Terminal {
    /// Puts the terminal in raw mode and draws the prompt. From now on, everything printed goes
    /// through the returned printer, log lines included.
    pub fn start(history: History) -> io::Result<(Terminal, Printer)> {
        let (columns, _) = crossterm::terminal::size()?;
        crossterm::terminal::enable_raw_mode()?;
        let printer = Printer::terminal(Screen::new(io::stdout(), columns, PROMPT));
        printer.with_screen(|screen| screen.redraw());
        log::to_printer(printer.clone());
        let terminal = Terminal {
            printer: printer.clone(),
            editor: Editor::new(history),
            events: EventStream::new(),
        };
        Ok((terminal, printer))
    }

    /// The line being typed.
    pub fn line(&self) -> &str {
        self.editor.value()
    }

    /// Replaces the line being typed (a completion).
    pub fn set_line(&mut self, line: String) {
        self.editor.set_value(line);
        self.show_input();
    }

    fn show_input(&self) {
        let (value, cursor) = (self.editor.value(), self.editor.cursor());
        self.printer
            .with_screen(|screen| screen.set_input(PROMPT, value, cursor));
    }

    /// Waits for the next thing the person does that the command loop must act on; edits and
    /// resizes are handled here. `busy`: a command is pending or `wait` waits, so Ctrl-C
    /// interrupts it. Cancel-safe: no key is lost when the future is dropped.
    pub async fn next(&mut self, busy: bool) -> UiEvent {
        loop {
            let event = poll_fn(|cx| Pin::new(&mut self.events).poll_next(cx)).await;
            let key = match event {
                Some(Ok(Event::Key(key))) => key,
                Some(Ok(Event::Resize(columns, _))) => {
                    self.printer.with_screen(|screen| screen.resize(columns));
                    continue;
                }
                Some(Ok(_)) => continue,
                // The terminal is gone (hung up): nobody is left to type.
                Some(Err(_)) | None => return UiEvent::End,
            };
            match self.editor.key(&key, busy) {
                Key::Edited => self.show_input(),
                Key::Submit(line) => {
                    // The line entered stays in the scrollback, as a shell leaves it.
                    self.printer.line(&format!("{PROMPT}{line}"));
                    self.show_input();
                    return UiEvent::Line(line);
                }
                Key::Interrupt => return UiEvent::Interrupt,
                Key::QuitHint => self.printer.note("(Ctrl-C again or Ctrl-D quits)"),
                Key::Quit => return UiEvent::End,
                Key::Complete if self.editor.cursor() == self.editor.value().chars().count() => {
                    return UiEvent::Complete(self.editor.value().to_string())
                }
                Key::Complete => {}
                Key::ClearScreen => self.printer.with_screen(|screen| screen.clear_screen()),
            }
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        log::to_stderr();
        self.printer.detach();
        if let Err(e) = crossterm::terminal::disable_raw_mode() {
            tracing::warn!("cannot restore the terminal: {e}");
        }
    }
}
