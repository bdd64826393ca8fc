//! Reference audio: songs made with sox (or from samples computed here) and lame, decoded
//! directly with symphonia, and measured with EBU R128.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::DecoderOptions;
use symphonia::core::errors::Error;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
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

/// Decodes a whole mp3 file the way the client decodes a stream (gapless), as the reference.
pub fn decode_file(path: &Path) -> Pcm {
    let file = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let stream = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    hint.with_extension("mp3");
    let format_options = FormatOptions {
        enable_gapless: true,
        ..Default::default()
    };
    let probed = symphonia::default::get_probe()
        .format(&hint, stream, &format_options, &MetadataOptions::default())
        .expect("probe");
    let mut format = probed.format;
    let track = format.default_track().expect("a track").clone();
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .expect("decoder");
    let mut pcm = Pcm {
        sample_rate: 0,
        channels: 0,
        samples: Vec::new(),
    };
    loop {
        let packet = match format.next_packet() {
            Ok(packet) => packet,
            Err(Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => panic!("read {}: {e}", path.display()),
        };
        let decoded = match decoder.decode(&packet) {
            Ok(decoded) => decoded,
            Err(Error::DecodeError(_)) => continue,
            Err(e) => panic!("decode {}: {e}", path.display()),
        };
        let spec = *decoded.spec();
        pcm.sample_rate = spec.rate;
        pcm.channels = spec.channels.count() as u16;
        let mut buf = SampleBuffer::<f32>::new(decoded.capacity() as u64, spec);
        buf.copy_interleaved_ref(decoded);
        pcm.samples.extend_from_slice(buf.samples());
    }
    pcm
}

/// Reads a WAV file written by the client.
pub fn read_wav(path: &Path) -> Pcm {
    let mut reader =
        hound::WavReader::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let spec = reader.spec();
    assert_eq!(
        spec.sample_format,
        hound::SampleFormat::Float,
        "the client writes float WAV"
    );
    let samples = reader
        .samples::<f32>()
        .map(|s| s.expect("a sample"))
        .collect();
    Pcm {
        sample_rate: spec.sample_rate,
        channels: spec.channels,
        samples,
    }
}

/// Makes a short mp3 with sox (a tone at `hz` with a little noise, so every song differs) and lame.
pub fn make_song(dir: &Path, name: &str, title: &str, seconds: f32, hz: u32, lame_args: &[&str]) {
    let wav = dir.join(format!("{name}.wav"));
    let status = Command::new("sox")
        .args(["-n", "-r", "44100", "-c", "2"])
        .arg(&wav)
        .args([
            "synth",
            &seconds.to_string(),
            "pluck",
            &hz.to_string(),
            "synth",
            "sine",
            "amod",
            "3",
        ])
        .status()
        .expect("sox is installed (see README prerequisites)");
    assert!(status.success(), "sox failed");
    let status = Command::new("lame")
        .arg("--quiet")
        .args(lame_args)
        .args(["--tt", title, "--ta", "Test Band"])
        .arg(&wav)
        .arg(dir.join(format!("{name}.mp3")))
        .status()
        .expect("lame is installed (see README prerequisites)");
    assert!(status.success(), "lame failed");
    std::fs::remove_file(wav).expect("remove the temporary wav");
}

/// Cuts one sine sweep of `seconds` (44.1 kHz stereo, made by sox) into `parts` consecutive pieces
/// and encodes each with lame and `lame_args`, titled "Sweep 1", "Sweep 2"...: played one after
/// the other without a gap, they are one uninterrupted sweep. Returns the mp3 files in order.
pub fn make_sweep(dir: &Path, seconds: f32, parts: usize, lame_args: &[&str]) -> Vec<PathBuf> {
    let whole = dir.join("sweep.wav");
    let status = Command::new("sox")
        .args(["-n", "-r", "44100", "-c", "2"])
        .arg(&whole)
        .args([
            "synth",
            &seconds.to_string(),
            "sine",
            "100-6000",
            "vol",
            "0.5",
        ])
        .status()
        .expect("sox is installed (see README prerequisites)");
    assert!(status.success(), "sox failed");
    let part = seconds / parts as f32;
    let files = (0..parts)
        .map(|i| {
            let wav = dir.join(format!("sweep-{i}.wav"));
            let status = Command::new("sox")
                .arg(&whole)
                .arg(&wav)
                .args(["trim", &format!("{}", part * i as f32), &format!("{part}")])
                .status()
                .expect("sox runs");
            assert!(status.success(), "sox trim failed");
            let mp3 = dir.join(format!("sweep-{}.mp3", i + 1));
            let title = format!("Sweep {}", i + 1);
            let status = Command::new("lame")
                .arg("--quiet")
                .args(lame_args)
                .args(["--tt", &title, "--ta", "Test Band"])
                .arg(&wav)
                .arg(&mp3)
                .status()
                .expect("lame is installed (see README prerequisites)");
            assert!(status.success(), "lame failed");
            std::fs::remove_file(wav).expect("remove the temporary wav");
            mp3
        })
        .collect();
    std::fs::remove_file(whole).expect("remove the temporary wav");
    files
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
