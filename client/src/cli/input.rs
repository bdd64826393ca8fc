//! Reading command lines on a thread of their own, so the command loop can print song events
//! while waiting for the next command.

use std::io::BufRead;
use std::sync::Arc;

use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;
use tokio::sync::mpsc;

use super::command::Command;
use super::printer::TerminalPrinter;

/// Command lines as they are entered; `None` at the end of input.
pub struct Input {
    lines: mpsc::UnboundedReceiver<String>,
}

impl Input {
    pub async fn next(&mut self) -> Option<String> {
        self.lines.recv().await
    }

    /// Reads stdin line by line (not a terminal: no prompt, no editing).
    pub fn plain() -> Input {
        let (tx, lines) = mpsc::unbounded_channel();
        let spawned = std::thread::Builder::new()
            .name("jukebox-stdin".into())
            .spawn(move || {
                // Bytes, not `lines()`: a line that is not UTF-8 is a bad command to report, not
                // the end of the input.
                for line in std::io::stdin().lock().split(b'\n') {
                    let Ok(line) = line else { break };
                    let line = String::from_utf8_lossy(&line);
                    if tx.send(line.trim_end_matches('\r').to_string()).is_err() {
                        break;
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!("cannot read commands: {e}");
        }
        Input { lines }
    }

    /// Reads from the terminal with line editing and history. The prompt stays up while commands
    /// run, so output goes through the returned printer. The thread stops prompting after `quit`,
    /// Ctrl-C or Ctrl-D, so the terminal is back in its normal mode when the process exits.
    pub fn terminal() -> rustyline::Result<(Input, Arc<TerminalPrinter>)> {
        let mut editor = DefaultEditor::new()?;
        let printer = Arc::new(TerminalPrinter::new(Box::new(
            editor.create_external_printer()?,
        )));
        let (tx, lines) = mpsc::unbounded_channel();
        let thread_printer = printer.clone();
        std::thread::Builder::new()
            .name("jukebox-prompt".into())
            .spawn(move || loop {
                let line = match editor.readline("jukebox> ") {
                    Ok(line) => line,
                    Err(ReadlineError::Interrupted) | Err(ReadlineError::Eof) => break,
                    Err(e) => {
                        tracing::error!("cannot read the terminal: {e}");
                        break;
                    }
                };
                thread_printer.bar_detached();
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                }
                let quit = ends_input(&line);
                if tx.send(line).is_err() || quit {
                    break;
                }
            })?;
        Ok((Input { lines }, printer))
    }
}

/// True for the line that ends the command loop. The prompt thread must stop at exactly the lines
/// the command loop quits on, or it would keep the terminal in raw mode after the process has
/// exited.
fn ends_input(line: &str) -> bool {
    Command::parse(line) == Ok(Command::Quit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_stops_on_every_spelling_of_quit() {
        for line in ["quit", " QUIT ", "Exit", "q"] {
            assert!(ends_input(line), "{line:?}");
        }
        for line in ["quit now", "list", ""] {
            assert!(!ends_input(line), "{line:?}");
        }
    }
}
