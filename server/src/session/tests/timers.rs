//! The time limits, with simulated time: the HELLO deadline, the frame deadline, the idle time
//! (restarted by whole frames received and frames fully sent), its exemption while only a catalog
//! read is pending, the send deadline for a client that stops reading (shorter once it has closed
//! its side), and the linger after a fatal error with its byte limit.

use bytes::Bytes;
use jukebox_protocol::{ErrorCode, Message};

use super::reads::{open_with_disk, reads};
use super::*;
use crate::session::{Closed, DRAIN_LIMIT, HELLO_TIMEOUT, LINGER, MAX_CONTROL_BACKLOG};

fn ms(duration: Duration) -> u64 {
    duration.as_millis() as u64
}

/// The one frame sent at `now`, which must be a fatal ERROR with `code`; the session then shuts
/// down its sending side.
fn expect_fatal_at(s: &mut Session, now: Instant, code: ErrorCode) -> String {
    let out = sent_at(s, now);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(error_code(&out[0]), (0, code));
    assert!(s.read_room() > 0, "the session drains after its ERROR");
    match &out[0].message {
        Message::Error { message, .. } => message.clone(),
        _ => unreachable!(),
    }
}

/// Nothing is sent and the connection stays up.
fn assert_quiet_at(s: &mut Session, now: Instant) {
    assert!(sent_at(s, now).is_empty());
    assert!(!s.is_closing());
}

#[test]
fn a_connection_without_hello_in_time_gets_idle_timeout() {
    let mut s = session();
    let deadline = ms(HELLO_TIMEOUT);
    assert_eq!(s.poll_timeout(), Some(t(deadline)));
    // Bytes that do not make a whole HELLO move nothing.
    feed_bytes_at(&mut s, t(deadline - 1000), &wire(&[hello()])[..5]);
    s.handle_timeout(t(deadline - 1));
    assert_quiet_at(&mut s, t(deadline - 1));
    s.handle_timeout(t(deadline));
    let message = expect_fatal_at(&mut s, t(deadline), ErrorCode::IdleTimeout);
    assert_eq!(message, "no HELLO received in time");
}

#[test]
fn the_hello_deadline_is_the_idle_time_when_that_is_shorter() {
    let limits = Limits {
        idle_timeout: Duration::from_millis(300),
        ..limits(3)
    };
    let mut s = Session::new(store(), limits, t(0));
    assert_eq!(s.poll_timeout(), Some(t(300)));
    s.handle_timeout(t(300));
    expect_fatal_at(&mut s, t(300), ErrorCode::IdleTimeout);
}

#[test]
fn a_hello_in_time_stops_the_hello_deadline() {
    let mut s = session();
    feed_at(&mut s, t(9_000), &[hello()]);
    sent_at(&mut s, t(9_000));
    s.handle_timeout(t(ms(HELLO_TIMEOUT)));
    assert_quiet_at(&mut s, t(ms(HELLO_TIMEOUT)));
    // The idle time runs from the HELLO.
    s.handle_timeout(t(9_000 + 300_000));
    expect_fatal_at(&mut s, t(9_000 + 300_000), ErrorCode::IdleTimeout);
}

#[test]
fn the_idle_time_restarts_with_every_whole_frame_received() {
    let mut s = open(); // HELLO received and WELCOME sent at 0
    assert_eq!(s.poll_timeout(), Some(t(300_000)));
    // A CANCEL of nothing: received, nothing sent.
    feed_at(&mut s, t(100_000), &[req(9, Message::Cancel)]);
    s.handle_timeout(t(300_000));
    assert_quiet_at(&mut s, t(300_000));
    assert_eq!(s.poll_timeout(), Some(t(400_000)));
    s.handle_timeout(t(399_999));
    assert_quiet_at(&mut s, t(399_999));
    s.handle_timeout(t(400_000));
    let message = expect_fatal_at(&mut s, t(400_000), ErrorCode::IdleTimeout);
    assert_eq!(message, "no request for 300 s");
}

#[test]
fn a_partial_frame_does_not_restart_the_idle_time() {
    let mut s = open();
    feed_bytes_at(
        &mut s,
        t(200_000),
        &wire(&[req(1, Message::list_all())])[..7],
    );
    s.handle_timeout(t(300_000));
    expect_fatal_at(&mut s, t(300_000), ErrorCode::IdleTimeout);
}

/// Song 1, segment 3 of [`store`]: three DATA frames, of 16384, 16384 and 7232 bytes.
const THREE_FRAMES: [usize; 3] = [12 + 16_384, 12 + 16_384, 12 + 7_232];

/// Writes `n` bytes of the write under way at `now`.
fn write_part(s: &mut Session, now: Instant, n: usize) {
    assert!(matches!(s.poll_transmit(), Some(Transmit::Write { .. })));
    s.handle_written(now, n);
}

/// [`open`], with a send deadline longer than the idle time, to watch the idle time alone.
fn open_patient() -> Session {
    let limits = Limits {
        send_timeout: Duration::from_secs(3_600),
        ..limits(3)
    };
    let mut s = Session::new(store(), limits, t(0));
    exchange(&mut s, &[hello()]);
    s
}

#[test]
fn the_idle_time_restarts_with_every_frame_fully_sent() {
    let mut s = open_patient();
    feed_at(
        &mut s,
        t(0),
        &[req(1, Message::GetSegment { song: 1, index: 3 })],
    );
    write_part(&mut s, t(1_000), THREE_FRAMES[0]);
    // Part of a frame restarts nothing; the rest of it does.
    write_part(&mut s, t(250_000), 100);
    write_part(&mut s, t(299_000), THREE_FRAMES[1] - 100);
    s.handle_timeout(t(300_000));
    assert!(!s.is_closing());
    assert_eq!(s.poll_timeout(), Some(t(599_000)));
    write_part(&mut s, t(350_000), THREE_FRAMES[2]);
    assert!(s.is_idle());
    s.handle_timeout(t(599_000));
    assert_quiet_at(&mut s, t(599_000));
    s.handle_timeout(t(650_000));
    expect_fatal_at(&mut s, t(650_000), ErrorCode::IdleTimeout);
}

#[test]
fn a_client_that_takes_no_whole_frame_for_the_idle_time_is_closed_without_error() {
    let mut s = open_patient();
    feed_at(
        &mut s,
        t(0),
        &[req(1, Message::GetSegment { song: 1, index: 3 })],
    );
    write_part(&mut s, t(1_000), THREE_FRAMES[0]);
    // A byte now and then keeps the send deadline away, but no frame is finished.
    for at in (10_000..300_000).step_by(10_000) {
        write_part(&mut s, t(at), 1);
    }
    s.handle_timeout(t(300_999));
    assert!(!s.is_closing());
    s.handle_timeout(t(301_000));
    assert_eq!(s.closed(), Some(Closed::StoppedReading));
    assert_eq!(
        s.poll_transmit(),
        Some(Transmit::Close(Closed::StoppedReading))
    );
}

#[test]
fn a_client_that_stops_reading_while_frames_wait_is_closed_without_error() {
    let mut s = open();
    feed_at(
        &mut s,
        t(0),
        &[req(1, Message::GetSegment { song: 1, index: 3 })],
    );
    let send = ms(crate::DEFAULT_SEND_TIMEOUT);
    assert_eq!(s.poll_timeout(), Some(t(send)), "the send deadline runs");
    write_part(&mut s, t(1_000), THREE_FRAMES[0]);
    // Part of a frame is progress too.
    write_part(&mut s, t(2_000), 100);
    // Then the socket takes nothing more.
    assert!(matches!(s.poll_transmit(), Some(Transmit::Write { .. })));
    s.handle_write_refused();
    s.handle_timeout(t(send));
    assert!(
        !s.is_closing(),
        "bytes were taken since the deadline was set"
    );
    assert_eq!(s.poll_timeout(), Some(t(2_000 + send)));
    s.handle_timeout(t(2_000 + send - 1));
    assert!(!s.is_closing());
    s.handle_timeout(t(2_000 + send));
    assert_eq!(s.closed(), Some(Closed::StoppedReading));
    // No ERROR first: the client would not read it.
    assert_eq!(
        s.poll_transmit(),
        Some(Transmit::Close(Closed::StoppedReading))
    );
}

#[test]
fn a_client_that_stops_reading_its_answers_is_closed_without_error() {
    let mut s = open();
    feed_at(&mut s, t(0), &[req(1, Message::list_all())]);
    assert!(matches!(s.poll_transmit(), Some(Transmit::Write { .. })));
    s.handle_write_refused();
    s.handle_timeout(t(300_000));
    assert_eq!(
        s.poll_transmit(),
        Some(Transmit::Close(Closed::StoppedReading))
    );
}

#[test]
fn the_idle_time_does_not_run_out_while_only_a_read_is_pending() {
    let mut s = open_with_disk();
    feed_at(
        &mut s,
        t(1_000),
        &[req(1, Message::GetSegment { song: 5, index: 1 })],
    );
    let read = reads(&mut s)[0];
    assert_quiet_at(&mut s, t(1_000));
    // The idle time passes with nothing to send but the segment being read: the wait is the
    // server's, and the timer starts again.
    s.handle_timeout(t(301_000));
    assert_quiet_at(&mut s, t(301_000));
    assert_eq!(s.poll_timeout(), Some(t(601_000)));
    s.handle_timeout(t(601_000));
    assert_quiet_at(&mut s, t(601_000));
    // The read ends (the store's read timeout ends every read): its answer goes out, and the idle
    // time counts from there as ever.
    s.handle_segment_read(t(0), read.ticket, Ok(Bytes::from(vec![1; 20_000])));
    assert_eq!(data(&sent_at(&mut s, t(700_000)), 1).len(), 20_000);
    s.handle_timeout(t(901_000));
    assert_quiet_at(&mut s, t(901_000));
    s.handle_timeout(t(1_000_000));
    expect_fatal_at(&mut s, t(1_000_000), ErrorCode::IdleTimeout);
}

#[test]
fn after_a_failed_read_the_idle_time_runs_again() {
    let mut s = open_with_disk();
    feed_at(
        &mut s,
        t(1_000),
        &[req(1, Message::GetSegment { song: 5, index: 1 })],
    );
    let read = reads(&mut s)[0];
    // The store gave up on the read after its read timeout.
    s.handle_segment_read(t(0), read.ticket, Err("not read within 5 s".into()));
    let out = sent_at(&mut s, t(6_000));
    assert_eq!(error_code(&out[0]), (1, ErrorCode::Internal));
    s.handle_timeout(t(306_000));
    expect_fatal_at(&mut s, t(306_000), ErrorCode::IdleTimeout);
}

#[test]
fn a_pending_read_does_not_excuse_answers_the_client_does_not_take() {
    let mut s = open_with_disk();
    feed_at(
        &mut s,
        t(0),
        &[
            req(1, Message::GetSegment { song: 5, index: 1 }),
            req(2, Message::list_all()),
        ],
    );
    assert_eq!(reads(&mut s).len(), 1);
    assert!(matches!(s.poll_transmit(), Some(Transmit::Write { .. })));
    s.handle_write_refused();
    s.handle_timeout(t(300_000));
    assert_eq!(s.closed(), Some(Closed::StoppedReading));
}

#[test]
fn after_a_fatal_error_the_server_lingers_then_closes() {
    let mut s = open();
    let mut bad = wire(&[req(1, Message::list_all())]);
    bad[6] = 1;
    feed_bytes_at(&mut s, t(1_000), &bad);
    expect_fatal_at(&mut s, t(1_000), ErrorCode::MalformedFrame);
    let end = 1_000 + ms(LINGER);
    assert_eq!(s.poll_timeout(), Some(t(end)));
    // What the client still sends is discarded.
    assert_eq!(feed_bytes_at(&mut s, t(1_500), &[0xAB; 3000]), 0);
    s.handle_timeout(t(end - 1));
    assert!(s.closed().is_none());
    s.handle_timeout(t(end));
    assert_eq!(s.poll_transmit(), Some(Transmit::Close(Closed::AfterError)));
}

#[test]
fn the_linger_ends_when_the_client_closes() {
    let mut s = open();
    s.fail(t(0), ErrorCode::IdleTimeout, "idle");
    expect_fatal_at(&mut s, t(0), ErrorCode::IdleTimeout);
    s.handle_eof(t(0));
    assert_eq!(s.poll_transmit(), Some(Transmit::Close(Closed::AfterError)));
}

#[test]
fn the_linger_discards_at_most_the_drain_limit() {
    let mut s = open();
    s.fail(t(0), ErrorCode::IdleTimeout, "idle");
    expect_fatal_at(&mut s, t(0), ErrorCode::IdleTimeout);
    let mut drained = 0;
    while s.read_room() > 0 {
        let room = s.read_room();
        assert!(drained + room <= DRAIN_LIMIT);
        s.handle_input(t(10), &vec![0; room]);
        drained += room;
    }
    assert_eq!(drained, DRAIN_LIMIT);
    assert_eq!(s.poll_transmit(), Some(Transmit::Close(Closed::AfterError)));
}

#[test]
fn an_error_the_client_does_not_take_is_given_up_after_the_linger() {
    let mut s = open();
    feed_at(
        &mut s,
        t(0),
        &[req(1, Message::GetSegment { song: 1, index: 3 })],
    );
    write_part(&mut s, t(0), THREE_FRAMES[0]);
    s.fail(t(1_000), ErrorCode::IdleTimeout, "idle");
    // The ERROR is next (written without MSG_MORE, it also sends what the kernel held back), but
    // the socket takes nothing.
    assert_eq!(s.poll_transmit(), Some(Transmit::Write { more: false }));
    s.handle_write_refused();
    let end = 1_000 + ms(LINGER);
    s.handle_timeout(t(end - 1));
    assert!(s.closed().is_none());
    s.handle_timeout(t(end));
    assert_eq!(
        s.poll_transmit(),
        Some(Transmit::Close(Closed::ErrorNotTaken))
    );
}

#[test]
fn a_connection_beyond_the_limit_gets_server_busy_and_the_linger() {
    let mut s = Session::busy(store(), limits(3), t(0), crate::session::Busy::Full);
    assert_eq!(s.read_room(), 0, "no HELLO is waited for");
    expect_fatal_at(&mut s, t(0), ErrorCode::ServerBusy);
    s.handle_timeout(t(ms(LINGER)));
    assert_eq!(s.poll_transmit(), Some(Transmit::Close(Closed::AfterError)));
}

#[test]
fn the_send_deadline_runs_only_while_something_waits_for_the_client() {
    let mut s = open_with_disk();
    let send = ms(crate::DEFAULT_SEND_TIMEOUT);
    // Nothing to send: only the idle timer.
    assert_eq!(s.poll_timeout(), Some(t(300_000)));
    // A segment being read from disk is the server's wait, not the client's.
    feed_at(
        &mut s,
        t(1_000),
        &[req(1, Message::GetSegment { song: 5, index: 1 })],
    );
    let read = reads(&mut s)[0];
    assert_eq!(s.poll_timeout(), Some(t(300_000)));
    // Its bytes at hand at 50 s: the client has the send time from then.
    s.handle_segment_read(t(50_000), read.ticket, Ok(Bytes::from(vec![1; 20_000])));
    assert_eq!(s.poll_timeout(), Some(t(50_000 + send)));
    // All taken: the deadline stops; the idle timer is what is left.
    assert_eq!(data(&sent_at(&mut s, t(60_000)), 1).len(), 20_000);
    assert_eq!(s.poll_timeout(), Some(t(300_000)));
}

#[test]
fn a_half_closed_client_that_takes_nothing_is_closed_sooner() {
    let mut s = open();
    feed_at(
        &mut s,
        t(0),
        &[req(1, Message::GetSegment { song: 1, index: 3 })],
    );
    write_part(&mut s, t(1_000), 100);
    assert!(matches!(s.poll_transmit(), Some(Transmit::Write { .. })));
    s.handle_write_refused();
    // The client closes its side: it can only be waiting for its answers now.
    s.handle_eof(t(2_000));
    let fin = ms(crate::DEFAULT_FIN_TIMEOUT);
    assert_eq!(s.poll_timeout(), Some(t(1_000 + fin)));
    s.handle_timeout(t(1_000 + fin - 1));
    assert!(s.closed().is_none());
    s.handle_timeout(t(1_000 + fin));
    assert_eq!(s.closed(), Some(Closed::StoppedReading));
}

#[test]
fn a_half_closed_client_that_takes_its_answers_gets_them_all() {
    let mut s = open();
    feed_at(
        &mut s,
        t(0),
        &[req(1, Message::GetSegment { song: 1, index: 3 })],
    );
    s.handle_eof(t(0));
    let fin = ms(crate::DEFAULT_FIN_TIMEOUT);
    // A frame every little while: always progress within the deadline.
    for (i, len) in THREE_FRAMES.iter().enumerate() {
        let at = (i as u64 + 1) * (fin - 1);
        s.handle_timeout(t(at));
        assert!(s.closed().is_none());
        write_part(&mut s, t(at), *len);
    }
    assert_eq!(s.poll_transmit(), Some(Transmit::Close(Closed::Finished)));
}

#[test]
fn a_frame_begun_must_be_whole_within_the_frame_deadline() {
    let mut s = open();
    let frame = ms(crate::DEFAULT_FRAME_TIMEOUT);
    let list = wire(&[req(1, Message::list_all())]);
    // One byte at a time, each well within the idle time: the frame deadline counts from the first.
    feed_bytes_at(&mut s, t(1_000), &list[..1]);
    assert_eq!(s.poll_timeout(), Some(t(1_000 + frame)));
    feed_bytes_at(&mut s, t(5_000), &list[1..2]);
    assert_eq!(s.poll_timeout(), Some(t(1_000 + frame)), "not restarted");
    s.handle_timeout(t(1_000 + frame - 1));
    assert_quiet_at(&mut s, t(1_000 + frame - 1));
    s.handle_timeout(t(1_000 + frame));
    let message = expect_fatal_at(&mut s, t(1_000 + frame), ErrorCode::IdleTimeout);
    assert_eq!(message, "a frame was begun and not completed within 10 s");
}

#[test]
fn the_frame_deadline_starts_again_with_each_frame() {
    let mut s = open();
    let frame = ms(crate::DEFAULT_FRAME_TIMEOUT);
    let two = wire(&[req(1, Message::Cancel), req(2, Message::Cancel)]);
    let one = two.len() / 2;
    feed_bytes_at(&mut s, t(1_000), &two[..one - 1]);
    // The first frame completes at 9 s, with the first byte of the next: a new deadline for it.
    feed_bytes_at(&mut s, t(9_000), &two[one - 1..one + 1]);
    assert_eq!(s.poll_timeout(), Some(t(9_000 + frame)));
    // Completed in time: no deadline runs but the idle time.
    feed_bytes_at(&mut s, t(18_000), &two[one + 1..]);
    assert_eq!(s.poll_timeout(), Some(t(300_000)));
}

#[test]
fn no_frame_deadline_while_the_session_takes_no_frames() {
    let mut s = open();
    let frame = ms(crate::DEFAULT_FRAME_TIMEOUT);
    // Requests without reading the answers: the session stops taking frames at the backlog, with a
    // partial frame left in its input.
    let lists: Vec<_> = (1..=MAX_CONTROL_BACKLOG as u32 + 1)
        .map(|id| req(id, Message::list_all()))
        .collect();
    let mut bytes = wire(&lists);
    bytes.truncate(bytes.len() - 3);
    assert_eq!(feed_bytes_at(&mut s, t(0), &bytes), 0);
    assert!(!s.input.is_empty() && s.read_room() == 0);
    // The wait is for the client to read, not for its frame: only the send deadline runs.
    let send = ms(crate::DEFAULT_SEND_TIMEOUT);
    assert_eq!(s.poll_timeout(), Some(t(send)));
    // The client reads an answer at 25 s, so the session takes frames again: the partial frame has
    // the frame time from then.
    write_at(&mut s, t(25_000)).unwrap();
    assert!(s.read_room() > 0);
    s.handle_timeout(t(25_000 + frame - 1));
    assert!(!s.is_closing());
    s.handle_timeout(t(25_000 + frame));
    let out = sent_at(&mut s, t(25_000 + frame));
    assert_eq!(error_code(out.last().unwrap()), (0, ErrorCode::IdleTimeout));
}
