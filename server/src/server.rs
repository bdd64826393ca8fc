//! The accept loop: one task per connection, a cap on how many are served at once and on how many
//! one source may hold or open, refusals answered with SERVER_BUSY and logged sparingly.
//!
//! Draining ([`Drainer::drain`], on SIGTERM): the listener is closed at once, so new connections
//! are refused (a load balancer's health check fails and it sends them elsewhere); every
//! connection sends GOAWAY with the time left and closes when its client has moved, or when the
//! time is over; the server's run ends when the last connection has.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::connection::{self, Drain, HeaderAdmission};
use crate::refusals::{Refusal, RefusalLog};
use crate::session::{Busy, Limits};
use crate::sources::{Refused, SourceLimits, SourceSlot, Sources};
use crate::{Config, Store};

/// Connections being turned away with SERVER_BUSY at once; beyond this they are closed unanswered,
/// so a flood of connections cannot make the rejections themselves pile up.
pub const MAX_REJECTING: usize = 256;

/// Threads reading catalog segment files, for the whole server: the store never has more reads
/// under way than this (32, plus those abandoned in a system call that has not returned), and
/// they all run in one blocking pool.
const READ_THREADS: usize = 64;

/// Pause after a failed accept (for example EMFILE, out of file descriptors) before trying again,
/// so the loop does not spin while the condition lasts.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// A bound listener, ready to serve.
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    config: Config,
    store: Arc<Store>,
    drain: watch::Sender<Option<Instant>>,
}

/// Starts a server's drain; see the module's documentation.
#[derive(Clone)]
pub struct Drainer(watch::Sender<Option<Instant>>);

impl Drainer {
    /// Stops accepting and asks every client to move within `within`. Once only: a second call
    /// changes nothing.
    pub fn drain(&self, within: Duration) {
        self.0.send_if_modified(|deadline| {
            let first = deadline.is_none();
            if first {
                *deadline = Some(Instant::now() + within);
            }
            first
        });
    }
}

/// What a connection holds while it is served: its place among the server's connections and in
/// its source's count, both given back when it is dropped.
struct Admission {
    _slot: OwnedSemaphorePermit,
    _source: Option<SourceSlot>,
    /// With the PROXY protocol, the source is known only from the header: the connection is
    /// admitted by this once it has read it.
    by_header: Option<HeaderAdmission>,
}

impl Admission {
    /// Serves the connection, after its PROXY header if it is to have one.
    async fn serve(
        mut self,
        stream: TcpStream,
        peer: SocketAddr,
        store: Arc<Store>,
        limits: Limits,
        reads: Handle,
        drain: Drain,
    ) {
        match self.by_header.take() {
            Some(admission) => {
                connection::serve_proxied(stream, peer, store, limits, reads, drain, admission)
                    .await
            }
            None => connection::serve(stream, peer, store, limits, reads, drain).await,
        }
        drop(self);
    }
}

/// A listener bound to the configured address that serves no songs yet. Binding before the songs
/// are loaded, which can take minutes, makes a port in use fail at once.
pub struct Listener {
    listener: TcpListener,
    local_addr: SocketAddr,
    config: Config,
}

impl Listener {
    /// Binds the listener, with the configured backlog.
    pub async fn bind(config: Config) -> io::Result<Listener> {
        let socket = match config.listen {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        // As std's TcpListener::bind: a restarted server can bind while old connections linger.
        socket.set_reuseaddr(true)?;
        socket.bind(config.listen)?;
        let listener = socket.listen(config.backlog)?;
        let local_addr = listener.local_addr()?;
        Ok(Listener {
            listener,
            local_addr,
            config,
        })
    }

    /// The address actually bound (with the real port when the config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The server of `store` on this listener. Connections that arrived meanwhile wait in the
    /// kernel's backlog.
    pub fn serve(self, store: Arc<Store>) -> Server {
        Server {
            listener: self.listener,
            local_addr: self.local_addr,
            config: self.config,
            store,
            drain: watch::channel(None).0,
        }
    }
}

impl Server {
    /// Binds the listener (see [`Listener`] to bind before the store is ready).
    pub async fn bind(config: Config, store: Arc<Store>) -> io::Result<Server> {
        Ok(Listener::bind(config).await?.serve(store))
    }

    /// The address actually bound (with the real port when the config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// What starts this server's drain, while its run goes on.
    pub fn drainer(&self) -> Drainer {
        Drainer(self.drain.clone())
    }

    /// Accepts and serves connections on the current runtime until the future is dropped, or,
    /// after a drain, until the last connection has closed. Dropping it ends every connection it
    /// started.
    pub async fn run(self) {
        let store = self.store.clone();
        let limits = self.limits();
        let drain = self.drain.subscribe();
        let mut tasks = JoinSet::new();
        let serve = |stream: TcpStream, peer, admission, tasks: &mut JoinSet<()>| {
            let store = store.clone();
            let drain = drain.clone();
            tasks.spawn(async move {
                let reads = Handle::current();
                Admission::serve(admission, stream, peer, store, limits, reads, drain).await;
            });
        };
        self.accept(&mut tasks, serve).await;
        while tasks.join_next().await.is_some() {}
    }

    /// Accepts connections on the current runtime and serves them on `threads` threads, each with
    /// a single-threaded runtime of its own, connections dealt out in turn. A connection's task
    /// then never moves between threads and no thread wakes another to help, which the profile
    /// shows costs a multi-threaded runtime more than the work itself at tens of thousands of
    /// segments per second. Catalog reads run on one more runtime, whose blocking pool of at most
    /// [`READ_THREADS`] threads reads the files for all connections. Dropping the future ends
    /// every connection it started.
    pub async fn run_on_threads(self, threads: usize) -> io::Result<()> {
        let threads = threads.max(1);
        let reads = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .max_blocking_threads(READ_THREADS)
            .thread_name("jukebox-read")
            .build()?;
        let (stop_reads, stopped) = tokio::sync::oneshot::channel::<()>();
        let read_handle = reads.handle().clone();
        std::thread::Builder::new()
            .name("jukebox-reads".into())
            .spawn(move || {
                reads.block_on(async {
                    let _ = stopped.await;
                });
                // Threads stuck in a read are not waited for.
                reads.shutdown_background();
            })?;
        let mut workers = Vec::with_capacity(threads);
        let mut finished = Vec::with_capacity(threads);
        for n in 0..threads {
            let (tx, rx) = mpsc::unbounded_channel::<Handoff>();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let store = self.store.clone();
            let limits = self.limits();
            let reads = read_handle.clone();
            let drain = self.drain.subscribe();
            let (done, ended) = tokio::sync::oneshot::channel::<()>();
            std::thread::Builder::new()
                .name(format!("jukebox-conn-{n}"))
                .spawn(move || {
                    runtime.block_on(serve_handoffs(rx, store, limits, reads, drain));
                    drop(done);
                })?;
            workers.push(tx);
            finished.push(ended);
        }
        let mut next = 0;
        let mut tasks = JoinSet::new();
        let hand_off = move |stream: TcpStream, peer, admission, _: &mut JoinSet<()>| {
            // The socket leaves this runtime's reactor and joins the worker's.
            match stream.into_std() {
                Ok(stream) => {
                    // A worker only stops when this sender is dropped, so the send succeeds.
                    let _ = workers[next].send((stream, peer, admission));
                    next = (next + 1) % workers.len();
                }
                Err(e) => tracing::warn!(%peer, "cannot hand the connection over: {e}"),
            }
        };
        self.accept(&mut tasks, hand_off).await;
        // Drained: the workers serve their connections to the end, then stop.
        for ended in finished {
            let _ = ended.await;
        }
        drop(stop_reads);
        Ok(())
    }

    fn limits(&self) -> Limits {
        Limits::from(&self.config)
    }

    /// The accept loop: admits every accepted connection (a place in its source's count and a
    /// connection slot) and gives it to `serve`, or refuses it with SERVER_BUSY. Refusals run in
    /// `tasks`, which the loop also reaps, and are logged at most once per interval.
    async fn accept(
        self,
        tasks: &mut JoinSet<()>,
        mut serve: impl FnMut(TcpStream, SocketAddr, Admission, &mut JoinSet<()>),
    ) {
        let slots = Arc::new(Semaphore::new(
            self.config.max_connections.min(Semaphore::MAX_PERMITS),
        ));
        let sources = Sources::new(SourceLimits {
            max_open: self.config.max_per_source,
            rate: self.config.source_rate,
        });
        let reserved = self.config.reserved_slots();
        let reserve_per_source = self.config.reserve_per_source;
        let rejecting = Arc::new(Semaphore::new(MAX_REJECTING));
        let mut log = RefusalLog::default();
        let mut drain = self.drain.subscribe();
        loop {
            let summary = log.due().map(tokio::time::Instant::from_std);
            tokio::select! {
                _ = async { drain.wait_for(Option::is_some).await.is_ok() } => {
                    tracing::info!("draining: no new connections; every client is asked to move");
                    // Dropping the listener (with `self`) refuses new connections at once.
                    return;
                }
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Err(e) = done {
                        if e.is_panic() {
                            tracing::error!("connection task panicked: {e}");
                        }
                    }
                }
                () = tokio::time::sleep_until(summary.unwrap_or_else(tokio::time::Instant::now)),
                    if summary.is_some() =>
                {
                    if let Some(line) = log.summary(now()) {
                        tracing::info!("{line}");
                    }
                }
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        // Only the reserve left: it is for sources that hold few connections.
                        let reserve_only = reserved > 0 && slots.available_permits() <= reserved;
                        // Behind a balancer the socket's peer is the balancer: the source (and
                        // its share of the reserve) is admitted once the PROXY header has named
                        // the client.
                        let admitted = if self.config.proxy_protocol {
                            Ok(None)
                        } else {
                            sources
                                .admit_with_reserve(peer.ip(), now(), reserve_only, reserve_per_source)
                                .map(Some)
                                .map_err(refusal)
                        }
                        .and_then(|source| match slots.clone().try_acquire_owned() {
                            Ok(slot) => Ok(Admission {
                                by_header: self.config.proxy_protocol.then(|| HeaderAdmission {
                                    sources: sources.clone(),
                                    slots: slots.clone(),
                                    reserved,
                                    reserve_per_source,
                                }),
                                _slot: slot,
                                _source: source,
                            }),
                            Err(_) => Err(Refusal::Full),
                        });
                        match admitted {
                            Ok(admission) => serve(stream, peer, admission, tasks),
                            Err(why) => {
                                let why = match rejecting.clone().try_acquire_owned() {
                                    Ok(permit) => {
                                        let (store, limits) = (self.store.clone(), self.limits());
                                        let busy = match why {
                                            Refusal::Full => Busy::Full,
                                            _ => Busy::Source,
                                        };
                                        tasks.spawn(async move {
                                            connection::reject_busy(stream, peer, store, limits, busy)
                                                .await;
                                            drop(permit);
                                        });
                                        why
                                    }
                                    Err(_) => Refusal::Unanswered,
                                };
                                if log.refused(why, now()) {
                                    tracing::info!(
                                        %peer,
                                        "turning a connection away: {}; further refusals are \
                                         summed up every {} s",
                                        why.describe(),
                                        crate::refusals::LOG_INTERVAL.as_secs()
                                    );
                                }
                            }
                        }
                    }
                    Err(e) => {
                        if log.refused(Refusal::AcceptFailed, now()) {
                            tracing::warn!("accepting a connection failed: {e}; retrying");
                        }
                        tokio::time::sleep(ACCEPT_RETRY).await;
                    }
                },
            }
        }
    }
}

/// The refusal that a source's is logged as.
fn refusal(refused: Refused) -> Refusal {
    match refused {
        Refused::TooMany => Refusal::SourceFull,
        Refused::TooFast => Refusal::SourceTooFast,
        Refused::Reserved => Refusal::Reserved,
    }
}

/// The time, from the runtime's clock (which tests may pause).
fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// An accepted connection on its way to a worker thread, with its admission.
type Handoff = (std::net::TcpStream, SocketAddr, Admission);

/// A worker thread's loop: serves the connections handed to it until the accept loop is gone, then
/// drops them all, or after a drain serves them until they have closed.
async fn serve_handoffs(
    mut handoffs: mpsc::UnboundedReceiver<Handoff>,
    store: Arc<Store>,
    limits: Limits,
    reads: Handle,
    drain: Drain,
) {
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                if let Err(e) = done {
                    if e.is_panic() {
                        tracing::error!("connection task panicked: {e}");
                    }
                }
            }
            handoff = handoffs.recv() => {
                let Some((stream, peer, admission)) = handoff else {
                    let drained = drain.borrow().is_some();
                    if drained {
                        while tasks.join_next().await.is_some() {}
                    }
                    return;
                };
                let store = store.clone();
                let reads = reads.clone();
                let drain = drain.clone();
                tasks.spawn(async move {
                    match TcpStream::from_std(stream) {
                        Ok(stream) => {
                            admission.serve(stream, peer, store, limits, reads, drain).await
                        }
                        Err(e) => tracing::warn!(%peer, "cannot take the connection over: {e}"),
                    }
                });
            }
        }
    }
}
