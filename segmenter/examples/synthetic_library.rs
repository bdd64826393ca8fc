//! Makes large libraries for measuring (segmenter/scripts/library-bench.sh), with tags drawn from a
//! synthetic vocabulary whose word frequencies fall off as in real titles (Zipf):
//!
//! - `synthetic_library songs DIR N [FIRST]`: mp3 files FIRST..FIRST+N (default FIRST 0) below DIR,
//!   100 a folder, each three MPEG frames of a bundled song with its number written into the audio
//!   (so that each is a song of its own) under an ID3 tag of its own: what jukebox-segmenter cuts.
//! - `synthetic_library index DIR N`: a catalog index of N songs written directly (no song
//!   folders, so segments cannot be served): for measuring listing and search at sizes the
//!   segmenter would take hours to make.
//! - `synthetic_library words`: the vocabulary's most common words, for choosing queries.
//!
//! Usage: cargo run --release -p jukebox-segmenter --example synthetic_library -- songs DIR 100000

use std::path::{Path, PathBuf};

use jukebox_protocol::{Manifest, SegmentInfo};
use jukebox_segmenter::catalog::index::{self, Row, INDEX_FILE};
use jukebox_test_kit::songs::three_frames;

/// Words in the vocabulary.
const WORDS: usize = 20_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize| -> usize {
        args.get(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| usage())
    };
    match args.first().map(String::as_str) {
        Some("songs") if args.len() >= 3 => {
            let first = if args.len() > 3 { number(3) } else { 0 };
            songs(Path::new(&args[1]), first, number(2))
        }
        Some("index") if args.len() == 3 => synthetic_index(Path::new(&args[1]), number(2)),
        Some("words") => {
            let vocabulary = Vocabulary::new();
            for (rank, word) in vocabulary.words.iter().take(200).enumerate() {
                println!("{rank} {word}");
            }
        }
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!("usage: synthetic_library songs DIR N [FIRST] | index DIR N | words");
    std::process::exit(2);
}

/// Deterministic pseudo-random numbers (xorshift64*), so every run makes the same library.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

struct Vocabulary {
    words: Vec<String>,
    /// Cumulative Zipf weights of `words`, for drawing one.
    cumulative: Vec<f64>,
}

impl Vocabulary {
    fn new() -> Vocabulary {
        const SYLLABLES: [&str; 24] = [
            "la", "mo", "ri", "sen", "ta", "vel", "do", "ka", "mi", "nor", "pe", "lu", "sa", "tor",
            "be", "ghi", "an", "el", "os", "ur", "wyn", "cha", "dé", "zo",
        ];
        let mut random = Random(0x9E37_79B9_7F4A_7C15);
        let mut words = Vec::with_capacity(WORDS);
        let mut seen = std::collections::HashSet::new();
        while words.len() < WORDS {
            let syllables = 1 + random.below(4);
            let word: String = (0..syllables)
                .map(|_| SYLLABLES[random.below(SYLLABLES.len())])
                .collect();
            if seen.insert(word.clone()) {
                words.push(word);
            }
        }
        let mut total = 0.0;
        let cumulative = (0..WORDS)
            .map(|rank| {
                total += 1.0 / (rank as f64 + 1.0);
                total
            })
            .collect();
        Vocabulary { words, cumulative }
    }

    fn word(&self, random: &mut Random) -> &str {
        let total = self.cumulative[WORDS - 1];
        let x = (random.next() >> 11) as f64 / (1u64 << 53) as f64 * total;
        let rank = self.cumulative.partition_point(|&c| c < x).min(WORDS - 1);
        &self.words[rank]
    }

    fn phrase(&self, random: &mut Random, words: usize) -> String {
        let mut text = String::new();
        for i in 0..words {
            if i > 0 {
                text.push(' ');
            }
            let word = self.word(random);
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                text.extend(first.to_uppercase());
                text.push_str(chars.as_str());
            }
        }
        text
    }

    /// Title, artist and album of song `n` of a library of `size` songs: about 20 songs an
    /// artist, 10 an album.
    fn tags(&self, n: usize, size: usize) -> (String, String, String) {
        let mut random = Random((n as u64 + 1).wrapping_mul(0xA076_1D64_78BD_642F));
        let words = 1 + random.below(4);
        let title = self.phrase(&mut random, words);
        let artist = {
            let k = n % (size / 20).max(1);
            let mut r = Random((k as u64 + 7).wrapping_mul(0xE703_7ED1_A0B4_28DB));
            let words = 1 + r.below(3);
            self.phrase(&mut r, words)
        };
        let album = {
            let k = n % (size / 10).max(1);
            let mut r = Random((k as u64 + 3).wrapping_mul(0x8EBC_6AF0_9C88_C6E3));
            let words = 1 + r.below(3);
            self.phrase(&mut r, words)
        };
        (title, artist, album)
    }
}

/// An ID3v2.4 tag (UTF-8 text) with a title, artist and album.
fn id3(title: &str, artist: &str, album: &str) -> Vec<u8> {
    let syncsafe = |n: u32| (0..4).rev().map(move |i| ((n >> (7 * i)) & 0x7F) as u8);
    let mut frames = Vec::new();
    for (id, text) in [(b"TIT2", title), (b"TPE1", artist), (b"TALB", album)] {
        frames.extend_from_slice(id);
        frames.extend(syncsafe(text.len() as u32 + 1));
        frames.extend_from_slice(&[0, 0, 3]);
        frames.extend_from_slice(text.as_bytes());
    }
    let mut tag = b"ID3\x04\x00\x00".to_vec();
    tag.extend(syncsafe(frames.len() as u32));
    tag.extend(frames);
    tag
}

/// Songs FIRST..FIRST+N of a library of FIRST+N songs (tags depend on the library's size only
/// through the number of artists and albums, so later songs join earlier artists).
fn songs(dir: &Path, first: usize, n: usize) {
    let vocabulary = Vocabulary::new();
    let frames = three_frames();
    let size = (first + n).max(1);
    for i in first..first + n {
        let folder: PathBuf = dir.join(format!("{:05}", i / 100));
        if i % 100 == 0 || i == first {
            std::fs::create_dir_all(&folder).expect("create a folder");
        }
        let (title, artist, album) = vocabulary.tags(i, size);
        let mut file = id3(&title, &artist, &album);
        let mut audio = frames.clone();
        let at = audio.len() / 2;
        audio[at..at + 4].copy_from_slice(&(i as u32).to_be_bytes());
        file.extend(audio);
        std::fs::write(folder.join(format!("{i:07}.mp3")), file).expect("write a song");
    }
    println!("{n} songs written below {}", dir.display());
}

/// A catalog index of `n` songs with one 2-second segment each, written directly.
fn synthetic_index(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir.join(index::SONGS_DIR)).expect("create the catalog folder");
    let vocabulary = Vocabulary::new();
    let rows: Vec<Row> = (0..n)
        .map(|i| {
            let (title, artist, album) = vocabulary.tags(i, n);
            let hash = xxhash_rust::xxh3::xxh3_64(&(i as u64).to_le_bytes());
            let segment = SegmentInfo {
                index: 0,
                bytes: 32_000,
                frames: 77,
                samples: 77 * 1152,
                sha256: format!("{hash:016x}").repeat(4),
            };
            let id = jukebox_segmenter::mp3::song::audio_id(hash);
            let manifest = Manifest {
                title,
                artist,
                album,
                ..jukebox_test_kit::manifest(id, vec![segment])
            };
            let song = jukebox_segmenter::Song {
                path: PathBuf::from(format!("{:05}/{i:07}.mp3", i / 100)),
                manifest,
                audio_hash: hash,
                segments: Vec::new(),
                files: None,
            };
            let mut row = Row::of(&song);
            row.bytes = 32_000;
            row.dir = Some(format!("{:032x}", u128::from(hash)));
            row
        })
        .collect();
    let started = std::time::Instant::now();
    index::write(&dir.join(INDEX_FILE), 2.0, rows).expect("write the index");
    println!(
        "index of {n} songs written to {} in {:.1} s",
        dir.display(),
        started.elapsed().as_secs_f64()
    );
}
