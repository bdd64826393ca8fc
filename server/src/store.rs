//! The songs a server offers, prepared once at startup so that serving a request never serialises or
//! copies anything: every connection sends clones of the same shared buffers.
//!
//! Songs come from a music folder (segments in memory) or from a pre-chunked catalog (segments on
//! disk). A catalog segment is read when first asked for, off the event loop, and kept in a cache
//! shared by all connections ([`crate::cache`]), so it too is sent from one shared buffer.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use jukebox_protocol::{ListRequest, Page, ServerInfo, SongSummary, MAX_PAYLOAD};
use jukebox_segmenter::{summaries_of, SegmentFiles, SegmentReadError, Song};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::cache::{SegmentCache, DEFAULT_CACHE_BYTES};

/// Disk reads under way at once, server-wide: enough requests to keep a disk busy. A request
/// waiting for its turn costs nothing and is dropped if cancelled. A read gives its place back
/// when it ends, is cancelled or passes its deadline, whether or not its thread has returned.
const MAX_DISK_READS: usize = 32;

/// Blocking threads reading segments at once, counting those whose read was abandoned (cancelled
/// or past its deadline) but whose system call has not returned: a thread cannot be stopped inside
/// `open` or `read`. Past this, storage is not answering and a new read fails at once instead of
/// adding a thread.
const MAX_READ_THREADS: usize = 2 * MAX_DISK_READS;

/// Default [`Store::read_timeout`]: far beyond a healthy disk's or network filesystem's worst case,
/// and about as long as a client's read-ahead lasts.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Default [`Store::with_transfer_budget`]: 8,192 segments of 2 s at 128 kbit/s being sent at once
/// beyond what the cache holds, when a connection holds one segment at a time.
pub const DEFAULT_TRANSFER_BYTES: u64 = 256 << 20;

/// Most songs in one PAGE ([`ServerInfo::max_page`]).
pub const MAX_PAGE: u32 = 500;

/// Songs in a PAGE when the LIST does not say.
pub const DEFAULT_PAGE: u32 = 100;

/// The songs a server offers, with their manifests serialised once for everyone.
pub struct Store {
    /// Sorted by song ID, IDs unique and nonzero, so lookups are a binary search.
    songs: Vec<Song>,
    /// `manifest_json[i]` is the manifest of `songs[i]`.
    manifest_json: Vec<Bytes>,
    /// `summaries[i]` lists `songs[i]` in a page; `words[i]` are its words for searching.
    summaries: Vec<SongSummary>,
    words: Vec<Vec<String>>,
    /// The WELCOME document.
    info_json: Bytes,
    /// Segments of catalog songs read from disk.
    cache: SegmentCache,
    disk_reads: Arc<Semaphore>,
    read_threads: Arc<Semaphore>,
    read_timeout: Duration,
    /// KiB of segment buffers read from disk that may exist at once, cached or held by transfers:
    /// each holds its permits until its last reference goes.
    memory: Arc<Semaphore>,
    memory_kib: usize,
    cache_bytes: u64,
}

/// Why a segment cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    UnknownSong,
    OutOfRange,
    /// The segment exists but is on disk: see [`Store::locate`].
    OnDisk,
}

/// Where a segment's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Located<'a> {
    /// In memory: send at once.
    Memory(&'a Bytes),
    /// In a catalog on disk: [`Store::cached`], else [`Store::read`].
    Disk,
}

/// A catalog segment that could not be read; the details are logged, not sent to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("segment {index} of song {song} cannot be read")]
pub struct ReadFailed {
    pub song: u64,
    pub index: u32,
}

impl Store {
    /// Indexes the songs by ID and serialises the catalog and every manifest.
    ///
    /// Songs with ID 0 or with an ID already taken are left out with a warning: a client could not
    /// address them unambiguously.
    pub fn new(songs: Vec<Song>) -> Store {
        Store::with_cache(songs, DEFAULT_CACHE_BYTES)
    }

    /// [`Store::new`] with a cache of `cache_bytes` for segments read from a catalog (0: none;
    /// requests for a segment being read still share that read).
    pub fn with_cache(songs: Vec<Song>, cache_bytes: u64) -> Store {
        let mut songs = songs;
        songs.sort_by_key(|song| song.manifest.id);
        let mut kept: Vec<Song> = Vec::with_capacity(songs.len());
        for song in songs {
            let id = song.manifest.id;
            if id == 0 || kept.last().is_some_and(|s| s.manifest.id == id) {
                tracing::warn!(
                    id,
                    path = %song.path.display(),
                    "song left out: its ID is 0 or already taken"
                );
                continue;
            }
            // A catalog song's segments are on disk; load_catalog checked them against the manifest.
            if song.files.is_none() && song.segments.len() != song.manifest.segments.len() {
                tracing::warn!(
                    id,
                    path = %song.path.display(),
                    "song has {} segments but its manifest lists {}",
                    song.segments.len(),
                    song.manifest.segments.len()
                );
            }
            kept.push(song);
        }
        let manifest_json: Vec<Bytes> = kept
            .iter()
            .map(|song| {
                let json = Bytes::from(song.manifest.to_json());
                if !fits(&json) {
                    tracing::warn!(
                        id = song.manifest.id,
                        "manifest is too large for one frame; GET_MANIFEST will fail"
                    );
                }
                json
            })
            .collect();
        let summaries = summaries_of(&kept);
        let words = summaries
            .iter()
            .map(|s| words(&format!("{} {} {}", s.title, s.artist, s.album)))
            .collect();
        let info = ServerInfo {
            server: concat!("jukebox-server/", env!("CARGO_PKG_VERSION")).into(),
            catalog: catalog_digest(&manifest_json),
            songs: kept.len() as u64,
            max_page: MAX_PAGE,
        };
        Store {
            songs: kept,
            manifest_json,
            summaries,
            words,
            info_json: Bytes::from(info.to_json()),
            cache: SegmentCache::new(cache_bytes),
            disk_reads: Arc::new(Semaphore::new(MAX_DISK_READS)),
            read_threads: Arc::new(Semaphore::new(MAX_READ_THREADS)),
            read_timeout: DEFAULT_READ_TIMEOUT,
            memory: Arc::new(Semaphore::new(0)),
            memory_kib: 0,
            cache_bytes,
        }
        .with_transfer_budget(DEFAULT_TRANSFER_BYTES)
    }

    /// Sets how many bytes of segments read from the catalog may be held by transfers beyond what
    /// the cache holds (default [`DEFAULT_TRANSFER_BYTES`]): a read waits, within its read timeout,
    /// while the buffers read from disk and still referenced, by the cache or by a transfer, take
    /// the cache's size plus this. So memory for segments stays bounded however many clients ask
    /// for segments they do not read.
    pub fn with_transfer_budget(mut self, bytes: u64) -> Store {
        self.memory_kib = kib(self.cache_bytes.saturating_add(bytes));
        self.memory = Arc::new(Semaphore::new(self.memory_kib));
        self
    }

    /// KiB of the segment memory budget not taken by buffers read from disk.
    pub fn memory_available_kib(&self) -> usize {
        self.memory.available_permits()
    }

    /// Sets how long a catalog segment read may take, waiting for its turn included, before it
    /// fails (default [`DEFAULT_READ_TIMEOUT`]).
    pub fn with_read_timeout(mut self, timeout: Duration) -> Store {
        self.read_timeout = timeout;
        self
    }

    /// Number of songs offered.
    pub fn len(&self) -> usize {
        self.songs.len()
    }

    /// True when no song is offered.
    pub fn is_empty(&self) -> bool {
        self.songs.is_empty()
    }

    /// The songs offered, in ID order.
    pub fn songs(&self) -> &[Song] {
        &self.songs
    }

    /// The WELCOME document as compact JSON.
    pub fn info_json(&self) -> &Bytes {
        &self.info_json
    }

    /// One page of the songs matching `request`, in ID order, as compact JSON: as many songs as
    /// asked for (at most [`MAX_PAGE`]) and as fit into one frame. An error for a cursor this store
    /// did not make.
    pub fn page(&self, request: &ListRequest) -> Result<Bytes, String> {
        let after = match &request.cursor {
            None => 0,
            Some(cursor) => cursor
                .strip_prefix('a')
                .and_then(|id| id.parse::<u64>().ok())
                .ok_or_else(|| format!("{cursor:?} is not a cursor of this server"))?,
        };
        let query = words(&request.query);
        let matches = |i: &usize| {
            query
                .iter()
                .all(|q| self.words[*i].iter().any(|w| w.starts_with(q.as_str())))
        };
        let start = self.songs.partition_point(|s| s.manifest.id <= after);
        let limit = request.limit.unwrap_or(DEFAULT_PAGE).min(MAX_PAGE) as usize;
        let total = if query.is_empty() {
            self.songs.len()
        } else {
            (0..self.songs.len()).filter(matches).count()
        };
        let mut page = Page {
            total: total as u64,
            ..Page::default()
        };
        // Room for the page's other members, generously.
        let mut room = MAX_PAYLOAD as usize - 512;
        let mut last = None;
        for i in (start..self.songs.len()).filter(matches) {
            let size = jukebox_protocol::document::to_json(&self.summaries[i]).len() + 1;
            if page.songs.len() == limit || size > room {
                page.next = last.map(|id| format!("a{id}"));
                break;
            }
            room -= size;
            last = Some(self.songs[i].manifest.id);
            page.songs.push(self.summaries[i].clone());
        }
        Ok(Bytes::from(page.to_json()))
    }

    /// A song's manifest as compact JSON.
    pub fn manifest_json(&self, id: u64) -> Option<&Bytes> {
        self.position(id).map(|i| &self.manifest_json[i])
    }

    /// Where segment `index` of song `id` is, without reading anything.
    pub fn locate(&self, id: u64, index: u32) -> Result<Located<'_>, Lookup> {
        let song = &self.songs[self.position(id).ok_or(Lookup::UnknownSong)?];
        if let Some(segment) = song.segments.get(index as usize) {
            return Ok(Located::Memory(segment));
        }
        match &song.files {
            Some(files) if (index as usize) < files.len() => Ok(Located::Disk),
            _ => Err(Lookup::OutOfRange),
        }
    }

    /// The bytes of one segment of a song held in memory; [`Lookup::OnDisk`] for a catalog song.
    pub fn segment(&self, id: u64, index: u32) -> Result<&Bytes, Lookup> {
        match self.locate(id, index)? {
            Located::Memory(segment) => Ok(segment),
            Located::Disk => Err(Lookup::OnDisk),
        }
    }

    /// A catalog segment if the cache holds it.
    pub fn cached(&self, id: u64, index: u32) -> Option<Bytes> {
        self.cache.get((id, index))
    }

    /// A catalog segment from the cache, or else read from disk on the blocking thread pool (one
    /// read for all who ask at once) and cached. The bytes are checked against the manifest's size
    /// and SHA-256, so a folder a later segmenter run removed or rewrote gives an error, never
    /// partial or wrong bytes. The error is logged here as a warning.
    pub async fn read(self: Arc<Self>, id: u64, index: u32) -> Result<Bytes, ReadFailed> {
        let failed = ReadFailed { song: id, index };
        let song = &self.songs[self.position(id).ok_or(failed.clone())?];
        let (Some(files), Some(info)) = (&song.files, song.manifest.segments.get(index as usize))
        else {
            return Err(failed);
        };
        let (files, sha256) = (files.clone(), info.sha256.clone());
        // A segment larger than the whole budget takes all of it, rather than waiting for ever.
        let size = kib(u64::from(info.bytes)).clamp(1, self.memory_kib.max(1)) as u32;
        let load = async {
            let outcome = tokio::time::timeout(self.read_timeout, async {
                // The buffer's place in the memory budget, taken before the disk's turn, and kept
                // by the buffer itself until its last reference goes.
                let Ok(memory) = self.memory.clone().acquire_many_owned(size).await else {
                    return Err("the memory semaphore is closed".to_string());
                };
                // The store owns the semaphores and never closes them. The permit stays here, so
                // it is given back when this future ends or is dropped, even if the thread hangs.
                let Ok(_permit) = self.disk_reads.acquire().await else {
                    return Err("the read semaphore is closed".to_string());
                };
                let Ok(thread) = self.read_threads.clone().try_acquire_owned() else {
                    return Err(format!(
                        "{MAX_READ_THREADS} earlier reads are still stuck in the filesystem"
                    ));
                };
                let read = tokio::task::spawn_blocking(move || {
                    let _thread = thread;
                    read_checked(&files, index, &sha256)
                });
                match read.await {
                    Ok(result) => result
                        .map(|bytes| {
                            Bytes::from_owner(Held {
                                bytes,
                                _memory: memory,
                            })
                        })
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(format!("the read failed: {e}")),
                }
            })
            .await;
            match outcome {
                Ok(Ok(bytes)) => Ok(bytes),
                Ok(Err(e)) => {
                    tracing::warn!(song = id, index, "cannot serve a catalog segment: {e}");
                    Err(failed.clone())
                }
                Err(_) => {
                    tracing::warn!(
                        song = id,
                        index,
                        "cannot serve a catalog segment: not read within {} s",
                        self.read_timeout.as_secs_f64()
                    );
                    Err(failed.clone())
                }
            }
        };
        self.cache.get_or_load((id, index), load).await
    }

    /// The segment cache, for tests and statistics.
    pub fn cache(&self) -> &SegmentCache {
        &self.cache
    }

    fn position(&self, id: u64) -> Option<usize> {
        self.songs
            .binary_search_by_key(&id, |song| song.manifest.id)
            .ok()
    }
}

/// A segment buffer read from disk, with its place in the store's memory budget.
struct Held {
    bytes: Bytes,
    _memory: tokio::sync::OwnedSemaphorePermit,
}

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

/// Whole KiB covering `bytes`, for the memory budget (a semaphore of KiB permits).
fn kib(bytes: u64) -> usize {
    usize::try_from(bytes.div_ceil(1024))
        .unwrap_or(usize::MAX)
        .min(Semaphore::MAX_PERMITS)
}

/// Reads a segment file (blocking) and checks it against the manifest: size (by `read`) and hash.
fn read_checked(files: &SegmentFiles, index: u32, sha256: &str) -> Result<Bytes, SegmentReadError> {
    let bytes = files.read(index)?;
    if hex::encode(Sha256::digest(&bytes)) != sha256 {
        return Err(SegmentReadError::Io {
            index,
            path: files.path(index),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "content does not match the manifest's SHA-256",
            ),
        });
    }
    Ok(bytes)
}

/// The lowercase words of a text, for searching.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Names the catalog's contents ([`ServerInfo::catalog`]): SHA-256 over every manifest in ID order,
/// each prefixed by its length. A manifest names its song and every segment's SHA-256, so the
/// digest changes with any song, ID or segment byte.
fn catalog_digest(manifests: &[Bytes]) -> String {
    let mut hash = Sha256::new();
    for json in manifests {
        hash.update((json.len() as u64).to_be_bytes());
        hash.update(json);
    }
    hex::encode(hash.finalize())
}

/// True when a JSON document fits in one frame's payload.
pub(crate) fn fits(json: &Bytes) -> bool {
    !json.is_empty() && json.len() <= MAX_PAYLOAD as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_songs::song;
    use jukebox_protocol::{ListRequest, Page};

    #[test]
    fn looks_up_songs_and_segments_by_id() {
        let store = Store::new(vec![song(7, &[b"seven"]), song(2, &[b"two-a", b"two-b"])]);
        assert_eq!(store.len(), 2);
        assert_eq!(store.segment(2, 1).unwrap().as_ref(), b"two-b");
        assert_eq!(store.segment(7, 0).unwrap().as_ref(), b"seven");
        assert_eq!(store.segment(7, 1), Err(Lookup::OutOfRange));
        assert_eq!(store.segment(7, u32::MAX), Err(Lookup::OutOfRange));
        assert_eq!(store.segment(3, 0), Err(Lookup::UnknownSong));
        assert!(store.manifest_json(1).is_none());
        let manifest =
            jukebox_protocol::Manifest::from_json(store.manifest_json(7).unwrap()).unwrap();
        assert_eq!(manifest.id, 7);
    }

    #[test]
    fn catalog_lists_songs_in_id_order() {
        let store = Store::new(vec![song(3, &[b"c"]), song(1, &[b"a", b"b"])]);
        let catalog = Page::from_json(&store.page(&ListRequest::default()).unwrap()).unwrap();
        let ids: Vec<u64> = catalog.songs.iter().map(|s| s.id).collect();
        assert_eq!(ids, [1, 3]);
        assert_eq!(catalog.songs[0].segments, 2);
    }

    #[test]
    fn leaves_out_duplicate_and_zero_ids() {
        let store = Store::new(vec![
            song(1, &[b"first"]),
            song(1, &[b"second"]),
            song(0, &[b"z"]),
        ]);
        assert_eq!(store.len(), 1);
        assert!(store.manifest_json(0).is_none());
        let catalog = Page::from_json(&store.page(&ListRequest::default()).unwrap()).unwrap();
        assert_eq!(catalog.songs.len(), 1);
    }

    /// Song 4 of a catalog in `dir`: segments "zero" and "one!" written as files.
    fn catalog_song(dir: &std::path::Path) -> Song {
        let mut s = song(4, &[b"zero", b"one!"]);
        for (index, bytes) in s.segments.drain(..).enumerate() {
            let name = jukebox_segmenter::files::segment_file_name(index as u32);
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        s.files = Some(SegmentFiles::new(dir.to_path_buf(), vec![4, 4]));
        s
    }

    #[test]
    fn catalog_segments_are_located_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(vec![catalog_song(dir.path()), song(1, &[b"m"])]);
        assert_eq!(
            store.len(),
            2,
            "a catalog song has no segments in memory, and is kept"
        );
        assert_eq!(store.locate(4, 1), Ok(Located::Disk));
        assert_eq!(store.locate(4, 2), Err(Lookup::OutOfRange));
        assert_eq!(store.segment(4, 0), Err(Lookup::OnDisk));
        assert_eq!(
            store.locate(1, 0).unwrap(),
            Located::Memory(&Bytes::from_static(b"m"))
        );
    }

    #[tokio::test]
    async fn a_catalog_segment_is_read_checked_and_cached() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::new(vec![catalog_song(dir.path())]));
        assert_eq!(store.cached(4, 1), None);
        assert_eq!(store.clone().read(4, 1).await.unwrap(), "one!");
        let cached = store.cached(4, 1).unwrap();
        assert_eq!(cached, "one!");
        // Later requests get the same buffer, even with the file gone.
        std::fs::remove_file(dir.path().join("000001.seg")).unwrap();
        let again = store.clone().read(4, 1).await.unwrap();
        assert_eq!(again.as_ptr(), cached.as_ptr());
        // Same size, other bytes: refused, not sent.
        std::fs::write(dir.path().join("000000.seg"), b"ZERO").unwrap();
        let failed = ReadFailed { song: 4, index: 0 };
        assert_eq!(store.clone().read(4, 0).await, Err(failed.clone()));
        // Short: refused too.
        std::fs::write(dir.path().join("000000.seg"), b"zer").unwrap();
        assert_eq!(store.clone().read(4, 0).await, Err(failed));
        assert_eq!(store.cached(4, 0), None);
        assert!(store.clone().read(9, 0).await.is_err());
    }

    #[tokio::test]
    async fn a_buffer_read_from_disk_holds_its_memory_until_its_last_reference_goes() {
        let dir = tempfile::tempdir().unwrap();
        // No cache, and room for one small segment (1 KiB) beyond it.
        let store = Arc::new(
            Store::with_cache(vec![catalog_song(dir.path())], 0)
                .with_transfer_budget(1024)
                .with_read_timeout(Duration::from_millis(100)),
        );
        assert_eq!(store.memory_available_kib(), 1);
        let first = store.clone().read(4, 0).await.unwrap();
        assert_eq!(store.memory_available_kib(), 0);
        let shared = first.slice(1..);
        drop(first);
        assert_eq!(store.memory_available_kib(), 0, "a slice holds the buffer");
        // No room: the next read waits, and fails at its read timeout.
        assert!(store.clone().read(4, 1).await.is_err());
        drop(shared);
        assert_eq!(store.memory_available_kib(), 1);
        assert_eq!(store.clone().read(4, 1).await.unwrap(), "one!");
        assert_eq!(store.memory_available_kib(), 1);
    }

    /// Once [`MAX_READ_THREADS`] (here 1) threads are stuck, a read fails at once instead of
    /// adding a thread, whatever the file; when the stuck thread returns, reads work again.
    #[test]
    fn reads_stop_adding_threads_while_earlier_ones_are_stuck() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::new(vec![catalog_song(dir.path())])
            .with_read_timeout(Duration::from_millis(100));
        store.read_threads = Arc::new(Semaphore::new(1));
        let store = Arc::new(store);
        let fifo = dir.path().join("000000.seg");
        std::fs::remove_file(&fifo).unwrap();
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runtime.block_on(async {
                assert!(
                    store.clone().read(4, 0).await.is_err(),
                    "the FIFO read times out"
                );
                assert!(
                    store.clone().read(4, 1).await.is_err(),
                    "no thread is left for a good file"
                );
                // Let the stuck open go on (opening a FIFO for reading and writing never blocks),
                // again until its thread has returned, in case it had not reached `open` yet.
                let patience = tokio::time::Instant::now() + Duration::from_secs(20);
                loop {
                    drop(
                        std::fs::OpenOptions::new()
                            .read(true)
                            .write(true)
                            .open(&fifo),
                    );
                    let wait = Duration::from_millis(50);
                    if let Ok(thread) =
                        tokio::time::timeout(wait, store.read_threads.acquire()).await
                    {
                        drop(thread);
                        break;
                    }
                    assert!(
                        tokio::time::Instant::now() < patience,
                        "the FIFO read never returned"
                    );
                }
                assert_eq!(store.clone().read(4, 1).await.unwrap(), "one!");
            })
        }));
        runtime.shutdown_background();
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }

    #[test]
    fn segments_are_shared_not_copied() {
        let data = Bytes::from_static(b"shared segment");
        let mut s = song(1, &[b"x"]);
        s.segments = vec![data.clone()];
        let store = Store::new(vec![s]);
        assert_eq!(store.segment(1, 0).unwrap().as_ptr(), data.as_ptr());
    }
}
