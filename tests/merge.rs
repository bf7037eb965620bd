//! Stories merge when a later item shows two of them are one event: the older
//! id survives, the other's items move under it, its id redirects, every feed
//! lists the event once, and all of it reads the same after a restart.

mod common;

use common::{parsed_rss as feed, source};
use newsdesk::pipeline::Desk;
use std::collections::BTreeSet;

/// A config with the sources `ids` and "bg", and a desk on it whose window
/// holds the [`common::BACKGROUND`] stories, published from `t0` (six hours ago).
fn with_background(dir: &std::path::Path, ids: &[&str]) -> (newsdesk::config::Config, std::sync::Arc<Desk>, i64) {
    let sources: Vec<(String, String)> =
        std::iter::once(&"bg").chain(ids).map(|i| (i.to_string(), format!("https://{i}.example/"))).collect();
    let config = common::poll_config(dir, &sources, "");
    let desk = common::desk(&config);
    let t0 = newsdesk::pipeline::now() - 6 * 3600;
    for (i, title) in common::BACKGROUND.iter().enumerate() {
        let link = format!("https://bg.example/{i}");
        desk.ingest(&source("bg"), &feed(&[(&format!("bg{i}"), title, &link)]), t0 + i as i64).unwrap();
    }
    (config, desk, t0)
}

fn story_of(desk: &Desk, source_id: &str, guid: &str) -> String {
    let key = newsdesk::parse::identity::item_key(source_id, &format!("g:{guid}"));
    desk.store.item(&key).unwrap().expect("stored").story
}

/// Every story in the `all` feed as the set of its item keys.
fn partition(desk: &Desk) -> BTreeSet<(String, Vec<String>)> {
    desk.store
        .page("all", None, 1000)
        .unwrap()
        .into_iter()
        .map(|s| {
            let mut keys: Vec<String> = desk.store.story_members(&s).unwrap().into_iter().map(|m| m.key).collect();
            keys.sort();
            (s.id, keys)
        })
        .collect()
}

/// Two stories that are one event (a dam burst, and the floods it caused
/// downstream) start apart; a report of both joins one of them, which makes
/// it alike to the other; the next such report merges them into the older.
#[test]
fn stories_found_to_be_one_event_merge_into_the_older() {
    let dir = tempfile::tempdir().unwrap();
    let (config, desk, t0) = with_background(dir.path(), &["a", "b", "c", "d"]);
    let a = feed(&[("a1", "Karvel dam bursts after days of rain", "https://a.example/1")]);
    desk.ingest(&source("a"), &a, t0 + 600).unwrap();
    let b = feed(&[("b1", "BREAKING: Floods sweep villages below Lake Miros", "https://b.example/1")]);
    let announced = desk.ingest(&source("b"), &b, t0 + 1200).unwrap().became_breaking;
    assert_eq!(announced.len(), 1, "the newer story is announced as breaking");
    let (first, second) = (story_of(&desk, "a", "a1"), story_of(&desk, "b", "b1"));
    assert_ne!(first, second, "two reports with nothing in common are two stories");

    // A report of both joins the one it is most alike to; the two are not
    // yet alike, so nothing merges.
    let c = feed(&[(
        "c1",
        "Karvel dam bursts after days of rain, floods sweep villages below Lake Miros",
        "https://c.example/1",
    )]);
    desk.ingest(&source("c"), &c, t0 + 1800).unwrap();
    assert!([&first, &second].contains(&&story_of(&desk, "c", "c1")), "c1 joins one of the two");
    assert!(desk.store.story(&second).unwrap().is_some(), "no merge on one bridging report");
    // The next one, alike to both, shows they are one event.
    let d = feed(&[(
        "d1",
        "Karvel dam bursts after days of rain and floods villages below Lake Miros",
        "https://d.example/1",
    )]);
    let merging = desk.ingest(&source("d"), &d, t0 + 2400).unwrap();
    assert!(merging.became_breaking.is_empty(), "the merged story is not announced again");
    for (s, g) in [("a", "a1"), ("b", "b1"), ("c", "c1"), ("d", "d1")] {
        assert_eq!(story_of(&desk, s, g), first, "{g} is in the older story");
    }
    assert_eq!(desk.store.story(&second).unwrap(), None, "the newer story is gone");
    assert_eq!(desk.store.redirect(&second).unwrap().as_deref(), Some(first.as_str()));
    let merged = desk.store.story(&first).unwrap().expect("the older story");
    assert_eq!((merged.size, merged.distinct_sources()), (4, 4));
    assert!(merged.breaking, "the merged story keeps the breaking mark");
    let listed = partition(&desk);
    assert_eq!(listed.len(), common::BACKGROUND.len() + 1, "the event is listed once");
    assert_eq!(listed.iter().find(|(id, _)| *id == first).map(|(_, keys)| keys.len()), Some(4));
    assert_eq!(desk.store.story_count().unwrap() as usize, common::BACKGROUND.len() + 1);

    // The absorbed story's page sends readers to the survivor's (the HTTP
    // side answers 301 with that Location).
    let publisher =
        newsdesk::publish::Publisher::new(desk.store.clone(), std::sync::Arc::new(config.clone()), t0 + 2400).unwrap();
    let lang = newsdesk::publish::site::Lang::En;
    match publisher.story_page(lang, &second, t0 + 2400) {
        Err(newsdesk::publish::site::PageError::Moved(to)) => assert_eq!(to, first),
        other => panic!("the absorbed story's page is {:?}", other.map(|r| r.body.len())),
    }
    let page = publisher.story_page(lang, &first, t0 + 2400).unwrap();
    let html = String::from_utf8_lossy(&page.body);
    assert!(html.contains("4 outlets") && html.contains("Floods sweep villages below Lake Miros"), "{html}");
    drop(publisher);

    // A restart reads the same.
    drop(desk);
    let desk = common::desk(&config);
    assert_eq!(partition(&desk), listed);
    assert_eq!(desk.store.redirect(&second).unwrap().as_deref(), Some(first.as_str()));
    // And the merged story keeps its id as more reports join.
    let e = feed(&[("e1", "Karvel dam: villages below Lake Miros evacuated", "https://d.example/2")]);
    desk.ingest(&source("d"), &e, t0 + 3000).unwrap();
    assert_eq!(story_of(&desk, "d", "e1"), first);

    // Over HTTP, from the real binary on this store: the absorbed id's page
    // answers 301 to the survivor's, in each edition.
    drop(desk);
    let port = common::free_port();
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\npath = \"data\"\nretention = \"36500d\"\n\
         [[sections]]\nid = \"misc\"\ntitle = \"Misc\"\nfallback = true\n\
         [[sources]]\nid = \"a\"\nurl = \"absent.xml\"\n"
    );
    let daemon = common::Daemon::start(&common::write_config(dir.path(), &text), port);
    daemon.wait_for(|| daemon.get("/").is_some_and(|(s, _, _)| s == 200), "the front page");
    for edition in ["", "/ar"] {
        let (status, h, _) = daemon.get(&format!("{edition}/stories/{second}")).unwrap();
        assert_eq!(status, 301, "{edition}");
        assert_eq!(h["location"], format!("{edition}/stories/{first}"));
        assert_eq!(daemon.get(&format!("{edition}/stories/{first}")).unwrap().0, 200);
    }
}

/// A merge a crash interrupted right after its marker (the redirect) was
/// written, before anything moved, is finished when the store opens: the
/// absorbed story's items are in the survivor, it is gone, its id redirects.
#[test]
fn an_interrupted_merge_is_finished_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let (config, desk, t0) = with_background(dir.path(), &["a", "b"]);
    desk.ingest(
        &source("a"),
        &feed(&[("a1", "Karvel dam bursts after days of rain", "https://a.example/1")]),
        t0 + 600,
    )
    .unwrap();
    let b = feed(&[("b1", "Floods sweep villages below Lake Miros", "https://b.example/1")]);
    desk.ingest(&source("b"), &b, t0 + 1200).unwrap();
    let (first, second) = (story_of(&desk, "a", "a1"), story_of(&desk, "b", "b1"));
    assert_ne!(first, second);
    drop(desk);

    // The marker alone, as a crash right after it would leave the store.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let db = loop {
        match sled::open(&config.storage.path) {
            Ok(db) => break db,
            Err(e) if std::time::Instant::now() >= deadline => panic!("{e}"),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    };
    for tree in ["redirects", "merging"] {
        db.open_tree(tree).unwrap().insert(second.as_bytes(), first.as_bytes()).unwrap();
    }
    db.flush().unwrap();
    drop(db);

    let desk = common::desk(&config);
    assert_eq!(story_of(&desk, "b", "b1"), first, "the absorbed item moved");
    assert_eq!(desk.store.story(&second).unwrap(), None, "the absorbed story is gone");
    assert_eq!(desk.store.redirect(&second).unwrap().as_deref(), Some(first.as_str()));
    let listed = partition(&desk);
    assert_eq!(listed.len(), common::BACKGROUND.len() + 1, "the event is listed once");
    assert_eq!(listed.iter().find(|(id, _)| *id == first).map(|(_, keys)| keys.len()), Some(2));
    assert_eq!(desk.store.story_count().unwrap() as usize, common::BACKGROUND.len() + 1);
}
