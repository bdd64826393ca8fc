//! How frames are written: MSG_MORE for a client that keeps up, uncorking when nothing follows,
//! small frames and a check for room for a slow client, partial writes and several frames per
//! write.

use jukebox_protocol::{Message, HEADER_LEN, MAX_DATA_PAYLOAD};

use super::*;
use crate::session::{SLOW_DATA_PAYLOAD, SLOW_FRAMES};

fn ms(duration: std::time::Duration) -> u64 {
    duration.as_millis() as u64
}

/// An open session with song 1's segment 3 (40,000 bytes: three full frames' worth) requested
/// `count` times, as requests 1, 2, ...
fn transferring(limits: Limits, count: u32) -> Session {
    let mut s = Session::new(store(), limits, t(0));
    feed(&mut s, &[hello()]);
    sent(&mut s);
    let requests: Vec<_> = (1..=count)
        .map(|id| req(id, Message::GetSegment { song: 1, index: 3 }))
        .collect();
    feed(&mut s, &requests);
    s
}

/// Polls for the next write, which must be one, and does it whole at `now`: returns whether it
/// carried MSG_MORE and its DATA payload sizes.
fn write_whole(s: &mut Session, now: Instant) -> (bool, Vec<usize>) {
    let Some(Transmit::Write { more }) = s.poll_transmit() else {
        panic!("expected a write");
    };
    let bytes = written(s);
    s.handle_written(now, bytes.len());
    let sizes = decode(&bytes)
        .into_iter()
        .map(|f| match f.message {
            Message::Data { bytes, .. } => bytes.len(),
            other => panic!("expected DATA, got {other:?}"),
        })
        .collect();
    (more, sizes)
}

#[test]
fn a_client_that_keeps_up_gets_full_frames_with_msg_more_on_all_but_the_last() {
    let mut s = transferring(limits(3), 1);
    assert_eq!(write_whole(&mut s, t(0)), (true, vec![MAX_DATA_PAYLOAD]));
    assert_eq!(write_whole(&mut s, t(0)), (true, vec![MAX_DATA_PAYLOAD]));
    assert_eq!(write_whole(&mut s, t(0)), (false, vec![7_232]));
    assert_eq!(
        s.poll_transmit(),
        None,
        "nothing held back, nothing to uncork"
    );
}

#[test]
fn a_control_response_is_written_without_msg_more_and_sends_what_was_held_back() {
    let mut s = transferring(limits(3), 1);
    assert!(write_whole(&mut s, t(0)).0);
    feed(&mut s, &[req(9, Message::list_all())]);
    assert_eq!(s.poll_transmit(), Some(Transmit::Write { more: false }));
    let page = written(&s);
    s.handle_written(t(0), page.len());
    assert!(matches!(decode(&page)[0].message, Message::Page(_)));
    assert_eq!(write_whole(&mut s, t(0)), (true, vec![MAX_DATA_PAYLOAD]));
}

#[test]
fn a_cancelled_transfer_sends_what_was_held_back() {
    let mut s = transferring(limits(3), 1);
    assert!(write_whole(&mut s, t(0)).0);
    feed(&mut s, &[req(1, Message::Cancel)]);
    assert_eq!(s.poll_transmit(), Some(Transmit::Uncork));
    assert_eq!(s.poll_transmit(), None);
}

#[test]
fn a_refused_write_sends_what_was_held_back_and_makes_the_client_slow() {
    let mut s = transferring(limits(3), 2);
    assert!(write_whole(&mut s, t(0)).0);
    // The second frame, cut before, is refused.
    assert_eq!(s.poll_transmit(), Some(Transmit::Write { more: true }));
    s.handle_write_refused();
    assert_eq!(s.poll_transmit(), Some(Transmit::Uncork));
    // Slow: before every write a check for room below the mark, and no MSG_MORE (held-back bytes
    // would count as unsent); frames cut from now on are small.
    let mut sizes = Vec::new();
    while let Some(transmit) = s.poll_transmit() {
        assert_eq!(transmit, Transmit::CheckRoom);
        s.handle_room();
        let (more, mut written) = write_whole(&mut s, t(1));
        assert!(!more);
        sizes.append(&mut written);
    }
    let mut expected = vec![MAX_DATA_PAYLOAD, SLOW_DATA_PAYLOAD];
    expected.push(40_000 - 2 * MAX_DATA_PAYLOAD - SLOW_DATA_PAYLOAD);
    expected.extend([SLOW_DATA_PAYLOAD; 9]);
    expected.push(40_000 - 9 * SLOW_DATA_PAYLOAD);
    assert_eq!(sizes, expected);
}

#[test]
fn a_slow_client_without_room_waits_for_the_kernel_not_for_a_timer() {
    let mut s = transferring(limits(3), 1);
    assert!(matches!(s.poll_transmit(), Some(Transmit::Write { .. })));
    s.handle_write_refused();
    assert_eq!(s.poll_transmit(), Some(Transmit::CheckRoom));
    // No room: nothing is written, and nothing is due but the deadlines; the shell waits for the
    // kernel to report the socket writable, then asks again.
    s.handle_write_refused();
    assert_eq!(s.poll_transmit(), Some(Transmit::CheckRoom));
    assert_eq!(
        s.poll_timeout(),
        Some(t(ms(crate::DEFAULT_SEND_TIMEOUT))),
        "only the send deadline runs"
    );
    s.handle_room();
    assert_eq!(s.poll_transmit(), Some(Transmit::Write { more: false }));
}

#[test]
fn a_slow_client_keeps_up_again_after_enough_frames_unrefused() {
    let mut s = transferring(limits(16), 4);
    assert!(matches!(s.poll_transmit(), Some(Transmit::Write { .. })));
    s.handle_write_refused();
    // No room counts as a refusal: the count of frames starts after it.
    assert_eq!(s.poll_transmit(), Some(Transmit::CheckRoom));
    s.handle_write_refused();
    let mut sizes = Vec::new();
    for _ in 0..SLOW_FRAMES {
        assert_eq!(s.poll_transmit(), Some(Transmit::CheckRoom));
        s.handle_room();
        let (more, written) = write_whole(&mut s, t(10));
        assert!(!more);
        sizes.extend(written);
    }
    // The refused full frame, the rest of the first segment and most of the second, in small
    // frames.
    assert_eq!(sizes.iter().sum::<usize>(), 40_000 + 9 * SLOW_DATA_PAYLOAD);
    // Keeping up again: no room is asked for, frames are full, MSG_MORE is back.
    assert_eq!(
        write_whole(&mut s, t(20)),
        (false, vec![40_000 - 9 * SLOW_DATA_PAYLOAD])
    );
    assert_eq!(write_whole(&mut s, t(20)), (true, vec![MAX_DATA_PAYLOAD]));
}

#[test]
fn without_a_low_water_mark_no_room_is_asked_for() {
    let limits = Limits {
        notsent_lowat: None,
        ..limits(3)
    };
    let mut s = transferring(limits, 1);
    assert!(matches!(s.poll_transmit(), Some(Transmit::Write { .. })));
    s.handle_write_refused();
    // Slow all the same: small frames, no MSG_MORE, but no mark to ask about.
    assert_eq!(write_whole(&mut s, t(0)), (false, vec![MAX_DATA_PAYLOAD]));
    assert_eq!(write_whole(&mut s, t(0)), (false, vec![SLOW_DATA_PAYLOAD]));
}

#[test]
fn a_partial_write_leaves_the_rest_of_the_frame_for_the_next() {
    let mut s = transferring(limits(3), 1);
    assert!(matches!(s.poll_transmit(), Some(Transmit::Write { .. })));
    let whole = written(&s);
    s.handle_written(t(0), 5);
    assert!(!s.next_is_data(), "the frame under way comes first");
    assert!(matches!(s.poll_transmit(), Some(Transmit::Write { .. })));
    assert_eq!(written(&s), whole[5..]);
    s.handle_written(t(0), HEADER_LEN);
    assert_eq!(written(&s), whole[5 + HEADER_LEN..]);
    s.handle_written(t(0), whole.len() - 5 - HEADER_LEN);
    assert!(s.next_is_data());
}

#[test]
fn several_frames_per_write_go_out_together() {
    let limits = Limits {
        data_frames_per_write: 3,
        ..limits(3)
    };
    let mut s = transferring(limits, 2);
    // A whole segment in one write, the last frame with END: nothing to hold back.
    assert_eq!(
        write_whole(&mut s, t(0)),
        (false, vec![MAX_DATA_PAYLOAD, MAX_DATA_PAYLOAD, 7_232])
    );
    let (_, sizes) = write_whole(&mut s, t(0));
    assert_eq!(sizes, [MAX_DATA_PAYLOAD, MAX_DATA_PAYLOAD, 7_232]);
}
