//! Re-polls of a feed served without ETag or Last-Modified (every poll brings
//! the whole document), over real HTTP into a real store: items known and
//! unchanged stay exactly as stored, and are reported unchanged, whether they
//! were stored by this release (recognised by their summary's fingerprint,
//! without sanitising it again) or by an older one (sanitised and compared,
//! as before); a changed summary is an update, sanitised and served.

mod common;

use common::{Fixture, FixtureServer};
use newsdesk::model::{Item, SourceStatus};
use newsdesk::pipeline::{refresh_source, IngestReport};
use newsdesk::poll::fetch::Fetcher;
use newsdesk::publish::{FeedName, Format, Publisher};
use std::collections::BTreeMap;
use std::path::Path;

/// An RSS document whose items carry the kinds of summary feeds send:
/// HTML with a relative link and a script, plain text, a summary that
/// sanitises to nothing (the content is used), a long article (cut to its
/// lead), and an item with neither guid, link nor title (its identity is a
/// hash of its sanitised summary). `first`: the first item's description.
fn document(first: &str) -> String {
    let date = common::hours_ago(3);
    let long = format!("<p>{}</p><p>The end.</p>", "Talks went on through the night in the capital. ".repeat(120));
    let items = [
        format!(
            "<item><guid>w-1</guid><title>Port strike ends after talks</title><link>/news/1</link><pubDate>{date}</pubDate><description><![CDATA[{first}]]></description></item>"
        ),
        format!(
            "<item><guid>w-2</guid><title>Rain returns to the valley</title><link>/news/2</link><pubDate>{date}</pubDate><description>Farmers &amp; growers welcome the rain &gt; expected.</description></item>"
        ),
        format!(
            "<item><guid>w-3</guid><title>Cup final tonight</title><link>/news/3</link><pubDate>{date}</pubDate><description><![CDATA[<script>track()</script>]]></description><content:encoded><![CDATA[<p>Only the content says <i>this</i>: <a href=\"/cup\">tickets</a>.</p>]]></content:encoded></item>"
        ),
        format!(
            "<item><guid>w-4</guid><title>Budget talks run late</title><link>/news/4</link><pubDate>{date}</pubDate><description><![CDATA[{long}]]></description></item>"
        ),
        format!("<item><pubDate>{date}</pubDate><description><![CDATA[<p>A note with <b>no title</b>.</p>]]></description></item>"),
    ];
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\" xmlns:content=\"http://purl.org/rss/1.0/modules/content/\"><channel><title>Wire</title><link>https://wire.example/</link><description>d</description>\n{}\n</channel></rss>\n",
        items.join("\n")
    )
}

const FIRST: &str =
    "<p onclick=\"x()\">Dockers <b>return</b> to work. <a href=\"/news/1-more\">More</a><script>alert(1)</script></p>";
const ITEMS: usize = 5;

/// The document the feed serves from the next poll on.
fn serve(s: &Setup, body: String) {
    *s.body.borrow_mut() = body;
}

struct Setup {
    server: FixtureServer,
    config: newsdesk::config::Config,
    /// What `serve` set; each poll gets it with its own generation comment.
    body: std::cell::RefCell<String>,
    polls: std::cell::Cell<u32>,
    _dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let server = FixtureServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = common::poll_config(dir.path(), &[("wire", server.url("/wire.xml"))], "");
    Setup { server, config, body: Default::default(), polls: Default::default(), _dir: dir }
}

/// One poll of the source by a desk over the store (opened and closed again,
/// so that the store's files can be read by the test in between). The feed
/// has no validators, and like many a CMS it stamps each response (here a
/// comment with the request's number), so no two bodies are the same bytes
/// and every poll parses and ingests the whole document (the same bytes
/// again would be `not_modified` without parsing: tests/poll.rs).
fn poll(s: &Setup) -> IngestReport {
    s.polls.set(s.polls.get() + 1);
    let body = s.body.borrow().replacen("?>", &format!("?>\n<!-- generated for request {} -->", s.polls.get()), 1);
    let mut f = Fixture::feed(body);
    f.etag = None;
    f.last_modified = None;
    s.server.set("/wire.xml", f);
    let desk = common::desk(&s.config);
    let fetcher = Fetcher::new(&s.config.poll).unwrap();
    let outcome = common::rt().block_on(refresh_source(&desk, &fetcher, &s.config.sources[0]));
    assert_eq!(outcome.status, SourceStatus::Ok, "{:?}", outcome.error);
    outcome.report
}

/// The store's sled database, opened directly. The desk of the last poll was
/// just dropped, and sled's background threads can hold the folder's lock a
/// moment longer on a loaded machine: retry for up to five seconds, as
/// `Store::open` does.
fn open_raw(path: &Path) -> sled::Db {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match sled::open(path) {
            Ok(db) => return db,
            Err(_) if std::time::Instant::now() < deadline => std::thread::sleep(std::time::Duration::from_millis(20)),
            Err(e) => panic!("opening {}: {e}", path.display()),
        }
    }
}

/// Every record of the store's trees but `sources` (whose poll times change
/// on every poll), as written.
fn records(path: &Path) -> BTreeMap<(String, Vec<u8>), Vec<u8>> {
    let db = open_raw(path);
    let mut out = BTreeMap::new();
    for name in db.tree_names() {
        let name = String::from_utf8_lossy(&name).into_owned();
        if name == "sources" {
            continue;
        }
        for r in db.open_tree(&name).unwrap().iter() {
            let (k, v) = r.unwrap();
            out.insert((name.clone(), k.to_vec()), v.to_vec());
        }
    }
    out
}

fn item_records(records: &BTreeMap<(String, Vec<u8>), Vec<u8>>) -> Vec<serde_json::Value> {
    records
        .iter()
        .filter(|((tree, _), _)| tree == "items")
        .map(|(_, v)| {
            assert_eq!(v[0], 1, "value format version");
            serde_json::from_slice(&v[1..]).unwrap()
        })
        .collect()
}

fn items(path: &Path) -> Vec<Item> {
    item_records(&records(path)).into_iter().map(|v| serde_json::from_value(v).unwrap()).collect()
}

/// Every feed the publisher serves, body by path, as published at `now`.
fn served(config: &newsdesk::config::Config, now: i64) -> BTreeMap<String, Vec<u8>> {
    let store = newsdesk::store::Store::open(&config.storage.path).unwrap();
    let publisher = Publisher::new(store, std::sync::Arc::new(config.clone()), now).unwrap();
    publisher.publish_all(now).unwrap();
    publisher.snapshot().files.iter().map(|(p, r)| (p.clone(), r.body.to_vec())).collect()
}

/// The JSON Feed `all` entry of the story whose item has `link`.
fn served_html(config: &newsdesk::config::Config, now: i64, link: &str) -> String {
    let feeds = served(config, now);
    let doc: serde_json::Value = serde_json::from_slice(&feeds[&FeedName::All.path(Format::Json)]).unwrap();
    let items = doc["items"].as_array().unwrap();
    let item = items.iter().find(|i| i["url"] == link).unwrap_or_else(|| panic!("no {link} in {doc}"));
    item["content_html"].as_str().unwrap().to_string()
}

#[test]
fn a_repoll_of_the_same_document_leaves_every_item_as_stored() {
    let s = setup();
    serve(&s, document(FIRST));
    let first = poll(&s);
    assert_eq!((first.new, first.updated, first.unchanged), (ITEMS, 0, 0));
    let path = &s.config.storage.path;
    let now = newsdesk::pipeline::now();
    // (Publishing first: the publisher keeps a secret of its own in the store.)
    let feeds_before = served(&s.config, now);
    let before = records(path);

    // What was stored: sanitised, with the fingerprint of what it was made from.
    let stored = items(path);
    assert_eq!(stored.len(), ITEMS);
    assert!(stored.iter().all(|i| i.summary_source.is_some()), "{stored:#?}");
    let by_link = |l: &str| stored.iter().find(|i| i.link.as_deref() == Some(l)).unwrap();
    let base = s.server.url("");
    assert_eq!(
        by_link(&format!("{base}/news/1")).summary,
        format!(
            "<p>Dockers <b>return</b> to work. <a href=\"{base}/news/1-more\" rel=\"noopener noreferrer\">More</a></p>"
        )
    );
    assert_eq!(by_link(&format!("{base}/news/2")).summary, "Farmers &amp; growers welcome the rain &gt; expected.");
    assert_eq!(
        by_link(&format!("{base}/news/3")).summary,
        format!(
            "<p>Only the content says <i>this</i>: <a href=\"{base}/cup\" rel=\"noopener noreferrer\">tickets</a>.</p>"
        )
    );
    let long = &by_link(&format!("{base}/news/4")).summary;
    assert!(long.ends_with(" …</p>") && long.len() <= newsdesk::parse::normalize::MAX_SUMMARY_BYTES + 16, "{long}");
    assert!(stored.iter().any(|i| i.title.is_empty() && i.summary == "<p>A note with <b>no title</b>.</p>"));

    for round in 0..2 {
        let again = poll(&s);
        assert_eq!((again.new, again.updated, again.unchanged), (0, 0, ITEMS), "re-poll {round}");
        assert!(again.feeds.is_empty(), "no feed changes: {:?}", again.feeds);
        assert!(records(path) == before, "re-poll {round} rewrote the store");
        assert!(served(&s.config, now) == feeds_before, "re-poll {round} changed what is served");
    }
    assert_eq!(s.server.count("/wire.xml"), 3, "every poll fetched the whole document");
}

#[test]
fn a_changed_summary_is_an_update_sanitised_and_served() {
    let s = setup();
    serve(&s, document(FIRST));
    poll(&s);
    let path = &s.config.storage.path;
    let before = items(path);
    let base = s.server.url("");
    let link = format!("{base}/news/1");

    // Only the first item's description changes: same guid, title, link, date.
    let changed = "<p>Dockers <b>vote</b> to return. <a href=\"/news/1-vote\">Vote</a><img src=\"javascript:x\"></p>";
    serve(&s, document(changed));
    let report = poll(&s);
    assert_eq!((report.new, report.updated, report.unchanged), (0, 1, ITEMS - 1));
    assert!(!report.feeds.is_empty(), "the story's feeds are republished");

    let after = items(path);
    let old = before.iter().find(|i| i.link.as_deref() == Some(&link)).unwrap();
    let new = after.iter().find(|i| i.link.as_deref() == Some(&link)).unwrap();
    let expected =
        format!("<p>Dockers <b>vote</b> to return. <a href=\"{base}/news/1-vote\" rel=\"noopener noreferrer\">Vote</a><img></p>");
    assert_eq!(new.summary, expected);
    assert_ne!(new.summary_source, old.summary_source);
    assert_eq!(
        (new.key.as_str(), new.first_seen, new.story.as_str()),
        (old.key.as_str(), old.first_seen, old.story.as_str())
    );
    assert!(new.updated >= old.updated);
    // The others are exactly as they were.
    let others = |v: &[Item]| v.iter().filter(|i| i.link.as_deref() != Some(&link)).cloned().collect::<Vec<_>>();
    assert_eq!(others(&after), others(&before));

    assert_eq!(served_html(&s.config, newsdesk::pipeline::now(), &link), expected);

    // And changing back is an update too.
    serve(&s, document(FIRST));
    let report = poll(&s);
    assert_eq!((report.new, report.updated, report.unchanged), (0, 1, ITEMS - 1));
    assert_eq!(items(path).iter().find(|i| i.link.as_deref() == Some(&link)).unwrap().summary, old.summary);
}

/// Rewrite every item record as a release before fingerprints wrote it: no
/// `summary_source`. Returns how many there were.
fn drop_fingerprints(path: &Path) -> usize {
    let db = open_raw(path);
    let items = db.open_tree("items").unwrap();
    let mut n = 0;
    for r in items.iter() {
        let (k, v) = r.unwrap();
        let mut item: serde_json::Value = serde_json::from_slice(&v[1..]).unwrap();
        assert!(item.as_object_mut().unwrap().remove("summary_source").is_some(), "{item}");
        let mut out = vec![1u8];
        out.extend(serde_json::to_vec(&item).unwrap());
        items.insert(k, out).unwrap();
        n += 1;
    }
    db.flush().unwrap();
    n
}

#[test]
fn items_stored_by_an_older_release_are_recognised_and_gain_the_fingerprint() {
    let s = setup();
    serve(&s, document(FIRST));
    poll(&s);
    let path = &s.config.storage.path;
    let now = newsdesk::pipeline::now();
    let feeds = served(&s.config, now);
    let current = records(path);
    assert_eq!(drop_fingerprints(path), ITEMS);
    let old = records(path);
    assert!(item_records(&old).iter().all(|i| i.get("summary_source").is_none()));
    // An older release's records read and serve as they did.
    assert!(served(&s.config, now) == feeds);

    // Nothing changed: all unchanged, and each record gains the fingerprint
    // this release would have written (the store is as if it had stored them).
    let report = poll(&s);
    assert_eq!((report.new, report.updated, report.unchanged), (0, 0, ITEMS));
    assert!(report.feeds.is_empty(), "no feed changes: {:?}", report.feeds);
    assert!(records(path) == current, "the records are this release's");
    assert!(served(&s.config, now) == feeds);

    // From then on, nothing is written on a re-poll.
    let report = poll(&s);
    assert_eq!((report.new, report.updated, report.unchanged), (0, 0, ITEMS));
    assert!(records(path) == current);

    // An older release's record whose summary then changes is an update.
    drop_fingerprints(path);
    let changed = "<p>Dockers <b>vote</b> to return.</p>";
    serve(&s, document(changed));
    let report = poll(&s);
    assert_eq!((report.new, report.updated, report.unchanged), (0, 1, ITEMS - 1));
    let link = format!("{}/news/1", s.server.url(""));
    let stored = items(path);
    let item = stored.iter().find(|i| i.link.as_deref() == Some(&link)).unwrap();
    assert_eq!(item.summary, changed);
    assert!(stored.iter().all(|i| i.summary_source.is_some()), "every record has its fingerprint again");
    assert_eq!(served_html(&s.config, newsdesk::pipeline::now(), &link), changed);
}

/// Ingest looks items up before it takes its lock (so that sanitising runs
/// beside other sources' ingests); two ingests of one document at once must
/// still store each item once: one finds them new, the other unchanged.
#[test]
fn two_ingests_of_one_document_at_once_store_each_item_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::poll_config(dir.path(), &[("a", "https://a.example/feed")], "");
    let desk = common::desk(&config);
    let now = newsdesk::pipeline::now();
    // Bounded: 20 documents, two threads each.
    for round in 0..20 {
        let items: Vec<(String, String, String)> = (0..10)
            .map(|i| {
                (
                    format!("r{round}-{i}"),
                    format!("Item {i} of round {round} about topic {}", i * 7 + round),
                    format!("https://a.example/{round}/{i}"),
                )
            })
            .collect();
        let refs: Vec<(&str, &str, &str)> =
            items.iter().map(|(g, t, l)| (g.as_str(), t.as_str(), l.as_str())).collect();
        let feed = common::parsed_rss(&refs);
        let reports: Vec<IngestReport> = std::thread::scope(|s| {
            let runs: Vec<_> =
                (0..2).map(|_| s.spawn(|| desk.ingest(&common::source("a"), &feed, now).unwrap())).collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        });
        let new: usize = reports.iter().map(|r| r.new).sum();
        let unchanged: usize = reports.iter().map(|r| r.unchanged).sum();
        assert_eq!((new, unchanged), (10, 10), "round {round}: {reports:?}");
    }
    let stories = desk.store.page("all", None, 1000).unwrap();
    assert_eq!(stories.iter().map(|s| s.size as usize).sum::<usize>(), 200, "every item counted once");
}
