//! Properties of clustering, on random samples of the labelled evaluation set
//! in random order (a seeded generator, so a failure names its seed):
//! ingesting the same items again (in one process or after a restart)
//! changes nothing, and a story id never changes once given: an item stays in
//! the story it joined, and a story keeps its id as items join it.

mod evalset;

use newsdesk::pipeline::Desk;
use newsdesk::store::Store;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Every story in the store: id → its item keys.
fn snapshot(desk: &Desk) -> BTreeMap<String, Vec<String>> {
    desk.store
        .page("all", None, 100_000)
        .unwrap()
        .into_iter()
        .map(|s| (s.id.clone(), desk.store.story_members(&s).unwrap().into_iter().map(|m| m.key).collect()))
        .collect()
}

const CASES: u64 = 12;

#[test]
fn ingesting_the_same_items_again_changes_nothing() {
    for seed in 1..=CASES {
        let dir = tempfile::tempdir().unwrap();
        let (config, mut items) = evalset::load(dir.path());
        let mut rng = evalset::Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        // A random sample of 40..120 items in random order.
        rng.shuffle(&mut items);
        items.truncate(40 + rng.below(80));
        let now = items.iter().map(|i| i.published).max().unwrap() + 600;
        let config = Arc::new(config);
        let desk = Desk::new(Store::open(&config.storage.path).unwrap(), config.clone()).unwrap();
        for i in &items {
            desk.ingest(&i.source, &i.feed(), now).unwrap();
        }
        let first = snapshot(&desk);
        assert_eq!(first.values().map(Vec::len).sum::<usize>(), items.len(), "seed {seed}: every item stored once");
        // Again, in another order, in the same process.
        for i in items.iter().rev() {
            let report = desk.ingest(&i.source, &i.feed(), now + 60).unwrap();
            assert_eq!((report.new, report.updated), (0, 0), "seed {seed}: {} counted as new or changed", i.id);
        }
        assert_eq!(snapshot(&desk), first, "seed {seed}: a second ingest changed the stories");
        // And after a restart (the story index rebuilt from the store).
        drop(desk);
        let desk = Desk::new(Store::open(&config.storage.path).unwrap(), config.clone()).unwrap();
        for i in &items {
            desk.ingest(&i.source, &i.feed(), now + 120).unwrap();
        }
        assert_eq!(snapshot(&desk), first, "seed {seed}: an ingest after a restart changed the stories");
    }
}

/// A story id never changes as items join; when a later item shows two
/// stories are one event they merge, the older id survives (its first item is
/// no later than the absorbed one's) and the absorbed id redirects to it.
#[test]
fn story_ids_never_change_as_items_join_and_merges_keep_the_older() {
    let mut merges = 0;
    for seed in 1..=CASES {
        let dir = tempfile::tempdir().unwrap();
        let (config, mut items) = evalset::load(dir.path());
        let mut rng = evalset::Rng(seed.wrapping_mul(0xD1B5_4A32_D192_ED03));
        // Publication order with random local swaps: feeds arrive a little out of order.
        for _ in 0..items.len() {
            let i = rng.below(items.len() - 1);
            items.swap(i, i + 1);
        }
        items.truncate(60 + rng.below(items.len() - 60));
        let desk = Desk::new(Store::open(&config.storage.path).unwrap(), Arc::new(config.clone())).unwrap();
        // item key → the story it joined, as first stored, and that story's first time.
        let mut joined: BTreeMap<String, (String, i64)> = BTreeMap::new();
        for (n, i) in items.iter().enumerate() {
            desk.ingest(&i.source, &i.feed(), i.published + 600).unwrap();
            let item = desk.store.item(&i.key()).unwrap().expect("stored");
            let time = desk.store.story(&item.story).unwrap().expect("its story").time;
            joined.insert(i.key(), (item.story, time));
            // Every item seen so far is in the story it joined, or in the one
            // that absorbed it, which is no newer and lists it.
            if n % 10 == 9 || n + 1 == items.len() {
                for (key, (story, time)) in &joined {
                    let now_in = desk.store.redirect(story).unwrap().unwrap_or_else(|| story.clone());
                    merges += usize::from(&now_in != story);
                    let item = desk.store.item(key).unwrap().expect("still stored");
                    assert_eq!(item.story, now_in, "seed {seed}: item {key} moved without a merge");
                    let s = desk.store.story(&now_in).unwrap().unwrap_or_else(|| panic!("seed {seed}: {now_in} gone"));
                    assert!(s.time <= *time, "seed {seed}: {story} merged into a newer story {now_in}");
                    assert!(
                        desk.store.story_members(&s).unwrap().iter().any(|m| &m.key == key),
                        "seed {seed}: story {now_in} lost {key}"
                    );
                }
            }
        }
    }
    assert!(merges > 0, "the samples make some merges");
}

/// The stories as sets of item keys, whatever their ids.
fn partition(desk: &Desk) -> std::collections::BTreeSet<Vec<String>> {
    snapshot(desk)
        .into_values()
        .map(|mut keys| {
            keys.sort();
            keys
        })
        .collect()
}

/// A week-old backlog (a new source's archive, a catch-up after downtime, a
/// replay) clusters exactly as the same items polled live did: the dedup
/// window is between items, not against the clock.
#[test]
fn a_week_old_backlog_clusters_as_a_live_poll_does() {
    let live_dir = tempfile::tempdir().unwrap();
    let (config, items) = evalset::load(live_dir.path());
    let live = Desk::new(Store::open(&config.storage.path).unwrap(), Arc::new(config)).unwrap();
    for i in &items {
        live.ingest(&i.source, &i.feed(), i.published + 600).unwrap();
    }
    let backlog_dir = tempfile::tempdir().unwrap();
    let (config, items) = evalset::load(backlog_dir.path());
    let week_later = items.iter().map(|i| i.published).max().unwrap() + 7 * 86_400;
    let backlog = Desk::new(Store::open(&config.storage.path).unwrap(), Arc::new(config)).unwrap();
    for i in &items {
        backlog.ingest(&i.source, &i.feed(), week_later).unwrap();
    }
    let want = partition(&live);
    assert!(want.iter().any(|s| s.len() > 2), "the live poll makes multi-item stories");
    let got = partition(&backlog);
    let missing: Vec<_> = want.difference(&got).collect();
    let extra: Vec<_> = got.difference(&want).collect();
    assert!(missing.is_empty() && extra.is_empty(), "live only: {missing:?}\nbacklog only: {extra:?}");
}

/// How much the arrival order changes the stories: the realistic set ingested
/// in publication order and in shuffled orders (each item polled at its own
/// time, as a replay does), compared pair by pair. Prints the share of item
/// pairs whose together-or-apart decision differs; the floor catches a change
/// that makes clustering more order-dependent. Settled, none differ
/// (`tests/settle.rs`); this measures the live stories between settles.
#[test]
fn arrival_order_changes_few_decisions() {
    let run = |seed: u64| -> BTreeMap<String, String> {
        let dir = tempfile::tempdir().unwrap();
        let (config, mut items) = evalset::load_set(dir.path(), "realnews.json");
        if seed > 0 {
            let mut rng = evalset::Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            rng.shuffle(&mut items);
        }
        let now = items.iter().map(|i| i.published).max().unwrap() + 600;
        let desk = Desk::new(Store::open(&config.storage.path).unwrap(), Arc::new(config)).unwrap();
        for i in &items {
            desk.ingest(&i.source, &i.feed(), now).unwrap();
        }
        items.iter().map(|i| (i.key(), desk.store.item(&i.key()).unwrap().unwrap().story)).collect()
    };
    let base = run(0);
    for seed in 1..=3 {
        let (differ, pairs) = evalset::pairs_differing(&base, &run(seed));
        let share = differ as f64 / pairs as f64;
        println!("seed {seed}: {differ} of {pairs} item pairs decided otherwise ({:.4})", share);
        // Measured 0.0019-0.0032 (72-123 pairs, against about 560 pairs
        // together in publication order) in session 9; 72-112 since the
        // threshold was calibrated again.
        assert!(share < 0.01, "seed {seed}: {differ} of {pairs} pairs depend on the order");
    }
}

/// The realistic set as a live desk meets it, every source polled every
/// `interval` seconds (see `evalset::live_polls_every`), the polls of one
/// minute ingested by three threads at once. Returns item key → story id at
/// the end.
fn live_run(file: &str, seed: u64, interval: i64) -> BTreeMap<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let (config, items) = evalset::load_set(dir.path(), file);
    let desk = Desk::new(Store::open(&config.storage.path).unwrap(), Arc::new(config)).unwrap();
    evalset::ingest_live(&[&desk], evalset::live_polls_every(&items, seed, interval));
    items.iter().map(|i| (i.key(), desk.store.item(&i.key()).unwrap().unwrap().story)).collect()
}

/// Item pairs decided otherwise than with seed 1, for seeds 2 to 4, of the
/// live polling of `file` every `interval` seconds.
fn live_differences(file: &str, interval: i64) -> Vec<(usize, usize)> {
    let base = live_run(file, 1, interval);
    let stories = base.values().collect::<std::collections::BTreeSet<_>>().len();
    assert!(stories < base.len() * 2 / 3, "{file}: few joins");
    (2..=4)
        .map(|seed| {
            let (differ, pairs) = evalset::pairs_differing(&base, &live_run(file, seed, interval));
            println!("{file}, polls every {interval} s, seed {seed}: {differ} of {pairs} item pairs decided otherwise");
            (differ, pairs)
        })
        .collect()
}

/// Polls at other phases, in another order, on three threads at once give
/// the same stories (compared item pair by item pair: together or apart),
/// with polls every 15 minutes and every hour (the order of items up to an
/// hour apart changing), on the two sets the clustering was tuned on. With
/// polls every 6 hours 51-78 of the 38,781 pairs of realnews.json were
/// decided otherwise in session 9 (not measured since): see README "How items cluster into stories".
#[test]
fn live_polling_order_and_threads_change_no_story() {
    for file in ["realnews.json", "realnews-heldout.json"] {
        for interval in [900, 3600] {
            for (differ, pairs) in live_differences(file, interval) {
                assert_eq!(differ, 0, "{file}, {interval} s: {differ} of {pairs} pairs depend on the order");
            }
        }
    }
}

/// The same on the fourth and fifth sets, where it does not hold: on the
/// fourth, a report at the threshold ("Week in pictures", against a rate
/// cut's story) and a chain of two rivals' launches decided otherwise, 0-19
/// of its 33,411 pairs (0-16 since the threshold was calibrated again); on
/// the fifth, 0 with polls every 15 minutes and 20-34 of 35,511 with hourly
/// polls. The bound catches a change that makes it worse; settled, none
/// differ (`tests/settle.rs`).
#[test]
fn live_polling_order_on_the_fourth_and_fifth_sets_changes_few_pairs() {
    for file in ["realnews-blind4.json", "realnews-blind5.json"] {
        for interval in [900, 3600] {
            for (differ, pairs) in live_differences(file, interval) {
                assert!(differ * 1000 < pairs, "{file}, {interval} s: {differ} of {pairs} pairs depend on the order");
            }
        }
    }
}

/// A restart changes no story: the same polls, one after another, into a
/// desk that runs throughout and into one restarted every 7 polling minutes
/// (each restart builds the clustering index again from the store), give
/// the same stories on every labelled set. Before the index held exactly
/// the stories of each ingest's window, with a story's earliest reports in
/// the order they were published, restarts decided 4-38 pairs of each set
/// otherwise (session 12).
#[test]
fn a_restart_changes_no_story() {
    let sets = ["items.json", "realnews.json", "realnews-heldout.json", "realnews-fresh.json"];
    for file in sets.into_iter().chain(["realnews-blind4.json", "realnews-blind5.json"]) {
        let run = |restart_every| {
            with_restarts(
                file,
                |_| {},
                restart_every,
                |items| {
                    let polls = evalset::live_polls(items, 1);
                    polls
                        .into_iter()
                        .map(|minute| Box::new(move |desk: &Desk| evalset::ingest_in_order(desk, minute)) as Step)
                        .collect()
                },
            )
        };
        assert_restarts_change_nothing(file, &run(0), &run(7));
    }
}

/// The same for a backlog taken in random order, a week after the items
/// were published, with a dedup window of 3 hours (so that most stories are
/// outside an ingest's window): the stories before each ingest's window
/// sleep, and wake when an older item comes. Restarted every 25 items or
/// not, the same stories.
#[test]
fn a_restart_during_a_backlog_changes_no_story() {
    for file in ["items.json", "realnews.json", "realnews-blind5.json"] {
        let three_hours = |c: &mut newsdesk::config::Config| c.dedup.window = std::time::Duration::from_secs(3 * 3600);
        let run = |restart_every| {
            with_restarts(file, three_hours, restart_every, |items| {
                let week_later = items.iter().map(|i| i.published).max().unwrap() + 7 * 86_400;
                let mut order: Vec<&evalset::EvalItem> = items.iter().collect();
                evalset::Rng(0x0005_EED0_FBAC_4106).shuffle(&mut order);
                let ingest = move |desk: &Desk, i: &evalset::EvalItem| {
                    desk.ingest(&i.source, &i.feed(), week_later).unwrap();
                };
                order.into_iter().map(|i| Box::new(move |desk: &Desk| ingest(desk, i)) as Step).collect()
            })
        };
        assert_restarts_change_nothing(file, &run(0), &run(25));
    }
}

/// One step of a run: what one poll (or one item) brings, ingested.
type Step<'a> = Box<dyn FnOnce(&Desk) + 'a>;

/// `file`'s items through the steps `make` gives, into a desk over a fresh
/// store (its configuration changed by `edit`), dropped and opened again
/// before every `restart_every`-th step (never when 0). Item key → story.
fn with_restarts(
    file: &str,
    edit: impl Fn(&mut newsdesk::config::Config),
    restart_every: usize,
    make: impl for<'a> Fn(&'a [evalset::EvalItem]) -> Vec<Step<'a>>,
) -> BTreeMap<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let (mut config, items) = evalset::load_set(dir.path(), file);
    edit(&mut config);
    let (config, path) = (Arc::new(config), dir.path().join("data"));
    let mut desk = Desk::new(Store::open(&path).unwrap(), config.clone()).unwrap();
    for (n, step) in make(&items).into_iter().enumerate() {
        if restart_every > 0 && n > 0 && n % restart_every == 0 {
            drop(desk);
            desk = Desk::new(Store::open(&path).unwrap(), config.clone()).unwrap();
        }
        step(&desk);
    }
    items.iter().map(|i| (i.key(), desk.store.item(&i.key()).unwrap().unwrap().story)).collect()
}

/// A run restarted decided every pair of items as the one that ran throughout.
fn assert_restarts_change_nothing(
    file: &str,
    throughout: &BTreeMap<String, String>,
    restarted: &BTreeMap<String, String>,
) {
    let stories = throughout.values().collect::<std::collections::BTreeSet<_>>().len();
    assert!(stories < throughout.len(), "{file}: joins");
    let (differ, pairs) = evalset::pairs_differing(throughout, restarted);
    assert_eq!(differ, 0, "{file}: {differ} of {pairs} pairs decided otherwise after restarts");
}

/// One entry of a feed, as a poll parses it.
fn entry(guid: &str, link: &str, title: &str, at: i64) -> newsdesk::parse::Entry {
    newsdesk::parse::Entry {
        guid: Some(guid.into()),
        title: title.into(),
        link: Some(format!("https://news.example/{link}")),
        summary: newsdesk::parse::Summary::from_html("", None),
        author: None,
        categories: vec![],
        language: Some("en".into()),
        feed_date: Some(at),
    }
}

/// A feed of one entry.
fn feed(e: newsdesk::parse::Entry) -> newsdesk::parse::Feed {
    newsdesk::parse::Feed { title: None, language: None, ttl: None, entries: vec![e], dropped: Default::default() }
}

/// The steps `run` takes, on a desk over a fresh store with the labelled
/// set's sources (English ones first) and a dedup window of 3 hours,
/// restarted between its two halves or not: whether the items `x` and `y`
/// are one story (source index, guid each).
fn one_story_either_way(
    first: impl Fn(&Desk, &[&newsdesk::config::Source], i64),
    then: impl Fn(&Desk, &[&newsdesk::config::Source], i64),
    x: (usize, &str),
    y: (usize, &str),
) -> [bool; 2] {
    [false, true].map(|restart| {
        let dir = tempfile::tempdir().unwrap();
        let (mut config, items) = evalset::load_set(dir.path(), "items.json");
        config.dedup.window = std::time::Duration::from_secs(3 * 3600);
        let (config, path) = (Arc::new(config), dir.path().join("data"));
        let mut sources = evalset::sources(&items);
        // English ones first: reports compared in one language.
        sources.sort_by_key(|s| s.language.as_deref() != Some("en"));
        let t = items[0].published;
        let mut desk = Desk::new(Store::open(&path).unwrap(), config.clone()).unwrap();
        first(&desk, &sources, t);
        if restart {
            drop(desk);
            desk = Desk::new(Store::open(&path).unwrap(), config.clone()).unwrap();
        }
        then(&desk, &sources, t);
        story_of(&desk, sources[x.0], x.1) == story_of(&desk, sources[y.0], y.1)
    })
}

/// The story `guid` of `source` is in.
fn story_of(desk: &Desk, source: &newsdesk::config::Source, guid: &str) -> String {
    let key = newsdesk::parse::identity::item_key(&source.id, &format!("g:{guid}"));
    desk.store.item(&key).unwrap().unwrap().story
}

/// An edited report (its outlet rewrote the headline) is compared as
/// edited, restarted or not: a report of what the edit says joins it.
#[test]
fn an_edited_report_is_compared_as_edited() {
    let joined = one_story_either_way(
        |desk, s, t| {
            desk.ingest(s[0], &feed(entry("x1", "x1", "Council agenda published for Tuesday's meeting", t)), t + 60)
                .unwrap();
            let edited = entry("x1", "x1", "Harbour bridge closed after cargo ship strikes pylon", t);
            assert_eq!(desk.ingest(s[0], &feed(edited), t + 120).unwrap().updated, 1);
        },
        |desk, s, t| {
            let report = entry("y1", "y1", "Cargo ship strikes harbour bridge pylon, bridge closed", t + 300);
            desk.ingest(s[1], &feed(report), t + 360).unwrap();
        },
        (0, "x1"),
        (1, "y1"),
    );
    assert_eq!(joined, [true, true], "the report of the edit joins the edited one, without a restart and after one");
}

/// A report that joins by its link a story from before the window (nine
/// hours old, with a 3-hour window) is held as a restart would hold it:
/// whether the next report of what it says joins it does not depend on a
/// restart. (Before session 13 the running index started the old story
/// afresh with the report, and a restart held no such story.)
#[test]
fn a_link_join_to_an_old_story_is_held_as_after_a_restart() {
    let nine_hours = 9 * 3600;
    let joined = one_story_either_way(
        |desk, s, t| {
            let old = entry("x1", "shared", "Council agenda published for Tuesday's meeting", t);
            desk.ingest(s[0], &feed(old), t + 60).unwrap();
            let late = entry("y1", "shared", "Harbour bridge closed after cargo ship strikes pylon", t + nine_hours);
            desk.ingest(s[1], &feed(late), t + nine_hours + 60).unwrap();
            assert_eq!(story_of(desk, s[0], "x1"), story_of(desk, s[1], "y1"), "joined by the link");
        },
        |desk, s, t| {
            let next =
                entry("z1", "z1", "Cargo ship strikes harbour bridge pylon, bridge closed", t + nine_hours + 300);
            desk.ingest(s[2], &feed(next), t + nine_hours + 360).unwrap();
        },
        (1, "y1"),
        (2, "z1"),
    );
    assert_eq!(joined[0], joined[1], "restarted or not, the same stories");
}

/// A story keeps at most 160 words, the first in publication order, as a
/// read from the store gives them: twelve reports of one event, each with a
/// lead of its own words, come in reverse order, and a report that shares
/// only the eleventh's lead (and two words of the headline) is judged the
/// same way whether or not the desk restarted. (Without the story being
/// read again, the running desk kept the first words that came, the
/// eleventh's among them, and the report joined it; after a restart it did
/// not.)
#[test]
fn a_story_past_its_word_bound_is_held_as_after_a_restart() {
    let made_up = |i: usize, w: usize| format!("zor{}{}", (b'a' + i as u8) as char, (b'a' + w as u8) as char);
    let lead = |i: usize| (0..25).map(|w| made_up(i, w)).collect::<Vec<_>>().join(" ");
    let title = "Harbour bridge closed after cargo ship strikes pylon";
    let joined = one_story_either_way(
        |desk, s, t| {
            for i in (0..12).rev() {
                let mut e = entry(&format!("r{i}"), &format!("r{i}"), title, t + i as i64 * 60);
                e.summary = newsdesk::parse::Summary::from_html(&format!("<p>{}.</p>", lead(i)), None);
                desk.ingest(s[i % 2], &feed(e), t + 900).unwrap();
            }
            assert_eq!(story_of(desk, s[1], "r11"), story_of(desk, s[0], "r0"), "the twelve reports are one story");
        },
        |desk, s, t| {
            let words: Vec<String> = (0..14).map(|w| made_up(10, w)).collect();
            let probe = entry("p1", "p1", &format!("Harbour pylon {}", words.join(" ")), t + 960);
            desk.ingest(s[2], &feed(probe), t + 1000).unwrap();
        },
        (0, "r0"),
        (2, "p1"),
    );
    assert_eq!(joined[0], joined[1], "restarted or not, the same stories");
}

/// The order of the entries within a document changes no story: every
/// source of a set polled once, its whole backlog in one document (a new
/// source's first poll, a catch-up after downtime), the entries oldest
/// first or newest first (as most feeds list them). An ingest places a
/// document's new entries in the order they were published.
#[test]
fn the_order_of_a_documents_entries_changes_no_story() {
    for file in ["realnews.json", "realnews-blind5.json"] {
        let run = |newest_first: bool| {
            let dir = tempfile::tempdir().unwrap();
            let (config, items) = evalset::load_set(dir.path(), file);
            let now = items.iter().map(|i| i.published).max().unwrap() + 600;
            let desk = Desk::new(Store::open(&config.storage.path).unwrap(), Arc::new(config)).unwrap();
            for source in evalset::sources(&items) {
                let mut feed = items[0].feed();
                feed.entries =
                    items.iter().filter(|i| i.source.id == source.id).flat_map(|i| i.feed().entries).collect();
                if newest_first {
                    feed.entries.reverse();
                }
                desk.ingest(source, &feed, now).unwrap();
            }
            items.iter().map(|i| (i.key(), desk.store.item(&i.key()).unwrap().unwrap().story)).collect()
        };
        let (oldest_first, newest_first) = (run(false), run(true));
        let (differ, pairs) = evalset::pairs_differing(&oldest_first, &newest_first);
        assert_eq!(differ, 0, "{file}: {differ} of {pairs} pairs decided otherwise");
    }
}

/// A desk that was down: the polls due from `from` to `to` (minutes) are
/// not made, and at `to` every source is polled once, bringing all it
/// published meanwhile in one document (newest first); the sources in the
/// order a seed gives. Returns the polls, the catch-up's minute first among
/// those of `to`.
fn with_downtime(
    polls: Vec<(i64, Vec<Vec<&evalset::EvalItem>>)>,
    (from, to): (i64, i64),
    seed: u64,
) -> Vec<(i64, Vec<Vec<&evalset::EvalItem>>)> {
    let mut missed: BTreeMap<String, Vec<&evalset::EvalItem>> = BTreeMap::new();
    let mut out = Vec::new();
    for (minute, due) in polls {
        if (from..to).contains(&minute) {
            for batch in due {
                missed.entry(batch[0].source.id.clone()).or_default().extend(batch);
            }
            continue;
        }
        if minute >= to && !missed.is_empty() {
            let mut catch_up: Vec<Vec<&evalset::EvalItem>> = std::mem::take(&mut missed).into_values().collect();
            evalset::Rng(seed).shuffle(&mut catch_up);
            // Newest first, as feeds list them.
            catch_up.iter_mut().for_each(|document| document.reverse());
            out.push((to, catch_up));
        }
        out.push((minute, due));
    }
    out
}

/// A desk that was down for a day or three, then catches up (see
/// `with_downtime`), decides exactly as one that polled live throughout:
/// the catch-up's documents are stored as one round (`Desk::ingest_round`,
/// as the daemon does with the sources overdue when it starts), every
/// entry in publication order. Stored one document after another instead,
/// as before session 14, the stories differ (printed, bounded at 1 %): up
/// to 65 of a set's pairs (realnews-fresh.json after three days; 14 of
/// realnews.json's 38,781, 22 of the fifth set's 35,511), mostly reports
/// one desk joined and the other left just under the threshold.
#[test]
fn a_catch_up_after_downtime_decides_as_live_polls_did() {
    let sets = ["items.json", "realnews.json", "realnews-heldout.json", "realnews-fresh.json"];
    let mut one_by_one = 0;
    for file in sets.into_iter().chain(["realnews-blind4.json", "realnews-blind5.json"]) {
        let run = |downtime: Option<i64>, round: bool| {
            let dir = tempfile::tempdir().unwrap();
            let (config, items) = evalset::load_set(dir.path(), file);
            let desk = Desk::new(Store::open(&config.storage.path).unwrap(), Arc::new(config)).unwrap();
            let polls = evalset::live_polls(&items, 1);
            let start = items[0].published / 60 + 12 * 60;
            let (polls, back) = match downtime {
                Some(days) => (with_downtime(polls, (start, start + days * 24 * 60), 7), start + days * 24 * 60),
                None => (polls, i64::MIN),
            };
            let mut caught_up = false;
            for minute in polls {
                if round && minute.0 == back && !std::mem::replace(&mut caught_up, true) {
                    evalset::ingest_as_round(&desk, minute);
                } else {
                    evalset::ingest_in_order(&desk, minute);
                }
            }
            assert!(downtime.is_none() || !round || caught_up, "the catch-up was a round");
            items.iter().map(|i| (i.key(), desk.store.item(&i.key()).unwrap().unwrap().story)).collect()
        };
        let live: BTreeMap<String, String> = run(None, false);
        for days in [1, 3] {
            let (differ, pairs) = evalset::pairs_differing(&live, &run(Some(days), true));
            println!(
                "{file}, down {days} day(s), caught up as a round: {differ} of {pairs} item pairs decided otherwise"
            );
            assert_eq!(differ, 0, "{file}, down {days} day(s): {differ} of {pairs} pairs");
            let (differ, pairs) = evalset::pairs_differing(&live, &run(Some(days), false));
            println!("{file}, down {days} day(s), one document after another: {differ} of {pairs} decided otherwise");
            assert!(differ * 100 < pairs, "{file}, down {days} day(s), one by one: {differ} of {pairs} pairs");
            one_by_one += differ;
        }
    }
    assert!(one_by_one > 0, "the catch-ups stored one document after another differ somewhere: the test can tell");
}
