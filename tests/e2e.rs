//! The real binary, end to end: `run` polls a fixture server and serves the
//! three formats, which feed-rs reads back; HTTP caching rules hold.

mod common;

use std::time::{Duration, Instant};

use common::{free_port, http_get, http_request, rss, write_config, Daemon, Fixture, FixtureServer};

fn setup() -> (FixtureServer, tempfile::TempDir, Daemon) {
    setup_with_env(&[])
}

fn setup_with_env(env: &[(&str, &str)]) -> (FixtureServer, tempfile::TempDir, Daemon) {
    let server = FixtureServer::start();
    server.set(
        "/wire.xml",
        Fixture::feed(rss(
            "Wire",
            &[
                ("w1", "Parliament passes budget after long debate", "https://wire.example/1", common::hours_ago(3)),
                (
                    "w2",
                    "Storm closes ports &amp; airports",
                    "https://wire.example/2?utm_source=rss",
                    common::hours_ago(2),
                ),
            ],
        )),
    );
    server.set(
        "/paper.xml",
        Fixture::feed(rss(
            "Paper",
            &[("p1", "Budget approved by parliament", "https://wire.example/1#comments", common::hours_ago(2))],
        )),
    );
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(
        dir.path(),
        &format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
public_url = "http://news.test"
title = "Test Desk"
[storage]
path = "data"
retention = "36500d"
[poll]
allow_private = true   # the fixture server is on loopback
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
title = "The Wire"
[[sources]]
id = "paper"
url = "{}"
"#,
            server.url("/wire.xml"),
            server.url("/paper.xml")
        ),
    );
    let daemon = Daemon::start_with_env(&config, port, env);
    daemon.wait_for(
        || daemon.get("/feeds/all.json").is_some_and(|(_, _, b)| String::from_utf8_lossy(&b).contains("Storm")),
        "items to be served",
    );
    (server, dir, daemon)
}

#[test]
fn serves_three_formats_that_parse_back() {
    let (_server, _dir, d) = setup();
    for (ext, ctype) in
        [("rss", "application/rss+xml"), ("atom", "application/atom+xml"), ("json", "application/feed+json")]
    {
        let (status, headers, body) = d.get(&format!("/feeds/all.{ext}")).unwrap();
        assert_eq!(status, 200);
        assert_eq!(headers["content-type"], format!("{ctype}; charset=utf-8"));
        let feed = feed_rs::parser::parse(&body[..]).unwrap_or_else(|e| panic!("{ext} does not parse: {e}"));
        // Two stories: the paper's item links to the wire's story (after canonicalisation).
        let titles: Vec<String> = feed.entries.iter().map(|e| e.title.as_ref().unwrap().content.clone()).collect();
        assert_eq!(
            titles,
            vec!["Storm closes ports & airports", "Parliament passes budget after long debate"],
            "{ext}"
        );
        let storm = &feed.entries[0];
        assert_eq!(storm.links[0].href, "https://wire.example/2");
        assert!(feed.entries[1].id.starts_with("urn:newsdesk:story:"));
    }
    let (_, _, body) = d.get("/feeds/all.json").unwrap();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["version"], "https://jsonfeed.org/version/1.1");
    assert_eq!(json["feed_url"], "http://news.test/feeds/all.json");
    let budget = &json["items"][1]["_newsdesk"];
    assert_eq!(budget["sections"], serde_json::json!(["politics"]));
    let sources: Vec<&str> = budget["sources"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(sources, vec!["wire", "paper"]);
    assert_eq!(budget["sources"][0]["title"], "The Wire");
    assert_eq!(budget["sources"][1]["title"], "Paper");
    for key in ["story", "breaking", "sections", "regions", "language", "sources"] {
        assert!(budget.get(key).is_some(), "_newsdesk.{key} missing");
    }
    // The section feed exists and holds only the politics story.
    let (status, _, body) = d.get("/feeds/politics.json").unwrap();
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["items"].as_array().unwrap().len(), 1);
    assert_eq!(json["title"], "Test Desk — Politics");
}

#[test]
fn caching_headers_and_errors() {
    let (_server, _dir, d) = setup();
    let (status, h, _) = d.get("/feeds/all.rss").unwrap();
    assert_eq!(status, 200);
    let etag = h["etag"].clone();
    let lm = h["last-modified"].clone();
    assert!(h["cache-control"].starts_with("public, max-age="));
    assert_eq!(h["vary"], "Accept-Encoding");
    let (s, _, body) = http_get(d.port, "/feeds/all.rss", &[("If-None-Match", &etag)]).unwrap();
    assert_eq!((s, body.len()), (304, 0));
    let (s, _, _) = http_get(d.port, "/feeds/all.rss", &[("If-None-Match", &format!("\"nope\", W/{etag}"))]).unwrap();
    assert_eq!(s, 304);
    let (s, _, _) = http_get(d.port, "/feeds/all.rss", &[("If-Modified-Since", &lm)]).unwrap();
    assert_eq!(s, 304);
    let (s, _, _) =
        http_get(d.port, "/feeds/all.rss", &[("If-None-Match", "\"nope\""), ("If-Modified-Since", &lm)]).unwrap();
    assert_eq!(s, 200, "If-None-Match wins over If-Modified-Since");
    let (s, h, body) = http_get(d.port, "/feeds/all.rss", &[("Accept-Encoding", "gzip")]).unwrap();
    assert_eq!((s, h.get("content-encoding").map(String::as_str)), (200, Some("gzip")));
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut plain).unwrap();
    assert!(String::from_utf8_lossy(&plain).contains("<rss"));
    let (_, h, _) = http_get(d.port, "/feeds/all.rss", &[("Accept-Encoding", "gzip;q=0")]).unwrap();
    assert!(!h.contains_key("content-encoding"));
    // Brotli when asked for (what browsers send), same validators; q-values respected.
    let (s, hb, body) = http_get(d.port, "/feeds/all.rss", &[("Accept-Encoding", "gzip, deflate, br")]).unwrap();
    assert_eq!((s, hb.get("content-encoding").map(String::as_str)), (200, Some("br")));
    assert_eq!((&hb["etag"], &hb["vary"][..]), (&etag, "Accept-Encoding"));
    let mut unbr = Vec::new();
    std::io::Read::read_to_end(&mut brotli::Decompressor::new(&body[..], 4096), &mut unbr).unwrap();
    let (_, _, identity) = d.get("/feeds/all.rss").unwrap();
    assert_eq!(unbr, identity);
    let (_, h, _) = http_get(d.port, "/feeds/all.rss", &[("Accept-Encoding", "br;q=0.4, gzip;q=0.8")]).unwrap();
    assert_eq!(h.get("content-encoding").map(String::as_str), Some("gzip"));
    let (_, h, _) = http_get(d.port, "/feeds/all.rss", &[("Accept-Encoding", "br;q=0, gzip;q=0")]).unwrap();
    assert!(!h.contains_key("content-encoding"));
    let (s, h, _) = http_get(d.port, "/", &[("Accept-Encoding", "br")]).unwrap();
    assert_eq!((s, h.get("content-encoding").map(String::as_str)), (200, Some("br")));
    // An on-demand variant is not compressed per request with brotli: gzip it is.
    let (_, h, _) = http_get(d.port, "/feeds/all.rss?limit=1", &[("Accept-Encoding", "gzip, br")]).unwrap();
    assert_eq!(h.get("content-encoding").map(String::as_str), Some("gzip"));
    let (s, h, body) = http_request(d.port, "HEAD", "/feeds/all.atom", &[]).unwrap();
    assert_eq!((s, body.len()), (200, 0));
    assert!(h.contains_key("etag"));

    for (path, want) in [
        ("/feeds/nope.rss", 404),
        ("/feeds/all.xml", 404),
        ("/feeds/all.rss?limit=0", 400),
        ("/feeds/all.rss?limit=abc", 400),
        ("/feeds/all.rss?before=forged", 400),
    ] {
        let (s, h, body) = d.get(path).unwrap();
        assert_eq!(s, want, "{path}");
        assert_eq!(h["content-type"], "text/plain; charset=utf-8");
        assert_eq!(String::from_utf8_lossy(&body).trim().lines().count(), 1, "{path}");
    }
    let (s, _, body) = d.get("/feeds/all.json?limit=1").unwrap();
    assert_eq!(s, 200);
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["items"].as_array().unwrap().len(), 1);
    // Walking `next_url` gives the other story, then the end.
    let next = json["next_url"].as_str().expect("a next link").replace("http://news.test", "");
    assert!(next.contains("limit=1"));
    let (s, _, body) = d.get(&next).unwrap();
    assert_eq!(s, 200);
    let page2: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(page2["items"][0]["title"], "Parliament passes budget after long debate");
    assert!(page2.get("next_url").is_none());
}

#[test]
fn sigterm_exits_cleanly_and_restart_serves_the_same() {
    let (_server, dir, d) = setup();
    let (_, _, before) = d.get("/feeds/all.json").unwrap();
    d.signal("TERM");
    let mut d = d;
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(s) = d.child.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed().as_secs() < 10, "did not exit within 10 s");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}\n{}", d.log());
    let port = d.port;
    drop(d);
    let d = Daemon::start(&dir.path().join("newsdesk.toml"), port);
    let (_, _, after) = d.get("/feeds/all.json").unwrap();
    let ids = |b: &[u8]| {
        let v: serde_json::Value = serde_json::from_slice(b).unwrap();
        v["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&before), ids(&after));
}

#[test]
fn front_page_and_opml() {
    let (_server, _dir, d) = setup();
    let (s, h, body) = d.get("/").unwrap();
    assert_eq!(s, 200);
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    let page = String::from_utf8(body).unwrap();
    // What a reader checks: the sections by name, the story with its two
    // outlets and its time in words, and the feeds to subscribe to.
    for needle in [
        "<a href=\"/sections/politics\"><bdi>Politics</bdi></a></h3>",
        "<a href=\"/sections/misc\"><bdi>Misc</bdi></a></h3>",
        "rel=\"alternate\" type=\"application/rss+xml\"",
        "href=\"http://news.test/feeds/all.json\"",
        "href=\"http://news.test/feeds/politics.atom\"",
        "Parliament passes budget after long debate",
        "<bdi>The Wire</bdi> and <bdi>Paper</bdi>",
        "hours ago</time>",
    ] {
        assert!(page.contains(needle), "front page lacks {needle}");
    }
    // The story's own page lists both outlets, each with its own headline.
    let at = page.find("Parliament passes budget").unwrap();
    let href = page[..at].rsplit("href=\"").next().unwrap().split('"').next().unwrap().to_string();
    assert!(href.starts_with("/stories/"), "{href}");
    let (s, h, body) = d.get(&href).unwrap();
    assert_eq!(s, 200);
    assert!(h["content-security-policy"].contains("default-src 'none'"));
    let story = String::from_utf8(body).unwrap();
    for needle in ["Budget approved by parliament", "https://wire.example/1", "The Wire", "Paper", "2 outlets"] {
        assert!(story.contains(needle), "story page lacks {needle}");
    }
    // Feed entries point at it beside the outlet's own link.
    let (_, _, atom) = d.get("/feeds/all.atom").unwrap();
    let atom = String::from_utf8(atom).unwrap();
    assert!(atom.contains(&format!("href=\"http://news.test{href}\" rel=\"alternate\" type=\"text/html\"")), "{atom}");
    assert_eq!(d.get("/stories/nosuchstory").unwrap().0, 404);
    let (s, h, body) = d.get("/opml").unwrap();
    assert_eq!(s, 200);
    assert_eq!(h["content-type"], "text/x-opml; charset=utf-8");
    let opml = String::from_utf8(body).unwrap();
    for feed in ["all", "breaking", "top", "politics", "misc"] {
        assert!(opml.contains(&format!("xmlUrl=\"http://news.test/feeds/{feed}.atom\"")), "{feed} missing from OPML");
    }
}

#[test]
fn a_store_locked_by_a_running_daemon_is_one_line_and_exit_1() {
    let (_server, dir, _d) = setup();
    let out = std::process::Command::new(common::bin())
        .args(["stats", "--config"])
        .arg(dir.path().join("newsdesk.toml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot open store at") && stderr.contains("locked by another process"), "{stderr}");
}

#[test]
fn sighup_adds_sources_and_a_broken_config_keeps_the_old_one() {
    let (server, dir, d) = setup();
    let path = dir.path().join("newsdesk.toml");
    let original = std::fs::read_to_string(&path).unwrap();
    // A broken config is refused; the daemon keeps serving with the old one.
    std::fs::write(&path, format!("{original}\n[poll]\ninterval = \"never\"\n")).unwrap();
    d.signal("HUP");
    d.wait_for(|| d.log().contains("configuration refused"), "the refusal to be logged");
    assert_eq!(d.get("/healthz").unwrap().0, 200);
    // A valid config with one more source: it is polled without a restart.
    server.set(
        "/extra.xml",
        Fixture::feed(rss(
            "Extra",
            &[("e1", "Harvest festival opens", "https://extra.example/1", common::hours_ago(2))],
        )),
    );
    std::fs::write(&path, format!("{original}\n[[sources]]\nid = \"extra\"\nurl = \"{}\"\n", server.url("/extra.xml")))
        .unwrap();
    d.signal("HUP");
    d.wait_for(
        || {
            d.get("/feeds/all.json")
                .is_some_and(|(_, _, b)| String::from_utf8_lossy(&b).contains("Harvest festival opens"))
        },
        "the added source's item to be served",
    );
    // The new poller may serve the item before the reload's full re-render ends and logs.
    d.wait_for(|| d.log().contains("configuration reloaded"), "the reload to be logged");
    let (_, _, body) = d.get("/api/sources").unwrap();
    let sources: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(sources.as_array().unwrap().len(), 3);
}

#[test]
fn metrics_are_prometheus_text_with_the_documented_names() {
    let (_server, _dir, d) = setup();
    d.get("/feeds/all.rss").unwrap();
    let (s, h, body) = d.get("/metrics").unwrap();
    assert_eq!(s, 200);
    assert!(h["content-type"].starts_with("application/openmetrics-text"), "{}", h["content-type"]);
    let text = String::from_utf8(body).unwrap();
    assert!(text.trim_end().ends_with("# EOF"));
    // Every sample line is `name{labels} value` with a number for value.
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "bad sample: {line}");
        let name = line.split(['{', ' ']).next().unwrap();
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "bad name: {line}");
    }
    for needle in [
        "newsdesk_fetches_total{source=\"wire\",outcome=\"ok\"} 1",
        "newsdesk_fetch_duration_seconds_bucket{",
        "newsdesk_items_stored_total 3",
        "newsdesk_stories 2",
        "newsdesk_sources{status=\"ok\"} 2",
        "newsdesk_http_requests_total{route=\"/feeds\",status=\"200\"}",
        "process_resident_memory_bytes ",
        "process_cpu_seconds_total ",
    ] {
        assert!(text.contains(needle), "{needle} missing in:\n{text}");
    }
}

/// Read from `s` until the server closes it; `None` if it is still open at `limit`.
fn wait_closed(s: &mut std::net::TcpStream, limit: Duration) -> Option<Duration> {
    use std::io::Read;
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut buf = [0u8; 4096];
    while start.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return Some(start.elapsed()),
        }
    }
    None
}

/// Read one response with a Content-Length body off a kept-alive connection.
fn read_response(s: &mut std::net::TcpStream) -> (u16, Vec<u8>) {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (head, body) = common::read_message(s).expect("a complete response");
    assert!(head.contains("content-length:"), "a content-length");
    let status = head.split_whitespace().nth(1).and_then(|x| x.parse().ok()).unwrap_or(0);
    (status, body)
}

#[test]
fn idle_and_slow_connections_are_closed_after_the_header_timeout() {
    use std::io::Write;
    // 1.5 s instead of 30 s, through the undocumented test knob.
    let timeout = Duration::from_millis(1500);
    let (_server, _dir, d) = setup_with_env(&[("NEWSDESK_HTTP_TIMEOUT_MS", "1500")]);
    let connect = || std::net::TcpStream::connect(("127.0.0.1", d.port)).unwrap();

    // A connection that never sends anything is closed once the timeout passes.
    let mut silent = connect();
    let closed = wait_closed(&mut silent, Duration::from_secs(15)).expect("a silent connection is closed");
    assert!(closed >= timeout.mul_f32(0.8), "closed after {closed:?}, before the timeout");

    // Keep-alive: two requests on one connection, then the idle connection is closed.
    let mut kept = connect();
    for _ in 0..2 {
        kept.write_all(b"GET /feeds/all.rss HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let (status, body) = read_response(&mut kept);
        assert_eq!(status, 200);
        assert!(String::from_utf8_lossy(&body).contains("<rss"));
    }
    let closed = wait_closed(&mut kept, Duration::from_secs(15)).expect("an idle keep-alive connection is closed");
    assert!(closed >= timeout.mul_f32(0.8), "idle connection closed after {closed:?}, before the timeout");

    // A drip of header bytes does not reset the clock: it is closed before the
    // request is complete, well before the drip would finish.
    let mut drip = connect();
    let request = b"GET /feeds/all.rss HTTP/1.1\r\nHost: x\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let start = Instant::now();
    let mut cut = false;
    for byte in request.iter() {
        if drip.write_all(&[*byte]).is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(150));
    }
    let closed = cut || wait_closed(&mut drip, Duration::from_secs(5)).is_some();
    assert!(closed, "a drip of header bytes kept the connection open");
    assert!(start.elapsed() < Duration::from_millis(150) * request.len() as u32);

    // The server still answers others.
    assert_eq!(d.get("/healthz").map(|r| r.0), Some(200));
}
