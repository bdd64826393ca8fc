//! Where command lines come from: the terminal, or, when stdin or stdout is not a terminal,
//! stdin read line by line on a thread of its own (no prompt, no editing, no control codes), or
//! the one command given on the command line.

use std::io::BufRead;

use tokio::sync::mpsc;

use super::terminal::Terminal;
pub use super::terminal::UiEvent;

pub enum Ui {
    Terminal(Box<Terminal>),
    /// Lines from stdin or from the command line; `None` at their end.
    Lines(mpsc::UnboundedReceiver<String>),
}

impl Ui {
    /// Reads stdin line by line.
    pub fn stdin() -> Ui {
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
        Ui::Lines(lines)
    }

    /// These lines, then the end.
    pub fn script(lines: Vec<String>) -> Ui {
        let (tx, rx) = mpsc::unbounded_channel();
        for line in lines {
            let _ = tx.send(line);
        }
        Ui::Lines(rx)
    }

    pub fn is_terminal(&self) -> bool {
        matches!(self, Ui::Terminal(_))
    }

    /// The next event; see [`Terminal::next`].
    pub async fn next(&mut self, busy: bool) -> UiEvent {
        match self {
            Ui::Terminal(terminal) => terminal.next(busy).await,
            Ui::Lines(lines) => match lines.recv().await {
                Some(line) => UiEvent::Line(line),
                None => UiEvent::End,
            },
        }
    }

    /// The line being typed; empty when there is no prompt.
    pub fn line(&self) -> &str {
        match self {
            Ui::Terminal(terminal) => terminal.line(),
            Ui::Lines(_) => "",
        }
    }

    pub fn set_line(&mut self, line: String) {
        if let Ui::Terminal(terminal) = self {
            terminal.set_line(line);
        }
    }
}
