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
    /// The last connection opened, open or not.
    connection: Arc<Mutex<Connection>>,
}

impl Client {
    /// Connects at once, so that a wrong address is reported before the first command.
    pub async fn connect(addr: String) -> Result<Client> {
        let connection = Connection::connect(&addr).await?;
        Ok(Client {
            addr: addr.into(),
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Frames the last connection discarded because their request was no longer outstanding.
    pub async fn stale_frames(&self) -> u64 {
        self.connection.lock().await.stale_frames()
    }

    /// The open connection, or a new one when the server has closed the last. Concurrent callers
    /// wait for one reconnection instead of each opening their own.
    pub async fn connection(&self) -> Result<Connection> {
        let mut connection = self.connection.lock().await;
        if connection.is_closed() {
            tracing::info!("connection closed; reconnecting to {}", self.addr);
            *connection = Connection::connect(&self.addr).await?;
        }
        Ok(connection.clone())
    }
}
