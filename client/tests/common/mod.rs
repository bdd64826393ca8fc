//! Helpers for running the real `jukebox` binary and checking what it played.

#![allow(dead_code)]

pub mod fake_server;
pub mod process;

use std::future::Future;
use std::panic::Location;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::DecoderOptions;
use symphonia::core::errors::Error;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// Longest a test waits for anything (a process, a frame, a task) before failing, so that a bug
/// shows up as a failure rather than a hung test: far more than what takes milliseconds when all
/// is well, or the 12 s of a song played in real time. Never used to synchronise.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// `future`'s output; fails the test, naming the caller's line, if that takes over [`PATIENCE`].
#[track_caller]
pub fn within<F: Future>(future: F) -> impl Future<Output = F::Output> {
    let caller = Location::caller();
    async move {
        tokio::time::timeout(PATIENCE, future)
            .await
            .unwrap_or_else(|_| panic!("waited over {PATIENCE:?} at {caller}"))
    }
}

/// The bundled music folder.
pub fn music_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../music")
}

/// Runs `jukebox` with `args`, feeding `commands` on stdin and closing it; bounded by [`PATIENCE`].
/// Unless `args` say otherwise, loudness normalisation is off, so that what is played is the
/// reference decode sample for sample.
pub fn run_jukebox(args: &[&str], commands: impl AsRef<[u8]>) -> Output {
    let mut jukebox = process::command(env!("CARGO_BIN_EXE_jukebox"));
    if !args.contains(&"--normalize") {
        jukebox.args(["--normalize", "off"]);
    }
    process::output_within(jukebox.args(args), commands.as_ref())
}

/// Runs `jukebox --server addr --output wav:wav` off the async runtime (the test's server runs
/// on it), feeding `commands`.
pub async fn run_jukebox_against(addr: String, wav: &Path, commands: &'static str) -> Output {
    let output = format!("wav:{}", wav.display());
    tokio::task::spawn_blocking(move || {
        run_jukebox(&["--server", &addr, "--output", &output], commands)
    })
    .await
    .expect("jukebox runs")
}

pub fn stdout_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

pub fn stderr_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Decodes an mp3 file with symphonia, gapless, as the client does: (rate, channels, samples).
pub fn decode_file(path: &Path) -> (u32, u16, Vec<f32>) {
    let file = std::fs::File::open(path).expect("song opens");
    decode_stream(MediaSourceStream::new(Box::new(file), Default::default()))
}

/// Decodes mp3 bytes held in memory, as [`decode_file`] does.
pub fn decode_bytes(bytes: Vec<u8>) -> (u32, u16, Vec<f32>) {
    let cursor = std::io::Cursor::new(bytes);
    decode_stream(MediaSourceStream::new(Box::new(cursor), Default::default()))
}

fn decode_stream(stream: MediaSourceStream) -> (u32, u16, Vec<f32>) {
    let mut hint = Hint::new();
    hint.with_extension("mp3");
    let mut reader = symphonia::default::get_probe()
        .format(
            &hint,
            stream,
            &jukebox_client::player::decode::format_options(),
            &MetadataOptions::default(),
        )
        .expect("song probes")
        .format;
    let track = reader.default_track().expect("a track");
    let track_id = track.id;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .expect("a decoder");
    let (mut rate, mut channels, mut samples) = (0, 0, Vec::new());
    loop {
        let packet = match reader.next_packet() {
            Ok(packet) => packet,
            Err(Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => panic!("reading the song: {e}"),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let audio = decoder.decode(&packet).expect("the packet decodes");
        let spec = *audio.spec();
        rate = spec.rate;
        channels = spec.channels.count() as u16;
        let mut buf = SampleBuffer::<f32>::new(audio.capacity() as u64, spec);
        buf.copy_interleaved_ref(audio);
        samples.extend_from_slice(buf.samples());
    }
    (rate, channels, samples)
}

/// Reads a 32-bit float WAV: (rate, channels, samples).
pub fn read_wav(path: &Path) -> (u32, u16, Vec<f32>) {
    let mut reader = hound::WavReader::open(path).expect("a valid WAV file");
    let spec = reader.spec();
    assert_eq!(spec.sample_format, hound::SampleFormat::Float);
    assert_eq!(spec.bits_per_sample, 32);
    let samples = reader
        .samples::<f32>()
        .collect::<Result<Vec<_>, _>>()
        .expect("samples read");
    (spec.sample_rate, spec.channels, samples)
}

/// The ID of a bundled song, by file name: a song's ID comes from its audio.
pub fn bundled_id(name: &str) -> u64 {
    jukebox_segmenter::segment_file(
        &music_dir().join(name),
        jukebox_segmenter::DEFAULT_SEGMENT_DURATION,
    )
    .expect("a bundled song")
    .manifest
    .id
}
