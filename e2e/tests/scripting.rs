//! The client in a script: commands piped in, results on stdout, errors on stderr, and an exit
//! status that says whether everything worked.

use std::path::Path;
use std::process::{Command, Stdio};

use jukebox_e2e::process::binary;
use jukebox_e2e::{make_song, read_wav, ClientProcess, ServerProcess};

#[test]
fn a_server_dying_mid_wait_fails_the_song_and_the_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    make_song(dir.path(), "long", "Long Haul", 30.0, 330, &["-b", "64"]);
    let server = ServerProcess::start(dir.path());
    let wav = dir.path().join("out.wav");
    let mut client = ClientProcess::start_with(server.addr, &wav, &["--timeout", "1"]);
    client.send("play long haul");
    client.expect_prefix("playing ");
    client.send("wait");
    drop(server);
    client.expect_prefix("stopped ");
    let (status, stdout, stderr) = client.finish();
    assert_eq!(status.code(), Some(1), "{stdout:?} {stderr:?}");
    assert!(!stdout.iter().any(|l| l.starts_with("error")), "{stdout:?}");
    assert!(
        stderr.iter().any(|l| l.starts_with("error: song ")),
        "{stderr:?}"
    );
    // The WAV file is complete up to where the sound stopped.
    assert!(read_wav(&wav).seconds() < 30.0);
}

/// The example in the README, run by a shell exactly as written there.
#[test]
fn the_readme_piped_example_works_as_written() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("the README");
    let example = readme
        .lines()
        .find(|line| line.starts_with("printf ") && line.contains("| jukebox "))
        .expect("the piped example, on a line of its own")
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let bin = binary("jukebox");
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("sh")
        .args(["-c", &example])
        .current_dir(dir.path())
        .env("PATH", path)
        .stdin(Stdio::null())
        .output()
        .expect("sh runs");
    assert!(output.status.success(), "{example}: {output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("finished "), "{stdout}");
    assert!(read_wav(&dir.path().join("out.wav")).seconds() > 1.0);
}
