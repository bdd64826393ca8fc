//! The client's link to one server address, reopened on demand: a server closes idle connections,
//! and the next command should simply work.

use crate::connection::Connection;
use crate::error::Result;

pub struct Client {
    addr: String,
    connection: Option<Connection>,
}

impl Client {
    /// Connects at once, so that a wrong address is reported before the first command.
    pub async fn connect(addr: String) -> Result<Client> {
        let connection = Connection::connect(&addr).await?;
        Ok(Client {
            addr,
            connection: Some(connection),
        })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Frames the current connection discarded because their request was no longer outstanding.
    pub fn stale_frames(&self) -> u64 {
        self.connection.as_ref().map_or(0, Connection::stale_frames)
    }

    /// The open connection, or a new one when the server has closed the last.
    pub async fn connection(&mut self) -> Result<Connection> {
        if let Some(connection) = &self.connection {
            if !connection.is_closed() {
                return Ok(connection.clone());
            }
            tracing::info!("connection closed; reconnecting to {}", self.addr);
        }
        self.connection = None;
        let connection = Connection::connect(&self.addr).await?;
        self.connection = Some(connection.clone());
        Ok(connection)
    }
}
