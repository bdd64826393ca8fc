//! The accept loop: one task per connection, a cap on how many are served at once.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::connection::{self, Limits, MAX_FRAMES_PER_WRITE};
use crate::{Config, Store};

/// Connections being turned away with SERVER_BUSY at once; beyond this they are closed unanswered,
/// so a flood of connections cannot make the rejections themselves pile up.
const MAX_REJECTING: usize = 256;

/// Pause after a failed accept (for example EMFILE, out of file descriptors) before trying again,
/// so the loop does not spin while the condition lasts.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// A bound listener, ready to serve.
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    config: Config,
    store: Arc<Store>,
}

/// A listener bound to the configured address that serves no songs yet. Binding before the songs
/// are loaded, which can take minutes, makes a port in use fail at once.
pub struct Listener {
    listener: TcpListener,
    local_addr: SocketAddr,
    config: Config,
}

impl Listener {
    /// Binds the listener.
    pub async fn bind(config: Config) -> io::Result<Listener> {
        let listener = TcpListener::bind(config.listen).await?;
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

    /// Accepts and serves connections on the current runtime until the future is dropped.
    /// Dropping it also ends every connection it started.
    pub async fn run(self) {
        let store = self.store.clone();
        let limits = self.limits();
        let mut tasks = JoinSet::new();
        let serve = |stream: TcpStream, peer, slot, tasks: &mut JoinSet<()>| {
            let store = store.clone();
            tasks.spawn(async move {
                connection::serve(stream, peer, store, limits).await;
                drop(slot);
            });
        };
        self.accept(&mut tasks, serve).await;
    }

    /// Accepts connections on the current runtime and serves them on `threads` threads, each with
    /// a single-threaded runtime of its own, connections dealt out in turn. A connection's task
    /// then never moves between threads and no thread wakes another to help, which the profile
    /// shows costs a multi-threaded runtime more than the work itself at tens of thousands of
    /// segments per second. Dropping the future ends every connection it started.
    pub async fn run_on_threads(self, threads: usize) -> io::Result<()> {
        let threads = threads.max(1);
        let mut workers = Vec::with_capacity(threads);
        for n in 0..threads {
            let (tx, rx) = mpsc::unbounded_channel::<Handoff>();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let store = self.store.clone();
            let limits = self.limits();
            std::thread::Builder::new()
                .name(format!("jukebox-conn-{n}"))
                .spawn(move || runtime.block_on(serve_handoffs(rx, store, limits)))?;
            workers.push(tx);
        }
        let mut next = 0;
        let mut tasks = JoinSet::new();
        let hand_off = move |stream: TcpStream, peer, slot, _: &mut JoinSet<()>| {
            // The socket leaves this runtime's reactor and joins the worker's.
            match stream.into_std() {
                Ok(stream) => {
                    // A worker only stops when this sender is dropped, so the send succeeds.
                    let _ = workers[next].send((stream, peer, slot));
                    next = (next + 1) % workers.len();
                }
                Err(e) => tracing::warn!(%peer, "cannot hand the connection over: {e}"),
            }
        };
        self.accept(&mut tasks, hand_off).await;
        Ok(())
    }

    fn limits(&self) -> Limits {
        Limits {
            idle_timeout: self.config.idle_timeout,
            max_queued_segments: self.config.max_queued_segments,
            notsent_lowat: self.config.notsent_lowat,
            data_frames_per_write: self
                .config
                .data_frames_per_write
                .clamp(1, MAX_FRAMES_PER_WRITE),
        }
    }

    /// The accept loop: takes a connection slot for every accepted connection and gives both to
    /// `serve`, or refuses the connection with SERVER_BUSY when no slot is free. Refusals run in
    /// `tasks`, which the loop also reaps.
    async fn accept(
        self,
        tasks: &mut JoinSet<()>,
        mut serve: impl FnMut(TcpStream, SocketAddr, OwnedSemaphorePermit, &mut JoinSet<()>),
    ) {
        let slots = Arc::new(Semaphore::new(
            self.config.max_connections.min(Semaphore::MAX_PERMITS),
        ));
        let rejecting = Arc::new(Semaphore::new(MAX_REJECTING));
        loop {
            tokio::select! {
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Err(e) = done {
                        if e.is_panic() {
                            tracing::error!("connection task panicked: {e}");
                        }
                    }
                }
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => match slots.clone().try_acquire_owned() {
                        Ok(slot) => serve(stream, peer, slot, tasks),
                        Err(_) => {
                            tracing::info!(%peer, "connection limit reached; refusing with SERVER_BUSY");
                            if let Ok(permit) = rejecting.clone().try_acquire_owned() {
                                tasks.spawn(async move {
                                    connection::reject_busy(stream, peer).await;
                                    drop(permit);
                                });
                            }
                        }
                    },
                    Err(e) => {
                        tracing::warn!("accepting a connection failed: {e}; retrying");
                        tokio::time::sleep(ACCEPT_RETRY).await;
                    }
                },
            }
        }
    }
}

/// An accepted connection on its way to a worker thread, with its connection slot.
type Handoff = (std::net::TcpStream, SocketAddr, OwnedSemaphorePermit);

/// A worker thread's loop: serves the connections handed to it until the accept loop is gone, then
/// drops them all.
async fn serve_handoffs(
    mut handoffs: mpsc::UnboundedReceiver<Handoff>,
    store: Arc<Store>,
    limits: Limits,
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
                let Some((stream, peer, slot)) = handoff else { return };
                let store = store.clone();
                tasks.spawn(async move {
                    match TcpStream::from_std(stream) {
                        Ok(stream) => connection::serve(stream, peer, store, limits).await,
                        Err(e) => tracing::warn!(%peer, "cannot take the connection over: {e}"),
                    }
                    drop(slot);
                });
            }
        }
    }
}
