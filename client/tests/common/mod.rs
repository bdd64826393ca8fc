//! Helpers for running the real `jukebox` binary; processes, reference audio and the scripted
//! server come from the workspace's test kit.

#![allow(dead_code)] // each test file uses a different part of this

use std::path::Path;
use std::process::Output;

use jukebox_test_kit::music_dir;
use jukebox_test_kit::process::{command, output_within};

/// Runs `jukebox` with `args`, feeding `commands` on stdin and closing it; bounded by the kit's
/// patience. Unless `args` say otherwise, loudness normalisation is off, so that what is played
/// is the reference decode sample for sample.
pub fn run_jukebox(args: &[&str], commands: impl AsRef<[u8]>) -> Output {
    let mut jukebox = command(env!("CARGO_BIN_EXE_jukebox"));
    if !args.contains(&"--normalize") {
        jukebox.args(["--normalize", "off"]);
    }
    output_within(jukebox.args(args), commands.as_ref())
}

/// Runs `jukebox --server addr --output wav:wav` off the async runtime (the test's server runs
/// on it), feeding `commands`.
pub async fn run_jukebox_against(addr: String, wav: &Path, commands: &'static str) -> Output {
    let output = format!("wav:{}", wav.display());
    tokio::task::spawn_blocking(move || {
        run_jukebox(&["--server", &addr, "--output", &output], commands)
    })
    .await
    .expect("jukebox runs")
}

pub fn stdout_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

pub fn stderr_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The ID of a bundled song, by file name: a song's ID comes from its audio.
pub fn bundled_id(name: &str) -> u64 {
    jukebox_segmenter::segment_file(
        &music_dir().join(name),
        jukebox_segmenter::DEFAULT_SEGMENT_DURATION,
    )
    .expect("a bundled song")
    .manifest
    .id
}
