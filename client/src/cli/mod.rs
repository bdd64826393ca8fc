//! The `jukebox` command: flags, the prompt or piped commands, and the commands behind them.

pub mod args;
pub mod command;
pub mod command_loop;
pub mod complete;
pub mod display;
pub mod editor;
pub mod history;
pub mod input;
pub mod log;
pub mod playlist;
pub mod printer;
pub mod screen;
pub mod signals;
pub mod status;
pub mod terminal;

use std::io::IsTerminal;

pub use args::Args;
pub use command_loop::Exit;

use crate::client::Client;
use crate::output::OutputSpec;
use crate::player::{Player, ReadAhead};
use command_loop::CommandLoop;
use history::History;
use input::Ui;
use printer::Printer;
use terminal::Terminal;

/// True when the prompt is shown: stdin and stdout are both a terminal and no one-shot command
/// was given.
pub fn interactive(args: &Args) -> bool {
    args.command.is_none() && std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// Runs the client. The error is one line for the user: the session could not start.
pub async fn run(args: Args) -> Result<Exit, String> {
    let shutdown = signals::Shutdown::new();
    let mut player = match &args.output {
        Some(spec) => Player::new(spec, ReadAhead::default())?,
        // No output asked for: a machine without a sound card can still list, play and switch
        // (the README's command must work on a fresh server), so fall back to silence and say so.
        None => Player::new(&OutputSpec::Default, ReadAhead::default()).or_else(|e| {
            eprintln!("warning: {e}; without --output, playing on without sound");
            Player::new(&OutputSpec::Null, ReadAhead::default())
        })?,
    };
    player.set_normalize(args.normalize);
    let addr = match &args.server {
        Some(server) => args::server_address(server),
        None => match crate::embedded::start(&args.music_dir()).await {
            Ok(addr) => addr.to_string(),
            Err(e) => {
                let _ = player.close();
                return Err(e);
            }
        },
    };
    let client = match Client::connect_within(addr, args.timeout()).await {
        Ok(client) => client,
        Err(e) => {
            let _ = player.close();
            return Err(e.to_string());
        }
    };
    tracing::info!("connected to {}", client.addr());
    let (ui, printer) = match args.script() {
        Some(lines) => (Ui::script(lines), Printer::plain()),
        None if interactive(&args) => {
            match Terminal::start(History::load(History::default_path())) {
                Ok((terminal, printer)) => (Ui::Terminal(Box::new(terminal)), printer),
                Err(e) => {
                    tracing::warn!("no prompt: {e}");
                    (Ui::stdin(), Printer::plain())
                }
            }
        }
        None => (Ui::stdin(), Printer::plain()),
    };
    Ok(CommandLoop::new(client, player, printer)
        .run(ui, shutdown)
        .await)
}
