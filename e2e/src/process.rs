//! The server and client binaries as child processes.
//!
//! Waiting is always for an event (a line printed, a process exiting); the timeouts are only a safety
//! net so that a broken build fails a test instead of hanging CI. Every process is killed when the
//! test ends, failed or not, from right after it is started.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use jukebox_test_kit::process::{command, poll_until, Killed, Lines};
pub use jukebox_test_kit::PATIENCE;

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

/// A running `jukebox-server` on a music folder, killed when dropped: the test kit's server
/// process, with its log.
pub struct ServerProcess(jukebox_test_kit::process::ServerProcess);

impl ServerProcess {
    /// Starts a server on `music` at a free loopback port and waits until it is listening.
    pub fn start(music: &Path) -> ServerProcess {
        Self::start_with(music, &[])
    }

    pub fn start_with(music: &Path, args: &[&str]) -> ServerProcess {
        let mut server = command(binary("jukebox-server"));
        server.arg("--music").arg(music).args(args);
        ServerProcess(jukebox_test_kit::process::ServerProcess::start(&mut server))
    }
}

impl Deref for ServerProcess {
    type Target = jukebox_test_kit::process::ServerProcess;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for ServerProcess {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// The ID of each song the server lists, by title: a song's ID comes from its audio, so a test
/// learns it as a user would, from `list --all`. `scratch` holds the lister's WAV file.
pub fn ids(server: &ServerProcess, scratch: &Path) -> HashMap<String, u64> {
    let mut client = ClientProcess::start(server.addr, &scratch.join("list.wav"));
    client.send("list --all");
    client.send("quit");
    let (status, stdout, _) = client.finish();
    assert!(status.success());
    stdout
        .iter()
        .filter_map(|line| {
            let (id, rest) = line.trim_start().split_once("  ")?;
            let title = rest.split(" — ").next()?;
            Some((title.to_string(), id.parse().ok()?))
        })
        .collect()
}

/// Waits until the client has written some of the song to `wav`: the file grows through an 8 KiB
/// buffer, so once it is past 16 KiB it holds samples, whatever the header's size.
pub fn wait_for_audio(wav: &Path) {
    poll_until("audio", Duration::from_millis(10), || {
        std::fs::metadata(wav).map_or(0, |m| m.len()) >= 16 * 1024
    });
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
        let mut child = Killed::from(spawned.expect("start jukebox"));
        let out = Lines::read(child.stdout.take().unwrap());
        let err = Lines::read(child.stderr.take().unwrap());
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
        let status = self.child.wait();
        // The reader threads see EOF once the process is gone: collect everything they read.
        self.out.wait_end();
        self.err.wait_end();
        (status, self.out.all(), self.err.all())
    }

    /// Kills the client at once, as a crash or a pulled cable would.
    pub fn kill(mut self) {
        self.child.kill().expect("kill client");
        let _ = self.child.wait();
    }
}
