//! The `jukebox-segmenter` binary on temporary folders: layout, summary, incremental re-runs,
//! leftovers of an interrupted run, errors, what it prints of file names, its documentation.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use jukebox_segmenter::catalog::index::SONGS_DIR;
use jukebox_segmenter::read_catalog;
use jukebox_test_kit::music_dir;
use jukebox_test_kit::process::{self, output_within, Killed, Lines};

/// The segmenter, run without the variables that would change what it prints.
fn command() -> Command {
    process::command(env!("CARGO_BIN_EXE_jukebox-segmenter"))
}

/// Runs the segmenter and returns what it printed once it has exited; fails the test, with what it
/// printed so far, after the kit's patience.
fn segmenter(args: &[&Path]) -> Output {
    output_within(command().args(args), b"")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn writes_the_layout_and_a_summary_then_rewrites_nothing() {
    let src = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(music_dir()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, src.path().join(path.file_name().unwrap())).unwrap();
    }
    std::fs::write(src.path().join("zz-broken.mp3"), b"nothing").unwrap();
    let out = tempfile::tempdir().unwrap();
    let catalog = out.path().join("catalog");

    let first = segmenter(&[src.path(), &catalog]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let stdout = text(&first.stdout);
    assert!(
        stdout.contains(" (4 written, 0 unchanged, 0 removed), 1 skipped"),
        "{stdout}"
    );
    assert!(
        stdout.contains("skipped zz-broken.mp3: not a playable mp3"),
        "{stdout}"
    );
    assert!(stdout.contains("total duration 0:01:"), "{stdout}");
    // stderr is not a terminal here: plain lines, one per file.
    let stderr = text(&first.stderr);
    assert_eq!(stderr.matches("] ").count(), 5, "{stderr}");
    assert!(stderr.contains("01-morning-steps.mp3: written"), "{stderr}");

    let index = common::listing(&catalog);
    assert_eq!(index.songs.len(), 4);
    for entry in &index.songs {
        let folder = catalog.join(SONGS_DIR).join(&entry.dir);
        let manifest = jukebox_protocol::Manifest::from_json(&entry.manifest).unwrap();
        for i in 0..manifest.segments.len() {
            let seg = folder.join(format!("{i:06}.seg"));
            assert!(seg.is_file(), "{}", seg.display());
        }
    }

    // A leftover of an interrupted write is never loaded, and the next run removes it.
    let leftover = catalog
        .join(SONGS_DIR)
        .join(".tmp-feedfeedfeedfeedfeedfeedfeedfeed-1");
    std::fs::create_dir(&leftover).unwrap();
    std::fs::write(leftover.join("000000.seg"), b"half a song").unwrap();
    assert_eq!(read_catalog(&catalog).unwrap().songs.len(), 4);

    let second = segmenter(&[src.path(), &catalog]);
    assert!(second.status.success());
    let stdout = text(&second.stdout);
    assert!(
        stdout.contains("4 songs in ") && stdout.contains("(0 written, 4 unchanged, 0 removed)"),
        "{stdout}"
    );
    assert!(!leftover.exists());
    assert_eq!(common::listing(&catalog), index);
}

#[test]
fn a_killed_run_leaves_the_old_catalog_or_the_new_one() {
    let src = tempfile::tempdir().unwrap();
    let song = std::fs::read(music_dir().join("04-long-road.mp3")).unwrap();
    for i in 0..4 {
        std::fs::write(src.path().join(format!("a{i:02}.mp3")), &song).unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let catalog = out.path().join("catalog");
    assert!(segmenter(&[src.path(), &catalog]).status.success());
    let old = common::listing(&catalog);
    // More songs, and the old ones changed: a second run has much to write.
    for i in 0..40 {
        let mut changed = song.clone();
        // A byte of the audio, so that every file is a song of its own.
        let at = changed.len() / 2;
        changed[at] ^= 1 + i as u8;
        std::fs::write(src.path().join(format!("a{i:02}.mp3")), &changed).unwrap();
    }
    let mut child = Killed::spawn(
        command()
            .args([src.path(), &catalog])
            .args(["--jobs", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    // Kill it as soon as it reports its first song written.
    let stderr = Lines::read(child.stderr.take().unwrap());
    stderr.expect("a song reported written", |l| l.ends_with(": written"));
    child.kill().unwrap();
    child.wait();

    // Whatever moment it died at, a server loads a whole catalog, old or new, and nothing else.
    let loaded = read_catalog(&catalog).unwrap();
    assert!(loaded.skipped.is_empty(), "{:?}", loaded.skipped);
    let now = common::listing(&catalog);
    assert!(
        now == old || now.songs.len() == 40,
        "{} songs",
        now.songs.len()
    );
    assert_eq!(loaded.songs.len(), now.songs.len());
    // And its index answers: every song listed, page by page, as a server lists them.
    let index = jukebox_segmenter::open_catalog(&catalog).unwrap();
    let (mut listed, mut after) = (0, 0);
    loop {
        let page = index.list(None, after, 7).unwrap();
        let Some(last) = page.last() else { break };
        after = last.pos;
        listed += page.len();
    }
    assert_eq!(listed, now.songs.len());
    assert_eq!(index.meta().unwrap().songs, listed as u64);
    for song in &loaded.songs {
        for i in 0..song.segment_count() as u32 {
            song.get_segment(i).expect("every listed segment is there");
        }
    }
    // The next run completes the new catalog and leaves no temporary folder behind.
    let rerun = segmenter(&[src.path(), &catalog]);
    assert!(rerun.status.success());
    assert_eq!(read_catalog(&catalog).unwrap().songs.len(), 40);
    let leftovers = std::fs::read_dir(catalog.join(SONGS_DIR))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        })
        .count();
    assert_eq!(leftovers, 0);
}

#[test]
fn a_wrong_command_line_gets_clap_s_whole_message() {
    const USAGE: &str = "Usage: jukebox-segmenter [OPTIONS] <IN_DIR> <OUT_DIR>";
    let music = music_dir();
    let zero = [
        Path::new("--segment-duration"),
        Path::new("0"),
        &music,
        &music,
    ];
    let cases: Vec<(Vec<&Path>, &[&str])> = vec![
        (
            vec![],
            &["required arguments", "<IN_DIR>", "<OUT_DIR>", USAGE],
        ),
        (vec![&music], &["required arguments", "<OUT_DIR>", USAGE]),
        (zero.to_vec(), &["more than 0", "--segment-duration"]),
        (vec![Path::new("--frobnicate")], &["'--frobnicate'", USAGE]),
        (
            vec![Path::new("--man"), &music],
            &["--man", "cannot be used", USAGE],
        ),
    ];
    for (args, expected) in cases {
        let output = segmenter(&args);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        for word in expected {
            assert!(stderr.contains(word), "{args:?} lacks {word}: {stderr}");
        }
        assert!(stderr.contains("--help"), "{stderr}");
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn unreadable_folders_and_folders_without_songs_are_one_line_errors() {
    let out = tempfile::tempdir().unwrap();
    let missing = out.path().join("missing");
    let file = out.path().join("file.txt");
    std::fs::write(&file, b"x").unwrap();
    let no_mp3 = tempfile::tempdir().unwrap();
    std::fs::write(no_mp3.path().join("notes.txt"), b"no songs here").unwrap();
    let broken = tempfile::tempdir().unwrap();
    std::fs::write(broken.path().join("a.mp3"), b"not audio").unwrap();
    let (catalog, other) = (out.path().join("catalog"), out.path().join("other"));
    let music = music_dir();
    let music = music.as_path();
    let cases: Vec<(Vec<&Path>, &str)> = vec![
        (vec![no_mp3.path(), &catalog], "no mp3 file below "),
        (
            vec![Path::new("--bench"), no_mp3.path()],
            "no mp3 file below ",
        ),
        (
            vec![broken.path(), &other],
            "could be segmented (1 skipped)",
        ),
        (vec![&missing, out.path()], "cannot read source folder"),
        (vec![&file, out.path()], "cannot read source folder"),
        (vec![music, &file], "cannot write catalog folder"),
        (vec![music, music], "refusing"),
    ];
    for (args, expected) in cases {
        let output = segmenter(&args);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        let last = stderr.lines().last().unwrap_or_default();
        assert!(last.starts_with("jukebox-segmenter: "), "{stderr}");
        assert!(last.contains(expected), "{args:?}: {stderr}");
        // Before the error, only the progress lines of files read.
        assert!(
            stderr
                .lines()
                .rev()
                .skip(1)
                .all(|l| l.contains(" to read") || l.starts_with('[')),
            "{args:?}: {stderr}"
        );
        assert!(output.stdout.is_empty());
    }
    // A run on a folder without mp3 creates nothing.
    assert!(!catalog.exists());
}

#[test]
fn file_names_cannot_put_control_characters_on_the_terminal() {
    let src = tempfile::tempdir().unwrap();
    let song = music_dir().join("01-morning-steps.mp3");
    std::fs::copy(&song, src.path().join("red\u{1b}[31m\nforged line.mp3")).unwrap();
    std::fs::write(src.path().join("clear\u{1b}[2J.mp3"), b"not audio").unwrap();
    let out = tempfile::tempdir().unwrap();
    let output = segmenter(&[src.path(), &out.path().join("catalog")]);
    assert!(output.status.success(), "{output:?}");
    for printed in [&output.stdout, &output.stderr] {
        let printed = text(printed);
        assert!(!printed.contains('\u{1b}'), "{printed:?}");
        assert!(
            !printed.lines().any(|l| l.starts_with("forged")),
            "{printed:?}"
        );
    }
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("skipped clear\u{fffd}[2J.mp3: not a playable mp3"),
        "{stdout}"
    );
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("red\u{fffd}[31m\u{fffd}forged line.mp3: written"),
        "{stderr}"
    );
}

#[test]
fn one_song_is_counted_in_the_singular() {
    let src = tempfile::tempdir().unwrap();
    std::fs::copy(
        music_dir().join("01-morning-steps.mp3"),
        src.path().join("only.mp3"),
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let output = segmenter(&[src.path(), &out.path().join("catalog")]);
    assert!(output.status.success(), "{output:?}");
    let stdout = text(&output.stdout);
    assert!(stdout.starts_with("1 song in "), "{stdout}");
    let stderr = text(&output.stderr);
    assert!(stderr.starts_with("1 file, "), "{stderr}");
    let bench = segmenter(&[
        Path::new("--bench"),
        src.path(),
        Path::new("--jobs"),
        Path::new("1"),
    ]);
    let line = text(&bench.stdout);
    assert!(line.contains(": 1 song, 0 skipped"), "{line}");
    assert!(line.trim_end().ends_with(", 1 thread"), "{line}");
}

#[test]
fn completions_and_the_man_page_come_from_the_flags() {
    for (shell, marker) in [
        ("bash", "-o default jukebox-segmenter"),
        ("zsh", "#compdef jukebox-segmenter"),
        ("fish", "complete -c jukebox-segmenter"),
    ] {
        let output = segmenter(&[Path::new("--completions"), Path::new(shell)]);
        assert!(output.status.success(), "{shell}: {output:?}");
        let script = text(&output.stdout);
        assert!(script.contains(marker), "{shell}: {script}");
        for flag in ["segment-duration", "bench", "jobs"] {
            assert!(script.contains(flag), "{shell} completes --{flag}");
        }
    }
    let man = segmenter(&[Path::new("--man")]);
    assert!(man.status.success(), "{man:?}");
    let man = text(&man.stdout);
    assert!(man.contains(".TH jukebox-segmenter 1"), "{man}");
    for word in ["IN_DIR", "\\-\\-bench", "index.sqlite", "Exit status"] {
        assert!(man.contains(word), "the man page lacks {word:?}");
    }
}

#[test]
fn help_documents_the_layout_and_bench_reports_a_rate() {
    let help = segmenter(&[Path::new("--help")]);
    assert!(help.status.success());
    let help = text(&help.stdout);
    for word in [
        "index.sqlite",
        "000000.seg",
        "--segment-duration",
        "--bench",
        "Examples:",
        "Exit status:",
    ] {
        assert!(help.contains(word), "{word}: {help}");
    }
    let bench = segmenter(&[Path::new("--bench"), &music_dir()]);
    assert!(bench.status.success());
    let line = text(&bench.stdout);
    assert!(
        line.starts_with("bench ") && line.contains(" 4 songs, 0 skipped"),
        "{line}"
    );
    assert!(line.contains(" MB/s"), "{line}");
}
