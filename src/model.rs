//! The records that flow through the pipeline and live in the store.

use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch, UTC. All times inside newsdesk are this.
pub type Timestamp = i64;

/// A configured span in seconds, saturating: `as i64` would wrap a huge one
/// negative (config load bounds them; this keeps the arithmetic safe anyway).
pub fn secs(d: std::time::Duration) -> Timestamp {
    Timestamp::try_from(d.as_secs()).unwrap_or(Timestamp::MAX)
}

/// The time `d` before `now`, never wrapping into the future.
pub fn before(now: Timestamp, d: std::time::Duration) -> Timestamp {
    now.saturating_sub(secs(d))
}

/// One entry of one source, normalised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// Stable key: a hash of the source id and the item's identity.
    pub key: String,
    pub source: String,
    /// guid, else canonical link, else `h:` + hash of title and feed date.
    pub identity: String,
    pub title: String,
    /// Canonical http(s) link, if the item had one.
    pub link: Option<String>,
    /// Sanitised HTML (the entry's summary, else its content).
    pub summary: String,
    /// The fingerprint of what `summary` was sanitised from
    /// (`parse::Summary::fingerprint`): a re-poll whose entry has the same one
    /// (and the same other fields) is unchanged, without sanitising again.
    /// `None` in items stored by an older release: those are sanitised and
    /// compared, and gain it when found unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_source: Option<u64>,
    pub author: Option<String>,
    pub categories: Vec<String>,
    pub language: Option<String>,
    /// Published time, clamped to first-seen when in the future or missing.
    pub published: Timestamp,
    pub first_seen: Timestamp,
    pub updated: Timestamp,
    /// The story this item belongs to.
    pub story: String,
}

/// What several items say about one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Story {
    /// Assigned when the story starts; never changes.
    pub id: String,
    /// Earliest published time of its items.
    pub time: Timestamp,
    /// Its first item (by published time, then first seen, then key).
    /// `None` in a story stored by an older release (see `items`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<Member>,
    /// How many items it has (a kill between the writes of one ingest can leave
    /// it one high until the story's first item changes: it is informational,
    /// nothing is decided on it). The items themselves live in the store's
    /// members table, one record each, so that a story with thousands of
    /// items is updated without reading or rewriting them.
    #[serde(default)]
    pub size: u32,
    /// Older releases listed the story's item keys here; such a story moves
    /// its items to the members table the next time it changes. Empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<String>,
    /// Distinct sources whose items were published within `breaking.window`
    /// of the first item, up to `breaking.min_sources` (coverage, kept as
    /// items join so deciding it reads none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub early_sources: Vec<String>,
    pub sections: Vec<String>,
    pub regions: Vec<String>,
    pub tags: Vec<String>,
    pub breaking: bool,
    /// When the story became breaking (for SSE replay), if it did.
    pub breaking_since: Option<Timestamp>,
    /// Last change, for Last-Modified of the feeds it is in.
    pub updated: Timestamp,
    /// The distinct sources of its items, first item's first, up to
    /// [`Story::SOURCES_KEPT`] (the store's story-sources table has them all).
    /// Empty in stories stored before it existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// How many distinct sources its items come from (ranking by coverage
    /// reads this). 0 in stories stored before it existed.
    #[serde(default)]
    pub source_count: u32,
}

impl Story {
    /// How many of a story's distinct sources its record lists; a story
    /// carried by thousands of sources would otherwise rewrite them all on
    /// every join.
    pub const SOURCES_KEPT: usize = 32;

    /// The most tags a story keeps (its items' categories and places; each is
    /// a feed the story is listed in): the first ones stay.
    pub const TAGS_KEPT: usize = 64;

    /// How many distinct sources carried it.
    pub fn distinct_sources(&self) -> usize {
        (self.source_count as usize).max(self.sources.len())
    }

    /// Take in another story's sections, regions, tags and breaking mark
    /// (when two stories turn out to be one event).
    pub fn take_labels(&mut self, other: &Story) {
        union(&mut self.sections, &other.sections);
        union(&mut self.regions, &other.regions);
        union(&mut self.tags, &other.tags);
        self.tags.truncate(Story::TAGS_KEPT);
        self.breaking |= other.breaking;
        self.breaking_since = match (self.breaking_since, other.breaking_since) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// Add to `into` what `from` has that it lacks, in order.
pub fn union(into: &mut Vec<String>, from: &[String]) {
    for x in from {
        if !into.contains(x) {
            into.push(x.clone());
        }
    }
}

/// One item of a story, as the story needs it: ordering, coverage and the
/// feed entry's list of sources read these, not the items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub key: String,
    pub source: String,
    pub published: Timestamp,
    pub first_seen: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// From a breaking source, or with a breaking keyword in its title, by the
    /// configuration in force when the item was stored.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub flagged: bool,
}

impl Member {
    /// The order of a story's items: published, then first seen, then key.
    pub fn order(&self) -> (Timestamp, Timestamp, &str) {
        (self.published, self.first_seen, &self.key)
    }
}

/// What happened on the last poll of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SourceStatus {
    #[default]
    Pending,
    Ok,
    NotModified,
    Error,
    Gone,
    Refused,
}

impl SourceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceStatus::Pending => "pending",
            SourceStatus::Ok => "ok",
            SourceStatus::NotModified => "not_modified",
            SourceStatus::Error => "error",
            SourceStatus::Gone => "gone",
            SourceStatus::Refused => "refused",
        }
    }
}

/// Per-source state, kept in the store so it survives restarts and could be
/// shared by several pollers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SourceState {
    pub id: String,
    /// The URL from the configuration when this state was written; a change
    /// resets `url`, `gone` and redirect tracking.
    pub configured_url: String,
    /// The URL polled now (after permanent redirects).
    pub url: String,
    pub title: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub last_fetch: Option<Timestamp>,
    pub last_success: Option<Timestamp>,
    pub next_due: Option<Timestamp>,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub status: SourceStatus,
    pub items: u64,
    /// Target of a permanent redirect and how many polls in a row saw it.
    pub redirect_target: Option<String>,
    pub redirect_count: u32,
    /// The feed's own scheduling hints, from the last full document.
    #[serde(default)]
    pub hints: crate::poll::hints::FeedHints,
    /// Successful polls in a row that brought nothing new or changed (adaptive schedule).
    #[serde(default)]
    pub unchanged_polls: u32,
    /// Successful polls in a row that brought new items (adaptive schedule).
    #[serde(default)]
    pub busy_polls: u32,
    /// xxh3 of the last document body that was parsed and stored: the same
    /// bytes again are not modified, whatever the server's headers say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_hash: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_huge_span_before_now_stays_in_the_past() {
        let now = 1_800_000_000;
        // 500000000000 years: `as i64` made this negative, a cutoff in the future.
        let huge = Duration::from_secs(500_000_000_000 * 31_557_600);
        assert_eq!(before(now, huge), now.saturating_sub(i64::MAX));
        assert!(before(now, huge) < now);
        assert_eq!(before(now, Duration::MAX), now.saturating_sub(i64::MAX));
        assert_eq!(before(now, Duration::from_secs(60)), now - 60);
    }
}
