//! The server and client binaries as child processes.
//!
//! Waiting is always for an event (a line printed, a process exiting); the timeouts are only a safety
//! net so that a broken build fails a test instead of hanging CI. Every process is killed when the
//! test ends, failed or not, from right after it is started.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use wait_timeout::ChildExt;

/// How long any single expected event may take before the test is declared hung.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Path of a binary of this workspace, built by `cargo test --workspace` next to the test executable;
/// built on demand when a test is run on its own.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let path = dir.join(name);
    if !path.exists() {
        BUILT.get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut cmd = Command::new(cargo);
            cmd.args(["build", "-p", "jukebox-client", "-p", "jukebox-server"]);
            cmd.args([
                "-p",
                "jukebox-segmenter",
                "--bin",
                "jukebox",
                "--bin",
                "jukebox-server",
            ]);
            cmd.args(["--bin", "jukebox-segmenter"]);
            cmd.args(["-p", "jukebox-bench", "--bin", "jukebox-bench"]);
            if !cfg!(debug_assertions) {
                cmd.arg("--release");
            }
            assert!(
                cmd.status().expect("run cargo build").success(),
                "cargo build failed"
            );
        });
    }
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// Variables that change what the binaries print whatever the harness asks for (colour switches;
/// the harness sets `RUST_LOG` itself); they are removed so that the output is the same on every
/// machine.
const OUTPUT_ENV: [&str; 4] = ["RUST_LOG", "CLICOLOR", "CLICOLOR_FORCE", "NO_COLOR"];

fn command(program: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new(program);
    for name in OUTPUT_ENV {
        command.env_remove(name);
    }
    command
}

/// A child process that is killed and reaped when dropped.
struct Killed(Child);

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

/// Collects a child's output lines in the background and hands them out as they arrive.
struct Lines {
    rx: Receiver<String>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Lines {
    fn spawn(reader: impl std::io::Read + Send + 'static) -> Lines {
        let (tx, rx) = channel();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let all = Arc::clone(&seen);
        thread::spawn(move || {
            for line in BufReader::new(reader).lines() {
                let Ok(line) = line else { break };
                all.lock().unwrap().push(line.clone());
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines { rx, seen }
    }

    /// Waits for the next line that satisfies `pred`, skipping others; panics on EOF or timeout.
    fn expect(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) if pred(&line) => return line,
                Ok(_) => continue,
                Err(RecvTimeoutError::Timeout) => panic!("timed out waiting for {what}"),
                Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "output ended while waiting for {what}; saw {:?}",
                        self.all()
                    )
                }
            }
        }
    }

    fn all(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// A running `jukebox-server`, killed when dropped.
pub struct ServerProcess {
    child: Killed,
    pub addr: SocketAddr,
    log: Lines,
}

impl ServerProcess {
    /// Starts a server on `music` at a free loopback port and waits until it is listening.
    pub fn start(music: &Path) -> ServerProcess {
        Self::start_with(music, &[])
    }

    pub fn start_with(music: &Path, args: &[&str]) -> ServerProcess {
        let spawned = command(binary("jukebox-server"))
            .arg("--music")
            .arg(music)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = Killed(spawned.expect("start jukebox-server"));
        let log = Lines::spawn(child.stderr.take().unwrap());
        let line = log.expect("`listening on`", |l| l.contains("listening on "));
        let addr = line
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        ServerProcess { child, addr, log }
    }

    /// Everything the server has logged so far.
    pub fn log(&self) -> Vec<String> {
        self.log.all()
    }

    /// True while the server process has not exited.
    /// The process ID, to send the server signals (SIGSTOP, SIGCONT).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("poll server").is_none()
    }

    /// Sends the server `signal` (e.g. `libc::SIGTERM`).
    #[cfg(unix)]
    pub fn signal(&self, signal: i32) {
        let pid = i32::try_from(self.pid()).expect("a pid");
        // SAFETY: kill(2) with a pid of our own child, which is not reaped before the drop.
        assert_eq!(
            unsafe { libc::kill(pid, signal) },
            0,
            "kill({pid}, {signal})"
        );
    }

    /// Waits for the server to exit (at most [`PATIENCE`]) and returns its status.
    pub fn wait_exit(&mut self) -> ExitStatus {
        self.child
            .wait_timeout(PATIENCE)
            .expect("wait for server")
            .unwrap_or_else(|| panic!("the server did not exit within {PATIENCE:?}"))
    }
}

/// A running `jukebox` client driven through stdin, as a script would; killed when dropped.
pub struct ClientProcess {
    child: Killed,
    stdin: Option<ChildStdin>,
    out: Lines,
    err: Lines,
}

impl ClientProcess {
    /// Starts a client of `server` that writes what it plays to `wav`, without loudness
    /// normalisation. `RUST_LOG` is set so that the client logs stale frames it discards, which
    /// the switch test counts.
    pub fn start(server: SocketAddr, wav: &Path) -> ClientProcess {
        Self::start_with(server, wav, &[])
    }

    /// As [`ClientProcess::start`], with more flags. Unless they say otherwise, loudness
    /// normalisation is off, so that what is played is the reference decode sample for sample.
    pub fn start_with(server: SocketAddr, wav: &Path, args: &[&str]) -> ClientProcess {
        let normalize: &[&str] = if args.contains(&"--normalize") {
            &[]
        } else {
            &["--normalize", "off"]
        };
        let spawned = command(binary("jukebox"))
            .args(["--server", &server.to_string()])
            .args(normalize)
            .args(args)
            .arg("--output")
            .arg(format!("wav:{}", wav.display()))
            .env("RUST_LOG", "jukebox_client=debug")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = Killed(spawned.expect("start jukebox"));
        let out = Lines::spawn(child.stdout.take().unwrap());
        let err = Lines::spawn(child.stderr.take().unwrap());
        ClientProcess {
            stdin: child.stdin.take(),
            child,
            out,
            err,
        }
    }

    /// Sends one command line.
    pub fn send(&mut self, command: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{command}").expect("write to client");
        stdin.flush().expect("flush to client");
    }

    /// Waits for a stdout line that satisfies `pred`.
    pub fn expect(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.out.expect(what, pred)
    }

    /// Waits for a stdout line starting with `prefix`, ignoring indentation.
    pub fn expect_prefix(&self, prefix: &str) -> String {
        self.out
            .expect(prefix, |l| l.trim_start().starts_with(prefix))
    }

    /// Waits for a stderr line that satisfies `pred`.
    pub fn expect_stderr(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.err.expect(what, pred)
    }

    /// All stdout lines so far.
    pub fn stdout(&self) -> Vec<String> {
        self.out.all()
    }

    /// All stderr lines so far.
    pub fn stderr(&self) -> Vec<String> {
        self.err.all()
    }

    /// Closes stdin (end of input) and waits for the client to exit.
    pub fn finish(mut self) -> (ExitStatus, Vec<String>, Vec<String>) {
        drop(self.stdin.take());
        let status = self
            .child
            .wait_timeout(PATIENCE)
            .expect("wait for client")
            .unwrap_or_else(|| panic!("client did not exit after end of input"));
        // The reader threads see EOF once the process is gone: collect everything they read.
        let drain = |lines: &Lines| while lines.rx.recv_timeout(PATIENCE).is_ok() {};
        drain(&self.out);
        drain(&self.err);
        (status, self.out.all(), self.err.all())
    }

    /// Kills the client at once, as a crash or a pulled cable would.
    pub fn kill(mut self) {
        self.child.kill().expect("kill client");
        let _ = self.child.wait();
    }
}
