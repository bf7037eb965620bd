//! Several daemons on one PostgreSQL database share the work (`[storage]
//! backend = "postgres"`). Every node polls, ingests and serves:
//!
//! - **Polling by leases.** Each source has a row in `leases` with its next
//!   due time. A node claims due sources in batches (`FOR UPDATE SKIP
//!   LOCKED`), holds each claim for `lease` (renewed while the poll runs),
//!   and hands the source back with its next due time. A node that dies
//!   stops renewing: its claims lapse and another node takes them within
//!   one lease period.
//! - **Politeness for the cluster.** A request to a host first takes one of
//!   its `per_host` slots in `host_slots`, so all nodes together never have
//!   more in flight against it; a `Retry-After` goes to `host_holds`, which
//!   every node's claims respect.
//! - **One clustering decision at a time**: see `Desk::ingest_with` (an
//!   advisory lock, and a log each node catches up from).
//! - **The same bytes everywhere.** A commit notifies the others
//!   (`LISTEN/NOTIFY`), which render their feeds again from the shared
//!   store; a feed's ETag is the hash of its bytes, so it is the same on
//!   every node.

use crate::model::Timestamp;
use crate::store::pg::{PgEngine, CHANNEL};
use crate::store::{Store, StoreError};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// This node's part in the cluster.
pub struct Cluster {
    pg: PgEngine,
    pub node: String,
    pub lease: Duration,
    /// Claims made, and claims of sources another node had held (taken
    /// over after its lease lapsed), for /metrics.
    pub claimed: AtomicU64,
    pub taken_over: AtomicU64,
    /// Waits for a host slot that another node (or this one) held.
    pub host_waits: AtomicU64,
    /// Leases held by this node, and by all nodes, when last counted
    /// ([`Cluster::count_leases`]).
    held_here: AtomicI64,
    held_all: AtomicI64,
}

/// One of a host's request slots, held by this node.
pub struct HostSlot {
    host: String,
    slot: i32,
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(e.to_string())
}

impl Cluster {
    /// The cluster side of a PostgreSQL store (`None` on sled).
    pub fn new(store: &Store, config: &crate::config::Postgres) -> Option<Cluster> {
        Some(Cluster {
            pg: store.postgres()?.clone(),
            node: config.node.clone(),
            lease: config.lease,
            claimed: AtomicU64::new(0),
            taken_over: AtomicU64::new(0),
            host_waits: AtomicU64::new(0),
            held_here: AtomicI64::new(0),
            held_all: AtomicI64::new(0),
        })
    }

    fn lease_secs(&self) -> f64 {
        self.lease.as_secs_f64()
    }

    /// Run `f` with a pooled connection, on the engine's runtime.
    async fn on_client<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(deadpool_postgres::Object) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<T, tokio_postgres::Error>> + Send,
    {
        let pool = self.pg.pool().clone();
        self.pg
            .run(async move {
                let client = pool.get().await.map_err(err)?;
                f(client).await.map_err(err)
            })
            .await?
    }

    /// Make sure every configured source has a lease row and every host its
    /// `per_host` slots (at start and after a reload; rows of other nodes'
    /// sources are left alone).
    /// `sources`: (id, host, seconds from now until first due).
    pub async fn register(&self, sources: Vec<(String, String, i64)>, per_host: usize) -> Result<(), StoreError> {
        self.on_client(move |client| async move {
                let mut columns = (Vec::new(), Vec::new(), Vec::new());
                for (id, host, delay) in sources {
                    columns.0.push(id);
                    columns.1.push(host);
                    columns.2.push(delay as f64);
                }
                let (ids, hosts, delays) = columns;
                let sql = "INSERT INTO leases (source, host, due)
                           SELECT s, h, now() + make_interval(secs => d) FROM unnest($1::text[], $2::text[], $3::float8[]) AS u(s, h, d)
                           ON CONFLICT (source) DO UPDATE SET host = excluded.host";
                client.execute(sql, &[&ids, &hosts, &delays]).await?;
                let sql = "INSERT INTO host_slots (host, slot)
                           SELECT h, g FROM (SELECT DISTINCT unnest($1::text[]) AS h) hs, generate_series(0, $2 - 1) g
                           ON CONFLICT DO NOTHING";
                client.execute(sql, &[&hosts, &(per_host as i32)]).await?;
                Ok(())
            })
            .await
    }

    /// Claim up to `n` due sources among `known` (this node's configured
    /// ids) that nobody holds, oldest due first, and whose host is not held
    /// back. Returns their ids.
    pub async fn claim(&self, known: Vec<String>, n: usize) -> Result<Vec<String>, StoreError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let (node, lease) = (self.node.clone(), self.lease_secs());
        let rows = self
            .on_client(move |client| async move {
                let sql = "UPDATE leases l SET node = $1, until = now() + make_interval(secs => $2)
                           FROM (SELECT source, node AS was FROM leases
                                 WHERE due <= now() AND (until IS NULL OR until < now()) AND source = ANY($3)
                                   AND host NOT IN (SELECT host FROM host_holds WHERE until > now())
                                 ORDER BY due LIMIT $4 FOR UPDATE SKIP LOCKED) c
                           WHERE l.source = c.source
                           RETURNING l.source, c.was";
                let rows = client.query(sql, &[&node, &lease, &known, &(n as i64)]).await?;
                Ok(rows.iter().map(|r| (r.get::<_, String>(0), r.get::<_, Option<String>>(1))).collect::<Vec<_>>())
            })
            .await?;
        self.claimed.fetch_add(rows.len() as u64, Ordering::Relaxed);
        let mut out = Vec::with_capacity(rows.len());
        for (source, was) in rows {
            if was.as_ref().is_some_and(|w| *w != self.node) {
                self.taken_over.fetch_add(1, Ordering::Relaxed);
                tracing::info!(source = %source, from = ?was, node = %self.node, "source taken over from a node whose lease lapsed");
            }
            out.push(source);
        }
        Ok(out)
    }

    /// Keep this node's claims on `sources` alive (polls still running), and
    /// the host slots they hold.
    pub async fn renew(&self, sources: Vec<String>) -> Result<(), StoreError> {
        let (node, lease) = (self.node.clone(), self.lease_secs());
        self.on_client(move |client| async move {
            let sql =
                "UPDATE leases SET until = now() + make_interval(secs => $2) WHERE node = $1 AND source = ANY($3)";
            client.execute(sql, &[&node, &lease, &sources]).await?;
            // The host slots its running polls hold, too: a dead node's
            // slots lapse within a lease, as its sources do.
            let sql =
                "UPDATE host_slots SET until = now() + make_interval(secs => $2) WHERE node = $1 AND until > now()";
            client.execute(sql, &[&node, &lease]).await?;
            Ok(())
        })
        .await
    }

    /// Hand a polled source back, due next at `due` (this node's clock).
    /// Stored as a delay from the database's clock, which is the one every
    /// node compares against: nodes whose clocks differ still agree.
    pub async fn release(&self, source: String, due: Timestamp) -> Result<(), StoreError> {
        let node = self.node.clone();
        let delay = (due - crate::pipeline::now()) as f64;
        self.on_client(move |client| async move {
            let sql = "UPDATE leases SET due = now() + make_interval(secs => $3), node = NULL, until = NULL
                           WHERE source = $1 AND node = $2";
            client.execute(sql, &[&source, &node, &delay]).await?;
            Ok(())
        })
        .await
    }

    /// Take one of `host`'s slots, waiting while all are held (by any node).
    /// The slot lapses after `hold` (a lease, renewed with the leases) if
    /// this node dies holding it.
    pub async fn acquire_host(&self, host: &str, per_host: usize, hold: Duration) -> Result<HostSlot, StoreError> {
        let mut waited = false;
        loop {
            let (node, host_s, secs) = (self.node.clone(), host.to_string(), hold.as_secs_f64());
            let slot = self
                .on_client(move |client| async move {
                    let sql = "UPDATE host_slots s SET node = $2, until = now() + make_interval(secs => $3)
                               FROM (SELECT slot FROM host_slots
                                     WHERE host = $1 AND slot < $4 AND (until IS NULL OR until < now())
                                     ORDER BY slot LIMIT 1 FOR UPDATE SKIP LOCKED) f
                               WHERE s.host = $1 AND s.slot = f.slot RETURNING s.slot";
                    let row = client.query_opt(sql, &[&host_s, &node, &secs, &(per_host as i32)]).await?;
                    Ok(row.map(|r| r.get::<_, i32>(0)))
                })
                .await?;
            if let Some(slot) = slot {
                return Ok(HostSlot { host: host.to_string(), slot });
            }
            if !waited {
                waited = true;
                self.host_waits.fetch_add(1, Ordering::Relaxed);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Give a host slot back.
    pub async fn release_host(&self, slot: HostSlot) -> Result<(), StoreError> {
        self.on_client(move |client| async move {
            let sql = "UPDATE host_slots SET node = NULL, until = NULL WHERE host = $1 AND slot = $2";
            client.execute(sql, &[&slot.host, &slot.slot]).await?;
            Ok(())
        })
        .await
    }

    /// `host` asked (Retry-After) not to be polled before `until`: no node
    /// claims its sources until then.
    pub async fn hold_host(&self, host: String, until: Timestamp) -> Result<(), StoreError> {
        let delay = (until - crate::pipeline::now()) as f64;
        self.on_client(move |client| async move {
            let sql = "INSERT INTO host_holds (host, until) VALUES ($1, now() + make_interval(secs => $2))
                           ON CONFLICT (host) DO UPDATE SET until = greatest(host_holds.until, excluded.until)";
            client.execute(sql, &[&host, &delay]).await?;
            Ok(())
        })
        .await
    }

    /// Count the leases held now (by this node, by all) for /metrics.
    pub async fn count_leases(&self) -> Result<(), StoreError> {
        let (here, all) = self.lease_counts().await?;
        self.held_here.store(here, Ordering::Relaxed);
        self.held_all.store(all, Ordering::Relaxed);
        Ok(())
    }

    /// This node's figures for /metrics, without a round trip.
    pub fn figures(&self) -> Vec<(&'static str, i64)> {
        let (size, idle) = self.pool_status();
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed) as i64;
        vec![
            ("pool_size", size as i64),
            ("pool_idle", idle as i64),
            ("leases_here", self.held_here.load(Ordering::Relaxed)),
            ("leases_all", self.held_all.load(Ordering::Relaxed)),
            ("claims", n(&self.claimed)),
            ("takeovers", n(&self.taken_over)),
            ("host_slot_waits", n(&self.host_waits)),
        ]
    }

    /// How many sources this node holds now, and how many are claimed by
    /// any node.
    async fn lease_counts(&self) -> Result<(i64, i64), StoreError> {
        let node = self.node.clone();
        self.on_client(move |client| async move {
            let sql = "SELECT count(*) FILTER (WHERE node = $1), count(*) FROM leases WHERE until > now()";
            let row = client.query_one(sql, &[&node]).await?;
            Ok((row.get(0), row.get(1)))
        })
        .await
    }

    /// The pool's size and idle connections (for /metrics).
    pub fn pool_status(&self) -> (usize, usize) {
        let s = self.pg.pool().status();
        (s.size, s.available)
    }

    /// Listen for other nodes' notifications until `cancel`: each one calls
    /// `heard` with its payload ("changed NODE", or "breaking NODE STORY").
    /// Reconnects with backoff when the database goes away.
    pub async fn listen(
        &self,
        heard: impl Fn(&str) + Send + Sync + 'static,
        cancel: tokio_util::sync::CancellationToken,
    ) {
        let heard = std::sync::Arc::new(heard);
        let mut backoff = Duration::from_millis(200);
        while !cancel.is_cancelled() {
            let (config, h) = (self.pg.config().clone(), heard.clone());
            let listened = self.pg.run(listen_once(config, move |p| h(p))).await;
            match listened {
                Ok(Ok(())) => backoff = Duration::from_millis(200),
                Ok(Err(e)) | Err(e) => tracing::warn!(error = %e, "lost the database's notifications; listening again"),
            }
            // Something may have changed while nobody listened.
            heard("changed ?");
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    }

    /// Tell every node that `story` became breaking (after its commit).
    pub async fn announce_breaking(&self, story: String) -> Result<(), StoreError> {
        let payload = format!("breaking {} {story}", self.node);
        self.on_client(move |client| async move {
            client.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload]).await?;
            Ok(())
        })
        .await
    }
}

/// One connection that LISTENs until it fails.
async fn listen_once(config: tokio_postgres::Config, heard: impl Fn(&str)) -> Result<(), StoreError> {
    // A connection of its own (not pooled): it receives as long as it lives.
    let (client, mut connection) = config.connect(tokio_postgres::NoTls).await.map_err(err)?;
    let statement = format!("LISTEN {CHANNEL}");
    let listen = client.batch_execute(&statement);
    tokio::pin!(listen);
    let mut listening = false;
    loop {
        // The connection must be polled for the LISTEN to go out, and for
        // notifications to come in.
        let message = std::future::poll_fn(|cx| connection.poll_message(cx));
        tokio::select! {
            done = &mut listen, if !listening => {
                done.map_err(err)?;
                listening = true;
            }
            m = message => match m {
                Some(Ok(tokio_postgres::AsyncMessage::Notification(n))) => heard(n.payload()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(err(e)),
                None => return Err(err("the notification connection closed")),
            }
        }
    }
}
