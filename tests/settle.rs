//! A settle (`Desk::settle`): every stored item clustered again in
//! publication order, and the stored stories made to match. Whatever order
//! the items came in, settled they make the same stories, and the store
//! stays whole: every item in the story that lists it, emptied ids leading
//! to live stories, a restart reading the same.

mod evalset;

use newsdesk::pipeline::Desk;
use newsdesk::store::Store;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The labelled set `file` ingested item by item in publication order
/// (`seed` 0) or shuffled by `seed`, as a replay brings it, into a desk over
/// `dir`; by one thread, or for `seed` 4 and up by three at once taking the
/// next item in turn. Returns the desk, the item keys, and the time of the
/// ingests.
fn replay(dir: &std::path::Path, file: &str, seed: u64) -> (Desk, Vec<String>, i64) {
    let (config, mut items) = evalset::load_set(dir, file);
    if seed > 0 {
        evalset::Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)).shuffle(&mut items);
    }
    let now = items.iter().map(|i| i.published).max().unwrap() + 600;
    let desk = Desk::new(Store::open(&config.storage.path).unwrap(), Arc::new(config)).unwrap();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let threads = if seed >= 4 { 3 } else { 1 };
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(i) = items.get(n) else { break };
                desk.ingest(&i.source, &i.feed(), now).unwrap();
            });
        }
    });
    (desk, items.iter().map(|i| i.key()).collect(), now)
}

/// Item key → story id, for `keys`.
fn stories_of(store: &Store, keys: &[String]) -> BTreeMap<String, String> {
    keys.iter().map(|k| (k.clone(), store.item(k).unwrap().expect("every item stored").story)).collect()
}

/// Settled, the same items in publication order and in five shuffled
/// orders (the last two ingested by three threads at once) make exactly the
/// same stories, on every labelled set; unsettled they did not (the test
/// tells the two apart: 20-199 pairs of a set differed), and in
/// publication order the settle moves nothing.
#[test]
fn any_arrival_order_settles_into_the_same_stories() {
    let sets = ["items.json", "realnews.json", "realnews-heldout.json", "realnews-fresh.json"];
    for file in sets.into_iter().chain(["realnews-blind4.json", "realnews-blind5.json"]) {
        let mut before = 0;
        let settled: Vec<BTreeMap<String, String>> = (0..=5)
            .map(|seed| {
                let dir = tempfile::tempdir().unwrap();
                let (desk, keys, now) = replay(dir.path(), file, seed);
                let live = stories_of(&desk.store, &keys);
                let report = desk.settle(now).unwrap();
                assert_eq!(report.items, keys.len(), "{file}, seed {seed}: every item settled");
                let settled = stories_of(&desk.store, &keys);
                let (moved, pairs) = evalset::pairs_differing(&live, &settled);
                println!("{file}, seed {seed}: the settle moved {} items, {moved} of {pairs} pairs", report.moved);
                if seed == 0 {
                    assert_eq!(report.moved, 0, "{file}: items in publication order are settled already");
                }
                before += moved;
                settled
            })
            .collect();
        for (seed, other) in settled.iter().enumerate().skip(1) {
            let (differ, pairs) = evalset::pairs_differing(&settled[0], other);
            assert_eq!(differ, 0, "{file}, seed {seed}: {differ} of {pairs} pairs settled otherwise");
        }
        assert!(before > 0, "{file}: the replays had made other stories");
    }
}

/// Live polls of the fifth set every hour, at other phases, in another
/// order, on three threads, settle into the stories of a replay in
/// publication order (with hourly polls, 20 of its pairs depended on the
/// order before settling: `tests/stories_props.rs`).
#[test]
fn live_polls_settle_into_the_stories_of_publication_order() {
    let file = "realnews-blind5.json";
    let dir = tempfile::tempdir().unwrap();
    let (desk, keys, now) = replay(dir.path(), file, 0);
    desk.settle(now).unwrap();
    let canonical = stories_of(&desk.store, &keys);
    for seed in 1..=3 {
        let dir = tempfile::tempdir().unwrap();
        let (config, items) = evalset::load_set(dir.path(), file);
        let desk = Desk::new(Store::open(&config.storage.path).unwrap(), Arc::new(config)).unwrap();
        evalset::ingest_live(&[&desk], evalset::live_polls_every(&items, seed, 3600));
        desk.settle(now).unwrap();
        let (differ, pairs) = evalset::pairs_differing(&canonical, &stories_of(&desk.store, &keys));
        assert_eq!(differ, 0, "seed {seed}: {differ} of {pairs} pairs settled otherwise");
    }
}

/// After a settle that moved items, the store is whole: each item is a
/// member of the story it names and of no other, each story's size and
/// sources are its items', an emptied id leads to a live story, stories no
/// item moved into or out of keep their ids, a second settle moves nothing,
/// and a restart reads the same stories; the desk then ingests as before.
#[test]
fn a_settle_leaves_the_store_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (desk, keys, now) = replay(dir.path(), "realnews.json", 2);
    let live = stories_of(&desk.store, &keys);
    assert_whole(&desk.store, &live);
    let report = desk.settle(now).unwrap();
    assert!(report.moved > 0 && report.rebuilt > 0 && report.emptied > 0, "{report:?}");
    let settled = stories_of(&desk.store, &keys);
    assert_whole(&desk.store, &settled);
    for id in live.values().filter(|id| !settled.values().any(|s| s == *id)) {
        let to = desk.store.redirect(id).unwrap().unwrap_or_else(|| panic!("emptied {id} leads nowhere"));
        assert!(desk.store.story(&to).unwrap().is_some(), "{id} leads to {to}, which is gone");
    }
    let moved: BTreeSet<&String> = keys.iter().filter(|k| live[*k] != settled[*k]).collect();
    let untouched = keys.iter().filter(|k| !moved.contains(k) && !moved.iter().any(|m| live[*m] == live[*k]));
    for k in untouched {
        assert_eq!(live[k], settled[k], "a story no item left or joined keeps its id");
    }
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(left, ["data"], "the scratch store (beside the store) is gone");
    let again = desk.settle(now).unwrap();
    assert_eq!((again.moved, again.rebuilt, again.emptied), (0, 0, 0), "a second settle changes nothing");
    let config = desk.config();
    drop(desk);
    let reopened = Store::open(&config.storage.path).unwrap();
    assert_eq!(stories_of(&reopened, &keys), settled, "a restart reads the settled stories");
    let desk = Desk::new(reopened, config).unwrap();
    let (_, items) = evalset::load_set(dir.path(), "realnews.json");
    let report = desk.ingest(&items[0].source, &items[0].feed(), now).unwrap();
    assert_eq!((report.new, report.unchanged), (0, 1), "a re-poll after a settle changes nothing");
}

/// Every item is listed by the story it names, every story lists exactly
/// the items that name it, with their sources and count, in every feed it
/// is filed under; each item's link leads to its story; the counters count
/// what is stored; no merge is left marked unfinished.
fn assert_whole(store: &Store, stories: &BTreeMap<String, String>) {
    let mut by_story: BTreeMap<&String, BTreeSet<&String>> = BTreeMap::new();
    for (key, story) in stories {
        by_story.entry(story).or_default().insert(key);
    }
    let listed: BTreeSet<String> = store.page("all", None, 100_000).unwrap().into_iter().map(|s| s.id).collect();
    assert_eq!(listed, by_story.keys().map(|s| s.to_string()).collect(), "the all feed lists every story once");
    assert_eq!(store.story_count().unwrap(), by_story.len() as u64, "the stories counter");
    assert_eq!(store.item_count().unwrap(), stories.len() as u64, "the items counter");
    let tables: BTreeMap<_, _> = store.table_sizes().unwrap().into_iter().collect();
    assert_eq!(tables.get(&newsdesk::store::Tree::Merging).copied().unwrap_or(0), 0, "no merge left marked");
    for (id, keys) in by_story {
        let story = store.story(id).unwrap().unwrap_or_else(|| panic!("{id} is gone"));
        assert!(store.redirect(id).unwrap().is_none(), "{id} is a story and leads elsewhere");
        let members: BTreeSet<String> = store.story_members(&story).unwrap().into_iter().map(|m| m.key).collect();
        assert_eq!(members, keys.iter().map(|k| k.to_string()).collect(), "{id}: its members");
        assert_eq!(story.size as usize, keys.len(), "{id}: its size");
        let items: Vec<_> = keys.iter().map(|k| store.item(k).unwrap().unwrap()).collect();
        let sources: BTreeSet<&String> = items.iter().map(|i| &i.source).collect();
        assert_eq!(story.distinct_sources(), sources.len(), "{id}: its sources");
        for link in items.iter().filter_map(|i| i.link.as_ref()) {
            assert_eq!(store.story_for_link(link).unwrap().as_deref(), Some(id.as_str()), "{link} leads to {id}");
        }
        for feed in newsdesk::store::story_feeds(&story) {
            let page = store.page(&feed, None, 100_000).unwrap();
            assert_eq!(page.iter().filter(|s| s.id == *id).count(), 1, "{id} listed once in {feed}");
        }
    }
}

/// A settle is due once `dedup.settle_every` has passed since the last one
/// and new items came since (pruning alone does not make one due); never
/// with `settle_every = "0s"`.
#[test]
fn a_settle_is_due_each_period_when_items_came() {
    let dir = tempfile::tempdir().unwrap();
    let (mut config, items) = evalset::load_set(dir.path(), "realnews.json");
    let hour = 3600;
    config.dedup.settle_every = std::time::Duration::from_secs(hour as u64);
    let desk = Desk::new(Store::open(&config.storage.path).unwrap(), Arc::new(config.clone())).unwrap();
    let now = items.iter().map(|i| i.published).max().unwrap() + 600;
    let (first, rest) = items.split_at(items.len() / 2);
    for i in first {
        desk.ingest(&i.source, &i.feed(), now).unwrap();
    }
    let due = |at: i64| desk.settle_if_due(at).unwrap().map(|r| r.items);
    assert_eq!(due(now), Some(first.len()), "never settled: due");
    assert_eq!(due(now + 60), None, "within the period");
    assert_eq!(due(now + hour), None, "a period later, with no new item");
    for i in rest {
        desk.ingest(&i.source, &i.feed(), now + hour).unwrap();
    }
    assert_eq!(due(now + hour + 60), Some(items.len()), "a period later, with new items");
    let oldest = items.iter().map(|i| i.published).min().unwrap();
    assert!(desk.prune(oldest + 1, 10).unwrap() > 0, "a story pruned");
    assert_eq!(due(now + 3 * hour), None, "a period later, items pruned and none new");
    config.dedup.settle_every = std::time::Duration::ZERO;
    let never = Desk::new(desk.store.clone(), Arc::new(config)).unwrap();
    let mut late = items[0].feed();
    late.entries[0].guid = Some("late".into());
    never.ingest(&items[0].source, &late, now + 3 * hour).unwrap();
    assert!(never.settle_if_due(now + 3 * hour).unwrap().is_none(), "settle_every = 0s: never");
}

/// A settle asked to stop (the daemon is stopping: `Desk::stop`) stops
/// before it writes anything, and leaves no scratch store behind.
#[test]
fn a_stopped_settle_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (desk, keys, now) = replay(dir.path(), "realnews.json", 2);
    let live = stories_of(&desk.store, &keys);
    desk.stop();
    let report = desk.settle(now).unwrap();
    assert_eq!((report.moved, report.items), (0, 0), "{report:?}");
    assert_eq!(stories_of(&desk.store, &keys), live, "the stories as they were");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(left, ["data"], "no scratch store left");
}
