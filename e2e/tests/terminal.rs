//! The client at a real terminal: a pseudo-terminal runs the `jukebox` binary and a terminal
//! emulator reads its screen, while the test types. Songs are short files made with sox and lame;
//! every wait is for something on the screen, bounded by PATIENCE.
//!
//! Songs are named by search words, never by ID: IDs are the server's business.

#![cfg(unix)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use jukebox_e2e::process::binary;
use jukebox_e2e::{make_song, Screen, ServerProcess, Terminal};
use tempfile::TempDir;

/// A title of 200 characters.
fn long_title() -> String {
    format!("Longtitle {}", "ABCDEFGHIJ".repeat(19))
}

/// A folder with a long song (it plays for the whole test) and a short one.
fn songs() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    make_song(dir.path(), "alpha", "Alpha", 30.0, 440, &["-b", "64"]);
    make_song(dir.path(), "bravo", "Bravo", 2.0, 660, &["-b", "64"]);
    make_song(dir.path(), "long", &long_title(), 30.0, 550, &["-b", "64"]);
    dir
}

/// The client on its embedded server over `music`, history kept in `state`.
fn client(music: &Path, state: &Path, columns: u16, rows: u16) -> Terminal {
    let music = music.display().to_string();
    let state = state.display().to_string();
    Terminal::spawn(
        &binary("jukebox"),
        &["--music", &music, "--output", "null"],
        &[("XDG_STATE_HOME", &state)],
        columns,
        rows,
    )
}

/// The client of a server process.
fn client_of(server: &ServerProcess, timeout: &str, state: &Path) -> Terminal {
    let addr = server.addr.to_string();
    let state = state.display().to_string();
    Terminal::spawn(
        &binary("jukebox"),
        &["--server", &addr, "--output", "null", "--timeout", timeout],
        &[("XDG_STATE_HOME", &state)],
        80,
        24,
    )
}

/// A status bar row: "playing 0:03 / 0:30  ...", perhaps after what is pending.
fn is_bar(row: &str) -> bool {
    ["playing ", "stalled ", "buffering "]
        .iter()
        .any(|state| row.contains(state))
        && row.contains(" / ")
}

/// The bar, when the screen is settled with it: the cursor on the prompt and the bar below.
/// (The emulator shows each update as its bytes arrive, so a snapshot can catch one half done.)
fn settled_bar(screen: &Screen) -> Option<&String> {
    let prompt = usize::from(screen.cursor.0);
    let bar = screen.visible.get(prompt + 1)?;
    (screen.visible[prompt].starts_with("jukebox>") && is_bar(bar)).then_some(bar)
}

fn bars(screen: &Screen) -> Vec<&String> {
    screen.visible.iter().filter(|row| is_bar(row)).collect()
}

/// The bar shows no more than once, on the screen, never in the scrollback.
fn assert_one_bar_at_most(screen: &Screen) {
    assert!(bars(screen).len() <= 1, "{:#?}", screen.visible);
    let scrolled = &screen.all[..screen.all.len() - screen.visible.len()];
    assert!(
        !scrolled.iter().any(|row| is_bar(row)),
        "a status bar in the scrollback: {scrolled:#?}"
    );
}

/// The prompt row and the bar below it each fit in one row. (Printed lines, such as a long
/// title in "playing ...", wrap as any output does.)
fn assert_region_unwrapped(screen: &Screen) {
    let prompt = usize::from(screen.cursor.0);
    assert!(is_bar(&screen.visible[prompt + 1]), "{:#?}", screen.visible);
    assert!(
        !screen.wrapped[prompt - 1] && !screen.wrapped[prompt] && !screen.wrapped[prompt + 1],
        "{:#?}",
        screen.visible
    );
}

fn signal(server: &ServerProcess, name: &str) {
    kill(server.pid(), name);
}

fn kill(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([name, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

fn started(terminal: &mut Terminal) {
    terminal.wait_for("the prompt", |s| s.cursor_row().starts_with("jukebox>"));
}

#[test]
fn lines_printed_while_a_song_plays_and_the_user_types_are_all_kept() {
    let music = songs();
    let state = tempfile::tempdir().unwrap();
    let mut terminal = client(music.path(), state.path(), 80, 24);
    started(&mut terminal);
    terminal.enter("play alpha");
    terminal.wait_for("the bar", |s| settled_bar(s).is_some());
    // Forty lines typed at once while the bar moves, each answered by an error line, and a list.
    let mut keys: String = (0..20).map(|i| format!("bogus{i}\r")).collect();
    keys.push_str("list\r");
    keys.extend((20..40).map(|i| format!("bogus{i}\r")));
    terminal.type_keys(&keys);
    let screen = terminal.wait_for_text("unknown command \"bogus39\"");
    let errors: Vec<&String> = screen
        .all
        .iter()
        .filter(|row| row.starts_with("error: unknown command"))
        .collect();
    let expected: Vec<String> = (0..40)
        .map(|i| format!("error: unknown command \"bogus{i}\"; type help"))
        .collect();
    assert_eq!(
        errors,
        expected.iter().collect::<Vec<_>>(),
        "{:#?}",
        screen.all
    );
    // The list's lines, once each (the bar and "playing" name Alpha too).
    for title in ["  Alpha — Test Band", "  Bravo — Test Band", "  Longtitle"] {
        assert_eq!(
            screen.all.iter().filter(|row| row.contains(title)).count(),
            1,
            "{title}: {:#?}",
            screen.all
        );
    }
    assert!(screen
        .all
        .iter()
        .any(|row| row.starts_with("playing ") && row.contains(": Alpha")));
    assert_one_bar_at_most(&screen);
    terminal.enter("quit");
    let screen = terminal.wait_for_text("stopped ");
    assert!(!bars(&screen).iter().any(|_| true), "{:#?}", screen.visible);
    assert_eq!(
        terminal.wait_exit(PATIENCE_EXIT).0,
        1,
        "bogus commands failed"
    );
    assert!(terminal.is_cooked());
}

/// Long enough for any exit; the tests that need an exit within a second say so.
const PATIENCE_EXIT: Duration = Duration::from_secs(30);

#[test]
fn the_bar_never_wraps_at_40_80_and_200_columns_and_follows_a_resize() {
    let music = songs();
    let state = tempfile::tempdir().unwrap();
    for columns in [40u16, 80, 200] {
        let mut terminal = client(music.path(), state.path(), columns, 12);
        started(&mut terminal);
        terminal.enter("play longtitle");
        let screen = terminal.wait_for("the bar", |s| settled_bar(s).is_some());
        let bar = bars(&screen)[0].clone();
        assert!(bar.chars().count() < usize::from(columns), "{bar:?}");
        assert!(
            bar.contains('…'),
            "the title is cut with an ellipsis: {bar:?}"
        );
        assert_region_unwrapped(&screen);
        // Several updates later, still one bar, never wrapped, nothing left in the scrollback.
        let later = terminal.wait_for("the bar to move", |s| {
            settled_bar(s).is_some_and(|now| *now != bar)
        });
        assert_region_unwrapped(&later);
        assert_one_bar_at_most(&later);
        if columns == 80 {
            terminal.resize(50, 12);
            let resized = terminal.wait_for("the bar at 50 columns", |s| {
                settled_bar(s).is_some_and(|bar| bar.chars().count() < 50)
            });
            assert_region_unwrapped(&resized);
            assert_one_bar_at_most(&resized);
        }
        terminal.type_keys("\x04");
        assert_eq!(terminal.wait_exit(PATIENCE_EXIT).0, 0);
    }
}

#[test]
fn ctrl_c_interrupts_wait_then_clears_the_line_and_twice_quits() {
    let music = songs();
    let state = tempfile::tempdir().unwrap();
    let mut terminal = client(music.path(), state.path(), 80, 24);
    started(&mut terminal);
    terminal.enter("play alpha");
    terminal.enter("wait");
    terminal.wait_for_text("waiting for the song to end");
    terminal.type_keys("\x03");
    terminal.wait_for_text("stopped waiting");
    // Back at the prompt while the song plays on: commands are answered.
    terminal.enter("search bravo");
    let screen = terminal.wait_for("the search's answer, the song playing on", |s| {
        s.visible
            .iter()
            .any(|r| r.contains("Bravo — Test Band (0:02)"))
            && settled_bar(s).is_some()
    });
    assert_eq!(bars(&screen).len(), 1, "{:#?}", screen.visible);
    // A command typed during wait is acted on at once.
    terminal.enter("wait");
    terminal.wait_for_text("waiting for the song to end");
    terminal.enter("stop");
    terminal.wait_for(": stopped", |s| {
        s.visible.iter().any(|row| row.starts_with("stopped ")) && bars(s).is_empty()
    });
    terminal.type_keys("pla");
    terminal.wait_for("the typed text", |s| s.cursor_row() == "jukebox> pla");
    terminal.type_keys("\x03");
    terminal.wait_for("an empty line", |s| s.cursor_row() == "jukebox>");
    terminal.type_keys("\x03");
    terminal.wait_for_text("Ctrl-C again or Ctrl-D quits");
    terminal.type_keys("\x03");
    assert_eq!(terminal.wait_exit(PATIENCE_EXIT).0, 0);
    assert!(terminal.is_cooked());
}

#[test]
fn a_stopped_server_is_shown_fails_list_in_one_line_and_is_found_again() {
    let music = songs();
    let state = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(music.path());
    let mut terminal = client_of(&server, "3", state.path());
    started(&mut terminal);
    terminal.enter("play alpha");
    terminal.wait_for("the bar", |s| settled_bar(s).is_some());
    signal(&server, "-STOP");
    // The read-ahead runs out: the bar says so.
    terminal.wait_for("a stalled stream", |s| {
        bars(s).iter().any(|bar| bar.contains("stalled "))
    });
    terminal.enter("list");
    let screen = terminal.wait_for_text("error: the server did not answer LIST within 3 s");
    let error_rows = screen
        .visible
        .iter()
        .filter(|r| r.starts_with("error:"))
        .count();
    assert!(error_rows <= 2, "{:#?}", screen.visible);
    terminal.wait_for_text("server not answering; reconnecting");
    signal(&server, "-CONT");
    terminal.wait_for("the server found again", |s| {
        !s.visible.iter().any(|r| r.contains("server not answering"))
    });
    terminal.enter("search bravo");
    terminal.wait_for_text("Bravo — Test Band (0:02)");
    terminal.enter("quit");
    // LIST failed (and maybe the song): exit status 1.
    assert_eq!(terminal.wait_exit(PATIENCE_EXIT).0, 1);
}

#[test]
fn quit_with_a_stopped_server_exits_within_a_second() {
    let music = songs();
    let state = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(music.path());
    // A client waiting on the server would take a minute to give up.
    let mut terminal = client_of(&server, "60", state.path());
    started(&mut terminal);
    terminal.enter("play alpha");
    terminal.wait_for("the bar", |s| settled_bar(s).is_some());
    signal(&server, "-STOP");
    terminal.enter("list");
    terminal.wait_for_text("list… (Ctrl-C interrupts)");
    terminal.enter("quit");
    let (code, took) = terminal.wait_exit(PATIENCE_EXIT);
    assert!(took < Duration::from_secs(1), "quit took {took:?}");
    assert_eq!(code, 0);
    assert!(terminal.is_cooked());
    signal(&server, "-CONT");
}

#[test]
fn tab_completes_songs_with_their_titles_and_history_survives_a_restart() {
    let music = songs();
    let state = tempfile::tempdir().unwrap();
    let mut terminal = client(music.path(), state.path(), 80, 24);
    started(&mut terminal);
    terminal.type_keys("pl\t");
    terminal.wait_for("the command completed", |s| {
        s.cursor_row() == "jukebox> play"
    });
    terminal.type_keys("brav\t");
    let screen = terminal.wait_for("the song completed", |s| {
        let row = s.cursor_row();
        row.starts_with("jukebox> play ")
            && row["jukebox> play ".len()..].trim().parse::<u64>().is_ok()
    });
    assert!(screen
        .visible
        .iter()
        .any(|r| r.ends_with("Bravo — Test Band (0:02)")));
    let line = screen
        .cursor_row()
        .trim_start_matches("jukebox> ")
        .trim()
        .to_string();
    terminal.type_keys("\r");
    terminal.wait_for_text("playing ");
    // An ID completes from the songs seen, shown with its title.
    let id = line.trim_start_matches("play ").to_string();
    terminal.type_keys(&format!("play {}\t", &id[..1]));
    terminal.wait_for("the ID completed", |s| {
        s.cursor_row().trim_end() == format!("jukebox> {line}")
    });
    terminal.type_keys("\x15");
    terminal.enter("quit");
    assert_eq!(terminal.wait_exit(PATIENCE_EXIT).0, 0);

    let mut again = client(music.path(), state.path(), 80, 24);
    started(&mut again);
    again.type_keys("\x1b[A");
    again.wait_for("the last line", |s| s.cursor_row() == "jukebox> quit");
    again.type_keys("\x1b[A");
    again.wait_for("the line before", |s| {
        s.cursor_row() == format!("jukebox> {line}")
    });
    again.type_keys("\x04");
}

#[test]
fn list_pages_at_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..9 {
        make_song(
            dir.path(),
            &format!("s{i}"),
            &format!("Song {i}"),
            1.0,
            300 + 50 * i,
            &["-b", "64"],
        );
    }
    let state = tempfile::tempdir().unwrap();
    // 10 rows: a page of 6 songs.
    let mut terminal = client(dir.path(), state.path(), 80, 10);
    started(&mut terminal);
    terminal.enter("list");
    let screen = terminal.wait_for_text("songs 1-6 of 9; type more for the next page");
    assert_eq!(
        screen
            .all
            .iter()
            .filter(|r| r.contains("— Test Band"))
            .count(),
        6
    );
    terminal.enter("more");
    let screen = terminal.wait_for_text("9 songs in all");
    assert_eq!(
        screen
            .all
            .iter()
            .filter(|r| r.contains("— Test Band"))
            .count(),
        9
    );
    terminal.enter("more");
    terminal.wait_for_text("that was the last page");
    terminal.enter("quit");
    assert_eq!(terminal.wait_exit(PATIENCE_EXIT).0, 0);
}

#[test]
fn sigterm_at_the_prompt_restores_the_terminal_and_says_so_in_the_exit_status() {
    let music = songs();
    let state = tempfile::tempdir().unwrap();
    let mut terminal = client(music.path(), state.path(), 80, 24);
    started(&mut terminal);
    terminal.enter("play alpha");
    terminal.wait_for("the bar", |s| settled_bar(s).is_some());
    terminal.type_keys("sto");
    terminal.wait_for("the typed text", |s| s.cursor_row() == "jukebox> sto");
    kill(terminal.pid(), "-TERM");
    assert_eq!(terminal.wait_exit(PATIENCE_EXIT).0, 143);
    assert!(terminal.is_cooked());
    let screen = terminal.screen();
    // The prompt and the bar are gone; what was printed stays, and the song's end is said.
    assert!(bars(&screen).is_empty(), "{:#?}", screen.visible);
    assert!(!screen
        .visible
        .iter()
        .any(|row| row.starts_with("jukebox> sto")));
    assert!(screen.visible.iter().any(|row| row.starts_with("stopped ")));
    assert!(screen
        .visible
        .iter()
        .any(|row| row.contains(": Alpha — Test Band")));
}
