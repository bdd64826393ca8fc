//! Opens a catalog as `jukebox-server --catalog` does and prints what it offers and how long that
//! took; with `--check`, also reads every song's manifest and checks its segment files, as a tool
//! may (a server never does).
//! Usage: cargo run --release -p jukebox-segmenter --example open_catalog -- CATALOG_DIR [--check]

use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let mut args = std::env::args_os().skip(1);
    let Some(dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: open_catalog CATALOG_DIR [--check]");
        std::process::exit(2);
    };
    let check = args.next().is_some_and(|a| a == "--check");
    let started = Instant::now();
    let meta = jukebox_segmenter::open_catalog(&dir).and_then(|index| index.meta());
    match meta {
        Ok(meta) => println!(
            "{} songs, {} segments, {} bytes of audio, catalog {}, opened in {:.3} s",
            meta.songs,
            meta.segments,
            meta.bytes,
            meta.digest,
            started.elapsed().as_secs_f64()
        ),
        Err(err) => {
            eprintln!("{}: {err}", dir.display());
            std::process::exit(1);
        }
    }
    if check {
        let started = Instant::now();
        let loaded = jukebox_segmenter::read_catalog(&dir).unwrap_or_else(|err| {
            eprintln!("{}: {err}", dir.display());
            std::process::exit(1);
        });
        for skipped in &loaded.skipped {
            println!("skipped {}: {}", skipped.path.display(), skipped.reason);
        }
        println!(
            "{} songs checked in {:.3} s",
            loaded.songs.len(),
            started.elapsed().as_secs_f64()
        );
    }
}
