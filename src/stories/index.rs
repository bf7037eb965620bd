//! The stories inside the dedup window, held in memory with an inverted index
//! so that a new item finds its candidates without a scan: it looks only at
//! the stories that share one of its rarest words.

use super::packed::{self, Packed, Rank};
use super::signature::Signature;
use crate::model::Timestamp;
use std::collections::BTreeSet;

/// Hash maps on the hot path: SipHash costs more than the lookups it guards,
/// and these keys are not attacker-chosen in a way that matters (a flood of
/// colliding words would only slow clustering, which is bounded per item).
type HashMap<K, V> = std::collections::HashMap<K, V, crate::text::WordHash>;

/// How many of an item's rarest words pick its candidates. With 5, reports
/// of one event that scored well above the threshold were never compared
/// (their shared words were not among each other's 5 rarest): 8, with the
/// calibration below, took B-cubed recall on the realistic tuning set from
/// 0.828 to 0.878 and on the held-out set from 0.848 to 0.870 (12 merged
/// more look-alikes at any threshold).
const PROBE_TOKENS: usize = 8;
/// The most item signatures kept per story: a story with hundreds of items is
/// matched against its first few, which say what it is about.
pub const SIGNATURES_PER_STORY: usize = 8;
/// The most stories one word's posting list contributes (the newest ones).
const PROBE_POSTINGS: usize = 64;
/// The raw score (weighted overlap times vetoes) is raised to this power, a
/// monotone calibration that puts the design's default threshold, 0.6, at the
/// raw 0.540 (ln 0.6 / ln 0.540). Chosen (session 10) as the lowest threshold,
/// in steps of 0.01 of the calibration before (0.8023, raw 0.529), at which
/// the mean B-cubed precision over the four realistic development sets
/// (realnews, realnews-heldout, realnews-blind4, realnews-blind5) reaches the
/// stories issue's 0.97: 0.60 gave 0.968 (the fifth set 0.927: a Lagos
/// market collapse joined a Lagos doctors' strike at 0.602, Jordan's fuel
/// prices merged with its border reopening at 0.604), 0.61 gave 0.975
/// (fifth set 0.949 / 0.865; realnews and blind4 unchanged; items.json
/// B-cubed recall 0.970 to 0.963). The fresh set was then measured once:
/// B-cubed 0.940 / 0.888 to 0.961 / 0.850. Earlier choices: 0.6766 (raw
/// 0.47) with 5 probe words; 0.8023 with 8. A threshold of 1.0 still means
/// identical, 0 anything.
const CALIBRATION: f64 = 0.8291;
/// Evidence from shared rare words (see [`shared_evidence`]), chosen on
/// tests/data/eval/realnews.json (the tuning set; a held-out set was not
/// looked at): a scale of 12 took B-cubed recall from 0.61 to 0.65 with
/// precision 0.99; 8 and 6 merged more look-alikes for little more recall.
const EVIDENCE_SCALE: f64 = 12.0;
/// A name shared counts this much more than another word (1.5 chosen as above).
const NAME_BOOST: f64 = 1.5;
/// Words weighing less than this (in roughly one story in eight of the
/// window, or more) are not evidence of one event.
const EVIDENCE_MIN_WEIGHT: f64 = 2.0;
/// A story's whole vocabulary covering all of an item's words counts this
/// much: the overlap blend gives a quarter of its weight to Dice, which a
/// story's vocabulary, far larger than one item's, keeps low.
const COVER_FACTOR: f64 = 0.8;
/// The most candidate stories scored for one item.
const MAX_CANDIDATES: usize = 24;

struct Entry {
    id: Box<str>,
    /// The story's first item's time (what eviction goes by).
    time: Timestamp,
    /// Its latest item's time: an item joins a story when it is within the
    /// window of one of its items, so a story that unfolds over days stays
    /// joinable from either end.
    last: Timestamp,
    /// Its first [`SIGNATURES_PER_STORY`] reports' signatures, as word ids.
    signatures: Vec<Packed>,
    /// The story as a whole: the names its items carried and its first
    /// language, so that an item can join on what several outlets said
    /// between them, not only on one of them. None while the story has had
    /// one report: that report's names, places and language are the whole of
    /// it (most stories have one; three lists a story were about a fifth of
    /// the index's memory).
    union: Option<Box<Union>>,
    /// Every token its items carried (up to [`UNION_TOKENS`]), as word ids
    /// ([`packed::word`]), sorted: a story keeps no copy of its words (they
    /// were most of the index's memory: 160 strings a story), and a sorted
    /// list costs 8 bytes a word where a hash set cost about twice that.
    /// Empty while the story's one report's tokens are the whole of it (most
    /// stories have one report): [`Entry::carries`] reads those instead.
    vocabulary: Vec<u64>,
    /// Before the window of the ingest under way (see
    /// [`StoryIndex::retire_before`]): held, but neither weighed nor a
    /// candidate.
    dormant: bool,
}

impl Entry {
    /// The names the story's items carried.
    fn names(&self) -> &[u64] {
        match (&self.union, self.signatures.first()) {
            (Some(u), _) => &u.names,
            (None, Some(first)) => first.names(),
            (None, None) => &[],
        }
    }

    /// The language of its earliest report that has one (0 when none).
    fn language(&self) -> u64 {
        match (&self.union, self.signatures.first()) {
            (Some(u), _) => u.language.0,
            (None, Some(first)) => first.language(),
            (None, None) => 0,
        }
    }

    /// The places and regions the story had named by `at`.
    fn whereabouts_by(&self, at: Timestamp) -> (Vec<u64>, Vec<u64>) {
        let known = |all: &[(u64, Timestamp)]| all.iter().filter(|(_, t)| *t <= at).map(|(p, _)| *p).collect();
        match (&self.union, self.signatures.first()) {
            (Some(u), _) => (known(&u.places), known(&u.regions)),
            (None, Some(first)) if self.time <= at => (first.places().to_vec(), first.regions().to_vec()),
            _ => (Vec::new(), Vec::new()),
        }
    }

    /// The union spelled out once a second report comes: what the first one
    /// (added at the story's time) named.
    fn union_mut(&mut self) -> Option<&mut Union> {
        if self.union.is_none() {
            let first = self.signatures.first()?;
            let mut union = Union::default();
            widen(&mut union, first);
            self.union = Some(Box::new(union));
        }
        self.union.as_deref_mut()
    }

    /// Whether one of the story's items carried `token` (up to
    /// [`UNION_TOKENS`] of them).
    fn carries(&self, token: u64) -> bool {
        if self.vocabulary.is_empty() {
            return self.signatures.first().is_some_and(|s| s.tokens().contains(&token));
        }
        self.vocabulary.binary_search(&token).is_ok()
    }

    /// The words its posting lists hold it under (those of its kept
    /// reports), each once.
    fn posted(&self) -> Vec<u64> {
        match self.signatures.as_slice() {
            // A report's tokens are distinct (most stories have one).
            [one] => one.tokens().to_vec(),
            all => {
                let mut words: Vec<u64> = all.iter().flat_map(|s| s.tokens().iter().copied()).collect();
                words.sort_unstable();
                words.dedup();
                words
            }
        }
    }

    /// Add `tokens` (another report's, or an absorbed story's vocabulary) to
    /// the story's words, spelling out its one report's first.
    fn widen_words(&mut self, tokens: &[u64]) {
        if self.vocabulary.is_empty() {
            if let Some(first) = self.signatures.first().map(|f| f.tokens().to_vec()) {
                self.widen_vocabulary(&first);
            }
        }
        self.widen_vocabulary(tokens);
    }

    /// Whether `sig`, added after a later report, could leave the story
    /// other than one read from the store in publication order: its words,
    /// names, places or regions are at their bound, and `sig` brings one
    /// they lack, which a read in order would have kept in place of a later
    /// report's.
    fn overflows(&self, sig: &Packed) -> bool {
        let words = self.vocabulary.len() >= UNION_TOKENS
            && sig.tokens().iter().any(|t| self.vocabulary.binary_search(t).is_err());
        words || self.union.as_ref().is_some_and(|u| u.overflows(sig))
    }

    /// Add `tokens` to the vocabulary, while it has room.
    fn widen_vocabulary(&mut self, tokens: &[u64]) {
        self.vocabulary.reserve_exact(tokens.len().min(UNION_TOKENS.saturating_sub(self.vocabulary.len())));
        for t in tokens {
            if self.vocabulary.len() < UNION_TOKENS {
                if let Err(at) = self.vocabulary.binary_search(t) {
                    self.vocabulary.insert(at, *t);
                }
            }
        }
    }
}

/// A posting list: most words are in one story (a figure, a rare name), and
/// one slot is held without an allocation.
enum Slots {
    One(u32),
    Many(Vec<u32>),
}

impl Default for Slots {
    fn default() -> Slots {
        Slots::Many(Vec::new())
    }
}

impl Slots {
    fn as_slice(&self) -> &[u32] {
        match self {
            Slots::One(s) => std::slice::from_ref(s),
            Slots::Many(v) => v,
        }
    }

    fn push(&mut self, slot: u32) {
        match self {
            Slots::Many(v) if v.capacity() == 0 => *self = Slots::One(slot),
            Slots::One(s) => {
                let mut v = Vec::with_capacity(2);
                v.extend([*s, slot]);
                *self = Slots::Many(v);
            }
            Slots::Many(v) => {
                // Lists grow by half, not double: most stay short.
                v.reserve_exact(if v.len() < 4 { 1 } else { v.len() / 2 });
                v.push(slot);
            }
        }
    }

    fn retain(&mut self, keep: impl Fn(u32) -> bool) {
        match self {
            Slots::One(s) => {
                if !keep(*s) {
                    *self = Slots::default();
                }
            }
            Slots::Many(v) => {
                v.retain(|s| keep(*s));
                v.shrink_to_fit();
            }
        }
    }
}

/// What a story's reports said between them: the names they carried (up to
/// [`UNION_TOKENS`]) and the language of the earliest.
#[derive(Default)]
struct Union {
    names: Vec<u64>,
    /// The places and regions its reports named (up to [`UNION_TOKENS`]),
    /// each with the publication time of the first report that named it.
    places: Vec<(u64, Timestamp)>,
    regions: Vec<(u64, Timestamp)>,
    /// The language of the earliest report that has one, and its rank.
    language: (u64, Rank),
}

/// Posting list and live count of one word.
#[derive(Default)]
struct Posting {
    /// How many stories in the index carry the word now (the slots keep
    /// evicted stories until a sweep; word weights must not, or they would
    /// depend on when the last sweep ran, not on the stories held).
    live: u32,
    /// Slots of the stories whose items carried it, oldest first.
    slots: Slots,
}

/// The most tokens a story's whole vocabulary keeps.
const UNION_TOKENS: usize = 160;

/// Add what `sig` (a report the index holds, so with its time) says to a
/// story's whole vocabulary: its names, places and regions (the story's
/// words are in [`Entry::vocabulary`]) and the earliest report's language.
fn widen(union: &mut Union, sig: &Packed) {
    let time = sig.time;
    union.note(sig.names(), sig.places().iter().map(|p| (*p, time)), sig.regions().iter().map(|r| (*r, time)));
    union.note_language(sig.language(), sig.rank());
}

impl Union {
    /// Names, and places and regions with the time they were first named.
    fn note<'a>(
        &mut self,
        names: impl IntoIterator<Item = &'a u64>,
        places: impl Iterator<Item = (u64, Timestamp)>,
        regions: impl Iterator<Item = (u64, Timestamp)>,
    ) {
        for n in names {
            if self.names.len() < UNION_TOKENS && !self.names.contains(n) {
                self.names.push(*n);
            }
        }
        for (n, time) in places {
            note_place(&mut self.places, n, time);
        }
        for (n, time) in regions {
            note_place(&mut self.regions, n, time);
        }
    }

    /// The language of the earliest report that has one.
    fn note_language(&mut self, language: u64, rank: Rank) {
        if language != 0 && (self.language.0 == 0 || rank < self.language.1) {
            self.language = (language, rank);
        }
    }

    /// Whether `sig` names someone or somewhere this union, at its bound,
    /// lacks.
    fn overflows(&self, sig: &Packed) -> bool {
        let full = |len: usize| len >= UNION_TOKENS;
        let lacks = |all: &[(u64, Timestamp)], p: &u64| !all.iter().any(|(q, _)| q == p);
        (full(self.names.len()) && sig.names().iter().any(|n| !self.names.contains(n)))
            || (full(self.places.len()) && sig.places().iter().any(|p| lacks(&self.places, p)))
            || (full(self.regions.len()) && sig.regions().iter().any(|r| lacks(&self.regions, r)))
    }

    /// Whether any of its lists is at its bound.
    fn full(&self) -> bool {
        [self.names.len(), self.places.len(), self.regions.len()].iter().any(|n| *n >= UNION_TOKENS)
    }

    /// Take what another story's reports said (a merge).
    fn merge(&mut self, other: &Union) {
        self.note(&other.names, other.places.iter().copied(), other.regions.iter().copied());
        self.note_language(other.language.0, other.language.1);
    }
}

/// A place (or region) named at `time`: the earliest time is kept.
fn note_place(all: &mut Vec<(u64, Timestamp)>, place: u64, time: Timestamp) {
    if let Some((_, t)) = all.iter_mut().find(|(p, _)| *p == place) {
        *t = (*t).min(time);
    } else if all.len() < UNION_TOKENS {
        all.push((place, time));
    }
}

/// The tokens of `s` to compare with `other`, with their weights (`weights`
/// is aligned with `s.tokens`): the title's or all, and only the portable ones
/// (or a name `other` carries too) when they are in two languages. Read in
/// place: the comparisons run for every report of every candidate, and
/// collecting these lists was most of clustering's allocations.
#[derive(Clone, Copy)]
struct Part<'a> {
    tokens: &'a [u64],
    weights: &'a [f64],
    sig: &'a Packed,
    other: &'a Packed,
    translated: bool,
}

impl<'a> Part<'a> {
    fn of(s: &'a Packed, weights: &'a [f64], other: &'a Packed, translated: bool, whole: bool) -> Part<'a> {
        let tokens = if whole { s.tokens() } else { s.title_tokens() };
        Part { tokens, weights, sig: s, other, translated }
    }

    fn kept(&self, t: u64) -> bool {
        !self.translated || self.sig.is_portable(t) || self.other.names().contains(&t)
    }

    fn iter(self) -> impl Iterator<Item = (u64, f64)> + Clone + 'a {
        self.tokens.iter().zip(self.weights).filter(move |(t, _)| self.kept(**t)).map(|(t, w)| (*t, *w))
    }

    fn contains(&self, t: u64) -> bool {
        self.tokens.contains(&t) && self.kept(t)
    }

    /// The tokens also in `other`, in this part's order.
    fn shared(self, other: Part<'a>) -> impl Iterator<Item = (u64, f64)> + Clone + 'a {
        self.iter().filter(move |(t, _)| other.contains(*t))
    }
}

/// What a report of a story is compared as: where it happens (its own
/// places and regions, or its story's when it names none), and whether a
/// comparison across languages needs a shared place or name
/// ([`StoryIndex::report_similarity`]).
#[derive(Clone, Copy)]
struct Against<'a> {
    home: super::Whereabouts<'a>,
    specific_needed: bool,
}

/// The hash a story id is found by in [`StoryIndex::ids`].
fn id_hash(id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(id.as_bytes())
}

/// [`id_hash`] of the story in `slot` (every slot in the id table holds one).
fn slot_hash(slots: &[Option<Box<Entry>>], slot: u32) -> u64 {
    slots[slot as usize].as_ref().map_or(0, |e| id_hash(&e.id))
}

/// A candidate story and how alike it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    pub story: String,
    pub similarity: f64,
    /// The story's first time (the older of two stories that merge survives).
    pub time: Timestamp,
}

/// Stories live in numbered slots, and posting lists hold slot numbers: a
/// probe touches small integers, not strings spread over the heap.
#[derive(Default)]
pub struct StoryIndex {
    /// Boxed: a slot costs 8 bytes, and the list's growth copies and
    /// leaves spare only pointers.
    slots: Vec<Option<Box<Entry>>>,
    /// story id → slot: slot numbers hashed by the id their entry holds, so
    /// that an id is kept once (4 bytes a story here, not a second copy).
    ids: hashbrown::HashTable<u32>,
    /// word id → the stories that carry it (one map for the posting list and
    /// the live count: one key and one table entry a word, not two).
    postings: HashMap<u64, Posting>,
    /// The stories weighed and matched, by time.
    by_time: BTreeSet<(Timestamp, u32)>,
    /// The dormant stories (held, not weighed), by time.
    dormant: BTreeSet<(Timestamp, u32)>,
    /// Slots free for reuse: only those swept out of every posting list.
    free: Vec<u32>,
    /// Stories evicted since the posting lists were last swept.
    evicted: usize,
    /// Stories that may hold other words than one read from the store would
    /// (see [`StoryIndex::take_stale`]).
    stale: Vec<Box<str>>,
}

impl StoryIndex {
    /// The slot of `story`, if it is held.
    fn slot_of(&self, story: &str) -> Option<u32> {
        let slots = &self.slots;
        self.ids.find(id_hash(story), |s| slots[*s as usize].as_ref().is_some_and(|e| &*e.id == story)).copied()
    }

    /// Take `slot`'s story out of the id table (before its slot is emptied).
    fn forget_id(&mut self, slot: u32) {
        let hash = slot_hash(&self.slots, slot);
        if let Ok(found) = self.ids.find_entry(hash, |s| *s == slot) {
            found.remove();
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The stories whose words, names or places may differ from what a read
    /// from the store would give (a report came after a later one while they
    /// were at their bound, or a merge reached it): the caller reads them
    /// again, so that the index stays what a restart would build.
    pub fn take_stale(&mut self) -> Vec<String> {
        let mut stale: Vec<String> = self.stale.drain(..).map(String::from).collect();
        stale.sort_unstable();
        stale.dedup();
        stale
    }

    pub fn contains(&self, story: &str) -> bool {
        self.slot_of(story).is_some()
    }

    /// Whether `story` is held but dormant (neither weighed nor matched).
    pub fn asleep(&self, story: &str) -> bool {
        self.slot_of(story).and_then(|s| self.slots[s as usize].as_ref()).is_some_and(|e| e.dormant)
    }

    /// Record that `story` (at `time`) now has an item with this signature
    /// (a [`Signature`] or one already [`Packed`]).
    pub fn add(&mut self, story: &str, time: Timestamp, sig: impl Into<Packed>) {
        self.add_packed(story, time, sig.into())
    }

    fn add_packed(&mut self, story: &str, time: Timestamp, mut sig: Packed) {
        sig.time = time;
        let held = self.slot_of(story).and_then(|slot| Some((slot, self.slots[slot as usize].as_deref()?)));
        // A report held already adds nothing (a join the clustering log
        // replays, or one an index built meanwhile read from the store).
        if held.is_some_and(|(_, e)| e.signatures.iter().any(|s| s.same_report(&sig))) {
            return;
        }
        // A story asleep (before the window) takes the report and sleeps
        // on: woken, it holds what one read from the store then would.
        if let Some(at) = held.filter(|(_, e)| e.dormant).map(|(slot, e)| (e.time, slot)) {
            self.wake(at);
            self.add_packed(story, time, sig);
            if let Some(entry) = self.slots[at.1 as usize].as_ref() {
                self.retire((entry.time, at.1));
            }
            return;
        }
        let slot = match held {
            Some((slot, _)) => slot,
            None => self.new_slot(story, time),
        };
        let Some(entry) = self.slots[slot as usize].as_mut() else { return };
        if time < entry.last && entry.overflows(&sig) {
            self.stale.push(story.into());
        }
        // Before the story's time moves: the first report's places date from it.
        if let Some(union) = entry.union_mut() {
            widen(union, &sig);
        }
        entry.last = entry.last.max(time);
        if entry.time != time {
            self.by_time.remove(&(entry.time, slot));
            entry.time = entry.time.min(time);
        }
        self.by_time.insert((entry.time, slot));
        // A story's first report is its vocabulary while it fits (see
        // `Entry::vocabulary`); a second one spells it out.
        if !entry.signatures.is_empty() || sig.tokens().len() > UNION_TOKENS {
            entry.widen_words(sig.tokens());
        }
        self.keep_report(slot, sig);
    }

    /// A new entry for `story`, starting at `time`, and its slot.
    fn new_slot(&mut self, story: &str, time: Timestamp) -> u32 {
        let entry = Entry {
            id: story.into(),
            time,
            last: time,
            signatures: Vec::new(),
            union: None,
            vocabulary: Vec::new(),
            dormant: false,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(Box::new(entry));
                slot
            }
            None => {
                self.slots.push(Some(Box::new(entry)));
                (self.slots.len() - 1) as u32
            }
        };
        let slots = &self.slots;
        self.ids.insert_unique(id_hash(story), slot, |s| slot_hash(slots, *s));
        slot
    }

    /// Keep `sig` among the story's earliest reports, in the order they were
    /// published (an earlier one arriving late takes the place of the
    /// latest): what an index built again from the store holds, whatever
    /// the order the reports came in. The posting lists follow.
    fn keep_report(&mut self, slot: u32, sig: Packed) {
        let Some(entry) = self.slots[slot as usize].as_mut() else { return };
        let at = entry.signatures.partition_point(|s| s.rank() <= sig.rank());
        if at >= SIGNATURES_PER_STORY {
            return;
        }
        for t in sig.tokens() {
            if entry.signatures.iter().any(|s| s.tokens().contains(t)) {
                continue;
            }
            let posting = self.postings.entry(*t).or_default();
            posting.live += 1;
            posting.slots.push(slot);
        }
        // Most stories keep one report: the list grows one at a time.
        entry.signatures.reserve_exact(1);
        entry.signatures.insert(at, sig);
        if entry.signatures.len() <= SIGNATURES_PER_STORY {
            return;
        }
        let Some(latest) = entry.signatures.pop() else { return };
        for t in latest.tokens() {
            if entry.signatures.iter().any(|s| s.tokens().contains(t)) {
                continue;
            }
            if let Some(posting) = self.postings.get_mut(t) {
                posting.live = posting.live.saturating_sub(1);
                posting.slots.retain(|s| s != slot);
            }
        }
    }

    /// Forget stories older than `time`. Their words leave the posting lists
    /// lazily, in one sweep once the dead outnumber the living; only then are
    /// their slots reused.
    pub fn evict_before(&mut self, time: Timestamp) {
        while let Some(&(_, slot)) = self.by_time.first().filter(|(t, _)| *t < time) {
            self.drop_slot(slot);
        }
        while let Some(&(_, slot)) = self.dormant.first().filter(|(t, _)| *t < time) {
            self.drop_slot(slot);
        }
        if self.evicted > self.ids.len() + 1024 {
            let slots = &self.slots;
            self.postings.retain(|_, posting| {
                posting.slots.retain(|s| slots[s as usize].is_some());
                !posting.slots.as_slice().is_empty()
            });
            self.free = (0..self.slots.len() as u32).filter(|s| self.slots[*s as usize].is_none()).collect();
            self.evicted = 0;
        }
    }

    /// Take `story` out of the index: whether it was awake (not dormant),
    /// `None` when it was not held.
    pub fn forget(&mut self, story: &str) -> Option<bool> {
        let slot = self.slot_of(story)?;
        self.drop_slot(slot).map(|e| !e.dormant)
    }

    /// Take the story in `slot` out of the index.
    fn drop_slot(&mut self, slot: u32) -> Option<Box<Entry>> {
        self.forget_id(slot);
        let entry = self.slots[slot as usize].take()?;
        self.evicted += 1;
        if entry.dormant {
            self.dormant.remove(&(entry.time, slot));
        } else {
            self.by_time.remove(&(entry.time, slot));
            self.forget_words(&entry);
        }
        Some(entry)
    }

    /// The stories from before `time` stop counting (in word weights) and
    /// being candidates, but stay held, to be woken by [`StoryIndex::wake_from`]
    /// at no cost: an ingest weighs and matches exactly the stories of its
    /// own window, those an index built from the store for it would hold,
    /// whichever windows the ingests before it had.
    pub fn retire_before(&mut self, time: Timestamp) {
        while let Some(&(t, slot)) = self.by_time.first().filter(|(t, _)| *t < time) {
            self.retire((t, slot));
        }
    }

    /// The awake story at (`time`, `slot`) goes to sleep.
    fn retire(&mut self, (time, slot): (Timestamp, u32)) {
        self.by_time.remove(&(time, slot));
        let Some(mut entry) = self.slots[slot as usize].take() else { return };
        self.forget_words(&entry);
        entry.dormant = true;
        self.slots[slot as usize] = Some(entry);
        self.dormant.insert((time, slot));
    }

    /// The dormant stories from `time` on count and match again.
    pub fn wake_from(&mut self, time: Timestamp) {
        let woken: Vec<(Timestamp, u32)> = self.dormant.range((time, 0)..).copied().collect();
        for at in woken {
            self.wake(at);
        }
    }

    /// The dormant story at (`time`, `slot`) wakes.
    fn wake(&mut self, (time, slot): (Timestamp, u32)) {
        self.dormant.remove(&(time, slot));
        let Some(entry) = self.slots[slot as usize].as_mut() else { return };
        entry.dormant = false;
        for word in entry.posted() {
            self.postings.entry(word).or_default().live += 1;
        }
        self.by_time.insert((time, slot));
    }

    /// The words of a story leaving the index no longer count in the weights.
    fn forget_words(&mut self, entry: &Entry) {
        for t in entry.posted() {
            if let Some(p) = self.postings.get_mut(&t) {
                p.live = p.live.saturating_sub(1);
            }
        }
    }

    fn df(&self, token: u64) -> usize {
        self.postings.get(&token).map_or(0, |p| p.live as usize)
    }

    /// Inverse document frequency: rare words weigh more.
    fn weight(&self, token: u64) -> f64 {
        let n = self.by_time.len().max(1) as f64;
        (1.0 + n / (1.0 + self.df(token) as f64)).ln().max(0.1)
    }

    /// The most alike story within `window` seconds of `time`, if any reaches
    /// `threshold` (the first of [`StoryIndex::matches`]).
    pub fn best_match(&self, sig: &Signature, time: Timestamp, window: i64, threshold: f64) -> Option<Match> {
        self.matches_packed(&sig.into(), time, window, threshold).into_iter().next()
    }

    /// Every story within `window` seconds of `time` that reaches `threshold`,
    /// most alike first (ties by id). Candidates are the stories that share at
    /// least two of the item's rarest words (one, for a one-word headline): a
    /// near duplicate shares several, and common words would make every story
    /// a candidate.
    pub fn matches(&self, sig: &Signature, time: Timestamp, window: i64, threshold: f64) -> Vec<Match> {
        self.matches_packed(&sig.into(), time, window, threshold)
    }

    /// [`StoryIndex::matches`] for a signature already packed (an ingest
    /// packs once, to match and then to add).
    pub fn matches_packed(&self, sig: &Packed, time: Timestamp, window: i64, threshold: f64) -> Vec<Match> {
        let weights = self.weights(sig);
        let mut out: Vec<Match> = self
            .candidates(sig, time, window)
            .into_iter()
            .map(|entry| {
                let sim =
                    self.story_similarity(sig, &weights, entry).max(self.report_similarity(sig, &weights, entry, time));
                Match { story: entry.id.to_string(), similarity: sim, time: entry.time }
            })
            .filter(|m| m.similarity >= threshold)
            .collect();
        out.sort_by(|a, b| b.similarity.total_cmp(&a.similarity).then(a.story.cmp(&b.story)));
        out
    }

    /// The stories worth scoring for `sig`: those found by the most of its
    /// rarest words' posting lists (the newest first among equals), inside the
    /// window, at most [`MAX_CANDIDATES`] (a crowded index costs no more per item).
    fn candidates(&self, sig: &Packed, time: Timestamp, window: i64) -> Vec<&Entry> {
        if sig.roundup {
            return Vec::new();
        }
        // Each token's posting list looked up once. The rarest words by the
        // stories that carry them now, and only words some story held
        // carries: a list also keeps stories gone since its last sweep,
        // which an index built again from the store would not have (a word
        // of evicted stories alone took a probe).
        let mut probes: Vec<&Posting> =
            sig.tokens().iter().filter_map(|t| self.postings.get(t)).filter(|p| p.live > 0).collect();
        probes.sort_by_key(|p| p.live);
        probes.truncate(PROBE_TOKENS);
        let needed = probes.len().min(2);
        // Only stories held and awake (whether one is dormant is read only
        // while some are: reading an entry costs a cache miss).
        let none_dormant = self.dormant.is_empty();
        let awake = |s: &&u32| match &self.slots[**s as usize] {
            Some(e) => none_dormant || !e.dormant,
            None => false,
        };
        // story → (probes that found it, the last probe that did)
        let mut hits: HashMap<u32, (usize, usize)> = HashMap::default();
        for (p, posting) in probes.into_iter().enumerate() {
            for slot in posting.slots.as_slice().iter().rev().filter(awake).take(PROBE_POSTINGS) {
                let h = hits.entry(*slot).or_insert((0, usize::MAX));
                if h.1 != p {
                    *h = (h.0 + 1, p);
                }
            }
        }
        let mut found: Vec<(usize, &Entry)> = hits
            .into_iter()
            .filter(|(_, (n, _))| *n >= needed)
            .filter_map(|(slot, (n, _))| self.slots[slot as usize].as_deref().map(|e| (n, e)))
            .filter(|(_, e)| time >= e.time.saturating_sub(window) && time <= e.last.saturating_add(window))
            .filter(|(_, e)| e.signatures.first().is_none_or(|f| f.article == sig.article && !f.roundup))
            .collect();
        found.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.time.cmp(&a.1.time)).then(a.1.id.cmp(&b.1.id)));
        found.truncate(MAX_CANDIDATES);
        found.into_iter().map(|(_, e)| e).collect()
    }

    /// Whether two stories held are alike by the rule an item joins by: one
    /// of `a`'s reports reaches `threshold` against story `b`. A bridging item
    /// merges two stories only then: an item alike to both says little when
    /// the two are not alike to each other (two central banks' cuts, each
    /// close to a report that names both).
    pub fn alike(&self, a: &str, b: &str, threshold: f64) -> bool {
        let entry = |id: &str| self.slot_of(id).and_then(|s| self.slots[s as usize].as_deref());
        let (Some(a), Some(b)) = (entry(a), entry(b)) else { return false };
        let article = |e: &Entry| e.signatures.first().is_some_and(|s| s.article);
        let roundup = |e: &Entry| e.signatures.first().is_some_and(|s| s.roundup);
        if article(a) != article(b) || roundup(a) || roundup(b) {
            return false;
        }
        a.signatures.iter().any(|sig| {
            let weights = self.weights(sig);
            let whole = self.story_similarity(sig, &weights, b);
            whole >= threshold || self.report_similarity(sig, &weights, b, a.last.max(b.last)) >= threshold
        })
    }

    /// `absorbed` is one event with `survivor`: its reports move into the
    /// survivor's entry, and it leaves the index.
    pub fn absorb(&mut self, absorbed: &str, survivor: &str) {
        let Some(entry) = self.slot_of(absorbed).and_then(|slot| self.drop_slot(slot)) else { return };
        let Entry { signatures, union, vocabulary, last, .. } = *entry;
        for sig in signatures {
            self.add_packed(survivor, sig.time, sig);
        }
        self.add_time(survivor, last);
        // What the absorbed story's other reports said (past its earliest
        // few) stays with the survivor, as a rebuild from the store would
        // read it from all their items.
        let Some(into) = self.slot_of(survivor).and_then(|s| self.slots[s as usize].as_deref_mut()) else { return };
        if !vocabulary.is_empty() {
            into.widen_words(&vocabulary);
        }
        if let (Some(theirs), Some(ours)) = (union, into.union_mut()) {
            ours.merge(&theirs);
        }
        // Two stories' words merged past the bound keep the survivor's
        // first; a read in publication order may keep others.
        if into.vocabulary.len() >= UNION_TOKENS || into.union.as_ref().is_some_and(|u| u.full()) {
            self.stale.push(survivor.into());
        }
    }

    /// Record that `story` has an item at `time` (its span widens).
    fn add_time(&mut self, story: &str, time: Timestamp) {
        let Some(slot) = self.slot_of(story) else { return };
        if let Some(entry) = self.slots[slot as usize].as_mut() {
            entry.last = entry.last.max(time);
        }
    }

    /// How alike two signatures are, 0..1: shared rare words, blended Dice and
    /// overlap (so added or dropped words cost little), then vetoed when the two
    /// name different figures, names or places.
    /// The headlines alone are compared, and the headlines with the leads of
    /// their summaries; the better of the two counts (a lead adds facts, but
    /// also words a rewrite does not share).
    /// Reports in two languages are compared on the tokens that mean the same
    /// in both (concepts, places, figures, names): the rest of their words
    /// cannot meet.
    pub fn similarity(&self, a: &Signature, b: &Signature) -> f64 {
        let (a, b) = (Packed::from(a), Packed::from(b));
        let against = Against { home: super::Whereabouts::of(&b), specific_needed: false };
        self.weighted_similarity(&a, &self.weights(&a), &b, &self.weights(&b), against)
    }

    /// The weight of each of a signature's tokens (looked up once per
    /// comparison, not once per use: the lookups were most of clustering's cost).
    fn weights(&self, s: &Packed) -> Vec<f64> {
        s.tokens().iter().map(|t| self.weight(*t)).collect()
    }

    /// How alike an item is to a story as a whole: the share of the item's
    /// word weight that the story's whole vocabulary carries (scaled by
    /// [`COVER_FACTOR`]), or the shared rare evidence, vetoed on the specifics
    /// of the story's first report (the union of many reports names so many
    /// figures and places that it conflicts with nothing). One pass over the
    /// item's words with set lookups: no weight of the story's words is needed.
    fn story_similarity(&self, sig: &Packed, weights: &[f64], entry: &Entry) -> f64 {
        let Some(first) = entry.signatures.first() else { return 0.0 };
        let (names, language) = (entry.names(), entry.language());
        let translated = sig.language() != 0 && language != 0 && sig.language() != language;
        let (mut own, mut shared, mut things) = (0.0, Vec::new(), 0);
        for (&t, w) in sig.tokens().iter().zip(weights) {
            if translated && !(sig.is_portable(t) || names.contains(&t)) {
                continue;
            }
            own += w;
            if entry.carries(t) {
                shared.push((t, *w));
                things += usize::from(packed::kind(t) != packed::FIGURE && sig.is_portable(t));
            }
        }
        if own == 0.0 {
            return 0.0;
        }
        let covered = shared.iter().map(|(_, w)| w).sum::<f64>() / own;
        let veto = super::veto(sig, first);
        let evidence = shared_evidence(shared.iter().copied(), sig.names(), names) * super::strict(veto);
        let mut sim = (COVER_FACTOR * covered * veto).max(evidence);
        if translated {
            sim *= translation_factor(things);
        }
        sim.powf(CALIBRATION)
    }

    /// `sig` compared with each of a story's reports: the best (minus infinity
    /// when it has none). When the story has a
    /// report in the item's language, a report in another language counts
    /// only if the two share a place or a name: across languages only the
    /// words that translate meet, and two events of one kind share those
    /// ("Nobel", "prize", "won", the year: the physics prize had joined the
    /// medicine prize's story through its Arabic reports), while the report in
    /// its own language shows what else the item says.
    ///
    /// A report that names no place is judged by the places its story named
    /// by `at` (the item's publication time): what its story had said by the
    /// time the item was published, whichever report came in first.
    fn report_similarity(&self, sig: &Packed, weights: &[f64], entry: &Entry, at: Timestamp) -> f64 {
        let reports = &entry.signatures;
        let own_language = |o: &Packed| o.language() == 0 || sig.language() == 0 || o.language() == sig.language();
        let specific_needed = reports.iter().any(own_language);
        // Collected only when some report needs them (most name a place).
        let placeless = reports.iter().any(|o| o.places().is_empty());
        let (places, regions) = if placeless { entry.whereabouts_by(at) } else { (Vec::new(), Vec::new()) };
        reports
            .iter()
            .map(|o| {
                let home = match o.places() {
                    [] => super::Whereabouts { places: &places, regions: &regions, inherited: true },
                    _ => super::Whereabouts::of(o),
                };
                self.weighted_similarity(sig, weights, o, &self.weights(o), Against { home, specific_needed })
            })
            .fold(f64::NEG_INFINITY, f64::max)
    }

    /// [`StoryIndex::similarity`] with both signatures' token weights at
    /// hand; `specific_needed`: see [`StoryIndex::report_similarity`].
    fn weighted_similarity(&self, a: &Packed, wa: &[f64], b: &Packed, wb: &[f64], against: Against) -> f64 {
        let Against { home, specific_needed } = against;
        let translated = a.language() != 0 && b.language() != 0 && a.language() != b.language();
        let side = |s, w, o, whole| Part::of(s, w, o, translated, whole);
        let titles = overlap(side(a, wa, b, false), side(b, wb, a, false));
        let (pa, pb) = (side(a, wa, b, true), side(b, wb, a, true));
        let whole = overlap(pa, pb);
        let veto = super::veto_at(a, b, home);
        let evidence = shared_evidence(pa.shared(pb), a.names(), b.names()) * super::strict(veto);
        let mut sim = (titles.max(whole) * veto).max(evidence);
        if translated {
            let shared = || {
                a.tokens()
                    .iter()
                    .filter(|t| packed::kind(**t) != packed::FIGURE && a.is_portable(**t) && b.tokens().contains(t))
            };
            let specific =
                shared().any(|t| packed::kind(*t) == packed::PLACE || a.names().contains(t) || b.names().contains(t));
            sim *= if specific_needed && !specific { 0.0 } else { translation_factor(shared().count()) };
        }
        sim.powf(CALIBRATION)
    }
}

/// How far to trust a comparison of two reports in two languages, which
/// meets only on the words that translate, by the `things` (concepts,
/// places, names) they share: shared figures alone ("2-1", "3 dead") say
/// little, and a translation shares at least two things with its original.
fn translation_factor(things: usize) -> f64 {
    [0.0, 0.5, 1.0][things.min(2)]
}

/// Weighted overlap of two token lists: a blend of Dice and the overlap
/// coefficient, so added or dropped words cost little.
fn overlap(a: Part, b: Part) -> f64 {
    let wa: f64 = a.iter().map(|(_, w)| w).sum();
    let wb: f64 = b.iter().map(|(_, w)| w).sum();
    if wa == 0.0 || wb == 0.0 {
        return 0.0;
    }
    let shared: f64 = a.shared(b).map(|(_, w)| w).sum();
    let dice = 2.0 * shared / (wa + wb);
    let overlap = shared / wa.min(wb);
    0.25 * dice + 0.75 * overlap
}

/// Shared rare evidence, 0..1, from the words two reports share (`shared`):
/// their summed weight (names counted [`NAME_BOOST`] times), whatever else
/// each says. Outlets that rewrite a headline keep the names and a rare word
/// or two, and little else; words weighing under [`EVIDENCE_MIN_WEIGHT`]
/// (common in the window) are no evidence. [`EVIDENCE_SCALE`] is the shared
/// weight at which the evidence reaches 1 - 1/e.
///
/// Without a shared name or place there is none: kinds of events, figures and
/// common words ("derby", "2-1", "ransomware") are shared by look-alikes too.
/// `na` and `nb` are the names of either side.
fn shared_evidence(shared: impl Iterator<Item = (u64, f64)> + Clone, na: &[u64], nb: &[u64]) -> f64 {
    let named = |t: &u64| na.contains(t) || nb.contains(t);
    if !shared.clone().any(|(t, _)| packed::kind(t) == packed::PLACE || named(&t)) {
        return 0.0;
    }
    let mass: f64 = shared
        .filter(|(_, w)| *w >= EVIDENCE_MIN_WEIGHT)
        .map(|(t, w)| if named(&t) { w * NAME_BOOST } else { w })
        .sum();
    1.0 - (-mass / EVIDENCE_SCALE).exp()
}
