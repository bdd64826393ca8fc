//! `jukebox-bench`: a load generator and latency probe for the Jukebox server, as redis-benchmark
//! is for redis-server.
//!
//! It is a crate of its own, not a mode of the client, because a load generator must cost far less
//! than what it measures: it shares only the protocol crate with the rest of the workspace, never
//! buffers or verifies audio on the load paths (DATA payloads are skipped in place, as the protocol
//! crate's [`jukebox_protocol::StreamDecoder`] hands them out), allocates nothing per request, and pulls in no audio output, prompt or
//! progress bar. Only the `latency` mode decodes audio (with symphonia), since time to first audio
//! is what it measures.
//!
//! Modes: [`realtime`] (players at real-time pace, counting underruns), [`throughput`] (segments
//! as fast as the server sends them) and [`latency`] (play, switch and list latencies); [`dump`]
//! writes the server's segments to files so another server can serve the same bytes; [`attack`]
//! runs hostile clients and [`probe`] times a newcomer's admission, for bench/hostile.sh.

pub mod attack;
pub mod conn;
pub mod decode;
pub mod dump;
pub mod latency;
pub mod link;
pub mod load;
pub mod probe;
pub mod realtime;
pub mod stats;
pub mod throughput;
pub mod wire;
