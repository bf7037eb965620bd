//! What a headline says, as weighted tokens: folded words without stop words,
//! plus the figures and the names it carries (which decide look-alikes).

use super::lexicon::{self, Concept};
use crate::text;

/// Words too common in news to tell stories apart (English, Spanish, Arabic),
/// folded as `text::fold` folds them.
const STOP: &[&str] = &[
    // English
    "a", "an", "the", "of", "in", "on", "at", "to", "for", "from", "by", "with", "and", "or", "as", "is", "are", "was",
    "were", "be", "been", "after", "over", "into", "its", "it", "this", "that", "says", "say", "said", "new", "amid",
    "has", "have", "had", "will", "up", "out", "than", "more", "least", "about", "his", "her", "their", "they", "he",
    "she", "we", "not", "no", "but", "who", "what", "breaking", "urgent", "update", "live", "report", "reports",
    "news", // Spanish
    "el", "la", "los", "las", "un", "una", "unos", "unas", "de", "del", "en", "y", "o", "a", "al", "por", "para",
    "con", "sin", "que", "se", "su", "sus", "es", "son", "fue", "tras", "ante", "sobre", "como", "mas", "menos", "lo",
    "le", "les", "ultima", "hora", "urgente", "dice", "segun", "entre", "hasta", "desde",
    // Arabic (folded: ة→ه, أ/إ/آ→ا, ى→ي)
    "في", "من", "الي", "علي", "عن", "مع", "بعد", "قبل", "هذا", "هذه", "التي", "الذي", "ان", "او", "و", "ما", "لا", "قد",
    "كما", "بين", "حتي", "عاجل", "خلال", "منذ", "عند", "ذلك", "تلك", "هو", "هي", "كان", "كانت", "يقول", "قال",
];

/// One headline (and the lead of its summary), ready to compare.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Signature {
    /// Distinct content tokens, folded and lightly stemmed: the title's first.
    pub tokens: Vec<String>,
    /// How many of `tokens` come from the title.
    pub title_tokens: usize,
    /// Figures named (numbers as written, separators removed).
    pub numbers: Vec<String>,
    /// Each figure with its roles, the tokens either side of it: (role,
    /// figure). Figures conflict only in the same role.
    pub figures: Vec<(String, String)>,
    /// Capitalised words that are not the first word of the text (names, places).
    pub names: Vec<String>,
    /// Places named in the text: the concept table's ("@peru") and the
    /// configured regions' (as tags).
    pub places: Vec<String>,
    /// The regions whose configured places the text names.
    pub regions: Vec<String>,
    /// Filed as an article (opinion, analysis: set by the caller): it joins
    /// only articles by similarity, and news reports only news reports.
    pub article: bool,
    /// A roundup ([`is_roundup`]): it joins no story by similarity.
    pub roundup: bool,
    /// The source of the item (set by the caller; empty when unknown).
    pub source: String,
    /// The item's language, as a primary tag ("en"; set by the caller, empty
    /// when unknown).
    pub language: String,
}

impl Signature {
    /// Whether a token means the same in every language: a concept, a place,
    /// a figure, or a name (names are spelled alike in English and Spanish).
    pub fn is_portable(&self, token: &str) -> bool {
        token.starts_with(['~', '@', '#']) || self.names.iter().any(|n| n == token)
    }
}

/// Whether a title is a roundup: an outlet's kicker ("Markets wrap:",
/// "Morning note:", "Weather:") over a list of several things, parts
/// separated by commas or semicolons ("leu rallies after Moldova vote, storm
/// hits Iberian utilities"; "Tessaro's big night, Quorvia's reply and UK
/// inflation"). A roundup reports no one event, though it names several: it
/// is a story of its own. The kicker must be generic: up to three words, no
/// name after the first, not a place ("Jordania: Hani Obeidat, nuevo primer
/// ministro"), not shouted ("IT MELTDOWN:"), and not a kicker that follows
/// one event ("LIVE:", "Explainer:").
pub fn is_roundup(title: &str) -> bool {
    roundup(title, &text::split_folded(&text::fold(title)))
}

/// [`is_roundup`] for a title whose folded words are at hand.
fn roundup(title: &str, title_words: &[&str]) -> bool {
    if is_period_gallery(title_words) {
        return true;
    }
    let Some((kicker, rest)) = title.split_once(':') else { return false };
    if !is_generic_kicker(kicker) {
        return false;
    }
    let parts = rest.split([';', '،', '؛']).flat_map(|s| s.split(", ")).filter(|s| s.split_whitespace().count() >= 2);
    parts.count() >= 2
}

/// A gallery of a period's pictures ("The week in pictures: rubble in Lagos,
/// torrents in Lorca", "Photos of the day"): it shows several events, as a
/// roundup lists them. A gallery of one event ("In pictures: wildfire near
/// Athens") is not one of these. `words`: the title's folded words.
fn is_period_gallery(words: &[&str]) -> bool {
    const GALLERIES: &[&str] = &[
        "week in pictures",
        "day in pictures",
        "month in pictures",
        "year in pictures",
        "week in photos",
        "pictures of the week",
        "pictures of the day",
        "photos of the week",
        "photos of the day",
        "la semana en imágenes",
        "la semana en fotos",
        "fotos de la semana",
        "fotos del día",
        "imágenes de la semana",
        "الأسبوع في صور",
        "صور الأسبوع",
        "صور اليوم",
    ];
    /// Every gallery phrase names pictures with one of these (folded).
    const PICTURES: &[&str] = &["pictures", "photos", "fotos", "imagenes", "صور"];
    // Most titles name no pictures: a look at each word, no phrase search.
    if !words.iter().any(|w| PICTURES.contains(w)) {
        return false;
    }
    static FOLDED: std::sync::OnceLock<Vec<Vec<String>>> = std::sync::OnceLock::new();
    let galleries = FOLDED.get_or_init(|| GALLERIES.iter().map(|g| text::tokens(g)).collect());
    galleries.iter().any(|g| words.windows(g.len()).any(|w| w.iter().zip(g).all(|(a, b)| a == b)))
}

/// See [`is_roundup`].
fn is_generic_kicker(kicker: &str) -> bool {
    const FOLLOWS_ONE_EVENT: &[&str] = &["live", "explainer", "analysis", "opinion", "en vivo", "en directo", "مباشر"];
    let words: Vec<&str> = kicker.split_whitespace().collect();
    let shouted = kicker.chars().filter(|c| c.is_alphabetic()).count() > 3 && kicker == kicker.to_uppercase();
    let folded = text::fold(kicker.trim());
    !words.is_empty()
        && words.len() <= 3
        && !shouted
        && !FOLLOWS_ONE_EVENT.contains(&folded.as_str())
        && words[1..].iter().all(|w| !w.starts_with(char::is_uppercase))
        && !text::split_folded(&folded).iter().any(|w| matches!(concept_of(w), Some(Concept::Place(_))))
}

/// How many words of the summary's lead count with the title.
const LEAD_WORDS: usize = 25;

fn is_stop(t: &str) -> bool {
    // Every word of every title and lead is checked: a hash set, not a scan.
    static SET: std::sync::OnceLock<text::WordMap<()>> = std::sync::OnceLock::new();
    SET.get_or_init(|| STOP.iter().map(|w| (*w, ())).collect()).contains(t)
}

/// A light stem: enough to make "elections"/"election", "ataques"/"ataque" and
/// "الانتخابات"/"انتخابات" meet, without a real stemmer.
pub fn stem(t: &str) -> &str {
    let arabic = t.starts_with(|c: char| ('\u{0600}'..='\u{06FF}').contains(&c));
    if arabic {
        let t = ["وال", "بال", "فال", "كال", "لل", "ال"]
            .iter()
            .find_map(|p| t.strip_prefix(p))
            .filter(|r| r.chars().nth(2).is_some())
            .unwrap_or(t);
        return ["ات", "ون", "ين", "ه"]
            .iter()
            .find_map(|s| t.strip_suffix(s))
            .filter(|r| r.chars().nth(2).is_some())
            .unwrap_or(t);
    }
    if t.chars().all(|c| c.is_ascii_digit() || c == '.' || c == ',') {
        return t;
    }
    if t.chars().nth(4).is_some() {
        if let Some(r) = t.strip_suffix("es").filter(|r| r.ends_with(['s', 'x', 'z', 'n', 'r', 'l', 'd'])) {
            return r;
        }
        if let Some(r) = t.strip_suffix('s') {
            return r;
        }
    }
    t
}

/// Build the signature of a title and the plain text of its summary; `places`
/// are the configured places the item names (as tags). Words the concept
/// table knows become language-independent tokens ("~quake", "@peru"), and
/// figures one spelling ("#6.4"), so a translation shares tokens with the
/// original.
pub fn signature(title: &str, summary_text: &str, places: Vec<String>) -> Signature {
    let (title_f, summary_f) = (text::fold(title), text::fold(summary_text));
    signature_of_words(title, &text::split_folded(&title_f), &text::split_folded(&summary_f), places)
}

/// [`signature`] for words already folded: the title's and the summary's (of
/// which the first [`LEAD_WORDS`] count). `title` is the raw title, for names.
pub fn signature_of_words(title: &str, title_words: &[&str], summary_words: &[&str], places: Vec<String>) -> Signature {
    let lead = &summary_words[..summary_words.len().min(LEAD_WORDS)];
    let mut tokens = Vec::new();
    let mut numbers = Vec::new();
    let mut named_places: Vec<String> = Vec::new();
    let mut title_tokens = 0;
    let mut figures = Vec::new();
    for (part, words) in [title_words, lead].into_iter().enumerate() {
        if part == 1 {
            title_tokens = tokens.len();
        }
        // This part's tokens in order, repeats kept, for the figures' roles.
        let mut seq: Vec<String> = Vec::new();
        for &t in words {
            let token = if let Some(n) = lexicon::number(t) {
                if !numbers.contains(&n) {
                    numbers.push(n.clone());
                }
                marked('#', &n)
            } else if t.chars().nth(1).is_none() || is_stop(t) {
                continue;
            } else {
                match concept_of(t) {
                    Some(Concept::Word(c)) => marked('~', c),
                    Some(Concept::Place(p)) => {
                        let p = marked('@', p);
                        if !named_places.contains(&p) {
                            named_places.push(p.clone());
                        }
                        p
                    }
                    None => stem(t).to_string(),
                }
            };
            seq.push(token.clone());
            // A linear check: a title and a lead give a few dozen tokens.
            if !tokens.contains(&token) {
                tokens.push(token);
            }
        }
        add_figures(&mut figures, &seq);
    }
    // Configured places in the concept table's spelling where it knows them.
    for p in places {
        let p = match lexicon::concept(&p) {
            Some(Concept::Place(id)) => marked('@', id),
            _ => p,
        };
        if !named_places.contains(&p) {
            named_places.push(p);
        }
    }
    Signature {
        tokens,
        title_tokens,
        numbers,
        figures,
        names: names(title),
        places: named_places,
        regions: Vec::new(),
        article: false,
        roundup: roundup(title, title_words),
        source: String::new(),
        language: String::new(),
    }
}

/// The figures of one part with their roles: the nearest token that is no
/// figure on each side ("magnitude 6.1 kills": magnitude and kill).
fn add_figures(figures: &mut Vec<(String, String)>, seq: &[String]) {
    let is_figure = |t: &String| t.starts_with('#');
    for (i, t) in seq.iter().enumerate().filter(|(_, t)| is_figure(t)) {
        let next = seq[i + 1..].iter().find(|r| !is_figure(r));
        let previous = seq[..i].iter().rev().find(|r| !is_figure(r));
        for role in [previous, next].into_iter().flatten() {
            let figure = (role.clone(), t.clone());
            if !figures.contains(&figure) {
                figures.push(figure);
            }
        }
    }
}

/// A token with its kind's mark in front ("#6.4", "~quake", "@peru"); not
/// `format!`, whose machinery costs more than the rest of a token.
fn marked(mark: char, s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    out.push(mark);
    out.push_str(s);
    out
}

/// The concept of a folded word, or of its light stem.
fn concept_of(t: &str) -> Option<Concept> {
    lexicon::concept(t).or_else(|| Some(stem(t)).filter(|s| s.len() < t.len()).and_then(lexicon::concept))
}

/// Capitalised words of a title after its first word, folded and stemmed;
/// place names and figures are not names.
fn names(title: &str) -> Vec<String> {
    let mut out = Vec::new();
    let words: Vec<&str> = title.split(|c: char| !c.is_alphanumeric() && c != '\'').filter(|w| !w.is_empty()).collect();
    // Headline case ("Storm Hits Coast") capitalises everything: no signal there.
    let capitalised = words.iter().filter(|w| w.starts_with(char::is_uppercase)).count();
    if words.len() > 3 && capitalised * 10 >= words.len() * 7 {
        return out;
    }
    for w in words.iter().skip(1) {
        if w.starts_with(char::is_uppercase) && w.chars().nth(1).is_some() {
            let folded = text::fold(w.trim_end_matches("'s"));
            // A place is compared as a place; a capitalised common word
            // ("Central Bank") stays a name: it is part of one.
            if matches!(concept_of(&folded), Some(Concept::Place(_))) || lexicon::number(&folded).is_some() {
                continue;
            }
            let f = stem(&folded);
            if !is_stop(f) && !out.iter().any(|o| o == f) {
                out.push(f.to_string());
            }
        }
    }
    out
}
