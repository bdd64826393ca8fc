//! The play queue: the songs to play in order, which of them plays, and the repeat mode. Pure
//! bookkeeping, no I/O: the command loop asks it what comes next and tells the player.
//!
//! Positions are 1-based where the user sees them (`queue`, `remove N`) and 0-based here.

use std::fmt;
use std::str::FromStr;

use jukebox_protocol::SongSummary;

/// What happens at the end of a song.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Repeat {
    /// Play the queue once, then stop.
    #[default]
    Off,
    /// Play the current song again and again.
    One,
    /// Start the queue again after its last song.
    All,
}

impl FromStr for Repeat {
    type Err = String;

    fn from_str(s: &str) -> Result<Repeat, String> {
        match s.to_ascii_lowercase().as_str() {
            "off" => Ok(Repeat::Off),
            "one" => Ok(Repeat::One),
            "all" => Ok(Repeat::All),
            _ => Err(format!("repeat takes off, one or all, not {s:?}")),
        }
    }
}

impl fmt::Display for Repeat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Repeat::Off => "off",
            Repeat::One => "one",
            Repeat::All => "all",
        })
    }
}

/// Why the next song is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advance {
    /// The song ended by itself: `repeat one` plays it again.
    Ended,
    /// The user asked for the next song: `repeat one` does not hold it back.
    Skip,
}

#[derive(Debug, Default)]
pub struct Playlist {
    entries: Vec<SongSummary>,
    /// The entry playing, or the last one played; `None` before the first or after `clear`.
    position: Option<usize>,
    pub repeat: Repeat,
}

impl Playlist {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entries(&self) -> &[SongSummary] {
        &self.entries
    }

    pub fn position(&self) -> Option<usize> {
        self.position
    }

    pub fn get(&self, index: usize) -> Option<&SongSummary> {
        self.entries.get(index)
    }

    /// Appends songs at the end.
    pub fn add(&mut self, songs: impl IntoIterator<Item = SongSummary>) {
        self.entries.extend(songs);
    }

    /// `play N`: the song goes right after the current entry (first if there is none) and
    /// becomes the current one. Returns its index.
    pub fn play_now(&mut self, song: SongSummary) -> usize {
        let at = self.position.map_or(0, |p| p + 1).min(self.entries.len());
        self.entries.insert(at, song);
        self.position = Some(at);
        at
    }

    /// Makes `index` the current entry.
    pub fn set_position(&mut self, index: usize) {
        if index < self.entries.len() {
            self.position = Some(index);
        }
    }

    /// The entry that follows the current one, by the repeat mode; the first one before any was
    /// played. `None` at the end of the queue.
    pub fn after(&self, why: Advance) -> Option<usize> {
        let len = self.entries.len();
        let Some(position) = self.position else {
            return (len > 0).then_some(0);
        };
        match (self.repeat, why) {
            (Repeat::One, Advance::Ended) if position < len => Some(position),
            (Repeat::All, _) if len > 0 => Some((position + 1) % len),
            _ => (position + 1 < len).then_some(position + 1),
        }
    }

    /// The entry before the current one (`repeat all` wraps to the last); `None` at the start.
    pub fn before(&self) -> Option<usize> {
        let len = self.entries.len();
        match self.position {
            Some(0) if self.repeat == Repeat::All && len > 0 => Some(len - 1),
            Some(position) if position > 0 => Some((position - 1).min(len.saturating_sub(1))),
            _ => None,
        }
    }

    /// Empties the queue.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.position = None;
    }

    /// Removes entry `index` (0-based). If it was the current one, the entry that followed it
    /// becomes the next: the current position moves to the one before.
    pub fn remove(&mut self, index: usize) -> Option<SongSummary> {
        if index >= self.entries.len() {
            return None;
        }
        let removed = self.entries.remove(index);
        self.position = match self.position {
            Some(p) if p > index => Some(p - 1),
            // The current entry is gone: the next one is the one that took its place.
            Some(p) if p == index => index.checked_sub(1),
            other => other,
        };
        if self.entries.is_empty() {
            self.position = None;
        }
        Some(removed)
    }

    /// Puts the entries in a random order, the current one first (it goes on playing).
    pub fn shuffle(&mut self, rng: &mut fastrand::Rng) {
        let mut start = 0;
        if let Some(position) = self.position {
            self.entries.swap(0, position);
            self.position = Some(0);
            start = 1;
        }
        rng.shuffle(&mut self.entries[start..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn song(id: u64) -> SongSummary {
        SongSummary {
            id,
            title: format!("song {id}"),
            artist: String::new(),
            album: String::new(),
            duration_ms: 1000,
            segments: 1,
        }
    }

    fn queue(ids: &[u64]) -> Playlist {
        let mut playlist = Playlist::default();
        playlist.add(ids.iter().copied().map(song));
        playlist
    }

    fn ids(playlist: &Playlist) -> Vec<u64> {
        playlist.entries().iter().map(|s| s.id).collect()
    }

    #[test]
    fn plays_in_order_then_stops_or_repeats() {
        let mut q = queue(&[1, 2, 3]);
        assert_eq!(q.after(Advance::Ended), Some(0));
        q.set_position(0);
        assert_eq!(q.after(Advance::Ended), Some(1));
        q.set_position(2);
        assert_eq!(q.after(Advance::Ended), None);
        assert_eq!(q.after(Advance::Skip), None);
        q.repeat = Repeat::All;
        assert_eq!(q.after(Advance::Ended), Some(0));
        q.repeat = Repeat::One;
        assert_eq!(q.after(Advance::Ended), Some(2));
        assert_eq!(q.after(Advance::Skip), None);
        assert_eq!(q.before(), Some(1));
        q.set_position(0);
        assert_eq!(q.before(), None);
        q.repeat = Repeat::All;
        assert_eq!(q.before(), Some(2));
    }

    #[test]
    fn play_now_goes_after_the_current_entry() {
        let mut q = queue(&[1, 2]);
        assert_eq!(q.play_now(song(9)), 0);
        assert_eq!(ids(&q), [9, 1, 2]);
        q.set_position(1);
        assert_eq!(q.play_now(song(8)), 2);
        assert_eq!(ids(&q), [9, 1, 8, 2]);
        assert_eq!(q.after(Advance::Ended), Some(3));
    }

    #[test]
    fn removing_keeps_the_current_entry_or_what_follows_it() {
        let mut q = queue(&[1, 2, 3, 4]);
        q.set_position(2);
        assert_eq!(q.remove(0).map(|s| s.id), Some(1));
        assert_eq!(q.position(), Some(1));
        assert_eq!(q.get(1).map(|s| s.id), Some(3));
        // The current one: what followed it comes next.
        q.remove(1);
        assert_eq!(ids(&q), [2, 4]);
        assert_eq!(
            q.after(Advance::Ended).map(|i| q.get(i).unwrap().id),
            Some(4)
        );
        assert!(q.remove(5).is_none());
        q.remove(0);
        q.remove(0);
        assert!(q.is_empty());
        assert_eq!(q.position(), None);
    }

    #[test]
    fn shuffle_keeps_every_song_and_the_current_one_first() {
        let mut q = queue(&(1..=50).collect::<Vec<_>>());
        q.set_position(9);
        q.shuffle(&mut fastrand::Rng::with_seed(7));
        assert_eq!(q.get(0).map(|s| s.id), Some(10));
        assert_eq!(q.position(), Some(0));
        let mut sorted = ids(&q);
        assert_ne!(sorted, (1..=50).collect::<Vec<_>>());
        sorted.sort();
        assert_eq!(sorted, (1..=50).collect::<Vec<_>>());
    }

    #[test]
    fn repeat_modes_parse() {
        assert_eq!("ALL".parse(), Ok(Repeat::All));
        assert_eq!("one".parse(), Ok(Repeat::One));
        assert_eq!("off".parse(), Ok(Repeat::Off));
        assert!("twice".parse::<Repeat>().is_err());
    }
}
