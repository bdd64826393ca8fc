//! The `jukebox` client at a real terminal: a pseudo-terminal (portable-pty) runs the binary, a
//! terminal emulator (vt100) reads what it writes, and the test types keys and waits for the
//! screen to show something. Every wait is bounded by [`PATIENCE`]; the child is killed on drop.

use std::io::{Read, Write};
use std::num::NonZero;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use portable_pty::{native_pty_system, Child, CommandBuilder, MasterPty, PtySize};

use crate::process::PATIENCE;

/// What the emulator has seen.
struct Seen {
    parser: vt100::Parser,
    /// The child's side of the terminal is closed: it has exited.
    closed: bool,
}

/// The client running in a pseudo-terminal.
pub struct Terminal {
    child: Box<dyn Child + Send + Sync>,
    master: Box<dyn MasterPty + Send>,
    keys: Box<dyn Write + Send>,
    seen: Arc<(Mutex<Seen>, Condvar)>,
}

/// Rows of scrollback the emulator keeps: enough for any test's whole output.
const SCROLLBACK: usize = 10_000;

fn size(n: u16) -> NonZero<u16> {
    NonZero::new(n).expect("a terminal has rows and columns")
}

impl Terminal {
    /// Starts `program` with `args` in a terminal of `columns` x `rows`, with `env` added.
    pub fn spawn(
        program: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        columns: u16,
        rows: u16,
    ) -> Terminal {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols: columns,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("a pseudo-terminal");
        let mut command = CommandBuilder::new(program);
        command.args(args);
        command.env("TERM", "xterm-256color");
        for (name, value) in env {
            command.env(name, value);
        }
        let child = pair
            .slave
            .spawn_command(command)
            .expect("the client starts");
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("a reader");
        let keys = pair.master.take_writer().expect("a writer");
        let seen = Arc::new((
            Mutex::new(Seen {
                parser: vt100::Parser::new(size(rows), size(columns), SCROLLBACK),
                closed: false,
            }),
            Condvar::new(),
        ));
        let feed = Arc::clone(&seen);
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                let n = reader.read(&mut buf).unwrap_or(0);
                let (lock, changed) = &*feed;
                let mut seen = lock.lock().unwrap_or_else(|e| e.into_inner());
                if n == 0 {
                    seen.closed = true;
                    changed.notify_all();
                    return;
                }
                seen.parser.process(&buf[..n]);
                changed.notify_all();
            }
        });
        Terminal {
            child,
            master: pair.master,
            keys,
            seen,
        }
    }

    fn seen(&self) -> MutexGuard<'_, Seen> {
        // A test that panicked while holding the lock has said what went wrong; go on.
        self.seen.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The client's process ID, to send it signals.
    pub fn pid(&self) -> u32 {
        self.child.process_id().expect("the client is running")
    }

    /// Types `keys` (a carriage return is Enter, "\x03" is Ctrl-C, "\x04" Ctrl-D, "\t" Tab).
    pub fn type_keys(&mut self, keys: &str) {
        self.keys
            .write_all(keys.as_bytes())
            .expect("keys reach the client");
        self.keys.flush().expect("keys reach the client");
    }

    /// Types `line` and Enter.
    pub fn enter(&mut self, line: &str) {
        self.type_keys(&format!("{line}\r"));
    }

    /// Resizes the terminal, as a window manager does (the client gets SIGWINCH).
    pub fn resize(&mut self, columns: u16, rows: u16) {
        self.seen()
            .parser
            .screen_mut()
            .set_size(size(rows), size(columns));
        self.master
            .resize(PtySize {
                rows,
                cols: columns,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("the terminal resizes");
    }

    /// Waits until `ready` holds for the screen; panics with the screen after [`PATIENCE`].
    pub fn wait_for(&self, what: &str, ready: impl Fn(&Screen) -> bool) -> Screen {
        let deadline = Instant::now() + PATIENCE;
        let changed = &self.seen.1;
        let mut seen = self.seen();
        loop {
            let screen = Screen::of(&mut seen.parser);
            if ready(&screen) {
                return screen;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || seen.closed {
                panic!(
                    "{} waiting for {what}; the terminal shows:\n{}",
                    if seen.closed {
                        "the client exited"
                    } else {
                        "timed out"
                    },
                    screen.visible.join("\n")
                );
            }
            seen = changed
                .wait_timeout(seen, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits for a visible row that contains `text`.
    pub fn wait_for_text(&self, text: &str) -> Screen {
        self.wait_for(&format!("{text:?}"), |screen| {
            screen.visible.iter().any(|row| row.contains(text))
        })
    }

    /// What the terminal shows now.
    pub fn screen(&self) -> Screen {
        Screen::of(&mut self.seen().parser)
    }

    /// Waits for the client to exit, at most `within`; its exit code, and how long that took.
    pub fn wait_exit(&mut self, within: Duration) -> (u32, Duration) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("the child can be polled") {
                return (status.exit_code(), start.elapsed());
            }
            let left = within.saturating_sub(start.elapsed());
            if left.is_zero() {
                panic!(
                    "the client did not exit within {within:?}; the terminal shows:\n{}",
                    self.screen().visible.join("\n")
                );
            }
            // The child's exit closes the terminal: wait for that, not for a fixed time.
            let seen = self.seen();
            if !seen.closed {
                drop(
                    self.seen
                        .1
                        .wait_timeout(seen, left.min(Duration::from_millis(50)))
                        .unwrap_or_else(|e| e.into_inner()),
                );
            }
        }
    }

    /// Whether the terminal is back in its ordinary mode (echo and line editing by the kernel),
    /// as a shell expects it after the client has exited.
    pub fn is_cooked(&self) -> bool {
        let fd = self.master.as_raw_fd().expect("a unix pseudo-terminal");
        // SAFETY: tcgetattr writes into a termios owned by this frame; the fd is the master's,
        // open for as long as `self`.
        let mut termios: libc::termios = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::tcgetattr(fd, &mut termios) }, 0);
        termios.c_lflag & libc::ECHO != 0 && termios.c_lflag & libc::ICANON != 0
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A snapshot of the emulated terminal.
#[derive(Debug, Clone)]
pub struct Screen {
    /// The visible rows, trailing blanks removed.
    pub visible: Vec<String>,
    /// Whether each visible row continues on the next one (the terminal wrapped it).
    pub wrapped: Vec<bool>,
    /// Every row scrolled off the top, oldest first, then the visible ones.
    pub all: Vec<String>,
    pub cursor: (u16, u16),
    pub columns: u16,
}

impl Screen {
    fn of(parser: &mut vt100::Parser) -> Screen {
        let (rows, columns) = parser.screen().size();
        let (rows, columns) = (rows.get(), columns.get());
        let trimmed = |row: String| row.trim_end().to_string();
        let back = parser.screen().scrollback_len();
        let mut all = Vec::new();
        for offset in (1..=back).rev() {
            parser.screen_mut().set_scrollback(offset);
            all.extend(parser.screen().rows(0, columns).next().map(trimmed));
        }
        parser.screen_mut().set_scrollback(0);
        let screen = parser.screen();
        let visible: Vec<String> = screen.rows(0, columns).map(trimmed).collect();
        all.extend(visible.iter().cloned());
        Screen {
            wrapped: (0..rows).map(|row| screen.row_wrapped(row)).collect(),
            visible,
            all,
            cursor: screen.cursor_position(),
            columns,
        }
    }

    /// The visible rows that start with `prefix`.
    pub fn rows_starting(&self, prefix: &str) -> Vec<&String> {
        self.visible
            .iter()
            .filter(|row| row.starts_with(prefix))
            .collect()
    }

    /// The row the cursor is on: the prompt's.
    pub fn cursor_row(&self) -> &str {
        &self.visible[usize::from(self.cursor.0)]
    }
}
