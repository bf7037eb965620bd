//! The PostgreSQL engine, for several daemons sharing one store. It holds the
//! same trees as sled, as rows of one table ordered by `(tree, key)`
//! (`bytea` compares byte by byte, as sled orders keys), so the store's logic
//! and every byte it renders are the same on both engines, and `migrate`
//! copies rows as they are.
//!
//! The store's callers are synchronous (sled is), so this engine runs its own
//! small tokio runtime with a connection pool ([`deadpool_postgres`]) and each
//! call waits for its query there; it can be called from any thread, inside
//! or outside the daemon's runtime.

use super::apply::Writes;
use super::engine::{Pairs, Range, Tree};
use super::{Result, StoreError};
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::NoTls;

/// The schema, one step per version. A database at a higher version than
/// the last step was written by a newer release and is refused.
const MIGRATIONS: &[&str] = &[
    // 1: the trees and the named numbers.
    "CREATE TABLE kv (tree smallint NOT NULL, k bytea NOT NULL, v bytea NOT NULL, PRIMARY KEY (tree, k));
     CREATE TABLE numbers (name text PRIMARY KEY, value bigint NOT NULL);",
    // 2: the cluster. Who polls which source (leases, with each source's
    // host and next due time), requests in flight per host across nodes
    // (slots), hosts that asked to be left alone (Retry-After), and the log
    // of clustering changes other nodes' indexes catch up from.
    "CREATE TABLE leases (source text PRIMARY KEY, host text NOT NULL, due timestamptz NOT NULL DEFAULT now(),
                          node text, until timestamptz);
     CREATE INDEX leases_due ON leases (due);
     CREATE TABLE host_slots (host text NOT NULL, slot int NOT NULL, node text, until timestamptz,
                              PRIMARY KEY (host, slot));
     CREATE TABLE host_holds (host text PRIMARY KEY, until timestamptz NOT NULL);
     CREATE TABLE cluster_log (seq bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(),
                               story text NOT NULL, item text, survivor text);",
];

/// The advisory lock that serialises schema migrations between daemons
/// starting at once (any constant; "newsdesk" in ASCII).
const MIGRATION_LOCK: i64 = 0x6e65_7773_6465_736b;

/// The advisory lock that serialises clustering decisions across nodes
/// ("clusters" in ASCII).
const CLUSTERING_LOCK: i64 = 0x636c_7573_7465_7273;

/// The channel nodes hear each other's changes on.
pub const CHANNEL: &str = "newsdesk";

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// `postgres://user@host:port/db` or a key/value connection string.
    pub url: String,
    /// From `password_file` or `password_env`, never from the config itself.
    pub password: Option<String>,
    /// Connections in the pool.
    pub pool: usize,
    /// This daemon's name in a cluster: its notifications carry it, so it
    /// can tell its own from the others'.
    pub node: String,
}

impl PgOptions {
    /// The URL as logs and errors show it: any password in it replaced.
    pub fn shown_url(&self) -> String {
        match url::Url::parse(&self.url) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("***"));
                u.to_string()
            }
            _ => self.url.clone(),
        }
    }
}

/// The engine's own runtime, shut down without waiting when the last store
/// handle goes (which may happen inside the daemon's runtime, where a
/// blocking shutdown is not allowed).
struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

#[derive(Clone)]
pub struct PgEngine {
    runtime: Arc<OwnRuntime>,
    pool: Pool,
    config: tokio_postgres::Config,
    url: String,
    node: Arc<str>,
    /// See [`PgEngine::last_logged`].
    last_logged: Arc<std::sync::atomic::AtomicI64>,
}

fn db_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(e.to_string())
}

/// A PostgreSQL error in its server's words when it has them.
fn pg_err(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => StoreError::Database(format!("{} ({})", db.message(), db.code().code())),
        None => db_err(e),
    }
}

impl PgEngine {
    /// Connect, and bring the schema up to this release's version.
    pub fn connect(options: &PgOptions) -> Result<PgEngine> {
        let engine = PgEngine::reach(options)?;
        engine.migrate()?;
        Ok(engine)
    }

    /// For `newsdesk check`: the database answers and its schema is not
    /// newer than this release (nothing is changed). Returns the version.
    pub fn check(options: &PgOptions) -> Result<i64> {
        let engine = PgEngine::reach(options)?;
        let pool = engine.pool.clone();
        let found = engine.block(async move {
            let client = pool.get().await.map_err(db_err)?;
            let sql = "SELECT CASE WHEN to_regclass('newsdesk_schema') IS NULL THEN 0
                       ELSE (SELECT coalesce(max(version), 0) FROM newsdesk_schema) END";
            let row = client.query_one(sql, &[]).await.map_err(pg_err)?;
            Ok::<i64, StoreError>(row.get(0))
        })?;
        let known = MIGRATIONS.len() as i64;
        if found > known {
            return Err(StoreError::SchemaTooNew { url: engine.url.clone(), found, known });
        }
        Ok(found)
    }

    /// A pool on the database (no connection is made yet).
    fn reach(options: &PgOptions) -> Result<PgEngine> {
        let mut config: tokio_postgres::Config = options
            .url
            .parse()
            .map_err(|e| StoreError::Database(format!("cannot read the database url {}: {e}", options.shown_url())))?;
        if let Some(p) = &options.password {
            config.password(p.as_str());
        }
        config.connect_timeout(Duration::from_secs(5));
        config.application_name("newsdesk");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("newsdesk-pg")
            .enable_all()
            .build()
            .map_err(db_err)?;
        let manager =
            Manager::from_config(config.clone(), NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(options.pool.max(2))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            // A lost database fails calls within seconds, not minutes: the
            // snapshot keeps being served meanwhile.
            .create_timeout(Some(Duration::from_secs(5)))
            .wait_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(db_err)?;
        let (url, node) = (options.shown_url(), options.node.as_str().into());
        Ok(PgEngine {
            runtime: Arc::new(OwnRuntime(Some(runtime))),
            pool,
            config,
            url,
            node,
            last_logged: Default::default(),
        })
    }

    /// Run `f` on the engine's runtime and wait for it. An error only if
    /// the call ended without an answer (its task panicked: a bug, logged
    /// by tokio), never a panic here.
    pub fn block<T: Send + 'static>(&self, f: impl Future<Output = Result<T>> + Send + 'static) -> Result<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let Some(rt) = &self.runtime.0 else { unreachable!("the runtime lives until the engine is dropped") };
        rt.spawn(async move {
            let _ = tx.send(f.await);
        });
        rx.recv().unwrap_or_else(|_| Err(db_err("a database call ended without an answer")))
    }

    /// The pool (for the cluster's leases, locks and notifications).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// This daemon's name in the cluster.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// How to connect (for a connection of one's own: LISTEN).
    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// Run `f` on the engine's runtime, for async callers.
    pub async fn run<T: Send + 'static>(&self, f: impl Future<Output = T> + Send + 'static) -> Result<T> {
        let Some(rt) = &self.runtime.0 else { unreachable!("the runtime lives until the engine is dropped") };
        rt.spawn(f).await.map_err(db_err)
    }

    /// Take the cluster-wide clustering lock (waits for it): one node at a
    /// time decides where items go and writes it. Released when the guard
    /// goes, or by PostgreSQL when the holder's connection dies.
    pub fn lock_clustering(&self) -> Result<ClusteringLock> {
        let pool = self.pool.clone();
        let client = self.block(async move {
            let client = pool.get().await.map_err(db_err)?;
            client.execute("SELECT pg_advisory_lock($1)", &[&CLUSTERING_LOCK]).await.map_err(pg_err)?;
            Ok::<_, StoreError>(client)
        })?;
        Ok(ClusteringLock { engine: self.clone(), client: Some(client) })
    }

    /// The newest entry of the clustering log.
    pub fn log_head(&self) -> Result<i64> {
        let rows = self.query("SELECT coalesce(max(seq), 0) FROM cluster_log", vec![], |r| r.get::<_, i64>(0))?;
        Ok(rows.into_iter().next().unwrap_or(0))
    }

    /// The clustering log after `seq`, oldest first; `None` when entries
    /// after `seq` were already deleted (the reader must start over).
    pub fn log_since(&self, seq: i64) -> Result<Option<Vec<LogEntry>>> {
        // One round trip: the oldest entry kept, beside the entries after `seq`.
        let sql = "WITH kept AS (SELECT coalesce(min(seq), 0) AS oldest FROM cluster_log)
                   SELECT kept.oldest, l.seq, l.story, l.item, l.survivor
                   FROM kept LEFT JOIN cluster_log l ON l.seq > $1 ORDER BY l.seq";
        let rows = self.query(sql, vec![Box::new(seq)], |r| {
            let entry = r.get::<_, Option<i64>>(1).map(|s| LogEntry {
                seq: s,
                story: r.get(2),
                item: r.get(3),
                survivor: r.get(4),
            });
            (r.get::<_, i64>(0), entry)
        })?;
        if rows.first().is_some_and(|(oldest, _)| *oldest > seq + 1) && seq > 0 {
            return Ok(None);
        }
        Ok(Some(rows.into_iter().filter_map(|(_, e)| e).collect()))
    }

    /// The last clustering log entry this node's commits wrote (0 before
    /// any): under the clustering lock, the newest there is.
    pub fn last_logged(&self) -> i64 {
        self.last_logged.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Forget clustering log entries older than `age` (every node has read
    /// them long since; one that has not rebuilds its index).
    pub fn trim_log(&self, age: Duration) -> Result<()> {
        let secs = age.as_secs() as f64;
        self.query(
            "DELETE FROM cluster_log WHERE at < now() - make_interval(secs => $1)",
            vec![Box::new(secs)],
            |_| (),
        )?;
        Ok(())
    }

    /// The database URL without its password.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The schema version stored, and the newest this release knows.
    fn migrate(&self) -> Result<()> {
        let pool = self.pool.clone();
        let url = self.url.clone();
        self.block(async move {
            let mut client = pool.get().await.map_err(db_err)?;
            let tx = client.transaction().await.map_err(pg_err)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(pg_err)?;
            tx.batch_execute("CREATE TABLE IF NOT EXISTS newsdesk_schema (version bigint NOT NULL)")
                .await
                .map_err(pg_err)?;
            let row =
                tx.query_one("SELECT coalesce(max(version), 0) FROM newsdesk_schema", &[]).await.map_err(pg_err)?;
            let found: i64 = row.get(0);
            let known = MIGRATIONS.len() as i64;
            if found > known {
                return Err(StoreError::SchemaTooNew { url, found, known });
            }
            for (i, step) in MIGRATIONS.iter().enumerate().skip(found as usize) {
                tx.batch_execute(step).await.map_err(pg_err)?;
                tx.execute("INSERT INTO newsdesk_schema (version) VALUES ($1)", &[&(i as i64 + 1)])
                    .await
                    .map_err(pg_err)?;
                tracing::info!(database = %url, version = i + 1, "database schema migrated");
            }
            tx.commit().await.map_err(pg_err)
        })
    }

    /// One query's rows, on a pooled connection.
    fn query<T: Send + 'static>(
        &self,
        sql: &'static str,
        params: Vec<Box<dyn tokio_postgres::types::ToSql + Send + Sync>>,
        read: impl Fn(&tokio_postgres::Row) -> T + Send + 'static,
    ) -> Result<Vec<T>> {
        let pool = self.pool.clone();
        self.block(async move {
            let client = pool.get().await.map_err(db_err)?;
            let stmt = client.prepare_cached(sql).await.map_err(pg_err)?;
            let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                params.iter().map(|p| p.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync)).collect();
            let rows = client.query(&stmt, &refs).await.map_err(pg_err)?;
            Ok(rows.iter().map(read).collect())
        })
    }

    pub fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let rows = self.query(
            "SELECT v FROM kv WHERE tree = $1 AND k = $2",
            vec![Box::new(tree as i16), Box::new(key.to_vec())],
            |r| r.get::<_, Vec<u8>>(0),
        )?;
        Ok(rows.into_iter().next())
    }

    pub fn get_many(&self, tree: Tree, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: Vec<Vec<u8>> = keys.iter().map(|k| k.to_vec()).collect();
        let rows = self.query(
            "SELECT k, v FROM kv WHERE tree = $1 AND k = ANY($2)",
            vec![Box::new(tree as i16), Box::new(wanted)],
            |r| (r.get::<_, Vec<u8>>(0), r.get::<_, Vec<u8>>(1)),
        )?;
        let mut found: std::collections::HashMap<Vec<u8>, Vec<u8>> = rows.into_iter().collect();
        Ok(keys.iter().map(|k| found.remove(*k)).collect())
    }

    pub fn insert(&self, tree: Tree, key: &[u8], value: &[u8]) -> Result<()> {
        self.query(
            "INSERT INTO kv (tree, k, v) VALUES ($1, $2, $3) ON CONFLICT (tree, k) DO UPDATE SET v = excluded.v",
            vec![Box::new(tree as i16), Box::new(key.to_vec()), Box::new(value.to_vec())],
            |_| (),
        )?;
        Ok(())
    }

    pub fn remove(&self, tree: Tree, key: &[u8]) -> Result<()> {
        self.query(
            "DELETE FROM kv WHERE tree = $1 AND k = $2",
            vec![Box::new(tree as i16), Box::new(key.to_vec())],
            |_| (),
        )?;
        Ok(())
    }

    pub fn range(&self, tree: Tree, r: Range) -> Result<Pairs> {
        // LIMIT NULL is no limit.
        let limit = r.limit.map(|n| n.min(i64::MAX as usize) as i64);
        let read = |row: &tokio_postgres::Row| (row.get::<_, Vec<u8>>(0), row.get::<_, Vec<u8>>(1));
        let (tree, start) = (tree as i16, r.start.to_vec());
        match (r.end, r.rev) {
            (Some(end), false) => self.query(
                "SELECT k, v FROM kv WHERE tree = $1 AND k >= $2 AND k < $3 ORDER BY k LIMIT $4",
                vec![Box::new(tree), Box::new(start), Box::new(end.to_vec()), Box::new(limit)],
                read,
            ),
            (Some(end), true) => self.query(
                "SELECT k, v FROM kv WHERE tree = $1 AND k >= $2 AND k < $3 ORDER BY k DESC LIMIT $4",
                vec![Box::new(tree), Box::new(start), Box::new(end.to_vec()), Box::new(limit)],
                read,
            ),
            (None, false) => self.query(
                "SELECT k, v FROM kv WHERE tree = $1 AND k >= $2 ORDER BY k LIMIT $3",
                vec![Box::new(tree), Box::new(start), Box::new(limit)],
                read,
            ),
            (None, true) => self.query(
                "SELECT k, v FROM kv WHERE tree = $1 AND k >= $2 ORDER BY k DESC LIMIT $3",
                vec![Box::new(tree), Box::new(start), Box::new(limit)],
                read,
            ),
        }
    }

    pub fn count(&self, tree: Tree) -> Result<u64> {
        let rows =
            self.query("SELECT count(*) FROM kv WHERE tree = $1", vec![Box::new(tree as i16)], |r| r.get::<_, i64>(0))?;
        Ok(rows.into_iter().next().unwrap_or(0) as u64)
    }

    pub fn number(&self, name: &str) -> Result<Option<u64>> {
        let rows = self.query("SELECT value FROM numbers WHERE name = $1", vec![Box::new(name.to_string())], |r| {
            r.get::<_, i64>(0)
        })?;
        Ok(rows.into_iter().next().map(|v| v as u64))
    }

    pub fn set_number(&self, name: &str, v: u64) -> Result<()> {
        self.query(
            "INSERT INTO numbers (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            vec![Box::new(name.to_string()), Box::new(v as i64)],
            |_| (),
        )?;
        Ok(())
    }

    pub fn init_number(&self, name: &str, v: u64) -> Result<u64> {
        self.query(
            "INSERT INTO numbers (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            vec![Box::new(name.to_string()), Box::new(v as i64)],
            |_| (),
        )?;
        Ok(self.number(name)?.unwrap_or(v))
    }

    pub fn numbers(&self) -> Result<Vec<(String, u64)>> {
        self.query("SELECT name, value FROM numbers ORDER BY name", vec![], |r| {
            (r.get::<_, String>(0), r.get::<_, i64>(1) as u64)
        })
    }

    /// One commit in one transaction: each tree's upserts and deletes as one
    /// statement each, then the counters.
    pub fn apply(&self, w: &Writes) -> Result<()> {
        let mut batches = Batches::of(w);
        batches.node = self.node.to_string();
        let pool = self.pool.clone();
        let logged = self.block(async move {
            let mut client = pool.get().await.map_err(db_err)?;
            let tx = client.transaction().await.map_err(pg_err)?;
            let logged = batches.run(&tx).await?;
            tx.commit().await.map_err(pg_err)?;
            Ok::<_, StoreError>(logged)
        })?;
        if let Some(seq) = logged {
            self.last_logged.store(seq, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }

    /// A round trip: proves the database answers (clears a write failure).
    pub fn flush(&self) -> Result<()> {
        self.query("SELECT 1", vec![], |_| ())?;
        Ok(())
    }

    pub fn size_on_disk(&self) -> Result<u64> {
        let rows = self.query("SELECT pg_database_size(current_database())", vec![], |r| r.get::<_, i64>(0))?;
        Ok(rows.into_iter().next().unwrap_or(0).max(0) as u64)
    }
}

const ADD_NUMBER: &str = "INSERT INTO numbers (name, value) VALUES ($1, GREATEST($2::bigint, 0))
     ON CONFLICT (name) DO UPDATE SET value = GREATEST(numbers.value + $2::bigint, 0)";

/// One clustering change another node made: an item that joined `story`,
/// or `story` absorbed into `survivor`.
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub seq: i64,
    pub story: String,
    pub item: Option<String>,
    pub survivor: Option<String>,
}

/// The cluster-wide clustering lock, held while it lives.
pub struct ClusteringLock {
    engine: PgEngine,
    client: Option<deadpool_postgres::Object>,
}

impl Drop for ClusteringLock {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else { return };
        let _ = self.engine.block(async move {
            let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&CLUSTERING_LOCK]).await;
            if unlocked.is_err() {
                // Never back into the pool holding the lock: closing the
                // connection releases it.
                drop(deadpool_postgres::Object::take(client));
            }
            Ok(())
        });
    }
}

/// Keys (or values) of one statement, as one PostgreSQL array.
type Column = Vec<Vec<u8>>;

/// A commit's writes as arrays, owned, to send to the engine's runtime.
struct Batches {
    /// (tree, keys, values) to upsert; (tree, keys) to delete.
    puts: Vec<(i16, Column, Column)>,
    deletes: Vec<(i16, Column)>,
    counters: Vec<(String, i64)>,
    /// (story, item, survivor) for the clustering log.
    log: (Vec<String>, Vec<Option<String>>, Vec<Option<String>>),
    /// Who commits: named in the notification.
    node: String,
}

impl Batches {
    fn of(w: &Writes) -> Batches {
        let mut b = Batches {
            puts: Vec::new(),
            deletes: Vec::new(),
            counters: Vec::new(),
            log: Default::default(),
            node: String::new(),
        };
        for (story, item, survivor) in &w.log {
            b.log.0.push(story.clone());
            b.log.1.push(item.clone());
            b.log.2.push(survivor.clone());
        }
        for (tree, list) in &w.trees {
            let (mut keys, mut values, mut gone) = (Vec::new(), Vec::new(), Vec::new());
            for (k, v) in &list.writes {
                match v {
                    Some(v) => {
                        keys.push(k.clone());
                        values.push(v.clone());
                    }
                    None => gone.push(k.clone()),
                }
            }
            if !keys.is_empty() {
                b.puts.push((*tree as i16, keys, values));
            }
            if !gone.is_empty() {
                b.deletes.push((*tree as i16, gone));
            }
        }
        b.counters = w.counters.iter().filter(|(_, d)| **d != 0).map(|(n, d)| (n.clone(), *d)).collect();
        b
    }

    /// The statements of one commit, sent together (pipelined: one round
    /// trip, not one per statement); returns the last clustering log entry
    /// written, if any.
    async fn run(&self, tx: &deadpool_postgres::Transaction<'_>) -> Result<Option<i64>> {
        use futures_util::future::{try_join_all, BoxFuture, FutureExt};
        type Write<'a> = BoxFuture<'a, std::result::Result<u64, tokio_postgres::Error>>;
        let notice = format!("changed {}", self.node);
        let mut writes: Vec<Write> = Vec::new();
        for (tree, keys, values) in &self.puts {
            let sql = "INSERT INTO kv (tree, k, v) SELECT $1, * FROM unnest($2::bytea[], $3::bytea[])
                       ON CONFLICT (tree, k) DO UPDATE SET v = excluded.v";
            writes.push(async move { tx.execute(sql, &[tree, keys, values]).await }.boxed());
        }
        for (tree, keys) in &self.deletes {
            let sql = "DELETE FROM kv WHERE tree = $1 AND k = ANY($2)";
            writes.push(async move { tx.execute(sql, &[tree, keys]).await }.boxed());
        }
        for (name, delta) in &self.counters {
            writes.push(async move { tx.execute(ADD_NUMBER, &[name, delta]).await }.boxed());
        }
        if !self.puts.is_empty() || !self.deletes.is_empty() {
            // Delivered at commit: the other nodes render their feeds again.
            let notice = &notice;
            writes.push(async move { tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, notice]).await }.boxed());
        }
        let log = async {
            if self.log.0.is_empty() {
                return Ok(None);
            }
            let sql = "INSERT INTO cluster_log (story, item, survivor)
                       SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) RETURNING seq";
            let rows = tx.query(sql, &[&self.log.0, &self.log.1, &self.log.2]).await?;
            Ok(rows.iter().map(|r| r.get::<_, i64>(0)).max())
        };
        let (done, logged) = futures_util::future::join(try_join_all(writes), log).await;
        done.map_err(pg_err)?;
        logged.map_err(pg_err)
    }
}
