//! Reload (SIGHUP) against the real binary: a poll under way when the
//! configuration is swapped finishes and its items are stored and served;
//! one change is announced to the WebSub hub once, whatever reloads happen
//! while it is published.

mod common;

use common::{free_port, rss, write_config, Act, Daemon, Fixture, FixtureServer, RawServer};
use std::time::{Duration, Instant};

fn config_text(port: u16, sources: &[(&str, String)], extra: &str) -> String {
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://news.test\"\n{extra}\n[storage]\npath = \"data\"\nretention = \"36500d\"\n[poll]\nallow_private = true\n[[sections]]\nid = \"misc\"\ntitle = \"Misc\"\nfallback = true\n"
    );
    for (id, url) in sources {
        text.push_str(&format!("[[sources]]\nid = \"{id}\"\nurl = \"{url}\"\n"));
    }
    text
}

fn served(d: &Daemon, needle: &str) -> bool {
    d.get("/feeds/all.json").is_some_and(|(s, _, b)| s == 200 && String::from_utf8_lossy(&b).contains(needle))
}

/// A source whose server takes 3 s to answer is in flight when SIGHUP swaps
/// the configuration (adding a source): the poll is not dropped (its next due
/// time was already pushed back, so a dropped poll would be lost for the
/// whole interval), its items are stored and served, the source is fetched
/// once, and the added source is polled too.
#[test]
fn a_poll_in_flight_during_a_reload_completes_and_is_served() {
    let raw = RawServer::start(&["127.0.0.1"]);
    let slow = rss(
        "Slow",
        &[("s1", "Harbour cranes return after the strike", "https://slow.example/1", common::hours_ago(2))],
    );
    raw.set("/slow.xml", Act::ok(slow).after(Duration::from_secs(3)));
    let fixtures = FixtureServer::start();
    let quick =
        rss("Quick", &[("q1", "Museum reopens its north wing", "https://quick.example/1", common::hours_ago(1))]);
    fixtures.set("/quick.xml", Fixture::feed(quick));
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let slow_source = ("slow", raw.url("127.0.0.1", "/slow.xml"));
    let config = write_config(dir.path(), &config_text(port, std::slice::from_ref(&slow_source), ""));
    let d = Daemon::start(&config, port);
    d.wait_for(|| raw.hits("/slow.xml").iter().any(|h| !h.done), "the slow fetch to be under way");

    write_config(dir.path(), &config_text(port, &[slow_source, ("quick", fixtures.url("/quick.xml"))], ""));
    d.signal("HUP");
    d.wait_for(|| d.log().contains("configuration reloaded"), "the reload to apply");
    assert!(
        raw.hits("/slow.xml").iter().any(|h| !h.done),
        "the slow fetch ended before the reload: the test proves nothing"
    );

    d.wait_for(|| served(&d, "Harbour cranes return"), "the slow source's item to be served");
    d.wait_for(|| served(&d, "Museum reopens"), "the added source's item to be served");
    assert_eq!(raw.hits("/slow.xml").len(), 1, "the slow source was fetched again: its first poll was dropped");
    let (_, _, body) = d.get("/api/sources").unwrap();
    let api: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let slow_state = api.as_array().unwrap().iter().find(|s| s["id"] == "slow").unwrap();
    assert_eq!(slow_state["status"], "ok", "{api:#}");
    assert_eq!(slow_state["items"], 1, "{api:#}");
}

/// Many stories (so a render takes a while), one new item, and reloads
/// (SIGHUP) sent again and again while it is polled, stored and published:
/// each topic it changes is announced exactly once. Two renders at once (the
/// reload's and the publish loop's) each announced it, or one overwrote the
/// other's newer snapshot and the next render announced it again.
#[test]
fn one_change_is_announced_once_across_reloads() {
    let (hub_port, seen) = common::start_hub(false);
    let server = FixtureServer::start();
    let titles: Vec<String> = (0..300).map(|i| format!("Council report {i} on the river bridge {}", i * 13)).collect();
    let mut items: Vec<(String, String, String, &str)> = (0..300)
        .map(|i| (format!("b{i}"), titles[i].clone(), format!("https://wire.example/{i}"), common::hours_ago(48)))
        .collect();
    let feed = |items: &[(String, String, String, &'static str)]| {
        let refs: Vec<(&str, &str, &str, &str)> =
            items.iter().map(|(g, t, l, date)| (g.as_str(), t.as_str(), l.as_str(), *date)).collect();
        rss("Wire", &refs)
    };
    server.set("/wire.xml", Fixture::feed(feed(&items)));
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let hub = format!("websub_hub = \"http://127.0.0.1:{hub_port}/hub\"");
    let text = config_text(port, &[("wire", server.url("/wire.xml"))], &hub)
        .replace("allow_private = true", "allow_private = true\ninterval = \"1s\"\nmin_interval = \"1s\"");
    let config = write_config(dir.path(), &text);
    let mut d = Daemon::start(&config, port);
    d.wait_for(|| d.log().contains("new=300"), "the backlog to be stored");
    std::thread::sleep(Duration::from_millis(1500));
    seen.lock().unwrap().clear();

    // Newer than the backlog: first in every feed it changes.
    let (title, link) = ("Ferry service resumes to the islands".into(), "https://wire.example/new".into());
    items.push(("new".into(), title, link, common::hours_ago(47)));
    server.set("/wire.xml", Fixture::feed(feed(&items)));
    // Reloads until the change is served, and a second more.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut after = None;
    while after.is_none_or(|t: Instant| t.elapsed() < Duration::from_secs(1)) {
        assert!(Instant::now() < deadline, "the new item was not served:\n{}", d.log());
        d.signal("HUP");
        std::thread::sleep(Duration::from_millis(40));
        if after.is_none() && served(&d, "Ferry service resumes") {
            after = Some(Instant::now());
        }
    }
    // Pings leave after the render; give them (and any duplicate) time to arrive.
    std::thread::sleep(Duration::from_secs(3));
    let got = seen.lock().unwrap().clone();
    for ext in ["rss", "atom", "json"] {
        for feed in ["all", "misc"] {
            let topic = url_encode(&format!("http://news.test/feeds/{feed}.{ext}"));
            let n = got.iter().filter(|b| b.ends_with(&format!("hub.url={topic}"))).count();
            assert_eq!(n, 1, "{feed}.{ext} announced {n} times for one change: {got:#?}");
        }
    }
    assert!(d.child.try_wait().unwrap().is_none(), "the daemon ended:\n{}", d.log());
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Sources a reload adds are first polled as one round, as the sources due
/// at a start are (`poll::poll_round`): their backlogs are stored in the
/// order published, not one source's after the other's.
#[test]
fn sources_a_reload_adds_are_polled_as_a_round() {
    let fixtures = FixtureServer::start();
    let first =
        rss("First", &[("f1", "Tram line opens to the airport", "https://first.example/1", common::hours_ago(5))]);
    fixtures.set("/first.xml", Fixture::feed(first));
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let alone = [("first", fixtures.url("/first.xml"))];
    let config = write_config(dir.path(), &config_text(port, &alone, ""));
    let d = Daemon::start(&config, port);
    d.wait_for(|| served(&d, "Tram line opens"), "the first source's item to be served");
    assert!(!d.log().contains("storing a round"), "one source due at the start: no round");

    let mut sources = alone.to_vec();
    for (id, title, hours) in
        [("east", "Dock workers vote on new contract", 3), ("west", "Ferry fares frozen for winter", 2)]
    {
        let feed = rss(id, &[(&format!("{id}1"), title, &format!("https://{id}.example/1"), common::hours_ago(hours))]);
        fixtures.set(&format!("/{id}.xml"), Fixture::feed(feed));
        sources.push((id, fixtures.url(&format!("/{id}.xml"))));
    }
    write_config(dir.path(), &config_text(port, &sources, ""));
    d.signal("HUP");
    d.wait_for(|| served(&d, "Dock workers vote") && served(&d, "Ferry fares frozen"), "the added sources' items");
    assert!(d.log().contains("storing a round"), "the added sources were one round:\n{}", d.log());
}
