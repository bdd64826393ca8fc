//! Prints, for each mp3 given, the loudness its manifest would carry and what measuring it costs:
//! the song's duration, the time to segment it and the time to decode and measure it (one core).
//! Usage: cargo run --release -p jukebox-segmenter --example loudness -- FILE...

use std::path::Path;
use std::time::Instant;

use jukebox_segmenter::mp3::loudness;
use jukebox_segmenter::{segment_file, DEFAULT_SEGMENT_DURATION};

fn main() {
    println!("file\tseconds\tsegment_ms\tmeasure_ms\tloudness_lufs\ttrue_peak_dbtp");
    for arg in std::env::args_os().skip(1) {
        let path = Path::new(&arg);
        let started = Instant::now();
        let song = match segment_file(path, DEFAULT_SEGMENT_DURATION) {
            Ok(song) => song,
            Err(err) => {
                println!("{}: {err}", path.display());
                continue;
            }
        };
        let segmented = started.elapsed();
        let started = Instant::now();
        let measured = loudness::measure(&song.segments);
        let measuring = started.elapsed();
        let (lufs, peak) = match measured {
            Some(l) => (l.integrated_lufs.to_string(), l.true_peak_dbtp.to_string()),
            None => ("-".into(), "-".into()),
        };
        println!(
            "{}\t{:.1}\t{:.1}\t{:.1}\t{lufs}\t{peak}",
            path.display(),
            song.manifest.duration_ms as f64 / 1000.0,
            segmented.as_secs_f64() * 1000.0,
            measuring.as_secs_f64() * 1000.0,
        );
    }
}
