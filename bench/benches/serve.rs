//! Serving a segment: the server's per-request work without a socket (the session cutting a segment
//! into DATA frames over the shared buffer), and a whole request through a real loopback connection
//! to an in-process server. The segment is segment 1 of the first bundled song: 2 s of 128 kbit/s
//! audio, about 32 KB.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use jukebox_bench::conn::Conn;
use jukebox_protocol::{encode_frame, Frame, Manifest, Message, VERSION};
use jukebox_server::session::{Limits, Session, Transmit};
use jukebox_server::{Config, Server, Store};

/// The bundled songs, segmented as the server loads them, and the first song's ID (an ID comes
/// from the song's audio, so it is learnt, not assumed).
fn store() -> (Arc<Store>, u64) {
    let music = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../music");
    let loaded = jukebox_segmenter::load_dir(&music, jukebox_segmenter::DEFAULT_SEGMENT_DURATION)
        .expect("bundled music loads");
    let first = loaded.songs.first().expect("a bundled song").manifest.id;
    (Arc::new(Store::new(loaded.songs)), first)
}

fn wire(frame: Frame) -> BytesMut {
    let mut buf = BytesMut::new();
    encode_frame(&frame, &mut buf);
    buf
}

/// Writes everything the session has to send, as to a socket that takes it all; returns the bytes.
fn send_all(session: &mut Session) -> usize {
    let mut sent = 0;
    while let Some(Transmit::Write { .. }) = session.poll_transmit() {
        let mut slices = [std::io::IoSlice::new(&[]); 2];
        let count = session.write_slices(&mut slices);
        let n: usize = slices[..count].iter().map(|s| s.len()).sum();
        session.handle_written(Instant::now(), n);
        sent += n;
    }
    sent
}

fn serve(c: &mut Criterion) {
    let (store, song) = store();
    // The segment's size, as the server's manifest gives it to a client.
    let manifest = store.manifest_json(song).expect("the song's manifest");
    let segment = Manifest::from_json(&manifest)
        .expect("a valid manifest")
        .segments[1]
        .bytes;
    let mut group = c.benchmark_group("serve one segment");
    group.throughput(Throughput::Bytes(u64::from(segment)));

    group.bench_function("session (no socket)", |b| {
        let limits = Limits::from(&Config::default());
        let mut session = Session::new(store.clone(), limits, Instant::now());
        let hello = wire(Frame {
            request_id: 0,
            message: Message::Hello { version: VERSION },
        });
        session.handle_input(Instant::now(), &hello);
        send_all(&mut session);
        let request = wire(Frame {
            request_id: 1,
            message: Message::GetSegment { song, index: 1 },
        });
        b.iter(|| {
            session.handle_input(Instant::now(), &request);
            black_box(send_all(&mut session))
        })
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr: SocketAddr = runtime.block_on(async {
        let config = Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..Config::default()
        };
        let server = Server::bind(config, store.clone()).await.unwrap();
        let addr = server.local_addr();
        tokio::spawn(server.run());
        addr
    });
    let mut conn = runtime.block_on(Conn::open(addr, 64 * 1024)).unwrap();
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("loopback round trip", |b| {
        b.iter(|| {
            runtime
                .block_on(conn.segment(song, 1, |_| {}))
                .expect("segment served")
        })
    });
    group.finish();
}

criterion_group!(benches, serve);
criterion_main!(benches);
