//! The characters XML 1.0 forbids (C0 controls but tab, LF and CR; U+FFFE,
//! U+FFFF): one of them anywhere in a document makes every strict reader
//! refuse the whole feed, so normalised text never holds them and every XML
//! writer strips them once more on the way out.

use std::borrow::Cow;

/// Whether XML 1.0 forbids `c` in a document (as text or as a reference).
pub fn forbidden(c: char) -> bool {
    matches!(c, '\0'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
}

/// `s` without the characters XML forbids; borrowed when it has none (most text).
pub fn strip(s: &str) -> Cow<'_, str> {
    if s.chars().any(forbidden) {
        Cow::Owned(s.chars().filter(|c| !forbidden(*c)).collect())
    } else {
        Cow::Borrowed(s)
    }
}

/// [`strip`] for an owned string, reusing it when it has none.
pub fn strip_owned(s: String) -> String {
    match strip(&s) {
        Cow::Borrowed(_) => s,
        Cow::Owned(clean) => clean,
    }
}

/// A rendered UTF-8 document without the characters XML forbids. Works on
/// bytes: the C0 controls are single bytes that never occur inside a longer
/// UTF-8 sequence, and U+FFFE/U+FFFF are always `EF BF BE`/`EF BF BF`.
pub fn strip_bytes(mut doc: Vec<u8>) -> Vec<u8> {
    let Some(first) = doc.iter().position(|&b| b == 0xEF || forbidden_byte(b)) else {
        return doc;
    };
    let (mut read, mut write) = (first, first);
    while read < doc.len() {
        let b = doc[read];
        if forbidden_byte(b) {
            read += 1;
            continue;
        }
        if b == 0xEF && matches!(doc.get(read + 1..read + 3), Some([0xBF, 0xBE | 0xBF])) {
            read += 3;
            continue;
        }
        doc[write] = b;
        (read, write) = (read + 1, write + 1);
    }
    doc.truncate(write);
    doc
}

fn forbidden_byte(b: u8) -> bool {
    b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_characters_go_from_strings_and_documents() {
        let dirty = "a\u{0}b\u{1}c\u{8}\t\n\r\u{b}\u{c}d\u{e}\u{1b}\u{1f}e\u{fffe}\u{ffff}f\u{fffd}é";
        assert_eq!(strip(dirty), "abc\t\n\rdef\u{fffd}é");
        assert_eq!(String::from_utf8(strip_bytes(dirty.as_bytes().to_vec())).unwrap(), "abc\t\n\rdef\u{fffd}é");
        assert!(matches!(strip("clean ключ"), Cow::Borrowed(_)));
        // U+EFBF (EE BE BF) and other characters sharing bytes stay.
        let kept = "\u{efbf}\u{fffd}\u{fefe}日本";
        assert_eq!(strip_bytes(kept.as_bytes().to_vec()), kept.as_bytes());
    }
}
