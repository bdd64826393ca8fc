//! HAProxy as a child process, with the configuration of `deploy/haproxy/haproxy.cfg`, in front of
//! replicas the test started; and its admin socket, to see which replica holds a client's
//! connection and when a replica is up.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use jukebox_test_kit::process::Killed;

use crate::process::PATIENCE;

/// A running HAProxy, killed when dropped.
pub struct Haproxy {
    _child: Killed,
    /// Where clients connect.
    pub addr: SocketAddr,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

/// One replica as HAProxy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    /// `replica1`, `replica2`, ...
    pub name: String,
    /// `UP`, `DOWN`, `UP 1/2` (going down), ...
    pub status: String,
    /// Client connections it holds now.
    pub sessions: u64,
}

fn config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/haproxy/haproxy.cfg")
}

/// A port free now on 127.0.0.1 (HAProxy binds it a moment later).
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

impl Haproxy {
    /// Starts HAProxy in front of three replicas and waits until it counts them all up.
    /// `proxy_protocol`: whether it sends them the PROXY v2 header.
    pub fn start(replicas: [SocketAddr; 3], proxy_protocol: bool) -> Haproxy {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let socket = dir.path().join("haproxy.sock");
        let addr = free_port();
        let mut command = Command::new("haproxy");
        command
            .args(["-db", "-f"])
            .arg(config())
            .env("JUKEBOX_LISTEN", addr.to_string())
            .env("JUKEBOX_HAPROXY_SOCKET", &socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (n, replica) in replicas.iter().enumerate() {
            command.env(format!("JUKEBOX_REPLICA{}", n + 1), replica.to_string());
        }
        if !proxy_protocol {
            command.env("JUKEBOX_NO_PROXY_PROTOCOL", "1");
        }
        let child = command
            .spawn()
            .expect("haproxy is installed (see README prerequisites)");
        let haproxy = Haproxy {
            _child: Killed::from(child),
            addr,
            socket,
            _dir: dir,
        };
        haproxy.wait_until("every replica up", |replicas| {
            replicas.iter().all(|r| r.status == "UP")
        });
        haproxy
    }

    /// Sends one command to the admin socket and returns the answer.
    pub fn admin(&self, command: &str) -> std::io::Result<String> {
        let mut stream = UnixStream::connect(&self.socket)?;
        stream.set_read_timeout(Some(PATIENCE))?;
        stream.write_all(format!("{command}\n").as_bytes())?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer)
    }

    /// The replicas, from `show stat`; empty while HAProxy is not answering yet.
    pub fn replicas(&self) -> Vec<Replica> {
        let Ok(stat) = self.admin("show stat") else {
            return Vec::new();
        };
        stat.lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split(',').collect();
                (fields.len() > 17 && fields[0] == "replicas" && fields[1].starts_with("replica"))
                    .then(|| Replica {
                        name: fields[1].to_string(),
                        status: fields[17].to_string(),
                        sessions: fields[4].parse().unwrap_or(0),
                    })
            })
            .collect()
    }

    /// Waits until `done` holds for what `show stat` says (polled every 20 ms: HAProxy tells no
    /// one when its view changes), and returns that view. Panics after [`PATIENCE`].
    pub fn wait_until(&self, what: &str, done: impl Fn(&[Replica]) -> bool) -> Vec<Replica> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let replicas = self.replicas();
            if !replicas.is_empty() && done(&replicas) {
                return replicas;
            }
            assert!(
                Instant::now() < deadline,
                "HAProxy: no {what} after {PATIENCE:?}: {replicas:?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}
