//! `newsdesk migrate` copies a sled store into PostgreSQL and back, and the
//! copy serves the same feeds, byte for byte. The suite copies a store of
//! 2,000 items; `scripts/migrate-100k.sh` runs this test with 100,000
//! (`NEWSDESK_MIGRATE_ITEMS`) in a release build and prints the timings.

mod common;

use common::pg::Postgres;
use common::{parsed_rss, source, write_config};
use newsdesk::pipeline::Desk;
use newsdesk::store::Store;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Items per ingest (one poll of one source).
const PER_POLL: usize = 50;
const SOURCES: usize = 40;

fn items() -> usize {
    std::env::var("NEWSDESK_MIGRATE_ITEMS").ok().and_then(|v| v.parse().ok()).unwrap_or(2000)
}

/// A made-up word for every `n` (titles that share no word stay apart).
fn word(n: usize) -> String {
    common::made_up_word(n, 4)
}

fn configs(dir: &Path, url: &str) -> (PathBuf, PathBuf, PathBuf) {
    let mut sources = String::from("[[sections]]\nid = \"misc\"\ntitle = \"Misc\"\nfallback = true\n");
    for i in 0..SOURCES {
        sources.push_str(&format!("[[sources]]\nid = \"s{i}\"\nurl = \"https://s{i}.example/feed\"\n"));
    }
    let write = |name: &str, storage: String| {
        let sub = dir.join(name);
        std::fs::create_dir_all(&sub).unwrap();
        write_config(&sub, &format!("[server]\npublic_url = \"https://news.example/\"\n{storage}\n{sources}"))
    };
    (
        write("sled", "[storage]\npath = \"data\"\nretention = \"36500d\"".into()),
        write("pg", format!("[storage]\nbackend = \"postgres\"\nurl = \"{url}\"\nretention = \"36500d\"")),
        write("back", "[storage]\npath = \"data\"\nretention = \"36500d\"".into()),
    )
}

/// Fill the store of `config` with `n` items, an hour apart per poll.
fn fill(config: &newsdesk::config::Config, n: usize, t0: i64) {
    let store = Store::open(&config.storage.path).unwrap();
    let desk = Desk::new(store.clone(), Arc::new(config.clone())).unwrap();
    for poll in 0..n.div_ceil(PER_POLL) {
        let i = poll % SOURCES;
        let entries: Vec<(String, String, String)> = (0..PER_POLL.min(n - poll * PER_POLL))
            .map(|k| {
                let id = poll * PER_POLL + k;
                (
                    format!("g{id}"),
                    format!("{} {} {}", word(id * 3), word(id * 3 + 1), word(id * 3 + 2)),
                    format!("https://s{i}.example/{id}"),
                )
            })
            .collect();
        let refs: Vec<(&str, &str, &str)> =
            entries.iter().map(|(g, t, l)| (g.as_str(), t.as_str(), l.as_str())).collect();
        desk.ingest(&source(&format!("s{i}")), &parsed_rss(&refs), t0 + poll as i64).unwrap();
    }
    store.flush().unwrap();
}

/// Every standing feed and page the store renders at `now`, by name.
fn rendered(config_path: &Path, now: i64) -> Vec<(String, Vec<u8>)> {
    let config = Arc::new(newsdesk::config::load(config_path).unwrap());
    let store = newsdesk::app::open_store(&config).unwrap();
    let publisher = newsdesk::publish::Publisher::new(store, config, now).unwrap();
    publisher.publish_all(now).unwrap();
    let mut files: Vec<(String, Vec<u8>)> =
        publisher.snapshot().files.iter().map(|(k, r)| (k.clone(), r.body.to_vec())).collect();
    files.sort();
    files
}

fn migrate(from: &Path, to: &Path) -> (std::process::Output, f64) {
    let started = Instant::now();
    let out = std::process::Command::new(common::bin())
        .args(["migrate", "--from"])
        .arg(from)
        .arg("--to")
        .arg(to)
        .output()
        .unwrap();
    (out, started.elapsed().as_secs_f64())
}

fn assert_same(a: &[(String, Vec<u8>)], b: &[(String, Vec<u8>)], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: a different set of feeds");
    for ((name, x), (other, y)) in a.iter().zip(b) {
        assert_eq!(name, other);
        assert!(x == y, "{what}: {name} differs ({} bytes against {})", x.len(), y.len());
    }
}

#[test]
fn a_store_migrates_to_postgres_and_back_serving_the_same_bytes() {
    let pg = Postgres::start();
    let url = pg.database("newsdesk");
    let dir = tempfile::tempdir().unwrap();
    let (sled, postgres, back) = configs(dir.path(), &url);
    let n = items();
    let now = newsdesk::pipeline::now();
    let started = Instant::now();
    fill(&newsdesk::config::load(&sled).unwrap(), n, now - 86_400);
    let filled = started.elapsed().as_secs_f64();
    let before = rendered(&sled, now);
    assert!(before.iter().any(|(k, b)| k.contains("all.atom") && b.len() > 1000), "the feeds list stories");

    let (out, to_pg) = migrate(&sled, &postgres);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains(&format!("({n} items")) && said.contains("counts match"), "{said}");
    assert_same(&before, &rendered(&postgres, now), "PostgreSQL");

    let (out, to_sled) = migrate(&postgres, &back);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_same(&before, &rendered(&back, now), "sled again");

    // A store that holds records already is refused, not merged into.
    let (out, _) = migrate(&sled, &postgres);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("not empty"), "{err}");
    eprintln!("{n} items: filled in {filled:.1} s; sled -> PostgreSQL {to_pg:.1} s; PostgreSQL -> sled {to_sled:.1} s");
}
