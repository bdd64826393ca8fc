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
            let mut failed = false;
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
                if frames > 0 && !failed {
                    if let Err(e) = sink.write(format, &buf) {
                        failed = true;
                        queue.fail(ClientError::Output(e.to_string()));
                    }
                }
            }
            sink.finish(queue.format())
        })
}
