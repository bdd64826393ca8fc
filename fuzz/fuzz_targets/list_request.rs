//! Arbitrary bytes as a LIST payload: the parser must never panic, and what it accepts must obey
//! the list request's rules and survive a round trip through its encoder.
#![no_main]

use jukebox_protocol::page::{MAX_CURSOR_BYTES, MAX_QUERY_BYTES};
use jukebox_protocol::ListRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = ListRequest::from_json(data) else {
        return;
    };
    assert!(request.query.len() <= MAX_QUERY_BYTES);
    assert!(request
        .cursor
        .as_ref()
        .is_none_or(|c| c.len() <= MAX_CURSOR_BYTES));
    assert_ne!(request.limit, Some(0));
    let again = ListRequest::from_json(&request.to_json()).expect("an encoded request parses");
    assert_eq!(again, request);
});
