//! When is a source due next: a pure function of its state, the response's
//! hints and the clock.

use crate::model::Timestamp;
use std::time::Duration;

/// The inputs of one scheduling decision.
#[derive(Debug, Clone)]
pub struct Plan {
    pub interval: Duration,
    pub min_interval: Duration,
    pub max_interval: Duration,
    pub consecutive_failures: u32,
    /// `Cache-Control: max-age` of the last response, seconds.
    pub max_age: Option<u64>,
    /// RSS `<ttl>`, minutes.
    pub ttl_minutes: Option<u32>,
    /// A number in 0..1 that spreads retries (derived from the source id).
    pub jitter: f64,
}

/// The next due time after a poll that ended at `now`.
pub fn next_due(plan: &Plan, now: Timestamp) -> Timestamp {
    let min = plan.min_interval.as_secs() as i64;
    let max = (plan.max_interval.as_secs() as i64).max(min);
    let mut secs = plan.interval.as_secs() as i64;
    if plan.consecutive_failures > 0 {
        let factor = 1i64 << plan.consecutive_failures.min(16);
        secs = secs.saturating_mul(factor);
        secs = secs.clamp(min, max);
        // Up to a quarter more, so failing sources do not retry in lockstep.
        secs += (secs as f64 * 0.25 * plan.jitter.clamp(0.0, 1.0)) as i64;
        return now + secs.min(max);
    }
    secs = secs.clamp(min, max);
    if let Some(ttl) = plan.ttl_minutes {
        secs = secs.max((ttl as i64 * 60).min(max));
    }
    if let Some(age) = plan.max_age {
        // The server asked us not to come back before this: a floor.
        secs = secs.max(age.min(i64::MAX as u64) as i64);
    }
    now + secs
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
    Some(until.clamp(now, now + 7 * 86_400))
}

/// When a source with no stored schedule is first due: now, or — with `spread`
/// (more sources than fetch slots) — at a stable point of its first interval,
/// so a large configuration does not start with every host hit at once.
pub fn first_due(id: &str, interval: Duration, start: Timestamp, spread: bool) -> Timestamp {
    if spread {
        start + (interval.as_secs() as f64 * jitter_for(id)) as i64
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

    fn plan() -> Plan {
        Plan {
            interval: Duration::from_secs(900),
            min_interval: Duration::from_secs(60),
            max_interval: Duration::from_secs(6 * 3600),
            consecutive_failures: 0,
            max_age: None,
            ttl_minutes: None,
            jitter: 0.0,
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
            ("ttl stretches", Plan { ttl_minutes: Some(60), ..plan() }, 3600),
            ("ttl within max", Plan { ttl_minutes: Some(10_000), ..plan() }, 21_600),
            ("max-age is a floor", Plan { max_age: Some(7200), ..plan() }, 7200),
            ("one failure", Plan { consecutive_failures: 1, ..plan() }, 1800),
            ("three failures", Plan { consecutive_failures: 3, ..plan() }, 7200),
            ("many failures capped", Plan { consecutive_failures: 30, ..plan() }, 21_600),
            ("jitter adds", Plan { consecutive_failures: 1, jitter: 1.0, ..plan() }, 2250),
        ];
        for (name, p, want) in cases {
            assert_eq!(next_due(&p, 1000) - 1000, want, "{name}");
        }
    }
}
