//! What a settle costs (`Desk::settle`: every stored item clustered again,
//! one at a time in publication order, in a scratch store, then the
//! differences written) against storing the same items as live polls do,
//! one document per item ten minutes after it was published: the labelled
//! sets of tests/data/eval copied `NEWSDESK_BENCH_COPIES` times (8 by
//! default), each copy ten days after the last with links of its own, into
//! a fresh sled store each run; then, once, the same items replayed in
//! random order and settled (the settle then moves items). Each run stores, then settles; three runs (`NEWSDESK_BENCH_ROUNDS=N`
//! for more), the best of each side counts, and each run's own ratio is
//! printed too (the machine is shared and swings by ±15 %). The peak
//! resident memory of each side is read from /proc (VmHWM, reset before
//! each; the first run's, since a run keeps what the allocator holds from
//! the one before). Run: `cargo bench --bench settle`.

#[path = "../tests/evalset/mod.rs"]
mod evalset;

use newsdesk::pipeline::Desk;
use newsdesk::store::Store;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SETS: [&str; 6] = [
    "realnews.json",
    "realnews-heldout.json",
    "realnews-fresh.json",
    "realnews-blind4.json",
    "realnews-blind5.json",
    "items.json",
];

/// The peak resident memory since the last reset, in MiB (0 where /proc
/// does not say).
fn peak_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or("");
    line.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()).unwrap_or(0) / 1024
}

fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Store `items` into a fresh desk, each at ten minutes after it was
/// published, then settle: (time to store, peak MiB), (time to settle, peak
/// MiB), and the items the settle moved.
fn run(
    items: &[evalset::EvalItem],
    config: &newsdesk::config::Config,
    n: usize,
) -> ((Duration, u64), (Duration, u64), usize) {
    let dir = std::env::temp_dir().join(format!("newsdesk-bench-settle-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let desk = Desk::new(Store::open(&dir.join("data")).expect("store"), Arc::new(config.clone())).expect("desk");
    reset_peak();
    let start = Instant::now();
    for i in items {
        desk.ingest(&i.source, &i.feed(), i.published + 600).expect("stored");
    }
    desk.store.flush().expect("flush");
    let stored = (start.elapsed(), peak_mib());
    let now = items.iter().map(|i| i.published).max().unwrap_or(0) + 600;
    reset_peak();
    let start = Instant::now();
    let report = desk.settle(now).expect("settled");
    desk.store.flush().expect("flush");
    let settled = (start.elapsed(), peak_mib());
    drop(desk);
    let _ = std::fs::remove_dir_all(&dir);
    (stored, settled, report.moved)
}

/// Replay `items` in the order given (shuffled), each at `now`, into a
/// fresh desk, then settle: the time to settle and the items it moved.
fn settle_shuffled(items: &[evalset::EvalItem], config: &newsdesk::config::Config, n: usize) -> (Duration, usize) {
    let dir = std::env::temp_dir().join(format!("newsdesk-bench-settle-{}-shuffled-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let desk = Desk::new(Store::open(&dir.join("data")).expect("store"), Arc::new(config.clone())).expect("desk");
    let now = items.iter().map(|i| i.published).max().unwrap_or(0) + 600;
    for i in items {
        desk.ingest(&i.source, &i.feed(), now).expect("stored");
    }
    let start = Instant::now();
    let report = desk.settle(now).expect("settled");
    desk.store.flush().expect("flush");
    let t = start.elapsed();
    drop(desk);
    let _ = std::fs::remove_dir_all(&dir);
    (t, report.moved)
}

fn main() {
    let copies: i64 = std::env::var("NEWSDESK_BENCH_COPIES").ok().and_then(|c| c.parse().ok()).unwrap_or(8).max(1);
    let scratch = std::env::temp_dir().join(format!("newsdesk-bench-settle-{}", std::process::id()));
    let mut config = None;
    let mut items = Vec::new();
    for copy in 0..copies {
        for set in SETS {
            let (c, set_items) = evalset::load_set(&scratch, set);
            config.get_or_insert(c);
            items.extend(set_items.into_iter().map(|mut i| {
                i.id = format!("{}/{copy}", i.id);
                i.published += copy * 10 * 86_400;
                // A link of its own (a shared link joins whatever the time).
                let link = format!("{}?copy={copy}", i.raw["link"].as_str().unwrap_or_default());
                i.raw["link"] = link.into();
                i
            }));
        }
    }
    let mut config = config.expect("a set loaded");
    config.storage.retention = Duration::from_secs(100 * 365 * 86_400);
    items.sort_by_key(|i| i.published);
    let rounds: usize = std::env::var("NEWSDESK_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(3).max(1);
    let (mut best_store, mut best_settle) = ((Duration::MAX, 0), (Duration::MAX, 0));
    for n in 0..rounds {
        let (stored, settled, moved) = run(&items, &config, n);
        println!(
            "run {n}: storing {:?} (peak {} MiB), settling {:?} (peak {} MiB, {moved} items moved), ratio {:.2}",
            stored.0,
            stored.1,
            settled.0,
            settled.1,
            settled.0.as_secs_f64() / stored.0.as_secs_f64()
        );
        let first = |best: u64, this: u64| if n == 0 { this } else { best };
        best_store = (best_store.0.min(stored.0), first(best_store.1, stored.1));
        best_settle = (best_settle.0.min(settled.0), first(best_settle.1, settled.1));
    }
    println!("{} items ({copies} copies of the labelled sets)", items.len());
    println!("storing, one document per item: {:>8.1} ms", best_store.0.as_secs_f64() * 1e3);
    println!("settling all of them          : {:>8.1} ms", best_settle.0.as_secs_f64() * 1e3);
    println!(
        "settle / store                : {:>8.2}x (best of {rounds} each)",
        best_settle.0.as_secs_f64() / best_store.0.as_secs_f64()
    );
    println!("per item settled              : {:>8.1} us", best_settle.0.as_secs_f64() * 1e6 / items.len() as f64);
    println!("peak resident memory, 1st run : storing {} MiB, settling {} MiB", best_store.1, best_settle.1);
    // The same items replayed in random order: the settle moves thousands.
    let mut shuffled = items;
    evalset::Rng(0x005E_771E).shuffle(&mut shuffled);
    let (took, moved) = settle_shuffled(&shuffled, &config, 0);
    println!(
        "settling a shuffled replay     : {:>8.1} ms, {moved} items moved ({:.1} us an item; one run)",
        took.as_secs_f64() * 1e3,
        took.as_secs_f64() * 1e6 / shuffled.len() as f64
    );
    let _ = std::fs::remove_dir_all(&scratch);
}
