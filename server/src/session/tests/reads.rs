//! Catalog segments read from disk: asked for, answered in any order, failed, cancelled; and
//! proptests over arbitrary input and arbitrary orders of reads.

use bytes::{Bytes, BytesMut};
use jukebox_protocol::{ErrorCode, Frame, Message};

use super::*;
use crate::session::{SegmentRead, Ticket};

/// A session over song 1 (in memory) and song 5, on disk: segments of 10 and 20,000 bytes.
pub(super) fn open_with_disk() -> Session {
    let store = Arc::new(Store::new(vec![
        song(1, &[b"a", b"memory"]),
        crate::test_songs::on_disk(5, &[10, 20_000]),
    ]));
    let mut s = Session::new(store, limits(3), t(0));
    assert_eq!(exchange(&mut s, &[hello()]).len(), 1);
    s
}

pub(super) fn reads(s: &mut Session) -> Vec<SegmentRead> {
    std::iter::from_fn(|| s.poll_read()).collect()
}

fn abandoned(s: &mut Session) -> Vec<Ticket> {
    std::iter::from_fn(|| s.poll_abandoned()).collect()
}

#[test]
fn a_disk_segment_is_asked_for_and_sent_when_read() {
    let mut s = open_with_disk();
    assert!(exchange(&mut s, &[req(1, Message::GetSegment { song: 5, index: 1 })]).is_empty());
    assert!(!s.is_idle() && !s.next_is_data());
    let asked = reads(&mut s);
    assert_eq!(asked.len(), 1);
    assert_eq!((asked[0].song, asked[0].index), (5, 1));
    assert!(reads(&mut s).is_empty(), "a read is asked for once");
    // Control requests are answered while the read is under way.
    let out = exchange(&mut s, &[req(2, Message::list_all())]);
    assert!(matches!(
        out[..],
        [Frame {
            request_id: 2,
            message: Message::Page(_)
        }]
    ));
    let segment = Bytes::from(vec![3; 20_000]);
    s.handle_segment_read(t(0), asked[0].ticket, Ok(segment.clone()));
    assert!(s.next_is_data());
    assert!(matches!(s.poll_transmit(), Some(Transmit::Write { .. })));
    let mut slices = [std::io::IoSlice::new(&[]); 2];
    s.write_slices(&mut slices);
    assert_eq!(
        slices[1].as_ptr(),
        segment.as_ptr(),
        "the read buffer is sent, not a copy"
    );
    let out = sent(&mut s);
    assert_eq!(out.len(), 2);
    assert!(matches!(out[1].message, Message::Data { end: true, .. }));
    assert!(s.is_idle());
}

#[test]
fn transfers_keep_their_order_behind_a_read() {
    let mut s = open_with_disk();
    let out = exchange(
        &mut s,
        &[
            req(1, Message::GetSegment { song: 5, index: 0 }),
            req(2, Message::GetSegment { song: 1, index: 1 }),
        ],
    );
    assert!(
        out.is_empty(),
        "the in-memory segment waits its turn: {out:?}"
    );
    let read = reads(&mut s)[0];
    s.handle_segment_read(t(0), read.ticket, Ok(Bytes::from_static(b"from disk!")));
    let out = sent(&mut s);
    let ids: Vec<u32> = out.iter().map(|f| f.request_id).collect();
    assert_eq!(ids, [1, 2]);
    assert_eq!(data(&out, 1), b"from disk!");
    assert_eq!(data(&out, 2), b"memory");
}

#[test]
fn a_failed_read_is_an_internal_error_and_the_rest_goes_on() {
    let mut s = open_with_disk();
    exchange(
        &mut s,
        &[
            req(1, Message::GetSegment { song: 5, index: 0 }),
            req(2, Message::GetSegment { song: 1, index: 0 }),
        ],
    );
    let read = reads(&mut s)[0];
    s.handle_segment_read(
        t(0),
        read.ticket,
        Err("segment 0 of song 5 cannot be read".into()),
    );
    let out = sent(&mut s);
    assert_eq!(error_code(&out[0]), (1, ErrorCode::Internal));
    assert_eq!(data(&out[1..], 2), b"a");
    assert!(!s.is_closing());
    // An empty read cannot be sent either.
    exchange(&mut s, &[req(3, Message::GetSegment { song: 5, index: 1 })]);
    let read = reads(&mut s)[0];
    s.handle_segment_read(t(0), read.ticket, Ok(Bytes::new()));
    assert_eq!(error_code(&sent(&mut s)[0]), (3, ErrorCode::Internal));
    assert!(s.is_idle());
}

#[test]
fn cancel_while_reading_abandons_the_read() {
    let mut s = open_with_disk();
    exchange(&mut s, &[req(1, Message::GetSegment { song: 5, index: 1 })]);
    let old = reads(&mut s)[0];
    assert!(exchange(&mut s, &[req(1, Message::Cancel)]).is_empty());
    assert_eq!(abandoned(&mut s), [old.ticket]);
    assert!(s.is_idle());
    // The client may use the ID again at once; the old read's bytes are not for the new request.
    exchange(&mut s, &[req(1, Message::GetSegment { song: 5, index: 0 })]);
    let new = reads(&mut s)[0];
    assert_ne!(new.ticket, old.ticket);
    s.handle_segment_read(t(0), old.ticket, Ok(Bytes::from_static(b"stale")));
    assert!(sent(&mut s).is_empty());
    s.handle_segment_read(t(0), new.ticket, Ok(Bytes::from_static(b"fresh")));
    assert_eq!(data(&sent(&mut s), 1), b"fresh");
}

#[test]
fn a_read_cancelled_before_the_shell_took_it_is_never_asked_for() {
    let mut s = open_with_disk();
    exchange(
        &mut s,
        &[
            req(1, Message::GetSegment { song: 5, index: 1 }),
            req(1, Message::Cancel),
        ],
    );
    assert!(reads(&mut s).is_empty());
    assert!(abandoned(&mut s).is_empty());
    assert!(s.is_idle());
}

#[test]
fn disk_songs_are_checked_like_the_others_and_count_against_the_queue() {
    let mut s = open_with_disk(); // max 3 queued
    let out = exchange(
        &mut s,
        &[
            req(1, Message::GetSegment { song: 5, index: 2 }),
            req(2, Message::GetSegment { song: 5, index: 0 }),
            req(3, Message::GetSegment { song: 5, index: 1 }),
            req(4, Message::GetSegment { song: 5, index: 0 }),
            req(5, Message::GetSegment { song: 5, index: 0 }),
        ],
    );
    assert_eq!(error_code(&out[0]), (1, ErrorCode::SegmentOutOfRange));
    assert_eq!(error_code(&out[1]), (5, ErrorCode::TooManyRequests));
    // Three queued, one read: the front one.
    assert_eq!(reads(&mut s).len(), 1);
    // A fatal error drops every transfer and abandons the read.
    s.fail(t(0), ErrorCode::IdleTimeout, "idle");
    assert_eq!(abandoned(&mut s).len(), 1);
}

#[test]
fn a_segment_is_read_only_when_it_is_next_to_send() {
    let mut s = open_with_disk();
    exchange(
        &mut s,
        &[
            req(1, Message::GetSegment { song: 5, index: 1 }),
            req(2, Message::GetSegment { song: 5, index: 0 }),
            req(3, Message::GetSegment { song: 5, index: 1 }),
        ],
    );
    let first = reads(&mut s);
    assert_eq!(first.len(), 1, "one read, however many are queued");
    assert_eq!((first[0].song, first[0].index), (5, 1));
    s.handle_segment_read(t(0), first[0].ticket, Ok(Bytes::from(vec![1; 20_000])));
    assert!(
        reads(&mut s).is_empty(),
        "held: one segment, the one being sent"
    );
    // The first frame of request 1 goes; the next read waits until its last frame is taken.
    assert!(next(&mut s).is_some());
    assert!(reads(&mut s).is_empty());
    let last = next(&mut s).unwrap();
    assert!(matches!(last.message, Message::Data { end: true, .. }));
    let second = reads(&mut s);
    assert_eq!((second.len(), second[0].index), (1, 0));
    // A failed read gives the front to the next transfer, whose read is asked for at once.
    s.handle_segment_read(t(0), second[0].ticket, Err("gone".into()));
    let third = reads(&mut s);
    assert_eq!((third.len(), third[0].index), (1, 1));
    // Cancelling the front transfer while it is read abandons its read; nothing else is queued.
    exchange(&mut s, &[req(4, Message::GetSegment { song: 5, index: 0 })]);
    assert!(reads(&mut s).is_empty());
    feed(&mut s, &[req(3, Message::Cancel)]);
    assert_eq!(abandoned(&mut s), [third[0].ticket]);
    let fourth = reads(&mut s);
    assert_eq!((fourth.len(), fourth[0].index), (1, 0));
}

proptest::proptest! {
    /// Whatever bytes arrive, in whatever pieces, the session never panics, sends only
    /// well-formed frames, and once it closes its last frame is a connection-level ERROR.
    #[test]
    fn arbitrary_input_is_handled(
        chunks in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..40), 0..20),
        after_hello in proptest::bool::ANY,
    ) {
        let mut s = if after_hello { open() } else { session() };
        let mut sent = Vec::new();
        for chunk in chunks {
            feed_bytes_at(&mut s, t(0), &chunk);
            sent.extend(sent_at(&mut s, t(0)));
        }
        if s.is_closing() {
            let last = sent.last().expect("a closing session sent its error");
            proptest::prop_assert_eq!(last.request_id, 0);
            let is_error = matches!(last.message, Message::Error { .. });
            proptest::prop_assert!(is_error);
        }
    }

    /// Segment requests for songs in memory and on disk, cancels, reads finishing or failing in
    /// any order, and frames taken at any time: transfers still go out one at a time in
    /// request order, each whole or answered with an error, nothing after a cancel's effect.
    #[test]
    fn reads_finishing_in_any_order_keep_transfers_in_order(
        ops in proptest::collection::vec((0u8..4, 0u32..3, proptest::bool::ANY, 0usize..8), 1..60),
    ) {
        let mut s = open_with_disk();
        let disk_bytes = |index: u32| Bytes::from(vec![index as u8 + 1; [10, 20_000][index as usize]]);
        let mut pending: Vec<SegmentRead> = Vec::new();
        let mut requests: Vec<(u32, u64, u32)> = Vec::new(); // (id, song, index)
        let mut cancelled = std::collections::HashSet::new();
        let mut out = Vec::new();
        let mut id = 0;
        let resolve = |s: &mut Session, pending: &mut Vec<SegmentRead>, pick: usize, ok: bool| {
            if pending.is_empty() {
                return;
            }
            let read = pending.remove(pick % pending.len());
            let result = if ok { Ok(disk_bytes(read.index)) } else { Err("gone".to_string()) };
            s.handle_segment_read(t(0), read.ticket, result);
        };
        for (op, index, flag, pick) in ops {
            match op {
                0 => {
                    id += 1;
                    let song = if flag { 5 } else { 1 };
                    let index = index.min(1);
                    feed(&mut s, &[req(id, Message::GetSegment { song, index })]);
                    requests.push((id, song, index));
                }
                1 if id > 0 => {
                    let victim = pick as u32 % id + 1;
                    feed(&mut s, &[req(victim, Message::Cancel)]);
                    cancelled.insert(victim);
                }
                // Most reads succeed; one in six fails.
                2 => resolve(&mut s, &mut pending, pick, flag || pick % 3 != 0),
                _ => out.extend(next(&mut s)),
            }
            pending.extend(reads(&mut s));
            let gone = abandoned(&mut s);
            pending.retain(|r| !gone.contains(&r.ticket));
            // Only the front transfer is read: one read at a time, however many are queued.
            proptest::prop_assert!(pending.len() <= 1, "{} reads at once", pending.len());
        }
        // Finish every read and send everything: each read is asked for as its transfer comes
        // to the front.
        loop {
            while !pending.is_empty() {
                resolve(&mut s, &mut pending, 0, true);
                pending.extend(reads(&mut s));
            }
            out.extend(sent(&mut s));
            pending.extend(reads(&mut s));
            if pending.is_empty() {
                break;
            }
        }
        proptest::prop_assert!(s.is_idle());
        proptest::prop_assert!(!s.is_closing());
        // DATA frames go out one transfer at a time, in request order.
        let mut order: Vec<u32> = Vec::new();
        for frame in &out {
            if matches!(frame.message, Message::Data { .. }) && order.last() != Some(&frame.request_id) {
                proptest::prop_assert!(!order.contains(&frame.request_id), "transfers interleaved: {order:?}");
                order.push(frame.request_id);
            }
        }
        proptest::prop_assert!(order.windows(2).all(|w| w[0] < w[1]), "out of order: {order:?}");
        for (id, song, index) in requests {
            let mine: Vec<&Frame> = out.iter().filter(|f| f.request_id == id).collect();
            let errors = mine.iter().filter(|f| matches!(f.message, Message::Error { .. })).count();
            let bytes = data(&out.iter().filter(|f| matches!(f.message, Message::Data { .. })).cloned().collect::<Vec<_>>(), id);
            let ended = mine.iter().any(|f| matches!(f.message, Message::Data { end: true, .. }));
            let expected = if song == 5 { disk_bytes(index).to_vec() } else { [&b"a"[..], b"memory"][index as usize].to_vec() };
            if errors > 0 {
                proptest::prop_assert_eq!(mine.len(), 1, "an error and more for {}", id);
            } else if ended {
                proptest::prop_assert_eq!(bytes, expected);
            } else {
                // Neither finished nor refused: only a cancelled request may end so.
                proptest::prop_assert!(cancelled.contains(&id), "request {} unanswered", id);
                proptest::prop_assert!(expected.starts_with(&bytes));
            }
        }
    }

    /// Valid requests in any order: every GET_SEGMENT gets an error or its whole segment.
    #[test]
    fn every_segment_request_is_answered(
        requests in proptest::collection::vec((0u64..4, 0u32..6, proptest::bool::ANY), 1..30),
    ) {
        let mut s = open();
        let store = s.store.clone();
        let mut expected = Vec::new();
        let mut frames = Vec::new();
        for (i, (song, index, list)) in requests.into_iter().enumerate() {
            let id = i as u32 + 1;
            frames.push(if list {
                req(id, Message::list_all())
            } else {
                expected.push((id, song, index));
                req(id, Message::GetSegment { song, index })
            });
        }
        let mut wire = wire(&frames);
        let mut out = Vec::new();
        // Feed the requests 20 bytes at a time and take one answer between feeds, so that
        // requests arrive while transfers are under way.
        while !wire.is_empty() || !s.is_idle() {
            let piece: BytesMut = wire.split_to(wire.len().min(20));
            proptest::prop_assert_eq!(feed_bytes_at(&mut s, t(0), &piece), 0);
            out.extend(next(&mut s));
        }
        proptest::prop_assert!(s.input.is_empty());
        for (id, song, index) in expected {
            let mine: Vec<&Frame> = out.iter().filter(|f| f.request_id == id).collect();
            match held(&store, song, index) {
                Ok(_) if mine.len() == 1 && matches!(
                    mine[0].message,
                    Message::Error { code: ErrorCode::TooManyRequests, .. }
                ) => {}
                Ok(segment) => {
                    let mut bytes = Vec::new();
                    for (k, frame) in mine.iter().enumerate() {
                        let Message::Data { end, bytes: b } = &frame.message else {
                            return Err(proptest::test_runner::TestCaseError::fail(format!("{frame:?}")));
                        };
                        proptest::prop_assert_eq!(*end, k + 1 == mine.len());
                        bytes.extend_from_slice(b);
                    }
                    proptest::prop_assert_eq!(&bytes[..], segment.as_ref());
                }
                Err(_) => {
                    proptest::prop_assert_eq!(mine.len(), 1);
                    let is_error = matches!(mine[0].message, Message::Error { .. });
                    proptest::prop_assert!(is_error);
                }
            }
        }
    }
}
