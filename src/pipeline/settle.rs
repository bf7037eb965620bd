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
//! that stored them: `tests/settle.rs`,
//! `any_arrival_order_settles_into_the_same_stories`.
//!
//! A story the settle makes keeps the id of the live story it shares most
//! items with (the older one on a tie), so the stories subscribers know keep
//! their ids; a live story left with no items is deleted and its id leads
//! to the story most of them went to, as a merge's does. The settle marks a
//! story breaking when its items make it so, but does not announce it: a
//! settle tidies what live polls decided; announcements are the live
//! desk's.

use super::ingest::{count_members, file_story, new_story};
use super::{file_item, member_of, Desk, Runtime};
use crate::config::Source;
use crate::model::{self, Item, Member, Story, Timestamp};
use crate::parse::{self, identity};
use crate::publish::FeedName;
use crate::store::{Changes, Store, StoreError, StoryChange};
use crate::stories::{
    self,
    packed::{rank_of, Rank},
};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What a settle changed.
#[derive(Debug, Default)]
pub struct SettleReport {
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

/// What a settle holds of each stored item: enough to order and group it
/// (the items themselves are read a few hundred at a time).
struct Held {
    key: String,
    /// Its story as stored.
    story: String,
    /// Where it sorts in a settle (as a new report first seen at the
    /// settle's time: its publication time, then its key's hash).
    rank: Rank,
    /// Its key in the scratch store (its own key unless its identity
    /// cannot be given again: see [`entry_of`]).
    scratch: String,
    /// Its story in the scratch store; `None` when older than the retention.
    settled: Option<String>,
}

/// How many items a settle reads at once.
const READ_AT_ONCE: usize = 256;

impl Desk {
    /// Cluster every stored item again, in publication order, and move the
    /// items the stored stories hold otherwise (see the module doc). Ingests
    /// wait meanwhile (every source's lock and the clustering lock are held,
    /// on PostgreSQL the cluster's too), so that the set of items settled is
    /// the set stored; so does pruning.
    pub fn settle(&self, now: Timestamp) -> Result<SettleReport, StoreError> {
        Ok(self.settle_when(now, None)?.unwrap_or_default())
    }

    /// [`Desk::settle`], when `dedup.settle_every` (not zero) has passed
    /// since the last settle of any node sharing the store, and new items
    /// were stored since; `None` when it was not due (or was stopped).
    pub fn settle_if_due(&self, now: Timestamp) -> Result<Option<SettleReport>, StoreError> {
        let every = model::secs(self.config().dedup.settle_every);
        // Asked first without the locks (most minutes it is not due), then
        // again under them (another node may have settled meanwhile).
        if every == 0 || !self.settle_due(now, every)? {
            return Ok(None);
        }
        self.settle_when(now, Some(every))
    }

    /// Whether a settle is due at `now`, one every `every` seconds.
    fn settle_due(&self, now: Timestamp, every: Timestamp) -> Result<bool, StoreError> {
        let Some((at, settled)) = self.store.last_settle()? else { return Ok(true) };
        Ok(now >= at.saturating_add(every) && settled != self.store.items_ever()?)
    }

    /// A settle under the locks, if it is due then (`every`: see
    /// [`Desk::settle_due`]; `None`: whenever asked). Each group of stories
    /// that exchange items is committed as one transaction, so that a crash
    /// between two leaves every story whole.
    fn settle_when(&self, now: Timestamp, every: Option<Timestamp>) -> Result<Option<SettleReport>, StoreError> {
        let rt = self.runtime();
        let _upkeep = self.upkeep.lock().unwrap_or_else(|p| p.into_inner());
        // Every source's lock first, as an ingest takes its own before the
        // clustering lock: an ingest identifies its stored items before
        // that lock, and a settle moves items of every source.
        let _sources: Vec<_> = self.sources.iter().map(|s| s.lock().unwrap_or_else(|p| p.into_inner())).collect();
        let mut guard = self.index.lock().unwrap_or_else(|p| p.into_inner());
        let pg = self.store.postgres();
        let _clustering = pg.map(|pg| pg.lock_clustering()).transpose()?;
        if let Some(every) = every {
            if !self.settle_due(now, every)? {
                return Ok(None);
            }
        }
        let ingested = self.store.items_ever()?;
        let mut held = self.held(now)?;
        if !self.cluster_afresh(&rt, &mut held, now)? {
            tracing::info!("settling stopped: the daemon is stopping");
            return Ok(None);
        }
        let items = held.iter().filter(|h| h.settled.is_some()).count();
        let mut report = SettleReport { items, ..Default::default() };
        let committed = self.commit_settle(&rt, &held, now, &mut report);
        if report.moved > 0 {
            // Built again from the store by the next ingest.
            *guard = None;
        }
        if !committed? {
            tracing::info!(moved = report.moved, "settling stopped: the daemon is stopping");
            return Ok(None);
        }
        self.store.note_settle(now, ingested)?;
        tracing::info!(
            items = report.items,
            moved = report.moved,
            rebuilt = report.rebuilt,
            emptied = report.emptied,
            "stories settled"
        );
        Ok(Some(report))
    }

    /// Stop a settle under way at its next step (a few hundred items, or
    /// one group of stories), and any later one: the daemon is stopping.
    /// What it committed stays (each group is whole); the next start
    /// settles again.
    pub fn stop(&self) {
        self.stopping.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    fn stopping(&self) -> bool {
        self.stopping.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Delete up to `limit` stories older than `before` (`Store::prune`),
    /// never while a settle runs (it would write them back).
    pub fn prune(&self, before: Timestamp, limit: usize) -> Result<usize, StoreError> {
        let _upkeep = self.upkeep.lock().unwrap_or_else(|p| p.into_inner());
        self.store.prune(before, limit)
    }

    /// Every stored item as a settle holds it, in the order it places them.
    fn held(&self, now: Timestamp) -> Result<Vec<Held>, StoreError> {
        let mut held = Vec::new();
        self.store.each_item(|item| {
            let scratch = scratch_key(&item);
            let rank = rank_of(item.published, now, &scratch);
            held.push(Held { key: item.key, story: item.story, rank, scratch, settled: None });
        })?;
        held.sort_by_key(|h| h.rank);
        Ok(held)
    }

    /// Each of `held` (in the order they sort) ingested alone, as a document
    /// of its own, into an empty scratch store at `now`, through the
    /// ordinary ingest; then each one's story there noted. Items older than
    /// the retention are not stored there (pruning takes them). False when
    /// stopped (see [`Desk::stop`]).
    fn cluster_afresh(&self, rt: &Arc<Runtime>, held: &mut [Held], now: Timestamp) -> Result<bool, StoreError> {
        let near = self.store.postgres().is_none().then(|| self.store.path());
        let scratch = Scratch::new(near)?;
        let Some(store) = scratch.store.clone() else { unreachable!("dropped only with the scratch") };
        let desk = Desk::scratch(store, rt.clone());
        for chunk in held.chunks(READ_AT_ONCE) {
            if self.stopping() {
                return Ok(false);
            }
            let keys: Vec<&str> = chunk.iter().map(|h| h.key.as_str()).collect();
            for item in self.store.items(&keys)?.into_iter().flatten() {
                let (source, feed) = document_of(rt, &item);
                desk.ingest_with(rt, &source, &feed, now)?;
            }
        }
        // Read once all are in: a merge moves items placed before it.
        for chunk in held.chunks_mut(READ_AT_ONCE) {
            let keys: Vec<&str> = chunk.iter().map(|h| h.scratch.as_str()).collect();
            let placed = desk.store.items(&keys)?;
            for (h, item) in chunk.iter_mut().zip(placed) {
                h.settled = item.map(|i| i.story);
            }
        }
        Ok(true)
    }

    /// Commit the changes that make the stored stories those the scratch
    /// store made: one commit for each group of stories that exchange items
    /// (stories joined by an item moving from one to the other). False when
    /// stopped between two groups (see [`Desk::stop`]).
    fn commit_settle(
        &self,
        rt: &Runtime,
        held: &[Held],
        now: Timestamp,
        report: &mut SettleReport,
    ) -> Result<bool, StoreError> {
        let ids = self.settled_ids(held)?;
        // Every story's items once settled; the items that move.
        let mut placed: HashMap<&str, Vec<&str>> = HashMap::new();
        let mut moves: HashMap<&str, &str> = HashMap::new();
        let mut from: HashMap<&str, &str> = HashMap::new();
        for h in held {
            let story = h.settled.as_ref().and_then(|c| ids.get(c)).map_or(h.story.as_str(), String::as_str);
            placed.entry(story).or_default().push(&h.key);
            if story != h.story {
                moves.insert(&h.key, story);
                from.insert(&h.key, &h.story);
            }
        }
        let settled = Settled { placed, moves, from };
        for group in settled.groups() {
            if self.stopping() {
                return Ok(false);
            }
            let changes = self.group_changes(rt, &settled, &group, now)?;
            self.store.commit(&changes)?;
            self.merges.fetch_add(1, std::sync::atomic::Ordering::Release);
            report.moved += changes.items.len();
            report.rebuilt += changes.rebuilt.len();
            report.emptied += changes.emptied.len();
            let records = changes.stories.iter().flat_map(|c| c.old.iter().chain([&c.new]));
            for story in records.chain(changes.emptied.iter().map(|(s, _)| s)) {
                report.feeds.extend(crate::store::story_feeds(story).iter().filter_map(|f| FeedName::from_index(f)));
            }
        }
        Ok(true)
    }

    /// The changes of one group of stories that exchange items: the items
    /// that move, the stories written again, those emptied.
    fn group_changes(
        &self,
        rt: &Runtime,
        settled: &Settled,
        group: &Group,
        now: Timestamp,
    ) -> Result<Changes, StoreError> {
        let mut changes = Changes::default();
        self.move_settled(&mut changes, &group.moving, &settled.moves)?;
        let stored = self.store.stories(&group.stories)?;
        let breaking: HashMap<&str, Timestamp> =
            group.stories.iter().zip(&stored).filter_map(|(id, s)| Some((*id, s.as_ref()?.breaking_since?))).collect();
        for (id, old) in group.stories.iter().zip(stored) {
            match (settled.placed.get(id), old) {
                (Some(keys), old) => {
                    // The stories its items came from, if they were breaking,
                    // pass that moment on.
                    let came_from = group.moving.iter().filter(|k| settled.moves[*k] == *id).map(|k| settled.from[k]);
                    let since = came_from.filter_map(|s| breaking.get(s).copied()).min();
                    self.rebuild(rt, &mut changes, id, old, keys, since, now)?
                }
                (None, Some(old)) => {
                    let to = settled.most_went_to(&old.id, &group.moving);
                    changes.emptied.push((old, to));
                }
                (None, None) => {}
            }
        }
        // Other nodes read these again whole (the clustering log).
        changes.refiled = changes.rebuilt.clone();
        Ok(changes)
    }

    /// The items `keys` under their new stories (`moves`), with their links.
    fn move_settled(
        &self,
        changes: &mut Changes,
        keys: &[&str],
        moves: &HashMap<&str, &str>,
    ) -> Result<(), StoreError> {
        for chunk in keys.chunks(READ_AT_ONCE) {
            for item in self.store.items(chunk)?.into_iter().flatten() {
                let Some(story) = moves.get(item.key.as_str()) else { continue };
                let moved = Item { story: story.to_string(), ..item };
                if let Some(link) = &moved.link {
                    changes.links.push((link.clone(), story.to_string()));
                }
                changes.items.push(moved);
            }
        }
        Ok(())
    }

    /// The stored id each settled story takes: the id of the stored story
    /// it shares most items with (the older story on a tie), each id taken
    /// once; else the id its first item gives a new story (as an ingest
    /// would), unless a stored story has it.
    fn settled_ids(&self, held: &[Held]) -> Result<HashMap<String, String>, StoreError> {
        let mut shared: HashMap<(&str, &str), usize> = HashMap::new();
        // Each settled story's first item: `held` is in the order they sort.
        let mut firsts: BTreeMap<&str, &str> = BTreeMap::new();
        for h in held {
            let Some(c) = h.settled.as_deref() else { continue };
            *shared.entry((c, h.story.as_str())).or_default() += 1;
            firsts.entry(c).or_insert(&h.key);
        }
        let stored: Vec<&str> = shared.keys().map(|(_, s)| *s).collect::<BTreeSet<_>>().into_iter().collect();
        let mut times: HashMap<&str, Timestamp> = HashMap::new();
        for chunk in stored.chunks(READ_AT_ONCE) {
            let found = chunk.iter().zip(self.store.stories(chunk)?);
            times.extend(found.filter_map(|(id, s)| Some((*id, s?.time))));
        }
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
                let mut id = stories::new_story_id(first);
                // A stored story has that id (its first item started it, then
                // went elsewhere): another id, from the same item.
                while taken.contains(&id) || times.contains_key(id.as_str()) || self.id_used(&id)? {
                    id = stories::new_story_id(&format!("{id}/settled"));
                }
                taken.insert(id.clone());
                ids.insert(c.to_string(), id);
            }
        }
        Ok(ids)
    }

    /// Whether a stored story has the id `id`, or had it and leads elsewhere
    /// now (an absorbed id keeps leading to its survivor).
    fn id_used(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.store.story(id)?.is_some() || self.store.redirect(id)?.is_some())
    }

    /// The record, members and story sources of story `id` as settled, with
    /// `keys` (its items once settled). It is breaking when its items make
    /// it so (since `breaking_since`, when the stories they came from were).
    #[allow(clippy::too_many_arguments)]
    fn rebuild(
        &self,
        rt: &Runtime,
        changes: &mut Changes,
        id: &str,
        old: Option<Story>,
        keys: &[&str],
        breaking_since: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut story = old.clone().unwrap_or_else(|| new_story(id, now, now));
        story.breaking = false;
        story.items.clear();
        story.sections.clear();
        story.regions.clear();
        story.tags.clear();
        let mut members: Vec<Member> = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(READ_AT_ONCE) {
            for item in self.store.items(chunk)?.into_iter().flatten() {
                let (filing, _, title_breaking) = file_item(&rt.categorizer, &item);
                members.push(member_of(&rt.categorizer, &item, Some(title_breaking)));
                file_story(&rt.categorizer, &mut story, &filing);
            }
        }
        members.sort_by(|a, b| a.order().cmp(&b.order()));
        changes.story_sources.extend(count_members(&mut story, &members, &rt.config.breaking));
        story.breaking |= story.early_sources.len() >= rt.config.breaking.min_sources;
        story.breaking_since = match story.breaking {
            true => story.breaking_since.or(breaking_since).or(Some(now)),
            false => None,
        };
        story.updated = now;
        if members.len() > 1 {
            changes.members.extend(members.into_iter().map(|m| (id.to_string(), m)));
        }
        changes.rebuilt.push(id.to_string());
        changes.stories.push(StoryChange { old, new: story });
        Ok(())
    }
}

/// Where a settle puts the items.
struct Settled<'h> {
    /// Story id → its items once settled.
    placed: HashMap<&'h str, Vec<&'h str>>,
    /// Item key → the story it moves to, for the items that move.
    moves: HashMap<&'h str, &'h str>,
    /// Item key → the story it moves from.
    from: HashMap<&'h str, &'h str>,
}

/// Stories that exchange items, and the items that move between them.
struct Group<'h> {
    stories: Vec<&'h str>,
    moving: Vec<&'h str>,
}

impl<'h> Settled<'h> {
    /// The stories that exchange items, in groups: two stories are in one
    /// group when an item moves from one to the other.
    fn groups(&self) -> Vec<Group<'h>> {
        let mut root: HashMap<&str, &str> = HashMap::new();
        fn find<'a>(root: &mut HashMap<&'a str, &'a str>, s: &'a str) -> &'a str {
            let mut at = s;
            while let Some(&up) = root.get(at).filter(|up| **up != at) {
                at = up;
            }
            root.insert(s, at);
            at
        }
        for (key, to) in &self.moves {
            let (a, b) = (find(&mut root, self.from[key]), find(&mut root, to));
            root.insert(a.max(b), a.min(b));
        }
        let stories: Vec<&str> = root.keys().copied().collect();
        let mut groups: BTreeMap<&str, Group> = BTreeMap::new();
        for s in stories {
            let group = groups.entry(find(&mut root, s)).or_insert(Group { stories: Vec::new(), moving: Vec::new() });
            group.stories.push(s);
        }
        for key in self.moves.keys() {
            if let Some(group) = groups.get_mut(find(&mut root, self.from[key])) {
                group.moving.push(key);
            }
        }
        groups.into_values().collect()
    }

    /// Where most items of the emptied story `id` went (the least id on a
    /// tie), of the items `moving` in its group.
    fn most_went_to(&self, id: &str, moving: &[&str]) -> String {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for key in moving.iter().filter(|k| self.from[*k] == id) {
            *counts.entry(self.moves[key]).or_default() += 1;
        }
        let best = counts.iter().max_by_key(|(s, n)| (**n, std::cmp::Reverse(**s)));
        best.map(|(s, _)| s.to_string()).unwrap_or_default()
    }
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
    let entries = vec![entry_of(item).0];
    (source, parse::Feed { title: None, language: None, ttl: None, entries, dropped: Default::default() })
}

/// The key `item` is stored under in a scratch store: its own, when a guid
/// identifies it (the common case, told without rebuilding its entry).
fn scratch_key(item: &Item) -> String {
    match item.identity.starts_with("g:") {
        true => item.key.clone(),
        false => entry_of(item).1,
    }
}

/// A stored item as its feed gave it: its stored text, link, date and
/// language, and the identity that gives its stored key; and the key it is
/// stored under in a scratch store.
fn entry_of(item: &Item) -> (parse::Entry, String) {
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
    if identity::identity(&entry) == item.identity {
        return (entry, item.key.clone());
    }
    // Identified by a hash of a title and a date it no longer has (the feed
    // gave none; it is stored with the time it was first seen): a guid of
    // its own, which gives another key.
    entry.guid = Some(item.key.clone());
    let key = identity::item_key(&item.source, &identity::identity(&entry));
    (entry, key)
}

/// A sled store in a fresh folder, deleted when dropped.
struct Scratch {
    /// `None` once dropped (closed before its folder goes).
    store: Option<Store>,
    path: std::path::PathBuf,
}

impl Scratch {
    /// A scratch store beside the sled store at `near` (on its disk, not
    /// in a /tmp that may be memory), else in the system's temporary folder
    /// (`TMPDIR`): where one can be made first.
    fn new(near: Option<&std::path::Path>) -> Result<Scratch, StoreError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!("newsdesk-settle-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let beside = near.and_then(|p| std::path::absolute(p).ok()?.parent().map(|p| p.to_path_buf()));
        if let Some(scratch) = beside.and_then(|folder| Scratch::open_in(&folder, &name).ok()) {
            return Ok(scratch);
        }
        Scratch::open_in(&std::env::temp_dir(), &name)
    }

    fn open_in(folder: &std::path::Path, name: &str) -> Result<Scratch, StoreError> {
        remove_abandoned(folder);
        let path = folder.join(name);
        // Left by a process with this same pid (a container's daemon often
        // has the same one at every start) stopped mid-settle.
        let _ = std::fs::remove_dir_all(&path);
        Ok(Scratch { store: Some(Store::open(&path)?), path })
    }
}

/// Scratch stores of processes that are gone (stopped mid-settle): named
/// for a process that no longer runs, and not written for a day (a settle
/// writes its `db` file throughout; the age guards a process in another
/// PID namespace sharing the folder).
fn remove_abandoned(folder: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(folder) else { return };
    let day_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(86_400);
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name.to_str().and_then(|n| n.strip_prefix("newsdesk-settle-")?.split('-').next());
        let Some(pid) = pid.filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) else { continue };
        let written = std::fs::metadata(entry.path().join("db")).and_then(|m| m.modified());
        let stale = written.map_or(true, |at| at < day_ago);
        if stale && !std::path::Path::new("/proc").join(pid).exists() {
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
