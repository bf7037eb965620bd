//! Text folding shared by clustering and categorising: lower case, accents
//! folded (Spanish), Arabic diacritics and tatweel stripped and letter variants
//! unified, then split into word tokens.

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
    for c in s.chars() {
        fold_char(c, &mut out);
    }
    out
}

/// Folded word tokens (letters and digits; a decimal point or thousands
/// separator between digits stays inside the number).
pub fn tokens(s: &str) -> Vec<String> {
    split_folded(&fold(s)).into_iter().map(String::from).collect()
}

/// The word tokens of text that is already folded, borrowed from it.
pub fn split_folded(folded: &str) -> Vec<&str> {
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
/// Matching is [`contains_phrase`]'s: whole words, Arabic clitics allowed.
pub struct PhraseSet<T> {
    by_first: std::collections::HashMap<String, Vec<(Vec<String>, T)>>,
}

impl<T> Default for PhraseSet<T> {
    fn default() -> Self {
        PhraseSet { by_first: std::collections::HashMap::new() }
    }
}

fn is_arabic(w: &str) -> bool {
    w.starts_with(|c: char| ('\u{0600}'..='\u{06FF}').contains(&c))
}

impl<T> PhraseSet<T> {
    /// Add a phrase (folded tokens) with the value it stands for.
    pub fn insert(&mut self, phrase: Vec<String>, value: T) {
        let Some(first) = phrase.first() else { return };
        let key = if is_arabic(first) { first.strip_prefix("ال").unwrap_or(first) } else { first };
        self.by_first.entry(key.to_string()).or_default().push((phrase, value));
    }

    /// Call `found` with the value of every phrase occurring in `words` (once
    /// per occurrence).
    pub fn find<'a, H: AsRef<str>>(&'a self, words: &[H], mut found: impl FnMut(&'a T)) {
        self.find_at(words, |_, v| found(v))
    }

    /// [`PhraseSet::find`] with the index of the word each occurrence starts at.
    pub fn find_at<'a, H: AsRef<str>>(&'a self, words: &[H], mut found: impl FnMut(usize, &'a T)) {
        for (i, w) in words.iter().enumerate() {
            let w = w.as_ref();
            let mut check = |key: &str| {
                if let Some(list) = self.by_first.get(key) {
                    for (phrase, value) in list {
                        let fits = words.len() - i >= phrase.len()
                            && words[i..].iter().zip(phrase).all(|(t, p)| token_matches(t.as_ref(), p));
                        if fits {
                            found(i, value);
                        }
                    }
                }
            };
            check(w);
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
