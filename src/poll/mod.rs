//! Polling: which sources are due, and running their fetches within the
//! overall and per-host limits.

pub mod fetch;
pub mod guard;
pub mod hints;
mod round;
pub mod schedule;

pub use round::{poll_round, ROUND_SOURCES};

use crate::cluster::Cluster;
use crate::config::Source;
use crate::model::{secs, SourceStatus, Timestamp};
use crate::pipeline::{self, Desk, PollOutcome, Runtime};
use fetch::Fetcher;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// Concurrency limits: overall and per host.
pub struct Limits {
    overall: Arc<Semaphore>,
    overall_max: usize,
    per_host: usize,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// host → time before which no source on it is polled (Retry-After).
    held: Mutex<HashMap<String, Timestamp>>,
}

impl Limits {
    pub fn new(overall: usize, per_host: usize) -> Limits {
        Limits {
            overall: Arc::new(Semaphore::new(overall.max(1))),
            overall_max: overall.max(1),
            per_host: per_host.max(1),
            hosts: Mutex::new(HashMap::new()),
            held: Mutex::new(HashMap::new()),
        }
    }

    /// The limits for a new configuration: these same ones when the numbers
    /// did not change (polls under way keep counting against them), else new
    /// ones that still hold back the hosts that asked (Retry-After).
    pub fn carried(self: &Arc<Limits>, overall: usize, per_host: usize) -> Arc<Limits> {
        if self.overall_max == overall.max(1) && self.per_host == per_host.max(1) {
            return self.clone();
        }
        let next = Limits::new(overall, per_host);
        *next.held.lock().unwrap_or_else(|p| p.into_inner()) =
            self.held.lock().unwrap_or_else(|p| p.into_inner()).clone();
        Arc::new(next)
    }

    fn host_semaphore(&self, source: &Source) -> Arc<Semaphore> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        hosts.entry(host_key(source)).or_insert_with(|| Arc::new(Semaphore::new(self.per_host))).clone()
    }

    /// Until when the source's host asked to be left alone, if it did.
    pub fn held_until(&self, source: &Source, now: Timestamp) -> Option<Timestamp> {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.get(&host_key(source)).copied().filter(|t| *t > now)
    }

    fn hold(&self, source: &Source, until: Timestamp) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let t = held.entry(host_key(source)).or_insert(until);
        *t = (*t).max(until);
    }
}

/// A URL as shown in the API, logs and errors: a password in it is replaced
/// by `***` (a source may carry `user:password@`; the user name stays, to tell
/// which account is meant).
pub fn redacted(url: &url::Url) -> String {
    if url.password().is_none() {
        return url.to_string();
    }
    let mut shown = url.clone();
    // Cannot fail: the URL has a host, since it has a password.
    let _ = shown.set_password(Some("***"));
    shown.to_string()
}

/// [`redacted`] for a URL kept as text; text that does not parse is shown as is.
pub fn redacted_str(url: &str) -> String {
    url::Url::parse(url).map(|u| redacted(&u)).unwrap_or_else(|_| url.to_string())
}

/// Host and port: the unit of politeness.
fn host_key(source: &Source) -> String {
    match source.url.host_str() {
        Some(h) => format!("{h}:{}", source.url.port_or_known_default().unwrap_or(0)),
        None => "file".into(),
    }
}

/// Poll one source within the limits.
pub async fn poll_limited(desk: &Arc<Desk>, fetcher: &Fetcher, limits: &Limits, source: &Source) -> PollOutcome {
    poll_in(desk, &desk.runtime(), fetcher, limits, source).await
}

/// [`poll_limited`] by the rules of `rt`, start to end.
async fn poll_in(
    desk: &Arc<Desk>,
    rt: &Arc<Runtime>,
    fetcher: &Fetcher,
    limits: &Limits,
    source: &Source,
) -> PollOutcome {
    let _slots = slots(limits, source).await;
    if let Some(held) = held_back(limits, source) {
        return held;
    }
    // Boxed: the fetch's and the ingest's state is most of a poll's future
    // (several KB), and every source's task exists from the start, waiting
    // on the limits above. Unboxed, 100,000 waiting tasks held that much
    // each (about 600 MiB); boxed, the box is made only once the permits are
    // held, so it exists for the polls running, not for the ones waiting.
    let outcome = match desk.cluster.get() {
        None => Box::pin(pipeline::refresh(desk, rt, fetcher, source)).await,
        Some(cluster) => Box::pin(refresh_in_cluster(cluster, desk, rt, fetcher, source)).await,
    };
    if let Some(until) = outcome.hold_host_until {
        limits.hold(source, until);
    }
    outcome
}

/// A fetch's slots: its host's, then one of all: per-host first, so a slow
/// host's queue does not hold overall slots.
pub(super) async fn slots(limits: &Limits, source: &Source) -> [Option<OwnedSemaphorePermit>; 2] {
    // Never closed: acquiring only waits.
    let host = limits.host_semaphore(source).acquire_owned().await.ok();
    [host, limits.overall.clone().acquire_owned().await.ok()]
}

/// The outcome of a poll not made because its host asked (Retry-After)
/// to be left alone until later, if it did.
pub(super) fn held_back(limits: &Limits, source: &Source) -> Option<PollOutcome> {
    let now = pipeline::now();
    let until = limits.held_until(source, now)?;
    let error = format!("held back: its host asked (Retry-After) not to be polled for {}s", until - now);
    tracing::info!(source = %source.id, until, "host held back by Retry-After: poll skipped");
    Some(PollOutcome {
        source: source.id.clone(),
        status: SourceStatus::Pending,
        report: Default::default(),
        error: Some(error),
        hold_host_until: Some(until),
        elapsed: Default::default(),
        next_due: Some(until),
    })
}

/// A poll inside one of the host's cluster-wide slots (all nodes together
/// keep `per_host`); a Retry-After holds the host back for every node.
async fn refresh_in_cluster(
    cluster: &crate::cluster::Cluster,
    desk: &Arc<Desk>,
    rt: &Arc<Runtime>,
    fetcher: &Fetcher,
    source: &Source,
) -> PollOutcome {
    // A slot of a node that dies mid-request lapses within a lease, as the
    // node's sources do (the poller renews both while polls run).
    let slot = match cluster.acquire_host(&host_key(source), rt.config.poll.per_host, cluster.lease).await {
        Ok(slot) => slot,
        Err(e) => {
            tracing::warn!(source = %source.id, error = %e, "no host slot: the database is unavailable; poll skipped");
            return PollOutcome {
                source: source.id.clone(),
                status: SourceStatus::Pending,
                report: Default::default(),
                error: Some(format!("database unavailable: {e}")),
                hold_host_until: None,
                elapsed: Default::default(),
                next_due: None,
            };
        }
    };
    let outcome = pipeline::refresh(desk, rt, fetcher, source).await;
    if let Err(e) = cluster.release_host(slot).await {
        tracing::warn!(source = %source.id, error = %e, "host slot not released (it lapses)");
    }
    if let Some(until) = outcome.hold_host_until {
        if let Err(e) = cluster.hold_host(host_key(source), until).await {
            tracing::warn!(source = %source.id, error = %e, "Retry-After not shared with the cluster");
        }
    }
    outcome
}

/// Poll every source once, now, reporting each outcome as it ends: as one
/// round (see [`poll_round`]) when there are at most [`ROUND_SOURCES`].
pub async fn poll_all_once(desk: Arc<Desk>, fetcher: Fetcher, outcomes: mpsc::UnboundedSender<PollOutcome>) {
    let rt = desk.runtime();
    let config = rt.config.clone();
    let limits = Arc::new(Limits::new(config.poll.concurrency, config.poll.per_host));
    if config.sources.len() <= ROUND_SOURCES {
        poll_round(&desk, &rt, &fetcher, &limits, &config.sources, |o| {
            let _ = outcomes.send(o);
        })
        .await;
        return;
    }
    let mut tasks = tokio::task::JoinSet::new();
    // Each task reads its source from the one configuration (no copy of
    // every source for the length of the poll).
    for i in 0..config.sources.len() {
        let (desk, fetcher, limits, tx, config) =
            (desk.clone(), fetcher.clone(), limits.clone(), outcomes.clone(), config.clone());
        tasks.spawn(async move {
            let o = poll_limited(&desk, &fetcher, &limits, &config.sources[i]).await;
            let _ = tx.send(o);
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Tells the poll loop a source's poll has ended, when dropped.
struct Done(mpsc::UnboundedSender<String>, String);

impl Drop for Done {
    fn drop(&mut self) {
        let _ = self.0.send(std::mem::take(&mut self.1));
    }
}

/// What the daemon's poller reports to the rest of the process.
pub trait Sink: Send + Sync + 'static {
    fn polled(&self, outcome: PollOutcome);
}

/// The daemon's poll loop: runs due sources until cancelled. It is never
/// restarted: each turn reads the desk's [`Runtime`], so a reload adds and
/// removes sources at the next turn, and each poll keeps the runtime it
/// started with until it ends.
pub struct Poller {
    pub desk: Arc<Desk>,
    pub sink: Arc<dyn Sink>,
    /// Seconds since the epoch of the last loop turn, for health checks.
    pub heartbeat: Arc<std::sync::atomic::AtomicI64>,
    /// Turns the loop at once (a reload), instead of at its next wake-up.
    pub wake: Arc<tokio::sync::Notify>,
}

/// When each source is due, in memory: source id → (the URL it was read for,
/// when it is due; None when gone). Read from the store once per source, and
/// again after each poll of it (a poll moves its due time), so a turn of the
/// loop over 10,000 sources reads nothing from the store.
type Schedule = HashMap<String, (String, Option<Timestamp>)>;

impl Poller {
    pub async fn run(self, cancel: CancellationToken) {
        if let Some(cluster) = self.desk.cluster.get().cloned() {
            return self.run_leased(cluster, cancel).await;
        }
        let mut in_flight: HashSet<String> = HashSet::new();
        let tracker = tokio_util::task::TaskTracker::new();
        let mut rt = self.desk.runtime();
        // Sources first seen under a runtime are spread from when it came in.
        let mut started_at = pipeline::now();
        let mut schedule = Schedule::new();
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<String>();
        let mut first_turn = true; // a start, or a reload
        loop {
            // A finished poll leaves the in-flight set and the cache together,
            // here, so its stale due time is never seen without it.
            while let Ok(id) = done_rx.try_recv() {
                schedule.remove(&id);
                in_flight.remove(&id);
            }
            let now = pipeline::now();
            self.heartbeat.store(now, std::sync::atomic::Ordering::Relaxed);
            let current = self.desk.runtime();
            if !Arc::ptr_eq(&current, &rt) {
                (rt, started_at) = (current, now);
                // Sources a reload adds are first due together, as at a start.
                first_turn = true;
            }
            let mut next_wake: Timestamp = now + 60;
            let mut due_now = Vec::new();
            for source in &rt.config.sources {
                let Some(due) = self.due(&rt, &mut schedule, source, started_at, now) else { continue };
                if due > now {
                    next_wake = next_wake.min(due);
                } else if in_flight.insert(source.id.clone()) {
                    due_now.push(source);
                }
            }
            // The sources due when the daemon starts (all of them after a
            // downtime, or on a first start) or a reload comes in (those it
            // adds) are polled as a round, up to `ROUND_SOURCES` of them:
            // their entries are stored in the order published, as live
            // polls would have brought them (`poll_round`).
            if std::mem::take(&mut first_turn) && (2..=ROUND_SOURCES).contains(&due_now.len()) {
                let done = due_now.iter().map(|s| Done(done_tx.clone(), s.id.clone())).collect();
                self.spawn_round(&tracker, &rt, due_now.into_iter().cloned().collect(), &cancel, done);
            } else {
                for source in due_now {
                    self.spawn(&tracker, &rt, source, &cancel, Done(done_tx.clone(), source.id.clone()));
                }
            }
            let sleep = (next_wake - now).clamp(1, 5) as u64;
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(std::time::Duration::from_secs(sleep)) => {}
            }
        }
        tracker.close();
        // In-flight fetches are abandoned on cancel; wait for their tasks to end.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), tracker.wait()).await;
    }

    /// When `source` is due (held back while its host asked so); `None` when
    /// it is gone until its configured URL changes.
    fn due(
        &self,
        rt: &Runtime,
        schedule: &mut Schedule,
        source: &Source,
        started_at: Timestamp,
        now: Timestamp,
    ) -> Option<Timestamp> {
        let cached = schedule.get(&source.id).filter(|(url, _)| url == source.url.as_str()).map(|(_, d)| *d);
        let due = match cached {
            Some(due) => due,
            None => {
                let config = &rt.config;
                let due = match self.desk.store.source_state(&source.id) {
                    Ok(Some(s)) if s.configured_url == source.url.as_str() => {
                        // Also after a restart: the stored schedule is kept.
                        (s.status != SourceStatus::Gone).then(|| s.next_due.unwrap_or(now))
                    }
                    _ => {
                        // Many sources: spread their first polls over the interval instead of a herd.
                        let spread = config.sources.len() > config.poll.concurrency;
                        let interval = source.interval.unwrap_or(config.poll.interval);
                        Some(schedule::first_due(&source.id, interval, started_at, spread))
                    }
                };
                schedule.insert(source.id.clone(), (source.url.to_string(), due));
                due
            }
        }?;
        Some(due.max(rt.limits.held_until(source, now).unwrap_or(i64::MIN)))
    }

    /// Poll `source` on its own task with the runtime `rt`, to its end even
    /// if a reload swaps the runtime meanwhile; abandoned on shutdown.
    fn spawn(
        &self,
        tracker: &tokio_util::task::TaskTracker,
        rt: &Arc<Runtime>,
        source: &Source,
        cancel: &CancellationToken,
        done: Done,
    ) {
        let (desk, rt, sink, source, cancel) =
            (self.desk.clone(), rt.clone(), self.sink.clone(), source.clone(), cancel.clone());
        tracker.spawn(async move {
            // Reported on drop: also if this task panics or is cancelled,
            // the source leaves the in-flight set and is polled again.
            let _done = done;
            tokio::select! {
                o = poll_in(&desk, &rt, &rt.fetcher, &rt.limits, &source) => sink.polled(o),
                _ = cancel.cancelled() => {}
            }
        });
    }
}

impl Poller {
    /// Poll `sources` as one round (see [`poll_round`]) on its own task with
    /// the runtime `rt`; abandoned on shutdown. Each source leaves the
    /// in-flight set (`done`) as its outcome is reported.
    fn spawn_round(
        &self,
        tracker: &tokio_util::task::TaskTracker,
        rt: &Arc<Runtime>,
        sources: Vec<Source>,
        cancel: &CancellationToken,
        done: Vec<Done>,
    ) {
        let (desk, rt, sink, cancel) = (self.desk.clone(), rt.clone(), self.sink.clone(), cancel.clone());
        tracker.spawn(async move {
            // Reported on drop, as for a poll alone (the rest when the task
            // ends, also if it panics or is cancelled).
            let mut done: HashMap<String, Done> = done.into_iter().map(|d| (d.1.clone(), d)).collect();
            let report = |o: PollOutcome| {
                let id = o.source.clone();
                sink.polled(o);
                done.remove(&id);
            };
            tokio::select! {
                _ = poll_round(&desk, &rt, &rt.fetcher, &rt.limits, &sources, report) => {}
                _ = cancel.cancelled() => {}
            }
        });
    }
}

impl Poller {
    /// The poll loop of a node of a cluster: each turn claims the due
    /// sources nobody holds (see `cluster`), polls them, and hands each back
    /// with its next due time; the claims of polls still running are renewed
    /// every third of a lease.
    async fn run_leased(self, cluster: Arc<Cluster>, cancel: CancellationToken) {
        let tracker = tokio_util::task::TaskTracker::new();
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<String>();
        let mut in_flight: HashSet<String> = HashSet::new();
        let mut rt = self.desk.runtime();
        register(&cluster, &rt).await;
        let mut renewed = std::time::Instant::now();
        let mut unclaimable = false;
        loop {
            while let Ok(id) = done_rx.try_recv() {
                in_flight.remove(&id);
            }
            self.heartbeat.store(pipeline::now(), std::sync::atomic::Ordering::Relaxed);
            let current = self.desk.runtime();
            if !Arc::ptr_eq(&current, &rt) {
                rt = current;
                register(&cluster, &rt).await;
            }
            // Only what can start now: a claim held while waiting would keep the
            // source from a node with room for it.
            let room = rt.config.poll.concurrency.saturating_sub(in_flight.len());
            let known: Vec<String> =
                rt.config.sources.iter().map(|s| s.id.clone()).filter(|id| !in_flight.contains(id)).collect();
            match cluster.claim(known, room).await {
                Ok(claimed) => {
                    unclaimable = false;
                    for id in claimed {
                        let Some(source) = rt.config.source(&id) else { continue };
                        in_flight.insert(id.clone());
                        self.spawn_leased(&tracker, &rt, source, &cluster, &cancel, Done(done_tx.clone(), id));
                    }
                }
                // Once, not every second while the database is away.
                Err(e) if !unclaimable => {
                    unclaimable = true;
                    tracing::warn!(error = %e, "cannot claim sources: the database is unavailable");
                }
                Err(_) => {}
            }
            if renewed.elapsed() >= cluster.lease / 3 && !in_flight.is_empty() {
                if let Err(e) = cluster.renew(in_flight.iter().cloned().collect()).await {
                    tracing::warn!(error = %e, "cannot renew leases: the database is unavailable");
                }
                renewed = std::time::Instant::now();
            }
            // A poll that ends frees room for the next claim at once.
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = self.wake.notified() => {}
                Some(id) = done_rx.recv() => { in_flight.remove(&id); }
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            }
        }
        tracker.close();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), tracker.wait()).await;
    }

    /// [`Poller::spawn`] for a claimed source: handed back when polled.
    fn spawn_leased(
        &self,
        tracker: &tokio_util::task::TaskTracker,
        rt: &Arc<Runtime>,
        source: &Source,
        cluster: &Arc<Cluster>,
        cancel: &CancellationToken,
        done: Done,
    ) {
        let (desk, rt, sink, source, cancel, cluster) =
            (self.desk.clone(), rt.clone(), self.sink.clone(), source.clone(), cancel.clone(), cluster.clone());
        tracker.spawn(async move {
            let _done = done;
            let polled = tokio::select! {
                o = poll_in(&desk, &rt, &rt.fetcher, &rt.limits, &source) => o,
                // Abandoned: the claim lapses and another node polls it.
                _ = cancel.cancelled() => return,
            };
            // A poll that could not end in a due time (the database was
            // down) is tried again after a minimum interval.
            let due = polled.next_due.unwrap_or_else(|| pipeline::now() + secs(rt.config.poll.min_interval));
            let announced: Vec<String> = polled.report.became_breaking.iter().map(|n| n.story.clone()).collect();
            sink.polled(polled);
            for story in announced {
                if let Err(e) = cluster.announce_breaking(story).await {
                    tracing::warn!(source = %source.id, error = %e, "breaking news not announced to the other nodes");
                }
            }
            if let Err(e) = cluster.release(source.id.clone(), due).await {
                tracing::warn!(source = %source.id, error = %e, "lease not handed back (it lapses)");
            }
        });
    }
}

/// Every configured source and host in the cluster's tables. A source new
/// to the cluster is first due as on one node: now, or spread over its
/// interval when there are more sources than fetch slots.
async fn register(cluster: &Cluster, rt: &Runtime) {
    let config = &rt.config;
    let spread = config.sources.len() > config.poll.concurrency;
    let now = pipeline::now();
    let sources = config
        .sources
        .iter()
        .map(|s| {
            let first = schedule::first_due(&s.id, s.interval.unwrap_or(config.poll.interval), now, spread);
            (s.id.clone(), host_key(s), first - now)
        })
        .collect();
    if let Err(e) = cluster.register(sources, rt.config.poll.per_host).await {
        tracing::warn!(error = %e, "cannot register the sources with the cluster");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_a_url_is_not_shown() {
        for (raw, shown) in [
            ("https://user:s3cret@example.org/rss?x=1", "https://user:***@example.org/rss?x=1"),
            ("https://:s3cret@example.org/rss", "https://:***@example.org/rss"),
            ("https://user@example.org/rss", "https://user@example.org/rss"),
            ("https://example.org/rss", "https://example.org/rss"),
        ] {
            assert_eq!(redacted_str(raw), shown);
        }
        assert_eq!(redacted_str("not a url"), "not a url");
    }
}
