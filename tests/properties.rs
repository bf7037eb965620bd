//! Property tests (proptest): normalisation, folding, canonical links,
//! identity and the scheduler's arithmetic never panic, and are idempotent
//! where they should be. Case counts are modest so CI stays fast; set
//! PROPTEST_CASES to run more.

use newsdesk::parse::identity::{identity, item_key};
use newsdesk::parse::normalize::{canonical_link, plain_text, sanitize_html, strip_tags};
use newsdesk::parse::Entry;
use newsdesk::poll::hints::FeedHints;
use newsdesk::poll::schedule::{next_due, retry_after, Plan};
use newsdesk::text::{fold, tokens};
use proptest::prelude::*;
use std::time::Duration;

/// Text mixing what the code treats specially: markup, entities, Arabic
/// diacritics and variants, Spanish accents, odd white space, digits.
fn texty() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just("<b>".to_string()),
        Just("</b>".to_string()),
        Just("<script>".to_string()),
        Just("&amp;".to_string()),
        Just("&lt;".to_string()),
        Just("&gt;".to_string()),
        Just("&nbsp;".to_string()),
        Just("&#160;".to_string()),
        Just("\u{a0}".to_string()),
        Just("إِنْتِخَابَاتٌ".to_string()),
        Just("ـ".to_string()),
        Just("٢٠٢٦".to_string()),
        Just("ÁÉÍÓÚÑ".to_string()),
        Just("İ".to_string()),
        Just("ẞ".to_string()),
        Just("5.25".to_string()),
        "[a-zA-Z ]{0,8}",
        any::<char>().prop_map(String::from),
    ];
    proptest::collection::vec(pieces, 0..24).prop_map(|v| v.concat())
}

fn cfg(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(cfg(256))]

    #[test]
    fn fold_is_idempotent(s in texty()) {
        let once = fold(&s);
        prop_assert_eq!(fold(&once), once.clone());
        // Tokens of folded text are already folded.
        for t in tokens(&s) {
            prop_assert_eq!(fold(&t), t);
        }
    }

    #[test]
    fn plain_text_is_idempotent_and_tag_free(s in texty()) {
        let once = plain_text(&s);
        prop_assert_eq!(plain_text(&once), once.clone());
        prop_assert!(!once.to_ascii_lowercase().contains("<script"), "{}", once);
        prop_assert!(once.chars().count() <= newsdesk::parse::normalize::MAX_TITLE_CHARS);
        prop_assert_eq!(once.trim(), once.as_str());
    }

    #[test]
    fn sanitised_html_is_stable(s in texty()) {
        let once = sanitize_html(&s, None);
        prop_assert_eq!(sanitize_html(&once, None), once.clone());
        let _ = strip_tags(&once);
    }

    #[test]
    fn canonical_links_are_a_fixed_point(
        scheme in prop_oneof![Just("http"), Just("https"), Just("HTTPS"), Just("ftp"), Just("javascript")],
        host in "[a-zA-Z0-9-]{1,12}(\\.[a-zA-Z]{2,6}){1,2}",
        port in prop_oneof![Just(String::new()), Just(":80".to_string()), Just(":443".to_string()), (1u16..65535).prop_map(|p| format!(":{p}"))],
        path in "(/[a-zA-Z0-9._~%-]{0,8}){0,4}",
        query in proptest::collection::vec(
            (prop_oneof![Just("utm_source".to_string()), Just("fbclid".to_string()), Just("id".to_string()), "[a-z]{1,5}"], "[a-zA-Z0-9 %&+=]{0,6}"),
            0..4,
        ),
        fragment in proptest::option::of("[a-z0-9]{0,6}"),
    ) {
        let mut raw = format!("{scheme}://{host}{port}{path}");
        if !query.is_empty() {
            raw.push('?');
            raw.push_str(&query.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&"));
        }
        if let Some(f) = fragment {
            raw.push('#');
            raw.push_str(&f);
        }
        if let Some(c) = canonical_link(&raw, None) {
            prop_assert_eq!(canonical_link(&c, None), Some(c.clone()));
            prop_assert!(c.starts_with("http://") || c.starts_with("https://"));
            prop_assert!(!c.contains('#') && !c.contains("utm_") && !c.contains("fbclid"), "{}", c);
        } else {
            prop_assert!(!matches!(scheme, "http" | "https" | "HTTPS") || url::Url::parse(&raw).is_err(), "{}", raw);
        }
    }

    #[test]
    fn any_text_as_a_link_does_not_panic(s in ".{0,80}", base in proptest::option::of("https://[a-z]{1,8}\\.example/[a-z/]{0,10}")) {
        let base = base.and_then(|b| url::Url::parse(&b).ok());
        if let Some(c) = canonical_link(&s, base.as_ref()) {
            prop_assert_eq!(canonical_link(&c, None), Some(c.clone()));
        }
    }

    #[test]
    fn identity_is_a_function_of_the_entry(
        guid in proptest::option::of("[ -~]{0,20}"),
        link in proptest::option::of("https://x\\.example/[a-z]{0,8}"),
        title in texty(),
        summary in texty(),
        date in proptest::option::of(any::<i64>()),
        source in "[a-z0-9-]{1,10}",
    ) {
        let e = Entry {
            guid: guid.clone(),
            title: title.clone(),
            link,
            summary: newsdesk::parse::Summary::from_html(&summary, None),
            author: None,
            categories: vec![],
            language: None,
            feed_date: date,
        };
        let id = identity(&e);
        prop_assert_eq!(identity(&e.clone()), id.clone());
        prop_assert_eq!(item_key(&source, &id), item_key(&source, &id));
        prop_assert_eq!(item_key(&source, &id).len(), 32);
        if let Some(g) = guid {
            prop_assert_eq!(id.clone(), format!("g:{g}"));
            // The guid decides alone: a changed title is the same item.
            let mut edited = e.clone();
            edited.title.push_str(" (updated)");
            prop_assert_eq!(identity(&edited), id);
        }
    }

    #[test]
    fn the_schedule_stays_between_its_bounds(
        now in 0i64..4_000_000_000,
        interval in 0u64..366 * 86_400,
        min in 0u64..86_400,
        max in 0u64..366 * 86_400,
        failures in any::<u32>(),
        // A year of max-age and any <ttl>: what a server may plausibly send.
        max_age in proptest::option::of(0u64..366 * 86_400),
        ttl in proptest::option::of(any::<u32>()),
        jitter in prop_oneof![any::<f64>(), 0.0..1.0f64],
    ) {
        let plan = Plan {
            interval: Duration::from_secs(interval),
            min_interval: Duration::from_secs(min),
            max_interval: Duration::from_secs(max),
            consecutive_failures: failures,
            max_age,
            hints: FeedHints { ttl_minutes: ttl, ..FeedHints::default() },
            unchanged_polls: 0,
            busy_polls: 0,
            jitter,
        };
        let due = next_due(&plan, now);
        // max-age is a floor, capped at a week.
        let upper = (max.max(min)).max(max_age.unwrap_or(0).min(7 * 86_400)) as i64;
        prop_assert!(due >= now + min as i64, "due {} before now {} + min {}", due, now, min);
        prop_assert!(due <= now + upper, "due {} after now {} + {}", due, now, upper);
        prop_assert_eq!(next_due(&plan, now), due);
    }

    #[test]
    fn retry_after_is_within_a_week(value in prop_oneof![".{0,30}", any::<u64>().prop_map(|n| n.to_string()), Just("Wed, 21 Oct 2015 07:28:00 GMT".to_string())], now in 0i64..4_000_000_000) {
        if let Some(t) = retry_after(&value, now) {
            prop_assert!((now..=now + 7 * 86_400).contains(&t));
        }
    }

    #[test]
    fn parse_never_panics_on_mangled_feeds(cut in 0usize..600, noise in proptest::collection::vec(any::<u8>(), 0..40), at in 0usize..600) {
        let doc = br#"<?xml version="1.0"?><rss version="2.0"><channel><title>T &amp; U</title><item><guid>1</guid><title>A &lt;b&gt;</title><link>https://x.example/1</link><pubDate>Mon, 02 Nov 2026 10:00:00 GMT</pubDate><author>a@b.example (A)</author><description><![CDATA[<p onclick="x">Hi</p>]]></description></item></channel></rss>"#;
        let mut d = doc[..cut.min(doc.len())].to_vec();
        let at = at.min(d.len());
        d.splice(at..at, noise);
        let _ = newsdesk::parse::parse_feed(&d, None);
    }
}

/// A hostile `Cache-Control: max-age=18446744073709551615` must not overflow
/// `now + secs` (a panic in debug builds, a due time in the past in release,
/// so the source would be polled on every turn): max-age is capped at a week.
#[test]
fn a_hostile_max_age_does_not_overflow_the_schedule() {
    let plan = Plan {
        interval: Duration::from_secs(900),
        min_interval: Duration::from_secs(60),
        max_interval: Duration::from_secs(6 * 3600),
        consecutive_failures: 0,
        max_age: Some(u64::MAX),
        hints: FeedHints::default(),
        unchanged_polls: 0,
        busy_polls: 0,
        jitter: 0.0,
    };
    let now = 1_800_000_000;
    let due = std::panic::catch_unwind(|| next_due(&plan, now));
    assert!(due.is_ok_and(|d| d > now), "next_due overflowed");
}
