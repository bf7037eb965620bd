//! Text folding shared by clustering and categorising: lower case, accents
//! folded (Spanish), Arabic diacritics and tatweel stripped and letter variants
//! unified, then split into word tokens.

/// The hasher of the word tables on the hot path (section keywords, places,
/// the concept table, stop words, the clustering index): one call of one-shot
/// xxh3 per key. `xxhash_rust`'s `Xxh3Builder` streams, copying every key into
/// a buffer before hashing it, which cost more than the lookups themselves
/// (scripts/ingest-instructions.sh). Like it, a fixed seed: these tables are
/// read with feed words, and the only one feeds write (the clustering index) is
/// bounded per item.
#[derive(Default, Clone, Copy)]
pub struct WordHasher(u64);

impl std::hash::Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.0);
    }

    fn write_u8(&mut self, b: u8) {
        self.write_u64(b as u64);
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(n as u64);
    }

    fn write_u64(&mut self, n: u64) {
        // A multiply-xorshift mix, so the high bits the table reads depend on every input bit.
        let x = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = x ^ (x >> 29);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Builds [`WordHasher`]s.
pub type WordHash = std::hash::BuildHasherDefault<WordHasher>;

/// A word table read with every word of every title and summary (section
/// keywords, places, the concept table, stop and number words). Most words of
/// a text are in none of them, so a 64-Kibit filter over four bytes and the
/// length of each key answers most misses before the word is hashed; a word
/// the filter lets through is looked up in the map as usual.
pub struct WordMap<V> {
    map: std::collections::HashMap<String, V, WordHash>,
    filter: Box<[u64]>,
}

const FILTER_WORDS: usize = 1024; // 64 Kibit, 8 KiB

/// The filter slot of a word: its length and its first, second, middle and
/// last bytes, mixed (Arabic letters are two bytes, so the second byte matters).
fn filter_slot(w: &[u8]) -> usize {
    let n = w.len();
    let (first, second, middle, last) = match n {
        0 => (0, 0, 0, 0),
        _ => (w[0], w[1.min(n - 1)], w[n / 2], w[n - 1]),
    };
    let x = u64::from_le_bytes([first, second, middle, last, n as u8, (n >> 8) as u8, 0, 0]);
    (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 48) as usize
}

impl<V> Default for WordMap<V> {
    fn default() -> Self {
        WordMap { map: Default::default(), filter: vec![0; FILTER_WORDS].into_boxed_slice() }
    }
}

impl<V> WordMap<V> {
    fn mark(&mut self, key: &str) {
        let slot = filter_slot(key.as_bytes());
        self.filter[slot / 64] |= 1 << (slot % 64);
    }

    /// The value of `key`, inserting `make()` first if it has none.
    pub fn get_or_insert_with(&mut self, key: String, make: impl FnOnce() -> V) -> &mut V {
        self.mark(&key);
        self.map.entry(key).or_insert_with(make)
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        let slot = filter_slot(key.as_bytes());
        if self.filter[slot / 64] & (1 << (slot % 64)) == 0 {
            return None;
        }
        self.map.get(key)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl<K: Into<String>, V> FromIterator<(K, V)> for WordMap<V> {
    /// As a `HashMap` collects: a key given twice keeps its last value.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut m = WordMap::default();
        for (k, v) in iter {
            let k = k.into();
            m.mark(&k);
            m.map.insert(k, v);
        }
        m
    }
}

/// Fold one character; `None` drops it.
fn fold_char(c: char, out: &mut String) {
    match c {
        // Arabic harakat, tanwin, shadda, sukun, superscript alef; tatweel.
        '\u{064B}'..='\u{065F}' | '\u{0670}' | '\u{0640}' | '\u{06D6}'..='\u{06ED}' => {}
        'أ' | 'إ' | 'آ' | 'ٱ' => out.push('ا'),
        'ى' => out.push('ي'),
        'ة' => out.push('ه'),
        'ؤ' => out.push('و'),
        'ئ' => out.push('ي'),
        // Arabic-Indic digits to ASCII, so "٧" and "7" are the same figure.
        '\u{0660}'..='\u{0669}' => out.push(char::from(b'0' + (c as u32 - 0x0660) as u8)),
        '\u{06F0}'..='\u{06F9}' => out.push(char::from(b'0' + (c as u32 - 0x06F0) as u8)),
        'á' | 'à' | 'â' | 'ä' | 'ã' | 'Á' | 'À' | 'Â' | 'Ä' | 'Ã' => out.push('a'),
        'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => out.push('e'),
        'í' | 'ì' | 'î' | 'ï' | 'Í' | 'Ì' | 'Î' | 'Ï' => out.push('i'),
        'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'Ó' | 'Ò' | 'Ô' | 'Ö' | 'Õ' => out.push('o'),
        'ú' | 'ù' | 'û' | 'ü' | 'Ú' | 'Ù' | 'Û' | 'Ü' => out.push('u'),
        'ñ' | 'Ñ' => out.push('n'),
        'ç' | 'Ç' => out.push('c'),
        c if c.is_uppercase() => out.extend(c.to_lowercase()),
        c => out.push(c),
    }
}

/// Folded text: lower case, accents and Arabic variants unified.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while !rest.is_empty() {
        // Runs of ASCII (most of English and Spanish text) are lower-cased as
        // bytes; only the other characters go through `fold_char`.
        let ascii = rest.bytes().position(|b| !b.is_ascii()).unwrap_or(rest.len());
        if ascii > 0 {
            let start = out.len();
            out.push_str(&rest[..ascii]);
            out[start..].make_ascii_lowercase();
            rest = &rest[ascii..];
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            fold_char(c, &mut out);
            rest = chars.as_str();
        }
    }
    out
}

/// The first `max_chars` characters of `s`, cut back to the end of a word.
pub fn lead(s: &str, max_chars: usize) -> &str {
    match s.char_indices().nth(max_chars) {
        None => s,
        Some((at, _)) => {
            let head = &s[..at];
            head.rfind(char::is_whitespace).map_or(head, |space| &head[..space])
        }
    }
}

/// Folded word tokens (letters and digits; a decimal point or thousands
/// separator between digits stays inside the number).
pub fn tokens(s: &str) -> Vec<String> {
    split_folded(&fold(s)).into_iter().map(String::from).collect()
}

/// The word tokens of text that is already folded, borrowed from it.
pub fn split_folded(folded: &str) -> Vec<&str> {
    // About one word in six bytes of English or Spanish.
    let mut out = Vec::with_capacity(folded.len() / 6 + 1);
    let bytes = folded.as_bytes();
    let mut start: Option<usize> = None;
    let mut prev_digit = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        // ASCII byte by byte; any other character decoded (i is at a boundary).
        let (word_char, len) = if b.is_ascii() {
            (b.is_ascii_alphanumeric(), 1)
        } else {
            match folded[i..].chars().next() {
                Some(c) => (c.is_alphanumeric(), c.len_utf8()),
                None => break,
            }
        };
        let inside_number = matches!(b, b'.' | b',')
            && start.is_some()
            && prev_digit
            && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
        if word_char || inside_number {
            start.get_or_insert(i);
        } else if let Some(s) = start.take() {
            out.push(&folded[s..i]);
        }
        prev_digit = b.is_ascii_digit();
        i += len;
    }
    if let Some(s) = start {
        out.push(&folded[s..]);
    }
    out
}

/// Arabic clitics that attach to the front of a word: "and", "the", "with the", ...
const ARABIC_PREFIXES: [&str; 12] = ["وال", "بال", "كال", "فال", "لل", "ال", "و", "ف", "ب", "ك", "ل", "س"];

/// True when `token` is `word`, or `word` with Arabic clitics in front
/// ("والانتخابات" matches "انتخابات").
pub fn token_matches(token: &str, word: &str) -> bool {
    if token == word {
        return true;
    }
    if !word.starts_with(|c: char| ('\u{0600}'..='\u{06FF}').contains(&c)) {
        return false;
    }
    let word = word.strip_prefix("ال").unwrap_or(word);
    ARABIC_PREFIXES
        .iter()
        .any(|p| token.strip_prefix(p).is_some_and(|rest| rest == word || rest.strip_prefix("ال") == Some(word)))
}

/// True when the token sequence `phrase` occurs in `hay` as whole words.
pub fn contains_phrase<H: AsRef<str>, P: AsRef<str>>(hay: &[H], phrase: &[P]) -> bool {
    if phrase.is_empty() || phrase.len() > hay.len() {
        return false;
    }
    hay.windows(phrase.len()).any(|w| w.iter().zip(phrase).all(|(t, p)| token_matches(t.as_ref(), p.as_ref())))
}

/// Phrases looked up by their first word, so that finding every phrase a text
/// contains costs a few hash lookups per word instead of a pass per phrase.
/// Matching is [`contains_phrase`]'s: whole words, Arabic clitics allowed;
/// a phrase added by [`PhraseSet::insert_with_plurals`] with `plurals` also
/// takes the plural of its last word (see [`plural_of`]).
pub struct PhraseSet<T> {
    /// Each phrase with its value and whether it also matches with its last
    /// word in the plural, by its first word.
    by_first: WordMap<Vec<(Vec<String>, T, bool)>>,
    /// Whether any phrase takes plurals (then plural-looking words are looked
    /// up by their singular forms too).
    any_plurals: bool,
}

impl<T> Default for PhraseSet<T> {
    fn default() -> Self {
        PhraseSet { by_first: Default::default(), any_plurals: false }
    }
}

/// Whether `token` is a regular English or Spanish plural of `word` (both
/// folded): `word` + "s" or + "es" ("vaccines", "brotes", "inundaciones",
/// "tifones"), or "-y" → "-ies" ("derbies"). Only for Latin-script words of at
/// least four letters, so short words ("ai", "bus") and Arabic, whose plurals
/// are mostly broken plurals listed as keywords of their own, are left alone.
pub fn plural_of(token: &str, word: &str) -> bool {
    if word.len() < 4 || !word.bytes().all(|b| b.is_ascii_alphabetic()) {
        return false;
    }
    match token.strip_prefix(word) {
        Some("s") | Some("es") => true,
        _ => word.strip_suffix('y').is_some_and(|stem| token.strip_prefix(stem) == Some("ies")),
    }
}

/// The singular stems a plural-looking token may come from, for lookup.
/// Only "-ies" allocates (for its "-y"); most words end in none of these.
fn singular_keys(w: &str) -> impl Iterator<Item = std::borrow::Cow<'_, str>> {
    let ies = w.strip_suffix("ies").map(|s| std::borrow::Cow::Owned(format!("{s}y")));
    let es = w.strip_suffix("es").map(std::borrow::Cow::Borrowed);
    let s = w.strip_suffix('s').map(std::borrow::Cow::Borrowed);
    [s, es, ies].into_iter().flatten().filter(|k| k.len() >= 4)
}

fn is_arabic(w: &str) -> bool {
    w.starts_with(|c: char| ('\u{0600}'..='\u{06FF}').contains(&c))
}

impl<T> PhraseSet<T> {
    /// Add a phrase (folded tokens) with the value it stands for; it matches
    /// exact words only.
    pub fn insert(&mut self, phrase: Vec<String>, value: T) {
        self.insert_with_plurals(phrase, value, false);
    }

    /// [`PhraseSet::insert`], saying whether this phrase also matches with its
    /// last word in the plural: one set can hold phrases of both kinds, and
    /// is walked once for all of them.
    pub fn insert_with_plurals(&mut self, phrase: Vec<String>, value: T, plurals: bool) {
        let Some(first) = phrase.first() else { return };
        let key = if is_arabic(first) { first.strip_prefix("ال").unwrap_or(first) } else { first };
        self.any_plurals |= plurals;
        self.by_first.get_or_insert_with(key.to_string(), Vec::new).push((phrase, value, plurals));
    }

    /// Call `found` with the value of every phrase occurring in `words` (once
    /// per occurrence).
    pub fn find<'a, H: AsRef<str>>(&'a self, words: &[H], mut found: impl FnMut(&'a T)) {
        self.find_at(words, |_, v| found(v))
    }

    /// [`PhraseSet::find`] with the words each occurrence spans.
    pub fn find_at<'a, H: AsRef<str>>(&'a self, words: &[H], mut found: impl FnMut(std::ops::Range<usize>, &'a T)) {
        for (i, w) in words.iter().enumerate() {
            let w = w.as_ref();
            let mut check = |key: &str| {
                if let Some(list) = self.by_first.get(key) {
                    for (phrase, value, plurals) in list {
                        let last = phrase.len() - 1;
                        let fits = words.len() - i >= phrase.len()
                            && words[i..].iter().zip(phrase).enumerate().all(|(j, (t, p))| {
                                token_matches(t.as_ref(), p) || *plurals && j == last && plural_of(t.as_ref(), p)
                            });
                        if fits {
                            found(i..i + phrase.len(), value);
                        }
                    }
                }
            };
            check(w);
            if self.any_plurals && w.bytes().all(|b| b.is_ascii_alphabetic()) {
                for key in singular_keys(w) {
                    check(&key);
                }
            }
            if is_arabic(w) {
                // The keys a clitic-bearing token can stand for, each once.
                let mut tried: Vec<&str> = vec![w];
                for p in ARABIC_PREFIXES {
                    if let Some(rest) = w.strip_prefix(p) {
                        for key in [rest, rest.strip_prefix("ال").unwrap_or(rest)] {
                            if !key.is_empty() && !tried.contains(&key) {
                                tried.push(key);
                                check(key);
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The splitting `split_folded` replaced, character by character.
    fn split_folded_char_by_char(folded: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut start: Option<usize> = None;
        let mut prev = ' ';
        let mut chars = folded.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            let inside_number = matches!(c, '.' | ',')
                && start.is_some()
                && prev.is_ascii_digit()
                && chars.peek().is_some_and(|(_, n)| n.is_ascii_digit());
            if c.is_alphanumeric() || inside_number {
                start.get_or_insert(i);
            } else if let Some(s) = start.take() {
                out.push(&folded[s..i]);
            }
            prev = c;
        }
        if let Some(s) = start {
            out.push(&folded[s..]);
        }
        out
    }

    proptest::proptest! {
        /// Splitting byte by byte splits as the character-by-character version did.
        #[test]
        fn split_is_split_char_by_char(s in "(?s).{0,40}", t in "[a-z0-9 .,ñéأ٣-]{0,40}") {
            for x in [&s, &t] {
                proptest::prop_assert_eq!(split_folded(x), split_folded_char_by_char(x));
            }
        }

        /// The filter in front of a word map never hides a key: every lookup
        /// answers as the plain map does.
        #[test]
        fn word_map_answers_as_a_hash_map(
            keys in proptest::collection::vec("[a-zé0-9أبتث]{0,12}", 0..60),
            probes in proptest::collection::vec("[a-zé0-9أبتث]{0,12}", 0..60),
        ) {
            let plain: std::collections::HashMap<String, usize> =
                keys.iter().enumerate().map(|(i, k)| (k.clone(), i)).collect();
            let words: WordMap<usize> = keys.iter().enumerate().map(|(i, k)| (k.clone(), i)).collect();
            proptest::prop_assert_eq!(words.len(), plain.len());
            for k in keys.iter().chain(&probes) {
                proptest::prop_assert_eq!(words.get(k), plain.get(k));
            }
        }

        /// The ASCII fast path folds exactly as folding every character does.
        #[test]
        fn fold_is_fold_char_by_char(s in "(?s).{0,40}", t in "[a-zA-Z0-9 ÁÉáéñÑأإآةىـً٣.,-]{0,40}") {
            for x in [&s, &t] {
                let mut slow = String::new();
                for c in x.chars() {
                    fold_char(c, &mut slow);
                }
                proptest::prop_assert_eq!(fold(x), slow);
            }
        }
    }

    #[test]
    fn a_lead_ends_at_a_word() {
        assert_eq!(lead("short text", 100), "short text");
        assert_eq!(lead("one two three", 9), "one two");
        assert_eq!(lead("أمطار غزيرة في لبنان", 8), "أمطار");
        assert_eq!(lead("", 3), "");
    }

    #[test]
    fn arabic_is_unified() {
        assert_eq!(fold("إِنْتِخَابَاتٌ"), fold("انتخابات"));
        assert_eq!(fold("مـــصر"), "مصر");
        assert_eq!(fold("مدرسة"), fold("مدرسه"));
        assert_eq!(tokens("٢٠٢٦ عاماً"), vec!["2026", "عاما"]);
    }

    #[test]
    fn phrase_sets_find_what_contains_phrase_finds() {
        let mut set = PhraseSet::default();
        for (i, p) in ["central bank", "انتخابات", "الدوري", "oil", "moción de censura", "مجلس الأمن"].iter().enumerate()
        {
            set.insert(tokens(p), i);
        }
        let found = |text: &str| {
            let mut out = Vec::new();
            set.find(&tokens(text), |v| out.push(*v));
            out.sort();
            out.dedup();
            out
        };
        assert_eq!(found("The Central Bank cuts rates; oil falls"), vec![0, 3]);
        assert_eq!(found("والانتخابات في الدوري وبالدوري"), vec![1, 2]);
        assert_eq!(found("la moción de censura, y el Consejo de Seguridad"), vec![4]);
        assert_eq!(found("ومجلس الأمن يجتمع"), vec![5]);
        assert_eq!(found("banking oily mocion"), Vec::<usize>::new());
        let mut spans = Vec::new();
        set.find_at(&tokens("y la moción de censura"), |at, v| spans.push((at, *v)));
        assert_eq!(spans, vec![(2..5, 4)], "find_at gives the words a phrase spans");
    }

    #[test]
    fn keyword_plurals() {
        // (token, keyword, plural of it?)
        for (token, word, want) in [
            ("vaccines", "vaccine", true),
            ("brotes", "brote", true),
            ("inundaciones", "inundacion", true),
            ("tifones", "tifon", true),
            ("derbies", "derby", true),
            ("hospitals", "hospital", true),
            ("ais", "ai", false),
            ("buses", "bus", false),
            ("vaccinate", "vaccine", false),
            ("brotes", "brotes", false),
            ("انتخاباتs", "انتخابات", false),
        ] {
            assert_eq!(plural_of(token, word), want, "{token} / {word}");
        }
        let mut set = PhraseSet::default();
        set.insert_with_plurals(tokens("vaccine"), 0, true);
        set.insert_with_plurals(tokens("central bank"), 1, true);
        set.insert_with_plurals(tokens("derby"), 2, true);
        let found = |text: &str| {
            let mut out = Vec::new();
            set.find(&tokens(text), |v| out.push(*v));
            out
        };
        assert_eq!(found("Two vaccines and central banks"), vec![0, 1]);
        assert_eq!(found("Derbies this weekend"), vec![2]);
        assert_eq!(found("centrals bank vaccinated"), Vec::<i32>::new(), "only the last word, only plurals");
        let mut plain = PhraseSet::default();
        plain.insert(tokens("vaccine"), 0);
        let mut out = Vec::new();
        plain.find(&tokens("vaccines"), |v| out.push(*v));
        assert!(out.is_empty(), "a plain set (places) matches exact words");
        // One set holding both kinds (filing walks keywords and places at once).
        let mut mixed = PhraseSet::default();
        mixed.insert_with_plurals(tokens("vaccine"), 0, true);
        mixed.insert_with_plurals(tokens("peru"), 1, false);
        mixed.insert_with_plurals(tokens("lima"), 2, false);
        let mut out = Vec::new();
        mixed.find(&tokens("Vaccines for Peru and Lima, not the Perus or Limas"), |v| out.push(*v));
        assert_eq!(out, vec![0, 1, 2]);
    }

    #[test]
    fn spanish_accents_fold() {
        assert_eq!(tokens("Última hora: España, AÑO"), vec!["ultima", "hora", "espana", "ano"]);
    }

    #[test]
    fn numbers_keep_their_separators() {
        assert_eq!(tokens("rates at 5.25%, up 0,5"), vec!["rates", "at", "5.25", "up", "0,5"]);
    }

    #[test]
    fn arabic_clitics() {
        assert!(token_matches("والانتخابات", "انتخابات"));
        assert!(token_matches("بالانتخابات", "الانتخابات"));
        assert!(!token_matches("election", "elect"));
        let hay = tokens("Breaking news from Beirut");
        assert!(contains_phrase(&hay, &tokens("breaking news")));
        assert!(!contains_phrase(&tokens("A breakthrough"), &tokens("breaking")));
    }
}
