//! Fetching and ingesting against a real fixture server on 127.0.0.1 with a
//! real sled store in a temporary folder.

mod common;

use common::{desk, poll_config as config_for, rss, rt, Fixture, FixtureServer};
use newsdesk::model::SourceStatus;
use newsdesk::pipeline::refresh_source;
use newsdesk::poll::fetch::Fetcher;
use newsdesk::publish::{FeedName, Format, PageRequest, Publisher};
use std::sync::Arc;

#[test]
fn conditional_get_on_every_poll_including_after_restart() {
    let server = FixtureServer::start();
    server
        .set("/a.xml", Fixture::feed(rss("A", &[("a1", "First story", "https://a.example/1", common::hours_ago(3))])));
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), &[("a", server.url("/a.xml"))], "");
    let rt = rt();
    {
        let desk = desk(&config);
        let fetcher = Fetcher::new(&config.poll).unwrap();
        let o = rt.block_on(refresh_source(&desk, &fetcher, &config.sources[0]));
        assert_eq!(o.status, SourceStatus::Ok, "{:?}", o.error);
        assert_eq!(o.report.new, 1);
        let o = rt.block_on(refresh_source(&desk, &fetcher, &config.sources[0]));
        assert_eq!(o.status, SourceStatus::NotModified);
    }
    // A new process (new Desk over the same store) still sends the validators.
    let desk = desk(&config);
    let fetcher = Fetcher::new(&config.poll).unwrap();
    let o = rt.block_on(refresh_source(&desk, &fetcher, &config.sources[0]));
    assert_eq!(o.status, SourceStatus::NotModified);
    let etag = Fixture::feed(rss("A", &[("a1", "First story", "https://a.example/1", common::hours_ago(3))])).etag;
    let reqs = server.requests("/a.xml");
    assert_eq!(reqs.len(), 3);
    assert!(!reqs[0].headers.contains_key("if-none-match"));
    for r in &reqs[1..] {
        assert_eq!(r.headers.get("if-none-match"), etag.as_ref());
        assert_eq!(r.headers.get("if-modified-since").map(String::as_str), Some(common::LAST_MODIFIED));
    }
    for r in &reqs {
        assert_eq!(r.headers.get("user-agent").map(String::as_str), Some("newsdesk-test/1"));
        let ae = r.headers.get("accept-encoding").cloned().unwrap_or_default();
        assert!(ae.contains("gzip") && ae.contains("br") && ae.contains("deflate"), "{ae}");
    }
}

#[test]
fn the_same_bytes_from_a_server_without_validators_are_not_modified() {
    let server = FixtureServer::start();
    let bare = |body: String| Fixture { etag: None, last_modified: None, ..Fixture::feed(body) };
    let one = rss("A", &[("a1", "First story", "https://a.example/1", common::hours_ago(3))]);
    server.set("/a.xml", bare(one.clone()));
    server.set("/broken.xml", bare("<html><body>Maintenance</body></html>".into()));
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), &[("a", server.url("/a.xml")), ("b", server.url("/broken.xml"))], "");
    let rt = rt();
    let desk = desk(&config);
    let fetcher = Fetcher::new(&config.poll).unwrap();
    let o = rt.block_on(refresh_source(&desk, &fetcher, &config.sources[0]));
    assert_eq!((o.status, o.report.new), (SourceStatus::Ok, 1), "{:?}", o.error);
    // Nothing to send back: the server gets a plain GET and answers 200 with the same bytes.
    let o = rt.block_on(refresh_source(&desk, &fetcher, &config.sources[0]));
    assert_eq!((o.status, o.report.new, o.report.updated, o.report.unchanged), (SourceStatus::NotModified, 0, 0, 0));
    let reqs = server.requests("/a.xml");
    assert_eq!(reqs.len(), 2);
    assert!(!reqs[1].headers.contains_key("if-none-match") && !reqs[1].headers.contains_key("if-modified-since"));
    let s = desk.store.source_state("a").unwrap().unwrap();
    assert_eq!((s.unchanged_polls, s.consecutive_failures), (1, 0));
    // One byte more is a new document: parsed, and its new item stored.
    let two = rss(
        "A",
        &[
            ("a1", "First story", "https://a.example/1", common::hours_ago(3)),
            ("a2", "Second story", "https://a.example/2", common::hours_ago(2)),
        ],
    );
    server.set("/a.xml", bare(two));
    let o = rt.block_on(refresh_source(&desk, &fetcher, &config.sources[0]));
    assert_eq!((o.status, o.report.new, o.report.unchanged), (SourceStatus::Ok, 1, 1));
    assert_eq!(desk.store.item_count().unwrap(), 2);
    // A document that failed is never taken for one already stored: the same
    // broken bytes are an error on every poll.
    for _ in 0..2 {
        let o = rt.block_on(refresh_source(&desk, &fetcher, &config.sources[1]));
        assert_eq!(o.status, SourceStatus::Error);
        assert!(o.error.as_deref().unwrap_or("").contains("parse"), "{:?}", o.error);
    }
}

#[test]
fn items_update_in_place_and_stay_when_they_leave_the_feed() {
    let server = FixtureServer::start();
    server.set(
        "/a.xml",
        Fixture::feed(rss(
            "A",
            &[
                ("a1", "Storm hits coast", "https://a.example/1", common::hours_ago(3)),
                ("a2", "Second", "https://a.example/2", common::hours_ago(2)),
            ],
        )),
    );
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), &[("a", server.url("/a.xml"))], "");
    let rt = rt();
    let desk = desk(&config);
    let fetcher = Fetcher::new(&config.poll).unwrap();
    let o = rt.block_on(refresh_source(&desk, &fetcher, &config.sources[0]));
    assert_eq!((o.report.new, o.report.updated), (2, 0));
    // A corrected title, and the second item gone from the feed.
    server.set(
        "/a.xml",
        Fixture::feed(rss("A", &[("a1", "Storm hits the coast, 3 dead", "https://a.example/1", common::hours_ago(3))])),
    );
    let o = rt.block_on(refresh_source(&desk, &fetcher, &config.sources[0]));
    assert_eq!((o.report.new, o.report.updated), (0, 1));
    assert_eq!(desk.store.item_count().unwrap(), 2);
    let publisher = Publisher::new(desk.store.clone(), Arc::new(config.clone()), 0).unwrap();
    let page = publisher
        .render_page(
            &PageRequest { feed: FeedName::All, format: Format::Json, limit: 50, lang: None, before: None },
            2_000_000_000,
        )
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&page.body).unwrap();
    let titles: Vec<&str> = json["items"].as_array().unwrap().iter().map(|i| i["title"].as_str().unwrap()).collect();
    assert_eq!(titles, vec!["Second", "Storm hits the coast, 3 dead"]);
}

#[test]
fn gzip_bodies_are_read_and_oversized_ones_refused() {
    let server = FixtureServer::start();
    let mut gz = Fixture::feed(rss("G", &[("g1", "Compressed", "https://g.example/1", common::hours_ago(3))]));
    gz.gzip = true;
    server.set("/gz.xml", gz);
    // 64 KiB limit: a 200 KiB body (compressed to almost nothing) must be refused.
    let mut big = Fixture::feed(format!(
        "<rss version=\"2.0\"><channel><title>{}</title></channel></rss>",
        "x".repeat(200 * 1024)
    ));
    big.gzip = true;
    server.set("/big.xml", big);
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), &[("gz", server.url("/gz.xml")), ("big", server.url("/big.xml"))], "");
    let rt = rt();
    let desk = desk(&config);
    let fetcher = Fetcher::new(&config.poll).unwrap();
    let o = rt.block_on(refresh_source(&desk, &fetcher, &config.sources[0]));
    assert_eq!((o.status, o.report.new), (SourceStatus::Ok, 1), "{:?}", o.error);
    let o = rt.block_on(refresh_source(&desk, &fetcher, &config.sources[1]));
    assert_eq!(o.status, SourceStatus::Error);
    assert!(o.error.unwrap().contains("larger than"));
}

#[test]
fn a_broken_source_does_not_stop_the_others() {
    let server = FixtureServer::start();
    server.set("/good.xml", Fixture::feed(rss("Good", &[("g1", "Fine", "https://g.example/1", common::hours_ago(3))])));
    server.set("/html.xml", Fixture::feed("<html><body>Not a feed</body></html>"));
    server.set("/500.xml", Fixture::status(500));
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(
        dir.path(),
        &[("html", server.url("/html.xml")), ("e500", server.url("/500.xml")), ("good", server.url("/good.xml"))],
        "",
    );
    let rt = rt();
    let desk = desk(&config);
    let fetcher = Fetcher::new(&config.poll).unwrap();
    let outcomes: Vec<_> = config.sources.iter().map(|s| rt.block_on(refresh_source(&desk, &fetcher, s))).collect();
    assert_eq!(outcomes[0].status, SourceStatus::Error);
    assert!(outcomes[0].error.as_ref().unwrap().starts_with("parse:"), "{:?}", outcomes[0].error);
    assert_eq!(outcomes[1].error.as_deref(), Some("HTTP 500"));
    assert_eq!(outcomes[2].status, SourceStatus::Ok);
    let state = desk.store.source_state("e500").unwrap().unwrap();
    assert_eq!(state.consecutive_failures, 1);
    assert!(state.next_due.unwrap() > state.last_fetch.unwrap());
}

#[test]
fn file_sources_are_read_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("local.xml"),
        rss("L", &[("l1", "Local", "https://l.example/1", common::hours_ago(3))]),
    )
    .unwrap();
    let config = config_for(dir.path(), &[("local", "local.xml")], "");
    assert_eq!(config.sources[0].url.scheme(), "file");
    let rt = rt();
    let desk = desk(&config);
    let fetcher = Fetcher::new(&config.poll).unwrap();
    let o = rt.block_on(refresh_source(&desk, &fetcher, &config.sources[0]));
    assert_eq!((o.status, o.report.new), (SourceStatus::Ok, 1));
    let o = rt.block_on(refresh_source(&desk, &fetcher, &config.sources[0]));
    assert_eq!(o.status, SourceStatus::NotModified);
}

#[test]
fn future_and_missing_dates_become_the_time_first_seen() {
    let server = FixtureServer::start();
    server.set(
        "/d.xml",
        Fixture::feed(format!(
            "<rss version=\"2.0\"><channel><title>D</title>\
             <item><guid>future</guid><title>From the future</title><pubDate>Tue, 01 Jan 2999 00:00:00 GMT</pubDate></item>\
             <item><guid>none</guid><title>No date</title></item>\
             <item><guid>past</guid><title>Old enough</title><pubDate>{}</pubDate></item>\
             </channel></rss>",
            common::hours_ago(3)
        )),
    );
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), &[("d", server.url("/d.xml"))], "");
    let rt = rt();
    let desk = desk(&config);
    let fetcher = Fetcher::new(&config.poll).unwrap();
    let before = newsdesk::pipeline::now();
    let o = rt.block_on(refresh_source(&desk, &fetcher, &config.sources[0]));
    let after = newsdesk::pipeline::now();
    assert_eq!(o.report.new, 3);
    let key = |guid: &str| newsdesk::parse::identity::item_key("d", &format!("g:{guid}"));
    for guid in ["future", "none"] {
        let item = desk.store.item(&key(guid)).unwrap().unwrap();
        assert!(item.published >= before && item.published <= after, "{guid}: {}", item.published);
        assert_eq!(item.published, item.first_seen);
    }
    let past = desk.store.item(&key("past")).unwrap().unwrap();
    assert_eq!(past.published, common::hours_ago_secs(3));
}

#[test]
fn items_older_than_retention_are_not_stored() {
    let server = FixtureServer::start();
    server.set(
        "/old.xml",
        Fixture::feed(rss(
            "O",
            &[
                ("old", "Ancient", "https://o.example/1", "Mon, 02 Nov 2009 10:00:00 GMT"),
                ("new", "Fresh", "https://o.example/2", common::hours_ago(3)),
            ],
        )),
    );
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(dir.path(), &[("o", server.url("/old.xml"))], "");
    config.storage.retention = std::time::Duration::from_secs(365 * 86_400 * 5);
    let rt = rt();
    let desk = desk(&config);
    let fetcher = Fetcher::new(&config.poll).unwrap();
    let o = rt.block_on(refresh_source(&desk, &fetcher, &config.sources[0]));
    assert_eq!((o.report.new, o.report.too_old), (1, 1));
}

#[test]
fn a_permanent_redirect_seen_three_times_replaces_the_url_and_a_temporary_one_never_does() {
    let server = FixtureServer::start();
    let feed = Fixture::feed(rss("R", &[("r1", "Moved", "https://r.example/1", common::hours_ago(3))]));
    server.set("/new.xml", feed.clone());
    server.set("/tmp-target.xml", feed);
    server.set("/old.xml", Fixture::status(301).header("location", "/new.xml"));
    server.set("/tmp.xml", Fixture::status(302).header("location", "/tmp-target.xml"));
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), &[("perm", server.url("/old.xml")), ("temp", server.url("/tmp.xml"))], "");
    let rt = rt();
    let fetcher = Fetcher::new(&config.poll).unwrap();
    for round in 1..=4 {
        // A new Desk each round: the count survives restarts.
        let desk = desk(&config);
        for s in &config.sources {
            let o = rt.block_on(refresh_source(&desk, &fetcher, s));
            assert!(o.error.is_none(), "round {round} {}: {:?}", s.id, o.error);
        }
        let perm = desk.store.source_state("perm").unwrap().unwrap();
        let want = if round >= 3 { server.url("/new.xml") } else { server.url("/old.xml") };
        assert_eq!(perm.url, want, "round {round}");
        assert_eq!(desk.store.source_state("temp").unwrap().unwrap().url, server.url("/tmp.xml"));
    }
    // After the switch, polls go straight to the target.
    assert_eq!(server.count("/old.xml"), 3);
    assert_eq!(server.count("/tmp.xml"), 4);
}

#[test]
fn gone_stops_polling_across_restarts_until_the_url_changes() {
    let server = FixtureServer::start();
    server.set("/gone.xml", Fixture::status(410));
    server.set("/back.xml", Fixture::feed(rss("B", &[("b1", "Back", "https://b.example/1", common::hours_ago(3))])));
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), &[("g", server.url("/gone.xml"))], "");
    let rt = rt();
    let fetcher = Fetcher::new(&config.poll).unwrap();
    let o = rt.block_on(refresh_source(&desk(&config), &fetcher, &config.sources[0]));
    assert_eq!(o.status, SourceStatus::Gone);
    let o = rt.block_on(refresh_source(&desk(&config), &fetcher, &config.sources[0]));
    assert_eq!(o.status, SourceStatus::Gone);
    assert_eq!(server.count("/gone.xml"), 1, "a gone source is not polled again");
    // A new URL in the configuration brings it back.
    let moved = config_for(dir.path(), &[("g", server.url("/back.xml"))], "");
    let o = rt.block_on(refresh_source(&desk(&moved), &fetcher, &moved.sources[0]));
    assert_eq!((o.status, o.report.new), (SourceStatus::Ok, 1));
}

#[test]
fn redirect_loops_and_long_chains_are_errors() {
    let server = FixtureServer::start();
    server.set("/a", Fixture::status(302).header("location", "/b"));
    server.set("/b", Fixture::status(302).header("location", "/a"));
    for i in 0..7 {
        server.set(&format!("/c{i}"), Fixture::status(301).header("location", &format!("/c{}", i + 1)));
    }
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), &[("loop", server.url("/a")), ("chain", server.url("/c0"))], "");
    let rt = rt();
    let desk = desk(&config);
    let fetcher = Fetcher::new(&config.poll).unwrap();
    let o = rt.block_on(refresh_source(&desk, &fetcher, &config.sources[0]));
    assert!(o.error.as_deref().unwrap_or("").contains("redirect loop"), "{:?}", o.error);
    let o = rt.block_on(refresh_source(&desk, &fetcher, &config.sources[1]));
    assert!(o.error.as_deref().unwrap_or("").contains("more than 5 redirects"), "{:?}", o.error);
    assert_eq!(server.count("/c6"), 0);
}

#[test]
fn retry_after_holds_back_every_source_on_the_host() {
    let server = FixtureServer::start();
    for p in ["/a", "/b", "/c"] {
        server.set(p, Fixture::status(429).header("retry-after", "120"));
    }
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(
        dir.path(),
        &[("a", server.url("/a")), ("b", server.url("/b")), ("c", server.url("/c"))],
        "per_host = 1",
    );
    let rt = rt();
    let desk = desk(&config);
    let fetcher = Fetcher::new(&config.poll).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let before = newsdesk::pipeline::now();
    rt.block_on(newsdesk::poll::poll_all_once(desk.clone(), fetcher, tx));
    let mut outcomes = Vec::new();
    while let Ok(o) = rx.try_recv() {
        outcomes.push(o);
    }
    assert_eq!(outcomes.len(), 3);
    let total: usize = ["/a", "/b", "/c"].iter().map(|p| server.count(p)).sum();
    assert_eq!(total, 1, "after a 429 with Retry-After, no other request may go to that host");
    let held = outcomes.iter().filter(|o| o.error.as_deref().unwrap_or("").starts_with("held back")).count();
    assert_eq!(held, 2);
    let polled = outcomes.iter().find(|o| o.error.as_deref() == Some("HTTP 429")).expect("one source polled");
    let state = desk.store.source_state(&polled.source).unwrap().unwrap();
    assert!(state.next_due.unwrap() >= before + 120, "next due must honour Retry-After");
}

#[test]
fn retention_prunes_old_stories_with_their_items_and_indexes() {
    let server = FixtureServer::start();
    server.set(
        "/r.xml",
        Fixture::feed(rss(
            "R",
            &[
                ("old1", "Old story one", "https://r.example/1", common::hours_ago(20 * 24)),
                ("old2", "Old story two", "https://r.example/2", common::hours_ago(20 * 24 - 1)),
                ("new1", "New story", "https://r.example/3", common::hours_ago(2 * 24)),
            ],
        )),
    );
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), &[("r", server.url("/r.xml"))], "");
    let rt = rt();
    let desk = desk(&config);
    let fetcher = Fetcher::new(&config.poll).unwrap();
    rt.block_on(refresh_source(&desk, &fetcher, &config.sources[0]));
    assert_eq!((desk.store.item_count().unwrap(), desk.store.story_count().unwrap()), (3, 3));
    // Cut ten days back, one story per pass.
    let cutoff = common::hours_ago_secs(10 * 24);
    assert_eq!(desk.store.prune(cutoff, 1).unwrap(), 1);
    assert_eq!(desk.store.prune(cutoff, 10).unwrap(), 1);
    assert_eq!(desk.store.prune(cutoff, 10).unwrap(), 0);
    assert_eq!((desk.store.item_count().unwrap(), desk.store.story_count().unwrap()), (1, 1));
    let left = desk.store.page("all", None, 10).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(desk.store.page("s:misc", None, 10).unwrap().len(), 1);
    assert_eq!(desk.store.story_for_link("https://r.example/1").unwrap(), None);
    assert!(desk.store.story_for_link("https://r.example/3").unwrap().is_some());
}

#[test]
fn breaking_stories_leave_the_breaking_feed_after_max_age() {
    let server = FixtureServer::start();
    let ago = |h: u64| httpdate::fmt_http_date(std::time::SystemTime::now() - std::time::Duration::from_secs(h * 3600));
    server.set(
        "/w.xml",
        Fixture::feed(rss(
            "W",
            &[
                ("old", "Flood warning lifted", "https://w.example/1", &ago(7)),
                ("new", "Storm makes landfall", "https://w.example/2", &ago(1)),
            ],
        )),
    );
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(dir.path(), &[("w", server.url("/w.xml"))], "");
    config.sources[0].breaking = true;
    let rt = rt();
    let desk = desk(&config);
    let fetcher = Fetcher::new(&config.poll).unwrap();
    let o = rt.block_on(refresh_source(&desk, &fetcher, &config.sources[0]));
    // Both stories are breaking in the record, but only the fresh one is news.
    assert_eq!(o.report.became_breaking.iter().map(|b| b.title.as_str()).collect::<Vec<_>>(), ["Storm makes landfall"]);
    let publisher = Publisher::new(desk.store.clone(), Arc::new(config.clone()), 0).unwrap();
    let page = publisher
        .render_page(
            &PageRequest { feed: FeedName::Breaking, format: Format::Json, limit: 50, lang: None, before: None },
            newsdesk::pipeline::now(),
        )
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&page.body).unwrap();
    let titles: Vec<&str> = json["items"].as_array().unwrap().iter().map(|i| i["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Storm makes landfall"]);
    assert_eq!(json["items"][0]["_newsdesk"]["breaking"], true);
}

#[test]
fn feed_hints_and_the_adaptive_counters_are_kept_in_the_source_state() {
    let server = FixtureServer::start();
    let doc = "<?xml version=\"1.0\"?><rss version=\"2.0\" xmlns:sy=\"http://purl.org/rss/1.0/modules/syndication/\"><channel><title>H</title><ttl>120</ttl><sy:updatePeriod>hourly</sy:updatePeriod>\
        <item><guid>h1</guid><title>One</title><pubDate>Mon, 02 Nov 2026 10:00:00 GMT</pubDate></item>\
        <skipDays><day>Sunday</day></skipDays></channel></rss>";
    server.set("/h.xml", Fixture::feed(doc));
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), &[("h", server.url("/h.xml"))], "max_interval = \"3h\"");
    let rt = rt();
    let desk = desk(&config);
    let fetcher = Fetcher::new(&config.poll).unwrap();
    let o = rt.block_on(refresh_source(&desk, &fetcher, &config.sources[0]));
    assert_eq!((o.status, o.report.new), (SourceStatus::Ok, 1), "{:?}", o.error);
    let s = desk.store.source_state("h").unwrap().unwrap();
    assert_eq!(s.hints.ttl_minutes, Some(120));
    assert_eq!(s.hints.update_every, Some(3600));
    assert_eq!(s.hints.skip_days, 1 << 6, "Sunday");
    assert_eq!((s.busy_polls, s.unchanged_polls), (1, 0));
    let span = s.next_due.unwrap() - s.last_fetch.unwrap();
    // ttl 2 h wins over the 15 min interval, unless Sunday pushes it further (within max, 3 h).
    assert!((7200..=3 * 3600).contains(&span), "{span}");
    // A 304 keeps the hints of the last full document and counts as unchanged.
    for n in 1..=4 {
        let o = rt.block_on(refresh_source(&desk, &fetcher, &config.sources[0]));
        assert_eq!(o.status, SourceStatus::NotModified);
        let s = desk.store.source_state("h").unwrap().unwrap();
        assert_eq!((s.busy_polls, s.unchanged_polls), (0, n));
        assert_eq!(s.hints.ttl_minutes, Some(120));
        assert!(s.next_due.unwrap() - s.last_fetch.unwrap() >= 7200);
    }
}
