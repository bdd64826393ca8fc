//! How far the player works ahead of the output: the one place that sets it.
//!
//! Nothing counts seconds; bounds do. The PCM queue takes a chunk of decoded audio only while it
//! holds less than `queued`, so the decoder runs as fast as the output plays; the decoder reads
//! from a channel of `segments` verified segments, so the fetcher waits on the decoder. What is
//! fetched but not yet played is therefore `queued`, the segment being decoded, the `segments` in
//! the channel and the one the fetcher holds while it waits to hand it over: with the defaults
//! and 2-second segments the client asks for four segments at once, then one more each time about
//! a segment's worth has played, and stays about 6-8 s ahead. This follows the audio actually
//! decoded, not the durations a manifest claims, which a server could get wrong
//! (`tests/read_ahead.rs`).

use std::num::NonZero;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadAhead {
    /// Decoded audio the PCM queue holds before the decoder waits: enough to ride out the
    /// decoder's hiccups, little enough that a switch or stop throws away seconds, not minutes.
    /// A chunk is always taken into an empty queue, so even zero plays.
    pub queued: Duration,
    /// Verified segments waiting for the decoder: enough to ride out a slow response.
    pub segments: NonZero<usize>,
    /// Frames the decoder queues at a time; the queue may go over `queued` by up to one chunk.
    /// Large enough that queuing is cheap, small next to `queued`.
    pub chunk_frames: NonZero<usize>,
}

impl Default for ReadAhead {
    fn default() -> Self {
        ReadAhead {
            queued: Duration::from_secs(2),
            segments: NonZero::<usize>::MIN,
            chunk_frames: const { NonZero::new(4096).unwrap() },
        }
    }
}
