//! The `jukebox-server` binary as a child process, through the test kit's process helpers: every
//! wait on it is bounded, and it is killed when the test ends, failed or not.

use std::ffi::OsStr;
use std::process::Command;

use jukebox_test_kit::process::{command, ServerProcess};

const SERVER: &str = env!("CARGO_BIN_EXE_jukebox-server");

/// The server binary, to be run without the variables that change what it prints.
pub fn server_command() -> Command {
    command(SERVER)
}

/// Runs `command` with nothing on its standard input and returns what it printed once it has
/// exited; fails the test after the kit's patience.
pub fn output_within(command: &mut Command) -> std::process::Output {
    jukebox_test_kit::process::output_within(command, b"")
}

/// Starts the binary with `args` on a free loopback port, logging at info, and waits for its
/// `listening on` line.
pub fn start(args: &[&OsStr]) -> ServerProcess {
    start_with_env(args, &[])
}

/// [`start`] with more environment variables.
pub fn start_with_env(args: &[&OsStr], env: &[(&str, &str)]) -> ServerProcess {
    ServerProcess::start(server_command().args(args).envs(env.iter().copied()))
}

/// [`start`] under `ulimit` options (for example "-Sn 1024"), set by a shell that then runs the
/// server in its place.
pub fn start_limited(ulimit: &str, args: &[&OsStr]) -> ServerProcess {
    let mut shell = command("bash");
    shell.args([
        "-c",
        &format!("ulimit {ulimit} && exec \"$0\" \"$@\""),
        SERVER,
    ]);
    ServerProcess::start(shell.args(args))
}
