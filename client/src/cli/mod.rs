//! The `jukebox` command: flags, the prompt, and the commands behind it.

pub mod args;
pub mod command;
pub mod command_loop;
pub mod display;
pub mod input;
pub mod printer;
pub mod progress;
pub mod signals;

use std::io::IsTerminal;

pub use args::Args;

use crate::client::Client;
use crate::output::OutputSpec;
use crate::player::{Player, ReadAhead};
use command_loop::CommandLoop;
use input::Input;

/// Runs the client; the error is one line for the user.
pub async fn run(args: Args) -> Result<(), String> {
    let shutdown = signals::Shutdown::new();
    let player = match &args.output {
        Some(spec) => Player::new(spec, ReadAhead::default())?,
        // No output asked for: a machine without a sound card can still list, play and switch
        // (the README's command must work on a fresh server), so fall back to silence and say so.
        None => Player::new(&OutputSpec::Default, ReadAhead::default()).or_else(|e| {
            eprintln!("warning: {e}; without --output, playing on without sound");
            Player::new(&OutputSpec::Null, ReadAhead::default())
        })?,
    };
    let addr = match &args.server {
        Some(addr) => addr.clone(),
        None => crate::embedded::start(&args.music_dir()).await?.to_string(),
    };
    let client = match Client::connect(addr).await {
        Ok(client) => client,
        Err(e) => {
            let _ = player.close();
            return Err(e.to_string());
        }
    };
    tracing::info!("connected to {}", client.addr());
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let (input, terminal) = if interactive {
        match Input::terminal() {
            Ok((input, printer)) => (input, Some(printer)),
            Err(e) => {
                tracing::warn!("no line editing: {e}");
                (Input::plain(), None)
            }
        }
    } else {
        (Input::plain(), None)
    };
    CommandLoop::new(client, player, terminal)
        .run(input, shutdown)
        .await
}
