//! The songs a server offers: a catalog index ([`jukebox_segmenter::catalog::index`]) answering
//! pages and searches, manifests loaded from it when first asked for and kept in a bounded cache,
//! and segments held in memory or read from disk and shared by all connections.
//!
//! A pre-chunked catalog (`--catalog`) is opened in constant time: only its index's summary row is
//! read at startup. Songs given in memory (`--music`, the embedded server, tests) get an index of
//! their own in a temporary folder, built by the same code the segmenter uses, and are then served
//! by the same code as a catalog's. A catalog segment is read when first asked for, off the event
//! loop, and kept in a cache shared by all connections ([`crate::cache`]), so it too is sent from
//! one shared buffer.
//!
//! The index may change under a running server (a segmenter run on the same folder): every answer
//! comes from one state of it, old or new, and the manifest cache is emptied when its generation
//! changes. Segments are cached by their SHA-256, so a cached segment is never stale.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use jukebox_protocol::{ErrorCode, ListRequest, Manifest, Page, ServerInfo, MAX_PAYLOAD};
use jukebox_segmenter::catalog::index::{self, Index, IndexError, Row, SONGS_DIR};
use jukebox_segmenter::{SegmentFiles, SegmentReadError, Song};
use quick_cache::sync::Cache;
use quick_cache::Weighter;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::cache::{SegmentCache, DEFAULT_CACHE_BYTES};
use crate::object_catalog::ObjectCatalog;

/// Disk reads under way at once, server-wide: enough requests to keep a disk busy. A request
/// waiting for its turn costs nothing and is dropped if cancelled. A read gives its place back
/// when it ends, is cancelled or passes its deadline, whether or not its thread has returned.
const MAX_DISK_READS: usize = 32;

/// Blocking threads reading segments at once, counting those whose read was abandoned (cancelled
/// or past its deadline) but whose system call has not returned: a thread cannot be stopped inside
/// `open` or `read`. Past this, storage is not answering and a new read fails at once instead of
/// adding a thread.
const MAX_READ_THREADS: usize = 2 * MAX_DISK_READS;

/// Default [`Store::with_read_timeout`]: far beyond a healthy disk's or network filesystem's worst case,
/// and about as long as a client's read-ahead lasts.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Default [`Store::with_transfer_budget`]: 8,192 segments of 2 s at 128 kbit/s being sent at once
/// beyond what the cache holds, when a connection holds one segment at a time.
pub const DEFAULT_TRANSFER_BYTES: u64 = 256 << 20;

/// Most songs in one PAGE ([`ServerInfo::max_page`]).
pub const MAX_PAGE: u32 = 500;

/// Songs in a PAGE when the LIST does not say.
pub const DEFAULT_PAGE: u32 = 100;

/// Bytes of manifests kept in memory: a few thousand songs' worth, whatever the catalog's size.
pub const MANIFEST_CACHE_BYTES: u64 = 16 << 20;

/// Bytes of PAGE documents kept in memory: a few hundred pages, the first pages every client asks
/// for among them.
pub const PAGE_CACHE_BYTES: u64 = 4 << 20;

/// The songs a server offers.
pub struct Store {
    index: Index,
    /// The folder holding a store's own index (songs given in memory); removed with the store.
    /// Declared after `index`, so the index's connections close first.
    _own_index: Option<tempfile::TempDir>,
    /// Where the segments the index names are: a catalog folder's `songs/`, or its objects.
    catalog: Option<Catalog>,
    /// Songs given in memory, by ID: their segments are theirs (in memory, or files of their own).
    held: HashMap<u64, Song>,
    manifests: Cache<u64, Arc<Served>, ByJsonSize>,
    /// PAGE documents made, by the index generation and the request they answer.
    pages: Cache<PageKey, Bytes, ByPageSize>,
    /// The index generation the manifest cache and `info` belong to.
    generation: AtomicI64,
    /// The WELCOME document, and the generation it was made for.
    info: Mutex<(i64, Bytes)>,
    /// Segments read from disk, by SHA-256.
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

/// Where a catalog's segments are.
enum Catalog {
    /// A folder written by `jukebox-segmenter`.
    Dir(PathBuf),
    /// The same files as objects in an S3-compatible store (`--catalog s3://...`).
    Objects(Arc<ObjectCatalog>),
}

/// A song's manifest, ready to serve.
struct Served {
    json: Bytes,
    /// Each segment's size and SHA-256.
    segments: Vec<(u32, [u8; 32])>,
    /// Where its segments are read from, unless the store holds them in memory.
    files: Option<Segments>,
}

/// Where a song's segments are read from.
#[derive(Clone)]
enum Segments {
    Files(SegmentFiles),
    /// The song folder `dir` of an object store's catalog.
    Objects {
        catalog: Arc<ObjectCatalog>,
        dir: Arc<str>,
    },
}

/// A LIST request as the page cache knows it: the index generation, search, cursor and limit.
type PageKey = (i64, String, Option<String>, u32);

/// A page's weight in the cache is its size and its key's.
#[derive(Debug, Clone, Copy)]
struct ByPageSize;

impl Weighter<PageKey, Bytes> for ByPageSize {
    fn weight(&self, key: &PageKey, page: &Bytes) -> u64 {
        (page.len() + key.1.len() + key.2.as_ref().map_or(0, String::len) + 64) as u64
    }
}

/// A manifest's weight in the cache is its size.
#[derive(Debug, Clone, Copy)]
struct ByJsonSize;

impl Weighter<u64, Arc<Served>> for ByJsonSize {
    fn weight(&self, _: &u64, served: &Arc<Served>) -> u64 {
        (served.json.len() + 40 * served.segments.len()) as u64
    }
}

/// Why a request cannot be answered: the ERROR to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    fn new(code: ErrorCode, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
        }
    }

    fn unknown_song(id: u64) -> Refusal {
        Refusal::new(ErrorCode::UnknownSong, format!("no song {id}"))
    }

    /// The index could not be read: logged here, reported to the client without details.
    fn internal(what: &str, error: impl std::fmt::Display) -> Refusal {
        tracing::warn!("cannot read the catalog index for {what}: {error}");
        Refusal::new(ErrorCode::Internal, format!("cannot read {what}"))
    }
}

/// Where a segment's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Located<'a> {
    /// In memory: send at once.
    Memory(&'a Bytes),
    /// On disk: [`Store::cached`], else [`Store::read`].
    Disk,
}

/// A segment that could not be read; the details are logged, not sent to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("segment {index} of song {song} cannot be read")]
pub struct ReadFailed {
    pub song: u64,
    pub index: u32,
}

impl Store {
    /// A store of songs given in memory, with a segment cache of the default size; see
    /// [`Store::try_new`]. Panics if the temporary index cannot be written (tests, examples).
    pub fn new(songs: Vec<Song>) -> Store {
        Store::with_cache(songs, DEFAULT_CACHE_BYTES)
    }

    /// [`Store::new`] with a cache of `cache_bytes` for segments read from files (0: none;
    /// requests for a segment being read still share that read).
    pub fn with_cache(songs: Vec<Song>, cache_bytes: u64) -> Store {
        Store::try_new(songs, cache_bytes)
            .unwrap_or_else(|e| panic!("cannot write a temporary catalog index: {e}"))
    }

    /// A store of songs given in memory: their index is written to a temporary folder (removed
    /// with the store) by the code that writes a catalog's. Songs with ID 0 or an ID already
    /// taken are left out with a warning: a client could not address them unambiguously.
    pub fn try_new(songs: Vec<Song>, cache_bytes: u64) -> Result<Store, String> {
        let mut songs = songs;
        songs.sort_by_key(|song| song.manifest.id);
        let mut held: HashMap<u64, Song> = HashMap::with_capacity(songs.len());
        let mut rows = Vec::with_capacity(songs.len());
        for song in songs {
            let id = song.manifest.id;
            if id == 0 || held.contains_key(&id) {
                tracing::warn!(
                    id,
                    path = %song.path.display(),
                    "song left out: its ID is 0 or already taken"
                );
                continue;
            }
            if song.files.is_none() && song.segments.len() != song.manifest.segments.len() {
                tracing::warn!(
                    id,
                    path = %song.path.display(),
                    "song has {} segments but its manifest lists {}",
                    song.segments.len(),
                    song.manifest.segments.len()
                );
            }
            rows.push(Row::of(&song));
            held.insert(id, song);
        }
        let dir = tempfile::Builder::new()
            .prefix("jukebox-index-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let path = dir.path().join(index::INDEX_FILE);
        index::write(&path, 0.0, rows).map_err(|e| e.to_string())?;
        let index = Index::open(&path).map_err(|e| e.to_string())?;
        Store::build(index, Some(dir), None, held, cache_bytes)
    }

    /// A store serving the catalog folder `dir` written by `jukebox-segmenter`, opened in
    /// constant time; segments read from it are cached up to `cache_bytes`.
    pub fn open_catalog(dir: &Path, cache_bytes: u64) -> Result<Store, String> {
        let index = jukebox_segmenter::open_catalog(dir).map_err(|e| e.to_string())?;
        Store::build(
            index,
            None,
            Some(Catalog::Dir(dir.to_path_buf())),
            HashMap::new(),
            cache_bytes,
        )
    }

    /// A store serving the catalog uploaded to `url` (`s3://BUCKET/PREFIX`, see
    /// [`crate::object_catalog`]): its index is downloaded into a temporary folder (removed with
    /// the store), its segments fetched when first asked for. Blocks: call it before any runtime.
    pub fn open_objects(url: &str, cache_bytes: u64) -> Result<Store, String> {
        let dir = tempfile::Builder::new()
            .prefix("jukebox-index-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let catalog = ObjectCatalog::open(url, dir.path())?;
        Store::from_objects(catalog, dir, cache_bytes)
    }

    /// A store serving `catalog`, whose index was downloaded into `dir`.
    fn from_objects(
        catalog: ObjectCatalog,
        dir: tempfile::TempDir,
        cache_bytes: u64,
    ) -> Result<Store, String> {
        let index = jukebox_segmenter::open_catalog(dir.path()).map_err(|e| e.to_string())?;
        Store::build(
            index,
            Some(dir),
            Some(Catalog::Objects(Arc::new(catalog))),
            HashMap::new(),
            cache_bytes,
        )
    }

    fn build(
        index: Index,
        own_index: Option<tempfile::TempDir>,
        catalog: Option<Catalog>,
        held: HashMap<u64, Song>,
        cache_bytes: u64,
    ) -> Result<Store, String> {
        let meta = index.meta().map_err(|e| e.to_string())?;
        let store = Store {
            index,
            _own_index: own_index,
            catalog,
            held,
            manifests: Cache::with_weighter(4096, MANIFEST_CACHE_BYTES, ByJsonSize),
            pages: Cache::with_weighter(1024, PAGE_CACHE_BYTES, ByPageSize),
            generation: AtomicI64::new(meta.generation),
            info: Mutex::new((meta.generation, Bytes::from(info_document(&meta)))),
            cache: SegmentCache::new(cache_bytes),
            disk_reads: Arc::new(Semaphore::new(MAX_DISK_READS)),
            read_threads: Arc::new(Semaphore::new(MAX_READ_THREADS)),
            read_timeout: DEFAULT_READ_TIMEOUT,
            memory: Arc::new(Semaphore::new(0)),
            memory_kib: 0,
            cache_bytes,
        };
        Ok(store.with_transfer_budget(DEFAULT_TRANSFER_BYTES))
    }

    /// Sets how many bytes of segments read from disk may be held by transfers beyond what the
    /// cache holds (default [`DEFAULT_TRANSFER_BYTES`]): a read waits, within its read timeout,
    /// while the buffers read from disk and still referenced, by the cache or by a transfer, take
    /// the cache's size plus this. So memory for segments stays bounded however many clients ask
    /// for segments they do not read.
    pub fn with_transfer_budget(mut self, bytes: u64) -> Store {
        // At least one KiB: a read asks for at least one, and a budget of none would refuse every
        // read at its timeout instead of sending segments one at a time.
        self.memory_kib = kib(self.cache_bytes.saturating_add(bytes)).max(1);
        self.memory = Arc::new(Semaphore::new(self.memory_kib));
        self
    }

    /// KiB of the segment memory budget not taken by buffers read from disk.
    pub fn memory_available_kib(&self) -> usize {
        self.memory.available_permits()
    }

    /// Sets how long a segment read from disk may take, waiting for its turn included, before it
    /// fails (default [`DEFAULT_READ_TIMEOUT`]).
    pub fn with_read_timeout(mut self, timeout: Duration) -> Store {
        self.read_timeout = timeout;
        self
    }

    /// What the index says of the catalog as a whole: songs, segments, bytes, digest.
    pub fn meta(&self) -> Result<index::Meta, String> {
        self.index.meta().map_err(|e| e.to_string())
    }

    /// Number of songs offered.
    pub fn len(&self) -> usize {
        self.meta().map_or(0, |m| m.songs as usize)
    }

    /// True when no song is offered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The WELCOME document as compact JSON, for the index as it is now.
    pub fn info_json(&self) -> Bytes {
        let mut info = self.info.lock().unwrap_or_else(|e| e.into_inner());
        match self.index.meta() {
            Ok(meta) if meta.generation != info.0 => {
                *info = (meta.generation, Bytes::from(info_document(&meta)));
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("cannot read the catalog index, WELCOME as before: {e}"),
        }
        info.1.clone()
    }

    /// One page of the songs matching `request`, as compact JSON: as many songs as asked for (at
    /// most [`MAX_PAGE`]) and as fit into one frame, in the index's order (artist, album, title,
    /// ID; case and accents folded), for a search as for the whole list. BAD_REQUEST for a
    /// cursor this store did not make, or made for another search.
    ///
    /// A page is made once for each state of the index: the same request, from any client, gets
    /// the same bytes from a cache ([`PAGE_CACHE_BYTES`]) until the index's generation changes,
    /// so that the first page every client asks for costs one read of the generation.
    pub fn page(&self, request: &ListRequest) -> Result<Bytes, Refusal> {
        let generation = self
            .index
            .generation()
            .map_err(|e| Refusal::internal("the song list", e))?;
        let key = (
            generation,
            request.query.clone(),
            request.cursor.clone(),
            request.limit.unwrap_or(DEFAULT_PAGE).min(MAX_PAGE),
        );
        if let Some(page) = self.pages.get(&key) {
            return Ok(page);
        }
        // Made in a read of its own: should a run commit in between, the page shows the newer
        // state under the older generation, which no request asks for once the newer is seen.
        // Never the other way round, so a page is never older than its generation.
        let page = self.make_page(request)?;
        self.pages.insert(key, page.clone());
        Ok(page)
    }

    /// [`Store::page`], read from the index.
    fn make_page(&self, request: &ListRequest) -> Result<Bytes, Refusal> {
        let search = index::match_expression(&request.query);
        let tag = search_tag(search.as_deref());
        let cursor = match &request.cursor {
            None => None,
            Some(text) => {
                let bad = || {
                    Refusal::new(
                        ErrorCode::BadRequest,
                        format!("{text:?} is not a cursor of this server"),
                    )
                };
                let cursor = Cursor::decode(text).ok_or_else(bad)?;
                if cursor.tag != tag {
                    return Err(Refusal::new(
                        ErrorCode::BadRequest,
                        "the cursor belongs to another search",
                    ));
                }
                Some(cursor)
            }
        };
        let failed = |e: IndexError| Refusal::internal("the song list", e);
        let limit = request.limit.unwrap_or(DEFAULT_PAGE).min(MAX_PAGE);
        // A search's total is counted for its first page and carried in its cursors.
        let (songs, counted) = self
            .index
            .page(
                search.as_deref(),
                cursor.map(|c| (c.pos, c.id)),
                limit + 1,
                search.is_none() || cursor.is_none(),
            )
            .map_err(failed)?;
        let total = counted.or(cursor.map(|c| c.total)).unwrap_or(0);
        let mut page = Page {
            total,
            ..Page::default()
        };
        // Room for the page's other members, generously.
        let mut room = MAX_PAYLOAD as usize - 512;
        let mut last = None;
        for listed in &songs {
            let size = jukebox_protocol::document::to_json(&listed.song).len() + 1;
            if page.songs.len() == limit as usize || size > room {
                page.next = last.map(|(pos, id)| {
                    Cursor {
                        pos,
                        id,
                        total,
                        tag,
                    }
                    .encode()
                });
                break;
            }
            room -= size;
            last = Some((listed.pos, listed.song.id));
            page.songs.push(listed.song.clone());
        }
        Ok(Bytes::from(page.to_json()))
    }

    /// A song's manifest as compact JSON.
    pub fn manifest_json(&self, id: u64) -> Result<Bytes, Refusal> {
        Ok(self.served(id)?.json.clone())
    }

    /// Where segment `index` of song `id` is, without reading any audio.
    pub fn locate(&self, id: u64, index: u32) -> Result<Located<'_>, Refusal> {
        if let Some(segment) = self
            .held
            .get(&id)
            .and_then(|s| s.segments.get(index as usize))
        {
            return Ok(Located::Memory(segment));
        }
        let segments = match self.manifests.get(&id) {
            Some(served) => Some(served.segments.len() as u32),
            None => self
                .index
                .segments(id)
                .map_err(|e| Refusal::internal(&format!("song {id}"), e))?,
        };
        match segments {
            None => Err(Refusal::unknown_song(id)),
            Some(n) if index < n => Ok(Located::Disk),
            Some(_) => Err(Refusal::new(
                ErrorCode::SegmentOutOfRange,
                format!("song {id} has no segment {index}"),
            )),
        }
    }

    /// A segment read from disk, if the cache holds it.
    pub fn cached(&self, id: u64, index: u32) -> Option<Bytes> {
        let served = self.manifests.get(&id)?;
        let (_, sha256) = served.segments.get(index as usize)?;
        self.cache.get(*sha256)
    }

    /// A segment from the cache, or else read from disk on the blocking thread pool (one read for
    /// all who ask at once) and cached. The bytes are checked against the manifest's size and
    /// SHA-256, so a folder a later segmenter run removed or rewrote gives an error, never partial
    /// or wrong bytes. The error is logged here as a warning.
    pub async fn read(self: Arc<Self>, id: u64, index: u32) -> Result<Bytes, ReadFailed> {
        let failed = ReadFailed { song: id, index };
        let served = self.served(id).map_err(|_| failed.clone())?;
        let (Some(files), Some(&(bytes, sha256))) =
            (served.files.clone(), served.segments.get(index as usize))
        else {
            return Err(failed);
        };
        // A segment larger than the whole budget takes all of it, rather than waiting for ever.
        let size = kib(u64::from(bytes)).clamp(1, self.memory_kib.max(1)) as u32;
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
                let files = match files {
                    Segments::Files(files) => files,
                    Segments::Objects { catalog, dir } => {
                        let size = served.segments[index as usize].0;
                        let bytes = catalog.read(&dir, index, size).await?;
                        if Sha256::digest(&bytes)[..] != sha256[..] {
                            return Err(format!(
                                "segment {index} in {dir} of {} does not match the manifest's \
                                 SHA-256",
                                catalog.url()
                            ));
                        }
                        // Held like a file's bytes, so that --transfer-mib bounds these too.
                        return Ok(Bytes::from_owner(Held {
                            bytes,
                            _memory: memory,
                        }));
                    }
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
        self.cache.get_or_load(sha256, load).await
    }

    /// The segment cache, for tests and statistics.
    pub fn cache(&self) -> &SegmentCache {
        &self.cache
    }

    /// The folder segment files of song `id` are read from, if they are on disk.
    pub fn song_folder(&self, id: u64) -> Option<PathBuf> {
        match self.served(id).ok()?.files.clone()? {
            Segments::Files(files) => Some(files.dir().to_path_buf()),
            Segments::Objects { .. } => None,
        }
    }

    /// Song `id`'s manifest, from the cache or else loaded from the index and checked.
    fn served(&self, id: u64) -> Result<Arc<Served>, Refusal> {
        let what = format!("song {id}");
        let generation = self
            .index
            .generation()
            .map_err(|e| Refusal::internal(&what, e))?;
        if self.generation.swap(generation, Ordering::AcqRel) != generation {
            self.manifests.clear();
        }
        if let Some(served) = self.manifests.get(&id) {
            return Ok(served);
        }
        let song = self
            .index
            .song(id)
            .map_err(|e| Refusal::internal(&what, e))?
            .ok_or_else(|| Refusal::unknown_song(id))?;
        let manifest = Manifest::from_json(&song.manifest)
            .map_err(|e| Refusal::internal(&what, format!("its manifest is invalid: {e}")))?;
        if manifest.id != id {
            return Err(Refusal::internal(
                &what,
                format!("its manifest is song {}'s", manifest.id),
            ));
        }
        let segments = manifest
            .segments
            .iter()
            .map(|s| {
                let mut sha256 = [0; 32];
                // Manifest::from_json checked that every hash is 64 hex digits.
                let _ = hex::decode_to_slice(&s.sha256, &mut sha256);
                (s.bytes, sha256)
            })
            .collect::<Vec<_>>();
        let sizes = || segments.iter().map(|s| s.0).collect::<Vec<_>>();
        let files = match (self.held.get(&id), &self.catalog, &song.dir) {
            (Some(held), _, _) => held.files.clone().map(Segments::Files),
            (None, Some(catalog), Some(dir)) => {
                // The folder name comes from the index: it must name a folder inside `songs/`.
                if dir.is_empty() || dir.starts_with('.') || dir.contains(['/', '\\', '\0']) {
                    return Err(Refusal::internal(&what, format!("bad folder name {dir:?}")));
                }
                Some(match catalog {
                    Catalog::Dir(catalog) => Segments::Files(SegmentFiles::new(
                        catalog.join(SONGS_DIR).join(dir),
                        sizes(),
                    )),
                    Catalog::Objects(catalog) => Segments::Objects {
                        catalog: catalog.clone(),
                        dir: dir.as_str().into(),
                    },
                })
            }
            _ => None,
        };
        let served = Arc::new(Served {
            json: Bytes::from(song.manifest),
            segments,
            files,
        });
        self.manifests.insert(id, served.clone());
        Ok(served)
    }
}

/// The WELCOME document for an index.
fn info_document(meta: &index::Meta) -> Vec<u8> {
    ServerInfo {
        server: concat!("jukebox-server/", env!("CARGO_PKG_VERSION")).into(),
        catalog: meta.digest.clone(),
        songs: meta.songs,
        max_page: MAX_PAGE,
    }
    .to_json()
}

/// Where a page ends: the last song listed (its position then, and its ID), the total of the
/// first page, and which search it belongs to. Opaque to clients: four hex numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    pos: i64,
    id: u64,
    total: u64,
    tag: u32,
}

impl Cursor {
    fn encode(&self) -> String {
        format!(
            "{:x}.{:x}.{:x}.{:x}",
            self.pos, self.id, self.total, self.tag
        )
    }

    fn decode(text: &str) -> Option<Cursor> {
        let mut parts = text.split('.').map(|part| {
            let hex = !part.is_empty()
                && part.len() <= 16
                && part.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            hex.then(|| u64::from_str_radix(part, 16).ok()).flatten()
        });
        let cursor = Cursor {
            pos: i64::try_from(parts.next()??).ok()?,
            id: parts.next()??,
            total: parts.next()??,
            tag: u32::try_from(parts.next()??).ok()?,
        };
        (parts.next().is_none() && cursor.encode() == text).then_some(cursor)
    }
}

/// A short hash of a search (`None`: the whole list), so that a cursor is not used for another.
fn search_tag(search: Option<&str>) -> u32 {
    let text = search.unwrap_or("").to_lowercase();
    xxhash_rust::xxh3::xxh3_64(text.as_bytes()) as u32
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
fn read_checked(
    files: &SegmentFiles,
    index: u32,
    sha256: &[u8; 32],
) -> Result<Bytes, SegmentReadError> {
    let bytes = files.read(index)?;
    if Sha256::digest(&bytes)[..] != sha256[..] {
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

/// True when a JSON document fits in one frame's payload.
pub(crate) fn fits(json: &Bytes) -> bool {
    !json.is_empty() && json.len() <= MAX_PAYLOAD as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_songs::song;
    use jukebox_protocol::{ListRequest, Page};

    fn memory(store: &Store, id: u64, index: u32) -> Result<Bytes, ErrorCode> {
        match store.locate(id, index) {
            Ok(Located::Memory(bytes)) => Ok(bytes.clone()),
            Ok(Located::Disk) => Err(ErrorCode::Internal),
            Err(refusal) => Err(refusal.code),
        }
    }

    fn page(store: &Store, request: &ListRequest) -> Page {
        Page::from_json(&store.page(request).unwrap()).unwrap()
    }

    #[test]
    fn a_page_is_made_once_for_every_client_that_asks() {
        let store = Store::new(vec![song(1, &[b"a"]), song(2, &[b"b"])]);
        let request = ListRequest {
            limit: Some(1),
            ..ListRequest::default()
        };
        let first = store.page(&request).unwrap();
        let again = store.page(&request).unwrap();
        assert_eq!(
            again.as_ptr(),
            first.as_ptr(),
            "the same bytes, not made again"
        );
        // Another request is another page.
        let all = store.page(&ListRequest::default()).unwrap();
        assert_ne!(all, first);
        assert_eq!(page(&store, &ListRequest::default()).songs.len(), 2);
    }

    #[test]
    fn looks_up_songs_and_segments_by_id() {
        let store = Store::new(vec![song(7, &[b"seven"]), song(2, &[b"two-a", b"two-b"])]);
        assert_eq!(store.len(), 2);
        assert_eq!(memory(&store, 2, 1).unwrap(), "two-b");
        assert_eq!(memory(&store, 7, 0).unwrap(), "seven");
        assert_eq!(memory(&store, 7, 1), Err(ErrorCode::SegmentOutOfRange));
        assert_eq!(
            memory(&store, 7, u32::MAX),
            Err(ErrorCode::SegmentOutOfRange)
        );
        assert_eq!(memory(&store, 3, 0), Err(ErrorCode::UnknownSong));
        assert_eq!(
            store.manifest_json(1).unwrap_err().code,
            ErrorCode::UnknownSong
        );
        let manifest = Manifest::from_json(&store.manifest_json(7).unwrap()).unwrap();
        assert_eq!(manifest.id, 7);
    }

    #[test]
    fn lists_songs_by_artist_album_and_title() {
        let mut songs = vec![song(3, &[b"c"]), song(1, &[b"a", b"b"]), song(2, &[b"d"])];
        songs[0].manifest.artist = "Émile".into();
        songs[1].manifest.artist = "zoé".into();
        songs[2].manifest.artist = "emile".into();
        songs[2].manifest.title = "Song 0".into();
        let store = Store::new(songs);
        let listed = page(&store, &ListRequest::default());
        let ids: Vec<u64> = listed.songs.iter().map(|s| s.id).collect();
        assert_eq!(ids, [2, 3, 1]);
        assert_eq!(listed.total, 3);
        assert_eq!(listed.songs[2].segments, 2);
        assert_eq!(listed.next, None);
    }

    #[test]
    fn leaves_out_duplicate_and_zero_ids() {
        let store = Store::new(vec![
            song(1, &[b"first"]),
            song(1, &[b"second"]),
            song(0, &[b"z"]),
        ]);
        assert_eq!(store.len(), 1);
        assert!(store.manifest_json(0).is_err());
        assert_eq!(page(&store, &ListRequest::default()).songs.len(), 1);
    }

    #[test]
    fn pages_follow_their_cursor_and_refuse_others() {
        let store = Store::new((1..=25).map(|id| song(id, &[b"x"])).collect());
        let mut request = ListRequest {
            limit: Some(10),
            ..ListRequest::default()
        };
        let mut seen = Vec::new();
        loop {
            let listed = page(&store, &request);
            assert_eq!(listed.total, 25);
            seen.extend(listed.songs.iter().map(|s| s.id));
            match listed.next {
                Some(next) => request.cursor = Some(next),
                None => break,
            }
        }
        seen.sort();
        assert_eq!(seen, (1..=25).collect::<Vec<_>>());
        for bad in [
            "",
            "x",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "1.2.3.4 ",
            "-1.2.3.4",
        ] {
            request.cursor = Some(bad.into());
            let refused = store.page(&request).unwrap_err();
            assert_eq!(refused.code, ErrorCode::BadRequest, "{bad:?}");
        }
        // A cursor of the whole list does not go on a search.
        request.cursor = page(&store, &ListRequest::default()).next;
        assert!(request.cursor.is_none(), "25 songs fit one page of 100");
        request.limit = Some(1);
        request.cursor = None;
        let cursor = page(&store, &request).next.unwrap();
        let search = ListRequest {
            query: "song".into(),
            cursor: Some(cursor),
            ..ListRequest::default()
        };
        assert_eq!(store.page(&search).unwrap_err().code, ErrorCode::BadRequest);
    }

    #[test]
    fn a_page_holds_only_what_fits_into_one_frame() {
        let mut songs: Vec<Song> = (1..=10).map(|id| song(id, &[b"x"])).collect();
        for s in &mut songs {
            s.manifest.title = "t".repeat(200_000);
        }
        let store = Store::new(songs);
        let request = ListRequest {
            limit: Some(10),
            ..ListRequest::default()
        };
        let json = store.page(&request).unwrap();
        assert!(json.len() <= MAX_PAYLOAD as usize);
        let listed = Page::from_json(&json).unwrap();
        assert_eq!(listed.songs.len(), 5);
        assert!(listed.next.is_some());
    }

    /// The IDs a search finds, all pages, in order.
    fn search(store: &Store, query: &str) -> Vec<u64> {
        let mut request = ListRequest {
            query: query.into(),
            limit: Some(1),
            ..ListRequest::default()
        };
        let mut ids = Vec::new();
        loop {
            let listed = page(store, &request);
            ids.extend(listed.songs.iter().map(|s| s.id));
            match listed.next {
                Some(next) => request.cursor = Some(next),
                None => {
                    assert_eq!(listed.total, ids.len() as u64, "{query:?}");
                    return ids;
                }
            }
        }
    }

    #[test]
    fn search_finds_words_of_title_artist_and_album_whatever_their_case_and_accents() {
        let tags = [
            (1, "Blue Tide", "Jukebox Ensemble", "Sea Songs"),
            (2, "Été indien", "Joe Dassin", "Le Jardin du Luxembourg"),
            (3, "Bluer Than Blue", "Émile", "Ça va"),
            (4, "Tide", "Other", "NEAR AND FAR"),
        ];
        let store = Store::new(
            tags.iter()
                .map(|&(id, title, artist, album)| {
                    let mut s = song(id, &[b"x"]);
                    s.manifest.title = title.into();
                    s.manifest.artist = artist.into();
                    s.manifest.album = album.into();
                    s
                })
                .collect(),
        );
        // Browsing order: artist (Émile, Joe Dassin, Jukebox Ensemble, Other), accents folded.
        assert_eq!(search(&store, ""), [3, 2, 1, 4]);
        assert_eq!(search(&store, "   "), [3, 2, 1, 4]);
        // Every word but the last is a whole word; the last may begin one; any order.
        assert_eq!(search(&store, "blue ti"), [1]);
        assert_eq!(search(&store, "tide blue"), [1]);
        assert_eq!(search(&store, "blu"), [3, 1]);
        assert!(search(&store, "blu tide").is_empty());
        assert_eq!(search(&store, "tide"), [1, 4]);
        // Case and accents, either way round.
        assert_eq!(search(&store, "ete"), [2]);
        assert_eq!(search(&store, "ÉTÉ INDIEN"), [2]);
        assert_eq!(search(&store, "EMILE"), [3]);
        assert_eq!(search(&store, "ca va"), [3]);
        assert_eq!(search(&store, "jardín"), [2]);
        // Artist and album as well as title.
        assert_eq!(search(&store, "dassin"), [2]);
        assert_eq!(search(&store, "sea songs"), [1]);
        // FTS5 syntax is just text: no error, and no column filter, operator or phrase.
        assert_eq!(search(&store, "near and"), [4]);
        assert_eq!(search(&store, "NEAR(tide"), [4]);
        assert!(search(&store, "title:blue").is_empty());
        assert!(search(&store, "blue OR tide").is_empty());
        for hostile in [
            "\"",
            "\"\"",
            "*",
            "blue*",
            "-blue",
            "^blue",
            "(",
            ")",
            "{title}",
            "blue AND",
            "NOT",
            "'",
            "\\",
            "\"blue tide\"",
            "col:",
            ":",
            "+",
            "NEAR(blue tide, 2)",
            "\0",
            "🎵",
        ] {
            let request = ListRequest {
                query: hostile.into(),
                ..ListRequest::default()
            };
            assert!(store.page(&request).is_ok(), "{hostile:?}");
        }
        assert_eq!(search(&store, "\"blue\" \"tide\""), [1]);
        assert_eq!(search(&store, "*blue*"), [3, 1]);
    }

    /// Song 4 in `dir`: segments "zero" and "one!" written as files.
    fn catalog_song(dir: &std::path::Path) -> Song {
        let mut s = song(4, &[b"zero", b"one!"]);
        for (index, bytes) in s.segments.drain(..).enumerate() {
            let name = jukebox_segmenter::catalog::files::segment_file_name(index as u32);
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        s.files = Some(SegmentFiles::new(dir.to_path_buf(), vec![4, 4]));
        s
    }

    #[test]
    fn segments_on_disk_are_located_there() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(vec![catalog_song(dir.path()), song(1, &[b"m"])]);
        assert_eq!(store.len(), 2, "a song with no segments in memory is kept");
        assert_eq!(store.locate(4, 1), Ok(Located::Disk));
        assert_eq!(
            store.locate(4, 2).unwrap_err().code,
            ErrorCode::SegmentOutOfRange
        );
        assert_eq!(
            store.locate(1, 0).unwrap(),
            Located::Memory(&Bytes::from_static(b"m"))
        );
    }

    #[tokio::test]
    async fn a_segment_on_disk_is_read_checked_and_cached() {
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

    #[tokio::test]
    async fn with_no_budget_at_all_segments_are_still_read_one_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            Store::with_cache(vec![catalog_song(dir.path())], 0)
                .with_transfer_budget(0)
                .with_read_timeout(Duration::from_millis(100)),
        );
        let first = store.clone().read(4, 0).await.unwrap();
        assert!(
            store.clone().read(4, 1).await.is_err(),
            "the one KiB is held"
        );
        drop(first);
        assert_eq!(store.clone().read(4, 1).await.unwrap(), "one!");
    }

    /// The bundled music's catalog as objects in an in-memory store under `lib/`, served with
    /// no cache and room for one segment beyond it; and the first song's ID and folder.
    fn object_store_catalog() -> (Arc<Store>, Arc<object_store::memory::InMemory>, u64, String) {
        use object_store::ObjectStoreExt;
        let music = Path::new(env!("CARGO_MANIFEST_DIR")).join("../music");
        let local = tempfile::tempdir().unwrap();
        let quiet = jukebox_segmenter::catalog::write::Quiet;
        let duration = jukebox_segmenter::DEFAULT_SEGMENT_DURATION;
        jukebox_segmenter::write_catalog(&music, local.path(), duration, &quiet).unwrap();
        let objects = Arc::new(object_store::memory::InMemory::new());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut pending = vec![local.path().to_path_buf()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    pending.push(path);
                    continue;
                }
                let name = path.strip_prefix(local.path()).unwrap().to_str().unwrap();
                let key = object_store::path::Path::from(format!("lib/{name}"));
                let bytes = std::fs::read(&path).unwrap();
                runtime.block_on(objects.put(&key, bytes.into())).unwrap();
            }
        }
        let index = tempfile::tempdir().unwrap();
        let catalog =
            ObjectCatalog::open_in("s3://test/lib", objects.clone(), "lib", index.path()).unwrap();
        let store = Store::from_objects(catalog, index, 0)
            .unwrap()
            .with_transfer_budget(64 << 10)
            .with_read_timeout(Duration::from_millis(200));
        let page = Page::from_json(&store.page(&ListRequest::default()).unwrap()).unwrap();
        let song = page.songs[0].id;
        let on_disk = Store::open_catalog(local.path(), 0).unwrap();
        let folder = on_disk.song_folder(song).unwrap();
        let folder = folder.file_name().unwrap().to_str().unwrap().to_string();
        (Arc::new(store), objects, song, folder)
    }

    /// Buffers fetched from an object store count against the same memory budget as those read
    /// from disk, until their last reference goes.
    #[test]
    fn a_buffer_from_an_object_store_holds_its_memory_until_its_last_reference_goes() {
        let (store, _objects, song, _) = object_store_catalog();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let budget = store.memory_available_kib();
            let first = store.clone().read(song, 0).await.unwrap();
            let taken = budget - store.memory_available_kib();
            assert!(
                taken >= first.len() / 1024,
                "{taken} KiB for {} bytes",
                first.len()
            );
            drop(first);
            assert_eq!(store.memory_available_kib(), budget);
        });
    }

    /// An object of another size than the manifest's is refused, whatever its bytes.
    #[test]
    fn an_object_of_the_wrong_size_is_refused() {
        use object_store::ObjectStoreExt;
        let (store, objects, song, folder) = object_store_catalog();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let key = object_store::path::Path::from(format!("lib/songs/{folder}/000001.seg"));
        runtime
            .block_on(objects.put(&key, vec![0u8; 4 << 20].into()))
            .unwrap();
        runtime.block_on(async {
            assert!(store.clone().read(song, 0).await.is_ok());
            assert_eq!(
                store.clone().read(song, 1).await,
                Err(ReadFailed { song, index: 1 })
            );
        });
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
        assert_eq!(memory(&store, 1, 0).unwrap().as_ptr(), data.as_ptr());
    }
}
