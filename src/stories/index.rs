//! The stories inside the dedup window, held in memory with an inverted index
//! so that a new item finds its candidates without a scan: it looks only at
//! the stories that share one of its rarest words.

use super::signature::Signature;
use crate::model::Timestamp;
use std::collections::{BTreeSet, HashSet};
use xxhash_rust::xxh3::Xxh3Builder;

/// Hash maps on the hot path: SipHash costs more than the lookups it guards,
/// and these keys are not attacker-chosen in a way that matters (a flood of
/// colliding words would only slow clustering, which is bounded per item).
type HashMap<K, V> = std::collections::HashMap<K, V, Xxh3Builder>;

/// How many of an item's rarest words pick its candidates.
const PROBE_TOKENS: usize = 5;
/// The most item signatures kept per story: a story with hundreds of items is
/// matched against its first few, which say what it is about.
const SIGNATURES_PER_STORY: usize = 8;
/// The most stories one word's posting list contributes (the newest ones).
const PROBE_POSTINGS: usize = 64;

struct Entry {
    time: Timestamp,
    signatures: Vec<Signature>,
}

/// A candidate story and how alike it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    pub story: String,
    pub similarity: f64,
}

#[derive(Default)]
pub struct StoryIndex {
    stories: HashMap<String, Entry>,
    /// word → stories whose items carry it, oldest first.
    postings: HashMap<String, Vec<String>>,
    by_time: BTreeSet<(Timestamp, String)>,
    /// Stories evicted since the posting lists were last swept.
    evicted: usize,
}

impl StoryIndex {
    pub fn len(&self) -> usize {
        self.stories.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stories.is_empty()
    }

    /// Record that `story` (at `time`) now has an item with this signature.
    pub fn add(&mut self, story: &str, time: Timestamp, sig: Signature) {
        let entry = self.stories.entry(story.to_string()).or_insert_with(|| Entry { time, signatures: Vec::new() });
        if entry.time != time {
            self.by_time.remove(&(entry.time, story.to_string()));
            entry.time = entry.time.min(time);
        }
        self.by_time.insert((entry.time, story.to_string()));
        if entry.signatures.len() >= SIGNATURES_PER_STORY {
            return;
        }
        let known: HashSet<&String> = entry.signatures.iter().flat_map(|s| s.tokens.iter()).collect();
        let fresh: Vec<String> = sig.tokens.iter().filter(|t| !known.contains(t)).cloned().collect();
        for t in fresh {
            self.postings.entry(t).or_default().push(story.to_string());
        }
        entry.signatures.push(sig);
    }

    /// Forget stories older than `time`. Their words leave the posting lists
    /// lazily, in one sweep once the dead outnumber the living.
    pub fn evict_before(&mut self, time: Timestamp) {
        while let Some((t, id)) = self.by_time.first().cloned() {
            if t >= time {
                break;
            }
            self.by_time.pop_first();
            if self.stories.remove(&id).is_some() {
                self.evicted += 1;
            }
        }
        if self.evicted > self.stories.len() + 1024 {
            let stories = &self.stories;
            self.postings.retain(|_, list| {
                list.retain(|id| stories.contains_key(id));
                !list.is_empty()
            });
            self.evicted = 0;
        }
    }

    fn df(&self, token: &str) -> usize {
        self.postings.get(token).map_or(0, Vec::len)
    }

    /// Inverse document frequency: rare words weigh more.
    fn weight(&self, token: &str) -> f64 {
        let n = self.stories.len().max(1) as f64;
        (1.0 + n / (1.0 + self.df(token) as f64)).ln().max(0.1)
    }

    /// The most alike story within `window` seconds of `time`, if any reaches
    /// `threshold`. Candidates are the stories that share at least two of the
    /// item's rarest words (one, for a one-word headline): a near duplicate
    /// shares several, and common words would make every story a candidate.
    pub fn best_match(&self, sig: &Signature, time: Timestamp, window: i64, threshold: f64) -> Option<Match> {
        let mut probes: Vec<&String> = sig.tokens.iter().filter(|t| self.df(t) > 0).collect();
        probes.sort_by_key(|t| self.df(t));
        probes.truncate(PROBE_TOKENS);
        let needed = probes.len().min(2);
        // story → (probes that found it, the last probe that did)
        let mut hits: HashMap<&String, (usize, usize)> = HashMap::default();
        for (p, t) in probes.into_iter().enumerate() {
            if let Some(list) = self.postings.get(t) {
                for id in list.iter().rev().take(PROBE_POSTINGS) {
                    let h = hits.entry(id).or_insert((0, usize::MAX));
                    if h.1 != p {
                        *h = (h.0 + 1, p);
                    }
                }
            }
        }
        let mut best: Option<Match> = None;
        for (id, (n, _)) in hits {
            if n < needed {
                continue;
            }
            let Some(entry) = self.stories.get(id) else { continue };
            if (entry.time - time).abs() > window {
                continue;
            }
            let sim = entry.signatures.iter().map(|other| self.similarity(sig, other)).fold(0.0, f64::max);
            if sim >= threshold
                && best.as_ref().is_none_or(|b| sim > b.similarity || (sim == b.similarity && *id < b.story))
            {
                best = Some(Match { story: id.clone(), similarity: sim });
            }
        }
        best
    }

    /// How alike two signatures are, 0..1: shared rare words, blended Dice and
    /// overlap (so added or dropped words cost little), then vetoed when the two
    /// name different figures, names or places.
    /// The headlines alone are compared, and the headlines with the leads of
    /// their summaries; the better of the two counts (a lead adds facts, but
    /// also words a rewrite does not share).
    pub fn similarity(&self, a: &Signature, b: &Signature) -> f64 {
        let titles = self.overlap(&a.tokens[..a.title_tokens], &b.tokens[..b.title_tokens]);
        let whole = self.overlap(&a.tokens, &b.tokens);
        titles.max(whole) * super::veto(a, b)
    }

    fn overlap(&self, a: &[String], b: &[String]) -> f64 {
        let wa: f64 = a.iter().map(|t| self.weight(t)).sum();
        let wb: f64 = b.iter().map(|t| self.weight(t)).sum();
        if wa == 0.0 || wb == 0.0 {
            return 0.0;
        }
        let shared: f64 = a.iter().filter(|t| b.contains(t)).map(|t| self.weight(t)).sum();
        let dice = 2.0 * shared / (wa + wb);
        let overlap = shared / wa.min(wb);
        0.5 * dice + 0.5 * overlap
    }
}
