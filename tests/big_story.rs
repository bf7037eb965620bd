//! A story carried by many sources (a big event at thousands of feeds): its
//! record keeps a bounded list of sources and their count, while the feed
//! entry still lists every item and the count of distinct sources is exact.

mod common;

use newsdesk::publish::{FeedName, Format, Publisher};
use std::sync::Arc;

use common::{parsed_rss as feed, source};

#[test]
fn a_story_from_many_sources_counts_them_all_and_lists_every_item() {
    const SOURCES: usize = 80;
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<String> = (0..SOURCES).map(|i| format!("s{i}")).collect();
    let sources: Vec<(String, String)> =
        ids.iter().map(|id| (id.clone(), format!("https://{id}.example/feed"))).collect();
    // Breaking by coverage off (min_sources above the count), so only counting is tested.
    let mut config = common::poll_config(dir.path(), &sources, "");
    config.breaking.min_sources = 1000;
    let desk = common::desk(&config);
    let now = newsdesk::pipeline::now();
    let link = "https://agency.example/summit";
    // Every source files the agency's link, each twice over two polls (a
    // second item of its own later), in an order that is not the sources' order.
    let mut at = now - 3600;
    for round in 0..2 {
        for i in (0..SOURCES).rev() {
            at += 1;
            let guid = format!("{i}-{round}");
            let title = format!("Summit ends with a joint statement ({round})");
            let r = desk.ingest(&source(&ids[i]), &feed(&[(&guid, &title, link)]), at).unwrap();
            assert_eq!(r.new, 1);
        }
    }
    let stories = desk.store.page("all", None, 10).unwrap();
    assert_eq!(stories.len(), 1, "one story");
    let story = &stories[0];
    assert_eq!(story.size as usize, 2 * SOURCES);
    assert_eq!(story.distinct_sources(), SOURCES);
    assert_eq!(story.sources.len(), newsdesk::model::Story::SOURCES_KEPT);
    // The first item filed (undated items: published when first seen) is the first.
    assert_eq!(story.sources[0], format!("s{}", SOURCES - 1));

    let (_, listed) = first_entry(&desk, &config);
    assert_eq!(listed.len(), 2 * SOURCES, "every item of the story is listed");
    let distinct: std::collections::HashSet<&String> = listed.iter().collect();
    assert_eq!(distinct.len(), SOURCES);
}

#[test]
fn a_story_keeps_at_most_64_tags() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::poll_config(dir.path(), &[("a", "https://a.example/feed")], "");
    let desk = common::desk(&config);
    let now = newsdesk::pipeline::now();
    // Five items on one link, each with 20 categories of its own: 100 in all.
    let items: String = (0..5)
        .map(|i| {
            let cats: String = (0..20).map(|c| format!("<category>topic {i}-{c}</category>")).collect();
            format!("<item><guid>{i}</guid><title>Summit talks, day {i}</title><link>https://agency.example/summit</link>{cats}</item>")
        })
        .collect();
    let doc = format!(r#"<rss version="2.0"><channel><title>A</title>{items}</channel></rss>"#);
    let feed = newsdesk::parse::parse_feed(doc.as_bytes(), None).unwrap();
    desk.ingest(&source("a"), &feed, now).unwrap();
    let stories = desk.store.page("all", None, 10).unwrap();
    assert_eq!(stories.len(), 1);
    assert_eq!(stories[0].tags.len(), 64);
    assert_eq!(stories[0].tags[0], "topic-0-0");
    // Each kept tag has its feed; the rest have none.
    assert_eq!(desk.store.page("t:topic-0-0", None, 10).unwrap().len(), 1);
    assert!(desk.store.page("t:topic-4-19", None, 10).unwrap().is_empty());
}

#[test]
fn a_flood_under_one_link_is_stored_but_an_entry_lists_at_most_500_items() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::poll_config(dir.path(), &[("a", "https://a.example/feed")], "");
    let desk = common::desk(&config);
    let now = newsdesk::pipeline::now();
    // A broken feed files 700 items (distinct guids) under one article link.
    let link = "https://a.example/same-article";
    let guids: Vec<String> = (0..700).map(|i| format!("g{i}")).collect();
    let items: Vec<(&str, &str, &str)> = guids.iter().map(|g| (g.as_str(), "The same article again", link)).collect();
    let r = desk.ingest(&source("a"), &feed(&items), now).unwrap();
    assert_eq!(r.new, 700);
    let stories = desk.store.page("all", None, 10).unwrap();
    assert_eq!(stories.len(), 1);
    assert_eq!(stories[0].size, 700, "every item is stored in the story");

    let publisher = Publisher::new(desk.store.clone(), Arc::new(config.clone()), now).unwrap();
    publisher.publish_all(now).unwrap();
    let snap = publisher.snapshot();
    let doc: serde_json::Value = serde_json::from_slice(&snap.files[&FeedName::All.path(Format::Json)].body).unwrap();
    let listed = doc["items"][0]["_newsdesk"]["sources"].as_array().unwrap();
    assert_eq!(listed.len(), newsdesk::publish::MAX_LISTED_ITEMS);
}

/// The sources listed in the first entry of `all.json`, and its title.
fn first_entry(desk: &newsdesk::pipeline::Desk, config: &newsdesk::config::Config) -> (String, Vec<String>) {
    let now = newsdesk::pipeline::now();
    let publisher = Publisher::new(desk.store.clone(), Arc::new(config.clone()), now).unwrap();
    publisher.publish_all(now).unwrap();
    let snap = publisher.snapshot();
    let doc: serde_json::Value = serde_json::from_slice(&snap.files[&FeedName::All.path(Format::Json)].body).unwrap();
    let entry = &doc["items"][0];
    let sources = entry["_newsdesk"]["sources"].as_array().unwrap();
    (
        entry["title"].as_str().unwrap().to_string(),
        sources.iter().map(|s| s["id"].as_str().unwrap().to_string()).collect(),
    )
}

/// A story of one item keeps it in its record alone; the story must still
/// list it, follow its corrections, take the items that join it (one that
/// was published earlier becoming its first), and read the same from disk.
#[test]
fn a_story_of_one_item_grows_and_keeps_every_item() {
    let dir = tempfile::tempdir().unwrap();
    let urls = [("a", "https://a.example/feed"), ("b", "https://b.example/feed"), ("c", "https://c.example/feed")];
    let mut config = common::poll_config(dir.path(), &urls, "");
    config.breaking.min_sources = 1000;
    let now = newsdesk::pipeline::now();
    let link = "https://agency.example/port";
    {
        let desk = common::desk(&config);
        let r = desk.ingest(&source("a"), &feed(&[("a1", "Port reopns after the storm", link)]), now - 600).unwrap();
        assert_eq!(r.new, 1);
        assert_eq!(first_entry(&desk, &config), ("Port reopns after the storm".to_string(), vec!["a".to_string()]));
        // Corrected while it is alone.
        let r = desk.ingest(&source("a"), &feed(&[("a1", "Port reopens after the storm", link)]), now - 500).unwrap();
        assert_eq!(r.updated, 1);
        assert_eq!(first_entry(&desk, &config).0, "Port reopens after the storm");
        // A second source joins.
        desk.ingest(&source("b"), &feed(&[("b1", "Port reopens after storm", link)]), now - 400).unwrap();
        assert_eq!(first_entry(&desk, &config).1, ["a", "b"]);
        // A third, published before both, becomes the story's first item.
        desk.ingest(&source("c"), &feed(&[("c1", "Storm-hit port to reopen", link)]), now - 900).unwrap();
        assert_eq!(
            first_entry(&desk, &config),
            ("Storm-hit port to reopen".to_string(), vec!["c".into(), "a".into(), "b".into()])
        );
        let stories = desk.store.page("all", None, 10).unwrap();
        assert_eq!((stories.len(), stories[0].size), (1, 3));
    }
    // The same after the store is opened again.
    let desk = common::desk(&config);
    assert_eq!(first_entry(&desk, &config).1, ["c", "a", "b"]);
}
