//! The clock thread of the WAV and null outputs: it consumes queued PCM at the sample rate, like a
//! sound card, so stopping after two seconds leaves two seconds of audio in the file.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::pacer::{Clock, Pacer};
use super::queue::PcmQueue;
use super::sink::PcmSink;
use crate::error::ClientError;

/// How often the clock thread wakes; a sound card's buffer period is of the same order.
const TICK: Duration = Duration::from_millis(10);

pub fn spawn(
    queue: Arc<PcmQueue>,
    mut sink: Box<dyn PcmSink>,
    clock: Box<dyn Clock>,
    shutdown: Arc<AtomicBool>,
) -> io::Result<JoinHandle<io::Result<()>>> {
    std::thread::Builder::new()
        .name("jukebox-output".into())
        .spawn(move || {
            let mut pacer: Option<Pacer> = None;
            let mut buf = Vec::new();
            // Once the sink has failed it stays failed (a WAV writer cannot resume mid-file);
            // every tick that plays audio fails the request playing, so a later song fails too
            // instead of playing into nothing.
            let mut failed: Option<String> = None;
            while !shutdown.load(Ordering::Acquire) {
                std::thread::sleep(TICK);
                let Some(format) = queue.format() else {
                    continue;
                };
                let now = clock.now();
                let pacer = pacer.get_or_insert_with(|| Pacer::new(format.sample_rate, now));
                let due = pacer.due(now);
                buf.clear();
                let frames = queue.pop(due as usize, &mut buf) as u64;
                pacer.consumed(frames, due, now);
                if frames == 0 {
                    continue;
                }
                if failed.is_none() {
                    failed = sink.write(format, &buf).err().map(|e| e.to_string());
                }
                if let Some(reason) = &failed {
                    queue.fail_playing(ClientError::Output(reason.clone()));
                }
            }
            sink.finish(queue.format())
        })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio::sync::mpsc;

    use super::*;
    use crate::output::format::PcmFormat;
    use crate::player::read_ahead::ReadAhead;
    use crate::player::request::{PlayId, Report};

    /// A clock that moves 10 ms each time it is read, whatever the real time.
    struct SteppingClock(Mutex<Duration>);

    impl Clock for SteppingClock {
        fn now(&self) -> Duration {
            let mut now = self.0.lock().unwrap();
            *now += Duration::from_millis(10);
            *now
        }
    }

    struct Capture(Arc<Mutex<(Vec<f32>, Option<PcmFormat>)>>);

    impl PcmSink for Capture {
        fn write(&mut self, _: PcmFormat, samples: &[f32]) -> io::Result<()> {
            self.0.lock().unwrap().0.extend_from_slice(samples);
            Ok(())
        }
        fn finish(self: Box<Self>, format: Option<PcmFormat>) -> io::Result<()> {
            self.0.lock().unwrap().1 = format;
            Ok(())
        }
    }

    /// A sink whose disk is full.
    struct Failing;

    impl PcmSink for Failing {
        fn write(&mut self, _: PcmFormat, _: &[f32]) -> io::Result<()> {
            Err(io::Error::other("disk full"))
        }
        fn finish(self: Box<Self>, _: Option<PcmFormat>) -> io::Result<()> {
            Ok(())
        }
    }

    /// The next report. The test holds the sender, so the channel never closes: the wait has a
    /// bound instead, so that an output thread that never reports fails the test.
    fn recv(reports: &mut mpsc::UnboundedReceiver<Report>) -> Report {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime
            .block_on(async { tokio::time::timeout(Duration::from_secs(60), reports.recv()).await })
            .expect("the output thread reports within a minute")
            .expect("the test holds the sender")
    }

    /// The next report that is not a repeat of a failure of `skip`.
    fn next_report(reports: &mut mpsc::UnboundedReceiver<Report>, skip: PlayId) -> Report {
        loop {
            match recv(reports) {
                Report::Failed { id, .. } if id == skip => continue,
                Report::Ending { .. } => continue,
                report => return report,
            }
        }
    }

    #[test]
    fn a_failed_output_fails_every_later_song_too() {
        let (reports_tx, mut reports) = mpsc::unbounded_channel();
        let queue = Arc::new(PcmQueue::new(&ReadAhead::default(), reports_tx));
        queue.fix_format(PcmFormat {
            sample_rate: 8_000,
            channels: 2,
        });
        let shutdown = Arc::new(AtomicBool::new(false));
        let thread = spawn(
            queue.clone(),
            Box::new(Failing),
            Box::new(SteppingClock(Mutex::new(Duration::ZERO))),
            shutdown.clone(),
        )
        .unwrap();
        queue.open(PlayId(1), 1.0);
        queue.push(PlayId(1), vec![0.0; 1_000]);
        assert!(matches!(
            next_report(&mut reports, PlayId(0)),
            Report::Failed { id: PlayId(1), .. }
        ));
        // The player stops the song and starts another: it must not play on in silence.
        queue.cancel(PlayId(1));
        queue.open(PlayId(2), 1.0);
        queue.push(PlayId(2), vec![0.0; 1_000]);
        queue.end(PlayId(2));
        assert!(matches!(
            next_report(&mut reports, PlayId(1)),
            Report::Failed { id: PlayId(2), .. }
        ));
        shutdown.store(true, Ordering::Release);
        thread.join().unwrap().unwrap();
    }

    #[test]
    fn plays_everything_queued_in_order_then_reports_the_end() {
        let (reports_tx, mut reports) = mpsc::unbounded_channel();
        let queue = Arc::new(PcmQueue::new(&ReadAhead::default(), reports_tx));
        let format = PcmFormat {
            sample_rate: 8_000,
            channels: 2,
        };
        queue.fix_format(format);
        queue.open(PlayId(7), 1.0);
        let samples: Vec<f32> = (0..4_000).map(|i| i as f32).collect();
        queue.push(PlayId(7), samples[..1_000].to_vec());
        queue.push(PlayId(7), samples[1_000..].to_vec());
        queue.end(PlayId(7));
        let captured = Arc::new(Mutex::new((Vec::new(), None)));
        let shutdown = Arc::new(AtomicBool::new(false));
        let thread = spawn(
            queue.clone(),
            Box::new(Capture(captured.clone())),
            Box::new(SteppingClock(Mutex::new(Duration::ZERO))),
            shutdown.clone(),
        )
        .unwrap();
        match next_report(&mut reports, PlayId(0)) {
            Report::Finished { id: PlayId(7) } => {}
            other => panic!("expected the end of request 7, got {other:?}"),
        }
        shutdown.store(true, Ordering::Release);
        thread.join().unwrap().unwrap();
        let captured = captured.lock().unwrap();
        assert_eq!(captured.0, samples);
        assert_eq!(captured.1, Some(format));
        assert_eq!(queue.played().frames, 2_000);
    }
}
