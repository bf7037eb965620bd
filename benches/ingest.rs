//! Ingest throughput against feed-rs parsing alone, on the large real feeds of
//! the shared corpus. The whole path is parse (with encoding repair) →
//! normalise (sanitise, canonicalise) → identify → cluster → categorise →
//! store in sled (flushed after each document, as a poll does).
//!
//! The two sides alternate, three rounds each (`NEWSDESK_BENCH_ROUNDS=N` for
//! more); the best round counts, and each round's own ratio is printed too (the
//! machine is shared and swings by ±15 %). Run: `cargo bench --bench ingest`.
//! If Python's feedparser is importable, it is timed on the same files too.

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use newsdesk::config::{Config, Section, Source};
use newsdesk::pipeline::Desk;
use newsdesk::store::Store;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const FILES: [&str; 16] = [
    "rss-parser/input/giantbomb-podcast.rss",
    "feedjira/sample_feeds/CRE.xml",
    "rss-parser/input/many-links.rss",
    "rss-parser/input/itunes-missing-image.rss",
    "feedjira/sample_feeds/TechCrunch.xml",
    "miniflux/parser/large_atom.xml",
    "miniflux/parser/large_rss.xml",
    "feedparser/wellformed/sanitize/large_atom_feed_that_needs_css_sanitisation.xml",
    "rsparser/3960.json",
    "rss-parser/input/guardian.rss",
    "rss-parser/input/feedburner.atom",
    "feedjira/sample_feeds/FeedBurnerXHTML.xml",
    "rsparser/DaringFireball.json",
    "rsparser/natasha.xml",
    "rsparser/bio.rdf",
    "feedjira/sample_feeds/SamRuby.xml",
];

fn corpus() -> PathBuf {
    std::env::var_os("NEWSDESK_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"))
}

fn feed_rs_alone(docs: &[(String, Vec<u8>)]) -> (Duration, usize) {
    let start = Instant::now();
    let mut entries = 0;
    for (_, d) in docs {
        if let Ok(f) = feed_rs::parser::parse(&d[..]) {
            entries += f.entries.len();
        }
    }
    (start.elapsed(), entries)
}

/// Time spent per phase of the whole path: parse+normalise, ingest, flush.
#[derive(Default, Clone, Copy)]
struct Phases {
    parse: Duration,
    ingest: Duration,
    flush: Duration,
}

fn whole_path(docs: &[(String, Vec<u8>)], round: usize) -> (Duration, usize, Phases) {
    let dir = std::env::temp_dir().join(format!("newsdesk-bench-{}-{round}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = Config::with_defaults(&dir.join("c.toml"));
    config.storage.retention = Duration::from_secs(100 * 365 * 86_400);
    config.sections.push(Section {
        id: "misc".into(),
        title: "Misc".into(),
        group: "News".into(),
        categories: vec![],
        keywords: vec![],
        fallback: true,
    });
    config.sections.push(Section {
        id: "tech".into(),
        title: "Tech".into(),
        group: "News".into(),
        categories: vec!["technology".into()],
        keywords: vec!["software".into(), "apple".into(), "startup".into()],
        fallback: false,
    });
    let desk = Desk::new(Store::open(&dir.join("data")).expect("store"), Arc::new(config)).expect("desk");
    let base = url::Url::parse("https://bench.example/feed").expect("url");
    let start = Instant::now();
    let mut items = 0;
    let mut phases = Phases::default();
    for (i, (name, d)) in docs.iter().enumerate() {
        let source = Source {
            id: format!("s{i}"),
            url: base.clone(),
            title: None,
            sections: vec![],
            region: None,
            language: None,
            breaking: false,
            interval: None,
        };
        let t = Instant::now();
        let parsed = newsdesk::parse::parse_feed(d, Some(&base));
        phases.parse += t.elapsed();
        match parsed {
            Ok(feed) => {
                let t = Instant::now();
                items += desk.ingest(&source, &feed, 1_900_000_000).expect("ingest").new;
                phases.ingest += t.elapsed();
                let t = Instant::now();
                desk.store.flush().expect("flush");
                phases.flush += t.elapsed();
            }
            Err(e) => eprintln!("{name}: {e}"),
        }
    }
    let t = start.elapsed();
    drop(desk);
    let _ = std::fs::remove_dir_all(&dir);
    (t, items, phases)
}

fn feedparser(paths: &[PathBuf]) -> Option<Duration> {
    let script = "import sys,time,feedparser\nds=[open(p,'rb').read() for p in sys.argv[1:]]\nbest=1e9\nfor _ in range(3):\n t=time.perf_counter()\n for d in ds: feedparser.parse(d)\n best=min(best,time.perf_counter()-t)\nprint(best)";
    let out = std::process::Command::new("python3").arg("-c").arg(script).args(paths).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse::<f64>().ok().map(Duration::from_secs_f64)
}

fn main() {
    let paths: Vec<PathBuf> = FILES.iter().map(|f| corpus().join(f)).collect();
    let docs: Vec<(String, Vec<u8>)> = paths
        .iter()
        .map(|p| (p.display().to_string(), std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))))
        .collect();
    let bytes: usize = docs.iter().map(|(_, d)| d.len()).sum();
    // `NEWSDESK_BENCH_PROFILE=1`: only the whole path, ten times, for a profiler.
    if std::env::var_os("NEWSDESK_BENCH_PROFILE").is_some() {
        for round in 0..10 {
            whole_path(&docs, round);
        }
        return;
    }
    // Warm up both sides once.
    feed_rs_alone(&docs);
    whole_path(&docs, 99);
    // `NEWSDESK_BENCH_ROUNDS=N` (default 3): more rounds on a noisy machine.
    let rounds: usize = std::env::var("NEWSDESK_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(3).max(1);
    let (mut best_parse, mut best_ingest) = (Duration::MAX, Duration::MAX);
    let (mut entries, mut items) = (0, 0);
    let mut best_phases = Phases::default();
    // Each round's own ratio: both sides back to back, under the same load.
    let mut paired: Vec<f64> = Vec::new();
    for round in 0..rounds {
        let (tp, n) = feed_rs_alone(&docs);
        best_parse = best_parse.min(tp);
        entries = n;
        let (t, n, phases) = whole_path(&docs, round);
        if t < best_ingest {
            best_ingest = t;
            best_phases = phases;
        }
        items = n;
        paired.push(t.as_secs_f64() / tp.as_secs_f64());
    }
    paired.sort_by(f64::total_cmp);
    let mb = bytes as f64 / 1e6;
    println!("files: {}, {:.2} MB, {entries} entries (feed-rs), {items} items stored", docs.len(), mb);
    println!(
        "feed-rs parse alone : {:>8.1} ms  {:>7.1} MB/s  {:>8.0} items/s",
        best_parse.as_secs_f64() * 1e3,
        mb / best_parse.as_secs_f64(),
        entries as f64 / best_parse.as_secs_f64()
    );
    println!(
        "newsdesk whole path : {:>8.1} ms  {:>7.1} MB/s  {:>8.0} items/s",
        best_ingest.as_secs_f64() * 1e3,
        mb / best_ingest.as_secs_f64(),
        items as f64 / best_ingest.as_secs_f64()
    );
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "  of which          : parse+normalise {:.1} ms, identify+cluster+categorise+store {:.1} ms, flush {:.1} ms",
        ms(best_phases.parse),
        ms(best_phases.ingest),
        ms(best_phases.flush)
    );
    println!(
        "ratio whole path / parse alone: {:.2}x (budget: at most 2x; best of {rounds}, sides alternated)",
        best_ingest.as_secs_f64() / best_parse.as_secs_f64()
    );
    println!(
        "  per-round ratios (each round's two sides back to back): median {:.2}x, range {:.2}-{:.2}x",
        paired[paired.len() / 2],
        paired[0],
        paired[paired.len() - 1]
    );
    match feedparser(&paths) {
        Some(fp) => println!(
            "python feedparser   : {:>8.1} ms  -> newsdesk is {:.1}x faster (budget: at least 20x)",
            fp.as_secs_f64() * 1e3,
            fp.as_secs_f64() / best_ingest.as_secs_f64()
        ),
        None => println!("python feedparser   : not installed (pip install feedparser) - skipped"),
    }
}
