//! The cost of a `?lang=` page that no story matches (`/feeds/all.rss?lang=zz`
//! and `/feeds/top.rss?lang=zz`) at 1,000 and at 100,000 stored stories, same
//! run: each request is timed through `Publisher::render_page` (what the HTTP
//! side calls for a variant, minus the cache), alternating the two stores,
//! best of 3. The ratio (big / small) must stay near 1: a request's cost must
//! not grow with the store. Stories are all in the last 24 hours, so `top`
//! ranks every one. Stores are kept under `target/serve-cost-bench/`
//! (delete it to refill).
//!     cargo bench --bench serve_cost

use newsdesk::model::{Item, Member, Story};
use newsdesk::publish::{FeedName, Format, PageRequest, Publisher};
use newsdesk::store::{Changes, Store, StoryChange};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn now() -> i64 {
    newsdesk::pipeline::now()
}

fn story(i: usize, now: i64) -> (Story, Member, Item) {
    let time = now - (i % 86_000) as i64;
    let id = format!("{i:016x}");
    let key = format!("k{i:016x}");
    let link = format!("https://wire.example/{i}");
    let member = Member {
        key: key.clone(),
        source: "wire".into(),
        published: time,
        first_seen: time,
        link: Some(link.clone()),
        flagged: false,
    };
    let story = Story {
        id: id.clone(),
        time,
        first: Some(member.clone()),
        size: 1,
        items: Vec::new(),
        early_sources: Vec::new(),
        sections: vec!["misc".into()],
        regions: Vec::new(),
        tags: Vec::new(),
        breaking: false,
        breaking_since: None,
        updated: time,
        sources: vec!["wire".into()],
        source_count: 1,
    };
    let item = Item {
        key,
        source: "wire".into(),
        identity: link.clone(),
        title: format!("Report {i}"),
        link: Some(link),
        summary: format!("<p>Report {i}.</p>"),
        summary_source: None,
        author: None,
        categories: Vec::new(),
        language: Some("en".into()),
        published: time,
        first_seen: time,
        updated: time,
        story: id,
    };
    (story, member, item)
}

fn fill(store: &Store, n: usize) {
    if store.story_count().unwrap_or(0) == n as u64 {
        return;
    }
    let now = now();
    let mut changes = Changes::default();
    for i in 0..n {
        let (story, _, item) = story(i, now);
        changes.items.push(item);
        changes.new_items += 1;
        changes.stories.push(StoryChange { old: None, new: story });
        if changes.stories.len() >= 2_000 {
            store.commit(&std::mem::take(&mut changes)).expect("commit");
        }
    }
    store.commit(&changes).expect("commit");
    store.flush().expect("flush");
}

fn publisher(dir: &Path, stories: usize) -> Publisher {
    let path = dir.join(format!("s{stories}"));
    std::fs::create_dir_all(&path).expect("bench folder");
    let toml = path.join("newsdesk.toml");
    std::fs::write(
        &toml,
        "[storage]\npath = \"data\"\nretention = \"36500d\"\n[[sections]]\nid = \"misc\"\ntitle = \"Misc\"\nfallback = true\n\
         [[sources]]\nid = \"wire\"\nurl = \"https://wire.example/feed\"\n",
    )
    .expect("bench config");
    let config = newsdesk::config::load(&toml).expect("bench config loads");
    let store = Store::open(&config.storage.path).expect("bench store");
    fill(&store, stories);
    let publisher = Publisher::new(store, Arc::new(config), now()).expect("publisher");
    // Ranks `top` as the daemon does once per publication.
    publisher.publish_all(now()).expect("publish");
    publisher
}

fn time(p: &Publisher, feed: &FeedName) -> (Duration, usize) {
    let req = PageRequest { feed: feed.clone(), format: Format::Rss, limit: 50, lang: Some("zz".into()), before: None };
    let t = Instant::now();
    let page = p.render_page(&req, now()).expect("render");
    (t.elapsed(), page.body.len())
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/serve-cost-bench");
    let t = Instant::now();
    let (small, big) = (publisher(&dir, 1_000), publisher(&dir, 100_000));
    println!("serve_cost: stores ready in {:.1} s", t.elapsed().as_secs_f64());
    for feed in [FeedName::All, FeedName::Top] {
        let (mut best_small, mut best_big) = (Duration::MAX, Duration::MAX);
        for _ in 0..3 {
            best_small = best_small.min(time(&small, &feed).0);
            best_big = best_big.min(time(&big, &feed).0);
        }
        let name = feed.path(Format::Rss);
        println!(
            "{name}?lang=zz: 1,000 stories {:.2} ms, 100,000 stories {:.2} ms, ratio {:.2} (best of 3, alternated)",
            best_small.as_secs_f64() * 1e3,
            best_big.as_secs_f64() * 1e3,
            best_big.as_secs_f64() / best_small.as_secs_f64()
        );
    }
}
