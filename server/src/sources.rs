//! Admission per source: how many connections one source has open, and how fast it opens new
//! ones, so that no single address can take the slots every other client needs.
//!
//! A source is an IPv4 address, or the /64 prefix of an IPv6 address (what one subscriber is
//! given; counting single IPv6 addresses would let one machine use 2^64 of them). An IPv4 address
//! mapped into IPv6 counts as the IPv4 address.
//!
//! The table knows nothing of sockets: [`Sources::admit`] is given the address and the time.
//! Behind a proxy speaking the PROXY protocol the address to give is the one in the proxy's
//! header, not the proxy's own; admission then moves from the accept loop to the connection, once
//! the header is read, and nothing here changes.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How often idle entries (no connection open, their rate allowance full again) are dropped.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// One source: an IPv4 address, or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source(IpAddr);

impl Source {
    /// The source `addr` belongs to.
    pub fn of(addr: IpAddr) -> Source {
        match addr {
            IpAddr::V4(v4) => Source(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    Source(IpAddr::V6(Ipv6Addr::from(prefix)))
                }
            },
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// Why a source was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// It has as many connections open as a source may.
    TooMany,
    /// It opened connections faster than a source may.
    TooFast,
    /// Only the reserve of slots is left, and it holds too many connections for a share of it.
    Reserved,
}

/// What one source may do. 0 turns a limit off.
#[derive(Debug, Clone, Copy)]
pub struct SourceLimits {
    /// Connections open at once.
    pub max_open: usize,
    /// New connections per second, after a burst of `max_open` (or of one second's worth, when
    /// `max_open` is 0).
    pub rate: u32,
}

impl SourceLimits {
    fn burst(&self) -> f64 {
        if self.max_open > 0 {
            self.max_open as f64
        } else {
            f64::from(self.rate.max(1))
        }
    }
}

/// The sources with a connection open or a recent one, shared by whoever admits connections and
/// the connections themselves (which leave it when they end).
pub struct Sources {
    limits: SourceLimits,
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    entries: HashMap<Source, Entry>,
    next_sweep: Option<Instant>,
}

/// One source's connections and its allowance of new ones (a token bucket, filled at `rate`).
#[derive(Debug, Clone, Copy)]
struct Entry {
    open: usize,
    tokens: f64,
    /// When `tokens` was last brought up to date.
    at: Instant,
}

impl Entry {
    fn refill(&mut self, limits: &SourceLimits, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * f64::from(limits.rate)).min(limits.burst());
        self.at = now;
    }

    /// True when the entry says nothing a fresh one would not: no connection, a full allowance.
    fn is_idle(&self, limits: &SourceLimits, now: Instant) -> bool {
        let mut later = *self;
        later.refill(limits, now);
        later.open == 0 && (limits.rate == 0 || later.tokens >= limits.burst())
    }
}

impl Sources {
    pub fn new(limits: SourceLimits) -> Arc<Sources> {
        Arc::new(Sources {
            limits,
            table: Mutex::new(Table::default()),
        })
    }

    /// Admits a connection from `addr` at `now`, or says why not. The connection counts against
    /// its source until the returned slot is dropped.
    pub fn admit(self: &Arc<Self>, addr: IpAddr, now: Instant) -> Result<SourceSlot, Refused> {
        let source = Source::of(addr);
        let limits = self.limits;
        let mut table = self.table();
        table.sweep(&limits, now);
        let entry = table.entries.entry(source).or_insert(Entry {
            open: 0,
            tokens: limits.burst(),
            at: now,
        });
        entry.refill(&limits, now);
        if limits.max_open > 0 && entry.open >= limits.max_open {
            return Err(Refused::TooMany);
        }
        if limits.rate > 0 {
            if entry.tokens < 1.0 {
                return Err(Refused::TooFast);
            }
            entry.tokens -= 1.0;
        }
        entry.open += 1;
        Ok(SourceSlot {
            sources: self.clone(),
            source,
        })
    }

    /// [`Sources::admit`], when `reserve_only` says that only the reserve of connection slots is
    /// left: a source holding `reserve_per_source` or more connections is then refused.
    pub fn admit_with_reserve(
        self: &Arc<Self>,
        addr: IpAddr,
        now: Instant,
        reserve_only: bool,
        reserve_per_source: usize,
    ) -> Result<SourceSlot, Refused> {
        if reserve_only && self.open(addr) >= reserve_per_source {
            return Err(Refused::Reserved);
        }
        self.admit(addr, now)
    }

    /// Connections open from the source `addr` belongs to.
    pub fn open(&self, addr: IpAddr) -> usize {
        self.table()
            .entries
            .get(&Source::of(addr))
            .map_or(0, |e| e.open)
    }

    /// Sources the table holds.
    pub fn len(&self) -> usize {
        self.table().entries.len()
    }

    /// True when the table holds no source.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // Nothing here panics while holding the lock; if something did, the counts are still sound.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn leave(&self, source: Source) {
        let mut table = self.table();
        if let Some(entry) = table.entries.get_mut(&source) {
            entry.open = entry.open.saturating_sub(1);
            if entry.open == 0 && self.limits.rate == 0 {
                table.entries.remove(&source);
            }
        }
    }
}

impl Table {
    /// Drops the entries that say nothing, every [`SWEEP_EVERY`]: the table holds the sources with
    /// a connection open and those that opened one within the last few seconds.
    fn sweep(&mut self, limits: &SourceLimits, now: Instant) {
        if self.next_sweep.is_some_and(|at| now < at) {
            return;
        }
        self.entries.retain(|_, entry| !entry.is_idle(limits, now));
        self.next_sweep = Some(now + SWEEP_EVERY);
    }
}

/// A connection's place in its source's count, given back when dropped.
pub struct SourceSlot {
    sources: Arc<Sources>,
    source: Source,
}

impl SourceSlot {
    /// The source the connection counts against.
    pub fn source(&self) -> Source {
        self.source
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        self.sources.leave(self.source);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    fn t(ms: u64) -> Instant {
        static START: OnceLock<Instant> = OnceLock::new();
        *START.get_or_init(Instant::now) + Duration::from_millis(ms)
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_source_is_an_ipv4_address_or_an_ipv6_64() {
        assert_eq!(Source::of(ip("192.0.2.7")), Source::of(ip("192.0.2.7")));
        assert_ne!(Source::of(ip("192.0.2.7")), Source::of(ip("192.0.2.8")));
        assert_eq!(
            Source::of(ip("2001:db8:1:2::1")),
            Source::of(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        );
        assert_ne!(
            Source::of(ip("2001:db8:1:2::1")),
            Source::of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            Source::of(ip("::ffff:192.0.2.7")),
            Source::of(ip("192.0.2.7"))
        );
        assert_eq!(
            Source::of(ip("2001:db8:1:2:3:4:5:6")).to_string(),
            "2001:db8:1:2::/64"
        );
    }

    #[test]
    fn a_source_may_hold_max_open_connections_and_others_are_not_affected() {
        let sources = Sources::new(SourceLimits {
            max_open: 3,
            rate: 0,
        });
        let held: Vec<_> = (0..3)
            .map(|_| sources.admit(ip("10.0.0.1"), t(0)).unwrap())
            .collect();
        assert_eq!(
            sources.admit(ip("10.0.0.1"), t(0)).err(),
            Some(Refused::TooMany)
        );
        // Another address is another source.
        let other = sources.admit(ip("10.0.0.2"), t(0)).unwrap();
        assert_eq!(sources.open(ip("10.0.0.1")), 3);
        drop(held);
        assert_eq!(sources.open(ip("10.0.0.1")), 0);
        assert!(sources.admit(ip("10.0.0.1"), t(0)).is_ok());
        drop(other);
        assert!(
            sources.is_empty(),
            "without a rate, entries go with their last connection"
        );
    }

    #[test]
    fn an_ipv6_subscriber_is_limited_by_its_64() {
        let sources = Sources::new(SourceLimits {
            max_open: 2,
            rate: 0,
        });
        let _a = sources.admit(ip("2001:db8::1"), t(0)).unwrap();
        let _b = sources.admit(ip("2001:db8::2"), t(0)).unwrap();
        assert_eq!(
            sources.admit(ip("2001:db8::3"), t(0)).err(),
            Some(Refused::TooMany)
        );
        assert!(sources.admit(ip("2001:db8:0:1::1"), t(0)).is_ok());
    }

    #[test]
    fn new_connections_come_at_the_rate_after_a_burst() {
        let sources = Sources::new(SourceLimits {
            max_open: 4,
            rate: 2,
        });
        // A burst of max_open, each connection closed at once: the allowance, not the count, binds.
        for _ in 0..4 {
            drop(sources.admit(ip("10.0.0.1"), t(0)).unwrap());
        }
        assert_eq!(
            sources.admit(ip("10.0.0.1"), t(0)).err(),
            Some(Refused::TooFast)
        );
        assert!(
            sources.admit(ip("10.0.0.2"), t(0)).is_ok(),
            "others unaffected"
        );
        // Two a second: one more after 500 ms, not two.
        drop(sources.admit(ip("10.0.0.1"), t(500)).unwrap());
        assert_eq!(
            sources.admit(ip("10.0.0.1"), t(500)).err(),
            Some(Refused::TooFast)
        );
        // The allowance fills up to the burst, no further.
        for _ in 0..4 {
            drop(sources.admit(ip("10.0.0.1"), t(60_000)).unwrap());
        }
        assert_eq!(
            sources.admit(ip("10.0.0.1"), t(60_000)).err(),
            Some(Refused::TooFast)
        );
    }

    #[test]
    fn a_refusal_for_too_many_spends_no_allowance() {
        let sources = Sources::new(SourceLimits {
            max_open: 1,
            rate: 1,
        });
        let held = sources.admit(ip("10.0.0.1"), t(0)).unwrap();
        for _ in 0..10 {
            assert_eq!(
                sources.admit(ip("10.0.0.1"), t(100)).err(),
                Some(Refused::TooMany)
            );
        }
        drop(held);
        assert!(sources.admit(ip("10.0.0.1"), t(1_000)).is_ok());
    }

    #[test]
    fn idle_sources_are_forgotten() {
        let sources = Sources::new(SourceLimits {
            max_open: 8,
            rate: 4,
        });
        for n in 0..100u32 {
            let addr = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n));
            drop(sources.admit(addr, t(0)).unwrap());
        }
        let held = sources.admit(ip("10.1.0.1"), t(0)).unwrap();
        assert_eq!(sources.len(), 101);
        // The next sweep, once the allowances are full again, keeps only the source with a
        // connection open.
        let _next = sources.admit(ip("10.1.0.1"), t(60_000)).unwrap();
        assert_eq!(sources.len(), 1);
        drop(held);
    }
}
