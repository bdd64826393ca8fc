//! The frame codec: what each end spends per frame before any socket is involved.

use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use jukebox_bench::wire::Request;
use jukebox_protocol::codec::data_header;
use jukebox_protocol::{
    decode_frame, encode_frame, Frame, FrameHeader, Message, Piece, StreamDecoder, MAX_DATA_PAYLOAD,
};

fn data_frame() -> Frame {
    Frame {
        request_id: 7,
        message: Message::Data {
            end: true,
            bytes: Bytes::from(vec![0x5a; MAX_DATA_PAYLOAD]),
        },
    }
}

fn codec(c: &mut Criterion) {
    let request = Frame {
        request_id: 9,
        message: Message::GetSegment { song: 3, index: 41 },
    };
    let mut wire = BytesMut::new();
    encode_frame(&request, &mut wire);
    let request_wire = wire.freeze();

    c.bench_function("encode GET_SEGMENT", |b| {
        let mut buf = BytesMut::with_capacity(64);
        b.iter(|| {
            buf.clear();
            encode_frame(black_box(&request), &mut buf);
        })
    });
    c.bench_function("decode GET_SEGMENT", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(&request_wire[..]);
            black_box(decode_frame(&mut buf).unwrap())
        })
    });
    c.bench_function("parse header", |b| {
        let header: [u8; 12] = request_wire[..12].try_into().unwrap();
        b.iter(|| black_box(FrameHeader::parse(black_box(&header)).unwrap()))
    });
    c.bench_function("DATA header (server, payload shared)", |b| {
        b.iter(|| black_box(data_header(black_box(7), black_box(MAX_DATA_PAYLOAD), true)))
    });
    c.bench_function("bench request on the stack", |b| {
        b.iter(|| black_box(Request::get_segment(black_box(9), 3, 41).as_bytes()[0]))
    });

    let data = data_frame();
    let mut data_wire = BytesMut::new();
    encode_frame(&data, &mut data_wire);
    let data_wire = data_wire.freeze();
    let mut group = c.benchmark_group("16 KiB DATA");
    group.throughput(Throughput::Bytes(data_wire.len() as u64));
    group.bench_function("encode (copying)", |b| {
        let mut buf = BytesMut::with_capacity(data_wire.len());
        b.iter(|| {
            buf.clear();
            encode_frame(black_box(&data), &mut buf);
        })
    });
    group.bench_function("decode (protocol crate)", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(&data_wire[..]);
            black_box(decode_frame(&mut buf).unwrap())
        })
    });
    group.bench_function("skim (StreamDecoder, no copy)", |b| {
        let mut decoder = StreamDecoder::new();
        b.iter(|| {
            let mut seen = 0;
            let mut input = black_box(&data_wire[..]);
            while let Some(piece) = decoder.next(&mut input).unwrap() {
                if let Piece::Data { bytes, .. } = piece {
                    seen += bytes.len();
                }
            }
            black_box(seen)
        })
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
