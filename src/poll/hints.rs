//! What a feed document says about when to poll it again, read straight from
//! its bytes (feed-rs does not expose these): RSS 2.0 `<ttl>`, `<skipHours>`,
//! `<skipDays>`, and the RSS 1.0 syndication module's `sy:updatePeriod` and
//! `sy:updateFrequency`.
//!
//! The scan is cheap: a pull parser with no entity expansion and no tree,
//! items and entries skipped without looking inside, and it stops at the end
//! of the channel (RSS) or at the first entry (Atom, where these elements can
//! only come before the entries). A document it cannot read yields no hints,
//! never an error: the parser proper reports on the document.

use quick_xml::events::Event;
use serde::{Deserialize, Serialize};

/// Scheduling hints of one feed. Stored in the source's state so a `304 Not
/// Modified` keeps the hints of the last full document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedHints {
    /// RSS `<ttl>`, minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_minutes: Option<u32>,
    /// Bit `h` set: do not poll during hour `h` (0..24, UTC) — `<skipHours>`.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub skip_hours: u32,
    /// Bit `d` set: do not poll on day `d` (0 = Monday .. 6 = Sunday, UTC) — `<skipDays>`.
    #[serde(default, skip_serializing_if = "is_zero_u8")]
    pub skip_days: u8,
    /// `sy:updatePeriod` divided by `sy:updateFrequency`, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_every: Option<u64>,
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

fn is_zero_u8(v: &u8) -> bool {
    *v == 0
}

impl FeedHints {
    pub fn is_empty(&self) -> bool {
        *self == FeedHints::default()
    }
}

/// Where the scanner is.
#[derive(PartialEq)]
enum In {
    Other,
    Ttl,
    Hour,
    Day,
    Period,
    Frequency,
}

/// Read the scheduling hints of a feed document.
pub fn scan(bytes: &[u8]) -> FeedHints {
    let mut reader = quick_xml::Reader::from_reader(bytes);
    reader.config_mut().trim_text(true);
    let mut hints = FeedHints::default();
    let mut at = In::Other;
    let mut in_skip_hours = false;
    let mut in_skip_days = false;
    let mut period: Option<u64> = None;
    let mut frequency: Option<u64> = None;
    // An item holds nothing of ours: its subtree is skipped.
    let mut item_depth = 0usize;
    // A read error ends the scan with what was found before it.
    while let Ok(ev) = reader.read_event() {
        match ev {
            Event::Start(e) => {
                let name = e.local_name();
                let name = name.as_ref();
                if item_depth > 0 {
                    item_depth += 1;
                    continue;
                }
                at = match name {
                    "item" => {
                        item_depth = 1;
                        In::Other
                    }
                    "entry" => break,
                    "ttl" => In::Ttl,
                    "skipHours" => {
                        in_skip_hours = true;
                        In::Other
                    }
                    "skipDays" => {
                        in_skip_days = true;
                        In::Other
                    }
                    "hour" if in_skip_hours => In::Hour,
                    "day" if in_skip_days => In::Day,
                    "updatePeriod" => In::Period,
                    "updateFrequency" => In::Frequency,
                    _ => In::Other,
                };
            }
            Event::End(e) => {
                if item_depth > 0 {
                    item_depth -= 1;
                    continue;
                }
                match e.local_name().as_ref() {
                    "channel" => break,
                    "skipHours" => in_skip_hours = false,
                    "skipDays" => in_skip_days = false,
                    _ => {}
                }
                at = In::Other;
            }
            Event::Text(t) if item_depth == 0 && at != In::Other => {
                let text = t.trim();
                match at {
                    In::Ttl => hints.ttl_minutes = text.parse().ok().filter(|m| *m > 0),
                    In::Hour => {
                        // 0..23 by the spec; 24 is a common spelling of midnight.
                        if let Ok(h) = text.parse::<u32>() {
                            if h <= 24 {
                                hints.skip_hours |= 1 << (h % 24);
                            }
                        }
                    }
                    In::Day => {
                        if let Some(d) = weekday(text) {
                            hints.skip_days |= 1 << d;
                        }
                    }
                    In::Period => period = period_seconds(text),
                    In::Frequency => frequency = text.parse().ok().filter(|f| *f > 0),
                    In::Other => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    // Skipping every hour or every day would mean never: not a hint we can follow.
    if hints.skip_hours == (1 << 24) - 1 {
        hints.skip_hours = 0;
    }
    if hints.skip_days == 0x7f {
        hints.skip_days = 0;
    }
    // The module's default period is daily and its default frequency 1.
    if period.is_some() || frequency.is_some() {
        hints.update_every = Some(period.unwrap_or(86_400) / frequency.unwrap_or(1));
    }
    hints
}

fn weekday(s: &str) -> Option<u8> {
    const DAYS: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
    let s = s.to_ascii_lowercase();
    DAYS.iter().position(|d| *d == s).map(|p| p as u8)
}

fn period_seconds(s: &str) -> Option<u64> {
    Some(match s.to_ascii_lowercase().as_str() {
        "hourly" => 3600,
        "daily" => 86_400,
        "weekly" => 7 * 86_400,
        "monthly" => 30 * 86_400,
        "yearly" => 365 * 86_400,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss2_hints_before_and_after_the_items() {
        let doc = br#"<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><ttl>45</ttl>
            <item><title>x</title><ttl>1</ttl><skipHours><hour>3</hour></skipHours></item>
            <skipHours><hour>0</hour><hour>1</hour><hour>24</hour><hour>23</hour><hour>99</hour></skipHours>
            <skipDays><day>Saturday</day><day>sunday</day><day>Someday</day></skipDays>
            </channel></rss>"#;
        let h = scan(doc);
        assert_eq!(h.ttl_minutes, Some(45));
        assert_eq!(h.skip_hours, 1 | 2 | (1 << 23));
        assert_eq!(h.skip_days, (1 << 5) | (1 << 6));
        assert_eq!(h.update_every, None);
    }

    #[test]
    fn syndication_module() {
        let doc = br#"<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
            xmlns:sy="http://purl.org/rss/1.0/modules/syndication/">
            <channel><title>T</title><sy:updatePeriod> hourly </sy:updatePeriod><sy:updateFrequency>2</sy:updateFrequency></channel>
            <item><title>x</title></item></rdf:RDF>"#;
        assert_eq!(scan(doc).update_every, Some(1800));
        let daily = br#"<rss><channel><sy:updatePeriod>daily</sy:updatePeriod></channel></rss>"#;
        assert_eq!(scan(daily).update_every, Some(86_400));
        let atom =
            br#"<feed xmlns="http://www.w3.org/2005/Atom" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/">
            <sy:updatePeriod>weekly</sy:updatePeriod><entry><sy:updatePeriod>hourly</sy:updatePeriod></entry></feed>"#;
        assert_eq!(scan(atom).update_every, Some(7 * 86_400));
    }

    #[test]
    fn nonsense_gives_no_hints() {
        for doc in [
            &b""[..],
            b"not xml at all",
            b"<rss><channel><ttl>-5</ttl><ttl>soon</ttl></channel></rss>",
            b"<rss><channel><hour>3</hour><day>Monday</day></channel></rss>",
            b"<rss><channel><sy:updatePeriod>fortnightly</sy:updatePeriod><sy:updateFrequency>0</sy:updateFrequency></channel></rss>",
            b"<rss><channel><tt", // truncated
        ] {
            assert!(scan(doc).is_empty(), "{}", String::from_utf8_lossy(doc));
        }
        let every_hour: String = (0..24).map(|h| format!("<hour>{h}</hour>")).collect();
        let doc = format!("<rss><channel><skipHours>{every_hour}</skipHours></channel></rss>");
        assert_eq!(scan(doc.as_bytes()).skip_hours, 0, "skipping every hour is ignored");
    }
}
