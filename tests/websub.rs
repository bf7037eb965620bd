//! WebSub publishing against the real binary: with `websub_hub` set, feeds
//! link the hub, and a change of content is POSTed to a hub on 127.0.0.1 that
//! fails its first request, so the retry is exercised.

mod common;

use common::{free_port, rss, write_config, Daemon, Fixture, FixtureServer};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A hub that records each POST body and answers 500 to the first, 204 after.
fn start_hub() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let body = common::read_message(&mut s).map(|(head, body)| {
                let method_ok = head.starts_with("post ");
                let form = head.contains("content-type: application/x-www-form-urlencoded");
                let body = String::from_utf8_lossy(&body).to_string();
                format!("{}{}{body}", if method_ok { "" } else { "NOT-POST " }, if form { "" } else { "NOT-FORM " })
            });
            let Some(body) = body else { continue };
            let first = {
                let mut l = log.lock().unwrap();
                l.push(body);
                l.len() == 1
            };
            let status = if first { "500 Internal Server Error" } else { "204 No Content" };
            let _ =
                s.write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes());
        }
    });
    (port, seen)
}

#[test]
fn changed_feeds_are_announced_to_the_hub_with_a_retry() {
    let (hub_port, seen) = start_hub();
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
