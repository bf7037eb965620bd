//! The site in a real browser: the system Chromium (the Debian package,
//! headless), driven by tests/browser/check.mjs through puppeteer-core, against
//! the real binary polling fixture feeds dated around now. It loads the front
//! page, a story carried by three outlets, a section's second page and the
//! Arabic edition at 1280 and 390 pixels, checks what the DOM shows, that no
//! request leaves the site's origin, that the Arabic root is right to left,
//! that nothing scrolls sideways at 390 pixels, and runs axe-core on each page
//! (no serious or critical violation).
//!
//! With NEWSDESK_SCREENSHOTS=DIR it also writes the screenshots there
//! (scripts/screenshots does). Needs /usr/bin/chromium (or $CHROMIUM), node and
//! `npm ci` run in tests/browser: without them the test fails and says so.

mod common;

use common::{free_port, rfc2822, write_config, Daemon, Fixture, FixtureServer};
use std::path::{Path, PathBuf};
use std::process::Command;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;")
}

/// An RSS document with a language and `(guid, title, summary, link, secs ago)` items.
fn feed(title: &str, lang: &str, items: &[(String, String, String, String, i64)]) -> String {
    let now = common::fixture_clock();
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\"><channel><title>{}</title>\
         <link>https://example.org/</link><description>d</description><language>{lang}</language>\n",
        esc(title)
    );
    for (guid, t, summary, link, ago) in items {
        s.push_str(&format!(
            "<item><guid>{guid}</guid><title>{}</title><link>{link}</link><pubDate>{}</pubDate>\
             <description>{}</description></item>\n",
            esc(t),
            rfc2822(now - ago),
            esc(summary)
        ));
    }
    s.push_str("</channel></rss>\n");
    s
}

fn item(guid: &str, title: &str, summary: &str, link: &str, minutes_ago: i64) -> (String, String, String, String, i64) {
    (guid.into(), title.into(), summary.into(), link.into(), minutes_ago * 60)
}

/// Words no two fixture stories share, so none of them cluster.
const WORDS: [&str; 75] = [
    "copper", "tariff", "harvest", "lumber", "bonds", "shipyard", "cocoa", "pension", "freight", "turbine", "dairy",
    "textile", "bauxite", "orchard", "refinery", "mortgage", "airline", "brewery", "cement", "fishery", "payroll",
    "nickel", "vineyard", "ferry", "bakery", "lithium", "granary", "toll", "quarry", "salmon", "cotton", "zinc",
    "rubber", "wool", "barley", "tobacco", "coffee", "sugar", "pepper", "saffron", "marble", "glass", "paper", "steel",
    "tin", "silver", "platinum", "uranium", "helium", "cobalt", "lead", "timber", "olive", "rice", "maize", "soy",
    "wheat", "oats", "hemp", "jute", "silk", "leather", "ivory", "amber", "pearl", "coral", "salt", "clay", "sand",
    "gravel", "basalt", "granite", "slate", "chalk", "gypsum",
];

fn fixture() -> (FixtureServer, tempfile::TempDir, Daemon) {
    let server = FixtureServer::start();
    // One story carried by three outlets (the same link), one by five.
    let three = "https://wire.example/harbour-bridge";
    let five = "https://wire.example/summit";
    let summit = "Leaders meet at the Lisbon climate summit";
    let summit_lead = "Leaders of forty countries met in Lisbon on Monday. They agreed on a fund.";
    server.set(
        "/wire.xml",
        Fixture::feed(feed(
            "The Wire",
            "en",
            &[
                item(
                    "w1",
                    "Harbour bridge in Valparaiso reopens after repairs",
                    "The harbour bridge in Valparaiso reopened on Monday after two years of repairs. Traffic resumed.",
                    three,
                    50,
                ),
                item("w2", summit, summit_lead, five, 40),
                // Another event in the same place: "Related" to the bridge.
                item(
                    "w3",
                    "Valparaiso dock workers vote on a new contract",
                    "Dock workers in Valparaiso voted on Tuesday on a new pay contract.",
                    "https://wire.example/dockers",
                    300,
                ),
            ],
        )),
    );
    for (id, name) in [("paper", "Daily Paper"), ("herald", "Morning Herald")] {
        server.set(
            &format!("/{id}.xml"),
            Fixture::feed(feed(
                name,
                "en",
                &[
                    item(
                        &format!("{id}1"),
                        "Valparaiso harbour bridge reopens after repairs",
                        "Cars cross again.",
                        three,
                        45,
                    ),
                    item(&format!("{id}2"), summit, summit_lead, five, 35),
                ],
            )),
        );
    }
    for (id, name) in [("gazette", "The Gazette"), ("courier", "Evening Courier")] {
        server.set(
            &format!("/{id}.xml"),
            Fixture::feed(feed(name, "en", &[item(&format!("{id}1"), summit, summit_lead, five, 30)])),
        );
    }
    // Enough economy stories for a second page of the section.
    let ledger: Vec<_> = (0..25)
        .map(|i| {
            let (a, b, c) = (WORDS[i * 3], WORDS[i * 3 + 1], WORDS[i * 3 + 2]);
            item(
                &format!("l{i}"),
                &format!("{a} {b} {c} report number {i}"),
                &format!("Markets for {a} and {b} moved. More follows."),
                &format!("https://ledger.example/{i}"),
                60 + i as i64 * 7,
            )
        })
        .collect();
    server.set("/ledger.xml", Fixture::feed(feed("The Ledger", "en", &ledger)));
    server.set(
        "/arabic.xml",
        Fixture::feed(feed(
            "المرصد",
            "ar",
            &[
                item(
                    "a1",
                    "عاجل: انقطاع الكهرباء عن أحياء في بيروت لساعات",
                    "انقطعت الكهرباء عن عدة أحياء في بيروت مساء الأحد. وتعمل الفرق على إصلاح الأعطال.",
                    "https://almarsad.example/1",
                    20,
                ),
                item(
                    "a2",
                    "وزارة الصحة تطلق حملة تطعيم في 2026 في بيروت",
                    "أطلقت وزارة الصحة حملة تطعيم واسعة. وتستمر الحملة شهرا.",
                    "https://almarsad.example/2",
                    25,
                ),
            ],
        )),
    );
    server.set(
        "/spanish.xml",
        Fixture::feed(feed(
            "El Faro",
            "es",
            &[item(
                "e1",
                "El banco central mantiene los tipos de interés",
                "El banco central mantuvo los tipos. La inflación baja.",
                "https://elfaro.example/1",
                15,
            )],
        )),
    );
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut sources = String::new();
    for (id, extra) in [
        ("wire", ""),
        ("paper", ""),
        ("herald", ""),
        ("gazette", ""),
        ("courier", ""),
        ("ledger", "sections = [\"economy\"]\n"),
        ("arabic", "language = \"ar\"\n"),
        ("spanish", "language = \"es\"\n"),
    ] {
        sources
            .push_str(&format!("[[sources]]\nid = \"{id}\"\nurl = \"{}\"\n{extra}", server.url(&format!("/{id}.xml"))));
    }
    let config = write_config(
        dir.path(),
        &format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"
title = "Newsdesk"
[storage]
path = "data"
[poll]
allow_private = true
[[sections]]
id = "world"
title = "World"
title_ar = "العالم"
title_es = "Mundo"
keywords = ["summit", "bridge"]
[[sections]]
id = "economy"
title = "Economy"
title_ar = "اقتصاد"
title_es = "Economía"
keywords = ["banco central"]
[[sections]]
id = "sports"
title = "Sports"
title_ar = "رياضة"
title_es = "Deportes"
group = "More"
group_ar = "المزيد"
group_es = "Más"
keywords = ["cricket"]
[[sections]]
id = "misc"
title = "Miscellaneous"
title_ar = "منوعات"
title_es = "Varios"
fallback = true
[[regions]]
id = "americas"
title = "Americas"
title_ar = "الأمريكتان"
title_es = "Américas"
places = ["Valparaiso", "فالبارايسو"]
[[regions]]
id = "mena"
title = "Middle East"
title_ar = "الشرق الأوسط"
title_es = "Oriente Medio"
places = ["Beirut", "بيروت"]
{sources}"#
        ),
    );
    let daemon = Daemon::start(&config, port);
    daemon.wait_for(
        || {
            daemon.get("/feeds/all.json?limit=100").is_some_and(|(_, _, b)| {
                let v: serde_json::Value = serde_json::from_slice(&b).unwrap_or_default();
                let items = v["items"].as_array().cloned().unwrap_or_default();
                let sources =
                    |n: usize| items.iter().any(|i| i["_newsdesk"]["sources"].as_array().is_some_and(|s| s.len() == n));
                // 25 ledger stories, the two clusters, the dockers, two Arabic and one Spanish.
                items.len() >= 31 && sources(3) && sources(5)
            })
        },
        "every fixture feed to be polled and clustered",
    );
    // The pre-rendered pages follow at the next publication.
    daemon.wait_for(
        || {
            let page =
                |p: &str| daemon.get(p).map(|(_, _, b)| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
            page("/sections/economy").contains("rel=\"next\"") && page("/").contains(" and 3 more")
        },
        "the front and section pages to show every fixture story",
    );
    (server, dir, daemon)
}

/// The story whose entry lists `n` items.
fn story_with(daemon: &Daemon, n: usize) -> String {
    let (_, _, b) = daemon.get("/feeds/all.json?limit=100").unwrap();
    let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["_newsdesk"]["sources"].as_array().is_some_and(|s| s.len() == n))
        .map(|i| i["_newsdesk"]["story"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no story with {n} items"))
}

/// What the browser test needs, or a panic that says what is missing.
fn tools() -> (PathBuf, PathBuf) {
    let chromium = PathBuf::from(std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    assert!(
        chromium.exists(),
        "the browser tests need Chromium at {} (Debian: apt-get install chromium; or set CHROMIUM)",
        chromium.display()
    );
    let node = Command::new("node").arg("--version").output();
    assert!(node.is_ok_and(|o| o.status.success()), "the browser tests need node (Debian: apt-get install nodejs npm)");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    for package in ["puppeteer-core", "axe-core"] {
        assert!(
            dir.join("node_modules").join(package).exists(),
            "the browser tests need {package}: run `npm ci` in {} (.ci/run does)",
            dir.display()
        );
    }
    (chromium, dir)
}

#[test]
fn the_site_in_chromium() {
    let (chromium, dir) = tools();
    let (_server, _tmp, daemon) = fixture();
    let three = story_with(&daemon, 3);
    // Each page's weight as sent (brotli and gzip): under 60 KB.
    let (_, _, first) = daemon.get("/sections/economy").unwrap();
    let first = String::from_utf8(first).unwrap();
    let next = first.split(" rel=\"next\"").next().unwrap().rsplit("href=\"").next().unwrap();
    let next = next.trim_end_matches('"').replace("&amp;", "&");
    for path in [
        "/",
        "/ar/",
        "/es/",
        &format!("/stories/{three}"),
        "/sections/economy",
        &next,
        "/tags/valparaiso",
        "/ar/sections/misc",
        "/es/regions/americas",
        &format!("/ar/stories/{three}"),
    ] {
        for enc in ["br", "gzip"] {
            let (status, h, body) = common::http_get(daemon.port, path, &[("accept-encoding", enc)]).unwrap();
            assert_eq!((status, h.get("content-encoding").map(String::as_str)), (200, Some(enc)), "{path}");
            println!("weight {path} {enc}: {} bytes", body.len());
            assert!(body.len() < 60 * 1024, "{path} weighs {} bytes {enc}", body.len());
        }
    }
    let mut cmd = Command::new("node");
    cmd.arg(dir.join("check.mjs"))
        .env("BASE", format!("http://127.0.0.1:{}", daemon.port))
        .env("STORY", format!("/stories/{three}"))
        .env("SECTION", "/sections/economy")
        .env("EMPTY_SECTION", "Sports")
        .env("CHROMIUM", &chromium)
        // .ci/run runs the suite again under libfaketime a year ahead: the
        // daemon keeps that clock (it renders the times), but Chromium's
        // timers stall under it, and the browser only reads what was served.
        .env_remove("LD_PRELOAD")
        .env_remove("FAKETIME")
        .env_remove("FAKETIME_DONT_FAKE_MONOTONIC");
    let out = cmd.output().expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(out.status.success(), "the browser checks failed:\n{stdout}\n{stderr}\ndaemon log:\n{}", daemon.log());
    assert!(stdout.contains("browser: all checks passed"), "{stdout}");
}
