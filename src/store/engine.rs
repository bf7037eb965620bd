//! The two engines under [`super::Store`]: sled (embedded, the default) and
//! PostgreSQL (shared by several daemons). Both hold the same ordered trees of
//! byte keys and values, so the store's logic above them, and every byte it
//! hands out, is the same on either; only this seam knows which is running.

use super::apply::Writes;
use super::pg::PgEngine;
use super::sled_engine::SledEngine;
use super::Result;

/// The store's tables. The numbers are PostgreSQL's `kv.tree` values: they
/// are stored, and never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tree {
    Items = 0,
    Stories = 1,
    /// story id, NUL, item key → [`crate::model::Member`]
    Members = 2,
    /// story id, NUL, source id → nothing: every source of every story.
    StorySources = 3,
    Feeds = 4,
    Links = 5,
    Sources = 6,
    /// absorbed story id → the id of the story it merged into.
    Redirects = 7,
    /// The same, for merges an older release had not finished when it
    /// stopped (it made a merge's writes one by one); read at open.
    Merging = 8,
}

impl Tree {
    pub const ALL: [Tree; 9] = [
        Tree::Items,
        Tree::Stories,
        Tree::Members,
        Tree::StorySources,
        Tree::Feeds,
        Tree::Links,
        Tree::Sources,
        Tree::Redirects,
        Tree::Merging,
    ];

    /// sled's name for the tree.
    pub fn name(self) -> &'static str {
        match self {
            Tree::Items => "items",
            Tree::Stories => "stories",
            Tree::Members => "members",
            Tree::StorySources => "story_sources",
            Tree::Feeds => "feeds",
            Tree::Links => "links",
            Tree::Sources => "sources",
            Tree::Redirects => "redirects",
            Tree::Merging => "merging",
        }
    }
}

/// Key/value pairs read from a tree, in key order (or reverse order).
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// One range read: keys in `start..end` (`end` open when `None`), at most
/// `limit`, from the last key backwards when `rev`.
#[derive(Debug, Clone, Copy)]
pub struct Range<'a> {
    pub start: &'a [u8],
    pub end: Option<&'a [u8]>,
    pub rev: bool,
    pub limit: Option<usize>,
}

impl<'a> Range<'a> {
    pub fn between(start: &'a [u8], end: &'a [u8]) -> Range<'a> {
        Range { start, end: Some(end), rev: false, limit: None }
    }

    pub fn rev(self) -> Range<'a> {
        Range { rev: true, ..self }
    }

    pub fn limit(self, n: usize) -> Range<'a> {
        Range { limit: Some(n), ..self }
    }
}

#[derive(Clone)]
pub enum Engine {
    Sled(SledEngine),
    Postgres(Box<PgEngine>),
}

/// Each call goes to the engine that is running.
macro_rules! dispatch {
    ($self:ident, $e:ident => $call:expr) => {
        match $self {
            Engine::Sled($e) => $call,
            Engine::Postgres($e) => $call,
        }
    };
}

impl Engine {
    pub fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>> {
        dispatch!(self, e => e.get(tree, key))
    }

    /// The values of several keys, in their order.
    pub fn get_many(&self, tree: Tree, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>> {
        match self {
            Engine::Sled(e) => keys.iter().map(|k| e.get(tree, k)).collect(),
            Engine::Postgres(e) => e.get_many(tree, keys),
        }
    }

    pub fn insert(&self, tree: Tree, key: &[u8], value: &[u8]) -> Result<()> {
        dispatch!(self, e => e.insert(tree, key, value))
    }

    pub fn remove(&self, tree: Tree, key: &[u8]) -> Result<()> {
        dispatch!(self, e => e.remove(tree, key))
    }

    pub fn range(&self, tree: Tree, r: Range) -> Result<Pairs> {
        dispatch!(self, e => e.range(tree, r))
    }

    /// Every pair of a tree, in key order (for `migrate` and small trees).
    pub fn scan_all(&self, tree: Tree) -> Result<Pairs> {
        self.range(tree, Range { start: &[], end: None, rev: false, limit: None })
    }

    /// How many pairs a tree holds.
    pub fn count(&self, tree: Tree) -> Result<u64> {
        dispatch!(self, e => e.count(tree))
    }

    /// A named number: counters, the format version, the cursor secret.
    pub fn number(&self, name: &str) -> Result<Option<u64>> {
        dispatch!(self, e => e.number(name))
    }

    pub fn set_number(&self, name: &str, v: u64) -> Result<()> {
        dispatch!(self, e => e.set_number(name, v))
    }

    /// Set `name` to `v` unless it is set already; returns what it holds.
    /// Several daemons starting at once agree on one value.
    pub fn init_number(&self, name: &str, v: u64) -> Result<u64> {
        dispatch!(self, e => e.init_number(name, v))
    }

    /// Every named number (for `migrate`).
    pub fn numbers(&self) -> Result<Vec<(String, u64)>> {
        dispatch!(self, e => e.numbers())
    }

    /// Apply one commit's writes, all or nothing.
    pub fn apply(&self, w: &Writes) -> Result<()> {
        dispatch!(self, e => e.apply(w))
    }

    pub fn flush(&self) -> Result<()> {
        dispatch!(self, e => e.flush())
    }

    pub fn size_on_disk(&self) -> Result<u64> {
        dispatch!(self, e => e.size_on_disk())
    }
}
