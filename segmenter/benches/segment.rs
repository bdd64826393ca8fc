//! Throughput of segmenting one file held in memory: the frame walk alone, the whole of
//! `segment_bytes` (tags, frames, plan, a SHA-256 per segment), and measuring the song's loudness
//! (decoding every frame; what a catalog run adds for a new song, and `--music` for every song).
//! Run with `cargo bench -p jukebox-segmenter --bench segment`.

use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use jukebox_segmenter::mp3::{loudness, scan, tags};
use jukebox_segmenter::{segment_bytes, DEFAULT_SEGMENT_DURATION};

fn songs() -> Vec<(String, Bytes)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../music");
    let mut songs: Vec<_> = std::fs::read_dir(dir)
        .expect("bundled music")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "mp3"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, Bytes::from(std::fs::read(&p).expect("read song")))
        })
        .collect();
    songs.sort();
    songs
}

fn bench(c: &mut Criterion) {
    for (name, data) in songs() {
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.measurement_time(Duration::from_secs(3));
        group.bench_function("scan", |b| {
            b.iter(|| {
                let layout = tags::locate(&data);
                scan::scan(&data, layout.audio)
                    .expect("frames")
                    .frames
                    .len()
            })
        });
        group.bench_function("segment_bytes", |b| {
            b.iter(|| {
                segment_bytes("t", data.clone(), DEFAULT_SEGMENT_DURATION)
                    .expect("segments")
                    .segments
                    .len()
            })
        });
        let song = segment_bytes("t", data.clone(), DEFAULT_SEGMENT_DURATION).expect("segments");
        group.sample_size(10);
        group.bench_function("measure_loudness", |b| {
            b.iter(|| loudness::measure(&song.segments).expect("a loudness"))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
