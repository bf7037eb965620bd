//! Key layout of the feed index: `feed \0 time(8 bytes, order-preserving) story-id`.

use crate::model::{Story, Timestamp};

/// One entry of a feed index: where a story sits in a feed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FeedKey {
    pub time: Timestamp,
    pub story: String,
}

/// Feed index names: "all", "breaking", "s:politics", "r:mena", "t:climate".
pub fn story_feeds(s: &Story) -> Vec<String> {
    let mut out = vec!["all".to_string()];
    out.extend(s.sections.iter().map(|x| format!("s:{x}")));
    out.extend(s.regions.iter().map(|x| format!("r:{x}")));
    out.extend(s.tags.iter().map(|x| format!("t:{x}")));
    if s.breaking {
        out.push("breaking".into());
    }
    out
}

pub fn feed_keys(s: &Story) -> Vec<Vec<u8>> {
    story_feeds(s).iter().map(|f| feed_key(f, s.time, &s.id)).collect()
}

pub fn feed_prefix(feed: &str) -> Vec<u8> {
    let mut k = feed.as_bytes().to_vec();
    k.push(0);
    k
}

fn time_bytes(t: Timestamp) -> [u8; 8] {
    ((t as u64) ^ (1u64 << 63)).to_be_bytes()
}

pub fn feed_key(feed: &str, time: Timestamp, story: &str) -> Vec<u8> {
    let mut k = feed_prefix(feed);
    k.extend_from_slice(&time_bytes(time));
    k.extend_from_slice(story.as_bytes());
    k
}

/// The first key after every key with this prefix.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end
}

pub fn parse_feed_key(rest: &[u8]) -> Option<FeedKey> {
    let (t, id) = rest.split_at_checked(8)?;
    let t = u64::from_be_bytes(t.try_into().ok()?) ^ (1u64 << 63);
    Some(FeedKey { time: t as i64, story: String::from_utf8(id.to_vec()).ok()? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_order_is_key_order() {
        let a = feed_key("all", -5, "x");
        let b = feed_key("all", 3, "x");
        let c = feed_key("all", 1_700_000_000, "a");
        assert!(a < b && b < c);
        assert_eq!(parse_feed_key(&c[4..]), Some(FeedKey { time: 1_700_000_000, story: "a".into() }));
    }
}
