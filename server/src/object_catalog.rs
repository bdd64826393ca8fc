//! A catalog in an S3-compatible object store: `jukebox-server --catalog s3://BUCKET/PREFIX`.
//!
//! The objects are the files of a catalog folder (docs/CATALOG.md) under `PREFIX/`, as a standard
//! tool uploads them (`aws s3 sync DIR s3://BUCKET/PREFIX`): `PREFIX/index.sqlite` and
//! `PREFIX/songs/<folder>/NNNNNN.seg`. The index is downloaded once, at startup, into a temporary
//! folder, and opened there as a local catalog's is (SQLite cannot read from an object store);
//! segments stay in the store and are fetched when first asked for, each one GET, and then go
//! through the same checks (size and SHA-256 against the manifest) and the same shared cache as a
//! segment read from disk ([`crate::store`]). A new catalog is picked up by restarting the
//! server (replicas one after the other: their clients move without a gap).
//!
//! The endpoint, region and credentials come from the usual AWS environment variables
//! (`AWS_ENDPOINT`, `AWS_DEFAULT_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP` for a plain-HTTP endpoint, ...), read by `object_store`.
//!
//! The HTTP client runs on a runtime of its own (thread `jukebox-s3`): the server's connection
//! threads each drive a single-threaded runtime, and a pooled HTTP connection belongs to the
//! runtime that opened it, so every request is made on this one and only its result crosses over.

use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use jukebox_segmenter::catalog::files::segment_file_name;
use jukebox_segmenter::catalog::index::{INDEX_FILE, SONGS_DIR};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

/// The scheme of a catalog URL.
pub const SCHEME: &str = "s3://";

/// How long downloading the index may take at startup.
pub const INDEX_TIMEOUT: Duration = Duration::from_secs(300);

/// A catalog's objects in a bucket, and the runtime its requests run on.
pub struct ObjectCatalog {
    url: String,
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    /// `None` only while dropping: a runtime cannot be dropped inside another's context, so it
    /// is shut down in the background instead.
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for ObjectCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectCatalog")
            .field("url", &self.url)
            .finish()
    }
}

/// `s3://BUCKET/PREFIX` as bucket and prefix (which may be empty); `None` if `url` is not one.
pub fn parse_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix(SCHEME)?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then_some((bucket, prefix.trim_matches('/')))
}

impl ObjectCatalog {
    /// Connects to the bucket of `url` (`s3://BUCKET/PREFIX`) and downloads the catalog's index
    /// into the folder `into`, within [`INDEX_TIMEOUT`]. Blocks: call it before any runtime.
    pub fn open(url: &str, into: &FsPath) -> Result<ObjectCatalog, String> {
        let (bucket, prefix) = parse_url(url)
            .ok_or_else(|| format!("{url:?} is not s3://BUCKET or s3://BUCKET/PREFIX"))?;
        let store = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| format!("cannot use {url}: {e}"))?;
        ObjectCatalog::open_in(url, Arc::new(store), prefix, into)
    }

    /// [`ObjectCatalog::open`] on a store already made (tests use an in-memory one).
    pub(crate) fn open_in(
        url: &str,
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        into: &FsPath,
    ) -> Result<ObjectCatalog, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("jukebox-s3")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the object store's runtime: {e}"))?;
        let catalog = ObjectCatalog {
            url: url.to_string(),
            store,
            prefix: Path::from(prefix),
            runtime: Some(runtime),
        };
        let index = catalog.object(&[INDEX_FILE]);
        let store = catalog.store.clone();
        let bytes = catalog
            .runtime()
            .block_on(async move {
                tokio::time::timeout(INDEX_TIMEOUT, async {
                    store.get(&index).await?.bytes().await
                })
                .await
            })
            .map_err(|_| format!("the index was not downloaded within {INDEX_TIMEOUT:?}"))?
            .map_err(|e| match e {
                object_store::Error::NotFound { .. } => format!(
                    "{url} holds no catalog: no {INDEX_FILE} (upload a catalog folder written \
                     by jukebox-segmenter, e.g. aws s3 sync DIR {url})"
                ),
                e => format!("cannot download {INDEX_FILE} from {url}: {e}"),
            })?;
        std::fs::write(into.join(INDEX_FILE), &bytes)
            .map_err(|e| format!("cannot write the downloaded index: {e}"))?;
        tracing::info!("downloaded the index of {url} ({} bytes)", bytes.len());
        Ok(catalog)
    }

    /// The URL the catalog was opened from.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime.as_ref().expect("the runtime lives until drop")
    }

    /// The object `PREFIX/parts...`.
    fn object(&self, parts: &[&str]) -> Path {
        parts
            .iter()
            .fold(self.prefix.clone(), |path, part| path.join(*part))
    }

    /// Fetches segment `index` of the song folder `dir` (a name the index gave), which must be
    /// `size` bytes. The caller bounds the wait; dropping the future abandons the request.
    pub async fn read(&self, dir: &str, index: u32, size: u32) -> Result<Bytes, String> {
        let path = self.object(&[SONGS_DIR, dir, &segment_file_name(index)]);
        let store = self.store.clone();
        let name = path.to_string();
        // The object's size is checked before its body is read: a wrong or hostile object of any
        // size costs one response header, not a download into memory.
        let task = self.runtime().spawn(async move {
            let got = store.get(&path).await?;
            if got.meta.size != u64::from(size) {
                return Ok(Err(got.meta.size));
            }
            got.bytes().await.map(Ok)
        });
        // Abandoned with the future: the request stops on the object store's runtime too.
        let guard = AbortOnDrop(task.abort_handle());
        let bytes = match task.await {
            Ok(Ok(Ok(bytes))) => bytes,
            Ok(Ok(Err(found))) => {
                return Err(format!(
                    "{name} has {found} bytes, the manifest says {size}"
                ))
            }
            Ok(Err(e)) => return Err(format!("cannot fetch {name}: {e}")),
            Err(e) => return Err(format!("the fetch of {name} failed: {e}")),
        };
        drop(guard);
        // A store that sends another length than the size it announced.
        if bytes.len() != size as usize {
            return Err(format!(
                "{name} has {} bytes, the manifest says {size}",
                bytes.len()
            ));
        }
        Ok(bytes)
    }
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Drop for ObjectCatalog {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_catalog_url_is_a_bucket_and_a_prefix() {
        assert_eq!(parse_url("s3://music/catalog"), Some(("music", "catalog")));
        assert_eq!(parse_url("s3://music/a/b/"), Some(("music", "a/b")));
        assert_eq!(parse_url("s3://music"), Some(("music", "")));
        assert_eq!(parse_url("s3://music/"), Some(("music", "")));
        assert_eq!(parse_url("s3:///catalog"), None);
        assert_eq!(parse_url("/srv/catalog"), None);
        assert_eq!(parse_url("gs://music"), None);
    }
}
