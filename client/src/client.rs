//! The client's link to one server address, reopened on demand: a server closes idle connections,
//! and the next command (or the next segment of the playing song) should simply work.

use std::sync::Arc;

use tokio::sync::Mutex;

use crate::connection::Connection;
use crate::error::Result;

/// Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct Client {
    addr: Arc<str>,
    connection: Arc<Mutex<Option<Connection>>>,
}

impl Client {
    /// Connects at once, so that a wrong address is reported before the first command.
    pub async fn connect(addr: String) -> Result<Client> {
        let connection = Connection::connect(&addr).await?;
        Ok(Client {
            addr: addr.into(),
            connection: Arc::new(Mutex::new(Some(connection))),
        })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Frames the current connection discarded because their request was no longer outstanding.
    pub async fn stale_frames(&self) -> u64 {
        let connection = self.connection.lock().await;
        connection.as_ref().map_or(0, Connection::stale_frames)
    }

    /// The open connection, or a new one when the server has closed the last. Concurrent callers
    /// wait for one reconnection instead of each opening their own.
    pub async fn connection(&self) -> Result<Connection> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = &*slot {
            if !connection.is_closed() {
                return Ok(connection.clone());
            }
            tracing::info!("connection closed; reconnecting to {}", self.addr);
        }
        *slot = None;
        let connection = Connection::connect(&self.addr).await?;
        *slot = Some(connection.clone());
        Ok(connection)
    }
}
