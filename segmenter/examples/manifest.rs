//! Prints the manifest the server would send for each mp3 given, or why it cannot be served.
//! Usage: cargo run -p jukebox-segmenter --example manifest -- FILE...

use std::path::Path;

use jukebox_segmenter::mp3::loudness;
use jukebox_segmenter::{segment_file, DEFAULT_SEGMENT_DURATION};

fn main() {
    for arg in std::env::args_os().skip(1) {
        let path = Path::new(&arg);
        match segment_file(path, DEFAULT_SEGMENT_DURATION) {
            Ok(mut song) => {
                song.set_loudness(loudness::measure(&song.segments));
                println!("{}", String::from_utf8_lossy(&song.manifest.to_json()))
            }
            Err(err) => println!("{}: {err}", path.display()),
        }
    }
}
