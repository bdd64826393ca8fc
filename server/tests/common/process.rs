//! The `jukebox-server` binary as a child process: every wait on it is bounded by [`PATIENCE`],
//! and it is killed when the test ends, failed or not, so that a regression fails a test instead of
//! hanging it or leaving a server behind.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};

use wait_timeout::ChildExt;

use super::PATIENCE;

/// Variables that change what the server prints whatever the test asks for (log filters, colour
/// switches); they are removed so that a test sees the same output on every machine.
const OUTPUT_ENV: [&str; 4] = ["RUST_LOG", "CLICOLOR", "CLICOLOR_FORCE", "NO_COLOR"];

/// The server binary, to be run without the variables of [`OUTPUT_ENV`] (a test may still set
/// them).
pub fn server_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jukebox-server"));
    for name in OUTPUT_ENV {
        command.env_remove(name);
    }
    command
}

/// A child process that is killed and reaped when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `command` (its standard input empty) and returns what it printed once it has exited;
/// fails the test, with what it printed so far, after [`PATIENCE`].
pub fn output_within(command: &mut Command) -> Output {
    let spawned = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = Killed(spawned.expect("the program starts"));
    let stdout = read_all(child.0.stdout.take().expect("stdout is piped"));
    let stderr = read_all(child.0.stderr.take().expect("stderr is piped"));
    let status = child
        .0
        .wait_timeout(PATIENCE)
        .expect("waiting for the child");
    let Some(status) = status else {
        let _ = child.0.kill();
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

/// A running server process, killed when dropped, whose log is kept.
pub struct Running {
    _child: Killed,
    pub addr: SocketAddr,
    /// Every line logged so far, and a signal for each new one.
    log: Arc<(Mutex<Log>, Condvar)>,
}

#[derive(Default)]
struct Log {
    lines: Vec<String>,
    ended: bool,
}

impl Running {
    /// Starts the binary with `args` on a free loopback port, logging at info, and waits for its
    /// `listening on` line.
    pub fn start(args: &[&std::ffi::OsStr]) -> Running {
        Running::start_with_env(args, &[])
    }

    /// [`Running::start`] with more environment variables.
    pub fn start_with_env(args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> Running {
        let mut command = server_command();
        command.envs(env.iter().copied());
        Running::start_command(command, args)
    }

    /// [`Running::start`] under `ulimit` options (for example "-Sn 1024"), set by a shell that
    /// then runs the server in its place.
    pub fn start_limited(ulimit: &str, args: &[&std::ffi::OsStr]) -> Running {
        let mut shell = Command::new("bash");
        for name in OUTPUT_ENV {
            shell.env_remove(name);
        }
        shell.args([
            "-c",
            &format!("ulimit {ulimit} && exec \"$0\" \"$@\""),
            env!("CARGO_BIN_EXE_jukebox-server"),
        ]);
        Running::start_command(shell, args)
    }

    fn start_command(mut command: Command, args: &[&std::ffi::OsStr]) -> Running {
        let spawned = command
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = Killed(spawned.expect("jukebox-server starts"));
        let stderr = child.0.stderr.take().expect("stderr is piped");
        let log = Arc::new((Mutex::new(Log::default()), Condvar::new()));
        // Keep reading the log so the server never blocks on a full pipe.
        let kept = log.clone();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                kept.0.lock().unwrap().lines.push(line);
                kept.1.notify_all();
            }
            kept.0.lock().unwrap().ended = true;
            kept.1.notify_all();
        });
        let mut running = Running {
            _child: child,
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            log,
        };
        let line = running.wait_for_line(&["listening on "]);
        let (_, addr) = line.split_once("listening on ").unwrap();
        running.addr = addr
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("no address in {line:?}: {e}"));
        running
    }

    /// The log so far, one line each.
    pub fn log(&self) -> String {
        self.log.0.lock().unwrap().lines.join("\n")
    }

    /// Waits until the server logs a line containing every one of `words`, and returns it; fails
    /// the test if the server exits or [`PATIENCE`] passes first.
    pub fn wait_for_line(&self, words: &[&str]) -> String {
        let (log, logged) = &*self.log;
        let found = |log: &Log| {
            log.lines
                .iter()
                .find(|l| words.iter().all(|w| l.contains(w)))
                .cloned()
        };
        let (log, _) = logged
            .wait_timeout_while(log.lock().unwrap(), PATIENCE, |log| {
                found(log).is_none() && !log.ended
            })
            .unwrap();
        found(&log).unwrap_or_else(|| {
            let why = if log.ended {
                "the server exited"
            } else {
                "timed out"
            };
            panic!(
                "{why} with no line with {words:?} in:\n{}",
                log.lines.join("\n")
            )
        })
    }
}
