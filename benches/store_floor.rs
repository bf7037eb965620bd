//! The store's floor for a first poll: every record a first poll wrote,
//! written again into a fresh sled store by sled alone, as the daemon commits
//! them (one transaction a source: its items, stories, links, feed index
//! keys, source record and counters; a flush after each), with nothing of
//! newsdesk's own work (no fetch, parse, identify, clustering or filing).
//! `scripts/poll-10k.sh` runs it on the store each first poll made and prints
//! the poll's time against it: the part of a first poll no newsdesk change
//! can remove while sled is the store (DESIGN.md).
//!
//! Usage: `NEWSDESK_FLOOR_STORE=<a store folder> cargo bench --bench store_floor`
//! (the store is only read; the copy goes to a temporary folder and is removed).
//! Prints `store floor: <s> s` and, for reference, the same records inserted
//! one by one without transactions or flushes (what sled costs at the least
//! with these keys).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// sled's cache as the daemon sets it (`src/store/sled_engine.rs`).
const CACHE_BYTES: u64 = 32 << 20;

type Pairs = Vec<(sled::IVec, sled::IVec)>;

/// One source's share of the records: (tree name, key, value).
type Commit = Vec<(String, sled::IVec, sled::IVec)>;

fn main() {
    let Some(from) = std::env::var_os("NEWSDESK_FLOOR_STORE").map(PathBuf::from) else {
        eprintln!("store_floor: set NEWSDESK_FLOOR_STORE to a store folder (see the file's doc)");
        return;
    };
    let commits = match read_commits(&from) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("store_floor: cannot read {}: {e}", from.display());
            std::process::exit(1);
        }
    };
    let records: usize = commits.iter().map(Vec::len).sum();
    let dir = std::env::temp_dir().join(format!("newsdesk-store-floor-{}", std::process::id()));
    let committed = write(&dir, &commits, true);
    let plain = write(&dir, &commits, false);
    println!(
        "store floor: {committed:.1} s ({} commits, {records} records, a transaction and a flush each); inserts alone, no transaction or flush: {plain:.1} s",
        commits.len()
    );
}

/// Every record of the store at `path`, grouped by the source whose commit
/// wrote it, sources in the order of their records; what belongs to no source
/// (the store's own numbers) last.
fn read_commits(path: &Path) -> sled::Result<Vec<Commit>> {
    let db = sled::Config::new().path(path).open()?;
    let tree = |name: &str| -> sled::Result<Pairs> { db.open_tree(name)?.iter().collect() };
    let items = tree("items")?;
    // story id → source, from the items that start them.
    let mut story_source: HashMap<Vec<u8>, String> = HashMap::new();
    for (_, v) in &items {
        if let (Some(source), Some(story)) = (field(v, "source"), field(v, "story")) {
            story_source.entry(story.into_bytes()).or_insert(source);
        }
    }
    let mut by_source: HashMap<String, Commit> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut rest: Commit = Vec::new();
    let mut put = |source: Option<String>, name: &str, k: sled::IVec, v: sled::IVec| match source {
        Some(s) => by_source
            .entry(s.clone())
            .or_insert_with(|| {
                order.push(s);
                Vec::new()
            })
            .push((name.to_string(), k, v)),
        None => rest.push((name.to_string(), k, v)),
    };
    for (k, v) in items {
        put(field(&v, "source"), "items", k, v);
    }
    for (k, v) in tree("stories")? {
        put(story_source.get(k.as_ref()).cloned(), "stories", k, v);
    }
    for (k, v) in tree("links")? {
        put(story_source.get(v.as_ref()).cloned(), "links", k, v);
    }
    for name in ["members", "story_sources"] {
        for (k, v) in tree(name)? {
            let story = k.split(|b| *b == 0).next().unwrap_or_default();
            put(story_source.get(story).cloned(), name, k, v);
        }
    }
    for (k, v) in tree("feeds")? {
        // feed NUL time(8) story
        let story = k.iter().position(|b| *b == 0).and_then(|at| k.get(at + 9..)).unwrap_or_default();
        put(story_source.get(story).cloned(), "feeds", k, v);
    }
    for (k, v) in tree("sources")? {
        put(Some(String::from_utf8_lossy(&k).into_owned()), "sources", k, v);
    }
    for (k, v) in tree("meta")? {
        let source = String::from_utf8_lossy(&k).strip_prefix("source-items:").map(str::to_string);
        put(source, "meta", k, v);
    }
    let mut commits: Vec<Commit> = order.iter().filter_map(|s| by_source.remove(s)).collect();
    commits.push(rest);
    Ok(commits)
}

/// A string field of a stored JSON value (after its one format byte).
fn field(value: &[u8], name: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(value.get(1..)?).ok()?;
    v.get(name)?.as_str().map(str::to_string)
}

/// Seconds to write `commits` into a fresh store in `dir`: each in one
/// transaction followed by a flush (`committed`), or insert by insert.
fn write(dir: &Path, commits: &[Commit], committed: bool) -> f64 {
    let _ = std::fs::remove_dir_all(dir);
    let db = sled::Config::new()
        .path(dir)
        .mode(sled::Mode::LowSpace)
        .cache_capacity(CACHE_BYTES)
        .open()
        .expect("a fresh sled store in the temporary folder");
    let names = ["items", "stories", "links", "members", "story_sources", "feeds", "sources", "meta"];
    let trees: Vec<sled::Tree> = names.iter().map(|n| db.open_tree(n).expect("tree")).collect();
    let at = |name: &str| names.iter().position(|n| *n == name).expect("a known tree");
    let start = Instant::now();
    for commit in commits {
        if committed {
            use sled::Transactional;
            let refs: Vec<&sled::Tree> = trees.iter().collect();
            refs[..]
                .transaction(|t| {
                    for (name, k, v) in commit {
                        t[at(name)].insert(k.clone(), v.clone())?;
                    }
                    Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
                })
                .expect("transaction");
            db.flush().expect("flush");
        } else {
            for (name, k, v) in commit {
                trees[at(name)].insert(k.clone(), v.clone()).expect("insert");
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    drop(trees);
    drop(db);
    let _ = std::fs::remove_dir_all(dir);
    secs
}
