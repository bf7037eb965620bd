//! The small version of scripts/poll-10k.sh: many distinct sources in one
//! config, polled by the real binary with `once` from a loopback server,
//! then polled again and all answered 304 Not Modified. The items are
//! look-alikes that pile into big stories (the case that once made ingest
//! cost grow with the store).

mod common;

use common::{Fixture, FixtureServer};
use std::collections::HashMap;
use std::process::Command;

const SOURCES: usize = 400;

fn feed(i: usize) -> String {
    let words = ["harbour", "council", "budget", "river", "storm", "bridge", "school", "rail", "market", "court"];
    let items: Vec<(String, String, String, String)> = (0..5)
        .map(|j| {
            let w: Vec<&str> = (0..4).map(|k| words[(i * 7 + j * 3 + k) % words.len()]).collect();
            (
                format!("s{i}-{j}"),
                format!("Report {i}.{j}: {} update number {}", w.join(" "), i * 5 + j),
                format!("https://news{}.example/{i}/{j}", i % 97),
                common::rfc2822(common::hours_ago_secs(j as i64 + 1) + (i % 60) as i64 * 60),
            )
        })
        .collect();
    let refs: Vec<(&str, &str, &str, &str)> =
        items.iter().map(|(a, b, c, d)| (a.as_str(), b.as_str(), c.as_str(), d.as_str())).collect();
    common::rss(&format!("Source {i}"), &refs)
}

/// `newsdesk once`: outcome → how many sources had it.
fn once(config: &std::path::Path) -> HashMap<String, usize> {
    let out = Command::new(common::bin()).args(["once", "--config"]).arg(config).output().expect("run newsdesk once");
    assert!(out.status.success(), "once failed: {}", String::from_utf8_lossy(&out.stderr));
    let mut outcomes = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let outcome = line.split_whitespace().nth(1).unwrap_or("?").to_string();
        *outcomes.entry(outcome).or_default() += 1;
    }
    outcomes
}

#[test]
fn hundreds_of_sources_poll_store_and_come_back_not_modified() {
    let server = FixtureServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut config = String::from(
        "[storage]\npath = \"data\"\nretention = \"36500d\"\n[log]\nlevel = \"warn\"\n[poll]\nallow_private = true\n\
         [[sections]]\nid = \"news\"\ntitle = \"News\"\nfallback = true\n",
    );
    for i in 0..SOURCES {
        server.set(&format!("/f/{i}.xml"), Fixture::feed(feed(i)));
        config.push_str(&format!("[[sources]]\nid = \"s{i}\"\nurl = \"{}\"\n", server.url(&format!("/f/{i}.xml"))));
    }
    let path = common::write_config(dir.path(), &config);

    let first = once(&path);
    assert_eq!(first.get("ok"), Some(&SOURCES), "{first:?}");
    // Every item is stored, each once.
    let stats = Command::new(common::bin()).args(["stats", "--json", "--config"]).arg(&path).output().unwrap();
    let stats: serde_json::Value = serde_json::from_slice(&stats.stdout).expect("stats JSON");
    assert_eq!(stats["items"], 5 * SOURCES, "{stats}");
    let second = once(&path);
    assert_eq!(second.get("not_modified"), Some(&SOURCES), "{second:?}");
    // Every source was asked twice, the second time conditionally.
    for i in (0..SOURCES).step_by(37) {
        let reqs = server.requests(&format!("/f/{i}.xml"));
        assert_eq!(reqs.len(), 2, "source {i}");
        assert!(reqs[1].headers.contains_key("if-none-match"), "source {i}");
    }
}
