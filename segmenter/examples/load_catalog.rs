//! Loads a catalog as `jukebox-server --catalog` does and prints what it offers, what it skipped
//! and how long loading took.
//! Usage: cargo run --release -p jukebox-segmenter --example load_catalog -- CATALOG_DIR

use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: load_catalog CATALOG_DIR");
        std::process::exit(2);
    };
    let started = Instant::now();
    match jukebox_segmenter::load_catalog(&dir) {
        Ok(loaded) => {
            let elapsed = started.elapsed();
            let segments: usize = loaded.songs.iter().map(|s| s.segment_count()).sum();
            let bytes: u64 = loaded.songs.iter().map(|s| s.audio_bytes()).sum();
            for skipped in &loaded.skipped {
                println!("skipped {}: {}", skipped.path.display(), skipped.reason);
            }
            println!(
                "{} songs, {segments} segments, {bytes} bytes of audio, loaded in {:.3} s",
                loaded.songs.len(),
                elapsed.as_secs_f64()
            );
        }
        Err(err) => {
            eprintln!("{}: {err}", dir.display());
            std::process::exit(1);
        }
    }
}
