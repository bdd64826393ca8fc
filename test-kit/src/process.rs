//! Child processes for the tests: every wait on one is bounded by [`PATIENCE`], and every child is
//! killed when the test ends, failed or not, so that a regression fails a test instead of hanging
//! it or leaving a process behind.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use wait_timeout::ChildExt;

use crate::PATIENCE;

/// Variables that change what our binaries print whatever the test asks for (log filters, colour
/// switches); they are removed so that a test sees the same output on every machine.
const OUTPUT_ENV: [&str; 4] = ["RUST_LOG", "CLICOLOR", "CLICOLOR_FORCE", "NO_COLOR"];

/// `program`, to be run without the variables of [`OUTPUT_ENV`] (a test may still set them).
pub fn command(program: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new(program);
    for name in OUTPUT_ENV {
        command.env_remove(name);
    }
    command
}

/// Sends `signal` (e.g. `libc::SIGTERM`) to the process `pid`, a child of the test not yet reaped.
#[cfg(unix)]
pub fn signal(pid: u32, signal: i32) {
    let pid = libc::pid_t::try_from(pid).expect("a pid");
    // SAFETY: kill(2) takes any pid and signal; the caller names its own child, which is reaped
    // only when its handle drops, so the pid names no other process.
    assert_eq!(
        unsafe { libc::kill(pid, signal) },
        0,
        "kill({pid}, {signal})"
    );
}

/// A child process that is killed and reaped when dropped.
pub struct Killed(Child);

impl Killed {
    pub fn spawn(command: &mut Command) -> Killed {
        Killed(command.spawn().expect("the program starts"))
    }

    /// Waits for the child to exit; fails the test (and so kills it) after [`PATIENCE`].
    pub fn wait(&mut self) -> ExitStatus {
        self.0
            .wait_timeout(PATIENCE)
            .expect("waiting for the child")
            .unwrap_or_else(|| panic!("the child did not exit within {PATIENCE:?}"))
    }
}

impl From<Child> for Killed {
    fn from(child: Child) -> Killed {
        Killed(child)
    }
}

impl Deref for Killed {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl DerefMut for Killed {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `command` with `input` on its standard input, then closed, and returns what it printed
/// once it has exited; fails the test, with what it printed so far, after [`PATIENCE`].
pub fn output_within(command: &mut Command, input: &[u8]) -> Output {
    let mut child = Killed::spawn(
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let stdout = read_all(child.stdout.take().expect("stdout is piped"));
    let stderr = read_all(child.stderr.take().expect("stderr is piped"));
    let mut stdin = child.stdin.take().expect("stdin is piped");
    // A child may exit before it reads its input (a startup error): its status says so.
    match stdin.write_all(input) {
        Err(e) if e.kind() != ErrorKind::BrokenPipe => panic!("writing to the child: {e}"),
        _ => drop(stdin),
    }
    let status = child.wait_timeout(PATIENCE).expect("waiting for the child");
    let Some(status) = status else {
        let _ = child.kill();
        panic!(
            "the child did not exit within {PATIENCE:?}; stdout: {}; stderr: {}",
            String::from_utf8_lossy(&stdout.join().unwrap()),
            String::from_utf8_lossy(&stderr.join().unwrap())
        );
    };
    Output {
        status,
        stdout: stdout.join().expect("stdout is read"),
        stderr: stderr.join().expect("stderr is read"),
    }
}

fn read_all(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// The lines a pipe delivers, read on a thread of their own (so the child never blocks on a full
/// pipe) and all kept; a test waits for the one it expects, at most [`PATIENCE`].
pub struct Lines {
    shared: Arc<(Mutex<Seen>, Condvar)>,
}

#[derive(Default)]
struct Seen {
    lines: Vec<String>,
    /// Lines before this one were taken by [`Lines::next`] or [`Lines::expect`].
    taken: usize,
    /// The pipe has ended: no line will come.
    ended: bool,
}

impl Lines {
    pub fn read(pipe: impl Read + Send + 'static) -> Lines {
        let shared = Arc::new((Mutex::new(Seen::default()), Condvar::new()));
        let kept = Arc::clone(&shared);
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                kept.0.lock().unwrap().lines.push(line);
                kept.1.notify_all();
            }
            kept.0.lock().unwrap().ended = true;
            kept.1.notify_all();
        });
        Lines { shared }
    }

    /// Every line so far.
    pub fn all(&self) -> Vec<String> {
        self.shared.0.lock().unwrap().lines.clone()
    }

    /// Waits, at most [`PATIENCE`], until `found` finds something in what has been read or the
    /// pipe has ended; returns the lock and what was found.
    fn wait<T>(&self, found: impl Fn(&Seen) -> Option<T>) -> (MutexGuard<'_, Seen>, Option<T>) {
        let (seen, read) = &*self.shared;
        let (seen, _) = read
            .wait_timeout_while(seen.lock().unwrap(), PATIENCE, |seen| {
                found(seen).is_none() && !seen.ended
            })
            .unwrap();
        let result = found(&seen);
        (seen, result)
    }

    /// The next line not taken yet; `None` once the pipe has ended. Fails the test after
    /// [`PATIENCE`] without one.
    pub fn next(&self) -> Option<String> {
        let (mut seen, line) = self.wait(|seen| seen.lines.get(seen.taken).cloned());
        match line {
            Some(line) => {
                seen.taken += 1;
                Some(line)
            }
            None if seen.ended => None,
            None => panic!("no line within {PATIENCE:?} after {:?}", seen.lines),
        }
    }

    /// Waits for the next line that satisfies `pred`, skipping (and taking) the others; fails the
    /// test if the pipe ends or [`PATIENCE`] passes first.
    pub fn expect(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let (mut seen, at) =
            self.wait(|seen| (seen.taken..seen.lines.len()).find(|&i| pred(&seen.lines[i])));
        let Some(at) = at else {
            let why = if seen.ended {
                "output ended"
            } else {
                "timed out"
            };
            panic!("{why} while waiting for {what}; saw {:?}", seen.lines);
        };
        seen.taken = at + 1;
        seen.lines[at].clone()
    }

    /// Waits until a line containing every one of `words` has been read, at any time (taking
    /// nothing), and returns it; fails the test if the pipe ends or [`PATIENCE`] passes first.
    pub fn find(&self, words: &[&str]) -> String {
        let (seen, line) = self.wait(|seen| {
            seen.lines
                .iter()
                .find(|l| words.iter().all(|w| l.contains(w)))
                .cloned()
        });
        line.unwrap_or_else(|| {
            let why = if seen.ended {
                "the output ended"
            } else {
                "timed out"
            };
            panic!(
                "{why} with no line with {words:?} in:\n{}",
                seen.lines.join("\n")
            )
        })
    }

    /// Waits, at most [`PATIENCE`], for the pipe to end (the process and anyone holding the pipe
    /// have exited), so that every line is in; false if it did not.
    pub fn wait_end(&self) -> bool {
        self.wait(|seen| seen.ended.then_some(())).1.is_some()
    }
}

/// A running `jukebox-server` on a free loopback port, killed when dropped, whose log is kept.
pub struct ServerProcess {
    child: Killed,
    pub addr: SocketAddr,
    log: Lines,
}

impl ServerProcess {
    /// Starts `command` (the server binary with its flags, or a wrapper that runs it with them)
    /// with `--listen 127.0.0.1:0`, logging at info, and waits for its `listening on` line.
    pub fn start(command: &mut Command) -> ServerProcess {
        let spawned = command
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = Killed(spawned.expect("jukebox-server starts"));
        let log = Lines::read(child.stderr.take().expect("stderr is piped"));
        let line = log.find(&["listening on "]);
        let addr = line
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        ServerProcess { child, addr, log }
    }

    /// The log so far, one line each.
    pub fn log(&self) -> String {
        self.log.all().join("\n")
    }

    /// The lines of the log so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.log.all()
    }

    /// Waits until the server logs a line containing every one of `words`, and returns it; fails
    /// the test if the server exits or [`PATIENCE`] passes first.
    pub fn wait_for_line(&self, words: &[&str]) -> String {
        self.log.find(words)
    }

    /// The process ID, to send the server signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True while the server process has not exited.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("poll server").is_none()
    }

    /// Sends the server `signal` (e.g. `libc::SIGTERM`).
    #[cfg(unix)]
    pub fn signal(&self, signal: i32) {
        self::signal(self.pid(), signal);
    }

    /// Waits for the server to exit (at most [`PATIENCE`]) and returns its status.
    pub fn wait_exit(&mut self) -> ExitStatus {
        self.child
            .wait_timeout(PATIENCE)
            .expect("wait for server")
            .unwrap_or_else(|| panic!("the server did not exit within {PATIENCE:?}"))
    }
}

/// Waits until `ready` holds, looking every `every` (for what tells no one when it changes: a
/// port that starts accepting, a file that grows); fails the test, saying it waited for `what`,
/// after [`PATIENCE`].
pub fn poll_until(what: &str, every: std::time::Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !ready() {
        assert!(Instant::now() < deadline, "no {what} after {PATIENCE:?}");
        thread::sleep(every);
    }
}
