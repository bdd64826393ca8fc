//! Checking a segment against its manifest entry before any of it reaches the decoder.

use jukebox_protocol::SegmentInfo;
use sha2::{Digest, Sha256};

/// True when `bytes` has the length and SHA-256 the manifest promises.
pub fn segment_is_intact(info: &SegmentInfo, bytes: &[u8]) -> bool {
    bytes.len() as u64 == u64::from(info.bytes) && hex::encode(Sha256::digest(bytes)) == info.sha256
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(bytes: &[u8]) -> SegmentInfo {
        SegmentInfo {
            index: 0,
            bytes: bytes.len() as u32,
            frames: 1,
            samples: 1152,
            sha256: hex::encode(Sha256::digest(bytes)),
        }
    }

    #[test]
    fn accepts_the_right_bytes_and_rejects_any_change() {
        let segment = b"some mp3 frames".to_vec();
        let info = info(&segment);
        assert!(segment_is_intact(&info, &segment));
        let mut flipped = segment.clone();
        flipped[3] ^= 1;
        assert!(!segment_is_intact(&info, &flipped));
        assert!(!segment_is_intact(&info, &segment[1..]));
    }
}
