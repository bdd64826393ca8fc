//! Reading a source file for a catalog, and its content hash.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::time::SystemTime;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::Song;

/// A source file's bytes, with the size and modification time they were read at.
pub(crate) struct Source {
    pub data: Bytes,
    pub size: u64,
    pub mtime_ns: i64,
}

/// Reads a whole file and makes sure it did not change meanwhile: same size and modification time
/// before and after, and as many bytes read as it had. `between` runs after the read, before the
/// second look (tests change the file there).
pub(crate) fn read_source(path: &Path, between: impl FnOnce()) -> Result<Source, String> {
    let cannot = |e: std::io::Error| format!("cannot read: {e}");
    let mut file = File::open(path).map_err(cannot)?;
    let before = file.metadata().map_err(cannot)?;
    if before.is_dir() {
        return Err("is a directory".into());
    }
    let mut data = Vec::with_capacity(before.len() as usize);
    file.read_to_end(&mut data).map_err(cannot)?;
    between();
    let after = std::fs::metadata(path).map_err(cannot)?;
    let stamp = |m: &std::fs::Metadata| (m.len(), m.modified().ok());
    if stamp(&before) != stamp(&after) || data.len() as u64 != after.len() {
        return Err("changed while being read".into());
    }
    Ok(Source {
        data: Bytes::from(data),
        size: after.len(),
        mtime_ns: after.modified().map_or(0, nanos_since_epoch),
    })
}

fn nanos_since_epoch(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

/// The content hash: SHA-256 over the file with each segment replaced by its SHA-256 (the one the
/// manifest holds anyway), so every byte is hashed once and a run keeps close to hashing speed.
/// Every region is prefixed with its kind and length, so different files never hash alike.
pub(crate) fn content_hash(data: &[u8], song: &Song) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"jukebox content v1\0");
    hasher.update((data.len() as u64).to_le_bytes());
    let base = data.as_ptr() as usize;
    let mut at = 0;
    for (bytes, info) in song.segments.iter().zip(&song.manifest.segments) {
        let start = (bytes.as_ptr() as usize).wrapping_sub(base).min(data.len());
        if start > at {
            hasher.update(b"r");
            hasher.update(((start - at) as u64).to_le_bytes());
            hasher.update(&data[at..start]);
        }
        hasher.update(b"s");
        hasher.update((bytes.len() as u64).to_le_bytes());
        let mut digest = [0u8; 32];
        // The manifest's hashes are well formed: validation passed.
        let _ = hex::decode_to_slice(&info.sha256, &mut digest);
        hasher.update(digest);
        at = (start + bytes.len()).min(data.len());
    }
    if at < data.len() {
        hasher.update(b"r");
        hasher.update(((data.len() - at) as u64).to_le_bytes());
        hasher.update(&data[at..]);
    }
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Duration;

    use crate::segment_bytes;

    #[test]
    fn a_file_that_changes_while_being_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.mp3");
        std::fs::write(&path, b"first").unwrap();
        let grow = || {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap();
            f.write_all(b" and more").unwrap();
        };
        let err = read_source(&path, grow).err().unwrap();
        assert_eq!(err, "changed while being read");
        let ok = read_source(&path, || {}).unwrap();
        assert_eq!(&ok.data[..], b"first and more");
        assert_eq!(ok.size, 14);
    }

    #[test]
    fn content_hash_covers_every_byte() {
        let data = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../music/03-small-hours.mp3"
        ))
        .unwrap();
        let hash = |data: &[u8]| {
            let bytes = Bytes::copy_from_slice(data);
            let song = segment_bytes("t", bytes.clone(), Duration::from_secs(2)).unwrap();
            content_hash(&bytes, &song)
        };
        let original = hash(&data);
        assert_eq!(hash(&data), original);
        // A byte in the tag, in the audio, and in the last byte (ID3v1 or audio) each change it.
        for at in [20, data.len() / 2, data.len() - 1] {
            let mut changed = data.clone();
            changed[at] ^= 0x01;
            assert_ne!(hash(&changed), original, "byte {at}");
        }
    }
}
