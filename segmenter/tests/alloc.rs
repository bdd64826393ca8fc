//! No input makes the segmenter allocate far more than the input's size. The fuzzer found an ID3v2.3
//! frame header claiming 2.6 GB (in a 486-byte file) that the `id3` crate allocated before reading;
//! a server with less memory would abort. This binary counts the largest allocation.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use jukebox_segmenter::segment_bytes;

struct Largest;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

/// An ID3v2 tag of `version` holding one frame `id` whose size field says `claimed`.
fn lying_frame_tag(version: u8, id: &[u8], claimed: u32, flags: u16) -> Vec<u8> {
    let mut frame = id.to_vec();
    if version == 4 {
        // Syncsafe: at most 2^28 - 1.
        let c = claimed.min(0x0FFF_FFFF);
        frame.extend([21, 14, 7, 0].map(|s| (c >> s) as u8 & 0x7F));
    } else {
        frame.extend(claimed.to_be_bytes());
    }
    frame.extend(flags.to_be_bytes());
    frame.extend(b"\x00some text");
    let mut tag = vec![b'I', b'D', b'3', version, 0, 0];
    let len = frame.len();
    tag.extend([21, 14, 7, 0].map(|s| (len >> s) as u8 & 0x7F));
    tag.extend(frame);
    tag
}

#[test]
fn frame_sizes_that_lie_allocate_nothing_large() {
    let audio = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../music/03-small-hours.mp3"
    ))
    .unwrap();
    let mut inputs = vec![include_bytes!("data/fuzz-oom-id3-frame-size.bin")[1..].to_vec()];
    for (version, id, flags) in [
        (3, &b"TLEN"[..], 0),
        (3, b"TIT2", 0),
        (3, b"TIT2", 0x0080),
        (4, b"TIT2", 0),
        (4, b"TPE1", 0x0008),
    ] {
        let mut data = lying_frame_tag(version, id, 0xA000_0000, flags);
        data.extend(&audio);
        inputs.push(data);
    }
    for (i, data) in inputs.into_iter().enumerate() {
        let len = data.len();
        LARGEST.store(0, Ordering::Relaxed);
        let result = segment_bytes("fallback", Bytes::from(data), Duration::from_secs(2));
        let largest = LARGEST.load(Ordering::Relaxed);
        assert!(
            largest <= 2 * len + (1 << 20),
            "input {i} of {len} bytes made an allocation of {largest} bytes"
        );
        if i > 0 {
            let song = result.expect("the audio after the tag segments");
            assert_eq!(song.manifest.title, "fallback", "input {i}");
        }
    }
}
