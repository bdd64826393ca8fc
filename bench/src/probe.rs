//! `probe`: a newcomer, again and again: connects from `--source`, sends HELLO and times the
//! WELCOME, every `--interval-ms`, one attempt at a time. It says whether a client that was not
//! connected before gets in while an attack runs (bench/hostile.sh runs it from an address of its
//! own during and right after each attack).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Serialize;
use tokio::time::{sleep_until, timeout, Instant};

use crate::conn::Failure;
use crate::stats::{Latencies, Percentiles};

/// Longest an attempt may take before it counts as not admitted.
const GIVE_UP: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize)]
pub struct Report {
    pub attempts: u64,
    /// Answered WELCOME within [`GIVE_UP`].
    pub admitted: u64,
    /// Answered SERVER_BUSY.
    pub busy: u64,
    /// No answer in time, refused or closed without an answer.
    pub failed: u64,
    /// Time from connect to WELCOME, of the admitted attempts.
    pub admission: Percentiles,
    /// Longest time from the start (or an admission) to the next admission, or to the end: how
    /// long a newcomer could have waited to get in.
    pub longest_wait_s: f64,
    pub failures: Vec<String>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "probe: {} attempts, {} admitted, {} busy, {} failed, admission {}, longest wait {:.2} s",
            self.attempts,
            self.admitted,
            self.busy,
            self.failed,
            self.admission,
            self.longest_wait_s
        )?;
        for failure in &self.failures {
            write!(f, "\n  {failure}")?;
        }
        Ok(())
    }
}

pub async fn probe(
    addr: SocketAddr,
    source: IpAddr,
    duration: Duration,
    interval: Duration,
) -> Result<Report, Failure> {
    let start = Instant::now();
    let end = start + duration;
    let mut latencies = Latencies::default();
    let (mut attempts, mut admitted, mut busy, mut failed) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    let mut last_in = start;
    let mut longest = Duration::ZERO;
    let mut next = start;
    while next < end {
        sleep_until(next).await;
        next += interval;
        attempts += 1;
        let began = Instant::now();
        let outcome = timeout(GIVE_UP, async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(source, 0))?;
            let stream = socket.connect(addr).await?;
            hello(stream).await
        })
        .await;
        match outcome {
            Ok(Ok(None)) => {
                admitted += 1;
                let now = Instant::now();
                latencies.record(now - began);
                longest = longest.max(now - last_in);
                last_in = now;
            }
            Ok(Ok(Some(jukebox_protocol::ErrorCode::ServerBusy))) => busy += 1,
            Ok(Ok(Some(code))) => {
                failed += 1;
                failures.push(format!("HELLO answered with {code}"));
            }
            Ok(Err(e)) => {
                failed += 1;
                failures.push(format!("{e}"));
            }
            Err(_) => {
                failed += 1;
                failures.push(format!("no WELCOME within {} s", GIVE_UP.as_secs()));
            }
        }
    }
    longest = longest.max(Instant::now() - last_in);
    failures.sort();
    failures.dedup();
    Ok(Report {
        attempts,
        admitted,
        busy,
        failed,
        admission: latencies.summary(),
        longest_wait_s: longest.as_secs_f64(),
        failures,
    })
}

/// HELLO on a fresh connection: `None` for WELCOME, else the ERROR's code.
async fn hello(
    mut stream: tokio::net::TcpStream,
) -> std::io::Result<Option<jukebox_protocol::ErrorCode>> {
    use jukebox_protocol::{decode_frame, Message};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(crate::wire::Request::hello().as_bytes())
        .await?;
    let mut buf = bytes::BytesMut::new();
    loop {
        let frame = decode_frame(&mut buf)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        match frame.map(|f| f.message) {
            Some(Message::Welcome { .. }) => return Ok(None),
            Some(Message::Error { code, .. }) => return Ok(Some(code)),
            Some(other) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} instead of WELCOME", other.kind().name()),
                ))
            }
            None => {}
        }
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}
