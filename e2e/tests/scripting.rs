//! The client in a script: commands piped in, results on stdout, errors on stderr, and an exit
//! status that says whether everything worked.

use std::path::Path;
use std::process::{Command, Stdio};

use jukebox_e2e::process::{binary, PATIENCE};
use jukebox_e2e::{make_song, read_wav, ClientProcess, ServerProcess};
use wait_timeout::ChildExt;

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
/// The README's lines that install completions and man pages, run by a shell as written, in a
/// home folder of their own with the binaries on the PATH.
#[test]
fn the_readme_completion_and_man_page_lines_work_as_written() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("the README");
    let start = readme
        .find("\nfor bin in jukebox jukebox-server jukebox-segmenter")
        .expect("the loop over the binaries");
    let block_start = readme[..start].rfind("```sh\n").expect("its code block") + "```sh\n".len();
    let block_end = block_start + readme[block_start..].find("```").expect("the block's end");
    let script = &readme[block_start..block_end];
    let home = tempfile::tempdir().unwrap();
    let bins = ["jukebox", "jukebox-server", "jukebox-segmenter"];
    let mut path = std::env::var_os("PATH").unwrap_or_default();
    for bin in bins {
        let dir = binary(bin).parent().unwrap().to_path_buf();
        path =
            std::env::join_paths(std::iter::once(dir).chain(std::env::split_paths(&path))).unwrap();
    }
    // What the shell prints goes to a file, so that waiting for it can be bounded.
    let log_path = home.path().join("sh.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut sh = Command::new("sh")
        .args(["-e", "-c", script])
        .current_dir(home.path())
        .env("HOME", home.path())
        .env("PATH", path)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("sh runs");
    let status = sh.wait_timeout(PATIENCE).expect("waiting for sh");
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let Some(status) = status else {
        let _ = sh.kill();
        let _ = sh.wait();
        panic!("{script}: still running after {PATIENCE:?}; printed {log}");
    };
    assert!(status.success(), "{script}: {status}; printed {log}");
    for bin in bins {
        let completions = home
            .path()
            .join(".local/share/bash-completion/completions")
            .join(bin);
        let completions = std::fs::read_to_string(&completions).unwrap();
        assert!(
            completions.contains(&format!("-o default {bin}")),
            "{bin}: {completions}"
        );
        let man = home
            .path()
            .join(".cargo/share/man/man1")
            .join(format!("{bin}.1"));
        let man = std::fs::read_to_string(&man).unwrap();
        assert!(man.contains(&format!(".TH {bin} 1")), "{bin}: {man}");
    }
}

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
