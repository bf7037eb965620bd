//! Live breaking news end to end: the real binary polls a fixture server; a
//! wire item, then a story reaching three sources, each produce one
//! `event: breaking` on `/events`; a reconnect with `Last-Event-ID` gets only
//! what it missed.

mod common;

use common::{free_port, rss, write_config, Daemon, Fixture, FixtureServer, Sse};
use std::time::Duration;

fn date(ago_secs: u64) -> String {
    httpdate::fmt_http_date(std::time::SystemTime::now() - Duration::from_secs(ago_secs))
}

#[test]
fn breaking_events_are_pushed_and_replayed_once() {
    let server = FixtureServer::start();
    for p in ["/wire.xml", "/a.xml", "/b.xml", "/c.xml"] {
        server.set(p, Fixture::feed(rss("Empty", &[])));
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\npath = \"data\"\n[poll]\ninterval = \"1s\"\nmin_interval = \"1s\"\nallow_private = true\n\
         [[sections]]\nid = \"misc\"\nfallback = true\n"
    );
    for (id, path, breaking) in
        [("wire", "/wire.xml", true), ("a", "/a.xml", false), ("b", "/b.xml", false), ("c", "/c.xml", false)]
    {
        text.push_str(&format!("[[sources]]\nid = \"{id}\"\nurl = \"{}\"\nbreaking = {breaking}\n", server.url(path)));
    }
    let daemon = Daemon::start(&write_config(dir.path(), &text), port);
    let mut sse = Sse::connect(port, None);
    sse.pump();
    assert!(sse.text.starts_with("HTTP/1.1 200"), "{}", sse.text);
    assert!(sse.text.contains("content-type: text/event-stream"), "{}", sse.text);

    // 1. A breaking wire publishes an item.
    server.set(
        "/wire.xml",
        Fixture::feed(rss("Wire", &[("w1", "Dam bursts after heavy rain", "https://wire.example/dam", &date(300))])),
    );
    sse.wait_for(1, "the wire's event");
    let (first_id, first) = sse.events()[0].clone();
    assert_eq!(first["title"], "Dam bursts after heavy rain");
    assert_eq!(first["sources"], serde_json::json!(["wire"]));
    for key in ["story", "title", "url", "sections", "regions", "sources"] {
        assert!(first.get(key).is_some(), "data lacks {key}");
    }
    assert_eq!(first_id, first["story"]);

    // 2. Three sources carry one story within the window (published times).
    let link = "https://news.example/bridge";
    server.set("/a.xml", Fixture::feed(rss("A", &[("a1", "Bridge collapses in river town", link, &date(900))])));
    server.set("/b.xml", Fixture::feed(rss("B", &[("b1", "River town bridge collapses", link, &date(600))])));
    server.set("/c.xml", Fixture::feed(rss("C", &[("c1", "Bridge collapse in river town", link, &date(120))])));
    sse.wait_for(2, "the three-source story's event");
    let (second_id, second) = sse.events()[1].clone();
    assert_ne!(second_id, first_id);
    let mut sources: Vec<String> =
        second["sources"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect();
    sources.sort();
    assert_eq!(sources, ["a", "b", "c"]);
    // Later polls change nothing: no event is sent twice.
    std::thread::sleep(Duration::from_secs(3));
    sse.pump();
    assert_eq!(sse.events().len(), 2, "{}", sse.text);

    // 3. A reconnect that saw the first event gets only the second.
    let mut again = Sse::connect(port, Some(&first_id));
    again.wait_for(1, "the replay");
    std::thread::sleep(Duration::from_millis(500));
    again.pump();
    let replay: Vec<String> = again.events().into_iter().map(|(id, _)| id).collect();
    assert_eq!(replay, vec![second_id.clone()]);
    // And one that saw both gets nothing.
    let mut none = Sse::connect(port, Some(&second_id));
    std::thread::sleep(Duration::from_millis(800));
    none.pump();
    assert!(none.events().is_empty(), "{}", none.text);
    drop(daemon);
}
