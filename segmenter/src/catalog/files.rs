//! A song folder of a catalog on disk: the names of its files, and reading its segments on demand.
//!
//! A server serving a catalog reads a segment when a client asks for it. Reading everything at
//! startup would take as long as the catalog is large, and mapping
//! each segment file instead would need one mapping per segment, beyond the kernel's default limit
//! of 65530 mappings per process for a few hundred songs. One `read` of a ~32 KB file that the page
//! cache usually holds costs tens of microseconds.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

/// File name of segment `index` inside a song folder: six digits or more, so names sort in order up
/// to a million segments.
pub fn segment_file_name(index: u32) -> String {
    format!("{index:06}.seg")
}

/// Where a song's segments are on disk, for songs loaded from a catalog. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SegmentFiles {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    /// The expected size of each segment, from the manifest.
    sizes: Vec<u32>,
}

/// Why a segment could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SegmentReadError {
    #[error("no segment {0}")]
    OutOfRange(u32),
    #[error("cannot read segment {index} from {path}: {source}")]
    Io {
        index: u32,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("segment file {path} holds {found} bytes, the manifest says {expected}")]
    Size {
        path: PathBuf,
        found: u64,
        expected: u32,
    },
}

impl SegmentFiles {
    /// The segments in `dir`, with the sizes the manifest gives.
    pub fn new(dir: PathBuf, sizes: Vec<u32>) -> Self {
        SegmentFiles {
            inner: Arc::new(Inner { dir, sizes }),
        }
    }

    /// The song folder.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Number of segments.
    pub fn len(&self) -> usize {
        self.inner.sizes.len()
    }

    /// True when there are no segments (never for a loaded song: a manifest lists at least one).
    pub fn is_empty(&self) -> bool {
        self.inner.sizes.is_empty()
    }

    /// Path of segment `index`.
    pub fn path(&self, index: u32) -> PathBuf {
        self.inner.dir.join(segment_file_name(index))
    }

    /// Reads segment `index` from disk (blocking), checking that it has the size the manifest says.
    /// The content is not hashed here: the server checks it against the manifest's SHA-256.
    pub fn read(&self, index: u32) -> Result<Bytes, SegmentReadError> {
        let expected = *self
            .inner
            .sizes
            .get(index as usize)
            .ok_or(SegmentReadError::OutOfRange(index))?;
        let path = self.path(index);
        let io = |source| SegmentReadError::Io {
            index,
            path: path.clone(),
            source,
        };
        let mut file = std::fs::File::open(&path).map_err(io)?;
        // One byte more than expected tells a grown file from a complete one.
        let mut data = Vec::with_capacity(expected as usize + 1);
        (&mut file)
            .take(u64::from(expected) + 1)
            .read_to_end(&mut data)
            .map_err(io)?;
        if data.len() != expected as usize {
            return Err(SegmentReadError::Size {
                path,
                found: data.len() as u64,
                expected,
            });
        }
        Ok(Bytes::from(data))
    }
}
