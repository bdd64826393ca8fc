//! Measures listing and search on a running server, one request at a time over one connection
//! (segmenter/scripts/library-bench.sh runs it):
//!
//! - `library_client page ADDR LIMIT`: pages through the whole list, LIMIT songs a page, and prints
//!   the songs seen and each page's latency (p50, p99, max).
//! - `library_client search ADDR REPEAT QUERY...`: asks each query's first page REPEAT times and
//!   prints its matches and latency (p50, p99, max).
//!
//! Usage: cargo run --release -p jukebox-server --example library_client -- page 127.0.0.1:5853 500

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use jukebox_protocol::{decode_frame, encode_frame, Frame, ListRequest, Message, Page, VERSION};

struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    next_id: u32,
}

impl Conn {
    fn open(addr: &str) -> Conn {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).unwrap();
        let mut conn = Conn {
            stream,
            buf: BytesMut::new(),
            next_id: 0,
        };
        conn.send(0, Message::Hello { version: VERSION });
        match conn.recv().message {
            Message::Welcome { .. } => conn,
            other => panic!("expected WELCOME, got {other:?}"),
        }
    }

    fn send(&mut self, request_id: u32, message: Message) {
        let mut out = BytesMut::new();
        encode_frame(
            &Frame {
                request_id,
                message,
            },
            &mut out,
        );
        self.stream.write_all(&out).expect("send");
    }

    fn recv(&mut self) -> Frame {
        loop {
            if let Some(frame) = decode_frame(&mut self.buf).expect("a valid frame") {
                return frame;
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = self.stream.read(&mut chunk).expect("read");
            assert!(n > 0, "the server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// One LIST and its PAGE, and how long the answer took.
    fn list(&mut self, request: &ListRequest) -> (Page, Duration) {
        self.next_id += 1;
        let started = Instant::now();
        self.send(self.next_id, Message::List(request.to_json().into()));
        let frame = self.recv();
        let elapsed = started.elapsed();
        match frame.message {
            Message::Page(json) => (Page::from_json(&json).expect("a valid page"), elapsed),
            other => panic!("expected PAGE, got {other:?}"),
        }
    }
}

/// p50, p99 and max of some latencies, in milliseconds.
fn summary(mut latencies: Vec<Duration>) -> String {
    latencies.sort();
    let at = |q: f64| {
        let i = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i].as_secs_f64() * 1e3
    };
    format!(
        "p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms over {} requests",
        at(0.50),
        at(0.99),
        at(1.0),
        latencies.len()
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("page") if args.len() == 3 => {
            let mut conn = Conn::open(&args[1]);
            let limit: u32 = args[2].parse().expect("a page size");
            let mut request = ListRequest {
                limit: Some(limit),
                ..ListRequest::default()
            };
            let (mut songs, mut latencies) = (0u64, Vec::new());
            let started = Instant::now();
            loop {
                let (page, elapsed) = conn.list(&request);
                latencies.push(elapsed);
                songs += page.songs.len() as u64;
                match page.next {
                    Some(next) => request.cursor = Some(next),
                    None => {
                        assert_eq!(page.total, songs, "every song listed");
                        break;
                    }
                }
            }
            println!(
                "listed {songs} songs in {:.2} s; page of {limit}: {}",
                started.elapsed().as_secs_f64(),
                summary(latencies)
            );
        }
        Some("search") if args.len() >= 4 => {
            let mut conn = Conn::open(&args[1]);
            let repeat: usize = args[2].parse().expect("a repeat count");
            for query in &args[3..] {
                let request = ListRequest {
                    query: query.clone(),
                    ..ListRequest::default()
                };
                let mut latencies = Vec::with_capacity(repeat);
                let mut total = 0;
                for _ in 0..repeat {
                    let (page, elapsed) = conn.list(&request);
                    total = page.total;
                    latencies.push(elapsed);
                }
                println!(
                    "search {query:?}: {total} matches; first page: {}",
                    summary(latencies)
                );
            }
        }
        _ => {
            eprintln!("usage: library_client page ADDR LIMIT | search ADDR REPEAT QUERY...");
            std::process::exit(2);
        }
    }
}
