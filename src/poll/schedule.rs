//! When is a source due next: a pure function of its state, the response's
//! hints and the clock.

use super::hints::FeedHints;
use crate::model::{secs, Timestamp};
use std::time::Duration;

/// The inputs of one scheduling decision: the source's state, the last
/// response's headers and the feed's own hints. With the clock, they decide
/// everything; nothing here reads the store or the time.
#[derive(Debug, Clone)]
pub struct Plan {
    pub interval: Duration,
    pub min_interval: Duration,
    pub max_interval: Duration,
    pub consecutive_failures: u32,
    /// `Cache-Control: max-age` of the last response, seconds.
    pub max_age: Option<u64>,
    /// `<ttl>`, `<skipHours>`, `<skipDays>`, `sy:updatePeriod` of the last document.
    pub hints: FeedHints,
    /// Successful polls in a row that brought nothing new or changed.
    pub unchanged_polls: u32,
    /// Successful polls in a row that brought new items.
    pub busy_polls: u32,
    /// A number in 0..1 that spreads retries (derived from the source id).
    pub jitter: f64,
}

/// Unchanged polls in a row before the interval doubles (and doubles again
/// after as many more, up to 16 times the interval).
pub const STRETCH_AFTER: u32 = 4;
/// Busy polls in a row before the interval halves (a quarter after one more).
pub const SHORTEN_AFTER: u32 = 2;
/// The longest a server's own header (max-age, Retry-After) can park a source.
pub const HEADER_CAP: i64 = 7 * 86_400;

/// The next due time after a poll that ended at `now`.
///
/// - failures: the interval doubled per failure in a row, within
///   `min_interval..max_interval`, plus up to a quarter of jitter (never past
///   `max_interval`);
/// - otherwise the interval, stretched for a source that keeps not changing
///   and shortened for one that brings new items on every poll, then raised to
///   the feed's `<ttl>` and `sy:updatePeriod`, all within
///   `min_interval..max_interval` (the operator's bounds win over the feed's
///   wishes);
/// - then moved out of the feed's `<skipHours>`/`<skipDays>` (UTC), but not
///   past `max_interval`;
/// - `Cache-Control: max-age` is a floor for the next poll, even past
///   `max_interval` (capped at a week against hostile values).
pub fn next_due(plan: &Plan, now: Timestamp) -> Timestamp {
    let min = secs(plan.min_interval);
    let max = secs(plan.max_interval).max(min);
    let base = secs(plan.interval);
    let max_age = plan.max_age.map(|a| a.min(HEADER_CAP as u64) as i64).unwrap_or(0);
    if plan.consecutive_failures > 0 {
        let factor = 1i64 << plan.consecutive_failures.min(16);
        let mut secs = base.saturating_mul(factor).clamp(min, max);
        // Up to a quarter more, so failing sources do not retry in lockstep.
        secs = secs.saturating_add((secs as f64 * 0.25 * plan.jitter.clamp(0.0, 1.0)) as i64);
        return now.saturating_add(secs.min(max));
    }
    let mut secs = if plan.unchanged_polls >= STRETCH_AFTER {
        base.saturating_mul(1 << (plan.unchanged_polls / STRETCH_AFTER).min(4))
    } else if plan.busy_polls >= SHORTEN_AFTER {
        base >> (plan.busy_polls - SHORTEN_AFTER + 1).min(2)
    } else {
        base
    };
    let h = &plan.hints;
    if let Some(ttl) = h.ttl_minutes {
        secs = secs.max(ttl as i64 * 60);
    }
    if let Some(every) = h.update_every {
        secs = secs.max(every.min(i64::MAX as u64) as i64);
    }
    secs = secs.clamp(min, max);
    let mut due = now.saturating_add(secs);
    if h.skip_hours != 0 || h.skip_days != 0 {
        due = out_of_skipped(due, h).min(now.saturating_add(max));
    }
    due.max(now.saturating_add(max_age))
}

/// The first time at or after `t` outside the skipped hours and days.
fn out_of_skipped(mut t: Timestamp, h: &FeedHints) -> Timestamp {
    // A week of hours covers every combination; a hint that skips everything
    // was dropped when it was read.
    for _ in 0..=7 * 24 {
        let hour = t.rem_euclid(86_400) / 3600;
        // 1970-01-01 was a Thursday: day 3 counting from Monday.
        let day = (t.div_euclid(86_400) + 3).rem_euclid(7);
        if h.skip_hours & (1 << hour) == 0 && h.skip_days & (1 << day) == 0 {
            return t;
        }
        t = (t.div_euclid(3600) + 1) * 3600;
    }
    t
}

/// The time a `Retry-After` value (seconds, or an HTTP date) points to.
/// Capped at a week, so a hostile header cannot park a host for ever.
pub fn retry_after(value: &str, now: Timestamp) -> Option<Timestamp> {
    let v = value.trim();
    let until = if let Ok(secs) = v.parse::<u64>() {
        now.saturating_add(secs.min(i64::MAX as u64) as i64)
    } else {
        let t = httpdate::parse_http_date(v).ok()?;
        t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as i64
    };
    Some(until.clamp(now, now + HEADER_CAP))
}

/// When a source with no stored schedule is first due: now, or — with `spread`
/// (more sources than fetch slots) — at a stable point of its first interval,
/// so a large configuration does not start with every host hit at once.
pub fn first_due(id: &str, interval: Duration, start: Timestamp, spread: bool) -> Timestamp {
    if spread {
        start.saturating_add((secs(interval) as f64 * jitter_for(id)) as i64)
    } else {
        start
    }
}

/// A stable number in 0..1 for a source id.
pub fn jitter_for(id: &str) -> f64 {
    (xxhash_rust::xxh3::xxh3_64(id.as_bytes()) % 10_000) as f64 / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Monday 2 November 2026, 10:00:00 UTC.
    const NOW: Timestamp = 1_793_613_600;
    const H: i64 = 3600;

    fn plan() -> Plan {
        Plan {
            interval: Duration::from_secs(900),
            min_interval: Duration::from_secs(60),
            max_interval: Duration::from_secs(6 * 3600),
            consecutive_failures: 0,
            max_age: None,
            hints: FeedHints::default(),
            unchanged_polls: 0,
            busy_polls: 0,
            jitter: 0.0,
        }
    }

    fn hints(ttl: Option<u32>, hours: &[u32], days: &[u8], every: Option<u64>) -> FeedHints {
        FeedHints {
            ttl_minutes: ttl,
            skip_hours: hours.iter().fold(0, |m, h| m | 1 << h),
            skip_days: days.iter().fold(0, |m, d| m | 1 << d),
            update_every: every,
        }
    }

    #[test]
    fn first_polls_spread_over_the_interval() {
        let i = Duration::from_secs(900);
        assert_eq!(first_due("a", i, 1000, false), 1000);
        let dues: Vec<i64> = (0..1000).map(|n| first_due(&format!("s{n}"), i, 1000, true)).collect();
        assert!(dues.iter().all(|d| (1000..1900).contains(d)));
        // Spread, not bunched: every tenth of the interval gets some.
        for slice in 0..10 {
            let lo = 1000 + slice * 90;
            assert!(dues.iter().any(|d| (lo..lo + 90).contains(d)), "no first poll in slice {slice}");
        }
        assert_eq!(first_due("a", i, 1000, true), first_due("a", i, 1000, true), "stable");
    }

    #[test]
    fn retry_after_values() {
        assert_eq!(retry_after("120", 1000), Some(1120));
        assert_eq!(retry_after("Thu, 01 Jan 1970 00:30:00 GMT", 1000), Some(1800));
        assert_eq!(retry_after("Thu, 01 Jan 1970 00:00:01 GMT", 1000), Some(1000), "a past date means now");
        assert_eq!(retry_after("99999999999", 0), Some(7 * 86_400));
        assert_eq!(retry_after("soon", 0), None);
    }

    #[test]
    fn table() {
        let cases: Vec<(&str, Plan, i64)> = vec![
            ("interval", plan(), 900),
            ("below min", Plan { interval: Duration::from_secs(5), ..plan() }, 60),
            ("above max", Plan { interval: Duration::from_secs(86_400), ..plan() }, 21_600),
            ("min above max: min wins", Plan { max_interval: Duration::from_secs(10), ..plan() }, 60),
            // Feed hints.
            ("ttl stretches", Plan { hints: hints(Some(60), &[], &[], None), ..plan() }, 3600),
            ("ttl shorter than interval", Plan { hints: hints(Some(5), &[], &[], None), ..plan() }, 900),
            ("ttl within max", Plan { hints: hints(Some(10_000), &[], &[], None), ..plan() }, 6 * H),
            ("sy:updatePeriod stretches", Plan { hints: hints(None, &[], &[], Some(2 * 3600)), ..plan() }, 2 * H),
            ("sy:updatePeriod within max", Plan { hints: hints(None, &[], &[], Some(86_400)), ..plan() }, 6 * H),
            (
                "ttl and updatePeriod: the longer",
                Plan { hints: hints(Some(180), &[], &[], Some(3600)), ..plan() },
                3 * H,
            ),
            // 10:15 is in skipped hour 10: the next poll waits for 11:00.
            ("skipHours", Plan { hints: hints(None, &[10], &[], None), ..plan() }, H),
            ("skipHours run", Plan { hints: hints(None, &[10, 11, 12], &[], None), ..plan() }, 3 * H),
            ("skipHours elsewhere", Plan { hints: hints(None, &[3, 4], &[], None), ..plan() }, 900),
            // Monday skipped: Tuesday 00:00 is 14 h away, past max (6 h): max wins.
            ("skipDays within max", Plan { hints: hints(None, &[], &[0], None), ..plan() }, 6 * H),
            (
                "skipDays with a long max",
                Plan { hints: hints(None, &[], &[0], None), max_interval: Duration::from_secs(86_400), ..plan() },
                14 * H,
            ),
            (
                "skipDays and skipHours",
                Plan { hints: hints(None, &[0, 1], &[0], None), max_interval: Duration::from_secs(86_400), ..plan() },
                16 * H,
            ),
            ("ttl then skipHours", Plan { hints: hints(Some(60), &[11], &[], None), ..plan() }, 2 * H),
            // Response headers.
            ("max-age is a floor", Plan { max_age: Some(7200), ..plan() }, 7200),
            ("max-age below interval", Plan { max_age: Some(60), ..plan() }, 900),
            ("max-age past max", Plan { max_age: Some(86_400), ..plan() }, 86_400),
            ("max-age capped at a week", Plan { max_age: Some(u64::MAX), ..plan() }, 7 * 86_400),
            (
                "max-age over skipHours",
                Plan { max_age: Some(3 * 3600), hints: hints(None, &[10], &[], None), ..plan() },
                3 * H,
            ),
            // Adaptive.
            ("three unchanged: as configured", Plan { unchanged_polls: 3, ..plan() }, 900),
            ("four unchanged: doubled", Plan { unchanged_polls: 4, ..plan() }, 1800),
            ("eight unchanged: four times", Plan { unchanged_polls: 8, ..plan() }, 3600),
            ("unchanged for ever: 16 times", Plan { unchanged_polls: 1000, ..plan() }, 4 * H),
            (
                "unchanged stretch within max",
                Plan { unchanged_polls: 1000, interval: Duration::from_secs(H as u64), ..plan() },
                6 * H,
            ),
            ("one busy poll: as configured", Plan { busy_polls: 1, ..plan() }, 900),
            ("two busy: halved", Plan { busy_polls: 2, ..plan() }, 450),
            ("busy for ever: a quarter", Plan { busy_polls: 1000, ..plan() }, 225),
            ("busy within min", Plan { busy_polls: 1000, interval: Duration::from_secs(120), ..plan() }, 60),
            (
                "busy but ttl says wait",
                Plan { busy_polls: 1000, hints: hints(Some(30), &[], &[], None), ..plan() },
                1800,
            ),
            // Failures.
            ("one failure", Plan { consecutive_failures: 1, ..plan() }, 1800),
            ("three failures", Plan { consecutive_failures: 3, ..plan() }, 7200),
            ("many failures capped", Plan { consecutive_failures: 30, ..plan() }, 21_600),
            ("jitter adds", Plan { consecutive_failures: 1, jitter: 1.0, ..plan() }, 2250),
            ("jitter never past max", Plan { consecutive_failures: 30, jitter: 1.0, ..plan() }, 6 * H),
            ("failure ignores adaptive", Plan { consecutive_failures: 1, busy_polls: 9, ..plan() }, 1800),
            ("failure ignores max-age", Plan { consecutive_failures: 1, max_age: Some(86_400), ..plan() }, 1800),
        ];
        for (name, p, want) in cases {
            assert_eq!(next_due(&p, NOW) - NOW, want, "{name}");
        }
    }

    #[test]
    fn jitter_spreads_failing_sources() {
        let dues: std::collections::HashSet<i64> = (0..50)
            .map(|n| next_due(&Plan { consecutive_failures: 2, jitter: jitter_for(&format!("s{n}")), ..plan() }, NOW))
            .collect();
        assert!(dues.len() > 40, "failing sources retry at different times");
        assert!(dues.iter().all(|d| (NOW + 3600..=NOW + 4500).contains(d)));
    }
}
