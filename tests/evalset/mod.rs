//! The labelled evaluation set (tests/data/eval) as items ready to ingest.
#![allow(dead_code)]

use newsdesk::config::{self, Config, Source};
use newsdesk::parse::{normalize, Entry, Feed, Summary};
use serde_json::Value;
use std::path::PathBuf;

pub struct EvalItem {
    pub raw: Value,
    pub id: String,
    pub source: Source,
    pub published: i64,
}

impl EvalItem {
    /// The item as one parsed feed with a single entry, as a poll would see it.
    pub fn feed(&self) -> Feed {
        let v = &self.raw;
        let entry = Entry {
            guid: Some(self.id.clone()),
            title: normalize::plain_text(v["title"].as_str().unwrap()),
            link: normalize::canonical_link(v["link"].as_str().unwrap(), None),
            summary: Summary::from_html(v["summary"].as_str().unwrap(), None),
            author: None,
            categories: v["categories"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect(),
            language: None,
            feed_date: Some(self.published),
        };
        Feed { title: None, language: None, ttl: None, entries: vec![entry], dropped: Default::default() }
    }

    /// The key the store files the item under.
    pub fn key(&self) -> String {
        newsdesk::parse::identity::item_key(&self.source.id, &format!("g:{}", self.id))
    }
}

/// The set's config (with its store in `store_dir`) and its items in
/// publication order.
#[allow(dead_code)] // stories_eval names its sets
pub fn load(store_dir: &std::path::Path) -> (Config, Vec<EvalItem>) {
    load_set(store_dir, "items.json")
}

/// [`load`] for another item file of tests/data/eval with the same config
/// (`heldout.json`: the held-out set for section filing).
pub fn load_set(store_dir: &std::path::Path, file: &str) -> (Config, Vec<EvalItem>) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/eval");
    let data: Value = serde_json::from_slice(&std::fs::read(root.join(file)).unwrap()).unwrap();
    let mut config = config::load(&root.join("config.toml")).unwrap();
    config.storage.path = store_dir.join("data");
    let time = |v: &Value| chrono::DateTime::parse_from_rfc3339(v["published"].as_str().unwrap()).unwrap().timestamp();
    let mut items: Vec<EvalItem> = data["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| EvalItem {
            raw: v.clone(),
            id: v["id"].as_str().unwrap().to_string(),
            source: config.source(v["source"].as_str().unwrap()).expect("item source in config").clone(),
            published: time(v),
        })
        .collect();
    items.sort_by_key(|i| i.published);
    (config, items)
}

/// xorshift64*: enough randomness for sampling, no dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Shuffle `v` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

/// The sources of `items`, in the order they first appear.
pub fn sources(items: &[EvalItem]) -> Vec<&Source> {
    let mut sources: Vec<&Source> = Vec::new();
    for i in items {
        if !sources.iter().any(|s| s.id == i.source.id) {
            sources.push(&i.source);
        }
    }
    sources
}

/// The polls of a live desk: every source polled every 15 minutes at its
/// own phase (a seed picks the phases and the order of the sources due in
/// the same minute), each poll bringing what the source published since its
/// last one as one document. Minute by minute, the batches due.
pub fn live_polls(items: &[EvalItem], seed: u64) -> Vec<(i64, Vec<Vec<&EvalItem>>)> {
    live_polls_every(items, seed, 900)
}

/// [`live_polls`] with every source polled every `interval` seconds.
pub fn live_polls_every(items: &[EvalItem], seed: u64, interval: i64) -> Vec<(i64, Vec<Vec<&EvalItem>>)> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut phase: std::collections::BTreeMap<String, i64> = Default::default();
    // (poll time, source) → the items that poll brings.
    let mut polls: std::collections::BTreeMap<(i64, String), Vec<&EvalItem>> = Default::default();
    for i in items {
        let p = *phase.entry(i.source.id.clone()).or_insert_with(|| (rng.below(interval as usize)) as i64);
        let at = p + (i.published - p).div_euclid(interval) * interval + interval;
        polls.entry((at / 60, i.source.id.clone())).or_default().push(i);
    }
    let mut minutes: std::collections::BTreeMap<i64, Vec<Vec<&EvalItem>>> = Default::default();
    for ((minute, _), batch) in polls {
        minutes.entry(minute).or_default().push(batch);
    }
    minutes
        .into_iter()
        .map(|(minute, mut due)| {
            rng.shuffle(&mut due);
            (minute, due)
        })
        .collect()
}

/// One minute's polls (see [`live_polls`]) ingested one after another, in
/// the order given, by one thread.
pub fn ingest_in_order(desk: &newsdesk::pipeline::Desk, (minute, due): (i64, Vec<Vec<&EvalItem>>)) {
    for batch in due {
        ingest_batch(desk, &batch, minute);
    }
}

/// One minute's polls stored as one round (`Desk::ingest_round`: a
/// catch-up after downtime), each poll's report checked.
pub fn ingest_as_round(desk: &newsdesk::pipeline::Desk, (minute, due): (i64, Vec<Vec<&EvalItem>>)) {
    let docs = due.iter().map(|batch| (batch[0].source.clone(), document(batch), minute * 60)).collect();
    for (_, error) in desk.ingest_round(&desk.runtime(), docs) {
        assert!(error.is_none(), "{error:?}");
    }
}

/// One poll's items (of one source) as one document.
fn document(batch: &[&EvalItem]) -> Feed {
    let mut feed = batch[0].feed();
    feed.entries = batch.iter().flat_map(|i| i.feed().entries).collect();
    feed
}

/// One poll's items (of one source) as one document, ingested at `minute`.
fn ingest_batch(desk: &newsdesk::pipeline::Desk, batch: &[&EvalItem], minute: i64) {
    desk.ingest(&batch[0].source, &document(batch), minute * 60).unwrap();
}

/// Ingest `polls` minute by minute, each minute's batches by three threads
/// at once; thread `t` ingests through `desks[t % desks.len()]` (several
/// desks on one PostgreSQL store are several nodes).
pub fn ingest_live(desks: &[&newsdesk::pipeline::Desk], polls: Vec<(i64, Vec<Vec<&EvalItem>>)>) {
    for (minute, due) in polls {
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for t in 0..3 {
                let (desk, due, next) = (desks[t % desks.len()], &due, &next);
                s.spawn(move || loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(batch) = due.get(n) else { break };
                    ingest_batch(desk, batch, minute);
                });
            }
        });
    }
}

/// Item pairs decided otherwise in `b` than in `a` (together or apart), of
/// all pairs (`a` and `b`: item key → story id).
pub fn pairs_differing(
    a: &std::collections::BTreeMap<String, String>,
    b: &std::collections::BTreeMap<String, String>,
) -> (usize, usize) {
    let keys: Vec<&String> = a.keys().collect();
    let (mut differ, mut pairs) = (0usize, 0usize);
    for (n, x) in keys.iter().enumerate() {
        for y in &keys[n + 1..] {
            pairs += 1;
            differ += usize::from((a[*x] == a[*y]) != (b[*x] == b[*y]));
        }
    }
    (differ, pairs)
}
