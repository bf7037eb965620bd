//! Settling: every stored item clustered again from scratch, in the order
//! the items were published, and the stored stories made to match.
//!
//! Clustering is online: an item is compared with the stories placed before
//! it, its words weighed by them. Reports that arrive far out of order (an
//! outlet polled late, a backlog, items replayed in any order) can therefore
//! make other stories than the same reports in publication order, and a
//! join cannot be taken back by a later one: a word's weight falls as more
//! stories carry it, so a later item can lower the similarity of two items
//! joined before. A settle puts that right. It places every stored item
//! afresh, one at a time in publication order, into a scratch store through
//! the ordinary ingest (so by exactly the rules live polls follow), and
//! then moves each item the live stories hold elsewhere. The result depends
//! on the set of items alone (their text, publication times and keys),
//! never on the order they came in, the sources' poll phases or the threads
//! that stored them: `tests/stories_props.rs`,
//! `any_arrival_order_settles_into_the_same_stories`.
//!
//! A story the settle makes keeps the id of the live story it shares most
//! items with (the older one on a tie), so the stories subscribers know keep
//! their ids; a live story left with no items is deleted and its id leads
//! to the story most of them went to, as a merge's does. The settle marks a
//! story breaking when its items make it so, but does not announce it: a
//! settle tidies what live polls decided; announcements are the live
//! desk's.

use super::ingest::{count_members, new_story};
use super::{file_item, member_of, Desk, Runtime};
use crate::config::Source;
use crate::model::{self, Item, Member, Story, Timestamp};
use crate::parse::{self, identity};
use crate::publish::FeedName;
use crate::store::{Changes, Store, StoreError, StoryChange};
use crate::stories::{self, packed::rank_of};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What a settle changed.
#[derive(Debug, Default)]
pub struct SettleReport {
    /// Items stored when the settle began.
    pub stored: usize,
    /// Items clustered again (every stored item inside the retention).
    pub items: usize,
    /// Items moved to another story.
    pub moved: usize,
    /// Stories written again with other items.
    pub rebuilt: usize,
    /// Stories left with no items: deleted, their ids redirected.
    pub emptied: usize,
    /// The feeds whose stories changed.
    pub feeds: HashSet<FeedName>,
}

/// The stories a settle makes: item key → its story there (a scratch id,
/// which only groups items).
type Canonical = HashMap<String, String>;

impl Desk {
    /// Cluster every stored item again, in publication order, and move the
    /// items the stored stories hold otherwise (see the module doc). Ingests
    /// wait meanwhile (every source's lock and the clustering lock are held,
    /// on PostgreSQL the cluster's too), so that the set of items settled is
    /// the set stored.
    pub fn settle(&self, now: Timestamp) -> Result<SettleReport, StoreError> {
        let rt = self.runtime();
        // Every source's lock first, as an ingest takes its own before the
        // clustering lock: an ingest identifies its stored items before
        // that lock, and a settle moves items of every source.
        let _sources: Vec<_> = self.sources.iter().map(|s| s.lock().unwrap_or_else(|p| p.into_inner())).collect();
        let mut guard = self.index.lock().unwrap_or_else(|p| p.into_inner());
        let pg = self.store.postgres();
        let _clustering = pg.map(|pg| pg.lock_clustering()).transpose()?;
        let items = self.store.all_items()?;
        let canonical = canonical_stories(&rt, &items, now)?;
        let (changes, mut report) = self.plan_settle(&rt, &items, &canonical, now)?;
        (report.stored, report.items) = (items.len(), canonical.len());
        if changes.items.is_empty() {
            return Ok(report);
        }
        let committed = self.store.commit(&changes);
        // Built again from the store by the next ingest, whether the settle
        // landed or not.
        *guard = None;
        committed?;
        tracing::info!(
            items = report.items,
            moved = report.moved,
            rebuilt = report.rebuilt,
            emptied = report.emptied,
            "stories settled"
        );
        Ok(report)
    }

    /// [`Desk::settle`], when `dedup.settle_every` (not zero) has passed
    /// since the last settle of any node sharing the store, and items were
    /// stored or pruned since; `None` when it was not due.
    pub fn settle_if_due(&self, now: Timestamp) -> Result<Option<SettleReport>, StoreError> {
        let every = model::secs(self.config().dedup.settle_every);
        if every == 0 {
            return Ok(None);
        }
        let items = self.store.item_count()?;
        if let Some((at, settled)) = self.store.last_settle()? {
            if now < at.saturating_add(every) || settled == items {
                return Ok(None);
            }
        }
        let report = self.settle(now)?;
        self.store.note_settle(now, report.stored as u64)?;
        Ok(Some(report))
    }

    /// The changes that make the stored stories those of `canonical`.
    fn plan_settle(
        &self,
        rt: &Runtime,
        items: &[Item],
        canonical: &Canonical,
        now: Timestamp,
    ) -> Result<(Changes, SettleReport), StoreError> {
        let ids = self.settled_ids(items, canonical)?;
        let mut report = SettleReport::default();
        let mut changes = Changes::default();
        // Every item's story once settled; the stories whose items change.
        let mut placed: BTreeMap<&str, Vec<&Item>> = BTreeMap::new();
        let mut touched: BTreeSet<&str> = BTreeSet::new();
        for item in items {
            let story = canonical.get(&item.key).and_then(|c| ids.get(c)).map_or(item.story.as_str(), String::as_str);
            placed.entry(story).or_default().push(item);
            if story != item.story {
                touched.extend([story, item.story.as_str()]);
                let moved = Item { story: story.to_string(), ..item.clone() };
                if let Some(link) = &moved.link {
                    changes.links.push((link.clone(), story.to_string()));
                }
                changes.items.push(moved);
                report.moved += 1;
            }
        }
        let touched: Vec<&str> = touched.into_iter().collect();
        let stored = self.store.stories(&touched)?;
        let mut emptied = Vec::new();
        for (id, old) in touched.iter().zip(stored) {
            match (placed.get(id), old) {
                (Some(members), old) => self.rebuild(rt, &mut changes, id, old, members, now),
                (None, Some(old)) => emptied.push(old),
                (None, None) => {}
            }
        }
        for old in emptied {
            let to = most_went_to(&old.id, items, &changes.items);
            changes.emptied.push((old, to));
        }
        report.rebuilt = changes.rebuilt.len();
        report.emptied = changes.emptied.len();
        let records = changes.stories.iter().flat_map(|c| c.old.iter().chain([&c.new]));
        for story in records.chain(changes.emptied.iter().map(|(s, _)| s)) {
            report.feeds.extend(crate::store::story_feeds(story).iter().filter_map(|f| FeedName::from_index(f)));
        }
        changes.refiled = changes.rebuilt.clone();
        Ok((changes, report))
    }

    /// The stored id each settled story takes: the id of the stored story
    /// it shares most items with (the older story on a tie), each id taken
    /// once; else the id its first item gives a new story (as an ingest
    /// would), unless a stored story has it.
    fn settled_ids(&self, items: &[Item], canonical: &Canonical) -> Result<HashMap<String, String>, StoreError> {
        let mut shared: HashMap<(&str, &str), usize> = HashMap::new();
        let mut firsts: HashMap<&str, &Item> = HashMap::new();
        for item in items {
            let Some(c) = canonical.get(&item.key) else { continue };
            *shared.entry((c.as_str(), item.story.as_str())).or_default() += 1;
            let first = firsts.entry(c.as_str()).or_insert(item);
            if (item.published, item.first_seen, &item.key) < (first.published, first.first_seen, &first.key) {
                *first = item;
            }
        }
        let stored: Vec<&str> = shared.keys().map(|(_, s)| *s).collect::<BTreeSet<_>>().into_iter().collect();
        let times: HashMap<&str, Timestamp> =
            stored.iter().zip(self.store.stories(&stored)?).filter_map(|(id, s)| Some((*id, s?.time))).collect();
        let mut pairs: Vec<((&str, &str), usize)> = shared.into_iter().collect();
        pairs.sort_by_key(|((c, s), n)| {
            (std::cmp::Reverse(*n), times.get(s).copied().unwrap_or(Timestamp::MAX), *s, *c)
        });
        let mut ids: HashMap<String, String> = HashMap::new();
        let mut taken: HashSet<String> = HashSet::new();
        for ((c, s), _) in pairs {
            if times.contains_key(s) && !ids.contains_key(c) && !taken.contains(s) {
                taken.insert(s.to_string());
                ids.insert(c.to_string(), s.to_string());
            }
        }
        for (c, first) in firsts {
            if !ids.contains_key(c) {
                let mut id = stories::new_story_id(&first.key);
                // A stored story has that id (its first item started it, then
                // went elsewhere): another id, from the same item.
                while taken.contains(&id) || times.contains_key(id.as_str()) || self.store.story(&id)?.is_some() {
                    id = stories::new_story_id(&format!("{id}/settled"));
                }
                taken.insert(id.clone());
                ids.insert(c.to_string(), id);
            }
        }
        Ok(ids)
    }

    /// The record, members and story sources of story `id` as settled, with
    /// `items` (its items once settled).
    fn rebuild(
        &self,
        rt: &Runtime,
        changes: &mut Changes,
        id: &str,
        old: Option<Story>,
        items: &[&Item],
        now: Timestamp,
    ) {
        let mut story = old.clone().unwrap_or_else(|| new_story(id, now, now));
        let mut members: Vec<Member> = Vec::with_capacity(items.len());
        let was_breaking = story.breaking;
        story.items.clear();
        story.sections.clear();
        story.regions.clear();
        story.tags.clear();
        let mut sorted = items.to_vec();
        sorted.sort_by(|a, b| (a.published, a.first_seen, &a.key).cmp(&(b.published, b.first_seen, &b.key)));
        for item in sorted {
            let (filing, _, title_breaking) = file_item(&rt.categorizer, item);
            members.push(member_of(&rt.categorizer, item, Some(title_breaking)));
            model::union(&mut story.sections, &filing.sections);
            model::union(&mut story.regions, &filing.regions);
            model::union(&mut story.tags, &filing.tags);
        }
        rt.categorizer.settle_sections(&mut story.sections);
        story.tags.truncate(Story::TAGS_KEPT);
        changes.story_sources.extend(count_members(&mut story, &members, &rt.config.breaking));
        story.breaking |= story.early_sources.len() >= rt.config.breaking.min_sources;
        if story.breaking && !was_breaking {
            story.breaking_since = Some(now);
        }
        story.updated = now;
        if members.len() > 1 {
            changes.members.extend(members.into_iter().map(|m| (id.to_string(), m)));
        }
        changes.rebuilt.push(id.to_string());
        changes.stories.push(StoryChange { old, new: story });
    }
}

/// Where most items of the emptied story `id` went (the least id on a tie).
fn most_went_to(id: &str, items: &[Item], moved: &[Item]) -> String {
    let from: HashSet<&str> = items.iter().filter(|i| i.story == id).map(|i| i.key.as_str()).collect();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for item in moved.iter().filter(|i| from.contains(i.key.as_str())) {
        *counts.entry(&item.story).or_default() += 1;
    }
    let best = counts.iter().max_by_key(|(s, n)| (**n, std::cmp::Reverse(**s)));
    best.map(|(s, _)| s.to_string()).unwrap_or_default()
}

/// The stories every item in `items` makes when each is ingested alone, in
/// publication order, into an empty scratch store at `now`: item key → its
/// story there. Items older than the retention are left out (pruning takes
/// them).
fn canonical_stories(rt: &Arc<Runtime>, items: &[Item], now: Timestamp) -> Result<Canonical, StoreError> {
    let scratch = Scratch::new()?;
    let Some(store) = scratch.store.clone() else { unreachable!("dropped only with the scratch") };
    let desk = Desk::scratch(store, rt.clone());
    let mut order: Vec<(stories::packed::Rank, &Item, String)> = items
        .iter()
        .map(|item| {
            let key = identity::item_key(&item.source, &identity::identity(&entry_of(item)));
            (rank_of(item.published, now, &key), item, key)
        })
        .collect();
    order.sort_by_key(|(rank, _, _)| *rank);
    for (_, item, _) in &order {
        let (source, feed) = document_of(rt, item);
        desk.ingest_with(rt, &source, &feed, now)?;
    }
    // Read once all are in: a merge moves items placed before it.
    let mut canonical = Canonical::with_capacity(items.len());
    for (_, item, key) in order {
        if let Some(placed) = desk.store.item(&key)? {
            canonical.insert(item.key.clone(), placed.story);
        }
    }
    Ok(canonical)
}

/// A stored item as a document of its own, from its source (its language
/// left to the item's: see [`entry_of`]).
fn document_of(rt: &Runtime, item: &Item) -> (Source, parse::Feed) {
    let configured = rt.config.sources.iter().find(|s| s.id == item.source).cloned();
    let mut source = configured.unwrap_or_else(|| Source {
        id: item.source.clone(),
        url: url::Url::parse("file:///settled").expect("static URL"),
        title: None,
        sections: Vec::new(),
        region: None,
        language: None,
        breaking: false,
        interval: None,
    });
    // The language stored with the item decides, as it did when it was
    // first stored (the source's may have changed since).
    source.language = None;
    let entries = vec![entry_of(item)];
    (source, parse::Feed { title: None, language: None, ttl: None, entries, dropped: Default::default() })
}

/// A stored item as its feed gave it: its stored text, link, date and
/// language, and the identity that gives its stored key.
fn entry_of(item: &Item) -> parse::Entry {
    let mut entry = parse::Entry {
        guid: item.identity.strip_prefix("g:").map(str::to_string),
        title: item.title.clone(),
        link: item.link.clone(),
        summary: parse::Summary::from_html(&item.summary, None),
        author: item.author.clone(),
        categories: item.categories.clone(),
        language: item.language.clone(),
        feed_date: Some(item.published),
    };
    if identity::identity(&entry) != item.identity {
        // Identified by a hash of a title and a date it no longer has (the
        // feed gave none; it is stored with the time it was first seen):
        // a guid of its own, which gives another key.
        entry.guid = Some(item.key.clone());
    }
    entry
}

/// A sled store in a fresh folder under the system's temporary folder,
/// deleted when dropped.
struct Scratch {
    /// `None` once dropped (closed before its folder goes).
    store: Option<Store>,
    path: std::path::PathBuf,
}

impl Scratch {
    fn new() -> Result<Scratch, StoreError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!("newsdesk-settle-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let path = std::env::temp_dir().join(name);
        remove_abandoned();
        // Left by a process that died mid-settle with this same pid.
        let _ = std::fs::remove_dir_all(&path);
        Ok(Scratch { store: Some(Store::open(&path)?), path })
    }
}

/// Scratch stores of processes that are gone (stopped mid-settle).
fn remove_abandoned() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("newsdesk-settle-")?.split('-').next()) else {
            continue;
        };
        if !std::path::Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        drop(self.store.take());
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "the settle's scratch store could not be removed");
        }
    }
}
