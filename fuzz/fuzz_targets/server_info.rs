//! Arbitrary bytes as the WELCOME document: the parser must never panic, and what it accepts must
//! name its catalog by a well-formed digest and survive a round trip through its encoder.
#![no_main]

use jukebox_protocol::ServerInfo;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(info) = ServerInfo::from_json(data) else {
        return;
    };
    assert_eq!(info.catalog.len(), 64);
    assert!(info
        .catalog
        .bytes()
        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    assert!(info.max_page > 0);
    let again = ServerInfo::from_json(&info.to_json()).expect("encoded server information parses");
    assert_eq!(again, info);
});
