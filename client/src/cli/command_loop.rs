//! The command loop: runs each command, prints song events as they happen, and at a terminal
//! keeps the progress bar up to date.

use std::sync::Arc;
use std::time::Duration;

use super::command::{Command, HELP};
use super::display::{playing_line, song_line};
use super::input::Input;
use super::printer::{Printer, TerminalPrinter};
use super::progress::SongBar;
use super::signals::Shutdown;
use crate::client::Client;
use crate::player::{Event, Player};

/// How often the progress bar moves.
const PROGRESS_TICK: Duration = Duration::from_millis(250);

pub struct CommandLoop {
    client: Client,
    player: Player,
    printer: Printer,
    /// Set at a terminal: where the progress bar draws.
    terminal: Option<Arc<TerminalPrinter>>,
    bar: Option<SongBar>,
    /// Set by `wait`: commands stay queued until the current song ends.
    waiting: bool,
}

impl CommandLoop {
    pub fn new(
        client: Client,
        player: Player,
        terminal: Option<Arc<TerminalPrinter>>,
    ) -> CommandLoop {
        let printer = match &terminal {
            Some(t) => Printer::Terminal(t.clone()),
            None => Printer::Plain,
        };
        CommandLoop {
            client,
            player,
            printer,
            terminal,
            bar: None,
            waiting: false,
        }
    }

    /// Runs commands until `quit`, the end of input or a stop signal, then stops playback and
    /// closes the output.
    pub async fn run(mut self, mut input: Input, mut shutdown: Shutdown) -> Result<(), String> {
        let mut tick = tokio::time::interval(PROGRESS_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                line = input.next(), if !self.waiting => {
                    let Some(line) = line else { break };
                    match Command::parse(&line) {
                        Ok(Command::Quit) => break,
                        // A command can wait on the server, which may never answer: a stop
                        // signal must still end the loop.
                        Ok(command) => tokio::select! {
                            () = self.execute(command) => {}
                            () = shutdown.recv() => break,
                        },
                        Err(e) => self.printer.error(&e),
                    }
                }
                event = self.player.next_event() => self.report(event),
                _ = tick.tick(), if self.terminal.is_some() => self.update_bar(),
                _ = shutdown.recv() => break,
            }
        }
        self.hide_bar();
        // The prompt thread has stopped reading: print directly from here on.
        self.terminal = None;
        self.printer = Printer::Plain;
        if let Some(song) = self.player.stop() {
            self.printer.line(&format!("stopped {song}"));
        }
        tracing::info!(
            "discarded {} stale frames on the last connection",
            self.client.stale_frames().await
        );
        self.player.close()
    }

    async fn execute(&mut self, command: Command) {
        match command {
            Command::List => self.list().await,
            Command::Play(song) => self.play(song).await,
            Command::Stop => {
                let line = match self.player.stop() {
                    Some(song) => format!("stopped {song}"),
                    None => "stopped".to_string(),
                };
                self.hide_bar();
                self.printer.line(&line);
            }
            Command::Wait => self.waiting = self.player.current().is_some(),
            Command::Help => self.printer.line(HELP),
            Command::Nothing | Command::Quit => {}
        }
    }

    async fn list(&mut self) {
        let result = async {
            let connection = self.client.connection().await?;
            let mut songs = Vec::new();
            let mut request = jukebox_protocol::ListRequest::default();
            loop {
                let page = connection.list(&request).await?;
                songs.extend(page.songs);
                match page.next {
                    Some(next) => request.cursor = Some(next),
                    None => return Ok::<_, crate::ClientError>(songs),
                }
            }
        };
        match result.await {
            Ok(songs) if songs.is_empty() => {}
            Ok(songs) => {
                // One print for the whole list: at a terminal each print redraws the prompt.
                let lines: Vec<String> = songs.iter().map(song_line).collect();
                self.printer.line(&lines.join("\n"));
            }
            Err(e) => self.printer.error(&e),
        }
    }

    /// Fetches the manifest fresh and switches to the song; on error the current song goes on.
    async fn play(&mut self, song: u64) {
        let started = async {
            let connection = self.client.connection().await?;
            let manifest = connection.get_manifest(song).await?;
            let line = playing_line(&manifest);
            let stopped = self.player.play(self.client.clone(), manifest)?;
            Ok::<_, crate::ClientError>((stopped, line))
        }
        .await;
        match started {
            Ok((stopped, line)) => {
                if let Some(old) = stopped {
                    self.hide_bar();
                    self.printer.line(&format!("stopped {old}"));
                }
                self.printer.line(&line);
                self.update_bar();
            }
            Err(e) => self.printer.error(&e),
        }
    }

    fn report(&mut self, event: Event) {
        self.hide_bar();
        self.waiting = false;
        match event {
            Event::Finished(song) => self.printer.line(&format!("finished {song}")),
            Event::Failed(song, error) => {
                self.printer.error(&format_args!("song {song}: {error}"));
                self.printer.line(&format!("stopped {song}"));
            }
        }
    }

    fn update_bar(&mut self) {
        let Some(terminal) = self.terminal.clone() else {
            return;
        };
        let Some(progress) = self.player.progress() else {
            self.hide_bar();
            return;
        };
        match &mut self.bar {
            Some(bar) if bar.song() == progress.song => bar.update(&progress),
            _ => {
                self.hide_bar();
                self.bar = Some(SongBar::new(terminal, &progress));
            }
        }
    }

    fn hide_bar(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }
}
