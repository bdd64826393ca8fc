//! `attack`: hostile clients, for measuring what they cost the server and whether it keeps serving
//! everyone else (bench/hostile.sh runs each while `realtime` players stream). Each kind is one
//! way of holding the server's resources without using them, as issue reports and attack tools do
//! it; none is malformed (the fuzz targets and the server's tests cover that). Connections come
//! from the `--source` addresses in turn (loopback addresses such as 127.0.0.2), so that a server
//! can tell the attacker from its other clients.
//!
//! Every run is bounded: by its duration, and by the number of connections it holds at once.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use jukebox_protocol::{decode_frame, ErrorCode, Frame, Message};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{sleep, sleep_until, timeout, Instant};

use crate::conn::Failure;
use crate::stats::Percentiles;
use crate::wire::Request;

/// How an attacking connection behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// HELLO, 16 segment requests, close the sending side, read nothing, then reset: a client that
    /// is gone while the server has stopped reading it and its transfer is stalled.
    Dead,
    /// HELLO, a segment request and 100 LISTs never read (the server stops reading at its backlog
    /// of answers), then reset.
    DeadBacklog,
    /// HELLO and 16 segment requests (of different songs), then nothing: never reads, never
    /// closes.
    NonReader,
    /// HELLO, then a LIST now and then with its answer read: a slot held at no cost.
    Hold,
    /// HELLO, then a LIST sent one byte every 3 s: a frame begun and never finished.
    Trickle,
    /// Connects and never sends HELLO; reconnects at once when the server closes.
    NoHello,
    /// `--connections` connections opened at the same moment, for the accept backlog: how long
    /// each connect takes (a dropped SYN is retried after a second), then closed.
    Burst,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub kind: Kind,
    /// Connections held at once (for `dead` kinds: in flight at once).
    pub connections: usize,
    /// New connections per second (0: as fast as possible).
    pub rate: f64,
    pub duration: Duration,
    pub sources: Vec<IpAddr>,
    /// Segments to ask for, (song, index), taken in turn.
    pub segments: Arc<Vec<(u64, u32)>>,
    /// For `dead` kinds: how long a connection waits before its reset.
    pub hold: Duration,
}

#[derive(Debug, Serialize, Default)]
pub struct Report {
    pub kind: Option<Kind>,
    pub seconds: f64,
    /// Connections established.
    pub opened: u64,
    /// Answered WELCOME.
    pub welcomed: u64,
    /// Answered SERVER_BUSY.
    pub busy: u64,
    /// Closed (or reset) by the server while held.
    pub closed_by_server: u64,
    /// Most attacking connections open at once.
    pub peak_open: u64,
    /// Time to connect (the TCP handshake), for `burst`.
    pub connect: Option<Percentiles>,
    /// Connects slower than a second (a SYN dropped and retried).
    pub slow_connects: u64,
    /// Failures by kind.
    pub errors: BTreeMap<String, u64>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "attack {:?}: {} opened, {} welcomed, {} busy, {} closed by the server, peak {} open, \
             in {:.1} s",
            self.kind,
            self.opened,
            self.welcomed,
            self.busy,
            self.closed_by_server,
            self.peak_open,
            self.seconds
        )?;
        if let Some(connect) = &self.connect {
            write!(
                f,
                ", connect {connect}, {} slower than 1 s",
                self.slow_connects
            )?;
        }
        for (error, count) in &self.errors {
            write!(f, "\n  {count} x {error}")?;
        }
        Ok(())
    }
}

/// Counts shared by the attacking tasks.
#[derive(Default)]
struct Counts {
    opened: AtomicU64,
    welcomed: AtomicU64,
    busy: AtomicU64,
    closed_by_server: AtomicU64,
    open: AtomicUsize,
    peak_open: AtomicUsize,
    slow_connects: AtomicU64,
    errors: std::sync::Mutex<BTreeMap<String, u64>>,
    connect_ms: std::sync::Mutex<Vec<Duration>>,
}

impl Counts {
    fn error(&self, what: impl Into<String>) {
        let mut errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        *errors.entry(what.into()).or_default() += 1;
    }
}

/// One attacking connection while it is open: counted, and uncounted when dropped.
struct Open<'a>(&'a Counts);

impl<'a> Open<'a> {
    fn new(counts: &'a Counts) -> Open<'a> {
        counts.opened.fetch_add(1, Ordering::Relaxed);
        let now = counts.open.fetch_add(1, Ordering::Relaxed) + 1;
        counts.peak_open.fetch_max(now, Ordering::Relaxed);
        Open(counts)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs the attack on the current runtime and reports what happened.
pub async fn attack(addr: SocketAddr, options: Options) -> Result<Report, Failure> {
    if options.sources.is_empty() {
        return Err(Failure("no source address".into()));
    }
    let counts = Arc::new(Counts::default());
    let started = Instant::now();
    let end = started + options.duration;
    let options = Arc::new(options);
    let gate = Arc::new(Semaphore::new(options.connections.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let mut n: u64 = 0;
    let interval = (options.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / options.rate));
    loop {
        let next = match interval {
            Some(every) => started + every.mul_f64(n as f64),
            None => Instant::now(),
        };
        if next >= end || (options.kind == Kind::Burst && n as usize >= options.connections) {
            break;
        }
        sleep_until(next).await;
        let Ok(permit) = timeout(
            end.saturating_duration_since(Instant::now()),
            gate.clone().acquire_owned(),
        )
        .await
        else {
            break;
        };
        let permit = permit.map_err(|e| Failure(e.to_string()))?;
        let source = options.sources[n as usize % options.sources.len()];
        let (task_counts, task_options) = (counts.clone(), options.clone());
        let segment = n as usize;
        tasks.spawn(async move {
            one(addr, source, segment, &task_options, &task_counts, end).await;
            drop(permit);
        });
        n += 1;
        while let Some(joined) = tasks.try_join_next() {
            if let Err(e) = joined {
                counts.error(format!("task: {e}"));
            }
        }
    }
    // Held connections end with the run.
    let _ = timeout(
        end.saturating_duration_since(Instant::now()) + Duration::from_secs(5),
        async { while tasks.join_next().await.is_some() {} },
    )
    .await;
    tasks.abort_all();
    let connect = {
        let times = counts.connect_ms.lock().unwrap_or_else(|e| e.into_inner());
        (!times.is_empty()).then(|| {
            let mut histogram = crate::stats::Latencies::default();
            for t in times.iter() {
                histogram.record(*t);
            }
            histogram.summary()
        })
    };
    let errors = counts
        .errors
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    Ok(Report {
        kind: Some(options.kind),
        seconds: started.elapsed().as_secs_f64(),
        opened: counts.opened.load(Ordering::Relaxed),
        welcomed: counts.welcomed.load(Ordering::Relaxed),
        busy: counts.busy.load(Ordering::Relaxed),
        closed_by_server: counts.closed_by_server.load(Ordering::Relaxed),
        peak_open: counts.peak_open.load(Ordering::Relaxed) as u64,
        connect,
        slow_connects: counts.slow_connects.load(Ordering::Relaxed),
        errors,
    })
}

/// One attacking connection, until `end` at the latest.
async fn one(
    addr: SocketAddr,
    source: IpAddr,
    n: usize,
    options: &Options,
    counts: &Counts,
    end: Instant,
) {
    let connecting = Instant::now();
    let stream = match timeout(Duration::from_secs(10), connect_from(addr, source)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return counts.error(format!("connect: {}", e.kind())),
        Err(_) => return counts.error("connect: no answer in 10 s"),
    };
    let took = connecting.elapsed();
    if took > Duration::from_secs(1) {
        counts.slow_connects.fetch_add(1, Ordering::Relaxed);
    }
    let _open = Open::new(counts);
    let mut conn = Raw {
        stream,
        buf: BytesMut::new(),
    };
    if options.kind == Kind::Burst {
        counts
            .connect_ms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(took);
        return;
    }
    if options.kind == Kind::NoHello {
        // Hold the connection until the server closes it or the run ends.
        if timeout(end.saturating_duration_since(Instant::now()), conn.closed())
            .await
            .is_ok()
        {
            counts.closed_by_server.fetch_add(1, Ordering::Relaxed);
        }
        return;
    }
    match conn.hello().await {
        Ok(()) => {
            counts.welcomed.fetch_add(1, Ordering::Relaxed);
        }
        Err(Some(ErrorCode::ServerBusy)) => {
            counts.busy.fetch_add(1, Ordering::Relaxed);
            return;
        }
        Err(Some(code)) => return counts.error(format!("HELLO answered with {code}")),
        Err(None) => return counts.error("HELLO: closed or no answer"),
    }
    let segments = &options.segments;
    let result: std::io::Result<()> = async {
        match options.kind {
            Kind::Dead | Kind::DeadBacklog | Kind::NonReader => {
                let count = if options.kind == Kind::DeadBacklog {
                    1
                } else {
                    16
                };
                let mut bytes = Vec::new();
                for k in 0..count {
                    let (song, index) = segments[(n * 16 + k) % segments.len()];
                    bytes.extend_from_slice(
                        Request::get_segment(k as u32 + 1, song, index).as_bytes(),
                    );
                }
                if options.kind == Kind::DeadBacklog {
                    for id in 2..102 {
                        bytes.extend_from_slice(Request::list(id, b"").as_bytes());
                    }
                }
                conn.stream.write_all(&bytes).await?;
                if options.kind == Kind::NonReader {
                    // Nothing is read, so nothing wakes this task until the end of the run; then
                    // the socket's readiness says whether the server closed it meanwhile.
                    sleep_until(end).await;
                    if conn.was_closed().await {
                        counts.closed_by_server.fetch_add(1, Ordering::Relaxed);
                    }
                    return Ok(());
                }
                if options.kind == Kind::Dead {
                    conn.stream.shutdown().await?;
                }
                sleep(options.hold).await;
                // Dropped with SO_LINGER 0: a reset, as from a client that crashed.
                conn.stream.set_zero_linger()?;
                Ok(())
            }
            Kind::Hold => {
                let mut id = 1;
                while Instant::now() < end {
                    conn.stream
                        .write_all(Request::list(id, b"").as_bytes())
                        .await?;
                    if conn.frame().await.is_none() {
                        counts.closed_by_server.fetch_add(1, Ordering::Relaxed);
                        return Ok(());
                    }
                    id += 1;
                    sleep(
                        Duration::from_secs(20).min(end.saturating_duration_since(Instant::now())),
                    )
                    .await;
                }
                Ok(())
            }
            Kind::Trickle => {
                let list = Request::list(1, b"{}");
                for byte in list.as_bytes().iter().cycle() {
                    if Instant::now() >= end {
                        break;
                    }
                    if conn.stream.write_all(&[*byte]).await.is_err() {
                        counts.closed_by_server.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    // A closed connection shows up as readable.
                    if timeout(Duration::from_secs(3), conn.closed()).await.is_ok() {
                        counts.closed_by_server.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
                Ok(())
            }
            Kind::NoHello | Kind::Burst => Ok(()),
        }
    }
    .await;
    if let Err(e) = result {
        counts.error(format!("{:?}: {}", options.kind, e.kind()));
    }
}

async fn connect_from(addr: SocketAddr, source: IpAddr) -> std::io::Result<TcpStream> {
    let socket = match source {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    // Small buffers: an attacker has no use for a large window, and its stalled transfers stall
    // sooner.
    socket.set_recv_buffer_size(16 << 10)?;
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(addr).await
}

/// A connection read frame by frame.
struct Raw {
    stream: TcpStream,
    buf: BytesMut,
}

impl Raw {
    /// The next whole frame, or `None` when the connection ends (or sends nothing in 10 s).
    async fn frame(&mut self) -> Option<Frame> {
        loop {
            if let Ok(Some(frame)) = decode_frame(&mut self.buf) {
                return Some(frame);
            }
            match timeout(Duration::from_secs(10), self.stream.read_buf(&mut self.buf)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return None,
            }
        }
    }

    /// HELLO; `Ok` on WELCOME, else the fatal ERROR's code (`None`: no answer).
    async fn hello(&mut self) -> Result<(), Option<ErrorCode>> {
        self.stream
            .write_all(Request::hello().as_bytes())
            .await
            .map_err(|_| None)?;
        match self.frame().await {
            Some(Frame {
                message: Message::Welcome { .. },
                ..
            }) => Ok(()),
            Some(Frame {
                message: Message::Error { code, .. },
                ..
            }) => Err(Some(code)),
            _ => Err(None),
        }
    }

    /// Resolves when the server closes the connection (reading and discarding what comes).
    async fn closed(&mut self) {
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }

    /// True if the server has closed the connection (sent FIN or RST), without reading what it
    /// sent before.
    async fn was_closed(&self) -> bool {
        let interest = tokio::io::Interest::READABLE | tokio::io::Interest::ERROR;
        match timeout(Duration::from_millis(10), self.stream.ready(interest)).await {
            Ok(Ok(ready)) => ready.is_read_closed() || ready.is_error(),
            Ok(Err(_)) => true,
            Err(_) => false,
        }
    }
}
