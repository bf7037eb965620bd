//! Republishing: feeds are rendered from the store when their content changes
//! and kept as finished bytes (plain, gzip and brotli) in an immutable [`Snapshot`]
//! that the HTTP side reads without touching the store.

pub mod page;
pub mod render;
pub mod site;
pub mod websub;

use crate::config::Config;
use crate::model::{self, Story, Timestamp};
use crate::store::{FeedKey, Store, StoreError};
use arc_swap::ArcSwap;
use bytes::Bytes;
pub use render::Format;
use render::{EntryDoc, FeedDoc, SourceRef};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::Arc;
use xxhash_rust::xxh3::xxh3_64;

/// The most items one feed entry lists as its story's sources. A story is
/// rarely carried by more than a few hundred items; a source that files
/// thousands under one link (a broken or hostile feed) must not make every
/// feed that lists the story megabytes long. The story keeps all its items.
pub const MAX_LISTED_ITEMS: usize = 500;

/// The most stories one page request looks at. A filter that matches few
/// stories (`?lang=zz`) would otherwise walk the whole feed: past this many the
/// page ends where it got to, with a next link that goes on from there, so a
/// request costs the same whatever the store holds.
pub const SCAN_CAP: usize = 1000;

/// A finished response body with its validators.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub body: Bytes,
    pub gzip: Bytes,
    /// Brotli, for the standing feeds only (empty for on-demand variants,
    /// which are then sent gzipped: compressing per request costs too much).
    pub br: Bytes,
    pub etag: String,
    /// Seconds since the epoch, for `Last-Modified`.
    pub modified: Timestamp,
    pub content_type: &'static str,
    /// `ETag` and `Last-Modified` as finished header values, so a request
    /// only clones them.
    pub etag_header: hyper::header::HeaderValue,
    pub modified_header: hyper::header::HeaderValue,
}

impl Rendered {
    pub fn new(body: Vec<u8>, modified: Timestamp, content_type: &'static str) -> Rendered {
        let etag = format!("\"{:016x}\"", xxh3_64(&body));
        let mut gz = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::default());
        let gzip = gz.write_all(&body).and_then(|_| gz.finish()).unwrap_or_default();
        let date =
            httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(modified.max(0) as u64));
        let header = |s: String| {
            hyper::header::HeaderValue::from_maybe_shared(Bytes::from(s))
                .unwrap_or(hyper::header::HeaderValue::from_static(""))
        };
        Rendered {
            body: body.into(),
            gzip: gzip.into(),
            br: Bytes::new(),
            etag_header: header(etag.clone()),
            modified_header: header(date),
            etag,
            modified,
            content_type,
        }
    }

    /// Add the brotli body (quality 9: within a few per cent of 11's size on
    /// feeds at a fraction of its time; the window of 22 bits covers any feed).
    pub fn with_brotli(mut self) -> Rendered {
        let mut out = Vec::with_capacity(self.body.len() / 5);
        {
            let mut w = brotli::CompressorWriter::new(&mut out, 16 * 1024, 9, 22);
            if w.write_all(&self.body).and_then(|_| w.flush()).is_err() {
                return self;
            }
        }
        self.br = out.into();
        self
    }
}

/// What the HTTP side serves: request path → finished bytes.
#[derive(Default)]
pub struct Snapshot {
    pub files: HashMap<String, Arc<Rendered>>,
    /// Counts publications: a variant rendered from an older generation may be stale.
    pub generation: u64,
}

/// The `top` ranking as of the last publication: (story, distinct sources),
/// best first, and where each story sits, so a page of it is a slice.
#[derive(Default)]
struct Ranking {
    order: Vec<(FeedKey, usize)>,
    position: HashMap<String, usize>,
}

/// One page's stories and where the next page starts (`None`: the last page).
type Page = (Vec<Story>, Option<FeedKey>);

/// Feed names in the store index and in URLs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FeedName {
    All,
    Breaking,
    Top,
    Section(String),
    Region(String),
    Tag(String),
}

impl FeedName {
    /// The name of the store's feed index ("s:politics").
    pub fn index(&self) -> String {
        match self {
            FeedName::All | FeedName::Top => "all".into(),
            FeedName::Breaking => "breaking".into(),
            FeedName::Section(s) => format!("s:{s}"),
            FeedName::Region(r) => format!("r:{r}"),
            FeedName::Tag(t) => format!("t:{t}"),
        }
    }

    pub fn from_index(name: &str) -> Option<FeedName> {
        match name {
            "all" => Some(FeedName::All),
            "breaking" => Some(FeedName::Breaking),
            _ => {
                let (kind, rest) = name.split_once(':')?;
                match kind {
                    "s" => Some(FeedName::Section(rest.into())),
                    "r" => Some(FeedName::Region(rest.into())),
                    "t" => Some(FeedName::Tag(rest.into())),
                    _ => None,
                }
            }
        }
    }

    /// The request path of this feed in a format, e.g. `/feeds/regions/mena.atom`.
    pub fn path(&self, format: Format) -> String {
        let ext = format.ext();
        match self {
            FeedName::All => format!("/feeds/all.{ext}"),
            FeedName::Breaking => format!("/feeds/breaking.{ext}"),
            FeedName::Top => format!("/feeds/top.{ext}"),
            FeedName::Section(s) => format!("/feeds/{s}.{ext}"),
            FeedName::Region(r) => format!("/feeds/regions/{r}.{ext}"),
            FeedName::Tag(t) => format!("/feeds/tags/{}.{ext}", percent_encode(t)),
        }
    }
}

fn percent_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
}

/// A request for one page of a feed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageRequest {
    pub feed: FeedName,
    pub format: Format,
    pub limit: usize,
    pub lang: Option<String>,
    pub before: Option<FeedKey>,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("a page template failed: {0}")]
    Render(String),
}

pub struct Publisher {
    store: Store,
    config: ArcSwap<Config>,
    snapshot: ArcSwap<Snapshot>,
    secret: u64,
    started: Timestamp,
    /// Where changed feeds go for WebSub pings (set when a hub may be configured).
    websub: std::sync::OnceLock<websub::Topics>,
    /// Ranked by [`Publisher::publish`], read by `top` pages.
    ranking: ArcSwap<Ranking>,
}

impl Publisher {
    pub fn new(store: Store, config: Arc<Config>, now: Timestamp) -> Result<Publisher, PublishError> {
        let secret = store.secret()?;
        Ok(Publisher {
            store,
            config: ArcSwap::new(config),
            snapshot: ArcSwap::from_pointee(Snapshot::default()),
            secret,
            started: now,
            websub: std::sync::OnceLock::new(),
            ranking: ArcSwap::from_pointee(Ranking::default()),
        })
    }

    /// Send the self URL of every feed whose bytes change to `topics`.
    pub fn set_websub(&self, topics: websub::Topics) {
        let _ = self.websub.set(topics);
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// The snapshot for the length of one request: no reference count is
    /// touched (see `arc_swap::Guard`), so serving threads share no cache line.
    pub fn snapshot_ref(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.snapshot.load()
    }

    pub fn set_config(&self, config: Arc<Config>) {
        self.config.store(config);
    }

    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    /// Whether a feed exists (sections and regions exist even when empty).
    pub fn feed_exists(&self, feed: &FeedName) -> bool {
        let config = self.config.load();
        match feed {
            FeedName::All | FeedName::Breaking | FeedName::Top => true,
            FeedName::Section(s) => config.sections.iter().any(|x| &x.id == s),
            FeedName::Region(r) => config.regions.iter().any(|x| &x.id == r),
            FeedName::Tag(t) => self.store.page_keys(&format!("t:{t}"), None, 1).is_ok_and(|k| !k.is_empty()),
        }
    }

    /// The feeds rendered ahead of requests.
    fn standing_feeds(&self) -> Vec<FeedName> {
        let config = self.config.load();
        let mut out = vec![FeedName::All, FeedName::Breaking, FeedName::Top];
        out.extend(config.sections.iter().map(|s| FeedName::Section(s.id.clone())));
        out.extend(config.regions.iter().map(|r| FeedName::Region(r.id.clone())));
        out
    }

    /// Render every standing feed and publish a fresh snapshot.
    pub fn publish_all(&self, now: Timestamp) -> Result<(), PublishError> {
        let feeds: HashSet<FeedName> = self.standing_feeds().into_iter().collect();
        self.publish(&feeds, now, true)
    }

    /// Re-render the given feeds (plus `top`, which any change may reorder).
    /// With `replace`, feeds not listed are dropped from the snapshot.
    pub fn publish(&self, feeds: &HashSet<FeedName>, now: Timestamp, replace: bool) -> Result<(), PublishError> {
        let standing: HashSet<FeedName> = self.standing_feeds().into_iter().collect();
        let old = self.snapshot.load_full();
        let mut files = if replace { HashMap::new() } else { old.files.clone() };
        let mut todo: Vec<&FeedName> = feeds.iter().filter(|f| standing.contains(f)).collect();
        if !feeds.is_empty() && !feeds.contains(&FeedName::Top) {
            todo.push(&FeedName::Top);
        }
        if !todo.is_empty() {
            self.rank_top(now)?;
        }
        for feed in todo {
            let limit = self.config.load().server.feed_items;
            for format in Format::ALL {
                let req = PageRequest { feed: feed.clone(), format, limit, lang: None, before: None };
                let rendered = self.render_page(&req, now)?.with_brotli();
                files.insert(feed.path(format), Arc::new(rendered));
            }
        }
        if replace || !feeds.is_empty() {
            let config = self.config.load_full();
            // The pages everyone shares: the editions' front pages and the
            // first page of every section and region.
            for lang in site::Lang::ALL {
                files.insert(lang.home(), Arc::new(self.front_page(lang, now)?));
            }
            // A section's or region's first page, in each edition, is
            // rendered again when its feed changed (or on a full
            // publication); the others keep their bytes.
            for feed in self.standing_feeds() {
                if !matches!(feed, FeedName::Section(_) | FeedName::Region(_)) {
                    continue;
                }
                for lang in site::Lang::ALL {
                    let path = format!("{}{}", lang.prefix(), site::listing_path(&feed));
                    if !(replace || feeds.contains(&feed) || !files.contains_key(&path)) {
                        continue;
                    }
                    match self.listing_page(lang, &feed, None, now) {
                        Ok(r) => {
                            files.insert(path, Arc::new(r));
                        }
                        Err(site::PageError::Store(e)) => return Err(e),
                        Err(_) => {}
                    }
                }
            }
            files.insert(
                "/opml".into(),
                Arc::new(Rendered::new(page::opml(&config), self.started, "text/x-opml; charset=utf-8").with_brotli()),
            );
        }
        self.ping_changed(&old, &files);
        self.snapshot.store(Arc::new(Snapshot { files, generation: old.generation + 1 }));
        Ok(())
    }

    /// Queue a WebSub ping for every feed whose bytes differ from the previous
    /// snapshot. The first snapshot after start has nothing to differ from.
    fn ping_changed(&self, old: &Snapshot, files: &HashMap<String, Arc<Rendered>>) {
        let Some(topics) = self.websub.get() else {
            return;
        };
        let config = self.config.load();
        if config.server.websub_hub.is_none() || old.files.is_empty() {
            return;
        }
        let base = config.server.public_url.as_str().trim_end_matches('/');
        let mut dropped = 0;
        for (path, r) in files.iter().filter(|(p, _)| p.starts_with("/feeds/")) {
            if old.files.get(path).is_some_and(|o| o.etag == r.etag) {
                continue;
            }
            if !topics.offer(format!("{base}{path}")) {
                dropped += 1;
            }
        }
        if dropped > 0 {
            tracing::warn!(dropped, "WebSub: the ping queue is full; these changes are not announced");
        }
    }

    /// Render one page of a feed (used for the standing feeds and for variants
    /// with `limit`, `lang` or `before`).
    pub fn render_page(&self, req: &PageRequest, now: Timestamp) -> Result<Rendered, PublishError> {
        let config = self.config.load_full();
        let (stories, next) = self.select(req, now)?;
        let mut entries = Vec::with_capacity(stories.len());
        for story in stories {
            if let Some(e) = self.entry(&config, story, now)? {
                entries.push(e);
            }
        }
        let base = config.server.public_url.as_str().trim_end_matches('/').to_string();
        let query = |before: Option<String>| {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            if req.limit != config.server.feed_items {
                q.append_pair("limit", &req.limit.to_string());
            }
            if let Some(l) = &req.lang {
                q.append_pair("lang", l);
            }
            if let Some(b) = before {
                q.append_pair("before", &b);
            }
            let q = q.finish();
            if q.is_empty() {
                q
            } else {
                format!("?{q}")
            }
        };
        let path = req.feed.path(req.format);
        let before = req.before.as_ref().map(|b| self.cursor(b));
        let self_url = format!("{base}{path}{}", query(before));
        let next_url = next.map(|key| format!("{base}{path}{}", query(Some(self.cursor(&key)))));
        let updated = entries.iter().map(|e| e.story.updated.max(e.story.time)).max().unwrap_or(self.started);
        let doc = FeedDoc {
            title: feed_title(&config, &req.feed),
            self_url,
            home_url: format!("{base}/"),
            next_url,
            hub: config.server.websub_hub.as_ref().map(|u| u.to_string()),
            updated,
            entries,
        };
        Ok(Rendered::new(render::render(&doc, req.format), updated, req.format.content_type()))
    }

    /// The stories of a page, and where the next page starts. At most
    /// [`SCAN_CAP`] stories are looked at.
    fn select(&self, req: &PageRequest, now: Timestamp) -> Result<Page, PublishError> {
        let config = self.config.load();
        if req.feed == FeedName::Top {
            return self.top(req);
        }
        let index = req.feed.index();
        let oldest = match req.feed {
            FeedName::Breaking => model::before(now, config.breaking.max_age),
            _ => i64::MIN,
        };
        let mut out = Vec::new();
        let mut cursor = req.before.clone();
        let mut looked = 0;
        let chunk = req.limit.max(16);
        loop {
            let keys = self.store.page_keys(&index, cursor.as_ref(), chunk)?;
            let exhausted = keys.len() < chunk;
            for key in &keys {
                if key.time < oldest {
                    return Ok((out, None));
                }
                if out.len() == req.limit || looked == SCAN_CAP {
                    return Ok((out, cursor));
                }
                looked += 1;
                cursor = Some(key.clone());
                if let Some(story) = self.wanted(&key.story, req)? {
                    out.push(story);
                }
            }
            if exhausted {
                return Ok((out, None));
            }
        }
    }

    /// A story, unless it is gone or the request's language filter leaves it out.
    fn wanted(&self, id: &str, req: &PageRequest) -> Result<Option<Story>, PublishError> {
        let Some(story) = self.store.story(id)? else {
            return Ok(None);
        };
        if let Some(lang) = &req.lang {
            if !self.story_language(&story)?.eq_ignore_ascii_case(lang) {
                return Ok(None);
            }
        }
        Ok(Some(story))
    }

    /// Rank the most covered stories of the last 24 hours (a walk of that
    /// day, done once per publication rather than per request).
    fn rank_top(&self, now: Timestamp) -> Result<(), PublishError> {
        let mut order = Vec::new();
        for key in self.store.keys_since("all", now - 86_400)? {
            let Some(story) = self.store.story(&key.story)? else {
                continue;
            };
            order.push((key, self.distinct_sources(&story)?));
        }
        order.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.time.cmp(&a.0.time)).then(a.0.story.cmp(&b.0.story)));
        let position = order.iter().enumerate().map(|(i, (k, _))| (k.story.clone(), i)).collect();
        self.ranking.store(Arc::new(Ranking { order, position }));
        Ok(())
    }

    /// A page of the most covered stories, from the last ranking. A `before`
    /// cursor names the last story of the previous page: the page goes on
    /// after it in the ranking (empty once it has left the ranking).
    fn top(&self, req: &PageRequest) -> Result<Page, PublishError> {
        let ranking = self.ranking.load();
        let start = match &req.before {
            None => 0,
            Some(key) => ranking.position.get(&key.story).map_or(ranking.order.len(), |i| i + 1),
        };
        let mut out = Vec::new();
        let mut last = None;
        for (looked, (key, _)) in ranking.order.iter().skip(start).enumerate() {
            if out.len() == req.limit || looked == SCAN_CAP {
                return Ok((out, last));
            }
            last = Some(key.clone());
            if let Some(story) = self.wanted(&key.story, req)? {
                out.push(story);
            }
        }
        Ok((out, None))
    }

    fn distinct_sources(&self, story: &Story) -> Result<usize, PublishError> {
        if !story.sources.is_empty() {
            return Ok(story.distinct_sources());
        }
        let members = self.store.story_members(story)?;
        Ok(members.iter().map(|m| m.source.as_str()).collect::<HashSet<_>>().len())
    }

    fn story_language(&self, story: &Story) -> Result<String, PublishError> {
        let first = match &story.first {
            Some(m) => self.store.item(&m.key)?,
            None => match self.store.story_members(story)?.first() {
                Some(m) => self.store.item(&m.key)?,
                None => None,
            },
        };
        Ok(first.and_then(|i| i.language).unwrap_or_default())
    }

    /// A feed entry lists every item of its story (first item first) up to
    /// [`MAX_LISTED_ITEMS`].
    fn entry(&self, config: &Config, story: Story, now: Timestamp) -> Result<Option<EntryDoc>, PublishError> {
        // The first item is read whole; the others as the story's members
        // record them.
        let members = self.store.story_members(&story)?;
        let mut first = None;
        let mut sources = Vec::with_capacity(members.len().min(MAX_LISTED_ITEMS));
        let mut titles: HashMap<String, String> = HashMap::new();
        for m in members {
            if sources.len() >= MAX_LISTED_ITEMS {
                break;
            }
            if first.is_none() {
                match self.store.item(&m.key)? {
                    Some(i) => first = Some(i),
                    None => continue,
                }
            }
            let title = match titles.get(&m.source) {
                Some(t) => String::clone(t),
                None => {
                    let t = self.source_title(config, &m.source)?;
                    titles.insert(m.source.clone(), t.clone());
                    t
                }
            };
            sources.push(SourceRef { id: m.source, title, url: m.link, published: m.published });
        }
        let Some(first) = first else {
            return Ok(None);
        };
        let breaking = story.breaking && story.time >= model::before(now, config.breaking.max_age);
        Ok(Some(EntryDoc { language: first.language.clone().unwrap_or_default(), first, sources, breaking, story }))
    }

    fn source_title(&self, config: &Config, id: &str) -> Result<String, PublishError> {
        if let Some(t) = config.source(id).and_then(|s| s.title.clone()) {
            return Ok(t);
        }
        Ok(self.store.source_state(id)?.and_then(|s| s.title).unwrap_or_else(|| id.to_string()))
    }

    /// An opaque `before` cursor for a position in a feed.
    pub fn cursor(&self, key: &FeedKey) -> String {
        let check = xxh3_64(format!("{}:{}:{}", self.secret, key.time, key.story).as_bytes()) & 0xffff_ffff;
        format!("{:x}.{}.{:08x}", key.time, key.story, check)
    }

    /// Read a cursor back; `None` for one this store never issued.
    pub fn parse_cursor(&self, s: &str) -> Option<FeedKey> {
        let mut parts = s.split('.');
        let time = i64::from_str_radix(parts.next()?, 16).ok()?;
        let story = parts.next()?.to_string();
        let check = parts.next()?;
        if parts.next().is_some() {
            return None;
        }
        let key = FeedKey { time, story };
        (self.cursor(&key).rsplit('.').next() == Some(check)).then_some(key)
    }
}

/// "<title> — Politics"
pub fn feed_title(config: &Config, feed: &FeedName) -> String {
    let site = &config.server.title;
    let name = match feed {
        FeedName::All => return site.clone(),
        FeedName::Breaking => "Breaking".to_string(),
        FeedName::Top => "Top stories".to_string(),
        FeedName::Section(s) => {
            config.sections.iter().find(|x| &x.id == s).map(|x| x.title.clone()).unwrap_or_else(|| s.clone())
        }
        FeedName::Region(r) => {
            config.regions.iter().find(|x| &x.id == r).map(|x| x.title.clone()).unwrap_or_else(|| r.clone())
        }
        FeedName::Tag(t) => format!("#{t}"),
    };
    format!("{site} — {name}")
}
