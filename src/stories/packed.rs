//! A [`Signature`] as the clustering index holds and compares it: every word
//! a 64-bit id in one boxed slice, no string. The index keeps a story's first
//! few signatures for as long as the story is in the dedup window; with a
//! `String` per token, figure, name and place they were most of the memory a
//! source cost (heaptrack, 10,000 sources: 2.8 KB an item, of 5.4 KB).
//!
//! An id is 62 bits of the word's xxh3 hash with its kind in the top two
//! bits (plain, `#` figure, `@` place, `~` concept), the mark itself not
//! hashed: what the comparisons ask of a word's spelling (is it a figure, a
//! place, a place named as a configured region) is read from the id. Two
//! distinct words of one window sharing an id (1 in 2^62 a pair) would count
//! as one word; nothing else changes.

use super::signature::Signature;
use xxhash_rust::xxh3::xxh3_64;

/// A word's kind, in the top two bits of its id.
const KIND_SHIFT: u32 = 62;
pub const PLAIN: u64 = 0;
pub const FIGURE: u64 = 1;
pub const PLACE: u64 = 2;
pub const CONCEPT: u64 = 3;

/// The id of a word: its kind from its mark, and the hash of the rest.
pub fn word(t: &str) -> u64 {
    let (kind, rest) = match t.as_bytes().first() {
        Some(b'#') => (FIGURE, &t[1..]),
        Some(b'@') => (PLACE, &t[1..]),
        Some(b'~') => (CONCEPT, &t[1..]),
        _ => (PLAIN, t),
    };
    body(rest) | (kind << KIND_SHIFT)
}

/// The kind of a word id.
pub fn kind(w: u64) -> u64 {
    w >> KIND_SHIFT
}

/// The hash part of an id (for a region: the id of a place `@region`
/// without its kind).
fn body(s: &str) -> u64 {
    xxh3_64(s.as_bytes()) >> 2
}

/// An id for a whole value compared only for equality and emptiness (a
/// source, a language): 0 when empty.
fn value(s: &str) -> u64 {
    if s.is_empty() {
        0
    } else {
        xxh3_64(s.as_bytes()) | 1
    }
}

/// A signature's words as ids: tokens, numbers, figures (role, figure),
/// names, places, regions, one after another in one allocation. A
/// signature's figures are among its tokens (`#6.1`), and so are the two
/// tokens either side of each figure (its roles): they are kept as where
/// they are in the tokens, not again (for the feeds of
/// `scripts/poll-10k.sh`, a third of the ids).
#[derive(Debug, Clone, PartialEq)]
pub struct Packed {
    words: Box<[u64]>,
    /// Where the tokens, numbers, figures, names and places end in `words`;
    /// the regions run to its end.
    ends: [u32; 5],
    /// The numbers are the tokens that are figures (`#6.1` for 6.1), in
    /// order, so none is kept apart (else they are, as figure ids).
    numbers_in_tokens: bool,
    /// Each figure is one id, (role's place in the tokens) << 32 | figure's
    /// place, every role and figure being a token (else two ids, role and
    /// figure).
    figures_in_tokens: bool,
    /// How many of the tokens come from the title.
    title_tokens: u32,
    /// Filed as an article (see [`Signature::article`]).
    pub article: bool,
    /// A roundup (see [`Signature::roundup`]).
    pub roundup: bool,
    source: u64,
    language: u64,
    /// When its item was published, once the index holds it (a story keeps
    /// its earliest reports, in this order).
    pub(super) time: crate::model::Timestamp,
    /// What orders reports published at the same time: when the item was
    /// first seen, then its key's hash (see [`Packed::ranked`]).
    pub(super) tie: (crate::model::Timestamp, u64),
}

/// A report's place among its story's: published, first seen, key hash.
pub type Rank = (crate::model::Timestamp, (crate::model::Timestamp, u64));

/// The [`Rank`] of the item with this key, published and first seen then.
pub fn rank_of(published: crate::model::Timestamp, first_seen: crate::model::Timestamp, key: &str) -> Rank {
    (published, (first_seen, xxh3_64(key.as_bytes())))
}

impl Packed {
    /// Distinct content tokens, the title's first.
    pub fn tokens(&self) -> &[u64] {
        &self.words[..self.ends[0] as usize]
    }
    /// The title's tokens.
    pub fn title_tokens(&self) -> &[u64] {
        &self.tokens()[..self.title_tokens as usize]
    }
    /// The figures named, as figure ids (`#6.1`).
    pub fn numbers(&self) -> impl Iterator<Item = u64> + Clone + '_ {
        let in_tokens = self.numbers_in_tokens;
        let from_tokens = self.tokens().iter().filter(move |t| in_tokens && kind(**t) == FIGURE);
        from_tokens.chain(&self.words[self.ends[0] as usize..self.ends[1] as usize]).copied()
    }
    /// (role, figure) pairs.
    pub fn figures(&self) -> impl Iterator<Item = [u64; 2]> + Clone + '_ {
        let region = &self.words[self.ends[1] as usize..self.ends[2] as usize];
        let (pairs, places): (&[[u64; 2]], &[u64]) =
            if self.figures_in_tokens { (&[], region) } else { (region.as_chunks::<2>().0, &[]) };
        let tokens = self.tokens();
        pairs
            .iter()
            .copied()
            .chain(places.iter().map(move |p| [tokens[(p >> 32) as usize], tokens[*p as u32 as usize]]))
    }
    pub fn names(&self) -> &[u64] {
        &self.words[self.ends[2] as usize..self.ends[3] as usize]
    }
    pub fn places(&self) -> &[u64] {
        &self.words[self.ends[3] as usize..self.ends[4] as usize]
    }
    /// The regions, as [`Packed::is_region`] compares them with places.
    pub fn regions(&self) -> &[u64] {
        &self.words[self.ends[4] as usize..]
    }
    /// The source's id, 0 when unknown.
    pub fn source(&self) -> u64 {
        self.source
    }
    /// The language's id, 0 when unknown.
    pub fn language(&self) -> u64 {
        self.language
    }

    /// The signature of the item with this key, first seen then: reports
    /// published at the same time are ordered by these, whatever order they
    /// arrive in (an index built from the store sorts a story's members so).
    pub fn ranked(mut self, first_seen: crate::model::Timestamp, key: &str) -> Packed {
        self.tie = rank_of(0, first_seen, key).1;
        self
    }

    /// Its place among its story's reports, once the index holds it.
    pub fn rank(&self) -> Rank {
        (self.time, self.tie)
    }

    /// Whether `other` is the same report of the same item (both
    /// [`Packed::ranked`]): the same rank.
    pub fn same_report(&self, other: &Packed) -> bool {
        self.tie != (0, 0) && self.rank() == other.rank()
    }

    /// Whether a token means the same in every language (see
    /// [`Signature::is_portable`]).
    pub fn is_portable(&self, token: u64) -> bool {
        kind(token) != PLAIN || self.names().contains(&token)
    }
}

/// Whether `place` is region `region` named as a place (`@africa`, `africa`).
pub fn is_region(place: u64, region: u64) -> bool {
    kind(place) == PLACE && place & !(3 << KIND_SHIFT) == region
}

impl From<&Signature> for Packed {
    fn from(s: &Signature) -> Packed {
        let mut words = Vec::with_capacity(
            s.tokens.len() + s.numbers.len() + 2 * s.figures.len() + s.names.len() + s.places.len() + s.regions.len(),
        );
        let mut ends = [0u32; 5];
        words.extend(s.tokens.iter().map(|t| word(t)));
        ends[0] = words.len() as u32;
        let tokens = &words[..];
        // A number as a figure's id: "6.1" as "#6.1".
        let numbers: Vec<u64> = s.numbers.iter().map(|n| body(n) | (FIGURE << KIND_SHIFT)).collect();
        let numbers_in_tokens = numbers.iter().copied().eq(tokens.iter().copied().filter(|t| kind(*t) == FIGURE));
        let place = |id: u64| tokens.iter().position(|t| *t == id).map(|i| i as u64);
        let figures: Option<Vec<u64>> = s
            .figures
            .iter()
            .map(|(r, f)| Some(place(word(r))? << 32 | place(word(f))?))
            .collect::<Option<Vec<u64>>>()
            .filter(|_| tokens.len() <= u32::MAX as usize);
        let figures_in_tokens = figures.is_some();
        if !numbers_in_tokens {
            words.extend(numbers);
        }
        ends[1] = words.len() as u32;
        match figures {
            Some(places) => words.extend(places),
            None => words.extend(s.figures.iter().flat_map(|(r, f)| [word(r), word(f)])),
        }
        ends[2] = words.len() as u32;
        words.extend(s.names.iter().map(|t| word(t)));
        ends[3] = words.len() as u32;
        words.extend(s.places.iter().map(|t| word(t)));
        ends[4] = words.len() as u32;
        words.extend(s.regions.iter().map(|r| body(r)));
        Packed {
            words: words.into_boxed_slice(),
            ends,
            numbers_in_tokens,
            figures_in_tokens,
            title_tokens: s.title_tokens.min(s.tokens.len()) as u32,
            article: s.article,
            roundup: s.roundup,
            source: value(&s.source),
            language: value(&s.language),
            time: 0,
            tie: (0, 0),
        }
    }
}

impl From<Signature> for Packed {
    fn from(s: Signature) -> Packed {
        Packed::from(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_regions_read_from_ids() {
        assert_eq!(kind(word("#6.4")), FIGURE);
        assert_eq!(kind(word("@peru")), PLACE);
        assert_eq!(kind(word("~quake")), CONCEPT);
        assert_eq!(kind(word("peru")), PLAIN);
        assert_ne!(word("@peru"), word("peru"));
        assert!(is_region(word("@africa"), body("africa")));
        assert!(!is_region(word("africa"), body("africa")));
        assert!(!is_region(word("@africas"), body("africa")));
        let s = Signature {
            tokens: vec!["a1".into(), "b2".into(), "#3".into()],
            title_tokens: 9,
            numbers: vec!["3".into()],
            figures: vec![("b2".into(), "#3".into())],
            names: vec!["b2".into()],
            places: vec!["@x".into()],
            regions: vec!["x".into()],
            ..Signature::default()
        };
        let p = Packed::from(&s);
        assert_eq!(p.tokens().len(), 3);
        assert_eq!(p.title_tokens().len(), 3);
        assert!(p.numbers_in_tokens && p.figures_in_tokens);
        assert_eq!(p.figures().collect::<Vec<_>>(), [[word("b2"), word("#3")]]);
        assert_eq!(p.numbers().collect::<Vec<_>>(), [word("#3")]);
        // Figures and numbers that are not tokens are kept apart, as ids.
        let q = Packed::from(&Signature { tokens: vec!["a1".into()], ..s.clone() });
        assert!(!q.numbers_in_tokens && !q.figures_in_tokens);
        assert_eq!(q.figures().collect::<Vec<_>>(), [[word("b2"), word("#3")]]);
        assert_eq!(q.numbers().collect::<Vec<_>>(), [word("#3")]);
        assert!(p.is_portable(word("b2")) && p.is_portable(word("#3")) && !p.is_portable(word("a1")));
        assert!(is_region(p.places()[0], p.regions()[0]));
        assert_eq!((p.source(), p.language()), (0, 0));
    }
}
