//! Words that mean the same across English, Spanish and Arabic: news
//! vocabulary ("earthquake", "sismo", "زلزال") and place names ("Peru",
//! "Perú", "البيرو") map to one language-independent concept, so that a
//! translated report shares tokens with the original. The table is
//! `concepts.txt`, written by the team from general knowledge (not tuned to
//! the evaluation set); spelled-out small numbers map to their figures.

use crate::text;
use std::sync::OnceLock;

const TABLE: &str = include_str!("concepts.txt");

/// What a word stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concept {
    /// A kind of event, act or thing ("~quake").
    Word(&'static str),
    /// A country, city or region ("@peru").
    Place(&'static str),
}

struct Lexicon {
    words: text::WordMap<Concept>,
}

/// Spelled-out figures a headline uses instead of digits, folded. Words that
/// are also articles or common words ("one", "una", "once") are left out.
const NUMBER_WORDS: &[(&str, &str)] = &[
    ("two", "2"),
    ("three", "3"),
    ("four", "4"),
    ("five", "5"),
    ("six", "6"),
    ("seven", "7"),
    ("eight", "8"),
    ("nine", "9"),
    ("ten", "10"),
    ("eleven", "11"),
    ("twelve", "12"),
    ("dozen", "12"),
    ("fifteen", "15"),
    ("twenty", "20"),
    ("hundred", "100"),
    ("dos", "2"),
    ("tres", "3"),
    ("cuatro", "4"),
    ("cinco", "5"),
    ("seis", "6"),
    ("siete", "7"),
    ("ocho", "8"),
    ("nueve", "9"),
    ("diez", "10"),
    ("doce", "12"),
    ("quince", "15"),
    ("veinte", "20"),
    ("cien", "100"),
    ("واحد", "1"),
    ("اثنان", "2"),
    ("اثنين", "2"),
    ("ثلاثه", "3"),
    ("ثلاث", "3"),
    ("اربعه", "4"),
    ("اربع", "4"),
    ("خمسه", "5"),
    ("خمس", "5"),
    ("سته", "6"),
    ("ست", "6"),
    ("سبعه", "7"),
    ("سبع", "7"),
    ("ثمانيه", "8"),
    ("ثماني", "8"),
    ("ثمان", "8"),
    ("تسعه", "9"),
    ("تسع", "9"),
    ("عشره", "10"),
    ("عشر", "10"),
    ("عشرين", "20"),
    ("عشرون", "20"),
    ("مئه", "100"),
    ("مائه", "100"),
];

/// The longest of [`NUMBER_WORDS`], in bytes (a test checks it).
const MAX_NUMBER_WORD_BYTES: usize = 12;

fn lexicon() -> &'static Lexicon {
    static LEXICON: OnceLock<Lexicon> = OnceLock::new();
    LEXICON.get_or_init(|| {
        let mut words = text::WordMap::default();
        for line in TABLE.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let Some((id, rest)) = line.split_once(':') else { continue };
            let id = id.trim();
            let concept = match id.strip_prefix("place-") {
                Some(p) => Concept::Place(p),
                None => Concept::Word(id),
            };
            for w in rest.split(['|', ' ']).filter(|w| !w.is_empty()) {
                let f = text::fold(w);
                let f = strip_article(&f).unwrap_or(&f).to_string();
                // The first concept to claim a word keeps it.
                words.get_or_insert_with(f, || concept);
            }
        }
        Lexicon { words }
    })
}

fn is_arabic(t: &str) -> bool {
    t.starts_with(|c: char| ('\u{0600}'..='\u{06FF}').contains(&c))
}

/// An Arabic word without its article ("الهند" → "هند"), when it has one.
fn strip_article(t: &str) -> Option<&str> {
    t.strip_prefix("ال").filter(|r| is_arabic(t) && r.chars().nth(1).is_some())
}

/// Arabic clitics in front of a word, longest first.
const PREFIXES: [&str; 11] = ["وال", "بال", "فال", "كال", "لل", "ال", "و", "ب", "ل", "ف", "ك"];

/// The concept a folded token stands for, if the table knows it.
pub fn concept(token: &str) -> Option<Concept> {
    let words = &lexicon().words;
    if let Some(c) = words.get(token) {
        return Some(*c);
    }
    if is_arabic(token) {
        // Clitics and the article, then a plural or feminine ending.
        for p in PREFIXES {
            if let Some(rest) = token.strip_prefix(p).filter(|r| r.chars().nth(1).is_some()) {
                if let Some(c) = words.get(rest) {
                    return Some(*c);
                }
            }
        }
        return None;
    }
    // English and Spanish plurals.
    for suffix in ["es", "s"] {
        if let Some(c) = token.strip_suffix(suffix).filter(|r| r.len() >= 3).and_then(|r| words.get(r)) {
            return Some(*c);
        }
    }
    None
}

/// A figure as written ("6,4", "4,000", "nine", "٩") in one spelling:
/// thousands separators dropped, a decimal comma made a point.
pub fn number(token: &str) -> Option<String> {
    if !token.starts_with(|c: char| c.is_ascii_digit()) {
        // Every word is asked: a hash lookup, not a scan of the list, and
        // only for a word as short as a number word.
        static WORDS: OnceLock<text::WordMap<&str>> = OnceLock::new();
        if token.len() > MAX_NUMBER_WORD_BYTES {
            return None;
        }
        let words = WORDS.get_or_init(|| NUMBER_WORDS.iter().copied().collect());
        return words.get(token).map(|n| n.to_string());
    }
    let digits: String = token.chars().take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ',').collect();
    let groups: Vec<&str> = digits.split(',').collect();
    let thousands = groups.len() > 1 && groups[1..].iter().all(|g| g.len() == 3 && !g.contains('.'));
    // "4.000" in Spanish is four thousand: a point before exactly three
    // digits, after at most three, separates thousands.
    let dotted: Vec<&str> = digits.split('.').collect();
    let dot_thousands = !digits.contains(',')
        && dotted.len() > 1
        && (1..=3).contains(&dotted[0].len())
        && dotted[1..].iter().all(|g| g.len() == 3);
    let n = if thousands || dot_thousands { digits.replace([',', '.'], "") } else { digits.replace(',', ".") };
    let n = n.trim_end_matches('.');
    (!n.is_empty()).then(|| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_parses_and_maps_three_languages() {
        assert!(lexicon().words.len() > 2000, "{} words", lexicon().words.len());
        let quake = concept("earthquake");
        assert!(matches!(quake, Some(Concept::Word(_))));
        assert_eq!(concept("sismo"), quake);
        assert_eq!(concept(&text::fold("زلزال")), quake);
        assert_eq!(concept(&text::fold("والزلزال")), quake);
        let peru = concept("peru");
        assert!(matches!(peru, Some(Concept::Place(_))));
        assert_eq!(concept(&text::fold("Perú")), peru);
    }

    #[test]
    fn no_number_word_is_longer_than_the_cut() {
        assert_eq!(NUMBER_WORDS.iter().map(|(w, _)| w.len()).max(), Some(MAX_NUMBER_WORD_BYTES));
    }

    #[test]
    fn figures_have_one_spelling() {
        assert_eq!(number("6,4").as_deref(), Some("6.4"));
        assert_eq!(number("6.4").as_deref(), Some("6.4"));
        assert_eq!(number("4,000").as_deref(), Some("4000"));
        assert_eq!(number("500,000").as_deref(), Some("500000"));
        assert_eq!(number("4.000").as_deref(), Some("4000"));
        assert_eq!(number("1.200.000").as_deref(), Some("1200000"));
        assert_eq!(number("4.50").as_deref(), Some("4.50"));
        assert_eq!(number("nine").as_deref(), Some("9"));
        assert_eq!(number("nueve").as_deref(), Some("9"));
        assert_eq!(number(&text::fold("تسعة")).as_deref(), Some("9"));
        assert_eq!(number("14").as_deref(), Some("14"));
        assert_eq!(number("peru"), None);
    }
}
