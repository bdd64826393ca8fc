//! The protocol state of one connection, with no I/O and no clock of its own: every rule of the
//! protocol, time limits included, decided here and unit-tested with simulated time. The async shell
//! in `connection.rs` owns the socket, the clock and the tasks reading catalog segments; it reports
//! what it observed, each observation with the time it made it, and does what the session says.
//!
//! # Driving a session
//!
//! The methods come in three kinds, after quinn-proto's `Connection`:
//!
//! - getters (`&self`), which may be called at any time: [`Session::read_room`],
//!   [`Session::next_is_data`], [`Session::write_slices`];
//! - handlers for what the shell observed, named `handle_*`: bytes received
//!   ([`Session::handle_input`]), the end of the client's stream ([`Session::handle_eof`]), a catalog
//!   read that finished ([`Session::handle_segment_read`]), bytes written
//!   ([`Session::handle_written`]), a write the socket refused or no room below the low-water mark
//!   ([`Session::handle_write_refused`]), room below it ([`Session::handle_room`]), and a deadline
//!   reached ([`Session::handle_timeout`]);
//! - polls for what the shell is to do, named `poll_*`.
//!
//! After creating the session and after every handler, call the polls in this order:
//!
//! 1. [`Session::poll_abandoned`] and [`Session::poll_read`] until each returns `None`: abort the
//!    reads no longer wanted and start the new ones. A read found in a cache may be answered at
//!    once, within this step, with [`Session::handle_segment_read`] (a failed one may ask for the
//!    next read, which the same loop takes). Only the front transfer is read, so a read can also
//!    come to be asked for in step 2, when the last frame of the transfer ahead is taken: it is
//!    taken in step 1 after the next handler;
//! 2. [`Session::poll_transmit`] until it returns `None` or a write: an uncork or a shutdown is done
//!    at once and the session polled again; a close ends the connection; a write
//!    ([`Transmit::Write`], [`Transmit::CheckRoom`]) waits for the socket to be writable and is
//!    then done and reported; it stays the answer until a handler is called;
//! 3. [`Session::poll_timeout`]: when to call [`Session::handle_timeout`] if nothing else happens
//!    first. It may move after any handler or poll, and may be earlier than a deadline really is
//!    (the idle time is checked when its first deadline comes); calling `handle_timeout` early or
//!    more than once is harmless.
//!
//! Read from the socket only while [`Session::read_room`] is above zero, at most that many bytes.
//! Whatever the session wants, a socket error (a reset from the client, seen even while nothing is
//! read or written) ends the connection at once: the session need not be told. The times passed in
//! must not go backwards.
//!
//! # What the session holds
//!
//! Two queues: control responses (WELCOME, PAGE, MANIFEST, ERROR), sent ahead of any DATA, and
//! segment transfers in request order (`transfers.rs`). A segment of a catalog song is on disk: its
//! transfer waits, and the session asks the shell to read it; control requests are answered and
//! cancels honoured meanwhile. Then the frames of the write under way (`output.rs`), whether the
//! client keeps up (`slow_client.rs`), and the deadlines (`timers.rs`).

mod going_away;
mod input;
mod output;
mod requests;
mod slow_client;
#[cfg(test)]
pub(crate) mod tests;
mod timers;
mod transfers;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use jukebox_protocol::ErrorCode;

use crate::outgoing::OutFrame;
use crate::store::Store;
use slow_client::SlowClient;
use timers::{Timer, Timers};
use transfers::Transfers;

pub use input::{DRAIN_LIMIT, READ_CHUNK};
pub use output::{Closed, Transmit, MAX_FRAMES_PER_WRITE};
pub use requests::MAX_CONTROL_BACKLOG;
pub use slow_client::{SLOW_DATA_PAYLOAD, SLOW_FRAMES};
pub use timers::{HELLO_TIMEOUT, LINGER};
pub use transfers::{SegmentRead, Ticket};

/// The per-connection limits from the server's configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A connection with nothing to send that receives no frame for this long gets IDLE_TIMEOUT.
    pub idle_timeout: Duration,
    /// A frame whose first byte has arrived must be whole within this time, else IDLE_TIMEOUT.
    pub frame_timeout: Duration,
    /// A client that takes no byte for this long while frames wait for it is closed.
    pub send_timeout: Duration,
    /// [`Limits::send_timeout`] once the client has closed its side (if shorter).
    pub fin_timeout: Duration,
    /// Segment requests a connection may have queued; more get TOO_MANY_REQUESTS.
    pub max_queued_segments: usize,
    /// The socket's TCP_NOTSENT_LOWAT, if set: a slow client gets no write while the kernel holds
    /// this many bytes unsent.
    pub notsent_lowat: Option<u32>,
    /// DATA frames gathered into one write, 1 to [`MAX_FRAMES_PER_WRITE`] (see
    /// `Config::data_frames_per_write`).
    pub data_frames_per_write: usize,
}

impl From<&crate::Config> for Limits {
    fn from(config: &crate::Config) -> Self {
        Limits {
            idle_timeout: config.idle_timeout,
            frame_timeout: config.frame_timeout,
            send_timeout: config.send_timeout,
            fin_timeout: config.fin_timeout,
            max_queued_segments: config.max_queued_segments,
            notsent_lowat: config.notsent_lowat,
            data_frames_per_write: config.data_frames_per_write.clamp(1, MAX_FRAMES_PER_WRITE),
        }
    }
}

/// Why a connection is turned away with SERVER_BUSY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// The server is at its connection limit.
    Full,
    /// The connection's source (its address) is at its own limit, of connections at once or of
    /// new connections per second.
    Source,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitingHello,
    Open,
    /// A fatal error is queued: send what is queued, then shut down the sending side.
    Closing,
    /// The sending side is shut down after a fatal error: discard what the client still sends, so
    /// that closing does not reset the connection before the client has read the ERROR.
    Draining {
        drained: usize,
    },
    /// Nothing more to do: the shell drops the connection.
    Closed(Closed),
}

/// The protocol state of one connection.
pub struct Session {
    store: Arc<Store>,
    limits: Limits,
    state: State,
    /// Bytes received and not yet taken as frames: at most [`READ_CHUNK`].
    input: BytesMut,
    /// The client has closed its sending side.
    eof: bool,
    /// Control responses (WELCOME, PAGE, MANIFEST, ERROR), sent ahead of any DATA.
    control: VecDeque<OutFrame>,
    transfers: Transfers,
    /// The frames of the write under way, handed out by [`Session::write_slices`] and dropped as
    /// [`Session::handle_written`] reports them written.
    out: VecDeque<OutFrame>,
    /// The last write carried MSG_MORE: the kernel may hold its tail back for the next one.
    corked: bool,
    /// The kernel had room below the low-water mark when asked before a slow client's next write.
    room_checked: bool,
    slow: SlowClient,
    timers: Timers,
    /// When a whole frame was last received or sent: the idle time counts from here.
    last_activity: Instant,
    /// When a write last took bytes, or something came to wait for writing: the send deadline
    /// counts from here.
    last_sent: Instant,
    /// The server drains: the time by which the connection closes, for the GOAWAY that follows
    /// the WELCOME.
    going_away: Option<Instant>,
    /// GOAWAY is queued: the server sends at most one.
    went_away: bool,
}

impl Session {
    /// A session waiting for the client's HELLO, for a connection accepted at `now`.
    pub fn new(store: Arc<Store>, limits: Limits, now: Instant) -> Self {
        let mut timers = Timers::default();
        timers.set(Timer::Hello, now + HELLO_TIMEOUT.min(limits.idle_timeout));
        Session {
            store,
            limits,
            state: State::AwaitingHello,
            input: BytesMut::with_capacity(READ_CHUNK),
            eof: false,
            control: VecDeque::new(),
            transfers: Transfers::default(),
            out: VecDeque::with_capacity(limits.data_frames_per_write),
            corked: false,
            room_checked: false,
            slow: SlowClient::default(),
            timers,
            last_activity: now,
            last_sent: now,
            going_away: None,
            went_away: false,
        }
    }

    /// A session for a connection turned away: ERROR SERVER_BUSY at once, without waiting for
    /// HELLO, then closed as after any fatal error.
    pub fn busy(store: Arc<Store>, limits: Limits, now: Instant, why: Busy) -> Self {
        let mut session = Session::new(store, limits, now);
        let message = match why {
            Busy::Full => "the server is at its connection limit; try again later",
            Busy::Source => "too many connections from this address; try again later",
        };
        session.fail(now, ErrorCode::ServerBusy, message);
        session
    }

    /// True until the HELLO has been accepted.
    pub fn awaiting_hello(&self) -> bool {
        self.state == State::AwaitingHello
    }

    /// True once a fatal error is queued, and through the close that follows.
    pub fn is_closing(&self) -> bool {
        matches!(
            self.state,
            State::Closing | State::Draining { .. } | State::Closed(_)
        )
    }

    /// True when nothing is queued for sending (the write under way aside).
    pub fn is_idle(&self) -> bool {
        self.control.is_empty() && self.transfers.is_empty()
    }

    /// True when something is ready to be written: the write under way, a control response, or
    /// DATA whose bytes are at hand.
    fn has_output(&self) -> bool {
        !self.out.is_empty() || !self.control.is_empty() || self.transfers.ready()
    }

    /// Why the connection is over, once it is.
    pub fn closed(&self) -> Option<Closed> {
        match self.state {
            State::Closed(why) => Some(why),
            _ => None,
        }
    }

    /// The next catalog segment to read: start its read, and hand the result back with
    /// [`Session::handle_segment_read`], unless [`Session::poll_abandoned`] names it first.
    pub fn poll_read(&mut self) -> Option<SegmentRead> {
        self.transfers.poll_read()
    }

    /// The next read (from [`Session::poll_read`]) no longer wanted: its transfer was cancelled,
    /// or the connection is failing. Stopping it is up to the shell; an answer that comes anyway
    /// is ignored.
    pub fn poll_abandoned(&mut self) -> Option<Ticket> {
        self.transfers.poll_abandoned()
    }

    /// The result of a read, at `now`: the transfer waiting for it can go out, or, when the read
    /// failed, is answered with ERROR INTERNAL (that request only). Ignored if the transfer is gone.
    pub fn handle_segment_read(
        &mut self,
        now: Instant,
        ticket: Ticket,
        result: Result<Bytes, String>,
    ) {
        if let Err((id, message)) = self.transfers.read_done(ticket, result) {
            self.error(id, ErrorCode::Internal, message);
        }
        self.watch_sending(now);
    }

    /// Ends the connection for `why`, without anything more sent.
    fn close(&mut self, why: Closed) -> Transmit {
        self.state = State::Closed(why);
        self.timers = Timers::default();
        Transmit::Close(why)
    }
}
