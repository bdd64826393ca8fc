//! GOAWAY when the server drains: queued ahead of DATA with the time left, once; after the WELCOME
//! when the HELLO has not come; none on a failing connection; requests still served; the
//! connection closed when the client has left, or at the drain's end.

use super::*;
use crate::session::Closed;

fn goaway(within_ms: u32) -> Frame {
    req(
        0,
        Message::GoAway {
            within_ms,
            message: "the server is shutting down; connect again".into(),
        },
    )
}

#[test]
fn goaway_overtakes_a_transfer_which_goes_on_and_requests_are_still_served() {
    let mut s = open();
    feed(&mut s, &[req(1, Message::GetSegment { song: 1, index: 3 })]);
    let first = next(&mut s).unwrap();
    assert!(matches!(first.message, Message::Data { end: false, .. }));
    s.handle_drain(t(0), t(5_000));
    s.handle_drain(t(1), t(2));
    assert!(s.is_going_away());
    let rest = exchange(&mut s, &[req(2, Message::GetManifest { song: 2 })]);
    assert_eq!(rest[0], goaway(5_000), "one GOAWAY, ahead of DATA");
    assert!(matches!(rest[1].message, Message::Manifest(_)));
    assert!(matches!(
        rest.last().unwrap().message,
        Message::Data { end: true, .. }
    ));
    assert_eq!(rest.len(), 4);
    // The client has moved: it closes its side, and the connection ends as any other.
    s.handle_eof(t(10));
    assert_eq!(s.poll_transmit(), Some(Transmit::Close(Closed::Finished)));
}

#[test]
fn goaway_before_hello_follows_the_welcome_with_the_time_left() {
    let mut s = session();
    s.handle_drain(t(0), t(1_000));
    feed_at(&mut s, t(400), &[hello()]);
    let frames = sent_at(&mut s, t(400));
    assert!(matches!(frames[0].message, Message::Welcome { .. }));
    assert_eq!(frames[1], goaway(600));
    assert_eq!(frames.len(), 2);
}

#[test]
fn a_client_that_stays_is_closed_at_the_drain_s_end() {
    let mut s = open();
    s.handle_drain(t(0), t(1_000));
    assert_eq!(sent(&mut s), [goaway(1_000)]);
    assert_eq!(s.poll_timeout(), Some(t(1_000)));
    s.handle_timeout(t(1_000));
    assert_eq!(s.poll_transmit(), Some(Transmit::Close(Closed::Drained)));
}

#[test]
fn no_goaway_on_a_failing_connection() {
    let mut s = open();
    feed(&mut s, &[req(0, Message::GetManifest { song: 2 })]);
    s.handle_drain(t(0), t(1_000));
    let frames = sent(&mut s);
    assert_eq!(frames.len(), 1);
    assert!(matches!(frames[0].message, Message::Error { .. }));
}
