//! What the player's workers (fetcher, decoder, audio output) report back to the player.

use crate::error::ClientError;

/// A report from a worker about one playback, named by its generation number. Reports about a
/// generation that is no longer current (the song was switched or stopped) are ignored.
#[derive(Debug)]
pub enum Signal {
    /// The output has played the last sample of the generation.
    Finished { generation: u64 },
    /// A worker failed; the song stops.
    Failed { generation: u64, error: ClientError },
}
