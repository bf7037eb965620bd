//! The labelled evaluation set (tests/data/eval) as items ready to ingest.

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
