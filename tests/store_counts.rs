//! Per-source item counts survive a crash: they are written by the store with
//! the items, so a kill between storing a poll's items and saving its source
//! state (the ETag, the status) leaves `/api/sources` `items` right.

mod common;

use common::{free_port, rss, write_config, Daemon};
use std::sync::Arc;

/// The crash window, simulated: one poll's items are ingested and flushed,
/// its source state is never written, the process is gone. The daemon then
/// polls the same document again (nothing new in it) and must still report
/// every item of the source.
#[test]
fn items_stored_without_their_source_state_are_counted_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let items: Vec<(String, String, String)> = (0..20)
        .map(|i| (format!("g{i}"), format!("Harbour works report {i} {}", i * 11), format!("https://a.example/{i}")))
        .collect();
    let refs: Vec<(&str, &str, &str, &str)> =
        items.iter().map(|(g, t, l)| (g.as_str(), t.as_str(), l.as_str(), common::hours_ago(3))).collect();
    let xml = rss("A", &refs);
    std::fs::write(dir.path().join("a.xml"), &xml).unwrap();
    let port = free_port();
    let config_path = write_config(
        dir.path(),
        &format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\npath = \"data\"\nretention = \"36500d\"\n[[sources]]\nid = \"a\"\nurl = \"a.xml\"\n"
        ),
    );
    {
        let config = newsdesk::config::load(&config_path).expect("valid config");
        let store = newsdesk::store::Store::open(&config.storage.path).unwrap();
        let desk = newsdesk::pipeline::Desk::new(store.clone(), Arc::new(config.clone())).unwrap();
        let feed = newsdesk::parse::parse_feed(xml.as_bytes(), None).unwrap();
        let report = desk.ingest(&config.sources[0], &feed, newsdesk::pipeline::now()).unwrap();
        assert_eq!(report.new, 20);
        store.flush().unwrap();
        assert!(store.source_state("a").unwrap().is_none(), "the simulated crash wrote the source state");
    }

    let d = Daemon::start(&config_path, port);
    let source = || {
        let (_, _, body) = d.get("/api/sources").expect("/api/sources answers");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        v[0].clone()
    };
    d.wait_for(|| source()["status"] == "ok", "the source to be polled");
    assert_eq!(source()["items"], 20, "{:#}", source());
}
