//! WebSub publishing against the real binary: with `websub_hub` set, feeds
//! link the hub, and a change of content is POSTed to a hub on 127.0.0.1 that
//! fails its first request, so the retry is exercised.

mod common;

use common::{free_port, rss, write_config, Daemon, Fixture, FixtureServer};
use std::time::{Duration, Instant};

#[test]
fn changed_feeds_are_announced_to_the_hub_with_a_retry() {
    let (hub_port, seen) = common::start_hub(true);
    let server = FixtureServer::start();
    server.set(
        "/wire.xml",
        Fixture::feed(rss(
            "Wire",
            // Two days old: outside `top`'s 24 hours, inside retention.
            &[("w1", "Parliament passes budget", "https://wire.example/1", common::hours_ago(48))],
        )),
    );
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let hub = format!("http://127.0.0.1:{hub_port}/hub");
    let config = write_config(
        dir.path(),
        &format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
public_url = "http://news.test"
websub_hub = "{hub}"
[storage]
path = "data"
retention = "36500d"
[poll]
allow_private = true
[[sections]]
id = "politics"
title = "Politics"
keywords = ["parliament"]
[[sections]]
id = "misc"
title = "Misc"
fallback = true
[[sources]]
id = "wire"
url = "{}"
"#,
            server.url("/wire.xml")
        ),
    );
    let d = Daemon::start(&config, port);
    d.wait_for(
        || d.get("/feeds/all.json").is_some_and(|(_, _, b)| String::from_utf8_lossy(&b).contains("budget")),
        "the item to be served",
    );

    // Every format links the hub.
    let (_, _, atom) = d.get("/feeds/politics.atom").unwrap();
    assert!(String::from_utf8_lossy(&atom).contains(&format!("<link href=\"{hub}\" rel=\"hub\"")), "atom hub link");
    let (_, _, rss_body) = d.get("/feeds/politics.rss").unwrap();
    assert!(
        String::from_utf8_lossy(&rss_body).contains(&format!("<atom:link href=\"{hub}\" rel=\"hub\"")),
        "rss hub link"
    );
    let (_, _, json) = d.get("/feeds/politics.json").unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(json["hubs"][0]["type"], "WebSub");
    assert_eq!(json["hubs"][0]["url"], hub);

    // The new story changed all and politics in three formats each (not top: the
    // story is older than its 24 hours): every one is announced, and the topic
    // whose first POST failed is sent again.
    let topic = |path: &str| format!("hub.mode=publish&hub.url={}", url_encode(&format!("http://news.test{path}")));
    let want: Vec<String> = ["all", "politics"]
        .iter()
        .flat_map(|f| ["rss", "atom", "json"].map(|e| topic(&format!("/feeds/{f}.{e}"))))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = seen.lock().unwrap().clone();
        let all_there = want.iter().all(|w| got.contains(w));
        let retried = got.len() > 1 && got[1..].contains(&got[0]);
        if all_there && retried {
            break;
        }
        assert!(Instant::now() < deadline, "hub saw {got:#?}; log:\n{}", d.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let got = seen.lock().unwrap().clone();
    assert!(got.iter().all(|b| b.starts_with("hub.mode=publish&hub.url=")), "{got:#?}");
    // Unchanged feeds are not announced.
    assert!(!got.iter().any(|b| b.contains("misc.") || b.contains("top.")), "{got:#?}");
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
