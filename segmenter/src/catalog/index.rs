//! The catalog index, `index.sqlite` at the top of a catalog folder: every song's ID, its list entry,
//! its manifest and where its segments are. See docs/CATALOG.md.
//!
//! An SQLite database (in WAL mode) rather than a file read whole: a server opens it in constant
//! time and answers a page or a search from a few B-tree pages, and the segmenter changes only the
//! rows of songs that changed. A run applies its changes in one transaction, so a reader sees the
//! catalog before the run or after it, never part of it, and is never held up by it.
//!
//! Browsing order is part of the table: `songs.pos` (the rowid) grows with the order users expect
//! of a music library (artist, album, title, then ID; case and accents folded), and the search
//! table (FTS5) uses the same rowids, so a page of the whole list or of a search is a range scan
//! in that order that stops after one page, however many songs match. Positions leave gaps, so a
//! new song fits between its neighbours; only when a gap runs out are all songs renumbered.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use jukebox_protocol::SongSummary;

use crate::mp3::loudness::Loudness;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use sha2::{Digest, Sha256};
use unicode_normalization::{char::is_combining_mark, UnicodeNormalization};

/// File name of the index inside a catalog folder.
pub const INDEX_FILE: &str = "index.sqlite";
/// The index of catalogs written by earlier versions, which are rebuilt, not read.
pub const OLD_INDEX_FILE: &str = "index.json";
/// Folder holding the song folders.
pub const SONGS_DIR: &str = "songs";
/// What `meta.format` holds, so that another SQLite file is not taken for a catalog.
pub const FORMAT: &str = "jukebox-catalog";
/// The layout version this crate writes and reads (version 1 was `index.json`).
pub const VERSION: i64 = 2;

/// The columns that hold a song's loudness, which catalogs written before it lack: added to such
/// a catalog's `songs` by the next run (SQLite adds a column without rewriting the table), and
/// read as unmeasured until then. Readers that serve a catalog never read them.
const LOUDNESS_COLUMNS: &str = "
ALTER TABLE songs ADD COLUMN loudness_lufs REAL;
ALTER TABLE songs ADD COLUMN true_peak_dbtp REAL;
ALTER TABLE songs ADD COLUMN loudness_version INTEGER NOT NULL DEFAULT 0;
";

/// What `songs.loudness_version` holds for a song measured by this version's method
/// (`mp3::loudness`); 0 is never measured. A run measures again a song whose value differs, so a
/// change of method that changes the figures bumps it.
pub const LOUDNESS_VERSION: i64 = 1;

/// Positions are below this; a first run spreads its songs over the whole range.
const MAX_POS: i64 = 1 << 62;

/// How long a statement waits for a lock held by another connection (only while a run opens the
/// file or checkpoints: WAL readers and the writer do not block each other).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections a reader keeps open for reuse.
const POOLED: usize = 16;

const SCHEMA: &str = "
CREATE TABLE meta (
    format TEXT NOT NULL,
    version INTEGER NOT NULL,
    segment_duration REAL NOT NULL,
    songs INTEGER NOT NULL,
    segments INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    digest TEXT NOT NULL,
    generation INTEGER NOT NULL
);
CREATE TABLE songs (
    pos INTEGER PRIMARY KEY,
    id INTEGER NOT NULL UNIQUE,
    title TEXT NOT NULL,
    artist TEXT NOT NULL,
    album TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    segments INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    sort_key BLOB NOT NULL,
    manifest_sha256 BLOB NOT NULL,
    dir TEXT,
    source BLOB NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    content_sha256 BLOB NOT NULL,
    loudness_lufs REAL,
    true_peak_dbtp REAL,
    loudness_version INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE manifests (
    id INTEGER PRIMARY KEY,
    json BLOB NOT NULL
);
CREATE VIRTUAL TABLE search USING fts5(
    title, artist, album,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '1 2 3 4'
);
";

/// Why an index cannot be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    Format(String),
}

/// What the index says of the catalog as a whole.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    /// The target segment duration the songs were cut with, in seconds.
    pub segment_duration: f64,
    /// Number of songs, of their segments, and bytes of those segments.
    pub songs: u64,
    pub segments: u64,
    pub bytes: u64,
    /// Names the catalog's contents ([`digest`]).
    pub digest: String,
    /// Grows by one with every run that changed something.
    pub generation: i64,
}

/// One song, as written to the index.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: u64,
    pub title: String,
    pub artist: String,
    pub album: String,
    pub duration_ms: u64,
    pub segments: u32,
    /// Total bytes of the segments.
    pub bytes: u64,
    /// SHA-256 of `manifest`.
    pub manifest_sha256: [u8; 32],
    /// The manifest as compact JSON, exactly as a server sends it; `None` when the index already
    /// holds this very manifest (same SHA-256), so that a run need not keep unchanged ones.
    pub manifest: Option<Vec<u8>>,
    /// The song folder under `songs/`; `None` for songs whose segments the server holds itself.
    pub dir: Option<String>,
    /// The source file's path relative to the source folder, as bytes.
    pub source: Vec<u8>,
    /// Size and modification time of the source file when it was read.
    pub size: u64,
    pub mtime_ns: i64,
    /// The source file's content hash (see `catalog::source::content_hash`).
    pub content_sha256: [u8; 32],
    /// The manifest's loudness members.
    pub loudness_lufs: Option<f64>,
    pub true_peak_dbtp: Option<f64>,
    /// [`LOUDNESS_VERSION`] if the song was measured (whatever was found), 0 if not.
    pub loudness_version: i64,
}

impl Row {
    /// The row of a song: its manifest serialised once, here.
    pub fn of(song: &crate::Song) -> Row {
        let m = &song.manifest;
        let json = m.to_json();
        use std::os::unix::ffi::OsStrExt;
        Row {
            id: m.id,
            title: m.title.clone(),
            artist: m.artist.clone(),
            album: m.album.clone(),
            duration_ms: m.duration_ms,
            segments: m.segments.len() as u32,
            bytes: song.audio_bytes(),
            manifest_sha256: Sha256::digest(&json).into(),
            manifest: Some(json),
            dir: None,
            source: song.path.as_os_str().as_bytes().to_vec(),
            size: 0,
            mtime_ns: 0,
            content_sha256: [0; 32],
            loudness_lufs: m.loudness_lufs,
            true_peak_dbtp: m.true_peak_dbtp,
            loudness_version: 0,
        }
    }

    /// The source path.
    pub fn source_path(&self) -> PathBuf {
        use std::os::unix::ffi::OsStrExt;
        PathBuf::from(std::ffi::OsStr::from_bytes(&self.source))
    }
}

/// What a song's entry in the index says about the song, small: for checking a run against.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub manifest_sha256: [u8; 32],
    pub dir: Option<String>,
    /// The song's measurement, if it was measured with [`LOUDNESS_VERSION`]'s method: the
    /// loudness found (`None`: nothing to measure). `None` if it was not.
    pub loudness: Option<Option<Loudness>>,
}

/// The key songs are listed by: artist, album and title, each folded (lowercase, accents
/// removed, so that "Émile" sorts with "emile"), then compared as bytes; ties go by ID.
pub fn sort_key(artist: &str, album: &str, title: &str) -> Vec<u8> {
    let fold = |text: &str| -> String {
        text.nfd()
            .filter(|c| !is_combining_mark(*c))
            .flat_map(char::to_lowercase)
            .collect()
    };
    [fold(artist), fold(album), fold(title)]
        .join("\0")
        .into_bytes()
}

/// Names a catalog's contents: SHA-256 over every song's ID and manifest's SHA-256, in ID order.
/// A manifest holds the song's ID, tags, format and every segment's SHA-256, so the digest
/// changes with any song, ID, manifest or segment byte, and is the same for the same songs.
pub fn digest(mut songs: Vec<(u64, [u8; 32])>) -> String {
    songs.sort_unstable();
    let mut hash = Sha256::new();
    hash.update(b"jukebox catalog v2\0");
    for (id, manifest) in songs {
        hash.update(id.to_be_bytes());
        hash.update(manifest);
    }
    hex::encode(hash.finalize())
}

/// The FTS5 query for a user's search text, or `None` when it has no word (everything matches).
///
/// Words are the runs of letters and digits, in any order; each must be a whole word of the
/// title, artist or album except the last, which may be the beginning of one ("blue ti" finds
/// "Blue Tide"). Case and accents are folded by the index's tokenizer. Every word is quoted, so
/// nothing a user types (quotes, `*`, `AND`, `NEAR`, `title:`) is FTS5 syntax.
pub fn match_expression(text: &str) -> Option<String> {
    let words: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let (last, rest) = words.split_last()?;
    let mut expression: String = rest.iter().map(|w| format!("\"{w}\" ")).collect();
    expression.push_str(&format!("\"{last}\"*"));
    Some(expression)
}

/// A song in a listing, with its position (for the next page's cursor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub pos: i64,
    pub song: SongSummary,
}

/// What the index holds to serve one song.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedSong {
    /// The manifest as compact JSON.
    pub manifest: Vec<u8>,
    /// The song folder under `songs/`, if its segments are on disk.
    pub dir: Option<String>,
}

/// A song as [`Index::entries`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: u64,
    /// The song folder under `songs/`, if its segments are on disk.
    pub dir: Option<String>,
    /// The source file's path relative to the source folder, as bytes.
    pub source: Vec<u8>,
    /// The manifest as compact JSON.
    pub manifest: Vec<u8>,
}

impl Entry {
    /// The source path.
    pub fn source_path(&self) -> PathBuf {
        use std::os::unix::ffi::OsStrExt;
        PathBuf::from(std::ffi::OsStr::from_bytes(&self.source))
    }
}

/// An open index, for reading; cheap to share between threads (it keeps a few connections).
pub struct Index {
    path: PathBuf,
    pool: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index").field("path", &self.path).finish()
    }
}

impl Index {
    /// Opens the index at `path` for reading, checking that it is one this version reads. Reads
    /// one row: the time it takes does not depend on the catalog's size.
    pub fn open(path: &Path) -> Result<Index, IndexError> {
        let index = Index {
            path: path.to_path_buf(),
            pool: Mutex::new(Vec::new()),
        };
        index.meta()?;
        Ok(index)
    }

    /// Opens the index of the catalog folder `dir`; see [`crate::open_catalog`].
    pub fn open_catalog(dir: &Path) -> Result<Index, IndexError> {
        let path = dir.join(INDEX_FILE);
        if !path.is_file() {
            return Err(IndexError::Format(if dir.join(OLD_INDEX_FILE).is_file() {
                format!(
                    "{} holds a catalog of an earlier version ({OLD_INDEX_FILE}); rebuild it with \
                     `jukebox-segmenter IN_DIR {}`",
                    dir.display(),
                    dir.display()
                )
            } else {
                format!(
                    "no {INDEX_FILE} in {} (not a catalog folder)",
                    dir.display()
                )
            }));
        }
        Index::open(&path)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn connect(&self) -> Result<Connection, IndexError> {
        // Read and write, for SQLite's own files (the WAL's shared memory, recovery after a run
        // that crashed); the index itself is never written through this connection.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "query_only", true)?;
        Ok(conn)
    }

    /// Runs `f` on a pooled connection in one read transaction, so it sees one state of the
    /// index.
    fn read<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, IndexError>,
    ) -> Result<T, IndexError> {
        let taken = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut conn = match taken {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let result = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let value = f(&tx)?;
            tx.finish()?;
            Ok(value)
        })();
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < POOLED {
            pool.push(conn);
        }
        result
    }

    /// The catalog as a whole.
    pub fn meta(&self) -> Result<Meta, IndexError> {
        self.read(|tx| read_meta(tx))
    }

    /// Up to `limit` songs after position `after` (0: from the start), in listing order; with a
    /// search ([`match_expression`]), only those matching it.
    pub fn list(
        &self,
        search: Option<&str>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Listed>, IndexError> {
        self.read(|tx| list(tx, search, after, limit))
    }

    /// One page, read from one state of the index: up to `limit` songs after `after` (where song
    /// `after.1` is now if it is still listed, else position `after.0`), and the number of songs
    /// in all pages when `total` is asked for (for a search, counting every match: the only cost
    /// that grows with the matches).
    pub fn page(
        &self,
        search: Option<&str>,
        after: Option<(i64, u64)>,
        limit: u32,
        total: bool,
    ) -> Result<(Vec<Listed>, Option<u64>), IndexError> {
        self.read(|tx| {
            let from = match after {
                None => 0,
                Some((pos, id)) => tx
                    .prepare_cached("SELECT pos FROM songs WHERE id = ?1")?
                    .query_row([id], |r| r.get(0))
                    .optional()?
                    .unwrap_or(pos),
            };
            let songs = list(tx, search, from, limit)?;
            let total = match (total, search) {
                (false, _) => None,
                (true, None) => Some(
                    tx.prepare_cached("SELECT songs FROM meta")?
                        .query_row([], |r| r.get(0))?,
                ),
                (true, Some(expression)) => Some(
                    tx.prepare_cached("SELECT count(*) FROM search WHERE search MATCH ?1")?
                        .query_row([expression], |r| r.get(0))?,
                ),
            };
            Ok((songs, total))
        })
    }

    /// Number of segments of song `id`, if the index has it.
    pub fn segments(&self, id: u64) -> Result<Option<u32>, IndexError> {
        self.read(|tx| {
            Ok(tx
                .prepare_cached("SELECT segments FROM songs WHERE id = ?1")?
                .query_row([id], |r| r.get(0))
                .optional()?)
        })
    }

    /// What serving song `id` needs.
    pub fn song(&self, id: u64) -> Result<Option<ServedSong>, IndexError> {
        self.read(|tx| {
            let song = tx
                .prepare_cached(
                    "SELECT m.json, s.dir FROM songs s JOIN manifests m ON m.id = s.id
                     WHERE s.id = ?1",
                )?
                .query_row([id], |r| {
                    Ok(ServedSong {
                        manifest: r.get(0)?,
                        dir: r.get(1)?,
                    })
                })
                .optional()?;
            Ok(song)
        })
    }

    /// Every song the index lists, in listing order: for tools and tests, which may read everything
    /// (a server never does).
    pub fn entries(&self) -> Result<Vec<Entry>, IndexError> {
        self.read(|tx| {
            let mut statement = tx.prepare(
                "SELECT s.id, s.dir, s.source, m.json FROM songs s JOIN manifests m ON m.id = s.id
                 ORDER BY s.pos",
            )?;
            let rows = statement.query_map([], |r| {
                Ok(Entry {
                    id: r.get(0)?,
                    dir: r.get(1)?,
                    source: r.get(2)?,
                    manifest: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// The index's generation ([`Meta::generation`]).
    pub fn generation(&self) -> Result<i64, IndexError> {
        self.read(|tx| generation(tx))
    }
}

fn list(
    tx: &Connection,
    search: Option<&str>,
    after: i64,
    limit: u32,
) -> Result<Vec<Listed>, IndexError> {
    let row = |r: &rusqlite::Row<'_>| -> rusqlite::Result<Listed> {
        Ok(Listed {
            pos: r.get(0)?,
            song: SongSummary {
                id: r.get(1)?,
                title: r.get(2)?,
                artist: r.get(3)?,
                album: r.get(4)?,
                duration_ms: r.get(5)?,
                segments: r.get(6)?,
            },
        })
    };
    let songs = match search {
        None => tx
            .prepare_cached(
                "SELECT pos, id, title, artist, album, duration_ms, segments FROM songs
                 WHERE pos > ?1 ORDER BY pos LIMIT ?2",
            )?
            .query_map(params![after, limit], row)?
            .collect::<rusqlite::Result<Vec<_>>>()?,
        Some(expression) => tx
            .prepare_cached(
                "SELECT s.pos, s.id, s.title, s.artist, s.album, s.duration_ms, s.segments
                 FROM search CROSS JOIN songs s ON s.pos = search.rowid
                 WHERE search MATCH ?1 AND search.rowid > ?2
                 ORDER BY search.rowid LIMIT ?3",
            )?
            .query_map(params![expression, after, limit], row)?
            .collect::<rusqlite::Result<Vec<_>>>()?,
    };
    Ok(songs)
}

fn generation(tx: &Connection) -> Result<i64, IndexError> {
    Ok(tx
        .prepare_cached("SELECT generation FROM meta")?
        .query_row([], |r| r.get(0))?)
}

fn read_meta(conn: &Connection) -> Result<Meta, IndexError> {
    let not_ours = || IndexError::Format(format!("not a version {VERSION} {FORMAT} index"));
    let row = conn
        .query_row(
            "SELECT format, version, segment_duration, songs, segments, bytes, digest, generation
             FROM meta",
            [],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    Meta {
                        segment_duration: r.get(2)?,
                        songs: r.get(3)?,
                        segments: r.get(4)?,
                        bytes: r.get(5)?,
                        digest: r.get(6)?,
                        generation: r.get(7)?,
                    },
                ))
            },
        )
        .map_err(|e| match e {
            // No meta table: some other database.
            rusqlite::Error::SqliteFailure(..) | rusqlite::Error::QueryReturnedNoRows => not_ours(),
            other => IndexError::Sqlite(other),
        })?;
    match row {
        (format, VERSION, meta) if format == FORMAT => Ok(meta),
        _ => Err(not_ours()),
    }
}

/// What the index held for each song before a run: by ID.
pub fn stored(path: &Path) -> Result<HashMap<u64, Stored>, IndexError> {
    if !path.exists() {
        return Ok(HashMap::new());
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    read_meta(&conn)?;
    let query = if has_loudness_columns(&conn)? {
        "SELECT id, manifest_sha256, dir, loudness_lufs, true_peak_dbtp, loudness_version
         FROM songs"
    } else {
        "SELECT id, manifest_sha256, dir, NULL, NULL, 0 FROM songs"
    };
    let mut statement = conn.prepare(query)?;
    let rows = statement.query_map([], |r| {
        let measured = r.get::<_, i64>(5)? == LOUDNESS_VERSION;
        let found = match (r.get(3)?, r.get(4)?) {
            (Some(integrated_lufs), Some(true_peak_dbtp)) => Some(Loudness {
                integrated_lufs,
                true_peak_dbtp,
            }),
            _ => None,
        };
        Ok((
            r.get::<_, u64>(0)?,
            Stored {
                manifest_sha256: r.get(1)?,
                dir: r.get(2)?,
                loudness: measured.then_some(found),
            },
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Whether `songs` has the loudness columns (catalogs written before them do not).
fn has_loudness_columns(conn: &Connection) -> Result<bool, IndexError> {
    Ok(conn
        .prepare("SELECT 1 FROM pragma_table_info('songs') WHERE name = 'loudness_version'")?
        .exists([])?)
}

/// What a write changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Rows added or replaced.
    pub written: usize,
    /// Songs of the previous index whose source is not in the new one.
    pub removed: usize,
}

/// Makes the index at `path` (created if missing) list exactly `rows`, in one transaction: rows
/// that did not change are left as they are, the others deleted or inserted. No ID may appear
/// twice in `rows`.
pub fn write(path: &Path, segment_duration: f64, rows: Vec<Row>) -> Result<Changes, IndexError> {
    let mut conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let fresh: bool = tx.query_row(
        "SELECT count(*) = 0 FROM sqlite_master WHERE name = 'meta'",
        [],
        |r| r.get(0),
    )?;
    if fresh {
        tx.execute_batch(SCHEMA)?;
        tx.execute(
            "INSERT INTO meta VALUES (?1, ?2, ?3, 0, 0, 0, ?4, 0)",
            params![FORMAT, VERSION, segment_duration, digest(Vec::new())],
        )?;
    }
    let meta = read_meta(&tx)?;
    if !has_loudness_columns(&tx)? {
        tx.execute_batch(LOUDNESS_COLUMNS)?;
    }

    // The rows as they are: those identical to a new row stay, with their positions.
    struct Old {
        pos: i64,
        sort_key: Vec<u8>,
        row: Row,
    }
    let mut old: HashMap<u64, Old> = HashMap::new();
    {
        let mut statement = tx.prepare(
            "SELECT pos, id, title, artist, album, duration_ms, segments, bytes, sort_key,
                    manifest_sha256, dir, source, size, mtime_ns, content_sha256, loudness_lufs,
                    true_peak_dbtp, loudness_version FROM songs",
        )?;
        let rows = statement.query_map([], |r| {
            Ok(Old {
                pos: r.get(0)?,
                sort_key: r.get(8)?,
                row: Row {
                    id: r.get(1)?,
                    title: r.get(2)?,
                    artist: r.get(3)?,
                    album: r.get(4)?,
                    duration_ms: r.get(5)?,
                    segments: r.get(6)?,
                    bytes: r.get(7)?,
                    manifest_sha256: r.get(9)?,
                    manifest: None,
                    dir: r.get(10)?,
                    source: r.get(11)?,
                    size: r.get(12)?,
                    mtime_ns: r.get(13)?,
                    content_sha256: r.get(14)?,
                    loudness_lufs: r.get(15)?,
                    true_peak_dbtp: r.get(16)?,
                    loudness_version: r.get(17)?,
                },
            })
        })?;
        for row in rows {
            let row = row?;
            old.insert(row.row.id, row);
        }
    }
    let sources: HashSet<&[u8]> = rows.iter().map(|r| r.source.as_slice()).collect();
    let mut changes = Changes {
        removed: old
            .values()
            .filter(|o| !sources.contains(o.row.source.as_slice()))
            .count(),
        ..Changes::default()
    };

    // The new listing order; a row that stays keeps its position, the others get one in the gap
    // between their neighbours that stay.
    let mut order: Vec<(Vec<u8>, &Row)> = rows
        .iter()
        .map(|r| (sort_key(&r.artist, &r.album, &r.title), r))
        .collect();
    order.sort_unstable_by(|a, b| (&a.0, a.1.id).cmp(&(&b.0, b.1.id)));
    let stays = |key: &[u8], row: &Row| {
        old.get(&row.id).is_some_and(|o| {
            o.sort_key == key && {
                let mut same = row.clone();
                same.manifest = None;
                same == o.row
            }
        })
    };
    let kept: Vec<Option<i64>> = order
        .iter()
        .map(|(key, row)| stays(key, row).then(|| old[&row.id].pos))
        .collect();
    let positions = place(&kept).unwrap_or_else(|| spread(order.len()));
    let renumbered = positions
        .iter()
        .zip(&kept)
        .any(|(p, k)| k.is_some_and(|k| k != *p));

    // Out with every row that does not stay where it is, then in with the new ones.
    let staying: HashSet<u64> = order
        .iter()
        .zip(&kept)
        .zip(&positions)
        .filter(|((_, k), p)| **k == Some(**p))
        .map(|(((_, row), _), _)| row.id)
        .collect();
    {
        let mut delete_song = tx.prepare("DELETE FROM songs WHERE id = ?1 RETURNING pos")?;
        let mut delete_search = tx.prepare("DELETE FROM search WHERE rowid = ?1")?;
        let mut delete_manifest = tx.prepare("DELETE FROM manifests WHERE id = ?1")?;
        let new_manifest: HashMap<u64, &[u8; 32]> =
            rows.iter().map(|r| (r.id, &r.manifest_sha256)).collect();
        for (id, o) in &old {
            if staying.contains(id) {
                continue;
            }
            let pos: i64 = delete_song.query_row([id], |r| r.get(0))?;
            delete_search.execute([pos])?;
            if new_manifest.get(id) != Some(&&o.row.manifest_sha256) {
                delete_manifest.execute([id])?;
            }
        }
        let mut insert_song = tx.prepare(
            "INSERT INTO songs VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
                                       ?15, ?16, ?17, ?18)",
        )?;
        let mut insert_search =
            tx.prepare("INSERT INTO search (rowid, title, artist, album) VALUES (?1, ?2, ?3, ?4)")?;
        let mut insert_manifest =
            tx.prepare("INSERT OR REPLACE INTO manifests (id, json) VALUES (?1, ?2)")?;
        for (((key, row), _), pos) in order.iter().zip(&kept).zip(&positions) {
            if staying.contains(&row.id) {
                continue;
            }
            insert_song.execute(params![
                pos,
                row.id,
                row.title,
                row.artist,
                row.album,
                row.duration_ms,
                row.segments,
                row.bytes,
                key,
                row.manifest_sha256,
                row.dir,
                row.source,
                row.size,
                row.mtime_ns,
                row.content_sha256,
                row.loudness_lufs,
                row.true_peak_dbtp,
                row.loudness_version,
            ])?;
            insert_search.execute(params![pos, row.title, row.artist, row.album])?;
            let unchanged = old
                .get(&row.id)
                .is_some_and(|o| o.row.manifest_sha256 == row.manifest_sha256);
            match &row.manifest {
                Some(json) if !unchanged => {
                    insert_manifest.execute(params![row.id, json])?;
                }
                Some(_) => {}
                None if unchanged => {}
                None => {
                    return Err(IndexError::Format(format!(
                        "song {} has no manifest to write",
                        row.id
                    )))
                }
            }
            changes.written += 1;
        }
    }
    let digest = digest(rows.iter().map(|r| (r.id, r.manifest_sha256)).collect());
    let changed = changes.written > 0
        || changes.removed > 0
        || old.len() != rows.len()
        || renumbered
        || meta.digest != digest
        || meta.segment_duration != segment_duration;
    if changed {
        let segments: u64 = rows.iter().map(|r| u64::from(r.segments)).sum();
        let bytes: u64 = rows.iter().map(|r| r.bytes).sum();
        tx.execute(
            "UPDATE meta SET segment_duration = ?1, songs = ?2, segments = ?3, bytes = ?4,
                             digest = ?5, generation = generation + 1",
            params![segment_duration, rows.len() as u64, segments, bytes, digest],
        )?;
    }
    tx.commit()?;
    // Fold the log into the file, so that the file alone is the catalog (a copy of it, a
    // reader on read-only media); a reader still on an older state keeps the log going instead.
    let _ = conn.pragma_update(None, "wal_checkpoint", "TRUNCATE");
    Ok(changes)
}

/// Positions for songs in listing order, where `kept[i]` is the position song `i` already has
/// if it stays; `None` when some gap is too small for the songs that must go into it.
fn place(kept: &[Option<i64>]) -> Option<Vec<i64>> {
    let mut positions = Vec::with_capacity(kept.len());
    let mut from = 0; // the position before the current gap
    let mut waiting = 0; // songs waiting for a place before the next kept one
    for (i, k) in kept.iter().enumerate() {
        match k {
            None => waiting += 1,
            // Kept positions must grow with the order (they do unless the order itself changed).
            Some(at) if *at <= from => return None,
            Some(at) => {
                fill(&mut positions, from, *at, waiting)?;
                positions.push(*at);
                from = *at;
                waiting = 0;
            }
        }
        debug_assert_eq!(positions.len() + waiting, i + 1);
    }
    fill(&mut positions, from, MAX_POS, waiting)?;
    Some(positions)
}

/// Spreads `n` positions evenly strictly between `from` and `to`.
fn fill(positions: &mut Vec<i64>, from: i64, to: i64, n: usize) -> Option<()> {
    let step = (to - from) / (n as i64 + 1);
    if n > 0 && step == 0 {
        return None;
    }
    positions.extend((1..=n as i64).map(|k| from + k * step));
    Some(())
}

/// Positions for `n` songs spread over the whole range: every song renumbered.
fn spread(n: usize) -> Vec<i64> {
    let mut positions = Vec::with_capacity(n);
    fill(&mut positions, 0, MAX_POS, n).expect("fewer than 2^62 songs");
    positions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_songs_go_into_the_gaps_and_a_full_gap_renumbers() {
        assert_eq!(place(&[]), Some(vec![]));
        let first = place(&[None, None, None]).unwrap();
        assert!(first.windows(2).all(|w| w[0] < w[1]));
        let between = place(&[Some(10), None, None, Some(13), None]).unwrap();
        assert_eq!(&between[..4], [10, 11, 12, 13]);
        assert!(between[4] > 13);
        assert_eq!(place(&[Some(10), None, Some(11)]), None);
        assert_eq!(place(&[Some(10), Some(9)]), None, "out of order: renumber");
        let all = spread(3);
        assert!(all[0] > 0 && all[2] < MAX_POS && all[0] < all[1] && all[1] < all[2]);
    }

    fn row(id: u64, title: &str) -> Row {
        let manifest = format!("{{\"id\":{id}}}").into_bytes();
        Row {
            id,
            title: title.into(),
            artist: String::new(),
            album: String::new(),
            duration_ms: 1,
            segments: 1,
            bytes: 1,
            manifest_sha256: Sha256::digest(&manifest).into(),
            manifest: Some(manifest),
            dir: None,
            source: title.as_bytes().to_vec(),
            size: 0,
            mtime_ns: 0,
            content_sha256: [0; 32],
            loudness_lufs: None,
            true_peak_dbtp: None,
            loudness_version: 0,
        }
    }

    /// Titles in listing order, read as a server reads them: page by page.
    fn titles(index: &Index) -> Vec<String> {
        let (mut titles, mut after) = (Vec::new(), 0);
        while let Some(last) = index.list(None, after, 3).unwrap().last().cloned() {
            titles.extend(
                index
                    .list(None, after, 3)
                    .unwrap()
                    .into_iter()
                    .map(|l| l.song.title),
            );
            after = last.pos;
        }
        titles
    }

    #[test]
    fn songs_added_at_one_place_run_by_run_stay_in_order_through_a_renumbering() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(INDEX_FILE);
        let mut rows = vec![row(1, "a"), row(2, "b")];
        write(&path, 2.0, rows.clone()).unwrap();
        let index = Index::open(&path).unwrap();
        let first = index.meta().unwrap().generation;
        // Each new title sorts right after "a": every run halves the gap there, until it is gone.
        let mut renumbered = 0;
        for n in 1..=70u64 {
            rows.push(row(2 + n, &format!("a{}", "0".repeat(71 - n as usize))));
            let changes = write(&path, 2.0, rows.clone()).unwrap();
            match changes.written {
                1 => {}
                all if all == rows.len() => renumbered += 1,
                other => panic!("{other} rows written"),
            }
        }
        assert_eq!(renumbered, 1, "the gap ran out once");
        let mut expected: Vec<String> = rows.iter().map(|r| r.title.clone()).collect();
        expected.sort();
        assert_eq!(titles(&index), expected);
        assert_eq!(index.meta().unwrap().songs, 72);
        assert_eq!(index.meta().unwrap().generation, first + 70);
        // Nothing changed: nothing written, the same generation.
        assert_eq!(write(&path, 2.0, rows.clone()).unwrap(), Changes::default());
        assert_eq!(index.meta().unwrap().generation, first + 70);
    }

    #[test]
    fn sort_keys_fold_case_and_accents() {
        assert_eq!(sort_key("Émile", "", "Été"), sort_key("emile", "", "ete"));
        assert!(sort_key("Abba", "Z", "Z") < sort_key("abbey", "A", "A"));
        assert!(sort_key("", "", "z") < sort_key("a", "", ""));
    }

    #[test]
    fn searches_quote_every_word() {
        assert_eq!(match_expression(""), None);
        assert_eq!(match_expression("  \"* - "), None);
        assert_eq!(match_expression("blue ti"), Some("\"blue\" \"ti\"*".into()));
        assert_eq!(
            match_expression("title:x AND \"y\" NEAR(z"),
            Some("\"title\" \"x\" \"AND\" \"y\" \"NEAR\" \"z\"*".into())
        );
    }
}
