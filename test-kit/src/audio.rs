//! Reference audio: songs made with sox and lame, decoded directly with symphonia, and the WAV
//! files the client writes, read back as PCM.

use std::fs::File;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::DecoderOptions;
use symphonia::core::errors::Error;
use symphonia::core::formats::{FormatOptions, FormatReader, Packet};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// Interleaved PCM and its format.
#[derive(Debug, Clone, PartialEq)]
pub struct Pcm {
    pub sample_rate: u32,
    pub channels: u16,
    pub samples: Vec<f32>,
}

impl Pcm {
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate) / f64::from(self.channels)
    }

    /// Integrated loudness (LUFS) and the highest true peak of any channel (dBTP), as the
    /// segmenter measures a song (`ebur128`, a mono one as dual mono).
    pub fn loudness(&self) -> (f64, f64) {
        use ebur128::{Channel, EbuR128, Mode};
        let channels = u32::from(self.channels);
        let mut meter = EbuR128::new(channels, self.sample_rate, Mode::I | Mode::TRUE_PEAK)
            .expect("a format ebur128 measures");
        if channels == 1 {
            meter.set_channel(0, Channel::DualMono).unwrap();
        }
        meter.add_frames_f32(&self.samples).unwrap();
        let peak = (0..channels)
            .map(|c| meter.true_peak(c).unwrap())
            .fold(0.0, f64::max);
        (meter.loudness_global().unwrap(), 20.0 * peak.log10())
    }

    /// The same audio with every frame's one channel on two, as the client plays a mono song
    /// on a stereo output.
    pub fn to_stereo(&self) -> Pcm {
        assert_eq!(self.channels, 1, "mono to stereo");
        Pcm {
            sample_rate: self.sample_rate,
            channels: 2,
            samples: self.samples.iter().flat_map(|&s| [s, s]).collect(),
        }
    }
}

/// symphonia's mp3 reader on `source`; `gapless` trims the encoder delay and padding a LAME tag
/// gives, as the client's output does.
pub fn mp3_reader(source: Box<dyn MediaSource>, gapless: bool) -> Box<dyn FormatReader> {
    let mut hint = Hint::new();
    hint.with_extension("mp3");
    let options = FormatOptions {
        enable_gapless: gapless,
        ..Default::default()
    };
    symphonia::default::get_probe()
        .format(
            &hint,
            MediaSourceStream::new(source, Default::default()),
            &options,
            &MetadataOptions::default(),
        )
        .expect("symphonia probes the song")
        .format
}

/// The reader's next packet; `None` at the end of the stream.
pub fn next_packet(reader: &mut dyn FormatReader) -> Option<Packet> {
    match reader.next_packet() {
        Ok(packet) => Some(packet),
        Err(Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => None,
        Err(e) => panic!("reading the song: {e}"),
    }
}

/// Decodes a whole mp3 file the way the client decodes a stream (gapless), as the reference.
pub fn decode_file(path: &Path) -> Pcm {
    let file = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    decode(Box::new(file))
}

/// Decodes mp3 bytes held in memory, as [`decode_file`] does.
pub fn decode_bytes(bytes: Vec<u8>) -> Pcm {
    decode(Box::new(Cursor::new(bytes)))
}

fn decode(source: Box<dyn MediaSource>) -> Pcm {
    let mut reader = mp3_reader(source, true);
    let track = reader.default_track().expect("a track");
    let track_id = track.id;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .expect("a decoder");
    let mut pcm = Pcm {
        sample_rate: 0,
        channels: 0,
        samples: Vec::new(),
    };
    while let Some(packet) = next_packet(reader.as_mut()) {
        if packet.track_id() != track_id {
            continue;
        }
        let audio = decoder.decode(&packet).expect("the packet decodes");
        let spec = *audio.spec();
        pcm.sample_rate = spec.rate;
        pcm.channels = spec.channels.count() as u16;
        let mut buf = SampleBuffer::<f32>::new(audio.capacity() as u64, spec);
        buf.copy_interleaved_ref(audio);
        pcm.samples.extend_from_slice(buf.samples());
    }
    pcm
}

/// Reads a WAV file written by the client (32-bit float).
pub fn read_wav(path: &Path) -> Pcm {
    let mut reader =
        hound::WavReader::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let spec = reader.spec();
    assert_eq!(
        (spec.sample_format, spec.bits_per_sample),
        (hound::SampleFormat::Float, 32),
        "the client writes 32-bit float WAV"
    );
    let samples = reader
        .samples::<f32>()
        .collect::<Result<Vec<_>, _>>()
        .expect("samples read");
    Pcm {
        sample_rate: spec.sample_rate,
        channels: spec.channels,
        samples,
    }
}

/// Runs sox with `args`.
pub fn sox(args: &[&str]) {
    let status = Command::new("sox")
        .args(args)
        .status()
        .expect("sox is installed (see README prerequisites)");
    assert!(status.success(), "sox {args:?} failed");
}

/// Encodes `wav` as `mp3` with lame and `args`.
pub fn lame(args: &[&str], wav: &Path, mp3: &Path) {
    let status = Command::new("lame")
        .arg("--quiet")
        .args(args)
        .arg(wav)
        .arg(mp3)
        .status()
        .expect("lame is installed (see README prerequisites)");
    assert!(status.success(), "lame {args:?} failed");
}

/// Makes `dir/NAME.mp3`: sox writes a WAV of `format` (its output options, such as
/// `["-r", "44100", "-c", "2"]`) from `synth` (what follows sox's `synth`), lame encodes it with
/// `lame_args`, and the WAV is removed. Returns the mp3's path.
pub fn synth_mp3(
    dir: &Path,
    name: &str,
    format: &[&str],
    synth: &[&str],
    lame_args: &[&str],
) -> PathBuf {
    let wav = dir.join(format!("{name}.wav"));
    let wav_name = wav.to_str().expect("a UTF-8 path");
    sox(&[&["-n"], format, &[wav_name, "synth"], synth].concat());
    let mp3 = dir.join(format!("{name}.mp3"));
    lame(lame_args, &wav, &mp3);
    std::fs::remove_file(wav).expect("remove the temporary wav");
    mp3
}

/// Makes a short mp3 with sox (a tone at `hz` with a little noise, so every song differs) and lame,
/// 44.1 kHz stereo, titled `title` by "Test Band".
pub fn make_song(dir: &Path, name: &str, title: &str, seconds: f32, hz: u32, lame_args: &[&str]) {
    let (seconds, hz) = (seconds.to_string(), hz.to_string());
    let synth = [&*seconds, "pluck", &hz, "synth", "sine", "amod", "3"];
    let tags = ["--tt", title, "--ta", "Test Band"];
    synth_mp3(
        dir,
        name,
        &["-r", "44100", "-c", "2"],
        &synth,
        &[lame_args, &tags].concat(),
    );
}

/// Cuts one sine sweep of `seconds` (44.1 kHz stereo, made by sox) into `parts` consecutive pieces
/// and encodes each with lame and `lame_args`, titled "Sweep 1", "Sweep 2"...: played one after
/// the other without a gap, they are one uninterrupted sweep. Returns the mp3 files in order.
pub fn make_sweep(dir: &Path, seconds: f32, parts: usize, lame_args: &[&str]) -> Vec<PathBuf> {
    let whole = dir.join("sweep.wav");
    let whole_name = whole.to_str().expect("a UTF-8 path");
    let length = seconds.to_string();
    sox(&[
        "-n", "-r", "44100", "-c", "2", whole_name, "synth", &length, "sine", "100-6000", "vol",
        "0.5",
    ]);
    let part = seconds / parts as f32;
    let files = (0..parts)
        .map(|i| {
            let wav = dir.join(format!("sweep-{i}.wav"));
            let (start, length) = (format!("{}", part * i as f32), format!("{part}"));
            sox(&[
                whole_name,
                wav.to_str().expect("a UTF-8 path"),
                "trim",
                &start,
                &length,
            ]);
            let mp3 = dir.join(format!("sweep-{}.mp3", i + 1));
            let title = format!("Sweep {}", i + 1);
            let tags = ["--tt", &title, "--ta", "Test Band"];
            lame(&[lame_args, &tags].concat(), &wav, &mp3);
            std::fs::remove_file(wav).expect("remove the temporary wav");
            mp3
        })
        .collect();
    std::fs::remove_file(whole).expect("remove the temporary wav");
    files
}

/// Writes `secs` of a sine with some noise (so VBR has something to vary over) as a 16-bit WAV.
pub fn write_noisy_sine(path: &Path, rate: u32, channels: u16, secs: f64) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).expect("create wav");
    let mut seed = 0x2545_F491_u32;
    for n in 0..(secs * f64::from(rate)) as u32 {
        let t = f64::from(n) / f64::from(rate);
        for c in 0..channels {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = f64::from(seed >> 16) / 65_536.0 - 0.5;
            let tone = (t * 440.0 * (1.0 + f64::from(c) * 0.5) * std::f64::consts::TAU).sin();
            let swell = (t * 3.0).sin().abs();
            writer
                .write_sample((8_000.0 * tone + 6_000.0 * swell * noise) as i16)
                .expect("write");
        }
    }
    writer.finalize().expect("finish wav");
}

/// [`write_noisy_sine`] encoded with lame and `args`: the mp3's bytes.
pub fn lame_bytes(rate: u32, channels: u16, secs: f64, args: &[&str]) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("in.wav");
    let mp3 = dir.path().join("out.mp3");
    write_noisy_sine(&wav, rate, channels, secs);
    lame(args, &wav, &mp3);
    std::fs::read(&mp3).expect("read lame output")
}

/// Encodes `samples` (interleaved, -1 to 1, written as 16-bit PCM) with lame and `lame_args` into
/// `NAME.mp3` in `dir`, titled `title`; returns its path.
pub fn encode_samples(
    dir: &Path,
    name: &str,
    title: &str,
    format: (u32, u16),
    samples: &[f32],
    lame_args: &[&str],
) -> PathBuf {
    let (sample_rate, channels) = format;
    let wav = dir.join(format!("{name}.wav"));
    let spec = hound::WavSpec {
        channels,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(&wav, spec).expect("create the wav");
    for &sample in samples {
        let value = (sample.clamp(-1.0, 1.0) * f32::from(i16::MAX)).round() as i16;
        writer.write_sample(value).expect("write the wav");
    }
    writer.finalize().expect("finish the wav");
    let mp3 = dir.join(format!("{name}.mp3"));
    let status = Command::new("lame")
        .arg("--quiet")
        .args(lame_args)
        .args(["--tt", title, "--ta", "Test Band"])
        .arg(&wav)
        .arg(&mp3)
        .status()
        .expect("lame is installed (see README prerequisites)");
    assert!(status.success(), "lame failed");
    std::fs::remove_file(wav).expect("remove the temporary wav");
    mp3
}
