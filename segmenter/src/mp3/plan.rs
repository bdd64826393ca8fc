//! Cutting a song's frames into segments of about a target duration, on frame boundaries.
//!
//! Why 2 s by default ([`crate::DEFAULT_SEGMENT_DURATION`]): at 128 kbit/s a segment is about 32 KB,
//! two full DATA frames, so the first audio of a song needs one short request, and switching songs
//! wastes at most ~2 s of read-ahead; yet each request's overhead (a 12-byte request, 12-byte frame
//! headers, one round trip) stays well under 1% of the bytes moved.

use std::ops::Range;
use std::time::Duration;

/// One frame as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanFrame {
    pub bytes: Range<usize>,
    /// Samples per channel; 0 for a Xing/Info/VBRI frame, which is carried but not counted.
    pub samples: u32,
}

/// One planned segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedSegment {
    /// Contiguous bytes of the buffer.
    pub bytes: Range<usize>,
    /// Audio frames in it (info frames not counted).
    pub frames: u32,
    pub samples: u64,
}

/// Splits `frames` (in order) into segments that each end at the first frame boundary where they
/// hold at least `target` of audio. A gap between frames (skipped junk) also ends a segment, so
/// every segment is one contiguous slice of the file and the segments together hold exactly the
/// frames.
pub fn plan(frames: &[PlanFrame], sample_rate: u32, target: Duration) -> Vec<PlannedSegment> {
    let target_samples = (target.as_secs_f64() * f64::from(sample_rate)) as u64;
    let mut segments = Vec::new();
    let mut current: Option<PlannedSegment> = None;
    for frame in frames {
        if let Some(seg) = current.as_mut() {
            let contiguous = seg.bytes.end == frame.bytes.start;
            let fits =
                frame.bytes.end - seg.bytes.start <= u32::MAX as usize && seg.frames < u32::MAX;
            if contiguous && fits {
                seg.bytes.end = frame.bytes.end;
                seg.frames += u32::from(frame.samples > 0);
                seg.samples += u64::from(frame.samples);
            } else {
                segments.extend(current.take());
            }
        }
        if current.is_none() {
            current = Some(PlannedSegment {
                bytes: frame.bytes.clone(),
                frames: u32::from(frame.samples > 0),
                samples: u64::from(frame.samples),
            });
        }
        if current
            .as_ref()
            .is_some_and(|s| s.frames > 0 && s.samples >= target_samples)
        {
            segments.extend(current.take());
        }
    }
    segments.extend(current);
    segments
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(n: usize, len: usize) -> Vec<PlanFrame> {
        (0..n)
            .map(|i| PlanFrame {
                bytes: i * len..(i + 1) * len,
                samples: 1152,
            })
            .collect()
    }

    #[test]
    fn cuts_at_target_duration() {
        // 44100 Hz, 2 s = 88200 samples = 76.6 frames of 1152: 77 frames per segment.
        let segs = plan(&frames(200, 400), 44_100, Duration::from_secs(2));
        assert_eq!(
            segs.iter().map(|s| s.frames).collect::<Vec<_>>(),
            [77, 77, 46]
        );
        assert_eq!(segs[0].bytes, 0..77 * 400);
        assert_eq!(segs[1].bytes.start, segs[0].bytes.end);
        assert_eq!(segs[2].bytes.end, 200 * 400);
        assert_eq!(segs.iter().map(|s| s.samples).sum::<u64>(), 200 * 1152);
    }

    #[test]
    fn info_frame_rides_in_the_first_segment_uncounted() {
        let mut all = vec![PlanFrame {
            bytes: 0..400,
            samples: 0,
        }];
        all.extend(frames(10, 400).into_iter().map(|f| PlanFrame {
            bytes: f.bytes.start + 400..f.bytes.end + 400,
            samples: f.samples,
        }));
        let segs = plan(&all, 44_100, Duration::from_millis(100));
        // 100 ms = 4410 samples: 4 frames.
        assert_eq!(
            segs[0],
            PlannedSegment {
                bytes: 0..2000,
                frames: 4,
                samples: 4 * 1152
            }
        );
        assert_eq!(segs.iter().map(|s| s.frames).sum::<u32>(), 10);
    }

    #[test]
    fn gaps_end_segments() {
        let mut all = frames(4, 100);
        all.push(PlanFrame {
            bytes: 450..550,
            samples: 1152,
        });
        let segs = plan(&all, 44_100, Duration::from_secs(2));
        assert_eq!(segs.len(), 2);
        assert_eq!(segs[0].bytes, 0..400);
        assert_eq!(segs[1].bytes, 450..550);
    }

    #[test]
    fn zero_target_gives_one_frame_per_segment() {
        let segs = plan(&frames(3, 100), 8_000, Duration::ZERO);
        assert_eq!(segs.len(), 3);
        assert!(plan(&[], 8_000, Duration::ZERO).is_empty());
    }
}
