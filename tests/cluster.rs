//! Three daemons on one PostgreSQL (started by this test) share 300 sources
//! on 20 loopback hosts with `per_host = 2`. The fixture records every
//! request, and with it the test checks what the cluster promises:
//! no source polled twice inside one interval, never more than two requests
//! in flight against a host, a killed node's sources taken over within the
//! lease, every item stored once, reports of one event polled by different
//! nodes filed as one story, the same `all.atom` bytes and ETag on every
//! node, and breaking news found by one node announced by all.

mod common;
mod evalset;

use common::pg::Postgres;
use common::{free_port, rss, write_config, Act, Daemon, Hit, RawServer, Sse};
use newsdesk::store::{PgOptions, Store};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const SOURCES: usize = 300;
const HOSTS: usize = 20;
/// Events carried by three sources each, polled by three different nodes.
const EVENTS: usize = 10;
const INTERVAL: u64 = 15;
const LEASE: u64 = 4;
const NODES: [&str; 3] = ["a", "b", "c"];

/// A made-up word, different for every `n`: titles that share no word are
/// never one story.
fn word(n: usize) -> String {
    let w = common::made_up_word(n, 3);
    w[..1].to_ascii_uppercase() + &w[1..]
}

fn host(i: usize) -> String {
    format!("127.0.0.{}", 1 + i % HOSTS)
}

fn path(i: usize) -> String {
    format!("/s{i}.xml")
}

/// Source `i`'s two ordinary items: titles of words no other item uses.
fn ordinary(i: usize) -> Vec<(String, String, String)> {
    (0..2)
        .map(|k| {
            let w = |j: usize| word(i * 8 + k * 4 + j);
            (format!("o{i}-{k}"), format!("{} {} {} {}", w(0), w(1), w(2), w(3)), format!("https://s{i}.example/{k}"))
        })
        .collect()
}

/// The report of event `e` by its `n`th outlet (three rewrites of one event).
fn event_report(e: usize) -> [String; 3] {
    let (dam, town) = (word(90_000 + e * 2), word(90_001 + e * 2));
    [
        format!("{dam} dam bursts near {town}, villages flooded"),
        format!("Villages flooded near {town} as {dam} dam bursts"),
        format!("{dam} dam bursts, flooding villages near {town}"),
    ]
}

/// Source `i`'s feed, with the `n`th report of event `e` when given.
fn feed(i: usize, event: Option<(usize, usize)>) -> Vec<u8> {
    let mut items = ordinary(i);
    if let Some((e, n)) = event {
        items.push((format!("e{i}"), event_report(e)[n].clone(), format!("https://s{i}.example/event")));
    }
    let when = common::hours_ago(1);
    let refs: Vec<(&str, &str, &str, &str)> =
        items.iter().map(|(g, t, l)| (g.as_str(), t.as_str(), l.as_str(), when)).collect();
    rss(&format!("Source {i}"), &refs).into_bytes()
}

/// Serve source `i`: slowly enough that polls overlap and `per_host` matters.
fn serve(server: &RawServer, i: usize, body: Vec<u8>) {
    server.set(&path(i), Act::ok(body).header("Content-Type", "application/rss+xml").after(Duration::from_millis(100)));
}

fn config(dir: &std::path::Path, node: &str, port: u16, url: &str, server: &RawServer) -> std::path::PathBuf {
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"https://news.example/\"\n\
         [storage]\nbackend = \"postgres\"\nurl = \"{url}\"\nnode = \"{node}\"\nlease = \"{LEASE}s\"\nretention = \"30d\"\n\
         [poll]\ninterval = \"{INTERVAL}s\"\nmin_interval = \"{INTERVAL}s\"\nmax_interval = \"{INTERVAL}s\"\ntimeout = \"5s\"\n\
         concurrency = 3\nper_host = 2\nallow_private = true\nuser_agent = \"newsdesk-node-{node}\"\n\
         [[sections]]\nid = \"misc\"\ntitle = \"Misc\"\nfallback = true\n"
    );
    for i in 0..SOURCES {
        text.push_str(&format!("[[sources]]\nid = \"s{i}\"\nurl = \"{}\"\n", server.url(&host(i), &path(i))));
    }
    text.push_str(&format!(
        "[[sources]]\nid = \"wire\"\nurl = \"{}\"\nbreaking = true\n",
        server.url(&host(0), "/wire.xml")
    ));
    let dir = dir.join(node);
    std::fs::create_dir_all(&dir).unwrap();
    write_config(&dir, &text)
}

fn wait(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn node_of(hit: &Hit) -> &str {
    hit.agent.strip_prefix("newsdesk-node-").and_then(|r| r.get(..1)).unwrap_or("?")
}

#[test]
fn three_nodes_share_polling_serve_alike_and_survive_a_kill() {
    let pg = Postgres::start();
    let url = pg.database("newsdesk");
    let ips: Vec<String> = (0..HOSTS).map(host).collect();
    let server = RawServer::start(&ips.iter().map(String::as_str).collect::<Vec<_>>());
    for i in 0..SOURCES {
        serve(&server, i, feed(i, None));
    }
    server.set("/wire.xml", Act::ok(rss("Wire", &[]).into_bytes()).header("Content-Type", "application/rss+xml"));
    let dir = tempfile::tempdir().unwrap();
    let mut nodes: BTreeMap<&str, Daemon> = BTreeMap::new();
    for node in NODES {
        let port = free_port();
        nodes.insert(node, Daemon::start(&config(dir.path(), node, port, &url, &server), port));
    }
    let store =
        Store::open_postgres(&PgOptions { url: url.clone(), password: None, pool: 2, node: "test".into() }).unwrap();
    let ordinary_items = (SOURCES * 2) as u64;
    wait("every source's items to be stored", Duration::from_secs(60), || {
        store.item_count().unwrap() >= ordinary_items
    });

    // Each event's reports appear on three sources that three different
    // nodes polled at about the same time: their next polls come due
    // together, on different nodes.
    let triples = sources_polled_together_by_three_nodes(&server.all_hits());
    assert!(triples.len() >= 3, "too few sources were polled together by three nodes: {triples:?}");
    let event_from = Instant::now();
    for (e, triple) in triples.iter().enumerate() {
        for (n, i) in triple.iter().enumerate() {
            serve(&server, *i, feed(*i, Some((e, n))));
        }
    }
    let all_items = ordinary_items + (triples.len() * 3) as u64;
    wait("the event reports to be stored", Duration::from_secs(40), || store.item_count().unwrap() >= all_items);
    assert_eq!(store.item_count().unwrap(), all_items, "every item is stored once");
    check_events_are_one_story_each(&store, &server, &triples, event_from);

    check_same_bytes_everywhere(&nodes);
    check_breaking_reaches_every_node(&server, &nodes);

    // Kill a node while it has requests in flight; its claims lapse and the
    // others take its sources over within the lease.
    wait("node a to have a request in flight", Duration::from_secs(30), || {
        server.all_hits().iter().any(|h| node_of(h) == "a" && !h.done)
    });
    let mut killed = nodes.remove("a").unwrap();
    killed.signal("KILL");
    let killed_at = Instant::now();
    let _ = killed.child.wait();
    std::thread::sleep(Duration::from_secs(INTERVAL + LEASE + 6));
    let hits = server.all_hits();
    check_takeover(&hits, killed_at);
    check_no_double_polls(&hits, killed_at);
    for ip in &ips {
        assert!(server.peak(ip) <= 2, "{ip} had {} requests in flight at once (per_host = 2)", server.peak(ip));
    }
    // Three nodes allowed 2 each would have had up to 6: the limit held
    // because it was shared, not because nobody came close.
    assert!(ips.iter().any(|ip| server.peak(ip) == 2), "no host ever had two requests in flight: the test is too idle");
    assert_eq!(store.item_count().unwrap(), all_items + 1, "every item stored once (the wire's included)");
    // The survivors' /metrics count the sources they took over.
    let figure = |d: &Daemon, name: &str| {
        let (_, _, body) = d.get("/metrics").expect("/metrics answers");
        let text = String::from_utf8_lossy(&body).into_owned();
        let line = format!("newsdesk_cluster{{figure=\"{name}\"}} ");
        text.lines().find_map(|l| l.strip_prefix(&line)).and_then(|v| v.trim().parse::<i64>().ok()).unwrap_or(-1)
    };
    let taken: i64 = nodes.values().map(|d| figure(d, "takeovers")).sum();
    assert!(taken >= 1, "no survivor counts a takeover in /metrics");
    assert!(nodes.values().all(|d| figure(d, "claims") > 0 && figure(d, "pool_size") > 0));
}

/// Up to [`EVENTS`] triples of sources whose first polls were by three
/// different nodes within a second of each other.
fn sources_polled_together_by_three_nodes(hits: &[Hit]) -> Vec<[usize; 3]> {
    let mut first: Vec<(Instant, String, usize)> = (0..SOURCES)
        .filter_map(|i| {
            hits.iter()
                .filter(|h| h.path == path(i))
                .min_by_key(|h| h.start)
                .map(|h| (h.start, node_of(h).to_string(), i))
        })
        .collect();
    first.sort();
    let mut used = BTreeSet::new();
    let mut out = Vec::new();
    for (k, (t, node, i)) in first.iter().enumerate() {
        if out.len() == EVENTS || used.contains(i) {
            continue;
        }
        let near = |other: &Instant| other.saturating_duration_since(*t) < Duration::from_secs(1);
        let mut triple = vec![(*i, node.clone())];
        for (t2, node2, j) in &first[k + 1..] {
            if near(t2) && !used.contains(j) && triple.iter().all(|(_, n)| n != node2) {
                triple.push((*j, node2.clone()));
            }
        }
        if triple.len() >= 3 {
            let ids: Vec<usize> = triple.iter().take(3).map(|(i, _)| *i).collect();
            used.extend(ids.iter().copied());
            out.push([ids[0], ids[1], ids[2]]);
        }
    }
    out
}

/// Each event's three reports, each polled by the node that held its lease,
/// are one story; and at least one event's reports came through two nodes.
fn check_events_are_one_story_each(store: &Store, server: &RawServer, triples: &[[usize; 3]], since: Instant) {
    let mut across_nodes = 0;
    for (e, triple) in triples.iter().enumerate() {
        let mut stories = BTreeSet::new();
        let mut pollers = BTreeSet::new();
        for i in triple {
            let key = newsdesk::parse::identity::item_key(&format!("s{i}"), &format!("g:e{i}"));
            stories.insert(store.item(&key).unwrap().expect("the event report is stored").story);
            let first = server.hits(&path(*i)).into_iter().find(|h| h.start >= since).expect("polled after the change");
            pollers.insert(node_of(&first).to_string());
        }
        assert_eq!(stories.len(), 1, "event {e}'s three reports are {} stories", stories.len());
        if pollers.len() > 1 {
            across_nodes += 1;
        }
    }
    assert!(across_nodes > 0, "no event's reports were polled by two nodes: the test did not test the cluster");
}

/// Every node serves the same `all.atom` bytes with the same ETag (once the
/// last change has reached them all).
fn check_same_bytes_everywhere(nodes: &BTreeMap<&str, Daemon>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got: Vec<_> = nodes.values().map(|d| d.get("/feeds/all.atom").expect("all.atom answers")).collect();
        assert!(got.iter().all(|(s, h, b)| *s == 200 && h.contains_key("etag") && !b.is_empty()));
        let differ = got.windows(2).find(|w| w[0].2 != w[1].2 || w[0].1.get("etag") != w[1].1.get("etag"));
        let Some(w) = differ else { return };
        if Instant::now() > deadline {
            let (a, b) = (&w[0].2, &w[1].2);
            let at = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
            let around =
                |v: &[u8]| String::from_utf8_lossy(&v[at.saturating_sub(200)..(at + 200).min(v.len())]).into_owned();
            panic!("the nodes serve different all.atom (byte {at}):\n{}\n---\n{}", around(a), around(b));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A breaking item found by whichever node polls the wire reaches an
/// `/events` client on every node.
fn check_breaking_reaches_every_node(server: &RawServer, nodes: &BTreeMap<&str, Daemon>) {
    let mut clients: Vec<Sse> = nodes.values().map(|d| Sse::connect(d.port, None)).collect();
    for c in &mut clients {
        c.pump();
    }
    let when = common::hours_ago(0);
    let item = [("w1", "Zanbor bridge closed after quake", "https://wire.example/1", when)];
    server.set("/wire.xml", Act::ok(rss("Wire", &item).into_bytes()).header("Content-Type", "application/rss+xml"));
    for c in &mut clients {
        c.wait_for(1, "the breaking story on every node");
        assert_eq!(c.events()[0].1["title"], "Zanbor bridge closed after quake");
    }
    let finders: BTreeSet<String> = server.hits("/wire.xml").iter().map(|h| node_of(h).to_string()).collect();
    assert!(!finders.is_empty());
}

/// Every source node a polled in its last interval is polled again by
/// another node by the time it was due, or within a lease of the kill if
/// node a held it then.
fn check_takeover(hits: &[Hit], killed_at: Instant) {
    let slack = Duration::from_secs(4);
    for i in 0..SOURCES {
        let p = path(i);
        let mine: Vec<&Hit> = hits.iter().filter(|h| h.path == p).collect();
        let Some(last_a) = mine.iter().filter(|h| node_of(h) == "a" && h.start < killed_at).map(|h| h.start).max()
        else {
            continue;
        };
        let due = (last_a + Duration::from_secs(INTERVAL)).max(killed_at + Duration::from_secs(LEASE));
        let next = mine.iter().filter(|h| h.start > last_a && node_of(h) != "a").map(|h| h.start).min();
        match next {
            Some(t) => {
                assert!(t <= due + slack, "{p}: taken over {:?} after it was due", t.saturating_duration_since(due))
            }
            None => panic!("{p}, last polled by the killed node, was never polled again"),
        }
    }
}

/// No source is polled twice inside one interval (a request the killed node
/// never finished is polled again, as it should be).
fn check_no_double_polls(hits: &[Hit], killed_at: Instant) {
    for i in 0..SOURCES {
        let p = path(i);
        let mut mine: Vec<&Hit> = hits.iter().filter(|h| h.path == p).collect();
        mine.sort_by_key(|h| h.start);
        for w in mine.windows(2) {
            let unfinished = node_of(w[0]) == "a" && w[0].start + Duration::from_secs(6) > killed_at;
            let gap = w[1].start - w[0].start;
            assert!(
                unfinished || gap >= Duration::from_secs(INTERVAL - 1),
                "{p} polled twice {gap:?} apart (by {} then {})",
                node_of(w[0]),
                node_of(w[1])
            );
        }
    }
}

/// A node whose database goes away says so on `/healthz` (503) and keeps
/// serving the feeds it rendered; when the database is back it catches up:
/// what was published meanwhile is stored, once.
#[test]
fn a_lost_database_is_reported_while_feeds_are_served_and_a_restart_is_survived() {
    let pg = Postgres::start();
    let url = pg.database("newsdesk");
    let server = RawServer::start(&["127.0.0.1"]);
    let items = |i: usize, extra: bool| {
        let mut items = ordinary(i);
        if extra {
            items.push((
                format!("x{i}"),
                format!("{} {} harbour reopens", word(70_000 + i), word(70_500 + i)),
                format!("https://s{i}.example/x"),
            ));
        }
        let when = common::hours_ago(1);
        let refs: Vec<(&str, &str, &str, &str)> =
            items.iter().map(|(g, t, l)| (g.as_str(), t.as_str(), l.as_str(), when)).collect();
        Act::ok(rss(&format!("Source {i}"), &refs).into_bytes()).header("Content-Type", "application/rss+xml")
    };
    for i in 0..5 {
        server.set(&path(i), items(i, false));
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\nbackend = \"postgres\"\nurl = \"{url}\"\nnode = \"solo\"\nlease = \"2s\"\n\
         [poll]\ninterval = \"2s\"\nmin_interval = \"2s\"\nmax_interval = \"2s\"\nallow_private = true\n\
         [[sections]]\nid = \"misc\"\ntitle = \"Misc\"\nfallback = true\n"
    );
    for i in 0..5 {
        text.push_str(&format!("[[sources]]\nid = \"s{i}\"\nurl = \"{}\"\n", server.url("127.0.0.1", &path(i))));
    }
    let node = Daemon::start(&write_config(dir.path(), &text), port);
    let count = || {
        let store = Store::open_postgres(&PgOptions { url: url.clone(), password: None, pool: 2, node: "test".into() });
        store.ok().and_then(|s| s.item_count().ok()).unwrap_or(0)
    };
    wait("the first items", Duration::from_secs(20), || count() == 10);
    node.wait_for(
        || node.get("/feeds/all.atom").is_some_and(|(_, _, b)| String::from_utf8_lossy(&b).contains(&word(0))),
        "all.atom",
    );
    let (_, _, before) = node.get("/feeds/all.atom").unwrap();

    pg.stop();
    node.wait_for(|| node.get("/healthz").is_some_and(|(s, _, _)| s == 503), "/healthz to report the lost database");
    let (_, _, health) = node.get("/healthz").unwrap();
    assert!(String::from_utf8_lossy(&health).contains("unavailable"), "{}", String::from_utf8_lossy(&health));
    let (status, _, during) = node.get("/feeds/all.atom").expect("feeds are served");
    assert_eq!((status, &during), (200, &before), "the last rendered all.atom is served while the database is away");
    // Published while the database is away: fetched, not stored, fetched again.
    server.set(&path(0), items(0, true));
    std::thread::sleep(Duration::from_secs(3));

    pg.restart();
    node.wait_for(|| node.get("/healthz").is_some_and(|(s, _, _)| s == 200), "/healthz to be ok again");
    wait("the item published meanwhile to be stored", Duration::from_secs(30), || count() >= 11);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(count(), 11, "nothing is stored twice");
    let fresh = format!("{} {} harbour reopens", word(70_000), word(70_500));
    node.wait_for(
        || node.get("/feeds/all.atom").is_some_and(|(_, _, b)| String::from_utf8_lossy(&b).contains(&fresh)),
        "all.atom to list it",
    );
    assert!(node.log().contains("the database answers again"), "{}", node.log());
}

/// A host that answers 429 with `Retry-After` is left alone by every node,
/// not only by the one that was told.
#[test]
fn retry_after_holds_a_host_back_for_every_node() {
    let pg = Postgres::start();
    let url = pg.database("newsdesk");
    let server = RawServer::start(&["127.0.0.1"]);
    for i in 0..6 {
        server.set(&path(i), Act::status(429).header("Retry-After", "3600").after(Duration::from_millis(50)));
    }
    let dir = tempfile::tempdir().unwrap();
    let mut daemons = Vec::new();
    for node in ["a", "b"] {
        let port = free_port();
        let mut text = format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\nbackend = \"postgres\"\nurl = \"{url}\"\nnode = \"{node}\"\nlease = \"2s\"\n\
             [poll]\ninterval = \"1s\"\nmin_interval = \"1s\"\nmax_interval = \"1s\"\nallow_private = true\nper_host = 1\n\
             user_agent = \"newsdesk-node-{node}\"\n[[sections]]\nid = \"misc\"\ntitle = \"Misc\"\nfallback = true\n"
        );
        for i in 0..6 {
            text.push_str(&format!("[[sources]]\nid = \"s{i}\"\nurl = \"{}\"\n", server.url("127.0.0.1", &path(i))));
        }
        let sub = dir.path().join(node);
        std::fs::create_dir_all(&sub).unwrap();
        daemons.push(Daemon::start(&write_config(&sub, &text), port));
    }
    wait("the host's first answer", Duration::from_secs(20), || !server.all_hits().is_empty());
    std::thread::sleep(Duration::from_secs(8));
    let hits = server.all_hits();
    // per_host = 1 for the cluster: the first 429 was the only request in
    // flight, and after it nobody asks again within the hour.
    assert_eq!(
        hits.len(),
        1,
        "the held host was asked {} times: {:?}",
        hits.len(),
        hits.iter().map(node_of).collect::<Vec<_>>()
    );
}

/// The determinism of clustering holds across nodes: the realistic set,
/// polled live (every source every 15 minutes, the polls of a minute on three
/// threads), ingested by three desks on one PostgreSQL store (three nodes,
/// each with its own clustering index, catching up from the log) gives the
/// same stories, item pair by item pair, as one desk on sled.
#[test]
fn three_nodes_cluster_the_realistic_set_as_one_node_does() {
    let file = "realnews.json";
    let one = {
        let dir = tempfile::tempdir().unwrap();
        let (config, items) = evalset::load_set(dir.path(), file);
        let desk =
            newsdesk::pipeline::Desk::new(Store::open(&config.storage.path).unwrap(), std::sync::Arc::new(config))
                .unwrap();
        evalset::ingest_live(&[&desk], evalset::live_polls(&items, 1));
        stories_of(&desk.store, &items)
    };
    let pg = Postgres::start();
    let url = pg.database("newsdesk");
    let dir = tempfile::tempdir().unwrap();
    let (config, items) = evalset::load_set(dir.path(), file);
    let nodes = pg_desks(&url, &std::sync::Arc::new(config));
    evalset::ingest_live(&nodes.iter().collect::<Vec<_>>(), evalset::live_polls(&items, 1));
    let three = stories_of(&nodes[0].store, &items);
    assert_nodes_decide_alike(&one, &three);
}

fn stories_of(store: &Store, items: &[evalset::EvalItem]) -> BTreeMap<String, String> {
    items.iter().map(|i| (i.key(), store.item(&i.key()).unwrap().unwrap().story)).collect()
}

/// Three PostgreSQL nodes on one database, each a desk with its own
/// clustering index (`Desk` over `Store::open_postgres`).
fn pg_desks(url: &str, config: &std::sync::Arc<newsdesk::config::Config>) -> Vec<newsdesk::pipeline::Desk> {
    NODES
        .iter()
        .map(|n| {
            let options = PgOptions { url: url.to_string(), password: None, pool: 4, node: n.to_string() };
            newsdesk::pipeline::Desk::new(Store::open_postgres(&options).unwrap(), config.clone()).unwrap()
        })
        .collect()
}

/// The nodes put together every pair of items one node puts together, and
/// only those (and the set makes multi-item stories).
fn assert_nodes_decide_alike(one: &BTreeMap<String, String>, nodes: &BTreeMap<String, String>) {
    let stories = one.values().collect::<BTreeSet<_>>().len();
    assert!(stories < one.len() * 2 / 3, "the set makes multi-item stories: {stories} of {} items", one.len());
    let keys: Vec<&String> = one.keys().collect();
    let mut differ = Vec::new();
    for (n, x) in keys.iter().enumerate() {
        for y in &keys[n + 1..] {
            if (one[*x] == one[*y]) != (nodes[*x] == nodes[*y]) {
                differ.push((x.to_string(), y.to_string()));
            }
        }
    }
    assert!(
        differ.is_empty(),
        "{} item pairs decided otherwise across nodes: {:?}",
        differ.len(),
        &differ[..differ.len().min(5)]
    );
}

/// A backlog taken a week late in random order, with a 3-hour dedup window
/// (stories before an ingest's window sleep, and wake when an older item
/// comes), its items ingested by the three nodes in turn: every node takes
/// in from the log the joins, merges and edits the others made, also into
/// stories sleeping on it, and the stories are those one node makes. (On
/// the fourth set, before session 13: 8 pairs decided otherwise, a join
/// into a story asleep on a node having started it afresh there; 1 when
/// only edits were not passed on.)
#[test]
fn three_nodes_cluster_a_backlog_with_edits_as_one_node_does() {
    let three_hours = std::time::Duration::from_secs(3 * 3600);
    let run = |desks: &[newsdesk::pipeline::Desk], items: &[evalset::EvalItem]| {
        let week_later = items.iter().map(|i| i.published).max().unwrap() + 7 * 86_400;
        let mut order: Vec<&evalset::EvalItem> = items.iter().collect();
        evalset::Rng(0x0005_EED0_FBAC_4106).shuffle(&mut order);
        for (n, item) in order.iter().enumerate() {
            desks[n % desks.len()].ingest(&item.source, &item.feed(), week_later).unwrap();
            // Every fifth item's outlet rewrites its headline a minute
            // later, to another item's.
            if n % 5 == 4 {
                let mut feed = item.feed();
                let other = order[(n * 7) % order.len()].feed().entries[0].title.clone();
                for e in &mut feed.entries {
                    e.title = other.clone();
                }
                desks[(n + 1) % desks.len()].ingest(&item.source, &feed, week_later + 60).unwrap();
            }
        }
        stories_of(&desks[0].store, items)
    };
    let (one, three) = one_node_and_three("realnews-blind4.json", |c| c.dedup.window = three_hours, run);
    assert_nodes_decide_alike(&one, &three);
}

/// A settle on one node (`Desk::settle`: items moved between stories,
/// stories emptied) is taken in by the others from the clustering log: the
/// realistic set in random order, a third of it ingested by the three
/// nodes in turn, settled by the first, the rest ingested by the nodes in
/// turn, then settled by the last, makes at each step the stories one node
/// makes by the same steps. (With the settle's stories not logged to be
/// read again whole, 12 pairs of the later ingests were decided otherwise.)
#[test]
fn a_settle_on_one_node_is_taken_in_by_the_others() {
    let run = |desks: &[newsdesk::pipeline::Desk], items: &[evalset::EvalItem]| {
        let now = items.iter().map(|i| i.published).max().unwrap() + 600;
        let mut order: Vec<&evalset::EvalItem> = items.iter().collect();
        evalset::Rng(0x005E_771E).shuffle(&mut order);
        let (first, rest) = order.split_at(order.len() / 3);
        for (n, item) in first.iter().enumerate() {
            desks[n % desks.len()].ingest(&item.source, &item.feed(), now).unwrap();
        }
        let settled = desks[0].settle(now).unwrap();
        assert!(settled.moved > 0, "the first settle moved items: {settled:?}");
        for (n, item) in rest.iter().enumerate() {
            desks[(n + 1) % desks.len()].ingest(&item.source, &item.feed(), now).unwrap();
        }
        let before = stories_of(&desks[0].store, items);
        desks[desks.len() - 1].settle(now).unwrap();
        (before, stories_of(&desks[0].store, items))
    };
    let (one, three) = one_node_and_three("realnews.json", |_| {}, run);
    assert_nodes_decide_alike(&one.0, &three.0);
    assert_nodes_decide_alike(&one.1, &three.1);
}

/// `run` on the labelled set `file` (its config changed by `tweak`), by one
/// node on sled and by three nodes on one PostgreSQL database.
fn one_node_and_three<T>(
    file: &str,
    tweak: impl Fn(&mut newsdesk::config::Config),
    run: impl Fn(&[newsdesk::pipeline::Desk], &[evalset::EvalItem]) -> T,
) -> (T, T) {
    let one = {
        let dir = tempfile::tempdir().unwrap();
        let (mut config, items) = evalset::load_set(dir.path(), file);
        tweak(&mut config);
        let store = Store::open(&config.storage.path).unwrap();
        let desk = newsdesk::pipeline::Desk::new(store, std::sync::Arc::new(config)).unwrap();
        run(std::slice::from_ref(&desk), &items)
    };
    let pg = Postgres::start();
    let url = pg.database("newsdesk");
    let dir = tempfile::tempdir().unwrap();
    let (mut config, items) = evalset::load_set(dir.path(), file);
    tweak(&mut config);
    let three = run(&pg_desks(&url, &std::sync::Arc::new(config)), &items);
    (one, three)
}
