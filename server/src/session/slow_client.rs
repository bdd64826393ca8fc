//! Telling a client that keeps up from one that does not (a slow link or a slow reader), so that the
//! slow one gets small DATA frames and a short unsent queue, and a LIST or CANCEL overtakes its
//! transfer soon, while a fast one keeps full frames and pays nothing.
//!
//! TCP_NOTSENT_LOWAT makes the kernel report the socket writable only while less than the mark is
//! unsent, but it does not limit a write that succeeds; so before each write to a slow client the
//! session asks the kernel whether it has room below the mark, and while it has none waits for the
//! kernel to say it has (an event, not a poll: a client that takes nothing costs nothing).

use jukebox_protocol::MAX_DATA_PAYLOAD;

/// DATA payload size for a client that does not keep up: a control response waits behind at most
/// this much of a frame in progress, 33 ms at 1 Mbit/s instead of 131 ms for a full frame.
pub const SLOW_DATA_PAYLOAD: usize = 4096;

/// Frames sent without a refusal before a client counts as keeping up again.
pub const SLOW_FRAMES: u32 = 16;

/// Whether the socket refused a write (or had no room below the mark) within the last
/// [`SLOW_FRAMES`] frames.
#[derive(Debug, Default, Clone, Copy)]
pub struct SlowClient {
    frames_left: u32,
}

impl SlowClient {
    /// True while the client does not keep up.
    pub fn is_slow(&self) -> bool {
        self.frames_left > 0
    }

    /// The largest DATA payload to send next.
    pub fn data_payload(&self) -> usize {
        if self.is_slow() {
            SLOW_DATA_PAYLOAD
        } else {
            MAX_DATA_PAYLOAD
        }
    }

    /// The socket refused a write, or had no room below the mark.
    pub fn refused(&mut self) {
        self.frames_left = SLOW_FRAMES;
    }

    /// A frame was written whole.
    pub fn sent_frame(&mut self) {
        self.frames_left = self.frames_left.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_that_keeps_up_gets_full_frames() {
        let mut client = SlowClient::default();
        for _ in 0..100 {
            assert!(!client.is_slow());
            assert_eq!(client.data_payload(), MAX_DATA_PAYLOAD);
            client.sent_frame();
        }
    }

    #[test]
    fn a_refusal_means_small_frames_until_enough_go_out_unrefused() {
        let mut client = SlowClient::default();
        client.refused();
        for _ in 0..SLOW_FRAMES - 1 {
            client.sent_frame();
        }
        assert_eq!(client.data_payload(), SLOW_DATA_PAYLOAD);
        // Another refusal starts the count again.
        client.refused();
        for _ in 0..SLOW_FRAMES - 1 {
            client.sent_frame();
            assert!(client.is_slow());
        }
        client.sent_frame();
        assert!(!client.is_slow());
        assert_eq!(client.data_payload(), MAX_DATA_PAYLOAD);
    }
}
