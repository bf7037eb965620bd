//! The only code that touches sled. Everything else asks for records and pages
//! ("stories in feed X newest first before cursor C") through [`Store`], which
//! exposes no sled type, so another engine can take its place.
//!
//! Layout (trees): `items` key → Item, `stories` id → Story, `feeds`
//! feed \0 time story-id → (), `links` canonical link → story id, `sources`
//! id → SourceState, `meta` → format version and counters. Every value starts
//! with a format-version byte.

mod apply;
mod keys;
mod merge;

pub use keys::{story_feeds, FeedKey};

use crate::model::{Item, Member, SourceState, Story, Timestamp};
use serde::{de::DeserializeOwned, Serialize};
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
    #[error("store I/O error: {}", describe_sled_error(.0))]
    Io(#[from] sled::Error),
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
}

/// The last write the store could not make (the disk full, the device gone),
/// shared by every clone of a [`Store`], for health checks.
#[derive(Default)]
struct WriteHealth {
    /// What failed, in plain words, and when (seconds since the epoch).
    failure: std::sync::Mutex<Option<(String, Timestamp)>>,
}

#[derive(Clone)]
pub struct Store {
    path: PathBuf,
    health: std::sync::Arc<WriteHealth>,
    db: sled::Db,
    items: sled::Tree,
    stories: sled::Tree,
    /// story id, NUL, item key → [`Member`]
    members: sled::Tree,
    /// story id, NUL, source id → nothing: every source of every story.
    story_sources: sled::Tree,
    feeds: sled::Tree,
    links: sled::Tree,
    sources: sled::Tree,
    meta: sled::Tree,
    /// absorbed story id → the id of the story it merged into.
    redirects: sled::Tree,
    /// The same, for merges an older release had not finished when it
    /// stopped (it made a merge's writes one by one); read at open.
    merging: sled::Tree,
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

/// sled's page cache (its default is 1 GiB): feeds are served from rendered
/// snapshots, so the store is read little once they are built.
const CACHE_BYTES: u64 = 64 << 20;

impl Store {
    /// Open (or create) the store at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        // Errors name the folder as an operator finds it, whatever the working directory.
        let shown = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let open_err = |cause: String| StoreError::Open { path: shown.clone(), cause };
        std::fs::create_dir_all(path).map_err(|e| open_err(e.to_string()))?;
        // sled writes `conf` when it creates a store; see the format check below.
        let existed = path.join("conf").exists();
        // sled panics on some corrupt files instead of returning an error.
        // A handle being dropped (a previous owner in this process, a process
        // that is exiting) can hold the lock for a moment: retry for about a second.
        let mut tries = 0;
        let db = loop {
            let opened = quiet_catch_unwind(|| {
                sled::Config::new().path(path).mode(sled::Mode::LowSpace).cache_capacity(CACHE_BYTES).open()
            });
            match opened {
                Ok(Ok(db)) => break db,
                Ok(Err(e)) if is_locked(&e) && tries < 20 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Ok(Err(e)) => return Err(open_err(describe_sled_error(&e))),
                Err(_) => return Err(open_err("the store files are corrupt".into())),
            }
        };
        let tree = |name: &str| db.open_tree(name).map_err(|e| open_err(describe_sled_error(&e)));
        let store = Store {
            path: path.to_path_buf(),
            health: Default::default(),
            items: tree("items")?,
            stories: tree("stories")?,
            members: tree("members")?,
            story_sources: tree("story_sources")?,
            feeds: tree("feeds")?,
            links: tree("links")?,
            sources: tree("sources")?,
            meta: tree("meta")?,
            redirects: tree("redirects")?,
            merging: tree("merging")?,
            db,
        };
        // The first reads after opening can meet damage sled did not see: still
        // an open failure, naming the path.
        let format = store.meta_u64("format").map_err(|e| open_err(cause(e)))?;
        match format {
            // sled opens a `db` file that was truncated or overwritten (with no
            // snapshot beside it) as an empty store: refuse it rather than
            // silently start over and lose every record.
            None if existed => return Err(open_err("the store files are corrupt (its records are gone)".into())),
            None => {
                store.set_meta_u64("format", FORMAT_VERSION).map_err(|e| open_err(cause(e)))?;
                // Durable at once, so a new store is never mistaken for a damaged one.
                store.flush().map_err(|e| open_err(cause(e)))?;
            }
            Some(v) if v > FORMAT_VERSION => return Err(StoreError::Version { path: shown, found: v }),
            Some(_) => {}
        }
        store.start_source_counts().map_err(|e| open_err(cause(e)))?;
        let finished = store.finish_interrupted_merges().map_err(|e| open_err(cause(e)))?;
        if finished > 0 {
            tracing::info!(path = %store.path.display(), merges = finished, "finished story merges a stop interrupted");
        }
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn meta_u64(&self, key: &str) -> Result<Option<u64>> {
        Ok(self.meta.get(key)?.and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok()).map(u64::from_be_bytes))
    }

    fn set_meta_u64(&self, key: &str, v: u64) -> Result<()> {
        self.meta.insert(key, &v.to_be_bytes())?;
        Ok(())
    }

    fn add_meta(&self, key: &str, delta: i64) -> Result<()> {
        if delta == 0 {
            return Ok(());
        }
        self.meta.fetch_and_update(key, |old| {
            let cur = old.and_then(|v| <[u8; 8]>::try_from(v).ok()).map(u64::from_be_bytes).unwrap_or(0);
            Some(cur.saturating_add_signed(delta).to_be_bytes().to_vec())
        })?;
        Ok(())
    }

    /// A random value created once per store (used to sign cursors).
    pub fn secret(&self) -> Result<u64> {
        if let Some(v) = self.meta_u64("secret")? {
            return Ok(v);
        }
        let v = self.db.generate_id()? ^ (std::process::id() as u64).rotate_left(32) ^ now_nanos();
        self.set_meta_u64("secret", v)?;
        Ok(v)
    }

    pub fn item(&self, key: &str) -> Result<Option<Item>> {
        self.items.get(key)?.map(|v| decode(key.as_bytes(), &v)).transpose()
    }

    pub fn story(&self, id: &str) -> Result<Option<Story>> {
        self.stories.get(id)?.map(|v| decode(id.as_bytes(), &v)).transpose()
    }

    /// A story's items, first item first. A story of one item keeps it in its
    /// record (`first`) alone, with nothing in the members table until a
    /// second item joins. A story stored by an older release (which listed
    /// only its item keys) has its items read instead.
    pub fn story_members(&self, story: &Story) -> Result<Vec<Member>> {
        // `size` is a hint from a record; a damaged one must not reserve gigabytes.
        let mut out = Vec::with_capacity((story.size as usize).min(1024));
        for r in self.members.scan_prefix(member_prefix(&story.id)) {
            let (k, v) = r?;
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
        Ok(self.story_sources.contains_key(k)?)
    }

    /// The story that already carries this canonical link, if any.
    pub fn story_for_link(&self, link: &str) -> Result<Option<String>> {
        Ok(self.links.get(link)?.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    pub fn source_state(&self, id: &str) -> Result<Option<SourceState>> {
        self.sources.get(id)?.map(|v| decode(id.as_bytes(), &v)).transpose()
    }

    pub fn put_source_state(&self, state: &SourceState) -> Result<()> {
        let written = self.sources.insert(state.id.as_bytes(), encode(state));
        self.noted(written.map(drop).map_err(StoreError::from))
    }

    pub fn source_states(&self) -> Result<Vec<SourceState>> {
        self.sources.iter().map(|r| r.map_err(StoreError::from).and_then(|(k, v)| decode(&k, &v))).collect()
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
        self.apply_writes(&writes)
    }

    /// Make everything written so far durable.
    pub fn flush(&self) -> Result<()> {
        let flushed = self.db.flush().map(drop).map_err(StoreError::from);
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
        let mut out = Vec::new();
        for r in self.feeds.range(prefix.clone()..end).rev() {
            if out.len() >= limit {
                break;
            }
            let (k, _) = r?;
            if let Some(fk) = keys::parse_feed_key(&k[prefix.len()..]) {
                out.push(fk);
            }
        }
        Ok(out)
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
        let mut out = Vec::new();
        for r in self.feeds.range(start..end).rev() {
            let (k, _) = r?;
            if let Some(fk) = keys::parse_feed_key(&k[prefix.len()..]) {
                out.push(fk);
            }
        }
        Ok(out)
    }

    /// Delete up to `limit` stories whose time is before `before`, with their
    /// items, links and index entries; returns how many went. Oldest first, so
    /// a pass that stops at `limit` resumes where it ended.
    pub fn prune(&self, before: Timestamp, limit: usize) -> Result<usize> {
        let pruned = self.prune_some(before, limit);
        self.noted(pruned)
    }

    fn prune_some(&self, before: Timestamp, limit: usize) -> Result<usize> {
        let prefix = keys::feed_prefix("all");
        let end = keys::feed_key("all", before, "");
        let mut victims = Vec::new();
        for r in self.feeds.range(prefix.clone()..end).take(limit) {
            let (k, _) = r?;
            if let Some(fk) = keys::parse_feed_key(&k[prefix.len()..]) {
                victims.push(fk.story);
            }
        }
        let (mut items_gone, mut stories_gone) = (0i64, 0i64);
        let mut gone_by_source: std::collections::HashMap<String, i64> = Default::default();
        for id in &victims {
            let Some(story) = self.story(id)? else { continue };
            for m in self.story_members(&story)? {
                let key = &m.key;
                if let Some(item) = self.item(key)? {
                    if let Some(link) = &item.link {
                        if self.story_for_link(link)?.as_deref() == Some(id.as_str()) {
                            self.links.remove(link.as_bytes())?;
                        }
                    }
                    self.items.remove(key.as_bytes())?;
                    items_gone += 1;
                    *gone_by_source.entry(item.source).or_default() += 1;
                }
            }
            for tree in [&self.members, &self.story_sources] {
                for r in tree.scan_prefix(member_prefix(id)) {
                    tree.remove(r?.0)?;
                }
            }
            for k in keys::feed_keys(&story) {
                self.feeds.remove(k)?;
            }
            self.stories.remove(id.as_bytes())?;
            stories_gone += 1;
        }
        self.add_meta("items", -items_gone)?;
        for (source, n) in gone_by_source {
            self.add_meta(&source_items_key(&source), -n)?;
        }
        self.add_meta("stories", -stories_gone)?;
        Ok(victims.len())
    }

    /// The names of the feeds that exist under a prefix (e.g. all tags: "t:").
    pub fn feed_names(&self, kind_prefix: &str) -> Result<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        let mut cursor = kind_prefix.as_bytes().to_vec();
        loop {
            let Some(r) = self.feeds.range(cursor.clone()..).next() else {
                break;
            };
            let (k, _) = r?;
            if !k.starts_with(kind_prefix.as_bytes()) {
                break;
            }
            let Some(nul) = k.iter().position(|b| *b == 0) else {
                break;
            };
            let name = String::from_utf8_lossy(&k[..nul]).into_owned();
            cursor = k[..nul].to_vec();
            cursor.push(1);
            out.push(name);
        }
        Ok(out)
    }

    /// How many stories a feed index holds (a scan of that feed: for `stats`).
    pub fn feed_len(&self, feed: &str) -> Result<u64> {
        let prefix = keys::feed_prefix(feed);
        let mut n = 0;
        for r in self.feeds.scan_prefix(prefix) {
            r?;
            n += 1;
        }
        Ok(n)
    }

    pub fn item_count(&self) -> Result<u64> {
        Ok(self.meta_u64("items")?.unwrap_or(0))
    }

    /// How many items of one source are stored.
    pub fn source_item_count(&self, source: &str) -> Result<u64> {
        Ok(self.meta_u64(&source_items_key(source))?.unwrap_or(0))
    }

    /// A store written before per-source counts were kept starts them from
    /// the counts its source states held (once; a few reads per source).
    fn start_source_counts(&self) -> Result<()> {
        if self.meta_u64("source_counts")?.is_some() {
            return Ok(());
        }
        for state in self.source_states()? {
            self.set_meta_u64(&source_items_key(&state.id), state.items)?;
        }
        self.set_meta_u64("source_counts", 1)
    }

    pub fn story_count(&self) -> Result<u64> {
        Ok(self.meta_u64("stories")?.unwrap_or(0))
    }

    /// Bytes the store takes on disk.
    pub fn size_on_disk(&self) -> Result<u64> {
        Ok(self.db.size_on_disk()?)
    }
}

/// The meta key of a source's item count (source ids are `[a-z0-9-]+`, so
/// this cannot meet the other meta keys).
fn source_items_key(source: &str) -> String {
    format!("source-items:{source}")
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// sled reports a held lock as an I/O error whose text names the lock.
fn is_locked(e: &sled::Error) -> bool {
    match e {
        sled::Error::Io(io) => {
            io.kind() == std::io::ErrorKind::WouldBlock
                || io.raw_os_error() == Some(11)
                || io.to_string().contains("could not acquire lock")
        }
        _ => false,
    }
}

/// `catch_unwind` without the panic message on stderr: a corrupt store must end
/// in one line naming the path and cause, not a panic trace. The hook is
/// process-wide, so it is swapped only for the duration of the call.
fn quiet_catch_unwind<T>(f: impl FnOnce() -> T + std::panic::UnwindSafe) -> std::thread::Result<T> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(f);
    std::panic::set_hook(previous);
    result
}

/// What went wrong, without the "store I/O error" wrapping (for an open error).
fn cause(e: StoreError) -> String {
    cause_of(&e)
}

fn cause_of(e: &StoreError) -> String {
    match e {
        StoreError::Io(e) => describe_sled_error(e),
        other => other.to_string(),
    }
}

/// An I/O error in plain words. sled hands some OS errors on wrapped in a
/// custom error whose text is Rust debug output (`Os { code: 28, ... }`).
fn describe_io(io: &std::io::Error) -> String {
    if io.kind() == std::io::ErrorKind::StorageFull {
        return "no space left on device".into();
    }
    if let Some(code) = io.raw_os_error() {
        return std::io::Error::from_raw_os_error(code).to_string();
    }
    let text = io.to_string();
    if text.contains("Os {") || text.contains("Custom {") {
        io.kind().to_string()
    } else {
        text
    }
}

fn describe_sled_error(e: &sled::Error) -> String {
    match e {
        e if is_locked(e) => "it is locked by another process (is a newsdesk already running on it?)".into(),
        sled::Error::Io(io) if io.kind() == std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        sled::Error::Io(io) => describe_io(io),
        sled::Error::Corruption { .. } => "the store files are corrupt".into(),
        // sled says "Unsupported" when its `conf` file holds garbage.
        sled::Error::Unsupported(_) => "the store files are corrupt (or from an unknown sled version)".into(),
        other => other.to_string(),
    }
}
