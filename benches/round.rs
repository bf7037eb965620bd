//! What storing a catch-up as one round costs (`Desk::ingest_round`: every
//! entry of every document in the order published, each stored as a
//! document of its own) against storing the same documents one after
//! another, as a poll does: eight large real feeds of the shared corpus,
//! each from a source of its own, into a fresh sled store each time, then
//! flushed. The two sides alternate, three rounds each
//! (`NEWSDESK_BENCH_ROUNDS=N` for more); the best of each counts, and each
//! round's own ratio is printed too (the machine is shared and swings by
//! ±15 %). Run: `cargo bench --bench round`.

use newsdesk::config::{Config, Source};
use newsdesk::parse::Feed;
use newsdesk::pipeline::Desk;
use newsdesk::store::Store;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const FILES: [&str; 8] = [
    "feedjira/sample_feeds/TechCrunch.xml",
    "miniflux/parser/large_atom.xml",
    "miniflux/parser/large_rss.xml",
    "rss-parser/input/guardian.rss",
    "rss-parser/input/feedburner.atom",
    "rsparser/DaringFireball.json",
    "rsparser/natasha.xml",
    "feedjira/sample_feeds/SamRuby.xml",
];

fn corpus() -> PathBuf {
    std::env::var_os("NEWSDESK_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"))
}

/// The shipped sections and regions, a source per document, no retention limit.
fn config() -> Config {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/newsdesk.toml");
    let mut config = newsdesk::config::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let template = config.sources[0].clone();
    config.sources = (0..FILES.len()).map(|n| Source { id: format!("s{n}"), ..template.clone() }).collect();
    config.storage.retention = Duration::from_secs(100 * 365 * 86_400);
    config
}

/// Store `docs` into a fresh desk, as a round or one after another: the time
/// taken and the items stored.
fn store(docs: &[(Source, Feed)], as_round: bool, run: usize) -> (Duration, usize) {
    let dir = std::env::temp_dir().join(format!("newsdesk-round-bench-{}-{run}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let desk = Desk::new(Store::open(&dir.join("data")).expect("store"), Arc::new(config())).expect("desk");
    let now = newsdesk::pipeline::now();
    let start = Instant::now();
    let items = if as_round {
        let docs = docs.iter().map(|(s, f)| (s.clone(), f.clone(), now)).collect();
        let reports = desk.ingest_round(&desk.runtime(), docs);
        reports.into_iter().map(|(r, e)| if let Some(e) = e { panic!("{e}") } else { r.new }).sum()
    } else {
        docs.iter().map(|(s, f)| desk.ingest(s, f, now).expect("stored").new).sum()
    };
    desk.store.flush().expect("flush");
    let t = start.elapsed();
    drop(desk);
    let _ = std::fs::remove_dir_all(&dir);
    (t, items)
}

fn main() {
    let sources = config().sources;
    let docs: Vec<(Source, Feed)> = FILES
        .iter()
        .zip(sources)
        .map(|(f, s)| {
            let p = corpus().join(f);
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (s, newsdesk::parse::parse_feed(&bytes, None).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        })
        .collect();
    let rounds: usize = std::env::var("NEWSDESK_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(3).max(1);
    store(&docs, false, 99);
    store(&docs, true, 99);
    let (mut best_docs, mut best_round, mut items) = (Duration::MAX, Duration::MAX, 0);
    for run in 0..rounds {
        let (td, n) = store(&docs, false, run);
        let (tr, m) = store(&docs, true, run);
        assert_eq!(n, m, "the same items stored either way");
        items = n;
        println!(
            "run {run}: one document after another {td:?}, as a round {tr:?}, ratio {:.2}",
            tr.as_secs_f64() / td.as_secs_f64()
        );
        (best_docs, best_round) = (best_docs.min(td), best_round.min(tr));
    }
    println!("{} documents, {items} items", docs.len());
    println!("one document after another: {:>8.1} ms", best_docs.as_secs_f64() * 1e3);
    println!("as one round              : {:>8.1} ms", best_round.as_secs_f64() * 1e3);
    println!(
        "round / documents         : {:>8.2}x (best of {rounds} each, alternated)",
        best_round.as_secs_f64() / best_docs.as_secs_f64()
    );
}
