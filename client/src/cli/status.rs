//! The status bar: one line at the bottom of the terminal saying what plays and what the client
//! is waiting for. It is a list of parts, each with a priority; [`StatusBar::render`] fits them
//! into the terminal's width by shrinking or dropping the least important first, so the line
//! never wraps. A new field (queue position, volume...) is one more part.

use super::display::{minutes, title_and_artist, truncate, width};
use crate::player::Progress;

/// Between two parts.
const SEPARATOR: &str = "  ";

/// What the status bar shows, rebuilt at every update.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatusBar {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
struct Part {
    text: String,
    /// Higher is kept longer.
    priority: u8,
    /// Columns it may shrink to (with an ellipsis) before it is dropped; `None`: never shrunk.
    shrink_to: Option<usize>,
}

/// Priorities, highest first.
const LINK: u8 = 9;
const ACTIVITY: u8 = 8;
const TIME: u8 = 7;
const TITLE: u8 = 5;
const QUEUE: u8 = 4;
const VOLUME: u8 = 3;
const BUFFERED: u8 = 2;
const GAUGE: u8 = 1;

/// Columns of the gauge's inside.
const GAUGE_WIDTH: usize = 20;

/// How the playing song is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamState {
    /// Nothing has arrived yet.
    Buffering,
    Playing,
    /// Everything fetched has been played: the next segment is late.
    Stalled,
    Paused,
}

impl StreamState {
    /// Stalled is judged against the read-ahead, by the fetcher: the segment it waits for is
    /// late once the audio fetched before it has played out.
    pub fn of(progress: &Progress) -> StreamState {
        if progress.paused {
            StreamState::Paused
        } else if progress.stalled {
            StreamState::Stalled
        } else if progress.elapsed == 0.0 && progress.buffered == 0.0 {
            StreamState::Buffering
        } else {
            StreamState::Playing
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            StreamState::Buffering => "buffering",
            StreamState::Playing => "playing",
            StreamState::Stalled => "stalled",
            StreamState::Paused => "paused",
        }
    }
}

impl StatusBar {
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    fn push(&mut self, text: String, priority: u8, shrink_to: Option<usize>) {
        self.parts.push(Part {
            text,
            priority,
            shrink_to,
        });
    }

    /// The server cannot be reached or stopped answering.
    pub fn link(&mut self, problem: &str) {
        self.push(problem.to_string(), LINK, Some(12));
    }

    /// What the client waits for, e.g. "list… (Ctrl-C interrupts)".
    pub fn activity(&mut self, text: &str) {
        self.push(text.to_string(), ACTIVITY, Some(8));
    }

    /// The playing song.
    pub fn song(&mut self, progress: &Progress) {
        let state = StreamState::of(progress);
        let elapsed = (progress.elapsed * 1000.0) as u64;
        let total = (progress.total * 1000.0) as u64;
        self.push(
            format!("{} {} / {}", state.word(), minutes(elapsed), minutes(total)),
            TIME,
            None,
        );
        self.push(
            format!(
                "{} {}",
                progress.song,
                title_and_artist(&progress.title, &progress.artist)
            ),
            TITLE,
            Some(8),
        );
        let done = (elapsed.min(total) * GAUGE_WIDTH as u64)
            .checked_div(total)
            .unwrap_or(0) as usize;
        self.push(
            format!("[{}{}]", "=".repeat(done), " ".repeat(GAUGE_WIDTH - done)),
            GAUGE,
            None,
        );
        self.push(
            format!("buffered {:.0} s", progress.buffered),
            BUFFERED,
            None,
        );
    }

    /// Where the song is in the play queue.
    pub fn queue(&mut self, position: usize, length: usize) {
        self.push(format!("{position}/{length}"), QUEUE, None);
    }

    pub fn volume(&mut self, volume: u8, muted: bool) {
        let text = if muted {
            "muted".to_string()
        } else {
            format!("vol {volume}")
        };
        self.push(text, VOLUME, None);
    }

    /// The bar in at most `max` columns.
    pub fn render(&self, max: usize) -> String {
        let mut parts: Vec<Part> = self.parts.clone();
        let total = |parts: &[Part]| {
            parts.iter().map(|p| width(&p.text)).sum::<usize>()
                + SEPARATOR.len() * parts.len().saturating_sub(1)
        };
        while parts.len() > 1 && total(&parts) > max {
            let excess = total(&parts) - max;
            // The least important part; the last one of that priority.
            let (index, _) = parts
                .iter()
                .enumerate()
                .min_by_key(|(i, p)| (p.priority, usize::MAX - i))
                .expect("more than one part");
            let part = &mut parts[index];
            let current = width(&part.text);
            match part.shrink_to {
                Some(least) if current > least => {
                    let target = current.saturating_sub(excess).max(least);
                    part.text = truncate(&part.text, target).into_owned();
                    // Shrunk as far as it goes: next time, drop it.
                    if width(&part.text) <= least {
                        part.shrink_to = Some(usize::MAX);
                    }
                }
                _ => {
                    parts.remove(index);
                }
            }
        }
        let line = parts
            .iter()
            .map(|p| p.text.as_str())
            .collect::<Vec<_>>()
            .join(SEPARATOR);
        truncate(&line, max).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(title: &str, elapsed: f64, buffered: f64) -> Progress {
        Progress {
            stalled: false,
            paused: false,
            song: 3,
            title: title.into(),
            artist: "Jukebox Ensemble".into(),
            elapsed,
            total: 44.0,
            buffered,
        }
    }

    #[test]
    fn everything_shows_when_there_is_room() {
        let mut bar = StatusBar::default();
        bar.song(&progress("Small Hours", 11.0, 6.2));
        assert_eq!(
            bar.render(200),
            "playing 0:11 / 0:44  3 Small Hours — Jukebox Ensemble  [=====               ]  buffered 6 s"
        );
    }

    #[test]
    fn the_least_important_parts_go_first_and_the_title_shrinks() {
        let long = "A".repeat(200);
        for max in [1, 5, 20, 39, 40, 79, 80, 120, 199, 200] {
            let mut bar = StatusBar::default();
            bar.link("server not answering; reconnecting");
            bar.song(&progress(&long, 11.0, 6.2));
            let line = bar.render(max);
            assert!(width(&line) <= max, "{max}: {line:?}");
            if max >= 40 {
                assert!(line.starts_with("server not answering"), "{line:?}");
            }
        }
        let mut bar = StatusBar::default();
        bar.song(&progress(&long, 11.0, 6.2));
        let line = bar.render(40);
        assert_eq!(line, format!("playing 0:11 / 0:44  3 {}…", "A".repeat(16)));
    }

    #[test]
    fn queue_position_volume_and_pause_show() {
        let mut bar = StatusBar::default();
        bar.song(&Progress {
            paused: true,
            ..progress("Small Hours", 11.0, 6.2)
        });
        bar.queue(2, 5);
        bar.volume(70, false);
        assert_eq!(
            bar.render(200),
            "paused 0:11 / 0:44  3 Small Hours — Jukebox Ensemble  [=====               ]  buffered 6 s  2/5  vol 70"
        );
        // Narrower: the gauge goes first, then buffered, then the volume.
        let line = bar.render(60);
        assert!(line.contains("2/5") && !line.contains('['), "{line}");
    }

    #[test]
    fn wide_titles_fit_by_columns() {
        let mut bar = StatusBar::default();
        bar.song(&progress(&"日本語".repeat(50), 1.0, 4.0));
        for max in [30, 40, 80] {
            assert!(width(&bar.render(max)) <= max);
        }
    }

    #[test]
    fn says_when_the_stream_is_stalled() {
        assert_eq!(
            StreamState::of(&progress("x", 0.0, 0.0)),
            StreamState::Buffering
        );
        assert_eq!(
            StreamState::of(&progress("x", 10.0, 4.0)),
            StreamState::Playing
        );
        let late = Progress {
            stalled: true,
            ..progress("x", 10.0, 0.1)
        };
        assert_eq!(StreamState::of(&late), StreamState::Stalled);
        let mut bar = StatusBar::default();
        bar.song(&late);
        assert!(bar.render(80).starts_with("stalled 0:10 / 0:44"));
    }
}
