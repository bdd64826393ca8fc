//! A player's connection that outlives the server going away, as the client's does: on GOAWAY the
//! request under way finishes on the old connection and the next one goes out on a new one; when
//! the connection is lost, what was under way is asked again on a new one, opened at once and
//! then after a backoff (bounded by [`MAX_BACKOFF`]), for at most [`RECONNECT_PATIENCE`]. Every new
//! connection goes to the same address (a balancer, which hands it to a live replica), and must
//! serve the same catalog: a WELCOME naming another one is taken only when the song being played
//! has the same manifest there, as the client checks before it plays on.
//!
//! Between requests a player watches its connection ([`Link::idle_until`]), so a GOAWAY or a close
//! is seen when it happens rather than at the next request, and the new connection is open before
//! the read-ahead runs low.

use std::sync::Arc;
use std::time::Duration;

use jukebox_protocol::Manifest;
use tokio::time::{sleep, sleep_until, Instant};

use crate::conn::{unexpected, Conn, Failure, Result};
use crate::load::Dial;
use crate::stats::Moves;

/// The pause after the first failed attempt to reconnect; it doubles up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// The longest pause between two attempts to reconnect.
pub const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// How long a player tries to reconnect before its stream counts as failed.
pub const RECONNECT_PATIENCE: Duration = Duration::from_secs(30);

enum Retired {
    Lost,
    GoingAway,
}

pub struct Link {
    dial: Arc<Dial>,
    /// The player's index: which source address it connects from, and its backoff's jitter.
    index: usize,
    conn: Option<Conn>,
    /// The catalog the player's songs come from.
    catalog: String,
    /// When the last connection went away or was lost, until a new one is open.
    broken_at: Option<Instant>,
    /// A new connection was opened since the last segment arrived.
    resumed: bool,
    pub moves: Moves,
    /// Why the last failed attempt to reconnect failed.
    pub attempt_failure: Option<String>,
}

impl Link {
    /// A player's link, starting on `conn`, for songs of `catalog`.
    pub fn new(dial: Arc<Dial>, index: usize, conn: Conn, catalog: String) -> Link {
        Link {
            dial,
            index,
            conn: Some(conn),
            catalog,
            broken_at: None,
            resumed: false,
            moves: Moves::default(),
            attempt_failure: None,
        }
    }

    /// True, once, when the last segment came over a connection opened since the one before it.
    pub fn take_resumed(&mut self) -> bool {
        std::mem::take(&mut self.resumed)
    }

    /// A song's manifest, asked again on a new connection if need be.
    pub async fn manifest(&mut self, song: u64) -> Result<Manifest> {
        loop {
            let conn = self.connection(None).await?;
            let answer = conn.manifest(song).await;
            if let Some(answer) = self.settle(answer) {
                return answer;
            }
        }
    }

    /// Segment `index` of the song of `playing`; its length. Asked again from its start on a new
    /// connection when the connection is lost before its end.
    pub async fn segment(&mut self, playing: &Manifest, index: u32) -> Result<usize> {
        loop {
            let conn = self.connection(Some(playing)).await?;
            let answer = conn.segment(playing.id, index, |_| {}).await;
            if let Some(answer) = self.settle(answer) {
                return answer;
            }
        }
    }

    /// Waits until `at`, watching the connection meanwhile: on GOAWAY it is closed and another
    /// opened at once (nothing is outstanding), and so when it is lost. `playing`: the song being
    /// played, whose manifest a server of another catalog must have too.
    pub async fn idle_until(&mut self, at: Instant, playing: Option<&Manifest>) -> Result<()> {
        loop {
            let conn = self.connection(playing).await?;
            let read = tokio::select! {
                () = sleep_until(at) => return Ok(()),
                read = conn.read_some() => read,
            };
            // Nothing was asked, so every frame but GOAWAY is unexpected.
            let walked = read.and_then(|n| conn.walk(n, |piece| Err(unexpected(&piece))));
            if let Some(Err(e)) = self.settle(walked) {
                return Err(e);
            }
        }
    }

    /// What a request's answer means for the connection: `None` when the connection was lost and
    /// the request must be sent again; the answer otherwise.
    fn settle<T>(&mut self, answer: Result<T>) -> Option<Result<T>> {
        match self.retire() {
            Some(Retired::Lost) => None,
            _ => Some(answer),
        }
    }

    /// Drops (and so closes) a connection that was lost or is going away, so that the next
    /// request opens another; says which.
    fn retire(&mut self) -> Option<Retired> {
        let conn = self.conn.as_ref()?;
        let retired = if conn.is_lost() {
            self.moves.lost += 1;
            Retired::Lost
        } else if conn.is_going_away() {
            self.moves.goaways += 1;
            Retired::GoingAway
        } else {
            return None;
        };
        self.conn = None;
        self.broken_at.get_or_insert_with(Instant::now);
        Some(retired)
    }

    /// The connection, opened again if it went away or was lost (a GOAWAY may come in the same
    /// read as the WELCOME).
    async fn connection(&mut self, playing: Option<&Manifest>) -> Result<&mut Conn> {
        self.retire();
        while self.conn.is_none() {
            let conn = self.reconnect(playing).await?;
            self.conn = Some(conn);
            self.retire();
        }
        Ok(self.conn.as_mut().expect("connected above"))
    }

    /// Opens a new connection: at once, then after a backoff between failed attempts, until one
    /// serves the songs played or [`RECONNECT_PATIENCE`] has passed.
    async fn reconnect(&mut self, playing: Option<&Manifest>) -> Result<Conn> {
        let broken_at = *self.broken_at.get_or_insert_with(Instant::now);
        let mut backoff = FIRST_BACKOFF;
        let mut attempt: u64 = 0;
        loop {
            let why = match self.dial.open(self.index).await {
                Ok(mut conn) => match self.same_songs(&mut conn, playing).await {
                    Ok(()) => {
                        let took = broken_at.elapsed().as_secs_f64() * 1000.0;
                        self.moves.reconnects += 1;
                        self.moves.longest_reconnect_ms = self.moves.longest_reconnect_ms.max(took);
                        self.broken_at = None;
                        self.resumed = true;
                        return Ok(conn);
                    }
                    Err(e) if conn.is_lost() => e,
                    Err(e) => return Err(e),
                },
                Err(e) => e,
            };
            self.moves.failed_attempts += 1;
            self.attempt_failure = Some(why.0.clone());
            if broken_at.elapsed() >= RECONNECT_PATIENCE {
                return Err(Failure(format!(
                    "no new connection within {} s: {why}",
                    RECONNECT_PATIENCE.as_secs()
                )));
            }
            // Players that lost their server together spread their attempts over the backoff.
            let spread = (self.index as u64)
                .wrapping_mul(7919)
                .wrapping_add(attempt * 104_729)
                % 1000;
            sleep(backoff.mul_f64(0.5 + spread as f64 / 1000.0)).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            attempt += 1;
        }
    }

    /// Checks that a new connection serves the songs played: the same catalog, or, if another,
    /// the same manifest for the song being played (which then plays on, from this catalog).
    async fn same_songs(&mut self, conn: &mut Conn, playing: Option<&Manifest>) -> Result<()> {
        if conn.catalog() == self.catalog {
            return Ok(());
        }
        if let Some(playing) = playing {
            let there = conn.manifest(playing.id).await?;
            if there != *playing {
                return Err(Failure(format!(
                    "song {} is not the same in catalog {} as in {}",
                    playing.id,
                    short(conn.catalog()),
                    short(&self.catalog)
                )));
            }
        }
        self.moves.catalog_changes += 1;
        self.catalog = conn.catalog().to_string();
        Ok(())
    }
}

/// The first 12 hex digits of a catalog value, enough to tell two apart.
fn short(catalog: &str) -> &str {
    catalog.get(..12).unwrap_or(catalog)
}
