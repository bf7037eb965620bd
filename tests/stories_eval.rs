//! The labelled evaluation set (tests/data/eval, written by the team): every
//! item through identify → cluster → categorise → store, in publication order,
//! then the produced stories compared with the labels: pairwise precision and
//! recall of the clustering, section accuracy, breaking precision and recall.

mod evalset;

use newsdesk::parse::normalize;
use newsdesk::pipeline::Desk;
use newsdesk::store::Store;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

struct Outcome {
    precision: f64,
    recall: f64,
    clusters: Clusters,
    section_accuracy: f64,
    breaking_precision: f64,
    breaking_recall: f64,
}

fn evaluate() -> Outcome {
    evaluate_set("items.json")
}

fn evaluate_set(file: &str) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let (mut config, eval) = evalset::load_set(dir.path(), file);
    if let Some(s) = std::env::var("EVAL_SIM").ok().and_then(|s| s.parse().ok()) {
        config.dedup.similarity = s;
    }
    let desk = Desk::new(Store::open(&config.storage.path).unwrap(), Arc::new(config.clone())).unwrap();
    let items: Vec<&Value> = eval.iter().map(|i| &i.raw).collect();
    // item id → produced story id
    let mut produced: HashMap<String, String> = HashMap::new();
    for i in &eval {
        // Polled ten minutes after publication.
        desk.ingest(&i.source, &i.feed(), i.published + 600).unwrap();
    }
    // `EVAL_SETTLE=1`: the figures once settled (`Desk::settle`).
    if std::env::var_os("EVAL_SETTLE").is_some() {
        desk.settle(eval.iter().map(|i| i.published).max().unwrap_or(0) + 600).unwrap();
    }
    // The stories as they stand at the end (merges move items).
    for i in &eval {
        let item = desk.store.item(&i.key()).unwrap().expect("stored");
        produced.insert(i.id.clone(), item.story);
    }
    // `EVAL_DUMP=file`: item id → produced story id, for looking into misses.
    if let Some(path) = std::env::var_os("EVAL_DUMP") {
        std::fs::write(path, serde_json::to_vec_pretty(&produced).unwrap()).unwrap();
    }
    // Pairwise precision and recall.
    let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
    for (i, a) in items.iter().enumerate() {
        for b in &items[i + 1..] {
            let gold = a["story"] == b["story"];
            let got = produced[a["id"].as_str().unwrap()] == produced[b["id"].as_str().unwrap()];
            match (gold, got) {
                (true, true) => tp += 1,
                (false, true) => fp += 1,
                (true, false) => fn_ += 1,
                _ => {}
            }
        }
    }
    // Per gold story: the produced story of its first item.
    let mut firsts: Vec<&Value> = Vec::new();
    let mut seen = HashSet::new();
    for v in &items {
        if seen.insert(v["story"].as_str().unwrap()) {
            firsts.push(v);
        }
    }
    let mut sections_right = 0;
    let (mut btp, mut bfp, mut bfn) = (0usize, 0usize, 0usize);
    for v in &firsts {
        let story = desk.store.story(&produced[v["id"].as_str().unwrap()]).unwrap().unwrap();
        let gold: HashSet<&str> = v["sections"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
        let got: HashSet<&str> = story.sections.iter().map(String::as_str).collect();
        if gold == got {
            sections_right += 1;
        } else if std::env::var_os("EVAL_PAIRS").is_some() {
            println!("SECTIONS gold {gold:?} got {got:?}: {}", v["title"]);
        }
        match std::env::var("EVAL_SECTIONS").as_deref() {
            Ok("all") => explain_sections(&desk, &eval, v, &gold, &got),
            Ok(_) if gold != got => explain_sections(&desk, &eval, v, &gold, &got),
            _ => {}
        }
        if v["breaking"].as_bool().unwrap() != story.breaking && std::env::var_os("EVAL_PAIRS").is_some() {
            println!("BREAKING gold {} got {}: {}", v["breaking"], story.breaking, v["title"]);
        }
        match (v["breaking"].as_bool().unwrap(), story.breaking) {
            (true, true) => btp += 1,
            (false, true) => bfp += 1,
            (true, false) => bfn += 1,
            _ => {}
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    let clusters = clustering_figures(&items, &produced, data_lookalikes(file));
    let out = Outcome {
        precision: ratio(tp, tp + fp),
        recall: ratio(tp, tp + fn_),
        clusters,
        section_accuracy: ratio(sections_right, firsts.len()),
        breaking_precision: ratio(btp, btp + bfp),
        breaking_recall: ratio(btp, btp + bfn),
    };
    println!(
        "eval ({file}): {} items, {} gold stories, {} produced stories",
        items.len(),
        firsts.len(),
        produced.values().collect::<HashSet<_>>().len()
    );
    println!(
        "clustering: pairwise precision {:.3}, recall {:.3} ({tp} true pairs, {fp} false, {fn_} missed)",
        out.precision, out.recall
    );
    println!(
        "sections: accuracy {:.3}; breaking: precision {:.3}, recall {:.3}",
        out.section_accuracy, out.breaking_precision, out.breaking_recall
    );
    let c = &out.clusters;
    println!(
        "clustering: B-cubed precision {:.3}, recall {:.3}; outlet coverage {:.3} ({} multi-outlet events); look-alike pairs merged {} of {}",
        c.bcubed_precision, c.bcubed_recall, c.outlet_coverage, c.multi_outlet_events, c.lookalikes_merged, c.lookalikes
    );
    out
}

/// The figures of the stories issue beyond pairwise precision and recall.
#[derive(Debug, Default)]
struct Clusters {
    bcubed_precision: f64,
    bcubed_recall: f64,
    /// Per gold event carried by two or more outlets: the share of its outlets
    /// found in the produced story holding most of its outlets, averaged.
    outlet_coverage: f64,
    multi_outlet_events: usize,
    lookalikes: usize,
    /// Look-alike pairs (different events) that share a produced story.
    lookalikes_merged: usize,
}

/// The set's `lookalikes`: pairs of gold event labels that must stay apart.
fn data_lookalikes(file: &str) -> Vec<(String, String)> {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/eval");
    let data: Value = serde_json::from_slice(&std::fs::read(root.join(file)).unwrap()).unwrap();
    let pairs = data["lookalikes"].as_array().cloned().unwrap_or_default();
    pairs.iter().map(|p| (p[0].as_str().unwrap().to_string(), p[1].as_str().unwrap().to_string())).collect()
}

fn clustering_figures(
    items: &[&Value],
    produced: &HashMap<String, String>,
    lookalikes: Vec<(String, String)>,
) -> Clusters {
    let id = |v: &Value| v["id"].as_str().unwrap().to_string();
    let gold = |v: &Value| v["story"].as_str().unwrap().to_string();
    let mut by_gold: HashMap<String, Vec<&Value>> = HashMap::new();
    let mut by_produced: HashMap<&str, Vec<&Value>> = HashMap::new();
    for v in items {
        by_gold.entry(gold(v)).or_default().push(v);
        by_produced.entry(produced[&id(v)].as_str()).or_default().push(v);
    }
    let (mut p, mut r) = (0.0, 0.0);
    for v in items {
        let mine = &by_produced[produced[&id(v)].as_str()];
        let both = mine.iter().filter(|o| gold(o) == gold(v)).count() as f64;
        p += both / mine.len() as f64;
        r += both / by_gold[&gold(v)].len() as f64;
    }
    let (mut coverage, mut multi) = (0.0, 0usize);
    for members in by_gold.values() {
        let outlets: HashSet<&str> = members.iter().map(|v| v["source"].as_str().unwrap()).collect();
        if outlets.len() < 2 {
            continue;
        }
        let mut per_story: HashMap<&str, HashSet<&str>> = HashMap::new();
        for v in members {
            per_story.entry(produced[&id(v)].as_str()).or_default().insert(v["source"].as_str().unwrap());
        }
        let best = per_story.values().map(HashSet::len).max().unwrap_or(0);
        coverage += best as f64 / outlets.len() as f64;
        multi += 1;
    }
    let stories_of = |event: &str| -> HashSet<&str> {
        by_gold.get(event).map(|m| m.iter().map(|v| produced[&id(v)].as_str()).collect()).unwrap_or_default()
    };
    let merged = lookalikes.iter().filter(|(a, b)| !stories_of(a).is_disjoint(&stories_of(b))).count();
    if std::env::var_os("EVAL_PAIRS").is_some() {
        for (a, b) in lookalikes.iter().filter(|(a, b)| !stories_of(a).is_disjoint(&stories_of(b))) {
            let titles =
                |e: &str| by_gold[e].iter().map(|v| v["title"].as_str().unwrap()).collect::<Vec<_>>().join(" | ");
            println!("LOOKALIKE MERGED {a} / {b}:\n  {}\n  {}", titles(a), titles(b));
        }
    }
    let n = items.len().max(1) as f64;
    Clusters {
        bcubed_precision: p / n,
        bcubed_recall: r / n,
        outlet_coverage: if multi == 0 { 1.0 } else { coverage / multi as f64 },
        multi_outlet_events: multi,
        lookalikes: lookalikes.len(),
        lookalikes_merged: merged,
    }
}

/// `EVAL_SECTIONS=1`: a misfiled story's gold and produced sections, and for
/// each item of the gold story, why each section it got was given (source,
/// feed category, keyword with the word, fallback), wrong ones marked `+`, and
/// the gold sections no item got marked `-`.
fn explain_sections(desk: &Desk, eval: &[evalset::EvalItem], first: &Value, gold: &HashSet<&str>, got: &HashSet<&str>) {
    use newsdesk::text;
    let categorizer = newsdesk::categorize::Categorizer::new(&desk.config());
    let story = first["story"].as_str().unwrap();
    let mut missing: Vec<&&str> = gold.difference(got).collect();
    missing.sort();
    let mut extra: Vec<&&str> = got.difference(gold).collect();
    extra.sort();
    let ok = if gold == got { "ok" } else { "MISFILED" };
    println!("SECTIONS {ok} {story} gold {gold:?} got {got:?} missing {missing:?} extra {extra:?}");
    for i in eval.iter().filter(|i| i.raw["story"] == story) {
        let v = &i.raw;
        let title = normalize::plain_text(v["title"].as_str().unwrap());
        let summary = normalize::strip_tags(&normalize::summary_html(v["summary"].as_str().unwrap(), None));
        let folded = text::fold(&format!("{title} {summary}"));
        let categories: Vec<String> =
            v["categories"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
        println!("  {} {} {title:?} cats {categories:?}", i.id, i.source.id);
        println!("     {summary}");
        for (section, why) in categorizer.explain_sections(&i.source.id, &text::split_folded(&folded), &categories) {
            let mark = if gold.contains(section.as_str()) { " " } else { "+" };
            println!("    {mark} {section}: {why}");
        }
    }
}

/// Today's figures as a floor, so a change that makes clustering worse fails.
/// (Measured 2026-11-28, with the concept table and the calibrated scale:
/// precision 1.000, recall 0.859, sections 0.967 (0.856 before passing
/// mentions, keyword plurals and the added vocabulary, 0.944 before the
/// section vocabulary was widened; README "How items are filed into
/// sections"), breaking precision 1.000, recall 1.000.) Sections are held to
/// the target, 0.95.
#[test]
fn clustering_does_not_regress() {
    let o = evaluate();
    assert!(o.precision >= 0.95, "pairwise precision {:.3} below 0.95", o.precision);
    assert!(o.recall >= 0.85, "pairwise recall {:.3} fell below 0.85", o.recall);
    assert!(o.section_accuracy >= 0.95, "section accuracy {:.3} below the 0.95 target", o.section_accuracy);
    assert!(
        o.breaking_precision >= 0.95 && o.breaking_recall >= 0.95,
        "breaking {:.3}/{:.3}",
        o.breaking_precision,
        o.breaking_recall
    );
}

/// Section filing on the held-out set (tests/data/eval/heldout.json: 46
/// invented items in 40 stories, written before the filing rules were changed
/// and not used to choose them), printed beside the main figure. Measured
/// 2026-11-28: 0.700 before those changes, 0.775 after, 0.900 after the
/// section vocabulary was widened (its misses were known then, so this set is
/// no longer blind: the second held-out set below is). The floor sits a little
/// below, so a change that files worse on unseen items fails.
#[test]
fn sections_on_the_held_out_set() {
    let o = evaluate_set("heldout.json");
    assert!(o.section_accuracy >= 0.87, "held-out section accuracy {:.3} fell below 0.87", o.section_accuracy);
}

/// Section filing on the second held-out set (tests/data/eval/heldout2.json:
/// 48 invented items in 43 stories, written and committed before the
/// vocabulary of config.toml was widened, so its figure is a blind check of
/// that change), printed beside the others. Measured 2026-11-28 before the
/// change: 0.605 (26 of 43); after it, 0.884 (38 of 43). The floor sits a
/// little below.
#[test]
fn sections_on_the_second_held_out_set() {
    let o = evaluate_set("heldout2.json");
    assert!(o.section_accuracy >= 0.86, "second held-out section accuracy {:.3} fell below 0.86", o.section_accuracy);
}

/// The targets of the stories issue on this set: pairwise precision 0.95 and
/// recall 0.90 (0.944 with 8 probe words).
/// `cargo test --test stories_eval -- --nocapture` prints the figures.
#[test]
fn clustering_meets_the_labelled_targets() {
    let o = evaluate();
    assert!(o.precision >= 0.95, "pairwise precision {:.3} below 0.95", o.precision);
    assert!(o.recall >= 0.90, "pairwise recall {:.3} below 0.90", o.recall);
}

/// A look at separability, for tuning: every pair of items inside the dedup
/// window scored against each other (word weights from the whole set), and
/// the best threshold's precision and recall. Run with
/// `cargo test --test stories_eval pair_scores -- --ignored --nocapture`;
/// `EVAL_PAIRS=1` also prints the missed and the wrongly joined pairs.
#[test]
#[ignore = "a tuning aid, not a check"]
fn pair_scores() {
    use newsdesk::categorize::{Categorizer, ItemText};
    use newsdesk::stories::{signature, StoryIndex};
    let dir = tempfile::tempdir().unwrap();
    let set = std::env::var("EVAL_SET").unwrap_or_else(|_| "items.json".into());
    let (config, eval) = evalset::load_set(dir.path(), &set);
    let categorizer = Categorizer::new(&config);
    let items: Vec<&Value> = eval.iter().map(|i| &i.raw).collect();
    let time = |v: &Value| chrono::DateTime::parse_from_rfc3339(v["published"].as_str().unwrap()).unwrap().timestamp();
    let sigs: Vec<_> = items
        .iter()
        .map(|v| {
            let title = normalize::plain_text(v["title"].as_str().unwrap());
            let summary = normalize::strip_tags(&normalize::summary_html(v["summary"].as_str().unwrap(), None));
            let categories: Vec<String> =
                v["categories"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
            let source = v["source"].as_str().unwrap();
            let filing =
                categorizer.file(&ItemText { source, title: &title, summary: &summary, categories: &categories });
            let mut sig = signature(&title, &summary, filing.places);
            sig.regions = filing.place_regions;
            sig.source = source.to_string();
            sig.language = config.source(source).and_then(|s| s.language.clone()).unwrap_or_default();
            sig
        })
        .collect();
    let mut idx = StoryIndex::default();
    for (i, s) in sigs.iter().enumerate() {
        idx.add(&format!("{i}"), 0, s.clone());
    }
    let window = config.dedup.window.as_secs() as i64;
    let mut scored: Vec<(f64, bool, usize, usize)> = Vec::new();
    for i in 0..items.len() {
        for j in i + 1..items.len() {
            if (time(items[i]) - time(items[j])).abs() > window {
                continue;
            }
            let gold = items[i]["story"] == items[j]["story"];
            scored.push((idx.similarity(&sigs[i], &sigs[j]), gold, i, j));
        }
    }
    let gold_total = scored.iter().filter(|s| s.1).count();
    let mut best = (0.0, 0.0, 0.0);
    for step in 1..100 {
        let t = step as f64 / 100.0;
        let tp = scored.iter().filter(|s| s.1 && s.0 >= t).count() as f64;
        let fp = scored.iter().filter(|s| !s.1 && s.0 >= t).count() as f64;
        let p = if tp + fp > 0.0 { tp / (tp + fp) } else { 1.0 };
        let r = tp / gold_total as f64;
        if p >= 0.95 && r > best.2 {
            best = (t, p, r);
        }
        if step % 10 == 0 {
            println!("threshold {t:.2}: pair precision {p:.3}, recall {r:.3}");
        }
    }
    println!("best threshold with precision >= 0.95: {:.2} (precision {:.3}, recall {:.3})", best.0, best.1, best.2);
    // `EVAL_EXPLAIN=x001,x011`: every scored pair touching those events, with
    // what each signature carries.
    if let Ok(events) = std::env::var("EVAL_EXPLAIN") {
        let wanted: Vec<&str> = events.split(',').collect();
        let show = |i: usize| {
            let s = &sigs[i];
            format!(
                "{} [{}] names {:?} places {:?} figures {:?} tokens {:?}",
                items[i]["id"], items[i]["story"], s.names, s.places, s.figures, s.tokens
            )
        };
        for (s, gold, i, j) in &scored {
            let touches = |k: usize| wanted.contains(&items[k]["story"].as_str().unwrap_or(""));
            if touches(*i) || touches(*j) {
                if !gold && *s < 0.3 {
                    continue;
                }
                println!("{s:.2} gold={gold}\n  {}\n  {}", show(*i), show(*j));
            }
        }
    }
    if std::env::var_os("EVAL_PAIRS").is_some() {
        let t = config.dedup.similarity;
        let title = |i: usize| items[i]["title"].as_str().unwrap().chars().take(70).collect::<String>();
        for (s, gold, i, j) in &scored {
            if *gold && *s < t {
                println!("MISS {s:.2} {} || {}", title(*i), title(*j));
            } else if !gold && *s >= t * 0.7 {
                println!("NEAR-FALSE {s:.2} {} || {}", title(*i), title(*j));
            }
        }
    }
}

/// Clustering on `realnews.json`: 279 items in 98 events written the way real
/// outlets write (headlines that share only names and a rare word, multi-day
/// developments, live blogs, re-headlined agency copy, 24 look-alike pairs),
/// the set the clustering is tuned on. Its figure before any tuning (blind,
/// with the code of d7a015d) is in tests/data/eval/README.md.
#[test]
fn clustering_on_the_realistic_set() {
    let o = evaluate_set("realnews.json");
    check_realistic(&o.clusters, o.recall, 0);
}

/// The same on `realnews-heldout.json` (187 items in 68 events, by another
/// writer), never looked at while tuning.
#[test]
fn clustering_on_the_held_out_realistic_set() {
    let o = evaluate_set("realnews-heldout.json");
    check_realistic(&o.clusters, o.recall, 1);
}

/// Floors a little under today's figures (B-cubed precision 1.000 tuning,
/// 0.963 held out; B-cubed recall 0.894 / 0.898; pairwise recall 0.844 /
/// 0.864; outlet coverage 0.904 / 0.892; look-alikes merged 0 / 1), so a
/// change that makes clustering worse fails.
fn check_realistic(c: &Clusters, pairwise_recall: f64, lookalikes_allowed: usize) {
    assert!(c.bcubed_precision >= 0.95, "B-cubed precision {:.3} below 0.95", c.bcubed_precision);
    assert!(c.bcubed_recall >= 0.88, "B-cubed recall {:.3} fell below 0.88", c.bcubed_recall);
    assert!(pairwise_recall >= 0.83, "pairwise recall {pairwise_recall:.3} fell below 0.83");
    assert!(c.outlet_coverage >= 0.88, "outlet coverage {:.3} fell below 0.88", c.outlet_coverage);
    assert!(c.lookalikes_merged <= lookalikes_allowed, "{} look-alike pairs merged", c.lookalikes_merged);
}

/// The same on `realnews-fresh.json` (249 items in 73 events, by a third
/// writer blind to the clustering), committed before it was measured. Blind
/// (06e7e3c): B-cubed 0.982 / 0.774, pairwise 0.935 / 0.593, outlet coverage
/// 0.855, 0 of 25 look-alike pairs merged. After figures conflicting in two
/// roles, or in one beside a place: 0.978 / 0.805, 0.941 / 0.690, 0.865, 0
/// of 25. After 8 probe words and the threshold calibrated again (chosen on
/// the other two sets, then measured here once): 0.962 / 0.839, 0.913 /
/// 0.754, 0.898, 2 of 25 (two central banks' cuts worded alike; two US
/// wildfires). After a report's names counting as met where the other
/// mentions them, a report that names no place taking its story's, the
/// item joining the story it is most alike to rather than the oldest, and
/// reports in other languages needing a shared place or name when the story
/// has one in the item's (all chosen on the other two sets, then measured
/// here once): 0.940 / 0.884, 0.836 / 0.848, 0.917, 0 of 25. After roundups
/// were kept apart (chosen on the fourth set): 0.940 / 0.888, 0.837 /
/// 0.854, 0.917, 0 of 25. After the threshold was calibrated again on the
/// four other realistic sets (`CALIBRATION` in `src/stories/index.rs`):
/// 0.961 / 0.850, 0.896 / 0.727, 0.908, 0 of 25: the targets
/// (B-cubed 0.95 / 0.80, pairwise recall 0.70, coverage 0.85, no look-alike
/// merged) are met. Floors a little under.
#[test]
fn clustering_on_the_fresh_realistic_set() {
    let o = evaluate_set("realnews-fresh.json");
    let floors = Floors { precision: 0.95, recall: 0.83, pairwise_recall: 0.70, coverage: 0.88, lookalikes: 0 };
    assert_floors(&o, &floors);
}

/// The same on `realnews-blind4.json` (259 items in 74 events, by a fourth
/// writer blind to the clustering, committed before it was measured, never
/// looked at since). Blind, on this session's code: B-cubed 0.956 / 0.888,
/// pairwise 0.903 / 0.842, outlet coverage 0.936, 1 of 23 look-alike pairs
/// merged; on the session's first code (fed3648), measured the same day:
/// 0.960 / 0.844, 0.916 / 0.785, 0.899, 1 of 23. Then its errors were
/// looked at (so it is blind no more): three of its market wraps and
/// morning notes had joined an event they list. With roundups kept apart
/// (`stories::signature::is_roundup`): 0.981 / 0.888, 0.953 / 0.842, 0.936,
/// 1 of 23. Floors a little under.
#[test]
fn clustering_on_the_fourth_realistic_set() {
    let o = evaluate_set("realnews-blind4.json");
    let floors = Floors { precision: 0.97, recall: 0.87, pairwise_recall: 0.82, coverage: 0.92, lookalikes: 1 };
    assert_floors(&o, &floors);
}

/// The same on `realnews-blind5.json` (267 items in 72 events, 28 look-alike
/// pairs, half of them one person, company or place in two events; by a
/// fifth writer blind to the clustering, committed before it was measured).
/// Blind, on session 9's code (5460b87, the same figures as 064fe6b):
/// B-cubed 0.927 / 0.867, pairwise 0.820 / 0.789, outlet coverage 0.907,
/// 4 of 28 look-alike pairs merged. Then looked at (so blind no more) and
/// used with the other three realistic sets to calibrate the threshold
/// again: 0.949 / 0.865, 0.867 / 0.773, 0.905, 3 of 28 (one minister's
/// resignation and his president's rail plan two days later; a rival's car
/// launch naming the first; a Lagos doctors' strike and a Lagos building
/// collapse on one day). Floors a little under.
#[test]
fn clustering_on_the_fifth_realistic_set() {
    let o = evaluate_set("realnews-blind5.json");
    let floors = Floors { precision: 0.94, recall: 0.85, pairwise_recall: 0.76, coverage: 0.89, lookalikes: 3 };
    assert_floors(&o, &floors);
}

/// The least a realistic set must score: B-cubed precision and recall,
/// pairwise recall, outlet coverage, and the most look-alike pairs merged.
struct Floors {
    precision: f64,
    recall: f64,
    pairwise_recall: f64,
    coverage: f64,
    lookalikes: usize,
}

fn assert_floors(o: &Outcome, f: &Floors) {
    let c = &o.clusters;
    assert!(c.bcubed_precision >= f.precision, "B-cubed precision {:.3} below {}", c.bcubed_precision, f.precision);
    assert!(c.bcubed_recall >= f.recall, "B-cubed recall {:.3} fell below {}", c.bcubed_recall, f.recall);
    assert!(o.recall >= f.pairwise_recall, "pairwise recall {:.3} fell below {}", o.recall, f.pairwise_recall);
    assert!(c.outlet_coverage >= f.coverage, "outlet coverage {:.3} fell below {}", c.outlet_coverage, f.coverage);
    assert!(c.lookalikes_merged <= f.lookalikes, "{} look-alike pairs merged", c.lookalikes_merged);
}
