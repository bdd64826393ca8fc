//! Child processes for the tests: every wait on one is bounded by [`PATIENCE`], and every child is
//! killed when the test ends, failed or not, so that a regression fails a test instead of hanging
//! it or leaving a process behind.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::ops::{Deref, DerefMut};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::thread::{self, JoinHandle};

use wait_timeout::ChildExt;

use super::PATIENCE;

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

/// The lines `pipe` delivers, read on a thread of their own, so that a test can wait for the next
/// one with `recv_timeout(PATIENCE)`.
pub fn lines(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}
