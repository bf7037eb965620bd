//! Connection admission: the process's open-file limit, the caps on client
//! connections and `/events` streams derived from it, and log lines that a
//! flood cannot multiply. One client must not use up the descriptors that
//! every other client, the store and the poller need.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error("cannot read the open-file limit (RLIMIT_NOFILE): {0}")]
    Get(std::io::Error),
    #[error("cannot raise the open-file limit (RLIMIT_NOFILE) from {from} to {to}: {cause}")]
    Set { from: u64, to: u64, cause: std::io::Error },
}

/// The most descriptors we ask for: Linux refuses a soft limit above
/// `fs.nr_open` (1,048,576 by default) even when the hard limit is "unlimited".
const MAX_FDS: u64 = 1 << 20;

/// Raise the soft RLIMIT_NOFILE to the hard limit (the default soft limit,
/// 1,024, is far below what a server holding thousands of clients needs).
/// Returns the soft limit now in force.
pub fn raise_nofile_limit() -> Result<u64, LimitError> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit only writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(LimitError::Get(std::io::Error::last_os_error()));
    }
    // rlim_t is u64 on Linux, the platform this daemon is built for.
    let (soft, hard): (u64, u64) = (lim.rlim_cur, lim.rlim_max);
    let target = hard.min(MAX_FDS);
    if soft >= target {
        return Ok(soft);
    }
    let raised = libc::rlimit { rlim_cur: target, rlim_max: lim.rlim_max };
    // SAFETY: setrlimit only reads the struct we pass.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return Err(LimitError::Set { from: soft, to: target, cause: std::io::Error::last_os_error() });
    }
    Ok(target)
}

/// How many client connections and `/events` streams may be open at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Beyond this, a new connection is answered 503 and closed.
    pub connections: usize,
    /// From this many on, each new connection closes the longest-held
    /// connection that is not a stream, so idle connections cannot keep an
    /// ordinary request out.
    pub evict_at: usize,
    /// `/events` streams overall: they are never timed out, so they get a
    /// share of `connections`, never all of it.
    pub events: usize,
    /// `/events` streams from one client address.
    pub events_per_client: usize,
}

impl Caps {
    /// Caps for a process allowed `fds` open descriptors. A reserve (an
    /// eighth, at least 64, at most 4,096) stays for what is not a client:
    /// the store's files, outgoing fetches (`poll.concurrency`, 32 by
    /// default, plus DNS), logs, and the accept that answers a 503. Streams
    /// get a quarter of the connections, and one address a quarter of those
    /// (at most 256: a proxy in front may carry many readers on one address).
    pub fn from_fd_limit(fds: u64) -> Caps {
        let fds = fds.min(MAX_FDS) as usize;
        let reserve = (fds / 8).clamp(64, 4096).min(fds / 2);
        let connections = (fds - reserve).max(1);
        let events = (connections / 4).max(1);
        Caps {
            connections,
            evict_at: connections - connections / 8,
            events,
            events_per_client: (events / 4).clamp(1, 256),
        }
    }
}

/// Why a stream was refused (the 503's one-line reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("too many /events streams; try again later")]
    Streams,
    #[error("too many /events streams from your address; try again later")]
    StreamsFromClient,
}

/// The open connections and streams, counted against [`Caps`].
pub struct Admission {
    pub caps: Caps,
    open: AtomicUsize,
    next_id: AtomicU64,
    /// Connections that may be closed to make room, oldest first. Streams
    /// leave this list: they have their own cap.
    evictable: Mutex<BTreeMap<u64, CancellationToken>>,
    streams: Mutex<StreamCounts>,
    /// Signalled when a connection closes.
    freed: tokio::sync::Notify,
}

#[derive(Default)]
struct StreamCounts {
    total: usize,
    by_client: HashMap<IpAddr, usize>,
}

/// One admitted connection; dropping it frees its place.
pub struct ConnSlot {
    admission: Arc<Admission>,
    pub id: u64,
    /// Cancelled when the connection is asked to close to make room.
    pub evicted: CancellationToken,
}

/// One open `/events` stream; dropping it frees its place.
pub struct StreamSlot {
    admission: Arc<Admission>,
    client: IpAddr,
}

impl Admission {
    pub fn new(caps: Caps) -> Arc<Admission> {
        Arc::new(Admission {
            caps,
            open: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            evictable: Mutex::default(),
            streams: Mutex::default(),
            freed: tokio::sync::Notify::new(),
        })
    }

    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Take a place for a new connection, or `None` when every place is taken.
    pub fn admit(self: &Arc<Self>) -> Option<ConnSlot> {
        let open = self.open.fetch_add(1, Ordering::AcqRel) + 1;
        if open > self.caps.connections {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let evicted = CancellationToken::new();
        if open > self.caps.evict_at {
            self.evict_oldest();
        }
        self.evictable.lock().unwrap_or_else(|p| p.into_inner()).insert(id, evicted.clone());
        Some(ConnSlot { admission: self.clone(), id, evicted })
    }

    /// Ask the longest-held connection that is not a stream to close.
    fn evict_oldest(&self) {
        if let Some((_, oldest)) = self.evictable.lock().unwrap_or_else(|p| p.into_inner()).pop_first() {
            oldest.cancel();
        }
    }

    /// [`Admission::admit`], but when every place is taken, first close the
    /// longest-held connection and wait (up to `wait`) for its place.
    /// Another accept loop may take the place freed first: then the next
    /// longest-held connection is asked, until `wait` has passed.
    pub async fn admit_or_make_room(self: &Arc<Self>, wait: std::time::Duration) -> Option<ConnSlot> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(slot) = self.admit() {
                return Some(slot);
            }
            let freed = self.freed.notified();
            self.evict_oldest();
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return self.admit();
            }
        }
    }

    /// Take a place for an `/events` stream on connection `conn` from `client`.
    pub fn open_stream(self: &Arc<Self>, conn: u64, client: IpAddr) -> Result<StreamSlot, Refused> {
        let mut s = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        if s.total >= self.caps.events {
            return Err(Refused::Streams);
        }
        let mine = s.by_client.entry(client).or_default();
        if *mine >= self.caps.events_per_client {
            return Err(Refused::StreamsFromClient);
        }
        *mine += 1;
        s.total += 1;
        drop(s);
        self.evictable.lock().unwrap_or_else(|p| p.into_inner()).remove(&conn);
        Ok(StreamSlot { admission: self.clone(), client })
    }

    pub fn open_streams(&self) -> usize {
        self.streams.lock().unwrap_or_else(|p| p.into_inner()).total
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.admission.evictable.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.id);
        self.admission.open.fetch_sub(1, Ordering::AcqRel);
        self.admission.freed.notify_one();
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut s = self.admission.streams.lock().unwrap_or_else(|p| p.into_inner());
        s.total = s.total.saturating_sub(1);
        if let Some(n) = s.by_client.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                s.by_client.remove(&self.client);
            }
        }
    }
}

/// Lets a repeated event through to the log at most once per period, with
/// the number of occurrences since the last line: a failing `accept` or a
/// flood of refused clients must not write a line per occurrence.
pub struct Throttle {
    period: Duration,
    last: Option<Instant>,
    count: u64,
}

impl Throttle {
    pub fn new(period: Duration) -> Throttle {
        Throttle { period, last: None, count: 0 }
    }

    /// Count one occurrence; `Some(n)` when a line is due, covering `n` occurrences.
    pub fn hit(&mut self, now: Instant) -> Option<u64> {
        self.count += 1;
        if self.last.is_some_and(|t| now.duration_since(t) < self.period) {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_leave_a_reserve_and_give_streams_a_share() {
        let c = Caps::from_fd_limit(1024);
        assert_eq!(c, Caps { connections: 896, evict_at: 784, events: 224, events_per_client: 56 });
        let c = Caps::from_fd_limit(65_536);
        assert_eq!((c.connections, c.events, c.events_per_client), (61_440, 15_360, 256));
        let c = Caps::from_fd_limit(256);
        assert_eq!((c.connections, c.evict_at, c.events, c.events_per_client), (192, 168, 48, 12));
        // Absurd limits still give workable caps.
        let c = Caps::from_fd_limit(10);
        assert!(c.connections >= 1 && c.events >= 1 && c.events_per_client >= 1);
        assert!(Caps::from_fd_limit(u64::MAX).connections < 1 << 20);
    }

    #[test]
    fn connections_beyond_the_cap_are_refused_and_the_oldest_evicted() {
        let a = Admission::new(Caps { connections: 4, evict_at: 2, events: 2, events_per_client: 1 });
        let s1 = a.admit().expect("first");
        let s2 = a.admit().expect("second");
        assert!(!s1.evicted.is_cancelled());
        let s3 = a.admit().expect("third");
        assert!(s1.evicted.is_cancelled() && !s2.evicted.is_cancelled());
        let _s4 = a.admit().expect("fourth");
        assert!(s2.evicted.is_cancelled() && !s3.evicted.is_cancelled());
        assert!(a.admit().is_none(), "a fifth is over the cap");
        drop(s1);
        assert_eq!(a.open_connections(), 3);
        assert!(a.admit().is_some());
    }

    #[test]
    fn streams_are_capped_in_total_and_per_client_and_not_evicted() {
        let a = Admission::new(Caps { connections: 100, evict_at: 1, events: 2, events_per_client: 1 });
        let (x, y, z): (IpAddr, IpAddr, IpAddr) =
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap(), "10.0.0.3".parse().unwrap());
        let c1 = a.admit().expect("c1");
        let s1 = a.open_stream(c1.id, x).expect("first stream");
        assert_eq!(a.open_stream(99, x).err(), Some(Refused::StreamsFromClient));
        let _s2 = a.open_stream(98, y).expect("other client");
        assert_eq!(a.open_stream(97, z).err(), Some(Refused::Streams));
        // A streaming connection is not the one evicted for room.
        let _c2 = a.admit().expect("c2");
        assert!(!c1.evicted.is_cancelled());
        drop(s1);
        assert_eq!(a.open_streams(), 1);
        assert!(a.open_stream(96, x).is_ok());
    }

    #[test]
    fn throttle_logs_once_a_period_with_a_count() {
        let mut t = Throttle::new(Duration::from_secs(1));
        let t0 = Instant::now();
        assert_eq!(t.hit(t0), Some(1));
        for i in 1..20 {
            assert_eq!(t.hit(t0 + Duration::from_millis(i * 40)), None);
        }
        assert_eq!(t.hit(t0 + Duration::from_millis(1000)), Some(20));
    }
}
