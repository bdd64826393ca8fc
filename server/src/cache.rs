//! Segments read from disk, kept in memory for every connection to share.
//!
//! A segment is read once and its buffer handed to every client that asks while it is cached, as
//! in-memory songs are. Segments are cached by their SHA-256, so an entry is never stale, whatever
//! the catalog index says later, and songs that share a segment share its entry. Clients asking for the same segment while it is being read wait for that
//! one read instead of starting their own. The cache is bounded by bytes; what it evicts is read
//! again on the next request (from the page cache, usually).

use bytes::Bytes;
use quick_cache::sync::Cache;
use quick_cache::Weighter;

/// A segment: its SHA-256.
pub type Key = [u8; 32];

/// Default [`SegmentCache`] capacity.
pub const DEFAULT_CACHE_BYTES: u64 = 256 << 20;

/// A segment's weight is its size: the cache holds at most its capacity in segment bytes.
#[derive(Debug, Clone, Copy)]
struct BySize;

impl Weighter<Key, Bytes> for BySize {
    fn weight(&self, _: &Key, segment: &Bytes) -> u64 {
        // A weight of 0 would never be evicted; segments are never empty, but be sure.
        (segment.len() as u64).max(1)
    }
}

/// The shared cache of segments read from disk.
pub struct SegmentCache {
    cache: Cache<Key, Bytes, BySize>,
}

/// Segments of about 2 s at 128 kbit/s: only used to size the cache's tables.
const TYPICAL_SEGMENT: u64 = 32 * 1024;

impl SegmentCache {
    /// A cache holding at most `capacity` bytes of segments; 0 keeps nothing (concurrent requests
    /// for a segment still share one read).
    pub fn new(capacity: u64) -> Self {
        let items = (capacity / TYPICAL_SEGMENT).clamp(1, 1 << 20) as usize;
        SegmentCache {
            cache: Cache::with_weighter(items, capacity, BySize),
        }
    }

    /// The segment if it is cached.
    pub fn get(&self, key: Key) -> Option<Bytes> {
        self.cache.get(&key)
    }

    /// The segment, from the cache or else from `load`. While one caller's `load` runs, other
    /// callers for the same key wait for its result instead of loading; if it fails or its caller
    /// goes away (a cancelled request), one of them loads in turn. Errors are not cached.
    pub async fn get_or_load<E>(
        &self,
        key: Key,
        load: impl std::future::Future<Output = Result<Bytes, E>>,
    ) -> Result<Bytes, E> {
        self.cache.get_or_insert_async(&key, load).await
    }

    /// Bytes of segments held.
    pub fn bytes(&self) -> u64 {
        self.cache.weight()
    }

    /// Segments held.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Poll;

    /// A key for the n-th segment of a test.
    fn key(n: u8) -> Key {
        [n; 32]
    }

    /// Polls a future once; true if it is still pending.
    async fn pending<F: Future>(future: std::pin::Pin<&mut F>) -> bool {
        let mut future = future;
        std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx).is_pending())).await
    }

    #[tokio::test]
    async fn a_segment_being_read_is_read_once_for_all_who_ask() {
        let cache = SegmentCache::new(1 << 20);
        let loads = AtomicUsize::new(0);
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let load = |tag: &'static [u8]| {
            loads.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, ()>(Bytes::from_static(tag)) }
        };
        let mut first = pin!(cache.get_or_load(key(10), async {
            wait.await.unwrap();
            load(b"first").await
        }));
        assert!(pending(first.as_mut()).await, "the first read waits");
        // The second caller joins the read under way; its own load never runs.
        let mut second = pin!(cache.get_or_load(key(10), async { load(b"second").await }));
        assert!(
            pending(second.as_mut()).await,
            "the second waits for the first"
        );
        release.send(()).unwrap();
        assert_eq!(first.await.unwrap(), "first");
        assert_eq!(second.await.unwrap(), "first");
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        // Now it is cached.
        assert_eq!(cache.get(key(10)).unwrap(), "first");
        assert_eq!(cache.get(key(11)), None);
    }

    #[tokio::test]
    async fn when_the_reader_goes_away_a_waiter_reads_instead() {
        let cache = SegmentCache::new(1 << 20);
        let mut first =
            Box::pin(cache.get_or_load(key(23), std::future::pending::<Result<Bytes, ()>>()));
        assert!(pending(first.as_mut()).await);
        let mut second =
            pin!(cache.get_or_load(key(23), async { Ok::<_, ()>(Bytes::from_static(b"again")) }));
        assert!(pending(second.as_mut()).await);
        drop(first);
        assert_eq!(second.await.unwrap(), "again");
    }

    #[tokio::test]
    async fn errors_are_not_cached() {
        let cache = SegmentCache::new(1 << 20);
        let failed = cache.get_or_load(key(10), async { Err("gone") }).await;
        assert_eq!(failed, Err("gone"));
        assert!(cache.is_empty());
        let ok = cache
            .get_or_load(key(10), async {
                Ok::<_, &str>(Bytes::from_static(b"back"))
            })
            .await;
        assert_eq!(ok.unwrap(), "back");
    }

    #[tokio::test]
    async fn the_cache_stays_within_its_bytes() {
        let capacity = 200_000;
        let cache = SegmentCache::new(capacity);
        for index in 0..100 {
            let segment = Bytes::from(vec![index as u8; 30_000]);
            let got = cache
                .get_or_load(key(index as u8), async { Ok::<_, ()>(segment.clone()) })
                .await
                .unwrap();
            // What a caller gets is the loaded buffer itself, not a copy.
            assert_eq!(got.as_ptr(), segment.as_ptr());
            assert!(cache.bytes() <= capacity, "{} bytes held", cache.bytes());
        }
        assert!(!cache.is_empty());
        assert!(cache.len() <= 6);
    }

    #[tokio::test]
    async fn a_cache_of_zero_bytes_keeps_nothing() {
        let cache = SegmentCache::new(0);
        let got = cache
            .get_or_load(key(10), async { Ok::<_, ()>(Bytes::from_static(b"x")) })
            .await;
        assert_eq!(got.unwrap(), "x");
        assert!(cache.get(key(10)).is_none());
    }
}
