//! One parsed document through identify → cluster → categorise → store.
//! [`Desk::ingest_with`] reads as those steps: a plan, in which each step is a
//! function below and everything they decide gathers in a [`Batch`] (the
//! store is only read), then an apply, in which the store commits the batch
//! in one transaction (`store::apply`).

use super::{
    file_item, member_of, published_time, same_content, same_content_but_summary, Desk, IngestReport, Runtime, Window,
    INDEX_STORIES_KEPT, SOURCE_STRIPES,
};
use crate::categorize::Filing;
use crate::config::{Breaking, Source};
use crate::model::{self, Item, Member, Story, Timestamp};
use crate::parse::{self, identity};
use crate::publish::FeedName;
use crate::store::pg::PgEngine;
use crate::store::{Changes, StoreError, StoryChange};
use crate::stories::{self, StoryIndex};
use crate::text;
use std::collections::{BTreeSet, HashMap, HashSet};

/// What every step of one ingest reads.
struct Ctx<'a> {
    rt: &'a Runtime,
    source: &'a Source,
    feed: &'a parse::Feed,
    now: Timestamp,
    /// Items published before this are too old to store (retention).
    oldest: Timestamp,
}

/// One entry of the document, identified before the clustering lock.
struct Arrival<'f> {
    entry: &'f parse::Entry,
    ident: String,
    key: String,
    /// The item as stored, if it is known.
    existing: Option<Item>,
    /// Its summary was made from the same text as the stored item's.
    same_source: bool,
}

/// A story changed by one ingest.
pub(super) struct Touched {
    /// As stored before (its feed index entries move from there).
    old: Option<Story>,
    story: Story,
    /// Its items added or changed by this ingest.
    joined: Vec<Member>,
    /// Another story merged into it: its first item, sources and coverage
    /// are worked out again from all its members.
    merged: bool,
}

/// What one ingest decides, written by the store in one commit at the end.
#[derive(Default)]
struct Batch {
    /// Stories touched, by id.
    touched: HashMap<String, Touched>,
    items: HashMap<String, Item>,
    /// canonical link → story id
    links: HashMap<String, String>,
    changes: Changes,
    report: IngestReport,
    /// Items edited (a new title, summary or date), or joined by their link
    /// to a story the index does not hold: their stories are read again from
    /// the store once the batch is applied (`Changes::refiled`).
    refiled: Vec<String>,
}

/// What the clustering log since an index last looked asks of it.
struct Logged<'e> {
    /// Stories merged into another: they leave.
    gone: BTreeSet<&'e String>,
    /// Stories read again whole from the store: merge survivors, stories
    /// with an item edited, and stories an item joined while they were
    /// asleep here.
    whole: BTreeSet<&'e String>,
    /// (story, item) for every other item that joined a story, in log order:
    /// added as this node's own ingest would have.
    joins: Vec<(&'e String, &'e str)>,
}

impl<'e> Logged<'e> {
    fn of(entries: &'e [crate::store::pg::LogEntry], index: &StoryIndex) -> Logged<'e> {
        let (mut gone, mut whole) = (BTreeSet::new(), BTreeSet::new());
        for e in entries {
            match (&e.item, &e.survivor) {
                (_, Some(survivor)) => {
                    gone.insert(&e.story);
                    whole.insert(survivor);
                }
                (None, None) => {
                    whole.insert(&e.story);
                }
                (Some(_), None) if index.asleep(&e.story) => {
                    whole.insert(&e.story);
                }
                (Some(_), None) => {}
            }
        }
        whole.retain(|s| !gone.contains(s));
        let joins = entries
            .iter()
            .filter(|e| e.survivor.is_none() && !gone.contains(&e.story) && !whole.contains(&e.story))
            .filter_map(|e| Some((&e.story, e.item.as_deref()?)))
            .collect();
        Logged { gone, whole, joins }
    }
}

/// Where an item went: its story, its filing and whether its title carries a
/// breaking keyword.
type Placed = (String, Filing, bool);

impl Desk {
    /// [`Desk::ingest`] by the rules of `rt` (those its poll started with).
    pub fn ingest_with(
        &self,
        rt: &Runtime,
        source: &Source,
        feed: &parse::Feed,
        now: Timestamp,
    ) -> Result<IngestReport, StoreError> {
        // A source's items are written only by its own ingests, which run one
        // at a time (its stripe lock, held to the end), and by merges (see
        // `Desk::merges` below), so what is identified before the clustering
        // lock is still true under it unless a merge came between.
        let stripe = xxhash_rust::xxh3::xxh3_64(source.id.as_bytes()) as usize % SOURCE_STRIPES;
        let _source = self.sources[stripe].lock().unwrap_or_else(|p| p.into_inner());
        let oldest = model::before(now, rt.config.storage.retention);
        let ctx = Ctx { rt, source, feed, now, oldest };
        let merges = self.merges.load(std::sync::atomic::Ordering::Acquire);
        let arrivals = self.identify(&ctx)?;
        // Several nodes on one database decide one at a time, each first
        // taking in what the others decided (see `catch_up`).
        // This node's lock first: only one of its connections at a time
        // waits for the cluster's (a pool of waiters would starve the holder).
        let mut guard = self.index.lock().unwrap_or_else(|p| p.into_inner());
        let pg = self.store.postgres();
        let _clustering = pg.map(|pg| pg.lock_clustering()).transpose()?;
        if let Some(pg) = pg {
            if let Err(e) = self.catch_up(rt, pg, &mut guard) {
                // Taken in halfway: the next ingest builds it again.
                *guard = None;
                return Err(e);
            }
        }
        // Another source's ingest merged stories meanwhile (it moves items
        // of every source): the stored items are read again, so that an
        // edited one is not written back under an absorbed story's id.
        let arrivals = match self.merges.load(std::sync::atomic::Ordering::Acquire) == merges {
            true => arrivals,
            false => self.identify(&ctx)?,
        };
        let applied = self.plan(&ctx, &mut guard, arrivals).and_then(|batch| {
            let refiled = batch.changes.refiled.clone();
            self.apply(&ctx, batch).map(|report| (report, refiled))
        });
        let applied = applied.map(|(report, refiled)| {
            self.refresh(&rt.categorizer, &mut guard, &refiled);
            report
        });
        match (&applied, pg, guard.as_mut()) {
            // The index took this ingest's placements and merges, the store
            // did not: the next ingest builds the index again from the store.
            (Err(_), _, _) => *guard = None,
            // What this node just logged, its index holds already.
            (Ok(_), Some(pg), Some(window)) => window.seen = window.seen.max(pg.last_logged()),
            _ => {}
        }
        applied
    }

    /// The stories this ingest asks to read again (`Changes::refiled`: an
    /// item edited, a link join to a story not held, words past their
    /// bound), held as the store now has them, as an index built from the
    /// store would (it reads the edited text; the running one had kept the
    /// old). An index that cannot read them is dropped, to be built again by
    /// the next ingest.
    fn refresh(&self, categorizer: &crate::categorize::Categorizer, guard: &mut Option<Window>, stories: &[String]) {
        let Some(window) = guard.as_mut() else { return };
        if let Err(e) = self.reread(categorizer, window, stories.iter().map(String::as_str).collect()) {
            tracing::warn!(error = %e, "clustering index: a story could not be read again; the index is built again");
            *guard = None;
        }
    }

    /// Take into the clustering index what other nodes decided since it last
    /// looked (the clustering log), so that it holds what an index built
    /// from the store now would: see [`Logged`]. An index whose log entries
    /// were trimmed away is built again from the store.
    fn catch_up(&self, rt: &Runtime, pg: &PgEngine, guard: &mut Option<Window>) -> Result<(), StoreError> {
        let Some(window) = guard.as_mut() else { return Ok(()) };
        let Some(entries) = pg.log_since(window.seen)? else {
            *guard = None;
            return Ok(());
        };
        let Some(last) = entries.last().map(|e| e.seq) else { return Ok(()) };
        let logged = Logged::of(&entries, &window.index);
        if !logged.gone.is_empty() {
            // Other nodes merged stories (or a settle emptied some).
            self.merges.fetch_add(1, std::sync::atomic::Ordering::Release);
        }
        let joins = self.joins_held(window, logged.joins)?;
        let keys: Vec<&str> = joins.iter().map(|(_, key)| *key).collect();
        for ((story, _), item) in joins.iter().zip(self.store.items(&keys)?) {
            if let Some(item) = item {
                let (_, sig, _) = super::file_item(&rt.categorizer, &item);
                let sig = stories::Packed::from(sig).ranked(item.first_seen, &item.key);
                window.index.add(story, item.published, sig);
            }
        }
        for story in &logged.gone {
            window.index.forget(story);
        }
        // And those the joins left with other words than the store gives.
        let stale = window.index.take_stale();
        let whole = logged.whole.into_iter().map(String::as_str).chain(stale.iter().map(String::as_str)).collect();
        self.reread(&rt.categorizer, window, whole)?;
        window.seen = last;
        Ok(())
    }

    /// The joins an index built from the store now would hold: those into
    /// stories held awake, and into stories not held that begin inside the
    /// span the index holds whole (stories new since it last looked: all
    /// their items are in the log). A story not held from before that span
    /// stays out.
    fn joins_held<'e>(
        &self,
        window: &Window,
        joins: Vec<(&'e String, &'e str)>,
    ) -> Result<Vec<(&'e String, &'e str)>, StoreError> {
        let unheld: Vec<&str> = joins
            .iter()
            .filter(|(story, _)| !window.index.contains(story))
            .map(|(story, _)| story.as_str())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let before: BTreeSet<&str> = unheld
            .iter()
            .zip(self.store.stories(&unheld)?)
            .filter(|(_, story)| story.as_ref().is_none_or(|s| s.time < window.since))
            .map(|(id, _)| *id)
            .collect();
        Ok(joins.into_iter().filter(|(story, _)| !before.contains(story.as_str())).collect())
    }

    /// `stories` read again whole from the store, as an index built now
    /// would hold them: each one held (awake or asleep) or inside the span
    /// the index holds whole. A story that is asleep by its time goes back
    /// to sleep when the next ingest sets its window.
    fn reread(
        &self,
        categorizer: &crate::categorize::Categorizer,
        window: &mut Window,
        stories: BTreeSet<&str>,
    ) -> Result<(), StoreError> {
        let ids: Vec<&str> = stories.into_iter().collect();
        for (id, story) in ids.iter().zip(self.store.stories(&ids)?) {
            let held = window.index.forget(id).is_some();
            let Some(story) = story else { continue };
            if held || story.time >= window.since {
                self.load_story(categorizer, &mut window.index, &story)?;
            }
        }
        Ok(())
    }

    /// Every change of one ingest, decided against the index and what is
    /// stored (read only): new and updated items, joins, merges, story
    /// records with their first items, sources and breaking marks.
    fn plan(&self, ctx: &Ctx, guard: &mut Option<Window>, mut arrivals: Vec<Arrival>) -> Result<Batch, StoreError> {
        // In the order they were published, as the index ranks reports (a
        // feed lists its newest first): the entries of a document in any
        // order make the same stories.
        arrivals.sort_by_cached_key(|a| {
            let seen = a.existing.as_ref().map_or(ctx.now, |i| i.first_seen);
            stories::packed::rank_of(published_time(a.entry.feed_date, seen), seen, &a.key)
        });
        let held = self.window_for(ctx, guard, &arrivals)?;
        let mut batch = Batch::default();
        for arrival in arrivals {
            self.take(ctx, &mut held.index, &mut batch, arrival)?;
        }
        self.finish_stories(ctx, &mut batch)?;
        // The stories the edited items are in once the plan is done (a
        // merge may have moved them), and those the index may hold other
        // words of than the store will give.
        let edited = std::mem::take(&mut batch.refiled);
        batch.changes.refiled = edited.iter().filter_map(|k| Some(batch.items.get(k)?.story.clone())).collect();
        batch.changes.refiled.extend(held.index.take_stale());
        Ok(batch)
    }

    /// Before the clustering lock (other sources' ingests run meanwhile):
    /// which stored item each entry is, whether its summary was made from the
    /// same text as that item's, and the sanitised summary of each entry that
    /// will need it (new and not too old, or made from other text).
    fn identify<'f>(&self, ctx: &Ctx<'f>) -> Result<Vec<Arrival<'f>>, StoreError> {
        let mut seen: HashSet<String> = HashSet::new();
        let mut found = Vec::with_capacity(ctx.feed.entries.len());
        for entry in &ctx.feed.entries {
            let ident = identity::identity(entry);
            let key = identity::item_key(&ctx.source.id, &ident);
            if seen.insert(key.clone()) {
                found.push((entry, ident, key));
            }
            // else: the same identity twice in one document: the first wins
        }
        // One read for the whole document (one round trip on PostgreSQL).
        let keys: Vec<&str> = found.iter().map(|(_, _, k)| k.as_str()).collect();
        let stored = self.store.items(&keys)?;
        let mut arrivals = Vec::with_capacity(found.len());
        for ((entry, ident, key), existing) in found.into_iter().zip(stored) {
            let same_source =
                existing.as_ref().and_then(|old| old.summary_source).is_some_and(|f| entry.summary.made_from(f));
            let too_old = existing.is_none() && published_time(entry.feed_date, ctx.now) < ctx.oldest;
            if !same_source && !too_old {
                entry.summary.html();
            }
            arrivals.push(Arrival { entry, ident, key, existing, same_source });
        }
        Ok(arrivals)
    }

    /// The clustering index, holding twice the window before the oldest new
    /// item (or before now): the stories of an old item's window are read in
    /// from the store, and stories older than the live window leave only once
    /// the index is large (ingests of old items, a backlog or several
    /// archives at once, would otherwise read the same stories again and again).
    fn window_for<'g>(
        &self,
        ctx: &Ctx,
        guard: &'g mut Option<Window>,
        arrivals: &[Arrival],
    ) -> Result<&'g mut Window, StoreError> {
        let span = model::secs(ctx.rt.config.dedup.window).saturating_mul(2);
        let held = match guard {
            Some(held) => held,
            None => guard.insert(self.build_index(ctx.rt, ctx.now)?),
        };
        let oldest_new = arrivals
            .iter()
            .filter(|a| a.existing.is_none())
            .map(|a| published_time(a.entry.feed_date, ctx.now))
            .filter(|t| *t >= ctx.oldest)
            .min();
        let oldest = oldest_new.unwrap_or(ctx.now).min(ctx.now);
        let (from, live_from) = (oldest.saturating_sub(span), ctx.now.saturating_sub(span));
        // The stories from `from` on are weighed and matched, exactly those
        // an index built at this moment from the store would hold (word
        // weights count them, so a restart or a backlog must find the same
        // ones). Those before it leave the index when this ingest is inside
        // the live window; for a backlog, they stay held but dormant, and
        // leave only once the index is large: evicting the stories of an
        // old item's window, to read them in again at once, made every
        // ingest of a backlog read its whole window from the store.
        if oldest >= live_from || held.index.len() > INDEX_STORIES_KEPT {
            // Never what this ingest needs.
            let before = from.min(live_from);
            held.index.evict_before(before);
            held.since = held.since.max(before);
        }
        held.index.retire_before(from);
        self.cover(&ctx.rt.categorizer, held, from)?;
        Ok(held)
    }

    /// One entry: a known item updated (or found unchanged), a new one placed
    /// in a story, and the story it is in told of it.
    fn take(&self, ctx: &Ctx, index: &mut StoryIndex, batch: &mut Batch, a: Arrival) -> Result<(), StoreError> {
        let mut item = Item {
            key: a.key.clone(),
            source: ctx.source.id.clone(),
            identity: a.ident.clone(),
            title: a.entry.title.clone(),
            link: a.entry.link.clone(),
            summary: String::new(),
            summary_source: None,
            author: a.entry.author.clone(),
            categories: a.entry.categories.clone(),
            language: None,
            published: 0,
            first_seen: ctx.now,
            updated: ctx.now,
            story: String::new(),
        };
        let is_new = a.existing.is_none();
        // Filing and the signature are computed only for new or changed items:
        // an unchanged item (the common re-poll) costs one lookup.
        let placed = match is_new {
            false => self.update_known(ctx, batch, &a, &mut item),
            true => self.place_new(ctx, index, batch, &a, &mut item)?,
        };
        if let Some(placed) = placed {
            self.join_story(ctx, batch, item, is_new, placed)?;
        }
        Ok(())
    }

    /// A known item: unchanged (counted, and its record given the summary's
    /// fingerprint where an older release stored none), or updated and
    /// re-filed in the story it is in. `None` when unchanged.
    fn update_known(&self, ctx: &Ctx, batch: &mut Batch, a: &Arrival, item: &mut Item) -> Option<Placed> {
        let old = a.existing.as_ref()?;
        item.first_seen = old.first_seen;
        item.published = published_time(a.entry.feed_date, old.first_seen);
        item.story = old.story.clone();
        item.updated = old.updated;
        if a.same_source {
            // Made from the same text as before: the same HTML.
            if same_content_but_summary(old, item) {
                batch.report.unchanged += 1;
                return None;
            }
            item.summary = old.summary.clone();
            item.summary_source = old.summary_source;
        } else {
            item.summary = a.entry.summary.html().to_string();
            item.summary_source = Some(a.entry.summary.fingerprint());
            if same_content(old, item) {
                batch.report.unchanged += 1;
                // Stored by an older release (no fingerprint), or made from
                // text that differs only where sanitising does not look: the
                // record keeps this fingerprint from now on, so that the next
                // poll need not sanitise it.
                batch.items.insert(a.key.clone(), Item { summary_source: item.summary_source, ..old.clone() });
                return None;
            }
        }
        item.language = Some(language_of(ctx, a.entry, item));
        item.updated = ctx.now;
        batch.report.updated += 1;
        batch.refiled.push(a.key.clone());
        let (filing, _, title_breaking) = file_item(&ctx.rt.categorizer, item);
        Some((old.story.clone(), filing, title_breaking))
    }

    /// A new item: the story of its link, else the stories it is a near
    /// duplicate of (merged when they are one event), else a new story.
    /// `None` when it is older than retention.
    fn place_new(
        &self,
        ctx: &Ctx,
        index: &mut StoryIndex,
        batch: &mut Batch,
        a: &Arrival,
        item: &mut Item,
    ) -> Result<Option<Placed>, StoreError> {
        item.published = published_time(a.entry.feed_date, ctx.now);
        if item.published < ctx.oldest {
            batch.report.too_old += 1;
            return Ok(None);
        }
        item.summary = a.entry.summary.html().to_string();
        item.summary_source = Some(a.entry.summary.fingerprint());
        item.language = Some(language_of(ctx, a.entry, item));
        let link_story = match &item.link {
            Some(l) => match batch.links.get(l) {
                Some(s) => Some(s.clone()),
                None => self.store.story_for_link(l)?,
            },
            None => None,
        };
        let (filing, sig, title_breaking) = file_item(&ctx.rt.categorizer, item);
        // Packed once: to match, then to keep in the index.
        let sig = stories::Packed::from(sig).ranked(item.first_seen, &item.key);
        let (window, threshold) = (model::secs(ctx.rt.config.dedup.window), ctx.rt.config.dedup.similarity);
        let near = match link_story {
            Some(_) => Vec::new(),
            None => index.matches_packed(&sig, item.published, window, threshold),
        };
        let placement = stories::place(&a.key, link_story, near, |a, b| {
            index.alike(a, b, threshold) || index.alike(b, a, threshold)
        });
        for absorbed in &placement.absorbs {
            index.absorb(absorbed, &placement.story);
            self.absorb_story(batch, absorbed, &placement.story, ctx.now)?;
        }
        if placement.new || index.contains(&placement.story) {
            index.add(&placement.story, item.published, sig);
        } else {
            // Joined by its link to a story the index does not hold (one
            // from before the span it holds whole): read again once applied,
            // if an index built from the store would hold it (`refresh`).
            batch.refiled.push(a.key.clone());
        }
        item.story = placement.story.clone();
        batch.report.new += 1;
        batch.changes.new_items += 1;
        Ok(Some((placement.story, filing, title_breaking)))
    }

    /// The item joins its story's changes: a member, and the story's sections,
    /// regions and tags widened by its filing.
    fn join_story(
        &self,
        ctx: &Ctx,
        batch: &mut Batch,
        item: Item,
        is_new: bool,
        placed: Placed,
    ) -> Result<(), StoreError> {
        let (story_id, filing, title_breaking) = placed;
        let categorizer = &ctx.rt.categorizer;
        if let Some(l) = &item.link {
            batch.links.entry(l.clone()).or_insert_with(|| story_id.clone());
        }
        let t = self.touch(&mut batch.touched, &story_id, item.published, ctx.now)?;
        t.joined.retain(|m| m.key != item.key);
        t.joined.push(member_of(categorizer, &item, Some(title_breaking)));
        let story = &mut t.story;
        if is_new {
            story.size += 1;
        }
        file_story(categorizer, story, &filing);
        story.updated = ctx.now;
        batch.items.insert(item.key.clone(), item);
        Ok(())
    }

    /// Each touched story's first item, time, sources, members to write,
    /// breaking mark and announcement, and the feeds it changes.
    fn finish_stories(&self, ctx: &Ctx, batch: &mut Batch) -> Result<(), StoreError> {
        let Batch { touched, items, changes, report, .. } = batch;
        for t in touched.values_mut() {
            let was_breaking = t.story.breaking;
            let first_moves = t.joined.iter().any(|m| match &t.story.first {
                None => true,
                Some(f) => m.key == f.key || m.order() < f.order(),
            });
            if first_moves || t.merged || !t.story.items.is_empty() {
                self.recount(ctx, t, changes)?;
            } else {
                self.count_joined(ctx, t, changes)?;
            }
            // Once breaking, a story stays marked; it leaves the breaking feed
            // `breaking.max_age` after its first item.
            t.story.breaking |= t.story.early_sources.len() >= ctx.rt.config.breaking.min_sources;
            write_members(t, changes);
            if t.story.breaking && !was_breaking {
                t.story.breaking_since = Some(ctx.now);
                self.announce(ctx, &t.story, items, report)?;
            }
            for f in t.old.iter().chain(std::iter::once(&t.story)).flat_map(crate::store::story_feeds) {
                if let Some(name) = FeedName::from_index(&f) {
                    report.feeds.insert(name);
                }
            }
        }
        Ok(())
    }

    /// A story whose first item changes, that a merge widened, or that an
    /// older release stored: its first item, time, sources and coverage from
    /// all its members.
    fn recount(&self, ctx: &Ctx, t: &mut Touched, changes: &mut Changes) -> Result<(), StoreError> {
        let story = &mut t.story;
        // Items an older release listed in the story record move into the
        // members table, each read once for its breaking mark.
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
                let m = member_of(&ctx.rt.categorizer, &i, None);
                changes.members.push((story.id.clone(), m.clone()));
                all.push(m);
            }
        }
        all.retain(|m| !t.joined.iter().any(|j| j.key == m.key));
        all.extend(t.joined.iter().cloned());
        all.sort_by(|a, b| a.order().cmp(&b.order()));
        changes.story_sources.extend(count_members(story, &all, &ctx.rt.config.breaking));
        Ok(())
    }

    /// A story whose first item stays: its sources, coverage and breaking
    /// mark from its record and the joining items alone.
    fn count_joined(&self, ctx: &Ctx, t: &mut Touched, changes: &mut Changes) -> Result<(), StoreError> {
        let story = &mut t.story;
        let coverage_window = model::secs(ctx.rt.config.breaking.window);
        let min_sources = ctx.rt.config.breaking.min_sources;
        for m in &t.joined {
            // New to the story: not in its record's list, and either the list
            // is all of them or the story-sources table lacks it.
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
                        changes.story_sources.extend(story.sources.iter().map(|s| (story.id.clone(), s.clone())));
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
        Ok(())
    }

    /// A story that just became breaking, announced unless it is old news (a
    /// backlog item from long ago is breaking in the record, but not news).
    fn announce(
        &self,
        ctx: &Ctx,
        story: &Story,
        items: &HashMap<String, Item>,
        report: &mut IngestReport,
    ) -> Result<(), StoreError> {
        if story.time < model::before(ctx.now, ctx.rt.config.breaking.max_age) {
            return Ok(());
        }
        let first = match &story.first {
            Some(m) => match items.get(&m.key) {
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
            sources: story.sources.clone(),
            at: ctx.now,
        });
        Ok(())
    }

    /// Everything the plan decided, in one atomic commit.
    fn apply(&self, ctx: &Ctx, batch: Batch) -> Result<IngestReport, StoreError> {
        let Batch { touched, items, links, mut changes, report, .. } = batch;
        changes.stories = touched.into_values().map(|t| StoryChange { old: t.old, new: t.story }).collect();
        changes.items = items.into_values().collect();
        changes.links = links.into_iter().collect();
        if changes.new_items > 0 {
            changes.new_by_source.push((ctx.source.id.clone(), changes.new_items));
        }
        if !changes.items.is_empty() || !changes.stories.is_empty() {
            self.store.commit(&changes)?;
        }
        if !changes.absorbed.is_empty() {
            self.merges.fetch_add(1, std::sync::atomic::Ordering::Release);
        }
        Ok(report)
    }

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
        self.move_items(batch, &members, absorbed, survivor)?;
        let t = self.touch(&mut batch.touched, survivor, gone.story.time, now)?;
        t.joined.retain(|j| !members.iter().any(|m| m.key == j.key));
        t.joined.extend(members);
        t.merged = true;
        t.story.take_labels(&gone.story);
        t.story.updated = now;
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

    /// The items of an absorbed story, and the links that led to it, under the survivor.
    fn move_items(
        &self,
        batch: &mut Batch,
        members: &[Member],
        absorbed: &str,
        survivor: &str,
    ) -> Result<(), StoreError> {
        for m in members {
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
        Ok(())
    }
}

/// A story's sections, regions and tags widened by one of its items' filing.
pub(super) fn file_story(categorizer: &crate::categorize::Categorizer, story: &mut Story, filing: &Filing) {
    model::union(&mut story.sections, &filing.sections);
    categorizer.settle_sections(&mut story.sections);
    model::union(&mut story.regions, &filing.regions);
    // A story's tags are bounded like an item's: the first ones stay.
    model::union(&mut story.tags, &filing.tags);
    story.tags.truncate(Story::TAGS_KEPT);
}

/// A story's size, first item, time, sources, early coverage and breaking
/// flag from all its members (`all`, first first). Returns the story-source
/// rows to write: every source, once the record cannot list them all.
pub(super) fn count_members(story: &mut Story, all: &[Member], breaking: &Breaking) -> Vec<(String, String)> {
    story.size = all.len() as u32;
    story.first = all.first().cloned();
    story.time = all.first().map(|m| m.published).unwrap_or(story.time);
    story.sources.clear();
    story.early_sources.clear();
    let coverage_window = model::secs(breaking.window);
    let mut distinct: HashSet<&str> = HashSet::new();
    for m in all {
        if distinct.insert(&m.source) && story.sources.len() < Story::SOURCES_KEPT {
            story.sources.push(m.source.clone());
        }
        if m.published - story.time <= coverage_window && !story.early_sources.contains(&m.source) {
            story.early_sources.push(m.source.clone());
        }
        story.breaking |= m.flagged;
    }
    story.early_sources.truncate(breaking.min_sources);
    story.source_count = distinct.len() as u32;
    // The story-sources table is needed (and complete) only once the
    // record's list is not.
    match distinct.len() > story.sources.len() {
        true => distinct.iter().map(|s| (story.id.clone(), s.to_string())).collect(),
        false => Vec::new(),
    }
}

/// The members a story's change writes. A story of one item keeps it in its
/// record alone (`first`); the members table has a story's items once it has
/// two, so the item that was alone is written with the one that joins it.
fn write_members(t: &mut Touched, changes: &mut Changes) {
    if t.story.size <= 1 {
        return;
    }
    if let Some(alone) = t.old.as_ref().filter(|o| o.size <= 1).and_then(|o| o.first.as_ref()) {
        if !t.joined.iter().any(|m| m.key == alone.key) {
            changes.members.push((t.story.id.clone(), alone.clone()));
        }
    }
    changes.members.extend(t.joined.drain(..).map(|m| (t.story.id.clone(), m)));
}

/// An item's language: the source's, the entry's or the feed's, else detected
/// from the first few hundred characters of its title and summary.
fn language_of(ctx: &Ctx, entry: &parse::Entry, item: &Item) -> String {
    let declared = ctx.source.language.clone().or_else(|| entry.language.clone()).or_else(|| ctx.feed.language.clone());
    declared.unwrap_or_else(|| {
        let head = format!("{} {}", item.title, text::lead(&item.summary, 400));
        parse::normalize::detect_language(&head).to_string()
    })
}

/// A story record before its first item is counted in.
pub(super) fn new_story(id: &str, time: Timestamp, now: Timestamp) -> Story {
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
