//! Prints what the protocol crate decodes from a byte stream, one JSON object per frame, with the
//! field names of the Wireshark dissector (tools/wireshark/jukebox.lua), so that a script can check
//! the one against the other. The stream is one direction of a connection, as raw bytes in a file.
//!
//! Usage: cargo run -p jukebox-protocol --example frames -- STREAM_FILE
//!
//! A frame the decoder refuses ends the output with `{"invalid": CODE}`, as a receiver stops
//! there; bytes of an incomplete last frame end it with `{"partial": N}`. A JSON document is
//! given as its text and, once parsed and checked by the crate, as the `key:value` of each
//! top-level member that is not an array or object (as Wireshark's JSON dissector shows them in
//! `json.member_with_value`), or the reason the crate refuses it.

use bytes::BytesMut;
use jukebox_protocol::{decode_frame, ErrorCode, ListRequest, Manifest, Message, Page, ServerInfo};
use serde::Serialize;
use serde_json::{json, Map, Value};

fn main() {
    let path = std::env::args().nth(1).expect("usage: frames STREAM_FILE");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let mut buf = BytesMut::from(&bytes[..]);
    loop {
        let length = buf
            .get(..4)
            .map(|b| u32::from_be_bytes(b.try_into().unwrap()));
        match decode_frame(&mut buf) {
            Ok(Some(frame)) => {
                let mut out = Map::new();
                let kind = frame.message.kind();
                out.insert("jukebox.type_name".into(), kind.name().into());
                out.insert("jukebox.request_id".into(), frame.request_id.into());
                out.insert("jukebox.length".into(), length.unwrap_or(0).into());
                let fields: Vec<(&str, Value)> = match frame.message {
                    Message::Hello { version } => vec![("jukebox.version", version.into())],
                    Message::Welcome { version, info } => {
                        let mut fields = vec![("jukebox.version", version.into())];
                        fields.extend(document(&info, ServerInfo::from_json(&info)));
                        fields
                    }
                    Message::List(json) if json.is_empty() => vec![],
                    Message::List(json) => document(&json, ListRequest::from_json(&json)),
                    Message::Page(json) => document(&json, Page::from_json(&json)),
                    Message::Manifest(json) => document(&json, Manifest::from_json(&json)),
                    Message::GetManifest { song } => vec![("jukebox.song_id", song.into())],
                    Message::GetSegment { song, index } => vec![
                        ("jukebox.song_id", song.into()),
                        ("jukebox.segment_index", index.into()),
                    ],
                    Message::Data { end, bytes } => vec![
                        ("jukebox.data.length", bytes.len().into()),
                        ("jukebox.flags.end", end.into()),
                    ],
                    Message::Cancel => vec![],
                    Message::Error { code, message } => {
                        let mut fields = vec![
                            ("jukebox.error.code", code.code().into()),
                            ("jukebox.message", message.into()),
                        ];
                        if !matches!(code, ErrorCode::Other(_)) {
                            fields.push(("jukebox.error.name", code.name().into()));
                        }
                        fields
                    }
                    Message::GoAway { within_ms, message } => vec![
                        ("jukebox.goaway.within_ms", within_ms.into()),
                        ("jukebox.message", message.into()),
                    ],
                };
                out.extend(fields.into_iter().map(|(k, v)| (k.to_string(), v)));
                println!("{}", Value::Object(out));
            }
            Ok(None) => {
                if !buf.is_empty() {
                    println!("{}", json!({ "partial": buf.len() }));
                }
                return;
            }
            Err(e) => {
                println!("{}", json!({ "invalid": e.code().name() }));
                return;
            }
        }
    }
}

/// A document's text, and its scalar top-level members as the crate reads them.
fn document<T: Serialize, E: std::fmt::Display>(
    json: &[u8],
    parsed: Result<T, E>,
) -> Vec<(&'static str, Value)> {
    let mut fields = vec![(
        "jukebox.document",
        String::from_utf8_lossy(json).into_owned().into(),
    )];
    match parsed.map(|doc| serde_json::to_value(doc).expect("a document serialises")) {
        Ok(Value::Object(members)) => {
            let scalars: Vec<Value> = members
                .iter()
                .filter_map(|(key, value)| match value {
                    Value::String(s) => Some(format!("{key}:{s}").into()),
                    Value::Number(n) => Some(format!("{key}:{n}").into()),
                    Value::Bool(b) => Some(format!("{key}:{b}").into()),
                    _ => None,
                })
                .collect();
            fields.push(("json.member_with_value", scalars.into()));
        }
        Ok(other) => panic!("a document is an object, not {other}"),
        Err(e) => fields.push(("document_refused", e.to_string().into())),
    }
    fields
}
