//! The data path, top to bottom: [`refresh_source`] fetches a source, parses
//! and normalises its document, and hands the entries to [`Desk::ingest`],
//! which identifies, clusters, categorises and stores them. Publishing the
//! changed feeds is the caller's next step.

use crate::categorize::{self, Categorizer};
use crate::config::{Config, Source};
use crate::model::{self, Item, Member, SourceState, SourceStatus, Story, Timestamp};
use crate::parse::{self, identity};
use crate::poll::fetch::{FetchError, Fetched, Fetcher, Validators};
use crate::poll::schedule::{self, Plan};
use crate::poll::{self, hints};
use crate::publish::FeedName;
use crate::store::{Changes, Store, StoreError, StoryChange};
use crate::stories::{self, StoryIndex};
use crate::text;
use arc_swap::ArcSwap;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// The shared state of the pipeline: the store and the rules in force.
pub struct Desk {
    pub store: Store,
    /// Swapped whole on reload: see [`Runtime`].
    runtime: ArcSwap<Runtime>,
    /// The stories inside the dedup window. Clustering decisions depend on each
    /// other, so this lock makes the clustering part of ingests run one at a
    /// time (identifying and sanitising run before it: see `sources`).
    /// `None` until first use: see [`Desk::new`].
    index: Mutex<Option<Window>>,
    /// Ingests of one source run one at a time (a stripe of locks, by source
    /// id): only they write that source's items, so what an ingest reads of
    /// them before taking `index` is still true under it.
    sources: [Mutex<()>; SOURCE_STRIPES],
}

/// The clustering index and the span of story times it holds whole: every
/// stored story whose time is `since` or later is in it. The span follows the
/// items, not the clock: an item published long ago (a backlog, a catch-up
/// after downtime, a replay) first brings the stories of its own window in
/// from the store, so it clusters as it would have live.
struct Window {
    index: StoryIndex,
    since: Timestamp,
}

/// The clustering index evicts stories older than the live window (twice
/// `dedup.window` before now) only while it holds more stories than this.
const INDEX_STORIES_KEPT: usize = 10_000;

/// Lock stripes for [`Desk::sources`]: two sources share one rarely, and then
/// only wait for each other's identifying and sanitising.
const SOURCE_STRIPES: usize = 64;

/// Everything a poll runs with that the configuration decides: one value,
/// swapped whole on reload (SIGHUP). A poll reads it once when it starts and
/// finishes with it, so a reload never changes the rules under a running poll
/// and never has to stop one.
pub struct Runtime {
    pub config: Arc<Config>,
    pub categorizer: Categorizer,
    pub fetcher: Fetcher,
    pub limits: Arc<poll::Limits>,
}

impl Runtime {
    /// Build what `config` needs; the host limits (and the hosts held back by
    /// Retry-After) carry over from `previous`.
    pub fn new(config: Arc<Config>, previous: Option<&Runtime>) -> Result<Runtime, FetchError> {
        let fetcher = Fetcher::new(&config.poll)?;
        let (concurrency, per_host) = (config.poll.concurrency, config.poll.per_host);
        let limits = match previous {
            Some(p) => p.limits.carried(concurrency, per_host),
            None => Arc::new(poll::Limits::new(concurrency, per_host)),
        };
        Ok(Runtime { categorizer: Categorizer::new(&config), config, fetcher, limits })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot build the HTTP client: {0}")]
    Fetcher(#[from] FetchError),
}

/// What one ingest changed.
#[derive(Debug, Default)]
pub struct IngestReport {
    pub new: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Items older than `retention` on arrival: not stored.
    pub too_old: usize,
    pub feeds: HashSet<FeedName>,
    /// Stories that became breaking in this ingest (within `max_age`).
    pub became_breaking: Vec<crate::events::BreakingNews>,
}

/// How one poll of one source ended.
#[derive(Debug)]
pub struct PollOutcome {
    pub source: String,
    pub status: SourceStatus,
    pub report: IngestReport,
    pub error: Option<String>,
    /// The host asked (Retry-After on 429/503) not to be polled before this.
    pub hold_host_until: Option<Timestamp>,
    /// How long the poll took, fetch to store.
    pub elapsed: std::time::Duration,
}

pub fn now() -> Timestamp {
    chrono::Utc::now().timestamp()
}

impl Desk {
    /// A desk over `store`. The clustering index (the stories inside the dedup
    /// window) is rebuilt on first use, not here: re-filing and signing every
    /// item of the last two windows takes seconds on a big store, and the
    /// daemon must serve within two (DESIGN.md budgets). `run` warms it in the
    /// background with [`Desk::load_index`]; an ingest that comes first builds it.
    pub fn new(store: Store, config: Arc<Config>) -> Result<Desk, DeskError> {
        Ok(Desk {
            store,
            runtime: ArcSwap::from_pointee(Runtime::new(config, None)?),
            index: Mutex::new(None),
            sources: std::array::from_fn(|_| Mutex::new(())),
        })
    }

    /// Build the clustering index now, if no ingest has yet (idempotent).
    pub fn load_index(&self) -> Result<(), StoreError> {
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        if index.is_none() {
            *index = Some(self.build_index(&self.runtime(), now())?);
        }
        Ok(())
    }

    /// The index from the stories inside twice the dedup window before `now`
    /// (a bounded read of the `all` feed index, not a scan of the store).
    fn build_index(&self, rt: &Runtime, now: Timestamp) -> Result<Window, StoreError> {
        let since = now.saturating_sub(model::secs(rt.config.dedup.window).saturating_mul(2));
        let mut window = Window { index: StoryIndex::default(), since: Timestamp::MAX };
        self.cover(&rt.categorizer, &mut window, since)?;
        Ok(window)
    }

    /// Widen `window` back to `since`: the stories stored with a time from
    /// `since` up to what it holds already are read in (a range of the `all`
    /// feed index, bounded by the span asked for).
    fn cover(&self, categorizer: &Categorizer, window: &mut Window, since: Timestamp) -> Result<(), StoreError> {
        if since >= window.since {
            return Ok(());
        }
        for key in self.store.keys_between("all", since, window.since)? {
            if window.index.contains(&key.story) {
                continue;
            }
            let Some(story) = self.store.story(&key.story)? else { continue };
            // The index keeps only a story's first few signatures.
            for m in self.store.story_members(&story)?.iter().take(stories::index::SIGNATURES_PER_STORY) {
                if let Some(item) = self.store.item(&m.key)? {
                    window.index.add(&story.id, m.published, file_item(categorizer, &item).1);
                }
            }
        }
        window.since = since;
        Ok(())
    }

    pub fn config(&self) -> Arc<Config> {
        self.runtime.load().config.clone()
    }

    /// The rules in force now.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.runtime.load_full()
    }

    /// Swap in a new runtime (SIGHUP): polls that start from now on use it;
    /// those under way finish with the one they started with.
    pub fn swap(&self, runtime: Runtime) {
        self.runtime.store(Arc::new(runtime));
    }

    /// Identify, cluster, categorise and store the entries of one parsed
    /// document, by the rules in force now.
    pub fn ingest(&self, source: &Source, feed: &parse::Feed, now: Timestamp) -> Result<IngestReport, StoreError> {
        self.ingest_with(&self.runtime(), source, feed, now)
    }

    /// [`Desk::ingest`] by the rules of `rt` (those its poll started with).
    pub fn ingest_with(
        &self,
        rt: &Runtime,
        source: &Source,
        feed: &parse::Feed,
        now: Timestamp,
    ) -> Result<IngestReport, StoreError> {
        // Before taking the index lock (other sources' ingests run meanwhile):
        // which stored item each entry is, whether its summary was made from
        // the same text as that item's, and the sanitised summary of each
        // entry that will need it (new and not too old, or made from other
        // text). A source's items are written only by its own ingests, which
        // run one at a time (the source's stripe lock, held to the end), so
        // two ingests of one document at once cannot both add an item.
        let stripe = xxhash_rust::xxh3::xxh3_64(source.id.as_bytes()) as usize % SOURCE_STRIPES;
        let _source = self.sources[stripe].lock().unwrap_or_else(|p| p.into_inner());
        let config = &rt.config;
        let oldest = model::before(now, config.storage.retention);
        let mut entries = Vec::with_capacity(feed.entries.len());
        let mut seen: HashSet<String> = HashSet::new();
        for entry in &feed.entries {
            let ident = identity::identity(entry);
            let key = identity::item_key(&source.id, &ident);
            if !seen.insert(key.clone()) {
                continue; // the same identity twice in one document: the first wins
            }
            let existing = self.store.item(&key)?;
            let same_source =
                existing.as_ref().and_then(|old| old.summary_source).is_some_and(|f| entry.summary.made_from(f));
            let too_old = existing.is_none() && published_time(entry.feed_date, now) < oldest;
            if !same_source && !too_old {
                entry.summary.html();
            }
            entries.push((entry, ident, key, existing, same_source));
        }

        let window = model::secs(config.dedup.window);
        let span = window.saturating_mul(2);
        let mut guard = self.index.lock().unwrap_or_else(|p| p.into_inner());
        let held = match guard.as_mut() {
            Some(held) => held,
            None => guard.insert(self.build_index(rt, now)?),
        };
        // The index holds twice the window before the oldest new item (or
        // before now): older stories leave it, and those of an old item's
        // window are read in from the store.
        let oldest_new = entries
            .iter()
            .filter(|e| e.3.is_none())
            .map(|e| published_time(e.0.feed_date, now))
            .filter(|t| *t >= oldest)
            .min();
        let from = oldest_new.unwrap_or(now).min(now).saturating_sub(span);
        // Stories older than the live window leave only once the index is
        // large: ingests of old items (a backlog, several sources' archives
        // at once) would otherwise read the same stories in again and again.
        if held.index.len() > INDEX_STORIES_KEPT {
            held.index.evict_before(now.saturating_sub(span));
            held.since = held.since.max(now.saturating_sub(span));
        }
        self.cover(&rt.categorizer, held, from)?;
        let index = &mut held.index;
        let categorizer = &rt.categorizer;
        let mut report = IngestReport::default();
        let mut changes = Changes::default();
        // Stories touched by this batch.
        let mut touched: HashMap<String, Touched> = HashMap::new();
        let mut items_by_key: HashMap<String, Item> = HashMap::new();
        let mut links: HashMap<String, String> = HashMap::new();

        for (entry, ident, key, existing, same_source) in entries {
            // The summary is sanitised (above, outside the lock), and the
            // language detected, only for new or changed items.
            let mut item = Item {
                key: key.clone(),
                source: source.id.clone(),
                identity: ident,
                title: entry.title.clone(),
                link: entry.link.clone(),
                summary: String::new(),
                summary_source: None,
                author: entry.author.clone(),
                categories: entry.categories.clone(),
                language: None,
                published: 0,
                first_seen: now,
                updated: now,
                story: String::new(),
            };
            let language_of = |item: &Item| {
                let language =
                    source.language.clone().or_else(|| entry.language.clone()).or_else(|| feed.language.clone());
                language.unwrap_or_else(|| {
                    // Detection reads the first few hundred characters only.
                    let head = format!("{} {}", item.title, text::lead(&item.summary, 400));
                    parse::normalize::detect_language(&head).to_string()
                })
            };
            // Filing and the signature are computed only for new or changed items:
            // an unchanged item (the common re-poll) costs one lookup.
            let is_new = existing.is_none();
            let (story_id, filing, title_breaking) = match existing {
                Some(old) => {
                    item.first_seen = old.first_seen;
                    item.published = published_time(entry.feed_date, old.first_seen);
                    item.story = old.story.clone();
                    item.updated = old.updated;
                    if same_source {
                        // Made from the same text as before: the same HTML.
                        if same_content_but_summary(&old, &item) {
                            report.unchanged += 1;
                            continue;
                        }
                        item.summary = old.summary.clone();
                        item.summary_source = old.summary_source;
                    } else {
                        item.summary = entry.summary.html().to_string();
                        item.summary_source = Some(entry.summary.fingerprint());
                        if same_content(&old, &item) {
                            report.unchanged += 1;
                            // Stored by an older release (no fingerprint), or made
                            // from text that differs only where sanitising does not
                            // look: the record keeps this fingerprint from now on,
                            // so that the next poll need not sanitise it.
                            items_by_key.insert(key, Item { summary_source: item.summary_source, ..old });
                            continue;
                        }
                    }
                    item.language = Some(language_of(&item));
                    item.updated = now;
                    report.updated += 1;
                    let (filing, _, title_breaking) = file_item(categorizer, &item);
                    (old.story, filing, title_breaking)
                }
                None => {
                    item.published = published_time(entry.feed_date, now);
                    if item.published < oldest {
                        report.too_old += 1;
                        continue;
                    }
                    item.summary = entry.summary.html().to_string();
                    item.summary_source = Some(entry.summary.fingerprint());
                    item.language = Some(language_of(&item));
                    let link_story = match &item.link {
                        Some(l) => match links.get(l) {
                            Some(s) => Some(s.clone()),
                            None => self.store.story_for_link(l)?,
                        },
                        None => None,
                    };
                    let (filing, sig, title_breaking) = file_item(categorizer, &item);
                    let near = match link_story {
                        Some(_) => Vec::new(),
                        None => index.matches(&sig, item.published, window, config.dedup.similarity),
                    };
                    let mut placement = stories::place(&key, link_story, near);
                    placement.absorbs.retain(|other| index.alike(other, &placement.story, config.dedup.similarity));
                    let id = placement.story;
                    for absorbed in &placement.absorbs {
                        index.absorb(absorbed, &id);
                        let mut batch = Batch {
                            touched: &mut touched,
                            items: &mut items_by_key,
                            links: &mut links,
                            changes: &mut changes,
                            report: &mut report,
                        };
                        self.absorb_story(&mut batch, absorbed, &id, now)?;
                    }
                    index.add(&id, item.published, sig);
                    item.story = id.clone();
                    report.new += 1;
                    changes.new_items += 1;
                    (id, filing, title_breaking)
                }
            };
            if let Some(l) = &item.link {
                links.entry(l.clone()).or_insert_with(|| story_id.clone());
            }
            let t = self.touch(&mut touched, &story_id, item.published, now)?;
            t.joined.retain(|m| m.key != item.key);
            t.joined.push(member_of(categorizer, &item, Some(title_breaking)));
            let story = &mut t.story;
            if is_new {
                story.size += 1;
            }
            merge(&mut story.sections, filing.sections);
            categorizer.settle_sections(&mut story.sections);
            merge(&mut story.regions, filing.regions);
            // A story's tags are bounded like an item's: the first ones stay.
            merge(&mut story.tags, filing.tags);
            story.tags.truncate(MAX_STORY_TAGS);
            story.updated = now;
            items_by_key.insert(key, item);
        }

        // Each story's first item, time, sources and breaking mark. As items
        // join, these are kept from the story record and the joining items
        // alone; only when the first item changes (or the story was stored by
        // an older release) are all its members read.
        let coverage_window = model::secs(config.breaking.window);
        let min_sources = config.breaking.min_sources;
        for t in touched.values_mut() {
            let story = &mut t.story;
            let was_breaking = story.breaking;
            let first_moves = t.joined.iter().any(|m| match &story.first {
                None => true,
                Some(f) => m.key == f.key || m.order() < f.order(),
            });
            if first_moves || t.merged || !story.items.is_empty() {
                // Items an older release listed in the story record move into
                // the members table below, each read once for its breaking mark.
                let legacy = std::mem::take(&mut story.items);
                // A story this ingest starts has no members stored yet.
                let mut all = match &t.old {
                    None => Vec::new(),
                    Some(_) => self.store.story_members(story)?,
                };
                for key in legacy {
                    if all.iter().any(|m| m.key == key) {
                        continue;
                    }
                    if let Some(i) = self.store.item(&key)? {
                        let m = member_of(categorizer, &i, None);
                        changes.members.push((story.id.clone(), m.clone()));
                        all.push(m);
                    }
                }
                all.retain(|m| !t.joined.iter().any(|j| j.key == m.key));
                all.extend(t.joined.iter().cloned());
                all.sort_by(|a, b| a.order().cmp(&b.order()));
                story.size = all.len() as u32;
                story.first = all.first().cloned();
                story.time = all.first().map(|m| m.published).unwrap_or(story.time);
                story.sources.clear();
                story.early_sources.clear();
                let mut distinct: HashSet<&str> = HashSet::new();
                for m in &all {
                    if distinct.insert(&m.source) && story.sources.len() < Story::SOURCES_KEPT {
                        story.sources.push(m.source.clone());
                    }
                    if m.published - story.time <= coverage_window && !story.early_sources.contains(&m.source) {
                        story.early_sources.push(m.source.clone());
                    }
                    story.breaking |= m.flagged;
                }
                story.early_sources.truncate(min_sources);
                story.source_count = distinct.len() as u32;
                // The story-sources table is needed (and complete) only once
                // the record's list is not.
                if distinct.len() > story.sources.len() {
                    changes.story_sources.extend(distinct.iter().map(|s| (story.id.clone(), s.to_string())));
                }
            } else {
                for m in &t.joined {
                    // New to the story: not in its record's list, and either the
                    // list is all of them or the story-sources table lacks it.
                    let known = story.sources.contains(&m.source)
                        || (story.distinct_sources() > story.sources.len()
                            && (changes.story_sources.iter().any(|(id, s)| *id == story.id && *s == m.source)
                                || self.store.story_has_source(&story.id, &m.source)?));
                    if !known {
                        let count = story.distinct_sources() as u32 + 1;
                        if story.sources.len() < Story::SOURCES_KEPT {
                            story.sources.push(m.source.clone());
                        } else {
                            if story.distinct_sources() == story.sources.len() {
                                // The list overflows now: the table takes the listed sources too.
                                changes
                                    .story_sources
                                    .extend(story.sources.iter().map(|s| (story.id.clone(), s.clone())));
                            }
                            changes.story_sources.push((story.id.clone(), m.source.clone()));
                        }
                        story.source_count = count;
                    }
                    if m.published - story.time <= coverage_window
                        && story.early_sources.len() < min_sources
                        && !story.early_sources.contains(&m.source)
                    {
                        story.early_sources.push(m.source.clone());
                    }
                    story.breaking |= m.flagged;
                }
            }
            // Once breaking, a story stays marked; it leaves the breaking feed
            // `breaking.max_age` after its first item.
            story.breaking |= story.early_sources.len() >= min_sources;
            // A story of one item keeps it in its record alone (`first`); the
            // members table has a story's items once it has two, so the item
            // that was alone is written with the one that joins it.
            if story.size > 1 {
                if let Some(alone) = t.old.as_ref().filter(|o| o.size <= 1).and_then(|o| o.first.as_ref()) {
                    if !t.joined.iter().any(|m| m.key == alone.key) {
                        changes.members.push((story.id.clone(), alone.clone()));
                    }
                }
                changes.members.extend(t.joined.drain(..).map(|m| (story.id.clone(), m)));
            }
            if story.breaking && !was_breaking {
                story.breaking_since = Some(now);
                // A backlog item from long ago is breaking in the record, but not news.
                if story.time >= model::before(now, config.breaking.max_age) {
                    let sources = story.sources.clone();
                    let first = match &story.first {
                        Some(m) => match items_by_key.get(&m.key) {
                            Some(i) => Some(std::borrow::Cow::Borrowed(i)),
                            None => self.store.item(&m.key)?.map(std::borrow::Cow::Owned),
                        },
                        None => None,
                    };
                    report.became_breaking.push(crate::events::BreakingNews {
                        story: story.id.clone(),
                        title: first.as_ref().map(|i| i.title.clone()).unwrap_or_default(),
                        url: first.as_ref().and_then(|i| i.link.clone()),
                        sections: story.sections.clone(),
                        regions: story.regions.clone(),
                        sources,
                        at: now,
                    });
                }
            }
            for f in t.old.iter().chain(std::iter::once(&*story)).flat_map(crate::store::story_feeds) {
                if let Some(name) = FeedName::from_index(&f) {
                    report.feeds.insert(name);
                }
            }
        }

        changes.stories = touched.into_values().map(|t| StoryChange { old: t.old, new: t.story }).collect();
        changes.items = items_by_key.into_values().collect();
        changes.links = links.into_iter().collect();
        if changes.new_items > 0 {
            changes.new_by_source.push((source.id.clone(), changes.new_items));
        }
        if !changes.items.is_empty() || !changes.stories.is_empty() {
            self.store.commit(&changes)?;
        }
        Ok(report)
    }
}

impl Desk {
    /// The story `id` as this ingest changes it: read from the store on first
    /// touch, or new (starting at `time`).
    fn touch<'t>(
        &self,
        touched: &'t mut HashMap<String, Touched>,
        id: &str,
        time: Timestamp,
        now: Timestamp,
    ) -> Result<&'t mut Touched, StoreError> {
        if !touched.contains_key(id) {
            let old = self.store.story(id)?;
            let story = old.clone().unwrap_or_else(|| new_story(id, time, now));
            touched.insert(id.to_string(), Touched { old, story, joined: Vec::new(), merged: false });
        }
        Ok(touched.get_mut(id).expect("inserted just above"))
    }

    /// A later item showed `absorbed` and `survivor` are one event: every
    /// item of `absorbed` moves under `survivor`, which takes its sections,
    /// regions, tags and breaking mark (a story already announced as breaking
    /// is not announced again); the store deletes `absorbed` and redirects
    /// its id (see `store::merge`).
    fn absorb_story(
        &self,
        batch: &mut Batch,
        absorbed: &str,
        survivor: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let gone = match batch.touched.remove(absorbed) {
            Some(t) => t,
            None => match self.store.story(absorbed)? {
                Some(s) => Touched { old: Some(s.clone()), story: s, joined: Vec::new(), merged: false },
                None => return Ok(()),
            },
        };
        let mut members = match &gone.old {
            Some(s) => self.store.story_members(s)?,
            None => Vec::new(),
        };
        members.retain(|m| !gone.joined.iter().any(|j| j.key == m.key));
        members.extend(gone.joined.iter().cloned());
        for m in &members {
            let item = match batch.items.remove(&m.key) {
                Some(i) => Some(i),
                None => self.store.item(&m.key)?,
            };
            if let Some(mut item) = item {
                item.story = survivor.to_string();
                if let Some(l) = &item.link {
                    batch.links.insert(l.clone(), survivor.to_string());
                }
                batch.items.insert(m.key.clone(), item);
            }
        }
        for story in batch.links.values_mut().filter(|s| s.as_str() == absorbed) {
            *story = survivor.to_string();
        }
        let t = self.touch(batch.touched, survivor, gone.story.time, now)?;
        t.joined.retain(|j| !members.iter().any(|m| m.key == j.key));
        t.joined.extend(members);
        t.merged = true;
        let (into, from) = (&mut t.story, &gone.story);
        merge(&mut into.sections, from.sections.clone());
        merge(&mut into.regions, from.regions.clone());
        merge(&mut into.tags, from.tags.clone());
        into.tags.truncate(MAX_STORY_TAGS);
        into.breaking |= from.breaking;
        into.breaking_since = match (into.breaking_since, from.breaking_since) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        into.updated = now;
        if let Some(old) = gone.old {
            for f in crate::store::story_feeds(&old) {
                if let Some(name) = FeedName::from_index(&f) {
                    batch.report.feeds.insert(name);
                }
            }
            tracing::info!(story = %survivor, absorbed = %old.id, "two stories found to be one event: merged");
            batch.changes.absorbed.push((old, survivor.to_string()));
        }
        Ok(())
    }
}

/// A story record before its first item is counted in.
fn new_story(id: &str, time: Timestamp, now: Timestamp) -> Story {
    Story {
        id: id.to_string(),
        time,
        first: None,
        size: 0,
        items: Vec::new(),
        early_sources: Vec::new(),
        sections: Vec::new(),
        regions: Vec::new(),
        tags: Vec::new(),
        breaking: false,
        breaking_since: None,
        updated: now,
        sources: Vec::new(),
        source_count: 0,
    }
}

/// Where an item is filed, its clustering signature (both read the summary's
/// text once) and whether its title carries a breaking keyword (read from the
/// same words).
fn file_item(categorizer: &Categorizer, item: &Item) -> (categorize::Filing, stories::Signature, bool) {
    // Fold once: filing reads the title and the whole summary, the signature
    // the title and the summary's lead.
    let summary_text = parse::normalize::strip_tags(&item.summary);
    let (title_f, summary_f) = (text::fold(&item.title), text::fold(&summary_text));
    let (title_words, summary_words) = (text::split_folded(&title_f), text::split_folded(&summary_f));
    let words: Vec<&str> = title_words.iter().chain(&summary_words).copied().collect();
    let filing = categorizer.file_words(&item.source, &words, &item.categories);
    let mut sig = stories::signature_of_words(&item.title, &title_words, &summary_words, filing.places.clone());
    sig.regions = filing.place_regions.clone();
    sig.article = categorizer.is_article(&filing.sections);
    sig.source = item.source.clone();
    sig.language = item.language.as_deref().unwrap_or("").split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
    (filing, sig, categorizer.breaking_words(&title_words))
}

/// The most tags a story keeps (its items' categories and places; each is a
/// feed the story is listed in).
const MAX_STORY_TAGS: usize = 64;

/// A story changed by one ingest.
struct Touched {
    /// As stored before (its feed index entries move from there).
    old: Option<Story>,
    story: Story,
    /// Its items added or changed by this ingest.
    joined: Vec<Member>,
    /// Another story merged into it: its first item, sources and coverage
    /// are worked out again from all its members.
    merged: bool,
}

/// What one ingest has decided so far, for the steps that add to it.
struct Batch<'a> {
    touched: &'a mut HashMap<String, Touched>,
    items: &'a mut HashMap<String, Item>,
    links: &'a mut HashMap<String, String>,
    changes: &'a mut Changes,
    report: &'a mut IngestReport,
}

/// What a story keeps of one of its items.
/// `title_breaking`: whether its title carries a breaking keyword, when the
/// caller has already found out (filing does).
fn member_of(categorizer: &Categorizer, item: &Item, title_breaking: Option<bool>) -> Member {
    Member {
        key: item.key.clone(),
        source: item.source.clone(),
        published: item.published,
        first_seen: item.first_seen,
        link: item.link.clone(),
        flagged: categorizer.breaking_source(&item.source)
            || title_breaking.unwrap_or_else(|| categorizer.breaking_title(&item.title)),
    }
}

fn merge(into: &mut Vec<String>, from: Vec<String>) {
    for x in from {
        if !into.contains(&x) {
            into.push(x);
        }
    }
}

fn same_content(a: &Item, b: &Item) -> bool {
    a.summary == b.summary && same_content_but_summary(a, b)
}

/// [`same_content`] without the summary (which only the fingerprint tells
/// unsanitised).
fn same_content_but_summary(a: &Item, b: &Item) -> bool {
    a.title == b.title
        && a.link == b.link
        && a.author == b.author
        && a.categories == b.categories
        && a.published == b.published
}

/// A feed date in the future (or none) becomes the time first seen.
fn published_time(feed_date: Option<Timestamp>, first_seen: Timestamp) -> Timestamp {
    match feed_date {
        Some(d) if d <= first_seen => d,
        _ => first_seen,
    }
}

/// The state a source starts from: stored, unless its configured URL changed.
pub fn load_state(store: &Store, source: &Source) -> Result<SourceState, StoreError> {
    let configured = source.url.to_string();
    let fresh = SourceState {
        id: source.id.clone(),
        configured_url: configured.clone(),
        url: configured.clone(),
        ..Default::default()
    };
    Ok(match store.source_state(&source.id)? {
        Some(s) if s.configured_url == configured => s,
        Some(s) => SourceState { items: s.items, title: s.title, ..fresh },
        None => fresh,
    })
}

fn plan_for(config: &Config, source: &Source, state: &SourceState) -> Plan {
    Plan {
        interval: source.interval.unwrap_or(config.poll.interval),
        min_interval: config.poll.min_interval,
        max_interval: config.poll.max_interval,
        consecutive_failures: state.consecutive_failures,
        max_age: None,
        hints: state.hints,
        unchanged_polls: state.unchanged_polls,
        busy_polls: state.busy_polls,
        jitter: schedule::jitter_for(&source.id),
    }
}

/// Poll one source once: fetch → parse → normalise → identify → cluster →
/// categorise → store. Never fails: every problem ends in the source's state.
pub async fn refresh_source(desk: &Arc<Desk>, fetcher: &Fetcher, source: &Source) -> PollOutcome {
    refresh(desk, &desk.runtime(), fetcher, source).await
}

/// [`refresh_source`] by the rules of `rt`, start to end.
pub async fn refresh(desk: &Arc<Desk>, rt: &Arc<Runtime>, fetcher: &Fetcher, source: &Source) -> PollOutcome {
    let started = std::time::Instant::now();
    let config = &rt.config;
    let now = now();
    let mut state = match load_state(&desk.store, source) {
        Ok(s) => s,
        Err(e) => return failed(source, SourceStatus::Error, e.to_string()),
    };
    let mut outcome = PollOutcome {
        source: source.id.clone(),
        status: state.status,
        report: IngestReport::default(),
        error: None,
        hold_host_until: None,
        elapsed: Default::default(),
    };
    if state.status == SourceStatus::Gone {
        return outcome;
    }
    // Written before the fetch, so a crash mid-fetch does not make it due at once.
    state.last_fetch = Some(now);
    state.next_due = Some(schedule::next_due(&plan_for(config, source, &state), now));
    if let Err(e) = desk.store.put_source_state(&state) {
        return failed(source, SourceStatus::Error, e.to_string());
    }
    let url = url::Url::parse(&state.url).unwrap_or_else(|_| source.url.clone());
    let validators = Validators { etag: state.etag.clone(), last_modified: state.last_modified.clone() };
    let fetched = fetcher.fetch(&url, &validators).await;
    let mut max_age = None;
    match fetched {
        Ok(Fetched::NotModified { headers, permanent_redirect }) => {
            track_redirect(&mut state, permanent_redirect);
            succeeded(&mut state, SourceStatus::NotModified, now);
            adapt(&mut state, false);
            max_age = headers.max_age;
        }
        Ok(Fetched::Body { body, etag, last_modified, permanent_redirect, headers, .. })
            if state.body_hash.is_some_and(|h| h == body_hash(&body)) =>
        {
            // The very bytes the last successful poll stored, from a server that
            // sent no validators (or ignored them): not modified, without
            // parsing, sanitising or looking up a single item again.
            tracing::debug!(source = %source.id, bytes = body.len(), "same document as the last poll: not parsed again");
            track_redirect(&mut state, permanent_redirect);
            succeeded(&mut state, SourceStatus::NotModified, now);
            state.etag = etag;
            state.last_modified = last_modified;
            adapt(&mut state, false);
            max_age = headers.max_age;
        }
        Ok(Fetched::Body { body, etag, last_modified, final_url, permanent_redirect, headers }) => {
            let hash = body_hash(&body);
            let parsed = {
                let base = final_url.clone();
                tokio::task::spawn_blocking(move || (parse::parse_feed(&body, Some(&base)), hints::scan(&body))).await
            };
            match parsed {
                Ok((Ok(feed), hints)) => {
                    log_dropped(&source.id, &feed.dropped);
                    let ingest = {
                        let (desk, rt, source) = (desk.clone(), rt.clone(), source.clone());
                        tokio::task::spawn_blocking(move || {
                            let report = desk.ingest_with(&rt, &source, &feed, now)?;
                            desk.store.flush()?;
                            Ok::<_, StoreError>((report, feed.title, feed.ttl))
                        })
                        .await
                    };
                    match ingest {
                        Ok(Ok((report, title, ttl))) => {
                            succeeded(&mut state, SourceStatus::Ok, now);
                            state.etag = etag;
                            state.last_modified = last_modified;
                            state.body_hash = Some(hash);
                            state.items += report.new as u64;
                            if title.is_some() {
                                state.title = title;
                            }
                            track_redirect(&mut state, permanent_redirect);
                            state.hints = hints::FeedHints { ttl_minutes: hints.ttl_minutes.or(ttl), ..hints };
                            adapt(&mut state, report.new > 0);
                            if report.updated > 0 && report.new == 0 {
                                state.unchanged_polls = 0;
                            }
                            max_age = headers.max_age;
                            outcome.report = report;
                        }
                        Ok(Err(e)) => fail(&mut state, SourceStatus::Error, format!("store: {e}")),
                        Err(e) => fail(&mut state, SourceStatus::Error, format!("ingest crashed: {e}")),
                    }
                }
                Ok((Err(e), _)) => fail(&mut state, SourceStatus::Error, format!("parse: {e}")),
                Err(e) => fail(&mut state, SourceStatus::Error, format!("parse crashed: {e}")),
            }
        }
        Err(FetchError::Gone) => fail(&mut state, SourceStatus::Gone, FetchError::Gone.to_string()),
        Err(e @ FetchError::Refused(_)) => fail(&mut state, SourceStatus::Refused, e.to_string()),
        Err(e) => {
            if let FetchError::Status { status: 429 | 503, retry_after: Some(ra) } = &e {
                outcome.hold_host_until = schedule::retry_after(ra, now);
            }
            fail(&mut state, SourceStatus::Error, e.to_string())
        }
    }
    let plan = Plan { max_age, ..plan_for(config, source, &state) };
    // Retry-After wins over every bound: the server said when.
    state.next_due = Some(schedule::next_due(&plan, now).max(outcome.hold_host_until.unwrap_or(i64::MIN)));
    outcome.status = state.status;
    outcome.error = state.last_error.clone();
    if let Err(e) = desk.store.put_source_state(&state) {
        outcome.error = Some(format!("saving source state: {e}"));
    }
    outcome.elapsed = started.elapsed();
    log_outcome(&outcome, &state);
    outcome
}

/// One line for every field of one document dropped for being over its size
/// bound (`parse::bounds`): a hostile feed repeats them in every item.
fn log_dropped(source: &str, d: &parse::Dropped) {
    if d.any() {
        tracing::warn!(
            source = %source,
            links = d.links,
            authors = d.authors,
            categories = d.categories,
            guids = d.guids,
            feed_title = d.feed_title,
            "fields over their size bound dropped"
        );
    }
}

/// What a source state remembers of the last document it stored.
fn body_hash(body: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(body)
}

/// A poll that worked: its status, and the failure count and error cleared.
fn succeeded(state: &mut SourceState, status: SourceStatus, now: Timestamp) {
    state.status = status;
    state.last_success = Some(now);
    state.consecutive_failures = 0;
    state.last_error = None;
}

/// Count polls in a row with and without news, for the adaptive schedule.
fn adapt(state: &mut SourceState, news: bool) {
    if news {
        state.busy_polls = state.busy_polls.saturating_add(1);
        state.unchanged_polls = 0;
    } else {
        state.unchanged_polls = state.unchanged_polls.saturating_add(1);
        state.busy_polls = 0;
    }
}

/// A permanent redirect to the same target on 3 polls in a row replaces the URL.
fn track_redirect(state: &mut SourceState, target: Option<url::Url>) {
    match target {
        Some(t) => {
            let t = t.to_string();
            if state.redirect_target.as_deref() == Some(&t) {
                state.redirect_count += 1;
            } else {
                state.redirect_target = Some(t.clone());
                state.redirect_count = 1;
            }
            if state.redirect_count >= 3 {
                tracing::info!(source = %state.id, from = %poll::redacted_str(&state.url), to = %poll::redacted_str(&t), "permanent redirect seen 3 times: source URL updated");
                state.url = t;
                state.redirect_target = None;
                state.redirect_count = 0;
            }
        }
        None => {
            state.redirect_target = None;
            state.redirect_count = 0;
        }
    }
}

fn fail(state: &mut SourceState, status: SourceStatus, error: String) {
    state.status = status;
    state.consecutive_failures = state.consecutive_failures.saturating_add(1);
    state.last_error = Some(error);
}

fn failed(source: &Source, status: SourceStatus, error: String) -> PollOutcome {
    tracing::error!(source = %source.id, error = %error, "poll failed");
    PollOutcome {
        source: source.id.clone(),
        status,
        report: IngestReport::default(),
        error: Some(error),
        hold_host_until: None,
        elapsed: Default::default(),
    }
}

/// One log line per poll.
fn log_outcome(o: &PollOutcome, state: &SourceState) {
    match &o.error {
        Some(e) => {
            tracing::warn!(source = %o.source, status = o.status.as_str(), failures = state.consecutive_failures, url = %poll::redacted_str(&state.url), error = %e, "poll failed")
        }
        None => tracing::info!(
            source = %o.source,
            status = o.status.as_str(),
            new = o.report.new,
            updated = o.report.updated,
            "polled"
        ),
    }
}
