//! The embedded engine: one sled database in a folder, a sled tree per
//! [`Tree`] and `meta` for the named numbers (8 bytes, big-endian).

use super::apply::Writes;
use super::engine::{Pairs, Range, Tree};
use super::{Result, StoreError};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};
use std::path::Path;

/// sled's page cache (its default is 1 GiB): feeds are served from rendered
/// snapshots, so the store is read little once they are built. At 64 MiB a
/// first poll of 100,000 sources peaked about 40 MiB higher, no faster
/// (README, "Polling schedule").
const CACHE_BYTES: u64 = 32 << 20;

/// The largest change applied in one transaction. sled holds what a
/// transaction writes and replaces in memory until it ends: transactions over
/// the large documents of tests/hostile.rs, several at once, took the daemon's
/// peak memory from 182 to 280 MiB (195 MiB with this bound). A larger change
/// is applied write by write, in an order a crash cannot hurt
/// ([`SledEngine::apply_in_order`]); a poll of a few hundred ordinary items is
/// well below it.
const TRANSACTION_BYTES: usize = 512 << 10;

#[derive(Clone)]
pub struct SledEngine {
    db: sled::Db,
    trees: Vec<sled::Tree>,
    meta: sled::Tree,
}

impl SledEngine {
    /// Open (or create) the database in `path`; the error is in plain words.
    pub fn open(path: &Path) -> std::result::Result<SledEngine, String> {
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
                Ok(Err(e)) => return Err(describe_sled_error(&e)),
                Err(_) => return Err("the store files are corrupt".into()),
            }
        };
        let tree = |name: &str| db.open_tree(name).map_err(|e| describe_sled_error(&e));
        let trees = Tree::ALL.iter().map(|t| tree(t.name())).collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(SledEngine { meta: tree("meta")?, trees, db })
    }

    fn tree(&self, tree: Tree) -> &sled::Tree {
        &self.trees[tree as usize]
    }

    pub fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.tree(tree).get(key)?.map(|v| v.to_vec()))
    }

    pub fn insert(&self, tree: Tree, key: &[u8], value: &[u8]) -> Result<()> {
        self.tree(tree).insert(key, value)?;
        Ok(())
    }

    pub fn remove(&self, tree: Tree, key: &[u8]) -> Result<()> {
        self.tree(tree).remove(key)?;
        Ok(())
    }

    pub fn range(&self, tree: Tree, r: Range) -> Result<Pairs> {
        let t = self.tree(tree);
        let iter = match r.end {
            Some(end) => t.range(r.start..end),
            None => t.range(r.start..),
        };
        let limit = r.limit.unwrap_or(usize::MAX);
        let pairs = |kv: sled::Result<(sled::IVec, sled::IVec)>| kv.map(|(k, v)| (k.to_vec(), v.to_vec()));
        let out: sled::Result<Pairs> =
            if r.rev { iter.rev().take(limit).map(pairs).collect() } else { iter.take(limit).map(pairs).collect() };
        Ok(out?)
    }

    pub fn count(&self, tree: Tree) -> Result<u64> {
        Ok(self.tree(tree).len() as u64)
    }

    pub fn number(&self, name: &str) -> Result<Option<u64>> {
        Ok(self.meta.get(name)?.and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok()).map(u64::from_be_bytes))
    }

    pub fn set_number(&self, name: &str, v: u64) -> Result<()> {
        self.meta.insert(name, &v.to_be_bytes())?;
        Ok(())
    }

    pub fn init_number(&self, name: &str, v: u64) -> Result<u64> {
        let set = self.meta.compare_and_swap(name, None as Option<&[u8]>, Some(&v.to_be_bytes()[..]))?;
        match set {
            Ok(()) => Ok(v),
            Err(_) => Ok(self.number(name)?.unwrap_or(v)),
        }
    }

    pub fn add_number(&self, name: &str, delta: i64) -> Result<()> {
        if delta == 0 {
            return Ok(());
        }
        self.meta.fetch_and_update(name, |old| {
            let cur = old.and_then(|v| <[u8; 8]>::try_from(v).ok()).map(u64::from_be_bytes).unwrap_or(0);
            Some(cur.saturating_add_signed(delta).to_be_bytes().to_vec())
        })?;
        Ok(())
    }

    pub fn numbers(&self) -> Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        for r in self.meta.iter() {
            let (k, v) = r?;
            if let Ok(v) = <[u8; 8]>::try_from(v.as_ref()) {
                out.push((String::from_utf8_lossy(&k).into_owned(), u64::from_be_bytes(v)));
            }
        }
        Ok(out)
    }

    /// Apply `w`: in one transaction over every tree it touches, unless it
    /// is larger than [`TRANSACTION_BYTES`] (see there) and may be applied
    /// in order (`Writes::atomic`).
    pub fn apply(&self, w: &Writes) -> Result<()> {
        if w.bytes() > TRANSACTION_BYTES && !w.atomic {
            return self.apply_in_order(w);
        }
        let lists: Vec<_> = w.trees.iter().collect();
        let mut trees: Vec<&sled::Tree> = lists.iter().map(|(t, _)| self.tree(**t)).collect();
        trees.push(&self.meta);
        let done = trees[..].transaction(|t| {
            for (tree, (_, list)) in t.iter().zip(&lists) {
                for (k, v) in &list.writes {
                    match v {
                        Some(v) => tree.insert(k.as_slice(), v.as_slice())?,
                        None => tree.remove(k.as_slice())?,
                    };
                }
            }
            let meta = &t[lists.len()];
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

    /// `w` write by write, as releases before the transaction did: merges
    /// marked first (a merge a crash interrupts is finished at the next
    /// open), story records before the items that point at them, counters
    /// after the items they count.
    fn apply_in_order(&self, w: &Writes) -> Result<()> {
        let none = Default::default();
        let list = |t: Tree| w.trees.get(&t).unwrap_or(&none);
        for (k, v) in &list(Tree::Redirects).writes {
            if let Some(survivor) = v {
                self.tree(Tree::Merging).insert(k.as_slice(), survivor.as_slice())?;
            }
        }
        let order = [
            Tree::Redirects,
            Tree::Members,
            Tree::StorySources,
            Tree::Stories,
            Tree::Feeds,
            Tree::Links,
            Tree::Items,
            Tree::Sources,
        ];
        for tree in order {
            for (k, v) in &list(tree).writes {
                match v {
                    Some(v) => self.tree(tree).insert(k.as_slice(), v.as_slice())?,
                    None => self.tree(tree).remove(k.as_slice())?,
                };
            }
        }
        for (counter, delta) in &w.counters {
            self.add_number(counter, *delta)?;
        }
        for k in list(Tree::Merging).writes.keys() {
            self.tree(Tree::Merging).remove(k.as_slice())?;
        }
        Ok(())
    }

    pub fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    pub fn size_on_disk(&self) -> Result<u64> {
        Ok(self.db.size_on_disk()?)
    }
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

pub(super) fn describe_sled_error(e: &sled::Error) -> String {
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
