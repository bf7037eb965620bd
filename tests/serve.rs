//! What a request costs and what it is told, through the real binary: the
//! front page's security headers, `/api/sources` in pages, and on-demand
//! feed variants served from the cache the second time.

mod common;

use common::{free_port, write_config, Daemon};
use std::path::Path;

fn start(dir: &Path, sources: usize) -> Daemon {
    let port = free_port();
    let feeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo/feeds");
    let mut files: Vec<_> = std::fs::read_dir(&feeds).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut c = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\n\
         [storage]\npath = \"data\"\nretention = \"36500d\"\n\
         [[sections]]\nid = \"misc\"\ntitle = \"Misc\"\nfallback = true\n"
    );
    for i in 0..sources {
        c.push_str(&format!("[[sources]]\nid = \"s{i}\"\nurl = \"{}\"\n", files[i % files.len()].display()));
    }
    Daemon::start(&write_config(dir, &c), port)
}

#[test]
fn the_front_page_forbids_scripts_and_sniffing() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path(), 1);
    let (status, h, body) = daemon.get("/").unwrap();
    assert_eq!(status, 200);
    let csp = h.get("content-security-policy").expect("a Content-Security-Policy");
    assert!(csp.contains("default-src 'none'") && !csp.contains("script-src"), "{csp}");
    // The page's own inline style still applies.
    assert!(String::from_utf8_lossy(&body).contains("<style>") && csp.contains("style-src 'unsafe-inline'"));
    assert_eq!(h.get("x-content-type-options").map(String::as_str), Some("nosniff"));
    let (_, h, _) = daemon.get("/feeds/all.rss").unwrap();
    assert_eq!(h.get("x-content-type-options").map(String::as_str), Some("nosniff"));
}

#[test]
fn api_sources_comes_in_pages() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path(), 5);
    let mut seen = Vec::new();
    let mut path = "/api/sources?limit=2".to_string();
    for _ in 0..5 {
        let (status, h, body) = daemon.get(&path).unwrap();
        assert_eq!(status, 200);
        let page: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
        assert!(page.len() <= 2);
        seen.extend(page.iter().map(|s| s["id"].as_str().unwrap().to_string()));
        let Some(link) = h.get("link") else { break };
        let next = link.trim_start_matches('<').split('>').next().unwrap();
        assert!(link.ends_with("rel=\"next\""), "{link}");
        path = next.trim_start_matches(&format!("http://127.0.0.1:{}", daemon.port)).to_string();
    }
    assert_eq!(seen, ["s0", "s1", "s2", "s3", "s4"]);
    // The default page holds them all; a bad limit or cursor is a 400.
    let (_, h, body) = daemon.get("/api/sources").unwrap();
    assert_eq!(serde_json::from_slice::<Vec<serde_json::Value>>(&body).unwrap().len(), 5);
    assert!(!h.contains_key("link"));
    assert_eq!(daemon.get("/api/sources?limit=100000").unwrap().0, 400);
    assert_eq!(daemon.get("/api/sources?after=nope").unwrap().0, 400);
}

fn cache_hits(daemon: &Daemon) -> u64 {
    let (_, _, body) = daemon.get("/metrics").unwrap();
    String::from_utf8_lossy(&body)
        .lines()
        .find(|l| l.starts_with("newsdesk_feed_variant_cache_lookups{outcome=\"hit\"}"))
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_feed_variant_is_served_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start(dir.path(), 2);
    // A publication in between starts a new generation (a miss): a few tries.
    for _ in 0..10 {
        let first = daemon.get("/feeds/all.json?limit=3&lang=en").unwrap();
        let second = daemon.get("/feeds/all.json?limit=3&lang=en").unwrap();
        assert_eq!((first.0, second.0), (200, 200));
        if cache_hits(&daemon) > 0 {
            assert_eq!(first.2, second.2, "a hit serves the same bytes");
            return;
        }
    }
    panic!("no cache hit in 10 pairs of requests; log:\n{}", daemon.log());
}
