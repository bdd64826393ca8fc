//! The accept loop: one task per connection, a cap on how many are served at once.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
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

impl Server {
    /// Binds the listener.
    pub async fn bind(config: Config, store: Arc<Store>) -> io::Result<Server> {
        let listener = TcpListener::bind(config.listen).await?;
        let local_addr = listener.local_addr()?;
        Ok(Server {
            listener,
            local_addr,
            config,
            store,
        })
    }

    /// The address actually bound (with the real port when the config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Accepts and serves connections until the future is dropped. Dropping it also ends every
    /// connection it started.
    pub async fn run(self) {
        let limits = Limits {
            idle_timeout: self.config.idle_timeout,
            max_queued_segments: self.config.max_queued_segments,
            notsent_lowat: self.config.notsent_lowat,
            data_frames_per_write: self
                .config
                .data_frames_per_write
                .clamp(1, MAX_FRAMES_PER_WRITE),
        };
        let slots = Arc::new(Semaphore::new(
            self.config.max_connections.min(Semaphore::MAX_PERMITS),
        ));
        let rejecting = Arc::new(Semaphore::new(MAX_REJECTING));
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
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => match slots.clone().try_acquire_owned() {
                        Ok(slot) => {
                            let store = self.store.clone();
                            tasks.spawn(async move {
                                connection::serve(stream, peer, store, limits).await;
                                drop(slot);
                            });
                        }
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
