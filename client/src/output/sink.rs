//! Where paced PCM goes when there is no sound card: a WAV file, or nowhere.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

use hound::{SampleFormat, WavSpec, WavWriter};

use super::format::PcmFormat;

/// Receives the samples an output has "played", in order.
pub trait PcmSink: Send {
    fn write(&mut self, format: PcmFormat, samples: &[f32]) -> io::Result<()>;
    /// Completes the output (for a WAV file: writes the final header). `format` is the output's
    /// format, if a song ever fixed it.
    fn finish(self: Box<Self>, format: Option<PcmFormat>) -> io::Result<()>;
}

/// Discards samples.
pub struct NullSink;

impl PcmSink for NullSink {
    fn write(&mut self, _: PcmFormat, _: &[f32]) -> io::Result<()> {
        Ok(())
    }
    fn finish(self: Box<Self>, _: Option<PcmFormat>) -> io::Result<()> {
        Ok(())
    }
}

/// Writes samples as 32-bit IEEE float WAV, exactly as decoded. The file is created up front so a
/// bad path is reported at startup; the header is written once the format is known.
pub struct WavSink {
    path: PathBuf,
    file: Option<BufWriter<File>>,
    writer: Option<WavWriter<BufWriter<File>>>,
    /// Samples written since the header was last brought up to date.
    unflushed: usize,
}

/// Format of a WAV file in which no song was ever played.
const EMPTY_FORMAT: PcmFormat = PcmFormat {
    sample_rate: 44_100,
    channels: 2,
};

impl WavSink {
    pub fn create(path: &Path) -> io::Result<WavSink> {
        let file = File::create(path)?;
        Ok(WavSink {
            path: path.to_path_buf(),
            file: Some(BufWriter::new(file)),
            writer: None,
            unflushed: 0,
        })
    }

    fn writer(&mut self, format: PcmFormat) -> io::Result<&mut WavWriter<BufWriter<File>>> {
        if self.writer.is_none() {
            let file = self
                .file
                .take()
                .ok_or_else(|| io::Error::other("WAV file lost"))?;
            let spec = WavSpec {
                channels: format.channels,
                sample_rate: format.sample_rate,
                bits_per_sample: 32,
                sample_format: SampleFormat::Float,
            };
            self.writer = Some(WavWriter::new(file, spec).map_err(hound_error)?);
        }
        Ok(self.writer.as_mut().expect("just set"))
    }
}

impl PcmSink for WavSink {
    fn write(&mut self, format: PcmFormat, samples: &[f32]) -> io::Result<()> {
        let rate = format.sample_rate as usize * usize::from(format.channels);
        self.unflushed += samples.len();
        let flush = self.unflushed >= rate;
        if flush {
            self.unflushed = 0;
        }
        let writer = self.writer(format)?;
        for &sample in samples {
            writer.write_sample(sample).map_err(hound_error)?;
        }
        // Keep the header current about once a second, so a killed client leaves a readable file.
        if flush {
            writer.flush().map_err(hound_error)?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>, format: Option<PcmFormat>) -> io::Result<()> {
        self.writer(format.unwrap_or(EMPTY_FORMAT))?;
        let path = self.path.clone();
        let writer = self.writer.take().expect("created above");
        writer
            .finalize()
            .map_err(|e| io::Error::other(format!("{}: {e}", path.display())))
    }
}

fn hound_error(e: hound::Error) -> io::Error {
    match e {
        hound::Error::IoError(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &Path) -> (WavSpec, Vec<f32>) {
        let mut reader = hound::WavReader::open(path).unwrap();
        let samples = reader.samples::<f32>().map(Result::unwrap).collect();
        (reader.spec(), samples)
    }

    #[test]
    fn writes_float_samples_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        let format = PcmFormat {
            sample_rate: 22_050,
            channels: 1,
        };
        let mut sink = Box::new(WavSink::create(&path).unwrap());
        let samples = [0.0, -1.0, 0.123_456_79, f32::MIN_POSITIVE, 1.0];
        sink.write(format, &samples[..2]).unwrap();
        sink.write(format, &samples[2..]).unwrap();
        sink.finish(Some(format)).unwrap();
        let (spec, read_back) = read(&path);
        assert_eq!((spec.sample_rate, spec.channels), (22_050, 1));
        assert_eq!(spec.sample_format, SampleFormat::Float);
        assert_eq!(read_back, samples);
    }

    #[test]
    fn a_file_with_nothing_played_is_a_valid_empty_wav() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.wav");
        Box::new(WavSink::create(&path).unwrap())
            .finish(None)
            .unwrap();
        let (spec, samples) = read(&path);
        assert_eq!(spec.bits_per_sample, 32);
        assert!(samples.is_empty());
    }

    #[test]
    fn an_unwritable_path_fails_at_creation() {
        assert!(WavSink::create(Path::new("/nonexistent-dir/x.wav")).is_err());
    }
}
