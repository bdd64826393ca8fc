//! The play request: one song played once, named by a [`PlayId`] that every stage of the pipeline
//! carries, and the reports those stages send about it.
//!
//! A request is live from `PcmQueue::open` until the PCM queue forgets it, which happens in one
//! of three ways: the player cancels it (a switch or stop), a stage fails it, or its last sample
//! is played. Every stage checks that one fact: the fetcher waits on `PcmQueue::cancelled` beside
//! its segment requests and drops them (which sends CANCEL), the decoder stops when the queue
//! refuses its audio, the queue drops what it held of it, and the output plays nothing of it.
//! Reports are sent only while a request is live. Ids are never reused, so nothing late from an
//! old request can pass for a new one's.
//!
//! Several requests can be live at once: the one playing and ones prepared to follow it, whose
//! audio the queue holds back until the one before has queued its end.

use crate::error::ClientError;

/// Names one play request; the player numbers them 1, 2, 3...
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlayId(pub u64);

/// What a stage reports about a live play request.
#[derive(Debug)]
pub enum Report {
    /// The decoder has queued the request's last sample: the output will get there within
    /// [`ReadAhead::queued`](super::ReadAhead::queued), time to prepare what follows.
    Ending { id: PlayId },
    /// The output has played the request's last sample.
    Finished { id: PlayId },
    /// A stage failed; the request is no longer live.
    Failed { id: PlayId, error: ClientError },
}

impl Report {
    pub fn id(&self) -> PlayId {
        match self {
            Report::Ending { id } | Report::Finished { id } | Report::Failed { id, .. } => *id,
        }
    }
}
