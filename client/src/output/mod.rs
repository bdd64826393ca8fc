//! Audio outputs: the sound card, a WAV file, or nothing, all fed from one [`PcmQueue`].
//!
//! An output plays at one fixed format for its whole life, as a sound card does. The device output
//! uses the device's format; the WAV and null outputs take the format of the first song played.
//! Songs in another format are converted to it (the rate with rubato, the channel count with rodio)
//! before they are queued, so the WAV file holds a song sample for sample as decoded only when it
//! has the file's format.

pub mod device;
pub mod format;
pub mod paced;
pub mod pacer;
pub mod queue;
mod quiet_stderr;
pub mod sink;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

pub use format::PcmFormat;
pub use queue::PcmQueue;

/// Where audio goes, from `--output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputSpec {
    /// The default sound device.
    Default,
    /// Nowhere, at real-time speed.
    Null,
    /// A 32-bit float WAV file, at real-time speed.
    Wav(PathBuf),
}

impl FromStr for OutputSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "default" => Ok(OutputSpec::Default),
            "null" => Ok(OutputSpec::Null),
            _ => match s.strip_prefix("wav:") {
                Some("") => Err("wav: needs a path, as in wav:out.wav".into()),
                Some(path) => Ok(OutputSpec::Wav(PathBuf::from(path))),
                None => Err(format!(
                    "unknown output {s:?}: use default, null or wav:PATH"
                )),
            },
        }
    }
}

/// An open output, playing what `queue` holds.
pub struct Output {
    worker: Worker,
}

enum Worker {
    Paced {
        shutdown: Arc<AtomicBool>,
        thread: JoinHandle<std::io::Result<()>>,
    },
    Device(device::Device),
}

impl Output {
    /// Opens the output; failures are one line fit to show the user.
    pub fn open(spec: &OutputSpec, queue: Arc<PcmQueue>) -> Result<Output, String> {
        let paced = |sink: Box<dyn sink::PcmSink>| {
            let shutdown = Arc::new(AtomicBool::new(false));
            let thread = paced::spawn(
                queue.clone(),
                sink,
                Box::new(pacer::SystemClock::new()),
                shutdown.clone(),
            )
            .map_err(|e| format!("cannot start the output thread: {e}"))?;
            Ok::<_, String>(Worker::Paced { shutdown, thread })
        };
        let worker = match spec {
            OutputSpec::Null => paced(Box::new(sink::NullSink))?,
            OutputSpec::Wav(path) => {
                let sink = sink::WavSink::create(path)
                    .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                paced(Box::new(sink))?
            }
            OutputSpec::Default => {
                Worker::Device(device::Device::open(queue.clone()).map_err(|e| {
                    format!("no usable sound device ({e}); use --output wav:PATH or --output null")
                })?)
            }
        };
        Ok(Output { worker })
    }

    /// Stops the output and completes it (a WAV file gets its final header).
    pub fn close(self) -> Result<(), String> {
        match self.worker {
            Worker::Paced { shutdown, thread } => {
                shutdown.store(true, Ordering::Release);
                match thread.join() {
                    Ok(result) => result.map_err(|e| format!("cannot finish the output: {e}")),
                    Err(_) => Err("the output thread failed".into()),
                }
            }
            Worker::Device(device) => {
                device.close();
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_output_specs() {
        assert_eq!("default".parse(), Ok(OutputSpec::Default));
        assert_eq!("null".parse(), Ok(OutputSpec::Null));
        assert_eq!(
            "wav:/tmp/a b.wav".parse(),
            Ok(OutputSpec::Wav(PathBuf::from("/tmp/a b.wav")))
        );
        assert!("wav:".parse::<OutputSpec>().is_err());
        assert!("speaker".parse::<OutputSpec>().is_err());
    }
}
