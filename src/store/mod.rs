//! The store. Everything else asks for records and pages ("stories in feed X
//! newest first before cursor C") through [`Store`], which exposes no engine
//! type: under it runs sled (embedded, the default) or PostgreSQL (shared by
//! several daemons), see [`engine`].
//!
//! Layout (trees): `items` key → Item, `stories` id → Story, `feeds`
//! feed \0 time story-id → (), `links` canonical link → story id, `sources`
//! id → SourceState, and named numbers: format version and counters. Every
//! value starts with a format-version byte.

mod apply;
mod engine;
mod keys;
mod merge;
pub mod pg;
mod sled_engine;

pub use engine::Tree;
pub use pg::PgOptions;

pub use keys::{story_feeds, FeedKey};

use crate::model::{Item, Member, SourceState, Story, Timestamp};
use serde::{de::DeserializeOwned, Serialize};
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};

/// The version byte in front of every value written by this release.
const VALUE_VERSION: u8 = 1;
/// The layout version of the whole store.
const FORMAT_VERSION: u64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open store at {path}: {cause}")]
    Open { path: PathBuf, cause: String },
    #[error("store {path} was written by a newer newsdesk (format {found}, this release reads {FORMAT_VERSION})")]
    Version { path: PathBuf, found: u64 },
    /// sled's own words for a damaged file ("Read corrupted data at file offset
    /// Some(Inline(20)) backtrace ()") mean nothing to an operator: described.
    #[error("store I/O error: {}", sled_engine::describe_sled_error(.0))]
    Io(#[from] sled::Error),
    /// PostgreSQL's error, in its own words (they name the cause).
    #[error("database error: {0}")]
    Database(String),
    #[error("database {url} has schema version {found}; this release knows up to {known}: upgrade newsdesk")]
    SchemaTooNew { url: String, found: i64, known: i64 },
    #[error("store record {key} is unreadable: {cause}")]
    Corrupt { key: String, cause: String },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A change to one story, with its previous state so its feed index entries can move.
#[derive(Debug, Clone)]
pub struct StoryChange {
    pub old: Option<Story>,
    pub new: Story,
}

/// Everything one ingest writes, applied together.
#[derive(Debug, Default, Clone)]
pub struct Changes {
    pub items: Vec<Item>,
    /// How many of `items` are new (for counters).
    pub new_items: u64,
    /// (source id, how many of `items` are new from it): the per-source
    /// counts, written with the items so that a crash cannot leave items
    /// stored but uncounted (as a count kept in the source state could).
    pub new_by_source: Vec<(String, u64)>,
    pub stories: Vec<StoryChange>,
    /// (story id, member): items joining a story, or changed in it.
    pub members: Vec<(String, Member)>,
    /// (story id, source id): sources new to a story.
    pub story_sources: Vec<(String, String)>,
    /// canonical link → story id
    pub links: Vec<(String, String)>,
    /// Stories found to be one event with another: (the absorbed story as
    /// stored, the survivor's id). Its items and members are in the other
    /// fields already, under the survivor.
    pub absorbed: Vec<(Story, String)>,
    /// Stories to read again whole into the clustering index: with an item
    /// edited (a new title, summary or date), joined by its link while the
    /// index did not hold them, or holding other words there than the store
    /// gives (`StoryIndex::take_stale`). Other nodes read them again too (the
    /// clustering log says so).
    pub refiled: Vec<String>,
    /// Stories a settle made again (`pipeline::settle`): every member and
    /// story-source row stored under them is replaced by those in `members`
    /// and `story_sources`.
    pub rebuilt: Vec<String>,
    /// Stories a settle emptied: (the story as stored, the story most of its
    /// items went to). Deleted, and their id redirected; their items are in
    /// `items` already, under their new stories.
    pub emptied: Vec<(Story, String)>,
}

/// The last write the store could not make (the disk full, the device gone),
/// shared by every clone of a [`Store`], for health checks.
#[derive(Default)]
struct WriteHealth {
    /// What failed, in plain words, and when (seconds since the epoch).
    failure: std::sync::Mutex<Option<(String, Timestamp)>>,
    /// The story count as the last flush read it (PostgreSQL): health
    /// checks and metrics answer from it without a round trip.
    stories: std::sync::atomic::AtomicU64,
}

#[derive(Clone)]
pub struct Store {
    /// The folder of a sled store; the redacted URL of a database.
    path: PathBuf,
    health: std::sync::Arc<WriteHealth>,
    engine: engine::Engine,
}

/// Where a story's members start in the members table.
fn member_prefix(story: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(story.len() + 40);
    k.extend_from_slice(story.as_bytes());
    k.push(0);
    k
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // Most records are a few hundred bytes; an item with a long summary grows once or twice.
    let mut out = Vec::with_capacity(512);
    out.push(VALUE_VERSION);
    // Serialising our own plain structs cannot fail.
    serde_json::to_writer(&mut out, v).unwrap_or_default();
    out
}

fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T> {
    let corrupt = |cause: String| StoreError::Corrupt { key: String::from_utf8_lossy(key).into_owned(), cause };
    match bytes.split_first() {
        Some((&VALUE_VERSION, rest)) => serde_json::from_slice(rest).map_err(|e| corrupt(e.to_string())),
        Some((v, _)) => Err(corrupt(format!("unknown value version {v}"))),
        None => Err(corrupt("empty value".into())),
    }
}

impl Store {
    /// Open (or create) the sled store at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        // Errors name the folder as an operator finds it, whatever the working directory.
        let shown = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let open_err = |cause: String| StoreError::Open { path: shown.clone(), cause };
        std::fs::create_dir_all(path).map_err(|e| open_err(e.to_string()))?;
        // sled writes `conf` when it creates a store; see the format check below.
        let existed = path.join("conf").exists();
        let engine = sled_engine::SledEngine::open(path).map_err(open_err)?;
        let store =
            Store { path: path.to_path_buf(), health: Default::default(), engine: engine::Engine::Sled(engine) };
        // The first reads after opening can meet damage sled did not see: still
        // an open failure, naming the path.
        let format = store.engine.number("format").map_err(|e| open_err(cause(e)))?;
        match format {
            // sled opens a `db` file that was truncated or overwritten (with no
            // snapshot beside it) as an empty store: refuse it rather than
            // silently start over and lose every record.
            None if existed => return Err(open_err("the store files are corrupt (its records are gone)".into())),
            None => {
                store.engine.set_number("format", FORMAT_VERSION).map_err(|e| open_err(cause(e)))?;
                // Durable at once, so a new store is never mistaken for a damaged one.
                store.flush().map_err(|e| open_err(cause(e)))?;
            }
            Some(v) if v > FORMAT_VERSION => return Err(StoreError::Version { path: shown, found: v }),
            Some(_) => {}
        }
        store.opened().map_err(|e| open_err(cause(e)))
    }

    /// Connect to the PostgreSQL store (creating or migrating its schema).
    pub fn open_postgres(options: &PgOptions) -> Result<Store> {
        let engine = pg::PgEngine::connect(options)?;
        let path = PathBuf::from(options.shown_url());
        let store = Store { path, health: Default::default(), engine: engine::Engine::Postgres(Box::new(engine)) };
        store.engine.init_number("format", FORMAT_VERSION)?;
        store.opened()
    }

    /// What every store does once open: start per-source counts and finish
    /// interrupted merges.
    fn opened(self) -> Result<Store> {
        self.start_source_counts()?;
        let finished = self.finish_interrupted_merges()?;
        if finished > 0 {
            tracing::info!(path = %self.path.display(), merges = finished, "finished story merges a stop interrupted");
        }
        Ok(self)
    }

    /// The folder of a sled store, or the database URL without its password.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Which engine runs under this store: "sled" or "postgres".
    pub fn backend(&self) -> &'static str {
        match self.engine {
            engine::Engine::Sled(_) => "sled",
            engine::Engine::Postgres(_) => "postgres",
        }
    }

    /// The PostgreSQL side of a clustered store, when it is one.
    pub fn postgres(&self) -> Option<&pg::PgEngine> {
        match &self.engine {
            engine::Engine::Postgres(pg) => Some(pg),
            engine::Engine::Sled(_) => None,
        }
    }

    /// A random value created once per store (used to sign cursors): every
    /// daemon on one database signs alike.
    pub fn secret(&self) -> Result<u64> {
        if let Some(v) = self.engine.number("secret")? {
            return Ok(v);
        }
        let mut seed = std::collections::hash_map::RandomState::new().build_hasher();
        std::hash::Hasher::write_u64(&mut seed, now_nanos());
        let v = std::hash::Hasher::finish(&seed) ^ (std::process::id() as u64).rotate_left(32);
        self.engine.init_number("secret", v)
    }

    fn get<T: DeserializeOwned>(&self, tree: Tree, key: &str) -> Result<Option<T>> {
        self.engine.get(tree, key.as_bytes())?.map(|v| decode(key.as_bytes(), &v)).transpose()
    }

    /// Several story records at once, in the order of `ids` (one round trip
    /// on PostgreSQL).
    pub fn stories(&self, ids: &[&str]) -> Result<Vec<Option<Story>>> {
        self.get_many(Tree::Stories, ids)
    }

    fn get_many<T: DeserializeOwned>(&self, tree: Tree, keys: &[&str]) -> Result<Vec<Option<T>>> {
        let raw: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
        let values = self.engine.get_many(tree, &raw)?;
        keys.iter().zip(values).map(|(k, v)| v.map(|v| decode(k.as_bytes(), &v)).transpose()).collect()
    }

    pub fn item(&self, key: &str) -> Result<Option<Item>> {
        self.get(Tree::Items, key)
    }

    /// Several items at once, in the order of `keys` (one round trip on
    /// PostgreSQL).
    pub fn items(&self, keys: &[&str]) -> Result<Vec<Option<Item>>> {
        self.get_many(Tree::Items, keys)
    }

    /// Every stored item, in key order, read a thousand at a time (a settle
    /// clusters them all again).
    pub fn each_item(&self, mut f: impl FnMut(Item)) -> Result<()> {
        let mut start: Vec<u8> = Vec::new();
        loop {
            let range = engine::Range { start: &start, end: None, rev: false, limit: Some(1000) };
            let pairs = self.engine.range(Tree::Items, range)?;
            let Some((last, _)) = pairs.last() else { return Ok(()) };
            // The least key after the last one read.
            start = last.iter().copied().chain([0]).collect();
            for (k, v) in &pairs {
                f(decode(k, v)?);
            }
        }
    }

    pub fn story(&self, id: &str) -> Result<Option<Story>> {
        self.get(Tree::Stories, id)
    }

    /// The pairs of a tree under `prefix`, in key order.
    fn scan_prefix(&self, tree: Tree, prefix: &[u8]) -> Result<engine::Pairs> {
        let end = keys::prefix_end(prefix);
        self.engine.range(tree, engine::Range::between(prefix, &end))
    }

    /// A story's items, first item first. A story of one item keeps it in its
    /// record (`first`) alone, with nothing in the members table until a
    /// second item joins. A story stored by an older release (which listed
    /// only its item keys) has its items read instead.
    pub fn story_members(&self, story: &Story) -> Result<Vec<Member>> {
        // `size` is a hint from a record; a damaged one must not reserve gigabytes.
        let mut out = Vec::with_capacity((story.size as usize).min(1024));
        for (k, v) in self.scan_prefix(Tree::Members, &member_prefix(&story.id))? {
            out.push(decode::<Member>(&k, &v)?);
        }
        if let Some(first) = &story.first {
            if !out.iter().any(|m| m.key == first.key) {
                out.push(first.clone());
            }
        }
        for key in &story.items {
            if out.iter().any(|m| &m.key == key) {
                continue;
            }
            if let Some(i) = self.item(key)? {
                out.push(Member {
                    key: i.key,
                    source: i.source,
                    published: i.published,
                    first_seen: i.first_seen,
                    link: i.link,
                    flagged: false,
                });
            }
        }
        out.sort_by(|a, b| a.order().cmp(&b.order()));
        Ok(out)
    }

    /// Whether an item of `source` is already in the story.
    pub fn story_has_source(&self, story: &str, source: &str) -> Result<bool> {
        let mut k = member_prefix(story);
        k.extend_from_slice(source.as_bytes());
        Ok(self.engine.get(Tree::StorySources, &k)?.is_some())
    }

    /// The story that already carries this canonical link, if any.
    pub fn story_for_link(&self, link: &str) -> Result<Option<String>> {
        Ok(self.engine.get(Tree::Links, link.as_bytes())?.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    pub fn source_state(&self, id: &str) -> Result<Option<SourceState>> {
        self.get(Tree::Sources, id)
    }

    pub fn put_source_state(&self, state: &SourceState) -> Result<()> {
        let written = self.engine.insert(Tree::Sources, state.id.as_bytes(), &encode(state));
        self.noted(written)
    }

    pub fn source_states(&self) -> Result<Vec<SourceState>> {
        self.engine.scan_all(Tree::Sources)?.iter().map(|(k, v)| decode(k, v)).collect()
    }

    /// Apply one ingest's writes, all or nothing: a crash leaves the store as
    /// it was before them or after them.
    pub fn commit(&self, changes: &Changes) -> Result<()> {
        let written = self.write(changes);
        self.noted(written)
    }

    /// One ingest's writes, worked out from what is stored, then applied in
    /// one transaction (see `apply`).
    fn write(&self, changes: &Changes) -> Result<()> {
        let writes = self.plan_writes(changes)?;
        self.engine.apply(&writes)
    }

    /// Make everything written so far durable (on PostgreSQL: prove the
    /// database answers, and note the story count).
    pub fn flush(&self) -> Result<()> {
        let flushed = match &self.engine {
            engine::Engine::Sled(_) => self.engine.flush(),
            engine::Engine::Postgres(_) => self.story_count().map(|n| {
                self.health.stories.store(n, std::sync::atomic::Ordering::Relaxed);
            }),
        };
        if flushed.is_ok() {
            // Durable again: only a flush proves it (sled takes writes into
            // memory and fails when it writes them out).
            *self.health.failure.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        self.noted(flushed)
    }

    /// Remember a failed write for [`Store::write_failure`].
    fn noted<T>(&self, result: Result<T>) -> Result<T> {
        if let Err(e) = &result {
            let mut failure = self.health.failure.lock().unwrap_or_else(|p| p.into_inner());
            let since = failure.as_ref().map(|f| f.1).unwrap_or_else(|| now_nanos() as i64 / 1_000_000_000);
            *failure = Some((cause_of(e), since));
        }
        result
    }

    /// Why the store cannot write, and since when (seconds since the epoch),
    /// while its last write failed; cleared by the next successful flush.
    pub fn write_failure(&self) -> Option<(String, Timestamp)> {
        self.health.failure.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Stories of a feed, newest first, strictly older than `before`.
    pub fn page(&self, feed: &str, before: Option<&FeedKey>, limit: usize) -> Result<Vec<Story>> {
        let mut out = Vec::with_capacity(limit.min(1024));
        for key in self.page_keys(feed, before, limit)? {
            if let Some(story) = self.story(&key.story)? {
                out.push(story);
            }
        }
        Ok(out)
    }

    /// Index entries of a feed, newest first, strictly older than `before`.
    pub fn page_keys(&self, feed: &str, before: Option<&FeedKey>, limit: usize) -> Result<Vec<FeedKey>> {
        let prefix = keys::feed_prefix(feed);
        let end = match before {
            Some(b) => keys::feed_key(feed, b.time, &b.story),
            None => keys::prefix_end(&prefix),
        };
        let pairs = self.engine.range(Tree::Feeds, engine::Range::between(&prefix, &end).rev().limit(limit))?;
        Ok(pairs.iter().filter_map(|(k, _)| keys::parse_feed_key(&k[prefix.len()..])).collect())
    }

    /// Index entries of a feed with time >= `since`, newest first.
    pub fn keys_since(&self, feed: &str, since: Timestamp) -> Result<Vec<FeedKey>> {
        self.keys_between(feed, since, Timestamp::MAX)
    }

    /// The keys of `feed` whose story time is in `from..until`, newest first
    /// (a bounded range read of the feed index).
    pub fn keys_between(&self, feed: &str, from: Timestamp, until: Timestamp) -> Result<Vec<FeedKey>> {
        let start = keys::feed_key(feed, from, "");
        let end = keys::feed_key(feed, until, "");
        let prefix = keys::feed_prefix(feed);
        let pairs = self.engine.range(Tree::Feeds, engine::Range::between(&start, &end).rev())?;
        Ok(pairs.iter().filter_map(|(k, _)| keys::parse_feed_key(&k[prefix.len()..])).collect())
    }

    /// Delete up to `limit` stories whose time is before `before`, with their
    /// items, links and index entries; returns how many went. Oldest first, so
    /// a pass that stops at `limit` resumes where it ended.
    /// On PostgreSQL, one node prunes at a time (under the clustering lock,
    /// so that no story is counted out twice), and the clustering log loses
    /// its entries older than a day.
    pub fn prune(&self, before: Timestamp, limit: usize) -> Result<usize> {
        let _one_node = self.postgres().map(|pg| pg.lock_clustering()).transpose()?;
        if let Some(pg) = self.postgres() {
            pg.trim_log(std::time::Duration::from_secs(86_400))?;
        }
        let pruned = self.prune_some(before, limit);
        self.noted(pruned)
    }

    /// One pruning pass, applied all at once.
    fn prune_some(&self, before: Timestamp, limit: usize) -> Result<usize> {
        let prefix = keys::feed_prefix("all");
        let end = keys::feed_key("all", before, "");
        let oldest = self.engine.range(Tree::Feeds, engine::Range::between(&prefix, &end).limit(limit))?;
        let victims: Vec<String> =
            oldest.iter().filter_map(|(k, _)| keys::parse_feed_key(&k[prefix.len()..])).map(|fk| fk.story).collect();
        let mut w = apply::Writes::default();
        for id in &victims {
            if let Some(story) = self.story(id)? {
                self.plan_removal(&mut w, &story)?;
            }
        }
        self.engine.apply(&w)?;
        Ok(victims.len())
    }

    /// The writes that delete a story with its items, links, members and
    /// index entries, and the counters they move.
    fn plan_removal(&self, w: &mut apply::Writes, story: &Story) -> Result<()> {
        let id = &story.id;
        for m in self.story_members(story)? {
            let Some(item) = self.item(&m.key)? else { continue };
            if let Some(link) = &item.link {
                if self.story_for_link(link)?.as_deref() == Some(id.as_str()) {
                    w.tree(Tree::Links).remove(link.as_bytes());
                }
            }
            w.tree(Tree::Items).remove(m.key.as_bytes());
            w.count("items", -1);
            w.count(&source_items_key(&item.source), -1);
        }
        for tree in [Tree::Members, Tree::StorySources] {
            for (k, _) in self.scan_prefix(tree, &member_prefix(id))? {
                w.tree(tree).remove(k);
            }
        }
        for k in keys::feed_keys(story) {
            w.tree(Tree::Feeds).remove(k);
        }
        w.tree(Tree::Stories).remove(id.as_bytes());
        w.count("stories", -1);
        Ok(())
    }

    /// The names of the feeds that exist under a prefix (e.g. all tags: "t:").
    pub fn feed_names(&self, kind_prefix: &str) -> Result<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        let mut cursor = kind_prefix.as_bytes().to_vec();
        loop {
            let next = self
                .engine
                .range(Tree::Feeds, engine::Range { start: &cursor, end: None, rev: false, limit: Some(1) })?;
            let Some((k, _)) = next.into_iter().next() else {
                break;
            };
            if !k.starts_with(kind_prefix.as_bytes()) {
                break;
            }
            let Some(nul) = k.iter().position(|b| *b == 0) else {
                break;
            };
            out.push(String::from_utf8_lossy(&k[..nul]).into_owned());
            cursor = k[..nul].to_vec();
            cursor.push(1);
        }
        Ok(out)
    }

    /// How many stories a feed index holds (a scan of that feed: for `stats`).
    pub fn feed_len(&self, feed: &str) -> Result<u64> {
        Ok(self.scan_prefix(Tree::Feeds, &keys::feed_prefix(feed))?.len() as u64)
    }

    pub fn item_count(&self) -> Result<u64> {
        Ok(self.engine.number("items")?.unwrap_or(0))
    }

    /// How many new items were ever stored (never counted down: pruning
    /// leaves it).
    pub fn items_ever(&self) -> Result<u64> {
        Ok(self.engine.number("items_ever")?.unwrap_or(0))
    }

    /// When the stories were last settled (`Desk::settle`), by any node,
    /// and [`Store::items_ever`] then.
    pub fn last_settle(&self) -> Result<Option<(Timestamp, u64)>> {
        let at = self.engine.number("settled_at")?;
        let items = self.engine.number("settled_items")?.unwrap_or(0);
        Ok(at.map(|at| (at as Timestamp, items)))
    }

    /// Note a settle at `at`, with [`Store::items_ever`] at `items`.
    pub fn note_settle(&self, at: Timestamp, items: u64) -> Result<()> {
        self.engine.set_number("settled_items", items)?;
        let noted = self.engine.set_number("settled_at", at.max(0) as u64);
        self.noted(noted)
    }

    /// How many items of one source are stored.
    pub fn source_item_count(&self, source: &str) -> Result<u64> {
        Ok(self.engine.number(&source_items_key(source))?.unwrap_or(0))
    }

    /// A store written before per-source counts were kept starts them from
    /// the counts its source states held (once; a few reads per source).
    fn start_source_counts(&self) -> Result<()> {
        if self.engine.number("source_counts")?.is_some() {
            return Ok(());
        }
        for state in self.source_states()? {
            self.engine.set_number(&source_items_key(&state.id), state.items)?;
        }
        self.engine.set_number("source_counts", 1)
    }

    /// The story count without waiting: sled's counter, or on PostgreSQL
    /// the count the last flush read (a lost database must not hold up a
    /// health check).
    pub fn story_count_now(&self) -> u64 {
        match &self.engine {
            engine::Engine::Sled(_) => self.story_count().unwrap_or(0),
            engine::Engine::Postgres(_) => self.health.stories.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    pub fn story_count(&self) -> Result<u64> {
        Ok(self.engine.number("stories")?.unwrap_or(0))
    }

    /// Bytes the store takes on disk (a database's size, on PostgreSQL).
    pub fn size_on_disk(&self) -> Result<u64> {
        self.engine.size_on_disk()
    }

    /// How many records each table holds.
    pub fn table_sizes(&self) -> Result<Vec<(Tree, u64)>> {
        Tree::ALL.iter().map(|t| Ok((*t, self.engine.count(*t)?))).collect()
    }

    /// Copy every record and named number into `to` (which must be empty),
    /// a chunk at a time; `copied(n)` after each chunk. Records are copied as
    /// they are, so the copy serves the same bytes. The sizes are compared
    /// at the end.
    pub fn copy_into(&self, to: &Store, copied: &mut dyn FnMut(u64)) -> Result<u64> {
        if to.table_sizes()?.iter().any(|(_, n)| *n > 0) {
            return Err(StoreError::Database(format!(
                "{} is not empty: migrate copies into an empty store",
                to.path.display()
            )));
        }
        let mut total = 0;
        for tree in Tree::ALL {
            let mut cursor = Vec::new();
            loop {
                let range = engine::Range { start: &cursor, end: None, rev: false, limit: Some(COPY_CHUNK) };
                let chunk = self.engine.range(tree, range)?;
                let Some((last, _)) = chunk.last() else { break };
                cursor = last.clone();
                cursor.push(0);
                let n = chunk.len() as u64;
                let mut w = apply::Writes::default();
                let list = w.tree(tree);
                for (k, v) in chunk {
                    list.put(k, v);
                }
                to.engine.apply(&w)?;
                total += n;
                copied(n);
            }
        }
        for (name, v) in self.engine.numbers()? {
            to.engine.set_number(&name, v)?;
        }
        to.flush()?;
        let (here, there) = (self.table_sizes()?, to.table_sizes()?);
        if here != there {
            return Err(StoreError::Database(format!("the copy's tables hold {there:?}, the original's {here:?}")));
        }
        Ok(total)
    }
}

/// Records per write when copying a store.
const COPY_CHUNK: usize = 1000;

/// The meta key of a source's item count (source ids are `[a-z0-9-]+`, so
/// this cannot meet the other meta keys).
fn source_items_key(source: &str) -> String {
    format!("source-items:{source}")
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// What went wrong, without the "store I/O error" wrapping (for an open error).
fn cause(e: StoreError) -> String {
    cause_of(&e)
}

fn cause_of(e: &StoreError) -> String {
    match e {
        StoreError::Io(e) => sled_engine::describe_sled_error(e),
        other => other.to_string(),
    }
}
