//! `dump`: the server's segments written to files, one per segment, so a plain HTTP server can be
//! loaded with exactly the bytes the Jukebox server sends (see `compare-nginx.sh`).

use std::net::SocketAddr;
use std::path::Path;

use serde::Serialize;

use crate::conn::{Conn, Failure, Result};
use crate::decode::verify;

#[derive(Debug, Serialize)]
pub struct Report {
    pub mode: &'static str,
    pub songs: usize,
    pub segments: usize,
    pub bytes: u64,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "dump: {} segments of {} songs, {:.1} MB",
            self.segments,
            self.songs,
            self.bytes as f64 / 1e6
        )
    }
}

/// Writes `out/SONG/INDEX.mp3` for every segment of every song.
pub async fn dump(addr: SocketAddr, out: &Path) -> Result<Report> {
    let mut conn = Conn::open(addr, 64 * 1024).await?;
    let songs = conn.songs().await?;
    let mut report = Report {
        mode: "dump",
        songs: songs.len(),
        segments: 0,
        bytes: 0,
    };
    for song in &songs {
        let manifest = conn.manifest(song.id).await?;
        let dir = out.join(song.id.to_string());
        std::fs::create_dir_all(&dir)
            .map_err(|e| Failure(format!("cannot create {}: {e}", dir.display())))?;
        for info in &manifest.segments {
            let mut bytes = Vec::with_capacity(info.bytes as usize);
            conn.segment(song.id, info.index, |b| bytes.extend_from_slice(b))
                .await?;
            verify(&bytes, &info.sha256)?;
            let path = dir.join(format!("{}.mp3", info.index));
            std::fs::write(&path, &bytes)
                .map_err(|e| Failure(format!("cannot write {}: {e}", path.display())))?;
            report.segments += 1;
            report.bytes += bytes.len() as u64;
        }
    }
    Ok(report)
}
