//! The client's link to one server address: reopened on demand (a server closes idle
//! connections, and the next command, or the next segment of the playing song, should simply
//! work), and with a deadline on every request, so a server that stops answering is noticed.
//!
//! When a request times out, the connection is given up: its waiting requests fail, and a task
//! in the background keeps trying to open a new one (backing off up to [`MAX_BACKOFF`]) until
//! the server answers again. [`Client::health`] says meanwhile what is wrong, for the status bar.
//! Nothing here waits without a deadline, so no command can hang on a silent server.
//!
//! The address may lead to several servers (replicas behind a load balancer), and a new
//! connection may land on another one. Each WELCOME names the catalog its server serves; the
//! client remembers the last one and warns when a new connection serves another, and the player
//! checks the playing song's manifest again before it takes a segment from such a connection
//! ([`crate::player::fetch`]), so songs of two catalogs are never mixed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex as StdMutex, Weak};
use std::time::Duration;

use jukebox_protocol::{ErrorCode, ListRequest, Manifest, Page};
use tokio::sync::Mutex;

use crate::connection::Connection;
use crate::error::{ClientError, Result};

/// How long a control request (LIST, GET_MANIFEST, the handshake) may go unanswered.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The first pause between two reconnection attempts; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    addr: String,
    timeout: Duration,
    /// The last connection opened, open or not.
    connection: Mutex<Connection>,
    /// Why the server cannot be used right now; `None` while it answers.
    problem: StdMutex<Option<String>>,
    /// A background task is trying to reconnect.
    reconnecting: AtomicBool,
    /// The catalog of the last connection opened.
    catalog: StdMutex<Arc<str>>,
}

impl Client {
    /// Connects at once, so that a wrong address is reported before the first command.
    pub async fn connect(addr: String) -> Result<Client> {
        Client::connect_within(addr, DEFAULT_TIMEOUT).await
    }

    /// Connects with `timeout` as the deadline of every control request.
    pub async fn connect_within(addr: String, timeout: Duration) -> Result<Client> {
        let connection = Connection::connect_within(&addr, timeout).await?;
        Ok(Client {
            inner: Arc::new(Inner {
                addr,
                timeout,
                catalog: StdMutex::new(connection.catalog().into()),
                connection: Mutex::new(connection),
                problem: StdMutex::new(None),
                reconnecting: AtomicBool::new(false),
            }),
        })
    }

    pub fn addr(&self) -> &str {
        &self.inner.addr
    }

    /// The deadline of a control request.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// What is wrong with the server, while something is.
    pub fn health(&self) -> Option<String> {
        self.problem().clone()
    }

    fn problem(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.inner.problem.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The catalog of the last connection opened (64 hex digits, from its WELCOME).
    pub fn catalog(&self) -> Arc<str> {
        self.inner
            .catalog
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Frames the last connection discarded because their request was no longer outstanding;
    /// `None` while a reconnection holds it (never waits).
    pub fn stale_frames(&self) -> Option<u64> {
        Some(self.inner.connection.try_lock().ok()?.stale_frames())
    }

    /// The open connection, or a new one when the last was closed. Concurrent callers wait for
    /// one reconnection instead of each opening their own; the attempt is bounded by the
    /// timeout.
    pub async fn connection(&self) -> Result<Connection> {
        let mut connection = self.inner.connection.lock().await;
        if !connection.is_closed() {
            return Ok(connection.clone());
        }
        if connection.is_going_away() {
            tracing::info!(
                "the server asked to move; connecting to {}",
                self.inner.addr
            );
        } else {
            tracing::info!("connection closed; reconnecting to {}", self.inner.addr);
        }
        match Connection::connect_within(&self.inner.addr, self.inner.timeout).await {
            Ok(new) => {
                let mut catalog = self.inner.catalog.lock().unwrap_or_else(|e| e.into_inner());
                if **catalog != *new.catalog() {
                    tracing::warn!(
                        "the server at {} serves another catalog now ({} before, {} now): \
                         what was listed before may not hold",
                        self.inner.addr,
                        short(&catalog),
                        short(new.catalog())
                    );
                    *catalog = new.catalog().into();
                }
                drop(catalog);
                *connection = new;
                if self.problem().take().is_some() {
                    tracing::info!("the server at {} answers again", self.inner.addr);
                }
                Ok(connection.clone())
            }
            Err(e) => {
                drop(connection);
                self.trouble(&e);
                Err(e)
            }
        }
    }

    /// Fetches one page of the song list, within the deadline.
    pub async fn list(&self, request: &ListRequest) -> Result<Page> {
        self.within("LIST", |connection| async move {
            connection.list(request).await
        })
        .await
    }

    /// Fetches one page of a listing begun on a server of `catalog` (when the request carries a
    /// cursor), within the deadline; with the catalog the page comes from. A cursor is refused
    /// here, before it is sent, when the connection serves another catalog: it means nothing
    /// there.
    pub async fn list_in(
        &self,
        request: &ListRequest,
        catalog: Option<&str>,
    ) -> Result<(Page, Arc<str>)> {
        self.within("LIST", |connection| async move {
            if let (Some(catalog), Some(_)) = (catalog, &request.cursor) {
                if connection.catalog() != catalog {
                    return Err(ClientError::ListingChanged {
                        catalog: short(connection.catalog()).to_string(),
                    });
                }
            }
            let page = connection.list(request).await?;
            Ok((page, connection.catalog().into()))
        })
        .await
    }

    /// Fetches and validates a song's manifest, within the deadline.
    pub async fn manifest(&self, song: u64) -> Result<Manifest> {
        self.within("GET_MANIFEST", |connection| async move {
            connection.get_manifest(song).await
        })
        .await
    }

    /// Runs one request on the connection, reconnecting first if needed, and gives the
    /// connection up if the whole does not finish within the deadline. A request whose
    /// connection closed under it (LIST and GET_MANIFEST can be repeated) is sent once more on a
    /// new one, within the same deadline.
    async fn within<T, F>(&self, what: &str, request: impl Fn(Connection) -> F) -> Result<T>
    where
        F: std::future::Future<Output = Result<T>>,
    {
        let mut used = None;
        let attempts = async {
            let mut retried = false;
            loop {
                let connection = self.connection().await?;
                used = Some(connection.clone());
                match request(connection).await {
                    Err(ClientError::Closed(reason)) if !retried => {
                        tracing::info!("{what}: connection lost ({reason}); asking again");
                        retried = true;
                    }
                    result => return result,
                }
            }
        };
        match tokio::time::timeout(self.inner.timeout, attempts).await {
            Ok(result) => result,
            Err(_) => {
                let error = ClientError::Timeout {
                    what: what.to_string(),
                    after: self.inner.timeout,
                };
                if let Some(connection) = used {
                    self.unresponsive(&connection, &error);
                } else {
                    self.trouble(&error);
                }
                Err(error)
            }
        }
    }

    /// `connection` did not answer in time: give it up, so that the next request opens a new
    /// one, and start reconnecting in the background.
    pub fn unresponsive(&self, connection: &Connection, error: &ClientError) {
        tracing::info!("{error}; giving the connection up");
        connection.close(&error.to_string());
        // A connection already replaced (after a GOAWAY, say) says nothing of the current one:
        // recording a problem then would keep a reconnecting task going while that one works.
        let current = self
            .inner
            .connection
            .try_lock()
            .map_or(true, |now| now.same(connection));
        if current {
            self.trouble(error);
        }
    }

    /// Records the problem and makes sure a background task is reconnecting.
    fn trouble(&self, error: &ClientError) {
        *self.problem() = Some(match error {
            ClientError::Timeout { .. } => "server not answering; reconnecting".to_string(),
            ClientError::Server {
                code: ErrorCode::ServerBusy,
                ..
            } => "server busy; reconnecting".to_string(),
            _ => "server unreachable; reconnecting".to_string(),
        });
        if self.inner.reconnecting.swap(true, Ordering::AcqRel) {
            return;
        }
        tokio::spawn(reconnect(Arc::downgrade(&self.inner)));
    }
}

/// The first 12 hex digits of a catalog value, enough to tell two apart in a message.
pub fn short(catalog: &str) -> &str {
    catalog.get(..12).unwrap_or(catalog)
}

/// Tries to open a connection until one works or the client is dropped.
async fn reconnect(inner: Weak<Inner>) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
        let Some(inner) = inner.upgrade() else { return };
        let client = Client { inner };
        if client.problem().is_none() {
            break client.inner.reconnecting.store(false, Ordering::Release);
        }
        // A failure records itself and finds this task still running.
        if client.connection().await.is_ok() {
            client.inner.reconnecting.store(false, Ordering::Release);
            // A problem recorded between the success and now starts a new task.
            if client.problem().is_some() {
                client.trouble(&ClientError::Closed("lost again".into()));
            }
            return;
        }
    }
}
