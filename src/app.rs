//! Wires configuration, store, poller, publisher and HTTP server together, and
//! owns shutdown (SIGTERM/SIGINT) and reload (SIGHUP).

use crate::cluster::Cluster;
use crate::config::{self, Config};
use crate::events::Events;
use crate::http::{self, Shared};
use crate::metrics::Metrics;
use crate::pipeline::{self, Desk, PollOutcome, Runtime};
use crate::poll::{Poller, Sink};
use crate::publish::{FeedName, Publisher};
use crate::store::Store;
use anyhow::Context;
use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Feeds waiting to be re-rendered, and where breaking news goes.
struct Dirty {
    feeds: Mutex<HashSet<FeedName>>,
    /// Another node changed the shared store: render every feed again.
    everything: std::sync::atomic::AtomicBool,
    /// A configuration a reload brought: the publisher task takes it in and
    /// renders everything (between two renders, never during one).
    reload: Mutex<Option<Arc<Config>>>,
    notify: Notify,
    events: Arc<Events>,
    metrics: Arc<Metrics>,
    statuses: Arc<http::statuses::Statuses>,
}

impl Sink for Dirty {
    fn polled(&self, mut outcome: PollOutcome) {
        self.metrics.fetched(
            &outcome.source,
            outcome.status.as_str(),
            outcome.elapsed.as_secs_f64(),
            outcome.report.new as u64,
        );
        self.statuses.set(&outcome.source, outcome.status);
        for news in std::mem::take(&mut outcome.report.became_breaking) {
            tracing::info!(source = %outcome.source, story = %news.story, title = %news.title, "breaking");
            self.events.publish(news, pipeline::now());
        }
        if outcome.report.feeds.is_empty() {
            return;
        }
        self.feeds.lock().unwrap_or_else(|p| p.into_inner()).extend(outcome.report.feeds);
        self.notify.notify_one();
    }
}

/// Open the store, naming the path and cause on failure.
pub fn open_store(config: &Config) -> anyhow::Result<Store> {
    match &config.storage.postgres {
        None => Ok(Store::open(&config.storage.path)?),
        Some(pg) => Ok(Store::open_postgres(&pg_options(pg))?),
    }
}

/// How the store reaches the configured database.
pub fn pg_options(pg: &crate::config::Postgres) -> crate::store::PgOptions {
    crate::store::PgOptions {
        url: pg.url.clone(),
        password: pg.password.as_ref().map(|p| p.0.clone()),
        pool: pg.pool,
        node: pg.node.clone(),
    }
}

/// `newsdesk run`: poll, store and serve until SIGTERM or SIGINT.
pub async fn run(config_path: &Path) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    // Before anything opens a file: the store, the listener and every client count against it.
    let fd_limit = http::admission::raise_nofile_limit();
    let config = Arc::new(config::load(config_path)?);
    // The store opens before logging starts: sled's own warnings about a damaged
    // file would otherwise come before our one-line error.
    let store = open_store(&config)?;
    crate::logging::init(&config.log);
    tracing::debug!(ms = started.elapsed().as_millis() as u64, "store open");
    let admission = http::admission::Admission::new(http::admission::Caps::from_fd_limit(match &fd_limit {
        Ok(n) => *n,
        Err(e) => {
            // 1,024 is the usual soft limit nobody raised: assume it.
            tracing::warn!(error = %e, "keeping the open-file limit");
            1024
        }
    }));
    let caps = admission.caps;
    tracing::info!(
        fd_limit = fd_limit.as_ref().ok(),
        connections = caps.connections,
        events = caps.events,
        events_per_client = caps.events_per_client,
        "client caps"
    );
    let desk = Arc::new(Desk::new(store.clone(), config.clone())?);
    if let Some(cluster) = config.storage.postgres.as_ref().and_then(|pg| Cluster::new(&store, pg)) {
        tracing::info!(node = %cluster.node, database = %store.path().display(), "joining the cluster");
        let _ = desk.cluster.set(Arc::new(cluster));
    }
    let publisher = Arc::new(Publisher::new(store.clone(), config.clone(), pipeline::now())?);
    {
        let publisher = publisher.clone();
        tokio::task::spawn_blocking(move || publisher.publish_all(pipeline::now())).await??;
    }
    tracing::debug!(ms = started.elapsed().as_millis() as u64, "feeds rendered");
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let heartbeat = Arc::new(AtomicI64::new(pipeline::now()));
    let cancel = CancellationToken::new();
    let metrics = Arc::new(Metrics::new());
    let events = Arc::new(Events::new(crate::model::secs(config.breaking.max_age)));
    {
        let (events, store) = (events.clone(), store.clone());
        tokio::task::spawn_blocking(move || events.load(&store, pipeline::now())).await??;
    }
    let statuses = Arc::new(http::statuses::Statuses::default());
    load_statuses(&statuses, &desk);
    let shared = Arc::new(Shared {
        desk: desk.clone(),
        publisher: publisher.clone(),
        poller_heartbeat: heartbeat.clone(),
        events: events.clone(),
        metrics: metrics.clone(),
        cancel: cancel.clone(),
        admission,
        variants: Arc::new(http::variants::Variants::new(http::variants::RENDER_PERMITS, http::variants::CACHE_BYTES)),
        statuses: statuses.clone(),
    });
    let server = tokio::spawn(http::serve(listener, shared, cancel.clone()));
    tracing::info!(listen = %config.server.listen, sources = config.sources.len(), store = %config.storage.path.display(), "newsdesk is serving");
    // The store is open and the port bound: tell systemd (no-op without NOTIFY_SOCKET).
    notify(&[sd_notify::NotifyState::Ready, sd_notify::NotifyState::Status("serving")]);
    if let Some(period) = sd_notify::watchdog_enabled() {
        tokio::spawn(watchdog(period, heartbeat.clone(), cancel.clone()));
    }

    {
        // The clustering index is built off the startup path (see Desk::new).
        let desk = desk.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = desk.load_index() {
                tracing::error!(error = %e, "loading the story index failed");
            }
        });
    }
    let dirty = Arc::new(Dirty {
        feeds: Mutex::default(),
        everything: Default::default(),
        reload: Mutex::default(),
        notify: Notify::new(),
        events,
        metrics,
        statuses,
    });
    if let Some(cluster) = desk.cluster.get().cloned() {
        tokio::spawn(hear_the_cluster(cluster.clone(), store.clone(), dirty.clone(), cancel.clone()));
        tokio::spawn(watch_the_database(store.clone(), cluster.clone(), cancel.clone()));
    }
    let wake = Arc::new(Notify::new());
    let poller = Poller { desk: desk.clone(), sink: dirty.clone(), heartbeat, wake: wake.clone() };
    let poll_task = tokio::spawn(poller.run(cancel.clone()));
    let running = Running { desk: desk.clone(), dirty: dirty.clone(), wake };
    let (topics, topics_rx) = crate::publish::websub::channel();
    publisher.set_websub(topics);
    tokio::spawn(crate::publish::websub::run(topics_rx, publisher.clone(), cancel.clone()));
    let publisher_task = tokio::spawn(publish_loop(publisher.clone(), dirty.clone(), cancel.clone()));
    tokio::spawn(prune_loop(desk.clone(), dirty.clone(), cancel.clone()));
    let settle_task = tokio::spawn(settle_loop(desk.clone(), dirty.clone(), cancel.clone()));

    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    // Nothing in this loop may end the process: a failed reload keeps the old
    // configuration running (under Restart=on-failure an exit would crash-loop).
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = hup.recv() => running.reload(config_path),
        }
    }
    tracing::info!("shutting down");
    notify(&[sd_notify::NotifyState::Stopping]);
    cancel.cancel();
    // A settle under way stops at its next step, so that the flush below
    // comes after its last write.
    desk.stop();
    let _ = tokio::time::timeout(Duration::from_secs(6), async {
        let _ = settle_task.await;
        let _ = poll_task.await;
        let _ = publisher_task.await;
        let _ = server.await;
    })
    .await;
    final_flush(store).await
}

/// What other nodes of the cluster say: a change to the shared store
/// (render every feed again from it), or a story one of them found breaking
/// (announce it on this node's `/events` too).
async fn hear_the_cluster(cluster: Arc<Cluster>, store: Store, dirty: Arc<Dirty>, cancel: CancellationToken) {
    let me = cluster.node.clone();
    let handle = tokio::runtime::Handle::current();
    let heard = move |payload: &str| {
        let mut words = payload.splitn(3, ' ');
        let (what, node, story) = (words.next(), words.next(), words.next());
        if node == Some(me.as_str()) {
            return;
        }
        match (what, story) {
            (Some("changed"), _) => {
                dirty.everything.store(true, std::sync::atomic::Ordering::Relaxed);
                dirty.notify.notify_one();
            }
            (Some("breaking"), Some(story)) => {
                let (store, dirty, story) = (store.clone(), dirty.clone(), story.to_string());
                handle.spawn_blocking(move || match crate::events::news_of(&store, &story) {
                    Ok(Some(news)) => dirty.events.publish(news, pipeline::now()),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(story = %story, error = %e, "cannot read a story another node found breaking")
                    }
                });
            }
            _ => {}
        }
    };
    cluster.listen(heard, cancel).await;
}

/// Ask the database every two seconds whether it answers: `/healthz` says
/// 503 while it does not (the last rendered feeds are served meanwhile),
/// and ok again once it does.
async fn watch_the_database(store: Store, cluster: Arc<Cluster>, cancel: CancellationToken) {
    let mut down = false;
    loop {
        let s = store.clone();
        match tokio::task::spawn_blocking(move || s.flush()).await {
            Ok(Err(e)) if !down => {
                down = true;
                tracing::error!(error = %e, "the database does not answer; serving the last rendered feeds");
            }
            Ok(Ok(())) if down => {
                down = false;
                tracing::info!("the database answers again");
            }
            _ => {}
        }
        if !down {
            let _ = cluster.count_leases().await;
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

/// Flush the store on the way out. A flush that fails (a disk full) ends the
/// process with exit 1 and one plain line naming the store and the cause: what
/// polls wrote since the last flush (source states, schedule) may be lost, and
/// systemd should show the unit as failed rather than stopped cleanly. Items
/// reported stored were flushed when their poll ended, so they are kept.
async fn final_flush(store: Store) -> anyhow::Result<()> {
    let path = store.path().display().to_string();
    match tokio::task::spawn_blocking(move || store.flush()).await {
        Ok(Ok(())) => {
            tracing::info!("stopped");
            Ok(())
        }
        Ok(Err(e)) => Err(anyhow::anyhow!("stopped, but the store at {path} could not be flushed: {e}")),
        Err(e) => Err(anyhow::anyhow!("stopped, but flushing the store at {path} crashed: {e}")),
    }
}

/// The parts of a running daemon a reload touches.
struct Running {
    desk: Arc<Desk>,
    dirty: Arc<Dirty>,
    /// Turns the poll loop, so added sources are polled at once.
    wake: Arc<Notify>,
}

impl Running {
    /// SIGHUP: apply the configuration at `path`, or log why not and keep the old one.
    fn reload(&self, path: &Path) {
        let mut reloading = vec![sd_notify::NotifyState::Reloading];
        reloading.extend(sd_notify::NotifyState::monotonic_usec_now().ok());
        notify(&reloading);
        match prepare(path, &self.desk.runtime()) {
            Ok(runtime) => self.apply(runtime),
            Err(errors) => {
                for e in &errors {
                    tracing::error!(error = %e, "configuration refused; the old one stays in force");
                }
            }
        }
        notify(&[sd_notify::NotifyState::Ready]);
    }

    /// Swap a prepared runtime in; nothing here can fail. Polls under way
    /// finish with the old one; the publisher task renders everything anew.
    fn apply(&self, runtime: Runtime) {
        let config = runtime.config.clone();
        if config.server.listen != self.desk.config().server.listen {
            tracing::warn!(listen = %config.server.listen, "server.listen changed: it takes effect after a restart");
        }
        self.desk.swap(runtime);
        *self.dirty.reload.lock().unwrap_or_else(|p| p.into_inner()) = Some(config.clone());
        self.dirty.notify.notify_one();
        self.wake.notify_one();
        load_statuses(&self.dirty.statuses, &self.desk);
        tracing::info!(sources = config.sources.len(), "configuration reloaded");
    }
}

/// Load the configuration at `path` and build everything it needs before
/// anything running is touched, or say why it cannot replace `current`
/// without a restart.
fn prepare(path: &Path, running: &Runtime) -> Result<Runtime, Vec<String>> {
    let config = config::load(path).map_err(|errors| errors.0.iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
    let current = &running.config;
    if config.storage.path != current.storage.path {
        // The store is open for the life of the process; moving it needs a restart.
        return Err(vec![format!(
            "{}: storage.path changed from {} to {}: that needs a restart",
            config.file.display(),
            current.storage.path.display(),
            config.storage.path.display()
        )]);
    }
    let database = |c: &Config| c.storage.postgres.as_ref().map(|p| (p.url.clone(), p.node.clone()));
    if database(&config) != database(current) {
        return Err(vec![format!(
            "{}: storage.backend, url or node changed: that needs a restart",
            config.file.display()
        )]);
    }
    Runtime::new(Arc::new(config), Some(running)).map_err(|e| vec![format!("cannot build the HTTP client: {e}")])
}

/// Read every configured source's status into `statuses`, in the background:
/// one store read per source, which must not hold up startup or a request.
fn load_statuses(statuses: &Arc<http::statuses::Statuses>, desk: &Arc<Desk>) {
    let (statuses, desk) = (statuses.clone(), desk.clone());
    tokio::task::spawn_blocking(move || statuses.load(&desk.config(), &desk.store));
}

/// Retention: every hour (and a minute after start), delete stories older than
/// `storage.retention`, in slices so the store is never held for long. sled
/// reuses the freed space for new writes.
async fn prune_loop(desk: Arc<Desk>, dirty: Arc<Dirty>, cancel: CancellationToken) {
    let mut wait = Duration::from_secs(60);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = Duration::from_secs(3600);
        let cutoff = crate::model::before(pipeline::now(), desk.config().storage.retention);
        let mut total = 0;
        loop {
            let d = desk.clone();
            match tokio::task::spawn_blocking(move || d.prune(cutoff, 500)).await {
                Ok(Ok(0)) => break,
                Ok(Ok(n)) => total += n,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "pruning failed");
                    break;
                }
                Err(e) => {
                    tracing::error!(error = %e, "pruning crashed");
                    break;
                }
            }
        }
        if total > 0 {
            tracing::info!(stories = total, "pruned stories older than the retention");
            dirty.feeds.lock().unwrap_or_else(|p| p.into_inner()).insert(FeedName::All);
            dirty.notify.notify_one();
        }
    }
}

/// Settling (`Desk::settle`): 10 s after start, then every minute, whether
/// `dedup.settle_every` has passed since the last settle (of any node on the
/// store) and items came since; if so, the stories are settled and the feeds
/// they change rendered again. A settle that fails is tried again a period
/// later, not each minute.
async fn settle_loop(desk: Arc<Desk>, dirty: Arc<Dirty>, cancel: CancellationToken) {
    let mut wait = Duration::from_secs(10);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = Duration::from_secs(60);
        let d = desk.clone();
        let settled = tokio::task::spawn_blocking(move || d.settle_if_due(pipeline::now())).await;
        let report = match settled.map_err(|e| e.to_string()).and_then(|r| r.map_err(|e| e.to_string())) {
            Ok(report) => report,
            Err(e) => {
                tracing::error!(error = %e, "settling the stories failed");
                wait = desk.config().dedup.settle_every.max(wait);
                continue;
            }
        };
        if let Some(report) = report.filter(|r| !r.feeds.is_empty()) {
            dirty.feeds.lock().unwrap_or_else(|p| p.into_inner()).extend(report.feeds);
            dirty.notify.notify_one();
        }
    }
}

/// Send a state to systemd's notify socket, if there is one; a failure is logged, not fatal.
fn notify(states: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "systemd notification failed");
    }
}

/// `WATCHDOG=1` at half the watchdog period, but only while the poll loop
/// turns: a stuck poller stops the pings and systemd restarts the service.
async fn watchdog(period: Duration, heartbeat: Arc<AtomicI64>, cancel: CancellationToken) {
    let every = (period / 2).max(Duration::from_millis(100));
    // The poll loop turns at least every 5 s; allow for a slow turn.
    let stale_after = (period.as_secs() as i64).max(30);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let age = pipeline::now() - heartbeat.load(std::sync::atomic::Ordering::Relaxed);
        if age <= stale_after {
            notify(&[sd_notify::NotifyState::Watchdog]);
        } else {
            tracing::error!(seconds = age, "the poller has made no progress: withholding the systemd watchdog");
        }
    }
}

/// The one publisher task: re-render dirty feeds, at most about three times
/// a second; everything once a minute (breaking stories expire and `top`
/// moves with the clock) and after a reload. Only this task renders once the
/// daemon runs, so two renders never race to replace the snapshot (one
/// update lost) or announce one change to the WebSub hub twice.
async fn publish_loop(publisher: Arc<Publisher>, dirty: Arc<Dirty>, cancel: CancellationToken) {
    let mut last_full = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = dirty.notify.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let feeds = std::mem::take(&mut *dirty.feeds.lock().unwrap_or_else(|p| p.into_inner()));
        let reload = dirty.reload.lock().unwrap_or_else(|p| p.into_inner()).take();
        let remote = dirty.everything.swap(false, std::sync::atomic::Ordering::Relaxed);
        let full = remote || reload.is_some() || last_full.elapsed() >= Duration::from_secs(60);
        if let Some(config) = reload {
            publisher.set_config(config);
        }
        let p = publisher.clone();
        let result = tokio::task::spawn_blocking(move || {
            if full {
                p.publish_all(pipeline::now())
            } else {
                p.publish(&feeds, pipeline::now(), false)
            }
        })
        .await;
        if full {
            last_full = tokio::time::Instant::now();
        }
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "publishing failed"),
            Err(e) => tracing::error!(error = %e, "publishing crashed"),
        }
    }
}
