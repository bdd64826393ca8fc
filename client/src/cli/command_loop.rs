//! The command loop: a small state machine that owns the session. One task selects over what
//! the person (or the script) does, the answer of the command in flight, the playing song's
//! events, a tick for the status bar and the stop signals, and acts on each in turn.
//!
//! A command that asks the server is started as a job: a future that owns what it needs (a
//! `Client` handle, a `Printer`) and borrows nothing from the loop, so the loop keeps handling
//! keys and song events while it runs, Ctrl-C drops it, and `quit` never waits for it. What the
//! job brings back (a manifest to play, the place reached in a listing) is applied by the loop.
//!
//! Piped, commands run one after the other as the lines come, and `wait` holds the next line
//! until the song ends. At a terminal, lines entered while a job runs wait their turn (except
//! `quit`, at once), and a line entered during `wait` ends the wait and runs at once.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jukebox_protocol::{ListRequest, Manifest, Page, SongSummary};

use super::command::{help, Command, SeekTo, Target};
use super::complete::{self, Completion, KnownSongs};
use super::display::{count, id_width, minutes, playing_line, song_line};
use super::input::{Ui, UiEvent};
use super::playlist::{Advance, Playlist};
use super::printer::Printer;
use super::signals::{Shutdown, Signal};
use super::status::{StatusBar, StreamState};
use crate::client::Client;
use crate::error::ClientError;
use crate::player::{Event, Normalize, Player};

/// How often the status bar moves.
const STATUS_TICK: Duration = Duration::from_millis(250);

/// Rows kept free below a page of songs at a terminal: the footer, the prompt, the status bar.
const PAGE_MARGIN: u16 = 4;
/// The fewest songs a page has at a terminal, however short it is.
const MIN_PAGE: u16 = 5;

/// How the session ended, which the exit status says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// A command, or a song, failed.
    pub failed: bool,
    pub signal: Option<Signal>,
}

/// Why a job failed: one line, maybe followed by details (the songs a search matched).
#[derive(Debug)]
struct Failure {
    message: String,
    details: Option<String>,
}

impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Self {
        Failure {
            message: error.to_string(),
            details: None,
        }
    }
}

impl Failure {
    fn new(message: String) -> Failure {
        Failure {
            message,
            details: None,
        }
    }
}

/// What a job brings back for the loop to apply.
enum Effect {
    /// Where a listing stopped, for `more`.
    Listed(Listing),
    Play(Manifest),
    /// Songs to append to the queue.
    Add(Vec<SongSummary>),
    /// Play entry `index` of the queue (which was `song` when the job started) now.
    Jump {
        index: usize,
        manifest: Manifest,
    },
    /// Prepare entry `index` to follow the playing song (or play it, if none plays).
    Follow {
        index: usize,
        manifest: Manifest,
    },
    Completion(Completion),
}

/// The most songs one `add WORDS` appends.
const MAX_ADD: usize = 10_000;

type Job = Pin<Box<dyn Future<Output = Result<Effect, Failure>> + Send>>;

struct Pending {
    /// For the status bar: "list", "play".
    what: &'static str,
    job: Job,
}

/// A completion that waits for a search: applied only if the line has not changed meanwhile.
struct PendingCompletion {
    line: String,
    job: Job,
}

/// The last `list` or `search`, for `more`.
#[derive(Debug, Clone)]
struct Listing {
    query: String,
    /// Where the next page starts; `None` after the last page.
    next: Option<String>,
    /// Songs shown so far.
    shown: u64,
    /// The catalog its pages came from: its cursor means nothing in another.
    catalog: Arc<str>,
}

/// What to do after starting a line.
enum Step {
    Done,
    Job(Pending),
    Wait,
    Quit,
}

pub struct CommandLoop {
    client: Client,
    player: Player,
    printer: Printer,
    known: Arc<Mutex<KnownSongs>>,
    listing: Option<Listing>,
    failed: bool,
    playlist: Playlist,
    rng: fastrand::Rng,
    /// Fetching the manifest of the queue entry that follows the playing song, in the
    /// background: started when the playing song's last sample is decoded, so that the next one
    /// follows it without a gap.
    follow: Option<Job>,
    /// The queue entry the player has prepared to follow the playing song.
    prepared: Option<usize>,
    /// The playing song's last sample is decoded: what follows may be prepared.
    ending: bool,
    /// Songs that failed in a row: the queue is given up once every entry has.
    failures: usize,
}

impl CommandLoop {
    pub fn new(client: Client, player: Player, printer: Printer) -> CommandLoop {
        CommandLoop {
            client,
            player,
            printer,
            known: Arc::default(),
            listing: None,
            failed: false,
            playlist: Playlist::default(),
            rng: fastrand::Rng::new(),
            follow: None,
            prepared: None,
            ending: false,
            failures: 0,
        }
    }

    /// Runs commands until `quit`, the end of input or a stop signal, then stops playback and
    /// closes the output (a WAV file gets its final header).
    pub async fn run(mut self, mut ui: Ui, mut shutdown: Shutdown) -> Exit {
        let terminal = ui.is_terminal();
        let mut pending: Option<Pending> = None;
        let mut completion: Option<PendingCompletion> = None;
        let mut queued: VecDeque<String> = VecDeque::new();
        let mut waiting = false;
        let mut tick = tokio::time::interval(STATUS_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut signal = None;
        'session: loop {
            while pending.is_none() && !waiting {
                let Some(line) = queued.pop_front() else {
                    break;
                };
                match self.start(&line, terminal) {
                    Step::Done => {}
                    Step::Job(job) => pending = Some(job),
                    Step::Wait => waiting = true,
                    Step::Quit => break 'session,
                }
            }
            if terminal {
                self.show_status(pending.as_ref().map(|p| p.what), waiting);
            }
            let busy = pending.is_some() || waiting;
            tokio::select! {
                event = ui.next(busy || completion.is_some()), if terminal || !busy => match event {
                    UiEvent::Line(line) => {
                        if Command::parse(&line) == Ok(Command::Quit) {
                            break;
                        }
                        // At a terminal, a command typed during `wait` is acted on at once.
                        waiting = false;
                        queued.push_back(line);
                    }
                    UiEvent::Interrupt => {
                        completion = None;
                        if pending.take().is_some() {
                            self.printer.note("interrupted");
                        } else if waiting {
                            waiting = false;
                            self.printer.note("stopped waiting");
                        }
                    }
                    UiEvent::Complete(line) => completion = self.complete(&mut ui, line),
                    UiEvent::End => break,
                },
                result = run_job(&mut pending) => {
                    pending = None;
                    self.apply(result, &mut ui);
                }
                result = run_follow(&mut self.follow) => {
                    self.follow = None;
                    self.apply(result, &mut ui);
                    if !self.is_playing() {
                        waiting = false;
                    }
                }
                result = run_completion(&mut completion) => {
                    let line = completion.take().map(|c| c.line).unwrap_or_default();
                    match result {
                        // The person typed on meanwhile: the answer is about another line.
                        _ if ui.line() != line => {}
                        Ok(Effect::Completion(done)) => self.show_completion(&mut ui, done),
                        Ok(_) => {}
                        Err(failure) => self.printer.note(&failure.message),
                    }
                }
                event = self.player.next_event() => {
                    self.report(event);
                    if !self.is_playing() {
                        waiting = false;
                    }
                }
                _ = tick.tick(), if terminal => {}
                received = shutdown.recv() => {
                    signal = Some(received);
                    break;
                }
            }
        }
        // The terminal is handed back first: what follows is printed plainly below the last line.
        drop(ui);
        if let Some(song) = self.player.stop() {
            self.printer.line(&format!("stopped {song}"));
        }
        tracing::info!(
            "the output was starved of {} frames",
            self.player.starved_frames()
        );
        if let Some(stale) = self.client.stale_frames() {
            tracing::info!("discarded {stale} stale frames on the last connection");
        }
        if let Err(e) = self.player.close() {
            self.printer.error(&e);
            self.failed = true;
        }
        Exit {
            failed: self.failed,
            signal,
        }
    }

    fn fail(&mut self, failure: Failure) {
        self.printer.error(&failure.message);
        if let Some(details) = &failure.details {
            self.printer.note(details);
        }
        self.failed = true;
    }

    /// Acts on one line: at once, or by starting a job.
    fn start(&mut self, line: &str, terminal: bool) -> Step {
        let command = match Command::parse(line) {
            Ok(command) => command,
            Err(e) => {
                self.fail(Failure::new(e));
                return Step::Done;
            }
        };
        match command {
            Command::Nothing => Step::Done,
            Command::Quit => Step::Quit,
            Command::Help => {
                self.printer.line(&help());
                Step::Done
            }
            Command::Stop => {
                self.follow = None;
                self.prepared = None;
                self.ending = false;
                match self.player.stop() {
                    Some(song) => self.printer.line(&format!("stopped {song}")),
                    None => self.printer.note("nothing is playing"),
                }
                Step::Done
            }
            Command::Volume(to) => {
                if let Some(to) = to {
                    self.player.set_volume(to.from(self.player.volume()));
                }
                self.printer.line(&self.volume_text());
                Step::Done
            }
            Command::Mute => {
                self.player.set_muted(!self.player.is_muted());
                self.printer.line(&self.volume_text());
                Step::Done
            }
            Command::Normalize(mode) => {
                if let Some(mode) = mode {
                    self.player.set_normalize(mode);
                }
                self.printer.line(&normalize_text(
                    self.player.normalize(),
                    self.player.current().is_some(),
                    self.player.normalize_gain_db(),
                ));
                Step::Done
            }
            Command::Status { json } => {
                let status = self.status();
                self.printer
                    .line(&if json { status.json() } else { status.text() });
                Step::Done
            }
            Command::Seek(to) => {
                self.seek(to);
                Step::Done
            }
            Command::Pause => {
                self.pause();
                Step::Done
            }
            Command::Resume => {
                self.resume();
                Step::Done
            }
            Command::Toggle => {
                if self.player.is_paused() {
                    self.resume();
                } else {
                    self.pause();
                }
                Step::Done
            }
            // Paused, a piped `wait` would never end.
            Command::Wait if self.is_playing() && !self.player.is_paused() => Step::Wait,
            Command::Wait => Step::Done,
            Command::List { all } => self.list(String::new(), None, None, 0, all, terminal),
            Command::Search { words, all } => self.list(words, None, None, 0, all, terminal),
            Command::More => match self.listing.take() {
                Some(listing) if listing.next.is_some() => {
                    let Listing {
                        query,
                        next,
                        shown,
                        catalog,
                    } = listing;
                    self.list(query, next, Some(catalog), shown, false, terminal)
                }
                Some(listing) => {
                    self.printer.note("that was the last page");
                    self.listing = Some(listing);
                    Step::Done
                }
                None => {
                    self.fail(Failure::new(
                        "nothing to show more of: list or search first".into(),
                    ));
                    Step::Done
                }
            },
            Command::Play(target) => Step::Job(Pending {
                what: "play",
                job: Box::pin(play_job(self.client.clone(), self.known.clone(), target)),
            }),
            Command::Add(target) => Step::Job(Pending {
                what: "add",
                job: Box::pin(add_job(self.client.clone(), self.known.clone(), target)),
            }),
            Command::PlayQueue => {
                if self.player.is_paused() {
                    self.resume();
                    return Step::Done;
                }
                if self.player.current().is_some() {
                    self.printer.note("already playing");
                    return Step::Done;
                }
                let index = self
                    .playlist
                    .position()
                    .or_else(|| self.playlist.after(Advance::Ended));
                match index {
                    Some(index) => self.jump(index, "play"),
                    None => {
                        self.fail(Failure::new(
                            "the queue is empty: play ID, or add songs first".into(),
                        ));
                        Step::Done
                    }
                }
            }
            Command::Queue => {
                self.show_queue();
                Step::Done
            }
            Command::Next => match self.playlist.after(Advance::Skip) {
                Some(index) => self.jump(index, "next"),
                None => {
                    self.printer.note("that was the last song in the queue");
                    Step::Done
                }
            },
            Command::Prev => match self.playlist.before() {
                Some(index) => self.jump(index, "prev"),
                None => {
                    self.printer.note("that is the first song in the queue");
                    Step::Done
                }
            },
            Command::Clear => {
                let n = self.playlist.len();
                self.playlist.clear();
                self.printer
                    .line(&format!("cleared the queue ({})", count(n as u64, "song")));
                self.queue_changed();
                Step::Done
            }
            Command::Remove(n) => {
                let playing = self.player.current().is_some();
                let was_current = self.playlist.position() == Some(n - 1);
                match self.playlist.remove(n - 1) {
                    None => {
                        self.fail(Failure::new(format!(
                            "no song {n} in the queue, which has {}",
                            count(self.playlist.len() as u64, "song")
                        )));
                        Step::Done
                    }
                    Some(song) => {
                        self.printer
                            .line(&format!("removed {n}: {}", song_line(&song, 0)));
                        if was_current && playing {
                            // The song playing was removed: on to the one that took its place.
                            self.follow = None;
                            self.prepared = None;
                            match self.playlist.after(Advance::Skip) {
                                Some(index) => return self.jump(index, "next"),
                                None => {
                                    if let Some(song) = self.player.stop() {
                                        self.printer.line(&format!("stopped {song}"));
                                    }
                                }
                            }
                        }
                        self.queue_changed();
                        Step::Done
                    }
                }
            }
            Command::Shuffle => {
                self.playlist.shuffle(&mut self.rng);
                self.printer.line(&format!(
                    "shuffled the queue ({})",
                    count(self.playlist.len() as u64, "song")
                ));
                self.queue_changed();
                Step::Done
            }
            Command::Repeat(mode) => {
                if let Some(mode) = mode {
                    self.playlist.repeat = mode;
                    self.queue_changed();
                }
                self.printer
                    .line(&format!("repeat {}", self.playlist.repeat));
                Step::Done
            }
        }
    }

    fn volume_text(&self) -> String {
        if self.player.is_muted() {
            format!("muted (volume {})", self.player.volume())
        } else {
            format!("volume {}", self.player.volume())
        }
    }

    fn status(&self) -> Status {
        let progress = self.player.progress();
        let state = match &progress {
            None => "stopped",
            Some(p) => StreamState::of(p).word(),
        };
        Status {
            state,
            song: self.player.current().map(summary),
            bitrate: self.player.current().map(|m| m.bitrate),
            position: progress.as_ref().map(|p| p.elapsed),
            duration: progress.as_ref().map(|p| p.total),
            buffered: progress.as_ref().map(|p| p.buffered),
            volume: self.player.volume(),
            muted: self.player.is_muted(),
            normalize: self.player.normalize(),
            gain_db: self.player.normalize_gain_db(),
            queue_position: self.playlist.position().map(|p| p + 1),
            queue_length: self.playlist.len(),
            repeat: self.playlist.repeat.to_string(),
        }
    }

    fn seek(&mut self, to: SeekTo) {
        let Some((now, length, rate)) = self.player.position() else {
            self.printer.note("nothing is playing");
            return;
        };
        let rate_f = f64::from(rate);
        let target = match to {
            SeekTo::At(seconds) => {
                let target = (seconds * rate_f).round();
                if target >= length as f64 && length > 0 {
                    self.fail(Failure::new(format!(
                        "the song is only {} long",
                        minutes(length * 1000 / u64::from(rate.max(1)))
                    )));
                    return;
                }
                target as u64
            }
            SeekTo::By(seconds) => {
                (now as f64 + (seconds * rate_f).round()).clamp(0.0, length as f64) as u64
            }
            SeekTo::Percent(p) => (length as f64 * p / 100.0).round() as u64,
        };
        let song = self.player.current().map_or(0, |m| m.id);
        // What followed was prepared for the old position's end.
        self.follow = None;
        self.prepared = None;
        self.ending = false;
        match self.player.seek(self.client.clone(), target) {
            Ok(()) => self.printer.line(&format!(
                "moved {song} to {}",
                minutes(target * 1000 / u64::from(rate.max(1)))
            )),
            Err(e) => self.fail(e.into()),
        }
    }

    fn pause(&mut self) {
        if self.player.is_paused() {
            self.printer.note("already paused");
            return;
        }
        match self.player.pause() {
            Some(song) => self
                .printer
                .line(&format!("paused {song} at {}", self.position())),
            None => self.printer.note("nothing is playing"),
        }
    }

    fn resume(&mut self) {
        if !self.player.is_paused() {
            self.printer.note("not paused");
            return;
        }
        if let Some(song) = self.player.resume() {
            self.printer
                .line(&format!("resumed {song} at {}", self.position()));
        }
    }

    /// Where the playing song is, as m:ss.
    fn position(&self) -> String {
        let elapsed = self.player.progress().map_or(0.0, |p| p.elapsed);
        minutes((elapsed * 1000.0) as u64)
    }

    /// True while a song plays or the queue is about to start the next one.
    fn is_playing(&self) -> bool {
        self.player.current().is_some() || self.follow.is_some()
    }

    /// Starts fetching queue entry `index`, to play it at once.
    fn jump(&mut self, index: usize, what: &'static str) -> Step {
        let Some(song) = self.playlist.get(index) else {
            return Step::Done;
        };
        let client = self.client.clone();
        let id = song.id;
        Step::Job(Pending {
            what,
            job: Box::pin(async move {
                let manifest = client.manifest(id).await?;
                Ok(Effect::Jump { index, manifest })
            }),
        })
    }

    /// The playing song's last sample is decoded: fetches the entry that follows it.
    fn follow_on(&mut self) {
        if self.follow.is_some() || self.prepared.is_some() {
            return;
        }
        let Some(index) = self.playlist.after(Advance::Ended) else {
            return;
        };
        let Some(song) = self.playlist.get(index) else {
            return;
        };
        let client = self.client.clone();
        let id = song.id;
        self.follow = Some(Box::pin(async move {
            let manifest = client.manifest(id).await?;
            Ok(Effect::Follow { index, manifest })
        }));
    }

    /// After the queue or its repeat mode changed: what the player prepared (or the background
    /// fetch is getting) may no longer be what follows.
    fn queue_changed(&mut self) {
        let next = self.playlist.after(Advance::Ended);
        let next_id = next.and_then(|i| self.playlist.get(i)).map(|s| s.id);
        if self.prepared.is_some()
            && (self.prepared != next || self.player.next().map(|m| m.id) != next_id)
        {
            self.player.unprepare();
            self.prepared = None;
        }
        // The fetch in flight may be for an entry that moved: start it again.
        let restart = self.follow.take().is_some() && self.player.current().is_none();
        if (self.ending || restart) && self.prepared.is_none() {
            self.follow_on();
        }
    }

    fn show_queue(&self) {
        if self.playlist.is_empty() {
            self.printer.note("the queue is empty");
            return;
        }
        let entries = self.playlist.entries();
        let width = id_width(entries);
        let digits = entries.len().to_string().len();
        let lines: Vec<String> = entries
            .iter()
            .enumerate()
            .map(|(i, song)| {
                let mark = if self.playlist.position() == Some(i) {
                    '>'
                } else {
                    ' '
                };
                format!("{mark} {:>digits$}  {}", i + 1, song_line(song, width))
            })
            .collect();
        self.printer.line(&lines.join("\n"));
        self.printer.note(&format!(
            "{} in the queue; repeat {}",
            count(entries.len() as u64, "song"),
            self.playlist.repeat
        ));
    }

    /// Starts listing `query` (every song if empty) from `cursor`, of a listing begun in
    /// `catalog`.
    fn list(
        &mut self,
        query: String,
        cursor: Option<String>,
        catalog: Option<Arc<str>>,
        shown: u64,
        all: bool,
        terminal: bool,
    ) -> Step {
        // At a terminal a page fills the screen; piped, the server's page size is as good.
        let limit = match crossterm::terminal::size() {
            Ok((_, rows)) if terminal && !all => {
                Some(u32::from(rows.saturating_sub(PAGE_MARGIN).max(MIN_PAGE)))
            }
            _ => None,
        };
        let what = if query.is_empty() { "list" } else { "search" };
        let request = ListRequest {
            query,
            cursor,
            limit,
        };
        Step::Job(Pending {
            what,
            job: Box::pin(list_job(
                self.client.clone(),
                self.printer.clone(),
                self.known.clone(),
                request,
                catalog,
                shown,
                all,
            )),
        })
    }

    fn apply(&mut self, result: Result<Effect, Failure>, ui: &mut Ui) {
        match result {
            Ok(Effect::Listed(listing)) => self.listing = Some(listing),
            Ok(Effect::Play(manifest)) => {
                let index = self.playlist.play_now(summary(&manifest));
                self.play(index, manifest);
            }
            Ok(Effect::Add(songs)) => {
                let added = songs.len() as u64;
                self.playlist.add(songs);
                self.printer.line(&format!(
                    "added {}; {} in the queue",
                    count(added, "song"),
                    self.playlist.len()
                ));
                self.queue_changed();
            }
            Ok(Effect::Jump { index, manifest }) => {
                if self.playlist.get(index).map(|s| s.id) == Some(manifest.id) {
                    self.play(index, manifest);
                }
            }
            Ok(Effect::Follow { index, manifest }) => {
                // Still what follows? The queue may have changed while it was fetched.
                let next = self.playlist.after(Advance::Ended);
                if next != Some(index)
                    || self.playlist.get(index).map(|s| s.id) != Some(manifest.id)
                {
                    return;
                }
                if self.player.current().is_none() {
                    self.play(index, manifest);
                } else {
                    match self.player.prepare(self.client.clone(), manifest) {
                        Ok(()) => self.prepared = Some(index),
                        Err(e) => self.fail(e.into()),
                    }
                }
            }
            Ok(Effect::Completion(done)) => self.show_completion(ui, done),
            Err(failure) => self.fail(failure),
        }
    }

    /// Switches to queue entry `index`, whose manifest just came; on error the current song
    /// goes on.
    fn play(&mut self, index: usize, manifest: Manifest) {
        let line = playing_line(&manifest);
        lock(&self.known).remember(&summary(&manifest));
        self.follow = None;
        match self.player.play(self.client.clone(), manifest) {
            Ok(stopped) => {
                self.playlist.set_position(index);
                self.prepared = None;
                self.ending = false;
                if let Some(old) = stopped {
                    self.printer.line(&format!("stopped {old}"));
                }
                self.printer.line(&line);
            }
            Err(e) => self.fail(e.into()),
        }
    }

    fn report(&mut self, event: Event) {
        let ended = match event {
            Event::Ending(_) => {
                self.ending = true;
                self.follow_on();
                return;
            }
            Event::NextFailed(song, error) => {
                self.prepared = None;
                self.fail(Failure::new(format!("song {song}: {error}")));
                self.failures += 1;
                return;
            }
            Event::Finished(song) => {
                self.printer.line(&format!("finished {song}"));
                self.failures = 0;
                Advance::Ended
            }
            Event::Failed(song, error) => {
                self.fail(Failure::new(format!("song {song}: {error}")));
                self.printer.line(&format!("stopped {song}"));
                self.failures += 1;
                Advance::Skip
            }
        };
        self.ending = false;
        if let Some(manifest) = self.player.current() {
            // The song prepared to follow plays now, without a gap.
            let line = playing_line(manifest);
            if let Some(index) = self.prepared.take() {
                self.playlist.set_position(index);
            }
            self.printer.line(&line);
            return;
        }
        self.prepared = None;
        if self.follow.is_some() {
            // The next song's manifest is on its way; it plays as soon as it comes.
            return;
        }
        if self.failures >= self.playlist.len().max(1) {
            return;
        }
        if let Some(index) = self.playlist.after(ended) {
            // Nothing was prepared in time (or the song failed): fetch the next one now.
            if let Some(song) = self.playlist.get(index) {
                let client = self.client.clone();
                let id = song.id;
                self.follow = Some(Box::pin(async move {
                    let manifest = client.manifest(id).await?;
                    Ok(Effect::Follow { index, manifest })
                }));
            }
        }
    }

    /// Tab: completes from what is known, or starts a search to complete from.
    fn complete(&mut self, ui: &mut Ui, line: String) -> Option<PendingCompletion> {
        let completion = complete::complete(&line, &lock(&self.known));
        match completion {
            Completion::Search { line: head, query } => {
                let client = self.client.clone();
                let known = self.known.clone();
                Some(PendingCompletion {
                    line,
                    job: Box::pin(async move {
                        let page = search(&client, &known, &query).await?;
                        Ok(Effect::Completion(complete::after_search(
                            &head, &query, &page,
                        )))
                    }),
                })
            }
            other => {
                self.show_completion(ui, other);
                None
            }
        }
    }

    fn show_completion(&mut self, ui: &mut Ui, completion: Completion) {
        match completion {
            Completion::Nothing | Completion::Search { .. } => {}
            Completion::Line(line) => ui.set_line(line),
            Completion::Choices { line, shown } => {
                self.printer.line(&shown);
                if !line.is_empty() && line != ui.line() {
                    ui.set_line(line);
                }
            }
        }
    }

    fn show_status(&self, pending: Option<&str>, waiting: bool) {
        let mut bar = StatusBar::default();
        if let Some(problem) = self.client.health() {
            bar.link(&problem);
        }
        if let Some(what) = pending {
            bar.activity(&format!("{what}… (Ctrl-C interrupts)"));
        } else if waiting {
            bar.activity("waiting for the song to end (Ctrl-C stops)");
        }
        if let Some(progress) = self.player.progress() {
            bar.song(&progress);
            if let Some(position) = self.playlist.position() {
                bar.queue(position + 1, self.playlist.len());
            }
            bar.volume(self.player.volume(), self.player.is_muted());
        }
        self.printer.with_screen(|screen| screen.set_status(bar));
    }
}

/// What `status` says.
struct Status {
    state: &'static str,
    song: Option<SongSummary>,
    bitrate: Option<u32>,
    position: Option<f64>,
    duration: Option<f64>,
    buffered: Option<f64>,
    volume: u8,
    muted: bool,
    normalize: Normalize,
    /// The song's normalisation gain, dB.
    gain_db: Option<f64>,
    queue_position: Option<usize>,
    queue_length: usize,
    repeat: String,
}

impl Status {
    fn text(&self) -> String {
        let mut first = self.state.to_string();
        if let Some(song) = &self.song {
            first.push_str(&format!(" {}", song_line(song, 0)));
            if !song.album.is_empty() {
                first.push_str(&format!(" from {}", song.album));
            }
        }
        let mut parts = Vec::new();
        if let (Some(position), Some(duration)) = (self.position, self.duration) {
            parts.push(format!(
                "{} / {}",
                minutes((position * 1000.0) as u64),
                minutes((duration * 1000.0) as u64)
            ));
        }
        parts.push(if self.muted {
            format!("muted (volume {})", self.volume)
        } else {
            format!("volume {}", self.volume)
        });
        parts.push(normalize_text(
            self.normalize,
            self.song.is_some(),
            self.gain_db,
        ));
        parts.push(match self.queue_position {
            Some(p) => format!("queue {p} of {}", self.queue_length),
            None => format!("queue of {}", count(self.queue_length as u64, "song")),
        });
        parts.push(format!("repeat {}", self.repeat));
        if let Some(buffered) = self.buffered {
            parts.push(format!("buffered {buffered:.1} s"));
        }
        if let Some(bitrate) = self.bitrate {
            parts.push(format!("{} kbit/s", bitrate / 1000));
        }
        format!("{first}\n  {}", parts.join(", "))
    }

    fn json(&self) -> String {
        let round = |x: Option<f64>| x.map(|x| (x * 1000.0).round() / 1000.0);
        serde_json::json!({
            "state": self.state,
            "song": self.song.as_ref().map(|s| serde_json::json!({
                "id": s.id,
                "title": s.title,
                "artist": s.artist,
                "album": s.album,
            })),
            "position": round(self.position),
            "duration": round(self.duration),
            "buffered": round(self.buffered),
            "bitrate": self.bitrate,
            "volume": self.volume,
            "muted": self.muted,
            "normalize": self.normalize.to_string(),
            "gain_db": self.gain_db.map(|g| (g * 100.0).round() / 100.0),
            "queue": {"position": self.queue_position, "length": self.queue_length},
            "repeat": self.repeat,
        })
        .to_string()
    }
}

/// What `normalize` and `status` say of the normalisation: the mode, and with a song playing
/// in track mode the gain it gets ("no loudness" for a song the server has not measured).
fn normalize_text(mode: Normalize, playing: bool, gain_db: Option<f64>) -> String {
    match (mode, playing, gain_db) {
        (Normalize::Track, true, Some(gain)) => format!("normalize track ({gain:+.1} dB)"),
        (Normalize::Track, true, None) => "normalize track (no loudness)".into(),
        (mode, _, _) => format!("normalize {mode}"),
    }
}

/// The pending job's result; never resolves while there is none.
async fn run_job(pending: &mut Option<Pending>) -> Result<Effect, Failure> {
    match pending {
        Some(pending) => pending.job.as_mut().await,
        None => std::future::pending().await,
    }
}

async fn run_follow(follow: &mut Option<Job>) -> Result<Effect, Failure> {
    match follow {
        Some(job) => job.as_mut().await,
        None => std::future::pending().await,
    }
}

async fn run_completion(completion: &mut Option<PendingCompletion>) -> Result<Effect, Failure> {
    match completion {
        Some(completion) => completion.job.as_mut().await,
        None => std::future::pending().await,
    }
}

fn lock(known: &Mutex<KnownSongs>) -> std::sync::MutexGuard<'_, KnownSongs> {
    known.lock().unwrap_or_else(|e| e.into_inner())
}

/// The first page of songs matching `query`, as many as completion shows, remembered.
async fn search(
    client: &Client,
    known: &Mutex<KnownSongs>,
    query: &str,
) -> Result<Page, ClientError> {
    let request = ListRequest {
        query: query.to_string(),
        cursor: None,
        limit: Some(complete::MAX_SHOWN as u32),
    };
    let page = client.list(&request).await?;
    remember(known, &page.songs);
    Ok(page)
}

fn remember(known: &Mutex<KnownSongs>, songs: &[SongSummary]) {
    let mut known = lock(known);
    for song in songs {
        known.remember(song);
    }
}

fn summary(manifest: &Manifest) -> SongSummary {
    SongSummary {
        id: manifest.id,
        title: manifest.title.clone(),
        artist: manifest.artist.clone(),
        album: manifest.album.clone(),
        duration_ms: manifest.duration_ms,
        segments: manifest.segments.len() as u32,
    }
}

/// Prints one page of `request`, or with `all` every page as it comes.
async fn list_job(
    client: Client,
    printer: Printer,
    known: Arc<Mutex<KnownSongs>>,
    mut request: ListRequest,
    mut catalog: Option<Arc<str>>,
    mut shown: u64,
    all: bool,
) -> Result<Effect, Failure> {
    loop {
        let (page, from) = client.list_in(&request, catalog.as_deref()).await?;
        catalog = Some(from.clone());
        remember(&known, &page.songs);
        if page.total == 0 {
            printer.note(&if request.query.is_empty() {
                "the server has no songs".to_string()
            } else {
                format!("no song matches {:?}", request.query)
            });
        } else if !page.songs.is_empty() {
            // One print for the page: each print redraws the prompt.
            let width = id_width(&page.songs);
            let lines: Vec<String> = page.songs.iter().map(|s| song_line(s, width)).collect();
            printer.line(&lines.join("\n"));
        }
        let first = shown + 1;
        shown += page.songs.len() as u64;
        match page.next {
            Some(next) if all => request.cursor = Some(next),
            Some(next) => {
                printer.note(&format!(
                    "songs {first}-{shown} of {}; type more for the next page",
                    page.total
                ));
                return Ok(Effect::Listed(Listing {
                    query: request.query,
                    next: Some(next),
                    shown,
                    catalog: from,
                }));
            }
            None => {
                if first > 1 && page.total > 0 {
                    printer.note(&format!("{} in all", count(page.total, "song")));
                }
                return Ok(Effect::Listed(Listing {
                    query: request.query,
                    next: None,
                    shown,
                    catalog: from,
                }));
            }
        }
    }
}

/// The songs `add` appends: the one with that ID, or every song the words match.
async fn add_job(
    client: Client,
    known: Arc<Mutex<KnownSongs>>,
    target: Target,
) -> Result<Effect, Failure> {
    let query = match target {
        Target::Id(id) => {
            let manifest = client.manifest(id).await?;
            let song = summary(&manifest);
            lock(&known).remember(&song);
            return Ok(Effect::Add(vec![song]));
        }
        Target::Search(query) => query,
    };
    let mut request = ListRequest {
        query,
        cursor: None,
        limit: None,
    };
    let mut songs = Vec::new();
    loop {
        let page = client.list(&request).await?;
        remember(&known, &page.songs);
        songs.extend(page.songs);
        match page.next {
            Some(next) if songs.len() < MAX_ADD => request.cursor = Some(next),
            _ => break,
        }
    }
    if songs.is_empty() {
        return Err(Failure::new(format!("no song matches {:?}", request.query)));
    }
    songs.truncate(MAX_ADD);
    Ok(Effect::Add(songs))
}

/// Finds the song (an ID, or a search that must match exactly one) and fetches its manifest.
async fn play_job(
    client: Client,
    known: Arc<Mutex<KnownSongs>>,
    target: Target,
) -> Result<Effect, Failure> {
    let id = match target {
        Target::Id(id) => id,
        Target::Search(query) => {
            let page = search(&client, &known, &query).await?;
            match (page.total, page.songs.as_slice()) {
                (1, [song]) => song.id,
                (0, _) | (_, []) => return Err(Failure::new(format!("no song matches {query:?}"))),
                (total, songs) => {
                    return Err(Failure {
                        message: format!(
                            "{} match {query:?}; play one by its ID:",
                            count(total, "song")
                        ),
                        details: Some(complete::shown(&songs.iter().collect::<Vec<_>>(), total)),
                    })
                }
            }
        }
    };
    Ok(Effect::Play(client.manifest(id).await?))
}
