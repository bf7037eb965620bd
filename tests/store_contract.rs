//! The store's contract, the same on both engines: each test runs once on
//! sled (in a temporary folder) and once on PostgreSQL (a real server this
//! test starts, see `common::pg`), and what a user sees (counts, pages,
//! stories, merges, pruning, the feeds' very bytes) must not depend on
//! which one runs.

mod common;

use common::pg::Postgres;
use common::{parsed_rss as feed, source};
use newsdesk::pipeline::Desk;
use newsdesk::store::{PgOptions, Store};
use std::sync::Arc;

/// The two engines a test runs on.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Backend {
    Sled,
    Postgres,
}

/// Where a test's stores live: a folder for sled, a server for PostgreSQL.
struct Place {
    dir: tempfile::TempDir,
    pg: Option<Postgres>,
    url: Option<String>,
}

impl Place {
    fn new(backend: Backend) -> Place {
        let dir = tempfile::tempdir().unwrap();
        let (pg, url) = match backend {
            Backend::Sled => (None, None),
            Backend::Postgres => {
                let pg = Postgres::start();
                let url = pg.database("newsdesk");
                (Some(pg), Some(url))
            }
        };
        Place { dir, pg, url }
    }

    /// The store, opened afresh (a reopen reads what an earlier handle wrote).
    fn open(&self) -> Store {
        match &self.url {
            None => Store::open(&self.dir.path().join("data")).unwrap(),
            Some(url) => {
                Store::open_postgres(&PgOptions { url: url.clone(), password: None, pool: 4, node: "test".into() })
                    .unwrap()
            }
        }
    }

    fn config(&self, ids: &[&str]) -> newsdesk::config::Config {
        let sources: Vec<(String, String)> =
            ids.iter().map(|i| (i.to_string(), format!("https://{i}.example/"))).collect();
        common::poll_config(self.dir.path(), &sources, "")
    }
}

/// Run `test` on both engines, with one start time (six hours ago) for
/// both; returns what each produced, sled's first.
fn on_both<T>(test: impl Fn(Backend, &Place, i64) -> T) -> (T, T) {
    let t0 = newsdesk::pipeline::now() - 6 * 3600;
    let sled = test(Backend::Sled, &Place::new(Backend::Sled), t0);
    let pg = test(Backend::Postgres, &Place::new(Backend::Postgres), t0);
    (sled, pg)
}

fn desk_on(store: Store, config: &newsdesk::config::Config) -> Arc<Desk> {
    Arc::new(Desk::new(store, Arc::new(config.clone())).unwrap())
}

fn story_of(desk: &Desk, source_id: &str, guid: &str) -> String {
    let key = newsdesk::parse::identity::item_key(source_id, &format!("g:{guid}"));
    desk.store.item(&key).unwrap().expect("stored").story
}

/// The dam-burst event of tests/merge.rs: two stories that a later report
/// shows to be one, from `t0` on.
fn ingest_event(place: &Place, t0: i64) -> Arc<Desk> {
    let config = place.config(&["bg", "a", "b", "c", "d"]);
    let desk = desk_on(place.open(), &config);
    for (i, title) in common::BACKGROUND.iter().enumerate() {
        let link = format!("https://bg.example/{i}");
        desk.ingest(&source("bg"), &feed(&[(&format!("bg{i}"), title, &link)]), t0 + i as i64).unwrap();
    }
    let reports = [
        ("a", "a1", "Karvel dam bursts after days of rain", "https://a.example/1"),
        ("b", "b1", "BREAKING: Floods sweep villages below Lake Miros", "https://b.example/1"),
        (
            "c",
            "c1",
            "Karvel dam bursts after days of rain, floods sweep villages below Lake Miros",
            "https://c.example/1",
        ),
        ("d", "d1", "Karvel dam bursts after days of rain and floods villages below Lake Miros", "https://d.example/1"),
    ];
    for (n, (s, g, title, link)) in reports.iter().enumerate() {
        desk.ingest(&source(s), &feed(&[(g, title, link)]), t0 + 600 * (n as i64 + 1)).unwrap();
    }
    desk
}

/// What a reader of the store sees: every story of `all` newest first, with
/// its items, sources and feeds.
fn listing(store: &Store) -> Vec<String> {
    let mut out = Vec::new();
    for s in store.page("all", None, 1000).unwrap() {
        let mut keys: Vec<String> = store.story_members(&s).unwrap().into_iter().map(|m| m.key).collect();
        keys.sort();
        out.push(format!("{} {:?} {:?} {:?} {:?} {}", s.id, keys, s.sources, s.sections, s.tags, s.breaking));
    }
    out
}

#[test]
fn items_stories_and_counts_read_the_same_on_both_engines() {
    let (sled, pg) = on_both(|backend, place, t0| {
        let desk = ingest_event(place, t0);
        let store = &desk.store;
        assert_eq!(store.item_count().unwrap(), 16, "{backend:?}");
        assert_eq!(store.story_count().unwrap(), 13, "{backend:?}: 12 background stories and the event");
        assert_eq!(store.source_item_count("bg").unwrap(), 12, "{backend:?}");
        let event = story_of(&desk, "a", "a1");
        for (s, g) in [("b", "b1"), ("c", "c1"), ("d", "d1")] {
            assert_eq!(story_of(&desk, s, g), event, "{backend:?}: {g} is in the event's story");
        }
        assert!(!store.story_has_source(&event, "bg").unwrap(), "{backend:?}");
        assert_eq!(store.story_for_link("https://d.example/1").unwrap().as_deref(), Some(event.as_str()));
        let story = store.story(&event).unwrap().expect("the event's story");
        assert_eq!(store.story_members(&story).unwrap().len(), 4, "{backend:?}");
        // Reopened, the store reads the same.
        let before = listing(store);
        drop(desk);
        assert_eq!(listing(&place.open()), before, "{backend:?}: a reopened store reads the same");
        before
    });
    assert_eq!(sled, pg, "sled and PostgreSQL list the same stories");
}

#[test]
fn a_merge_moves_items_and_redirects_on_both_engines() {
    on_both(|backend, place, t0| {
        let desk = ingest_event(place, t0);
        let store = &desk.store;
        let (first, second) = (story_of(&desk, "a", "a1"), story_of(&desk, "b", "b1"));
        assert_eq!(first, second, "{backend:?}: the fourth report merged the two stories");
        let absorbed: Vec<String> = listing(store).iter().map(|l| l[..l.find(' ').unwrap()].to_string()).collect();
        assert_eq!(absorbed.len(), 13, "{backend:?}: the event is listed once");
        // Some story id was absorbed: the redirect table holds it.
        let b_first = newsdesk::stories::new_story_id(&newsdesk::parse::identity::item_key("b", "g:b1"));
        assert_eq!(store.redirect(&b_first).unwrap().as_deref(), Some(first.as_str()), "{backend:?}");
        assert!(store.story(&b_first).unwrap().is_none(), "{backend:?}: the absorbed record is gone");
    });
}

#[test]
fn pages_keys_and_feed_names_on_both_engines() {
    let (sled, pg) = on_both(|backend, place, t0| {
        let desk = ingest_event(place, t0);
        let store = &desk.store;
        let first = store.page_keys("all", None, 3).unwrap();
        assert_eq!(first.len(), 3, "{backend:?}");
        assert!(first.windows(2).all(|w| w[0].time >= w[1].time), "{backend:?}: newest first");
        let next = store.page_keys("all", first.last(), 100).unwrap();
        assert_eq!(next.len(), 10, "{backend:?}: the rest, after the cursor");
        assert!(next.iter().all(|k| !first.contains(k)), "{backend:?}: no story on two pages");
        let recent = store.keys_between("all", t0 + 60, t0 + 7200).unwrap();
        assert_eq!(recent.len(), 1, "{backend:?}: only the event is that recent");
        let sections = store.feed_names("s:").unwrap();
        assert_eq!(sections, vec!["s:misc".to_string()], "{backend:?}");
        assert_eq!(store.feed_len("s:misc").unwrap(), 13, "{backend:?}");
        (first, next, sections)
    });
    assert_eq!(sled, pg);
}

#[test]
fn pruning_removes_stories_items_and_counts_on_both_engines() {
    on_both(|backend, place, t0| {
        let desk = ingest_event(place, t0);
        let store = &desk.store;
        // The background stories are dated t0 .. t0+11; the event t0+600.
        assert_eq!(store.prune(t0 + 300, 100).unwrap(), 12, "{backend:?}");
        assert_eq!(store.story_count().unwrap(), 1, "{backend:?}");
        assert_eq!(store.item_count().unwrap(), 4, "{backend:?}");
        assert_eq!(store.source_item_count("bg").unwrap(), 0, "{backend:?}");
        assert!(store.story_for_link("https://bg.example/0").unwrap().is_none(), "{backend:?}");
        assert_eq!(store.page_keys("all", None, 100).unwrap().len(), 1, "{backend:?}");
        assert_eq!(store.prune(t0 + 300, 100).unwrap(), 0, "{backend:?}: nothing left to prune");
    });
}

#[test]
fn source_states_and_the_cursor_secret_survive_a_reopen_on_both_engines() {
    on_both(|backend, place, _| {
        let store = place.open();
        let config = place.config(&["a"]);
        let mut state = newsdesk::pipeline::load_state(&store, &config.sources[0]).unwrap();
        state.etag = Some("\"v1\"".into());
        state.next_due = Some(12345);
        store.put_source_state(&state).unwrap();
        let secret = store.secret().unwrap();
        store.flush().unwrap();
        drop(store);
        let again = place.open();
        let read = again.source_state("a").unwrap().expect("the state");
        assert_eq!((read.etag.as_deref(), read.next_due), (Some("\"v1\""), Some(12345)), "{backend:?}");
        assert_eq!(again.source_states().unwrap().len(), 1, "{backend:?}");
        assert_eq!(again.secret().unwrap(), secret, "{backend:?}: cursors stay valid");
    });
}

/// The feeds a publisher renders are the same bytes, with the same ETag, on
/// either engine: a reader cannot tell, and a store copied from one to the
/// other (`newsdesk migrate`) serves what it served.
#[test]
fn published_feeds_are_byte_identical_on_both_engines() {
    let (sled, pg) = on_both(|_, place, t0| {
        let desk = ingest_event(place, t0);
        let config = Arc::new(place.config(&["bg", "a", "b", "c", "d"]));
        let publisher = newsdesk::publish::Publisher::new(desk.store.clone(), config, t0 + 3600).unwrap();
        publisher.publish_all(t0 + 3600).unwrap();
        let snap = publisher.snapshot();
        let mut files: Vec<(String, String, Vec<u8>)> =
            snap.files.iter().map(|(k, r)| (k.clone(), r.etag.clone(), r.body.to_vec())).collect();
        files.sort();
        assert!(files.iter().any(|(k, _, b)| k.contains("all.atom") && !b.is_empty()), "all.atom is rendered");
        files
    });
    assert_eq!(sled.len(), pg.len());
    for (a, b) in sled.iter().zip(&pg) {
        assert_eq!(a.0, b.0);
        if a.2 != b.2 {
            let at = a.2.iter().zip(&b.2).position(|(x, y)| x != y).unwrap_or(a.2.len().min(b.2.len()));
            let around =
                |v: &[u8]| String::from_utf8_lossy(&v[at.saturating_sub(80)..(at + 80).min(v.len())]).into_owned();
            panic!("{} differs between sled and PostgreSQL at byte {at}:\n{}\n--\n{}", a.0, around(&a.2), around(&b.2));
        }
        assert_eq!(a.1, b.1, "{}'s ETag differs", a.0);
    }
}

/// A database written by a newer release is refused with both versions
/// named, by `run`'s store and by `newsdesk check`.
#[test]
fn a_database_schema_newer_than_this_release_is_refused() {
    let place = Place::new(Backend::Postgres);
    drop(place.open());
    let pg = place.pg.as_ref().unwrap();
    pg.psql("newsdesk", "INSERT INTO newsdesk_schema (version) VALUES (999)");
    let err = match Store::open_postgres(&PgOptions {
        url: place.url.clone().unwrap(),
        password: None,
        pool: 2,
        node: "test".into(),
    }) {
        Ok(_) => panic!("a newer schema was opened"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("999") && err.contains("upgrade"), "{err}");
    let config = common::write_config(
        place.dir.path(),
        &format!(
            "[storage]\nbackend = \"postgres\"\nurl = \"{}\"\n[[sources]]\nid = \"a\"\nurl = \"https://a.example/\"\n",
            place.url.as_ref().unwrap()
        ),
    );
    let out = std::process::Command::new(common::bin()).args(["check", "--config"]).arg(&config).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("999"), "check names the schema version: {stderr}");
}
