//! The renderer: the one owner of the terminal while the prompt is up. It keeps a *region* at the
//! bottom of the output: the prompt with the line being edited, and below it the status bar. Both
//! are kept narrower than the terminal, so neither ever wraps and the region is always exactly
//! one or two rows, with the cursor on the prompt row.
//!
//! Everything else is printed *above* the region: erase the region's rows, write the lines over
//! them, which scroll up into the scrollback as any output does, then draw the region again below
//! them. So a printed line is never overwritten, whatever arrives while the user types, and the
//! status bar, always erased before anything is printed, never reaches the scrollback. Each update
//! is written at once, inside a synchronized update where the terminal supports it, so no
//! half-drawn state is shown.
//!
//! Rows are erased one at a time (erase in line), and "erase to the end of the screen" is used
//! only after the region's last row, from a column past its start: tmux takes it, given at the
//! top left corner, for clearing the screen and copies what it erases into the scrollback, which
//! would fill that with a copy of the prompt per key typed. Below the region nothing is ours to
//! keep: erasing it removes what a terminal that rewraps lines on a resize (tmux, VTE) made of a
//! bar wider than the new width.
//!
//! The screen writes to any `Write`; the tests read what it wrote through a terminal emulator.

use std::io::Write;

use unicode_width::UnicodeWidthChar;

use super::display::{printable, truncate, width};
use super::status::StatusBar;

/// Start and end of a synchronized update: the terminal shows the result at once, not the steps.
const BEGIN_UPDATE: &str = "\x1b[?2026h";
const END_UPDATE: &str = "\x1b[?2026l";
/// Erases from the cursor to the end of its row.
const ERASE_LINE: &str = "\x1b[K";
/// Erases from the cursor to the end of the screen.
const ERASE_BELOW: &str = "\x1b[J";

pub struct Screen<W: Write> {
    out: W,
    columns: usize,
    prompt: String,
    /// The line being edited and the cursor in it, in chars.
    input: String,
    cursor: usize,
    /// First column of the input shown, when it is wider than the room after the prompt.
    scroll: usize,
    status: StatusBar,
    /// The region is on the screen; false before the first draw and after `close`.
    drawn: bool,
    /// The region drawn has a status row below the prompt row.
    status_drawn: bool,
}

impl<W: Write> Screen<W> {
    pub fn new(out: W, columns: u16, prompt: &str) -> Screen<W> {
        Screen {
            out,
            columns: usize::from(columns).max(1),
            prompt: prompt.to_string(),
            input: String::new(),
            cursor: 0,
            scroll: 0,
            status: StatusBar::default(),
            drawn: false,
            status_drawn: false,
        }
    }

    /// The terminal was resized.
    pub fn resize(&mut self, columns: u16) {
        self.columns = usize::from(columns).max(1);
        self.redraw();
    }

    /// The line being edited changed; `cursor` counts chars.
    pub fn set_input(&mut self, prompt: &str, input: &str, cursor: usize) {
        if self.drawn && prompt == self.prompt && input == self.input && cursor == self.cursor {
            return;
        }
        self.prompt = prompt.to_string();
        self.input = input.to_string();
        self.cursor = cursor.min(input.chars().count());
        self.redraw();
    }

    pub fn set_status(&mut self, status: StatusBar) {
        if self.drawn && status == self.status {
            return;
        }
        self.status = status;
        self.redraw();
    }

    /// Prints `text` (one or more lines) above the region. Control characters are replaced.
    pub fn print(&mut self, text: &str) {
        let mut buf = String::from(BEGIN_UPDATE);
        self.erase(&mut buf);
        for line in text.split('\n') {
            buf.push_str(&printable(line));
            buf.push_str(ERASE_LINE);
            buf.push_str("\r\n");
        }
        self.region(&mut buf);
        buf.push_str(END_UPDATE);
        self.write(&buf);
    }

    /// Draws the region again, e.g. after the screen was cleared by the user.
    pub fn redraw(&mut self) {
        let mut buf = String::from(BEGIN_UPDATE);
        buf.push('\r');
        self.region(&mut buf);
        buf.push_str(END_UPDATE);
        self.write(&buf);
    }

    /// Clears the whole screen (Ctrl-L); the scrollback keeps what was printed.
    pub fn clear_screen(&mut self) {
        let mut buf = String::from(BEGIN_UPDATE);
        // The bar goes first, so that what the terminal keeps of the cleared screen lacks it.
        self.erase(&mut buf);
        buf.push_str("\x1b[H\x1b[2J");
        self.region(&mut buf);
        buf.push_str(END_UPDATE);
        self.write(&buf);
    }

    /// Removes the region, leaving the cursor at the start of an empty row where the prompt was:
    /// what is printed next follows the last printed line.
    pub fn close(&mut self) {
        let mut buf = String::new();
        self.erase(&mut buf);
        self.write(&buf);
    }

    /// Appends what blanks the region's rows, leaving the cursor at the start of the prompt row.
    fn erase(&mut self, buf: &mut String) {
        if !self.drawn {
            return;
        }
        buf.push('\r');
        buf.push_str(ERASE_LINE);
        if self.status_drawn {
            // The status row is below: going down to it cannot scroll.
            buf.push('\n');
            buf.push_str(ERASE_LINE);
            buf.push_str("\x1b[1A");
        }
        self.drawn = false;
        self.status_drawn = false;
    }

    /// Appends the region's drawing to `buf`, starting at column 0 of the prompt row, over
    /// whatever the rows hold.
    fn region(&mut self, buf: &mut String) {
        // One column is never used: a row filled to the last column leaves the cursor in the
        // terminal's pending-wrap state, where the next character would start a new row.
        let room = self.columns - 1;
        let prompt = if width(&self.prompt) + 2 <= room {
            self.prompt.clone()
        } else {
            String::new()
        };
        let prompt_width = width(&prompt);
        let visible = room.saturating_sub(prompt_width);
        let (shown, cursor_column) = self.visible_input(visible);
        let had_status_row = self.drawn && self.status_drawn;
        buf.push_str(&prompt);
        buf.push_str(&shown);
        buf.push_str(ERASE_LINE);
        let status = self.status.render(room);
        if !status.is_empty() {
            buf.push_str("\r\n");
            buf.push_str(&status);
            buf.push_str(ERASE_BELOW);
            buf.push_str("\x1b[1A");
        } else if had_status_row {
            // The bar went away: blank its row, which stays the region's.
            buf.push('\n');
            buf.push_str(ERASE_BELOW);
            buf.push_str("\x1b[1A");
        } else if !prompt.is_empty() || !shown.is_empty() {
            buf.push_str(ERASE_BELOW);
        }
        self.status_drawn = !status.is_empty() || had_status_row;
        buf.push('\r');
        let column = prompt_width + cursor_column;
        if column > 0 {
            buf.push_str(&format!("\x1b[{column}C"));
        }
        self.drawn = true;
    }

    /// The part of the input that fits in `room` columns with the cursor in view, and the
    /// cursor's column in it. Scrolls only as far as needed to keep the cursor visible.
    fn visible_input(&mut self, room: usize) -> (String, usize) {
        let input = printable(&self.input);
        let chars: Vec<char> = input.chars().collect();
        let column_of =
            |index: usize| -> usize { chars[..index].iter().map(|c| c.width().unwrap_or(0)).sum() };
        let cursor_column = column_of(self.cursor.min(chars.len()));
        if room == 0 {
            self.scroll = 0;
            return (String::new(), 0);
        }
        // The cursor needs a column of its own when it is past the end.
        if cursor_column < self.scroll {
            self.scroll = cursor_column;
        } else if cursor_column >= self.scroll + room {
            self.scroll = cursor_column + 1 - room;
        }
        let mut shown = String::new();
        let mut column = 0;
        for &c in &chars {
            let w = c.width().unwrap_or(0);
            if column >= self.scroll && column + w <= self.scroll + room {
                shown.push(c);
            }
            column += w;
        }
        let shown = truncate(&shown, room).into_owned();
        (shown, cursor_column - self.scroll)
    }

    fn write(&mut self, text: &str) {
        // A terminal that went away is noticed by the input side; nothing to do here.
        let _ = self.out.write_all(text.as_bytes());
        let _ = self.out.flush();
    }

    #[cfg(test)]
    fn output(&self) -> &W {
        &self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::player::Progress;

    const ROWS: u16 = 10;

    fn screen(columns: u16) -> Screen<Vec<u8>> {
        Screen::new(Vec::new(), columns, "jukebox> ")
    }

    /// What a terminal of `columns` shows after the screen's output, with its scrollback.
    fn emulate(screen: &Screen<Vec<u8>>, columns: u16) -> vt100::Parser {
        let mut parser = terminal(ROWS, columns);
        parser.process(screen.output());
        parser
    }

    fn terminal(rows: u16, columns: u16) -> vt100::Parser {
        let size = |n: u16| std::num::NonZero::new(n).expect("not zero");
        vt100::Parser::new(size(rows), size(columns), 1000)
    }

    /// The visible rows without trailing blanks.
    fn visible(parser: &vt100::Parser, columns: u16) -> Vec<String> {
        parser
            .screen()
            .rows(0, columns)
            .map(|row| row.trim_end().to_string())
            .collect()
    }

    /// Every row ever scrolled off plus the visible ones, top to bottom.
    fn all_rows(parser: &mut vt100::Parser, columns: u16) -> Vec<String> {
        let back = parser.screen().scrollback_len();
        let mut rows = Vec::new();
        for offset in (1..=back).rev() {
            parser.screen_mut().set_scrollback(offset);
            rows.push(parser.screen().rows(0, columns).next().unwrap_or_default());
        }
        parser.screen_mut().set_scrollback(0);
        rows.extend(parser.screen().rows(0, columns));
        rows.into_iter()
            .map(|row| row.trim_end().to_string())
            .collect()
    }

    fn status(title: &str) -> StatusBar {
        let mut bar = StatusBar::default();
        bar.song(&Progress {
            song: 3,
            title: title.into(),
            artist: String::new(),
            elapsed: 1.0,
            total: 44.0,
            buffered: 5.0,
            stalled: false,
            paused: false,
        });
        bar
    }

    #[test]
    fn lines_printed_while_typing_and_playing_are_all_kept_in_order() {
        let mut s = screen(40);
        s.set_input("jukebox> ", "", 0);
        for i in 0..50 {
            s.set_status(status(&format!("Song {i}")));
            s.set_input("jukebox> ", &"x".repeat(i % 7), i % 7);
            s.print(&format!("line {i}"));
        }
        s.set_input("jukebox> ", "xxxxxx", 6);
        // Never "erase to the end of the screen" at the start of a row: see the module's comment.
        let written = String::from_utf8_lossy(s.output());
        assert!(!written.contains("\r\x1b[J") && !written.contains("\n\x1b[J"));
        let mut parser = emulate(&s, 40);
        let rows = all_rows(&mut parser, 40);
        let printed: Vec<&String> = rows.iter().filter(|r| r.starts_with("line ")).collect();
        let expected: Vec<String> = (0..50).map(|i| format!("line {i}")).collect();
        assert_eq!(printed, expected.iter().collect::<Vec<_>>());
        // The bar is on screen once, below the prompt, and never in the scrollback.
        let bars = rows.iter().filter(|r| r.starts_with("playing")).count();
        assert_eq!(bars, 1, "{rows:#?}");
        let visible = visible(&parser, 40);
        let (cursor_row, cursor_col) = parser.screen().cursor_position();
        assert_eq!(visible[usize::from(cursor_row)], "jukebox> xxxxxx");
        assert_eq!(cursor_col, 15);
        assert!(visible[usize::from(cursor_row) + 1].starts_with("playing 0:01 / 0:44"));
    }

    #[test]
    fn the_bar_never_wraps() {
        for columns in [10u16, 40, 80, 200] {
            let mut s = screen(columns);
            s.set_input("jukebox> ", "", 0);
            s.set_status(status(&"T".repeat(200)));
            s.print("hello");
            let parser = emulate(&s, columns);
            let rows = visible(&parser, columns);
            assert_eq!(rows[0], "hello");
            assert_eq!(
                rows[1],
                if columns > 11 { "jukebox> " } else { "" }.trim_end()
            );
            assert!(rows[2].starts_with("playing"), "{columns}: {rows:?}");
            assert!(width(&rows[2]) < usize::from(columns));
            assert!(rows[3].is_empty(), "{columns}: {rows:?}");
        }
    }

    #[test]
    fn a_long_input_scrolls_sideways_instead_of_wrapping() {
        let mut s = screen(20);
        let long: String = ('a'..='z').collect();
        s.set_input("jukebox> ", &long, 26);
        let parser = emulate(&s, 20);
        let rows = visible(&parser, 20);
        // The cursor, past the end, takes the last column used.
        assert_eq!(rows[0], "jukebox> rstuvwxyz");
        assert!(rows[1].is_empty());
        assert_eq!(parser.screen().cursor_position(), (0, 18));
        s.set_input("jukebox> ", &long, 0);
        let parser = emulate(&s, 20);
        let rows = visible(&parser, 20);
        assert_eq!(rows[0], "jukebox> abcdefghij");
        assert_eq!(parser.screen().cursor_position(), (0, 9));
    }

    #[test]
    fn a_resize_redraws_the_bar_to_the_new_width() {
        let mut s = screen(80);
        s.set_input("jukebox> ", "", 0);
        s.set_status(status(&"T".repeat(200)));
        let mut parser = terminal(ROWS, 80);
        parser.process(s.output());
        let written = s.output().len();
        parser.screen_mut().set_size(
            std::num::NonZero::new(ROWS).unwrap(),
            std::num::NonZero::new(30).unwrap(),
        );
        s.resize(30);
        parser.process(&s.output()[written..]);
        let rows = visible(&parser, 30);
        assert_eq!(rows[0], "jukebox>");
        assert!(
            rows[1].starts_with("playing") && width(&rows[1]) < 30,
            "{rows:?}"
        );
        assert!(rows[2].is_empty());
    }

    #[test]
    fn a_bar_that_goes_away_leaves_a_blank_row() {
        let mut s = screen(40);
        s.set_input("jukebox> ", "", 0);
        s.set_status(status("Small Hours"));
        s.set_status(StatusBar::default());
        s.print("done");
        let parser = emulate(&s, 40);
        let rows = visible(&parser, 40);
        assert_eq!(&rows[..3], ["done", "jukebox>", ""]);
    }

    #[test]
    fn closing_leaves_only_the_printed_lines() {
        let mut s = screen(40);
        s.set_input("jukebox> ", "pla", 3);
        s.set_status(status("Small Hours"));
        s.print("one\ntwo");
        s.close();
        let parser = emulate(&s, 40);
        let rows = visible(&parser, 40);
        assert_eq!(&rows[..3], ["one", "two", ""]);
        assert_eq!(parser.screen().cursor_position(), (2, 0));
    }

    #[test]
    fn control_characters_cannot_move_the_cursor() {
        let mut s = screen(40);
        s.print("evil\x1b[2J\x1b[Hline");
        let parser = emulate(&s, 40);
        let rows = visible(&parser, 40);
        // Each escape became a U+FFFD (which the emulator does not show): the text stays put.
        assert_eq!(rows[0].replace('\u{fffd}', ""), "evil[2J[Hline");
        assert_eq!(rows[1], "jukebox>");
    }
}
