//! The segment transfers of one connection, in the order requested: the front one is being sent,
//! and one whose bytes are on disk waits for the read the session asked the shell for. Transfers go
//! out one at a time, so a waiting transfer holds up those behind it.
//!
//! A segment on disk is read only when its transfer reaches the front of the queue: a connection
//! then has at most one read under way and holds the bytes of at most one segment beyond the frame
//! being written, however many it asked for. A client that asks for sixteen segments and reads
//! none costs the server one segment, not sixteen, and takes one place in the server's queue of
//! disk reads, not sixteen.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::outgoing::OutFrame;

/// Names one read the session asked for. Request IDs may be reused once a request is cancelled,
/// tickets never are, so a late answer for a cancelled read is never taken for a new request's.
pub type Ticket = u64;

/// A segment the session needs read: hand its bytes back with
/// [`super::Session::handle_segment_read`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentRead {
    pub ticket: Ticket,
    pub song: u64,
    pub index: u32,
}

/// A segment being sent: what is left of it, sliced off the shared segment buffer as it goes, or
/// `None` while its bytes are on disk.
struct Transfer {
    request_id: u32,
    rest: Option<Bytes>,
    ticket: Ticket,
    song: u64,
    index: u32,
    /// Its read was asked for (it reached the front of the queue).
    asked: bool,
}

/// The queue of transfers and the reads asked for on their behalf.
#[derive(Default)]
pub(super) struct Transfers {
    queue: VecDeque<Transfer>,
    /// Reads asked for and not yet taken by the shell.
    reads: VecDeque<SegmentRead>,
    /// Reads taken by the shell whose transfers were dropped since.
    abandoned: VecDeque<Ticket>,
    next_ticket: Ticket,
}

impl Transfers {
    pub(super) fn len(&self) -> usize {
        self.queue.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// True when the front transfer's bytes are at hand: its next DATA frame can go.
    pub(super) fn ready(&self) -> bool {
        self.queue.front().is_some_and(|t| t.rest.is_some())
    }

    /// True when the front transfer waits for its read.
    pub(super) fn waiting(&self) -> bool {
        self.queue.front().is_some_and(|t| t.rest.is_none())
    }

    /// Queues a transfer of `bytes`, or, with `None`, of a segment to be read when it is next.
    pub(super) fn push(&mut self, request_id: u32, bytes: Option<Bytes>, song: u64, index: u32) {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.queue.push_back(Transfer {
            request_id,
            rest: bytes,
            ticket,
            song,
            index,
            asked: false,
        });
        self.ask_front();
    }

    /// Asks for the front transfer's read, if its bytes are on disk and it was not asked for yet.
    fn ask_front(&mut self) {
        if let Some(front) = self.queue.front_mut() {
            if front.rest.is_none() && !front.asked {
                front.asked = true;
                self.reads.push_back(SegmentRead {
                    ticket: front.ticket,
                    song: front.song,
                    index: front.index,
                });
            }
        }
    }

    /// Drops the transfer of request `request_id`, queued or being sent, if there is one.
    pub(super) fn cancel(&mut self, request_id: u32) {
        self.drop_where(|t| t.request_id == request_id);
    }

    /// Drops every transfer.
    pub(super) fn clear(&mut self) {
        self.drop_where(|_| true);
    }

    fn drop_where(&mut self, drop: impl Fn(&Transfer) -> bool) {
        let (reads, abandoned) = (&mut self.reads, &mut self.abandoned);
        self.queue.retain(|t| {
            if !drop(t) {
                return true;
            }
            if t.rest.is_none() && t.asked {
                // Not yet taken by the shell: simply never asked for.
                match reads.iter().position(|r| r.ticket == t.ticket) {
                    Some(i) => {
                        reads.remove(i);
                    }
                    None => abandoned.push_back(t.ticket),
                }
            }
            false
        });
        self.ask_front();
    }

    /// The next read to start.
    pub(super) fn poll_read(&mut self) -> Option<SegmentRead> {
        self.reads.pop_front()
    }

    /// The next read no longer wanted.
    pub(super) fn poll_abandoned(&mut self) -> Option<Ticket> {
        self.abandoned.pop_front()
    }

    /// A read's result: the transfer waiting for it can go out, or, when the read failed or found
    /// nothing, is dropped and its request ID and the reason returned. Ignored (`Ok`) if the
    /// transfer is gone.
    pub(super) fn read_done(
        &mut self,
        ticket: Ticket,
        result: Result<Bytes, String>,
    ) -> Result<(), (u32, String)> {
        let Some(at) = self
            .queue
            .iter()
            .position(|t| t.ticket == ticket && t.rest.is_none())
        else {
            return Ok(());
        };
        match result {
            Ok(bytes) if !bytes.is_empty() => {
                self.queue[at].rest = Some(bytes);
                Ok(())
            }
            failed => {
                let id = self.queue[at].request_id;
                self.queue.remove(at);
                self.ask_front();
                Err((
                    id,
                    failed
                        .err()
                        .unwrap_or_else(|| "the segment is empty".into()),
                ))
            }
        }
    }

    /// The next DATA frame of the front transfer, at most `max_data` bytes (END on the last), if
    /// its bytes are at hand.
    pub(super) fn next_frame(&mut self, max_data: usize) -> Option<OutFrame> {
        let transfer = self.queue.front_mut()?;
        let rest = transfer.rest.as_mut()?;
        let piece = rest.split_to(rest.len().min(max_data));
        let end = rest.is_empty();
        let header = jukebox_protocol::codec::data_header(transfer.request_id, piece.len(), end);
        if end {
            self.queue.pop_front();
            self.ask_front();
        }
        Some(OutFrame::new(header, piece))
    }
}
