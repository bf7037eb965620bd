//! Clustering items into stories: an item joins the story that already carries
//! its canonical link; otherwise it starts a new story.
//! (Near-duplicate detection across rewrites and languages builds on this.)

use xxhash_rust::xxh3::xxh3_64;

/// What to do with a new item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Join(String),
    New(String),
}

/// The id a story gets when `first_item_key` starts it. Deterministic, so a
/// re-ingest after a lost write makes the same story.
pub fn new_story_id(first_item_key: &str) -> String {
    format!("{:016x}", xxh3_64(first_item_key.as_bytes()))
}

/// Decide where an item goes, given the story that carries its link (if any).
pub fn decide(item_key: &str, link_story: Option<String>) -> Decision {
    match link_story {
        Some(story) => Decision::Join(story),
        None => Decision::New(new_story_id(item_key)),
    }
}
