//! A store written before stories recorded their items' sources and times
//! (when a story held only its items' keys) still reads, publishes and takes
//! new items: such a story is filled from its items the next time it changes.

mod common;

use newsdesk::publish::{FeedName, Format, Publisher};
use std::sync::Arc;

use common::{parsed_rss as feed, source};

/// Rewrite every story in the store at `path` as the older release wrote it:
/// `items` a list of keys, no members table, no `first`, `size` or `sources`.
fn downgrade(path: &std::path::Path) -> usize {
    let db = sled::open(path).unwrap();
    let stories = db.open_tree("stories").unwrap();
    let members = db.open_tree("members").unwrap();
    let mut n = 0;
    for r in stories.iter() {
        let (k, v) = r.unwrap();
        assert_eq!(v[0], 1, "value format version");
        let mut story: serde_json::Value = serde_json::from_slice(&v[1..]).unwrap();
        let mut prefix = k.to_vec();
        prefix.push(0);
        let mut keys = Vec::new();
        for m in members.scan_prefix(&prefix) {
            let (mk, mv) = m.unwrap();
            let member: serde_json::Value = serde_json::from_slice(&mv[1..]).unwrap();
            keys.push(member["key"].clone());
            members.remove(mk).unwrap();
        }
        // A story of one item has it in its record alone.
        if keys.is_empty() {
            keys.push(story["first"]["key"].clone());
        }
        assert!(keys.iter().all(|k| k.is_string()), "{story}");
        story["items"] = serde_json::Value::Array(keys);
        for gone in ["first", "size", "sources", "early_sources"] {
            story.as_object_mut().unwrap().remove(gone);
        }
        let mut out = vec![1u8];
        out.extend(serde_json::to_vec(&story).unwrap());
        stories.insert(k, out).unwrap();
        n += 1;
    }
    db.flush().unwrap();
    n
}

fn json_sources(publisher: &Publisher) -> Vec<Vec<String>> {
    let snap = publisher.snapshot();
    let body = &snap.files[&FeedName::All.path(Format::Json)].body;
    let doc: serde_json::Value = serde_json::from_slice(body).unwrap();
    doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i["_newsdesk"]["sources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_string())
                .collect()
        })
        .collect()
}

#[test]
fn stories_from_an_older_store_publish_and_take_new_items() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        common::poll_config(dir.path(), &[("a", "https://a.example/feed"), ("b", "https://b.example/feed")], "");
    let now = newsdesk::pipeline::now();
    let link = "https://site.example/quake";
    {
        let desk = common::desk(&config);
        let r = desk.ingest(&source("a"), &feed(&[("a1", "Quake hits the northern coast", link)]), now).unwrap();
        assert_eq!(r.new, 1);
    }
    assert_eq!(downgrade(&config.storage.path), 1);

    // The old story reads and publishes with its source.
    let store = newsdesk::store::Store::open(&config.storage.path).unwrap();
    let publisher = Publisher::new(store.clone(), Arc::new(config.clone()), now).unwrap();
    publisher.publish_all(now).unwrap();
    assert_eq!(json_sources(&publisher), vec![vec!["a".to_string()]]);
    drop(publisher);
    drop(store);

    // A second source's item with the same link joins it; the story now
    // records both items in full.
    let desk = common::desk(&config);
    let r = desk.ingest(&source("b"), &feed(&[("b1", "Coastal quake felt in the north", link)]), now + 60).unwrap();
    assert_eq!(r.new, 1);
    let stories = desk.store.page("all", None, 10).unwrap();
    assert_eq!(stories.len(), 1, "one story");
    let story = &stories[0];
    assert!(story.items.is_empty(), "moved to the members table: {:?}", story.items);
    assert_eq!(story.size, 2);
    assert_eq!(story.sources, ["a", "b"]);
    assert_eq!(story.first.as_ref().map(|m| m.source.as_str()), Some("a"));
    let members = desk.store.story_members(story).unwrap();
    assert_eq!(members.iter().map(|m| m.source.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert!(members.iter().all(|m| m.link.as_deref() == Some(link)));
}
