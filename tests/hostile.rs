//! Hostile input against the real binary: every fixture of tests/data/hostile
//! (plus a few generated ones and byte-level misbehaviour from a raw server) is
//! a source of one running daemon, beside a good source. The daemon stays up,
//! its peak memory stays under 256 MiB, each failing source gets one clear log
//! line per poll naming it, the recoverable ones have their items stored and
//! served, and nothing from a local file (external entities) leaks out.

mod common;

use common::{free_port, peak_rss, rss, write_config, ByteServer, Daemon, Fixture, FixtureServer, Raw};
use std::collections::HashMap;
use std::time::Duration;

/// What a source should end as: `Ok(n)` items stored, or an error whose text
/// contains the given words.
enum Expect {
    Items(u64),
    Error(&'static str),
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/hostile/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A feed of `n` items with distinct titles and old dates.
fn big_feed(n: usize) -> String {
    let mut s = String::from("<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Big</title><link>https://big.example/</link><description>d</description>\n");
    for i in 0..n {
        s.push_str(&format!(
            "<item><guid>big-{i}</guid><title>Archive entry number {i} of the big feed</title><link>https://big.example/{i}</link><pubDate>Mon, 02 Nov 2020 10:00:00 GMT</pubDate><description>Entry {i}.</description></item>\n"
        ));
    }
    s.push_str("</channel></rss>\n");
    s
}

#[test]
fn hostile_sources_leave_the_daemon_up_bounded_and_the_good_source_served() {
    let dir = tempfile::tempdir().unwrap();
    let canary = "CANARY-7f3e91-never-served";
    let canary_path = dir.path().join("secret.txt");
    std::fs::write(&canary_path, canary).unwrap();

    let server = FixtureServer::start();
    let raw = ByteServer::start();
    let mut sources: Vec<(String, String, Expect)> = Vec::new();
    let mut add = |id: &str, body: Vec<u8>, content_type: &str, expect: Expect| {
        let path = format!("/{id}");
        let mut f = Fixture::feed(body);
        f.content_type = content_type.into();
        server.set(&path, f);
        sources.push((id.to_string(), server.url(&path), expect));
    };
    let xml = "application/rss+xml";
    add(
        "good",
        rss("Good", &[("g1", "Harbour reopens after the storm", "https://good.example/1", common::hours_ago(3))])
            .into(),
        xml,
        Expect::Items(1),
    );
    add("billion-laughs", fixture("billion-laughs.xml"), xml, Expect::Items(1));
    let xxe =
        String::from_utf8(fixture("xxe.xml.in")).unwrap().replace("CANARY_PATH", &canary_path.display().to_string());
    add("xxe", xxe.into_bytes(), xml, Expect::Items(1));
    let mut deep = String::from(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Deep</title><item><guid>deep-1</guid><title>",
    );
    deep.push_str(&"<x>".repeat(70_000));
    deep.push_str(&"</x>".repeat(70_000));
    deep.push_str("</title></item></channel></rss>");
    add("deep-xml", deep.into_bytes(), xml, Expect::Error("parse"));
    let mut deep_html = String::from(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Deep</title><item><guid>dh-1</guid><title>",
    );
    deep_html.push_str(&"&lt;b&gt;".repeat(70_000));
    deep_html.push_str("Nested markup headline</title><description><![CDATA[");
    deep_html.push_str(&"<div>".repeat(70_000));
    deep_html.push_str("]]></description></item></channel></rss>");
    add("deep-html", deep_html.into_bytes(), xml, Expect::Items(1));
    for (id, file, n) in [
        ("invalid-utf8", "invalid-utf8.xml", 1),
        ("latin1", "undeclared-latin1.xml", 1),
        ("cp1251", "undeclared-cp1251.xml", 1),
        ("shift-jis", "declared-shift-jis.xml", 1),
        ("utf16le-bom", "utf16le-bom.xml", 1),
        ("utf16be-bom", "utf16be-bom.xml", 1),
        ("utf16le-nobom", "utf16le-nobom.xml", 1),
        ("utf16be-nobom", "utf16be-nobom.xml", 1),
        ("two-decls", "two-xml-declarations.xml", 1),
        ("authors", "authors.xml", 4),
        ("rss-noversion", "rss-noversion.xml", 2),
        ("rss-093", "rss-v093.xml", 2),
        ("rss-094", "rss-v094.xml", 2),
        ("rss-201", "rss-v201.xml", 2),
        ("rss-banana", "rss-vbanana.xml", 2),
        ("rss-emptyversion", "rss-vempty.xml", 2),
        ("media-group", "media-group-empty-description.xml", 2),
        ("rss-media-group", "rss-media-group-empty-description.xml", 1),
        ("dupe-guids", "duplicate-guids.xml", 2),
        ("bare-items", "no-guid-link-date.xml", 4),
        ("absurd-dates", "absurd-dates.xml", 6),
        ("atom-dates", "atom-dates.xml", 3),
        ("atom-octet", "atom-octet-stream.xml", 2),
        ("rss-090", "rss-090.xml", 2),
    ] {
        add(id, fixture(file), xml, Expect::Items(n));
    }
    add("big", big_feed(5000).into_bytes(), xml, Expect::Items(5000));
    add("json-wrong-types", fixture("jsonfeed-wrong-types.json"), "application/feed+json", Expect::Items(4));
    add("json-items-object", fixture("jsonfeed-items-not-array.json"), "application/feed+json", Expect::Items(1));
    add("json-truncated", fixture("jsonfeed-not-json.json"), "application/feed+json", Expect::Error("parse"));
    add("html-page", fixture("html-page.html"), "text/html", Expect::Error("parse"));
    add("empty", fixture("empty.xml"), xml, Expect::Error("empty"));

    let endless = Raw::Endless { cap: Duration::from_secs(40) };
    raw.set("/endless", endless);
    sources.push(("endless".into(), raw.url("/endless"), Expect::Error("larger than")));
    let body =
        rss("Short", &[("ls-1", "Lying length headline", "https://ls.example/1", common::hours_ago(3))]).into_bytes();
    raw.set("/lying-short", Raw::LyingLength { claimed: 120, body: body.clone() });
    sources.push(("lying-short".into(), raw.url("/lying-short"), Expect::Error("parse")));
    raw.set("/lying-long", Raw::LyingLength { claimed: body.len() + 100_000, body });
    sources.push(("lying-long".into(), raw.url("/lying-long"), Expect::Error("")));

    let port = free_port();
    let mut config = format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
public_url = "http://news.test"
max_feed_items = 500
[storage]
path = "data"
retention = "36500d"
[poll]
allow_private = true   # the fixture servers are on loopback
timeout = "10s"
max_body = "4MiB"
concurrency = 64      # every source at once: none spread over the interval
per_host = 64         # they all live on 127.0.0.1
[[sections]]
id = "misc"
title = "Misc"
fallback = true
"#
    );
    for (id, url, _) in &sources {
        config.push_str(&format!("[[sources]]\nid = \"{id}\"\nurl = \"{url}\"\n"));
    }
    let config = write_config(dir.path(), &config);
    let daemon = Daemon::start(&config, port);

    // Wait until every source has been polled once.
    let states = || -> HashMap<String, serde_json::Value> {
        let (_, _, body) = daemon.get("/api/sources").unwrap_or_default();
        let list: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap_or_default();
        list.into_iter().map(|s| (s["id"].as_str().unwrap_or("").to_string(), s)).collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let s = states();
        let pending: Vec<&String> =
            s.iter().filter(|(_, v)| v["last_fetch"].is_null() || v["status"] == "pending").map(|(k, _)| k).collect();
        if pending.is_empty() && s.len() == sources.len() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "sources never polled: {pending:?}\n{}", daemon.log());
        std::thread::sleep(Duration::from_millis(250));
    }
    // Settled: the publish loop has had time to include the last ingest.
    std::thread::sleep(Duration::from_secs(3));
    let states = states();
    let (status, _, served) = daemon.get("/feeds/all.json?limit=500").unwrap();
    assert_eq!(status, 200);
    let served: serde_json::Value = serde_json::from_slice(&served).unwrap();
    let served_sources: std::collections::HashSet<String> = served["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["_newsdesk"]["sources"].as_array().cloned().unwrap_or_default())
        .filter_map(|s| s["id"].as_str().map(String::from))
        .collect();
    let log = daemon.log();
    let mut failures = Vec::new();
    for (id, _, expect) in &sources {
        let st = &states[id];
        let lines: Vec<&str> = log.lines().filter(|l| l.contains(&format!("source={id} "))).collect();
        let complaints: Vec<&&str> = lines.iter().filter(|l| l.contains("WARN") || l.contains("ERROR")).collect();
        match expect {
            Expect::Items(n) => {
                if st["status"] != "ok" || st["items"] != *n {
                    failures.push(format!(
                        "{id}: expected {n} items, got {} ({}: {})",
                        st["items"], st["status"], st["last_error"]
                    ));
                }
                if !complaints.is_empty() {
                    failures.push(format!("{id}: complaints in the log: {complaints:?}"));
                }
                if id != "big" && !served_sources.contains(id) {
                    failures.push(format!("{id}: no story of it is served"));
                }
            }
            Expect::Error(words) => {
                let err = st["last_error"].as_str().unwrap_or("");
                if st["status"] != "error" || !err.contains(words) {
                    failures.push(format!("{id}: expected an error with {words:?}, got {}: {err}", st["status"]));
                }
                // One line per poll, naming the source and saying why.
                let polls = st["consecutive_failures"].as_u64().unwrap_or(0) as usize;
                if complaints.is_empty()
                    || complaints.len() > polls
                    || complaints.iter().any(|l| !l.contains("poll failed") || !l.contains("error="))
                {
                    failures
                        .push(format!("{id}: {} complaint lines for {polls} polls: {complaints:?}", complaints.len()));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}\n\nlog:\n{log}", failures.join("\n"));
    assert!(!log.contains("panicked"), "a panic message in the log:\n{log}");

    // The 5,000-item feed: every item stored, and its newest served.
    assert!(served_sources.contains("big") || states["big"]["items"] == 5000);

    // Nothing from the local file, no expanded entity, anywhere.
    let mut outputs = vec![log.clone()];
    for path in
        ["/feeds/all.rss?limit=500", "/feeds/all.atom?limit=500", "/feeds/all.json?limit=500", "/", "/api/sources"]
    {
        let (status, _, body) = daemon.get(path).unwrap();
        assert_eq!(status, 200, "{path}");
        outputs.push(String::from_utf8_lossy(&body).into_owned());
    }
    for out in &outputs {
        assert!(!out.contains(canary), "the external entity was read");
        assert!(!out.contains("lollollol"), "an entity was expanded");
    }

    // Still up, and bounded.
    assert_eq!(daemon.get("/healthz").map(|(s, _, _)| s), Some(200));
    let peak = peak_rss(daemon.child.id()).expect("VmHWM of the daemon");
    println!("hostile: {} sources, peak RSS {:.1} MiB", sources.len(), peak as f64 / 1048576.0);
    assert!(peak < 256 * 1024 * 1024, "peak RSS {peak} bytes");
}

/// What must not come out of any republished format or the front page.
fn executable(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut found: Vec<String> = [
        "<script",
        "<iframe",
        "<object",
        "<embed",
        "<form",
        "<base",
        "<svg",
        "<math",
        "<link",
        "<style",
        "<meta",
        "http-equiv",
        "javascript:",
        "vbscript:",
        "data:",
        "expression(",
        "srcdoc",
        "formaction",
        "xlink:href",
    ]
    .iter()
    .filter(|bad| lower.contains(*bad))
    .map(|bad| bad.to_string())
    .collect();
    // An on* attribute inside any tag.
    for tag in lower.split('<').skip(1) {
        let inside = tag.split('>').next().unwrap_or("");
        if inside
            .split(|c: char| c.is_whitespace() || c == '/' || c == '"' || c == '\'')
            .skip(1)
            .any(|a| a.starts_with("on") && a.contains('='))
        {
            found.push(format!("event handler in <{inside}>"));
        }
    }
    found
}

#[test]
fn attack_markup_is_inert_in_every_format_and_on_the_front_page() {
    let server = FixtureServer::start();
    server.set("/attacks.xml", Fixture::feed(fixture("attacks.xml")));
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(
        dir.path(),
        &format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
public_url = "http://news.test"
[storage]
path = "data"
retention = "36500d"
[poll]
allow_private = true   # the fixture server is on loopback
[[sections]]
id = "misc"
title = "Misc"
fallback = true
[[sources]]
id = "attacks"
url = "{}"
"#,
            server.url("/attacks.xml")
        ),
    );
    let daemon = Daemon::start(&config, port);
    daemon.wait_for(
        || {
            daemon
                .get("/feeds/all.json")
                .is_some_and(|(_, _, b)| String::from_utf8_lossy(&b).contains("attack.example/9"))
        },
        "the attack items to be served",
    );
    let mut problems = Vec::new();
    let mut fields = 0;
    for ext in ["rss", "atom", "json"] {
        for feed in ["all", "misc"] {
            let path = format!("/feeds/{feed}.{ext}");
            let (status, _, body) = daemon.get(&path).unwrap();
            assert_eq!(status, 200, "{path}");
            let parsed = feed_rs::parser::parse(&body[..]).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(parsed.entries.len(), 9, "{path}: every attack item is still served");
            for e in &parsed.entries {
                // What a reader renders: title, summary, content, as decoded text.
                let texts = [
                    e.title.as_ref().map(|t| t.content.clone()),
                    e.summary.as_ref().map(|t| t.content.clone()),
                    e.content.as_ref().and_then(|c| c.body.clone()),
                ];
                for t in texts.into_iter().flatten() {
                    fields += 1;
                    for bad in executable(&t) {
                        problems.push(format!("{path}: {bad} in {t}"));
                    }
                }
                for l in &e.links {
                    if !l.href.starts_with("http") {
                        problems.push(format!("{path}: link {}", l.href));
                    }
                }
            }
        }
    }
    let (status, _, page) = daemon.get("/").unwrap();
    assert_eq!(status, 200);
    let page = String::from_utf8_lossy(&page).into_owned();
    assert!(page.contains("Scripts in every spelling"), "{page}");
    // The page's own head has a charset meta, a style and alternate links; the
    // body (where feed text goes) has none of them.
    let body = page.split("<body>").nth(1).unwrap_or(&page);
    for bad in executable(body) {
        problems.push(format!("/: {bad}"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(fields >= 6 * 9 * 2, "only {fields} fields checked");
    // The harmless parts survive: text, and relative links made absolute.
    let (_, _, json) = daemon.get("/feeds/all.json").unwrap();
    let json = String::from_utf8_lossy(&json);
    // (against the address the feed was fetched from)
    assert!(json.contains(&server.url("/relative")), "{json}");
    assert!(json.contains("<p>nine</p>") && json.contains("ok.example"), "{json}");
}

/// A small slowloris: while 50 connections drip request headers and are still
/// held open, unanswered, another client is answered in full, round after
/// round (scripts/overload.sh runs 500 and times the header-timeout close;
/// no wall-clock assertion here).
#[test]
fn clients_dripping_headers_do_not_block_others() {
    use std::io::Write;
    let server = FixtureServer::start();
    server.set(
        "/good.xml",
        Fixture::feed(rss("Good", &[("g1", "Harbour reopens", "https://good.example/1", common::hours_ago(3))])),
    );
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(
        dir.path(),
        &format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\npath = \"data\"\n[poll]\nallow_private = true\n\
             [[sections]]\nid = \"misc\"\ntitle = \"Misc\"\nfallback = true\n[[sources]]\nid = \"good\"\nurl = \"{}\"\n",
            server.url("/good.xml")
        ),
    );
    let daemon = Daemon::start(&config, port);
    daemon.wait_for(
        || {
            daemon
                .get("/feeds/all.rss")
                .is_some_and(|(_, _, b)| String::from_utf8_lossy(&b).contains("Harbour reopens"))
        },
        "the feed",
    );
    let mut slow: Vec<std::net::TcpStream> = (0..50)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.write_all(b"GET /feeds/all.rss HTTP/1.1\r\nHost: x\r\n").unwrap();
            s
        })
        .collect();
    for round in 0..6 {
        for s in &mut slow {
            // One more header byte each: a drip, never the end of the headers.
            s.write_all(if round % 2 == 0 { b"X" } else { b"-" }).expect("a slow client is still connected");
        }
        let (status, _, body) = daemon.get("/feeds/all.rss").expect("an answer beside the slow clients");
        assert_eq!(status, 200);
        assert!(String::from_utf8_lossy(&body).contains("Harbour reopens"));
        // The other client was answered while every slow one is still held.
        assert_eq!(held(&slow), slow.len(), "round {round}: slow clients were closed or answered");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(daemon.get("/healthz").map(|(s, _, _)| s), Some(200));
}

/// Six unrelated subjects: the oversized items must not cluster into one story.
const TOPICS: [&str; 6] = [
    "Harbour reopens after the storm",
    "Election turnout hits record",
    "Earthquake shakes northern valley",
    "Football final goes to penalties",
    "Inflation slows for third month",
    "Vaccine trial reports results",
];

/// Six items with 900 KB links, 100 KB authors and 100 KB descriptions
/// (6.6 MB, the document of the report), a 400-character
/// feed title, and one item with 40 categories, one of them 150 characters.
fn oversized_fields_feed() -> String {
    let mut s = format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>{}</title><link>https://huge.example/</link><description>d</description>\n",
        "Huge wire ".repeat(40)
    );
    for (i, topic) in TOPICS.iter().enumerate() {
        let cats: String = if i == 0 {
            let mut c: String = (0..40).map(|n| format!("<category>topic {n}</category>")).collect();
            c.push_str(&format!("<category>{}</category>", "long ".repeat(30)));
            c
        } else {
            String::new()
        };
        s.push_str(&format!(
            "<item><guid>huge-{i}</guid><title>{}</title><link>https://huge.example/{i}?q={}</link><author>{}</author>{cats}<pubDate>{}</pubDate><description>Item {i}. {}</description></item>\n",
            topic,
            "a".repeat(900_000),
            "Writer ".repeat(100_000 / 7),
            common::hours_ago(2),
            format!("{topic} ").repeat(100_000 / (topic.len() + 1)),
        ));
    }
    s.push_str("</channel></rss>\n");
    s
}

/// Fields over their bound are dropped and logged once per document; the
/// items are stored and the merged feeds stay small.
#[test]
fn oversized_links_and_authors_are_dropped_and_feeds_stay_small() {
    let server = FixtureServer::start();
    let feed = oversized_fields_feed();
    assert!(feed.len() > 6_500_000, "{}", feed.len());
    server.set("/huge", Fixture::feed(feed));
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://news.test\"\n[storage]\npath = \"data\"\n\
         [poll]\nallow_private = true\nmax_body = \"8MiB\"\n[[sections]]\nid = \"misc\"\ntitle = \"Misc\"\nfallback = true\n\
         [[sources]]\nid = \"huge\"\nurl = \"{}\"\n",
        server.url("/huge")
    );
    let daemon = Daemon::start(&write_config(dir.path(), &config), port);
    let items = || -> Vec<serde_json::Value> {
        let (_, _, body) = daemon.get("/feeds/all.json").unwrap_or_default();
        let feed: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        feed["items"].as_array().cloned().unwrap_or_default()
    };
    daemon.wait_for(|| items().len() == 6, "the six items to be served");
    for item in items() {
        assert!(item.get("url").is_none() && item.get("authors").is_none(), "{item:#}");
        assert!(TOPICS.contains(&item["title"].as_str().unwrap()), "{item:#}");
        let tags = item["tags"].as_array().unwrap();
        assert!(tags.len() <= 32 && tags.iter().all(|t| t.as_str().unwrap().len() <= 100));
        assert_eq!(item["_newsdesk"]["sources"][0]["title"], "huge", "an over-long feed title is not its name");
    }
    for path in ["/feeds/all.rss", "/feeds/all.atom", "/feeds/all.json"] {
        let (status, _, body) = daemon.get(path).unwrap();
        assert_eq!(status, 200);
        assert!(body.len() < 64 * 1024, "{path}: {} bytes", body.len());
    }
    let log = daemon.log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("over their size bound")).collect();
    assert_eq!(lines.len(), 1, "one line for the document:\n{log}");
    for field in ["source=huge", "links=6", "authors=6", "categories=9", "feed_title=true"] {
        assert!(lines[0].contains(field), "{field} in {}", lines[0]);
    }
}

/// How many of `conns` are open with nothing to read: not answered, not closed.
fn held(conns: &[std::net::TcpStream]) -> usize {
    conns
        .iter()
        .filter(|s| {
            s.set_nonblocking(true).unwrap();
            let waiting = matches!(s.peek(&mut [0u8; 1]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
            s.set_nonblocking(false).unwrap();
            waiting
        })
        .count()
}
