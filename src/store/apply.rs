//! One commit's changes worked out as writes, then applied all or nothing by
//! the engine: a merge, the moves of its members, the items and the story
//! records land together or not at all. The writes are worked out first,
//! reading what is stored (prefix scans, which a sled transaction cannot
//! do), then applied at once (one sled transaction, or one PostgreSQL
//! transaction).

use super::engine::{Range, Tree};
use super::{decode, encode, keys, member_prefix, source_items_key, Changes, Result, Store};
use crate::model::{Item, Member, Story};
use std::collections::{BTreeMap, BTreeSet};

/// The writes to one tree: key → its new value, or `None` to remove it. A
/// later write to a key replaces an earlier one, as applied in order would.
#[derive(Default)]
pub struct TreeWrites {
    pub writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// The bytes of the values written.
    pub bytes: usize,
}

impl TreeWrites {
    pub fn put(&mut self, key: impl Into<Vec<u8>>, value: Vec<u8>) {
        self.bytes += value.len();
        self.writes.insert(key.into(), Some(value));
    }

    pub fn remove(&mut self, key: impl Into<Vec<u8>>) {
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
pub struct Writes {
    pub trees: BTreeMap<Tree, TreeWrites>,
    /// counter name → how much it moves.
    pub counters: BTreeMap<String, i64>,
    /// The clustering changes, for other nodes' indexes (PostgreSQL only):
    /// (story, an item that joined it, or the story it was absorbed into;
    /// neither: read it again whole, see `Changes::refiled`).
    pub log: Vec<(String, Option<String>, Option<String>)>,
    /// Applied in one transaction whatever its size: a settle's group,
    /// which no order of single writes keeps whole through a crash.
    pub atomic: bool,
}

impl Writes {
    pub fn count(&mut self, counter: &str, delta: i64) {
        *self.counters.entry(counter.to_string()).or_default() += delta;
    }

    pub fn tree(&mut self, tree: Tree) -> &mut TreeWrites {
        self.trees.entry(tree).or_default()
    }

    fn pending(&self, tree: Tree) -> Option<&TreeWrites> {
        self.trees.get(&tree)
    }

    /// The bytes of every value written.
    pub fn bytes(&self) -> usize {
        self.trees.values().map(|t| t.bytes).sum()
    }
}

impl Store {
    /// The writes of one ingest's changes: merges marked (redirects), members,
    /// sources, story records with their feed index entries, links, items,
    /// counters, then what is left of each absorbed story moved and deleted.
    pub(super) fn plan_writes(&self, changes: &Changes) -> Result<Writes> {
        let mut w = Writes { atomic: !changes.rebuilt.is_empty() || !changes.emptied.is_empty(), ..Default::default() };
        self.clear_settled(&mut w, changes)?;
        for (story, survivor) in &changes.absorbed {
            w.tree(Tree::Redirects).put(story.id.as_bytes(), survivor.as_bytes().to_vec());
        }
        for (story, m) in &changes.members {
            let mut k = member_prefix(story);
            k.extend_from_slice(m.key.as_bytes());
            w.tree(Tree::Members).put(k, encode(m));
        }
        for (story, source) in &changes.story_sources {
            let mut k = member_prefix(story);
            k.extend_from_slice(source.as_bytes());
            w.tree(Tree::StorySources).put(k, Vec::new());
        }
        for c in &changes.stories {
            put_story(&mut w, c.old.as_ref(), &c.new);
            if c.old.is_none() {
                w.count("stories", 1);
            }
        }
        for (link, story) in &changes.links {
            w.tree(Tree::Links).put(link.as_bytes(), story.as_bytes().to_vec());
        }
        for item in &changes.items {
            w.tree(Tree::Items).put(item.key.as_bytes(), encode(item));
        }
        w.count("items", changes.new_items as i64);
        w.count("items_ever", changes.new_items as i64);
        for (source, n) in &changes.new_by_source {
            w.count(&source_items_key(source), *n as i64);
        }
        for (absorbed, survivor) in &changes.absorbed {
            self.finish_merge(&mut w, absorbed, survivor)?;
        }
        if self.postgres().is_some() {
            log_clustering(&mut w, changes);
        }
        Ok(w)
    }

    /// A settle's stories made again lose every member and story-source row
    /// stored under them (those they keep are written again after), and the
    /// stories it emptied are deleted, their id led to where most of their
    /// items went.
    fn clear_settled(&self, w: &mut Writes, changes: &Changes) -> Result<()> {
        let emptied = changes.emptied.iter().map(|(story, _)| &story.id);
        for id in changes.rebuilt.iter().chain(emptied) {
            for tree in [Tree::Members, Tree::StorySources] {
                for k in self.stored_keys_under(w, tree, &member_prefix(id))? {
                    w.tree(tree).remove(k);
                }
            }
        }
        for (story, to) in &changes.emptied {
            w.tree(Tree::Redirects).put(story.id.as_bytes(), to.as_bytes().to_vec());
            // No merge of it is left to finish at the next open (an older
            // release's interrupted merge marks one: see `store::merge`).
            w.tree(Tree::Merging).remove(story.id.as_bytes());
            for k in keys::feed_keys(story) {
                w.tree(Tree::Feeds).remove(k);
            }
            w.tree(Tree::Stories).remove(story.id.as_bytes());
            w.count("stories", -1);
        }
        Ok(())
    }

    /// Move whatever of `absorbed` is still stored under its own id to
    /// `survivor` (what the ingest moved already is skipped), then delete the
    /// absorbed story's records.
    pub(super) fn finish_merge(&self, w: &mut Writes, absorbed: &Story, survivor: &str) -> Result<()> {
        let prefix = member_prefix(&absorbed.id);
        for k in self.stored_keys_under(w, Tree::Members, &prefix)? {
            if let Some(v) = self.current(w, Tree::Members, &k)? {
                let m: Member = decode(&k, &v)?;
                self.move_member(w, &m, survivor)?;
            }
            w.tree(Tree::Members).remove(k);
        }
        // A story of one item keeps it in its record alone.
        if let Some(first) = &absorbed.first {
            self.move_member(w, first, survivor)?;
        }
        for k in self.stored_keys_under(w, Tree::StorySources, &prefix)? {
            let mut moved = member_prefix(survivor);
            moved.extend_from_slice(&k[prefix.len()..]);
            w.tree(Tree::StorySources).put(moved, Vec::new());
            w.tree(Tree::StorySources).remove(k);
        }
        for k in keys::feed_keys(absorbed) {
            w.tree(Tree::Feeds).remove(k);
        }
        if self.current(w, Tree::Stories, absorbed.id.as_bytes())?.is_some() {
            w.tree(Tree::Stories).remove(absorbed.id.as_bytes());
            w.count("stories", -1);
        }
        w.tree(Tree::Merging).remove(absorbed.id.as_bytes());
        Ok(())
    }

    /// A member of an absorbed story, and its item, under `survivor`.
    fn move_member(&self, w: &mut Writes, m: &Member, survivor: &str) -> Result<()> {
        let mut k = member_prefix(survivor);
        k.extend_from_slice(m.key.as_bytes());
        if self.current(w, Tree::Members, &k)?.is_none() {
            w.tree(Tree::Members).put(k, encode(m));
        }
        if let Some(v) = self.current(w, Tree::Items, m.key.as_bytes())? {
            let mut item: Item = decode(m.key.as_bytes(), &v)?;
            if item.story != survivor {
                item.story = survivor.to_string();
                w.tree(Tree::Items).put(m.key.as_bytes(), encode(&item));
            }
        }
        Ok(())
    }

    /// The value of `key` once `w` is applied.
    fn current(&self, w: &Writes, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match w.pending(tree).and_then(|p| p.written(key)) {
            Some(v) => Ok(v.map(<[u8]>::to_vec)),
            None => self.engine.get(tree, key),
        }
    }

    /// The keys under `prefix` once `w` is applied.
    fn stored_keys_under(&self, w: &Writes, tree: Tree, prefix: &[u8]) -> Result<BTreeSet<Vec<u8>>> {
        let pending = w.pending(tree);
        let end = keys::prefix_end(prefix);
        let mut out = BTreeSet::new();
        for (k, _) in self.engine.range(tree, Range::between(prefix, &end))? {
            if pending.and_then(|p| p.written(&k)) != Some(None) {
                out.insert(k);
            }
        }
        out.extend(pending.map(|p| p.keys_under(prefix)).unwrap_or_default());
        Ok(out)
    }
}

/// What another node's clustering index must learn of these changes: each
/// item that joined a story (a new story's first item too), each merge, and
/// each story to read again whole.
fn log_clustering(w: &mut Writes, changes: &Changes) {
    let firsts = changes
        .stories
        .iter()
        .filter(|c| c.old.is_none())
        .filter_map(|c| Some((&c.new.id, &c.new.first.as_ref()?.key)));
    let joins = changes.members.iter().map(|(story, m)| (story, &m.key));
    let mut seen = BTreeSet::new();
    for (story, item) in firsts.chain(joins) {
        if seen.insert((story, item)) {
            w.log.push((story.clone(), Some(item.clone()), None));
        }
    }
    let gone = changes.absorbed.iter().chain(&changes.emptied);
    for (absorbed, survivor) in gone {
        w.log.push((absorbed.id.clone(), None, Some(survivor.clone())));
    }
    for story in changes.refiled.iter().collect::<BTreeSet<_>>() {
        w.log.push((story.clone(), None, None));
    }
}

/// A story record written, and its feed index entries moved from `old`'s.
pub(super) fn put_story(w: &mut Writes, old: Option<&Story>, new: &Story) {
    w.tree(Tree::Stories).put(new.id.as_bytes(), encode(new));
    let new_keys = keys::feed_keys(new);
    let old_keys = old.map(keys::feed_keys).unwrap_or_default();
    let feeds = w.tree(Tree::Feeds);
    for k in old_keys.iter().filter(|k| !new_keys.contains(k)) {
        feeds.remove(k.clone());
    }
    for k in new_keys.into_iter().filter(|k| !old_keys.contains(k)) {
        feeds.put(k, Vec::new());
    }
}
