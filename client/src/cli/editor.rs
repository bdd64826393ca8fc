//! The line being edited at the prompt: keys in, edits and decisions out. The editing itself
//! (cursor motion, words, kill and yank, wide characters) is `tui_input`'s; this adds what a
//! prompt needs on top: history, Enter, Tab, and what Ctrl-C and Ctrl-D mean. No I/O here.

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tui_input::backend::crossterm::to_input_request;
use tui_input::{Input, InputRequest};

use super::history::History;

/// What a key means for the rest of the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// The line or the cursor may have changed; nothing else happened.
    Edited,
    /// Enter: the line, now in the history; the editor is empty again.
    Submit(String),
    /// Ctrl-C while a command is pending or `wait` waits: stop that.
    Interrupt,
    /// Ctrl-C on an empty line: one more quits.
    QuitHint,
    /// Ctrl-D on an empty line, or Ctrl-C twice.
    Quit,
    /// Tab.
    Complete,
    /// Ctrl-L.
    ClearScreen,
}

pub struct Editor {
    input: Input,
    history: History,
    /// While Up and Down browse the history: the entry shown, and what was typed before.
    browsing: Option<(usize, String)>,
    /// The last key was a Ctrl-C on an empty line.
    quit_armed: bool,
}

impl Editor {
    pub fn new(history: History) -> Editor {
        Editor {
            input: Input::default(),
            history,
            browsing: None,
            quit_armed: false,
        }
    }

    pub fn value(&self) -> &str {
        self.input.value()
    }

    /// The cursor, in chars from the start.
    pub fn cursor(&self) -> usize {
        self.input.cursor()
    }

    /// Replaces the line (a completion), the cursor at its end.
    pub fn set_value(&mut self, value: String) {
        self.input = Input::new(value);
        self.browsing = None;
    }

    /// Handles one key; `busy` says whether a command is pending or `wait` waits.
    pub fn key(&mut self, key: &KeyEvent, busy: bool) -> Key {
        if key.kind == KeyEventKind::Release {
            return Key::Edited;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let quit_armed = std::mem::take(&mut self.quit_armed);
        match key.code {
            KeyCode::Char('c') if ctrl => {
                if busy {
                    Key::Interrupt
                } else if !self.value().is_empty() {
                    self.set_value(String::new());
                    Key::Edited
                } else if quit_armed {
                    Key::Quit
                } else {
                    self.quit_armed = true;
                    Key::QuitHint
                }
            }
            KeyCode::Char('d') if ctrl && self.value().is_empty() => Key::Quit,
            KeyCode::Char('d') if ctrl => {
                self.input.handle(InputRequest::DeleteNextChar);
                Key::Edited
            }
            KeyCode::Char('l') if ctrl => Key::ClearScreen,
            KeyCode::Enter => {
                let line = self.input.value_and_reset();
                self.browsing = None;
                self.history.push(&line);
                Key::Submit(line)
            }
            KeyCode::Tab => Key::Complete,
            KeyCode::Up => {
                self.older();
                Key::Edited
            }
            KeyCode::Down => {
                self.newer();
                Key::Edited
            }
            KeyCode::Char('p') if ctrl => {
                self.older();
                Key::Edited
            }
            KeyCode::Char('n') if ctrl => {
                self.newer();
                Key::Edited
            }
            _ => {
                if let Some(request) = to_input_request(&Event::Key(*key)) {
                    self.input.handle(request);
                    self.browsing = None;
                }
                Key::Edited
            }
        }
    }

    /// The previous history entry that starts with what was typed.
    fn older(&mut self) {
        let (start, typed) = match self.browsing.take() {
            Some((index, typed)) => (index, typed),
            None => (self.history.entries().len(), self.value().to_string()),
        };
        let found = self.history.entries()[..start]
            .iter()
            .rposition(|entry| entry.starts_with(&typed));
        match found {
            Some(index) => {
                self.input = Input::new(self.history.entries()[index].clone());
                self.browsing = Some((index, typed));
            }
            None => {
                self.browsing =
                    Some((start, typed)).filter(|(i, _)| *i < self.history.entries().len())
            }
        }
    }

    /// The next history entry that starts with what was typed, or what was typed.
    fn newer(&mut self) {
        let Some((index, typed)) = self.browsing.take() else {
            return;
        };
        let entries = self.history.entries();
        match entries[index + 1..]
            .iter()
            .position(|entry| entry.starts_with(&typed))
        {
            Some(offset) => {
                let index = index + 1 + offset;
                self.input = Input::new(entries[index].clone());
                self.browsing = Some((index, typed));
            }
            None => self.input = Input::new(typed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(editor: &mut Editor, code: KeyCode, modifiers: KeyModifiers) -> Key {
        editor.key(&KeyEvent::new(code, modifiers), false)
    }

    fn typed(editor: &mut Editor, text: &str) {
        for c in text.chars() {
            press(editor, KeyCode::Char(c), KeyModifiers::NONE);
        }
    }

    #[test]
    fn ctrl_c_clears_then_quits_and_interrupts_when_busy() {
        let mut editor = Editor::new(History::load(None));
        typed(&mut editor, "play 3");
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(editor.key(&ctrl_c, true), Key::Interrupt);
        assert_eq!(editor.value(), "play 3");
        assert_eq!(editor.key(&ctrl_c, false), Key::Edited);
        assert_eq!(editor.value(), "");
        assert_eq!(editor.key(&ctrl_c, false), Key::QuitHint);
        typed(&mut editor, "x");
        press(&mut editor, KeyCode::Backspace, KeyModifiers::NONE);
        assert_eq!(editor.key(&ctrl_c, false), Key::QuitHint);
        assert_eq!(editor.key(&ctrl_c, false), Key::Quit);
        let ctrl_d = KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL);
        typed(&mut editor, "ab");
        press(&mut editor, KeyCode::Left, KeyModifiers::NONE);
        assert_eq!(editor.key(&ctrl_d, false), Key::Edited);
        assert_eq!(editor.value(), "a");
        press(&mut editor, KeyCode::Backspace, KeyModifiers::NONE);
        assert_eq!(editor.key(&ctrl_d, false), Key::Quit);
    }

    #[test]
    fn up_and_down_browse_the_history_by_prefix() {
        let mut editor = Editor::new(History::load(None));
        for line in ["list", "play 3", "stop", "play 4"] {
            typed(&mut editor, line);
            assert_eq!(
                press(&mut editor, KeyCode::Enter, KeyModifiers::NONE),
                Key::Submit(line.into())
            );
        }
        press(&mut editor, KeyCode::Up, KeyModifiers::NONE);
        assert_eq!(editor.value(), "play 4");
        press(&mut editor, KeyCode::Up, KeyModifiers::NONE);
        assert_eq!(editor.value(), "stop");
        press(&mut editor, KeyCode::Down, KeyModifiers::NONE);
        press(&mut editor, KeyCode::Down, KeyModifiers::NONE);
        assert_eq!(editor.value(), "");
        typed(&mut editor, "pl");
        press(&mut editor, KeyCode::Up, KeyModifiers::NONE);
        assert_eq!(editor.value(), "play 4");
        press(&mut editor, KeyCode::Up, KeyModifiers::NONE);
        assert_eq!(editor.value(), "play 3");
        press(&mut editor, KeyCode::Up, KeyModifiers::NONE);
        assert_eq!(editor.value(), "play 3");
        press(&mut editor, KeyCode::Down, KeyModifiers::NONE);
        press(&mut editor, KeyCode::Down, KeyModifiers::NONE);
        assert_eq!(editor.value(), "pl");
    }
}
