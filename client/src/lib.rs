//! The Jukebox client: a connection that multiplexes requests to a server, the playback pipeline
//! (fetch, verify, decode, play in real time) and the command prompt of the `jukebox` binary.

pub mod cli;
pub mod client;
pub mod connection;
pub mod embedded;
pub mod error;
pub mod handshake;
pub mod output;
pub mod player;

pub use client::Client;
pub use connection::Connection;
pub use error::ClientError;
