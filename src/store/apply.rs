//! One commit's changes applied in one sled transaction: a merge, the moves
//! of its members, the items and the story records land together or not at
//! all (a change larger than [`TRANSACTION_BYTES`] is written write by write,
//! in an order a crash cannot hurt). The writes are worked out first, reading
//! what is stored (prefix scans, which a sled transaction cannot do), then
//! applied at once.

use super::{decode, encode, keys, member_prefix, source_items_key, Changes, Result, Store, StoreError};
use crate::model::{Item, Member, Story};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};
use sled::IVec;
use std::collections::{BTreeMap, BTreeSet};

/// The writes to one tree: key → its new value, or `None` to remove it. A
/// later write to a key replaces an earlier one, as applied in order would.
/// Values are sled's shared buffers, so the transaction (which may run its
/// closure more than once) takes them without copying a large ingest again.
#[derive(Default)]
struct TreeWrites {
    writes: BTreeMap<Vec<u8>, Option<IVec>>,
    /// The bytes of the values written.
    bytes: usize,
}

impl TreeWrites {
    fn put(&mut self, key: impl Into<Vec<u8>>, value: impl Into<IVec>) {
        let value = value.into();
        self.bytes += value.len();
        self.writes.insert(key.into(), Some(value));
    }

    fn remove(&mut self, key: impl Into<Vec<u8>>) {
        self.writes.insert(key.into(), None);
    }

    /// What these writes make of `key`, if they touch it.
    fn written(&self, key: &[u8]) -> Option<Option<&[u8]>> {
        self.writes.get(key).map(|v| v.as_deref())
    }

    /// The keys written under `prefix` (not removals).
    fn keys_under(&self, prefix: &[u8]) -> Vec<Vec<u8>> {
        let range = self.writes.range(prefix.to_vec()..);
        range.take_while(|(k, _)| k.starts_with(prefix)).filter(|(_, v)| v.is_some()).map(|(k, _)| k.clone()).collect()
    }
}

/// Everything one commit writes, tree by tree, and the counters it moves.
#[derive(Default)]
pub(super) struct Writes {
    items: TreeWrites,
    stories: TreeWrites,
    members: TreeWrites,
    story_sources: TreeWrites,
    feeds: TreeWrites,
    links: TreeWrites,
    redirects: TreeWrites,
    merging: TreeWrites,
    /// counter name in `meta` → how much it moves.
    counters: BTreeMap<String, i64>,
}

/// The largest change applied in one transaction. sled holds what a
/// transaction writes and replaces in memory until it ends: transactions over
/// the large documents of tests/hostile.rs, several at once, took the daemon's
/// peak memory from 182 to 280 MiB (195 MiB with this bound). A larger change
/// is applied write by write, in an order a crash cannot hurt
/// ([`Store::apply_in_order`]); a poll of a few hundred ordinary items is
/// well below it.
const TRANSACTION_BYTES: usize = 512 << 10;

impl Writes {
    fn count(&mut self, counter: &str, delta: i64) {
        *self.counters.entry(counter.to_string()).or_default() += delta;
    }
}

impl Store {
    /// The writes of one ingest's changes: merges marked (redirects), members,
    /// sources, story records with their feed index entries, links, items,
    /// counters, then what is left of each absorbed story moved and deleted.
    pub(super) fn plan_writes(&self, changes: &Changes) -> Result<Writes> {
        let mut w = Writes::default();
        for (story, survivor) in &changes.absorbed {
            w.redirects.put(story.id.as_bytes(), survivor.as_bytes());
        }
        for (story, m) in &changes.members {
            let mut k = member_prefix(story);
            k.extend_from_slice(m.key.as_bytes());
            w.members.put(k, encode(m));
        }
        for (story, source) in &changes.story_sources {
            let mut k = member_prefix(story);
            k.extend_from_slice(source.as_bytes());
            w.story_sources.put(k, IVec::default());
        }
        for c in &changes.stories {
            put_story(&mut w, c.old.as_ref(), &c.new);
            if c.old.is_none() {
                w.count("stories", 1);
            }
        }
        for (link, story) in &changes.links {
            w.links.put(link.as_bytes(), story.as_bytes());
        }
        for item in &changes.items {
            w.items.put(item.key.as_bytes(), encode(item));
        }
        w.count("items", changes.new_items as i64);
        for (source, n) in &changes.new_by_source {
            w.count(&source_items_key(source), *n as i64);
        }
        for (absorbed, survivor) in &changes.absorbed {
            self.finish_merge(&mut w, absorbed, survivor)?;
        }
        Ok(w)
    }

    /// Apply `w`: in one transaction over every tree it may touch, unless it
    /// is larger than [`TRANSACTION_BYTES`] (see there).
    pub(super) fn apply_writes(&self, w: &Writes) -> Result<()> {
        let pairs = self.with_writes(w);
        let bytes: usize = pairs.iter().map(|(_, list)| list.bytes).sum();
        if bytes > TRANSACTION_BYTES {
            return self.apply_in_order(w);
        }
        let mut trees: Vec<&sled::Tree> = pairs.iter().map(|(tree, _)| *tree).collect();
        trees.push(&self.meta);
        let done = trees[..].transaction(|t| {
            for (tree, (_, list)) in t.iter().zip(&pairs) {
                for (k, v) in &list.writes {
                    match v {
                        Some(v) => tree.insert(k.as_slice(), v.clone())?,
                        None => tree.remove(k.as_slice())?,
                    };
                }
            }
            let meta = &t[pairs.len()];
            for (counter, delta) in w.counters.iter().filter(|(_, d)| **d != 0) {
                let old = meta.get(counter.as_bytes())?;
                let cur = old.and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok()).map(u64::from_be_bytes).unwrap_or(0);
                meta.insert(counter.as_bytes(), &cur.saturating_add_signed(*delta).to_be_bytes()[..])?;
            }
            Ok::<(), ConflictableTransactionError<std::convert::Infallible>>(())
        });
        match done {
            Ok(()) => Ok(()),
            Err(TransactionError::Storage(e)) => Err(StoreError::Io(e)),
            Err(TransactionError::Abort(never)) => match never {},
        }
    }

    /// Each tree with what `w` writes to it.
    fn with_writes<'w>(&'w self, w: &'w Writes) -> [(&'w sled::Tree, &'w TreeWrites); 8] {
        [
            (&self.items, &w.items),
            (&self.stories, &w.stories),
            (&self.members, &w.members),
            (&self.story_sources, &w.story_sources),
            (&self.feeds, &w.feeds),
            (&self.links, &w.links),
            (&self.redirects, &w.redirects),
            (&self.merging, &w.merging),
        ]
    }

    /// `w` write by write, as releases before the transaction did: merges
    /// marked first (a merge a crash interrupts is finished at the next
    /// open), story records before the items that point at them, counters
    /// after the items they count.
    fn apply_in_order(&self, w: &Writes) -> Result<()> {
        for (k, v) in &w.redirects.writes {
            if let Some(survivor) = v {
                self.merging.insert(k.as_slice(), survivor.clone())?;
            }
        }
        let trees =
            [&self.redirects, &self.members, &self.story_sources, &self.stories, &self.feeds, &self.links, &self.items];
        let lists = [&w.redirects, &w.members, &w.story_sources, &w.stories, &w.feeds, &w.links, &w.items];
        for (tree, list) in trees.into_iter().zip(lists) {
            for (k, v) in &list.writes {
                match v {
                    Some(v) => tree.insert(k.as_slice(), v.clone())?,
                    None => tree.remove(k.as_slice())?,
                };
            }
        }
        for (counter, delta) in &w.counters {
            self.add_meta(counter, *delta)?;
        }
        for k in w.merging.writes.keys() {
            self.merging.remove(k.as_slice())?;
        }
        Ok(())
    }

    /// Move whatever of `absorbed` is still stored under its own id to
    /// `survivor` (what the ingest moved already is skipped), then delete the
    /// absorbed story's records.
    pub(super) fn finish_merge(&self, w: &mut Writes, absorbed: &Story, survivor: &str) -> Result<()> {
        let prefix = member_prefix(&absorbed.id);
        for k in self.stored_keys_under(&self.members, &w.members, &prefix)? {
            if let Some(v) = self.current(&self.members, &w.members, &k)? {
                let m: Member = decode(&k, &v)?;
                self.move_member(w, &m, survivor)?;
            }
            w.members.remove(k);
        }
        // A story of one item keeps it in its record alone.
        if let Some(first) = &absorbed.first {
            self.move_member(w, first, survivor)?;
        }
        for k in self.stored_keys_under(&self.story_sources, &w.story_sources, &prefix)? {
            let mut moved = member_prefix(survivor);
            moved.extend_from_slice(&k[prefix.len()..]);
            w.story_sources.put(moved, IVec::default());
            w.story_sources.remove(k);
        }
        for k in keys::feed_keys(absorbed) {
            w.feeds.remove(k);
        }
        if self.current(&self.stories, &w.stories, absorbed.id.as_bytes())?.is_some() {
            w.stories.remove(absorbed.id.as_bytes());
            w.count("stories", -1);
        }
        w.merging.remove(absorbed.id.as_bytes());
        Ok(())
    }

    /// A member of an absorbed story, and its item, under `survivor`.
    fn move_member(&self, w: &mut Writes, m: &Member, survivor: &str) -> Result<()> {
        let mut k = member_prefix(survivor);
        k.extend_from_slice(m.key.as_bytes());
        if self.current(&self.members, &w.members, &k)?.is_none() {
            w.members.put(k, encode(m));
        }
        if let Some(v) = self.current(&self.items, &w.items, m.key.as_bytes())? {
            let mut item: Item = decode(m.key.as_bytes(), &v)?;
            if item.story != survivor {
                item.story = survivor.to_string();
                w.items.put(m.key.as_bytes(), encode(&item));
            }
        }
        Ok(())
    }

    /// The value of `key` once `pending` is applied to `tree`.
    fn current(&self, tree: &sled::Tree, pending: &TreeWrites, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match pending.written(key) {
            Some(v) => Ok(v.map(<[u8]>::to_vec)),
            None => Ok(tree.get(key)?.map(|v| v.to_vec())),
        }
    }

    /// The keys under `prefix` once `pending` is applied to `tree`.
    fn stored_keys_under(&self, tree: &sled::Tree, pending: &TreeWrites, prefix: &[u8]) -> Result<BTreeSet<Vec<u8>>> {
        let mut out = BTreeSet::new();
        for r in tree.scan_prefix(prefix) {
            let (k, _) = r?;
            if pending.written(&k) != Some(None) {
                out.insert(k.to_vec());
            }
        }
        out.extend(pending.keys_under(prefix));
        Ok(out)
    }
}

/// A story record written, and its feed index entries moved from `old`'s.
pub(super) fn put_story(w: &mut Writes, old: Option<&Story>, new: &Story) {
    w.stories.put(new.id.as_bytes(), encode(new));
    let new_keys = keys::feed_keys(new);
    let old_keys = old.map(keys::feed_keys).unwrap_or_default();
    for k in old_keys.iter().filter(|k| !new_keys.contains(k)) {
        w.feeds.remove(k.clone());
    }
    for k in new_keys.into_iter().filter(|k| !old_keys.contains(k)) {
        w.feeds.put(k, IVec::default());
    }
}
