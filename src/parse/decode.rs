//! Getting bytes into a form feed-rs reads: UTF-16 with a BOM becomes UTF-8, and
//! a document declared (or defaulting to) UTF-8 that is not valid UTF-8 has
//! its invalid bytes read as windows-1252, as browsers do, and the rest as UTF-8.

use std::borrow::Cow;

/// Return the document as feed-rs should see it.
pub fn prepare(bytes: &[u8]) -> Cow<'_, [u8]> {
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return Cow::Borrowed(rest);
    }
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        let enc = if bytes[0] == 0xFF { encoding_rs::UTF_16LE } else { encoding_rs::UTF_16BE };
        let (text, _) = enc.decode_with_bom_removal(&bytes[2..]);
        return Cow::Owned(relabel_utf8(&text).into_bytes());
    }
    // UTF-16 without a BOM: "<?" as 16-bit units.
    if bytes.starts_with(&[0x3C, 0x00, 0x3F, 0x00]) || bytes.starts_with(&[0x00, 0x3C, 0x00, 0x3F]) {
        let enc = if bytes[1] == 0 { encoding_rs::UTF_16LE } else { encoding_rs::UTF_16BE };
        let (text, _, _) = enc.decode(bytes);
        return Cow::Owned(relabel_utf8(&text).into_bytes());
    }
    match declared_encoding(bytes) {
        Some(label) => {
            let label = label.to_ascii_lowercase();
            // A declaration of UTF-8 that lies, or a legacy charset feed-rs may not
            // know: decode here with encoding_rs, which knows the WHATWG set.
            if label == "utf-8" || label == "utf8" {
                if std::str::from_utf8(bytes).is_ok() {
                    return Cow::Borrowed(bytes);
                }
                return Cow::Owned(relabel_utf8(&mixed_utf8(bytes)).into_bytes());
            }
            match encoding_rs::Encoding::for_label(label.as_bytes()) {
                Some(enc) if enc != encoding_rs::UTF_8 => {
                    let (text, _, _) = enc.decode(bytes);
                    Cow::Owned(relabel_utf8(&text).into_bytes())
                }
                _ => Cow::Borrowed(bytes),
            }
        }
        None => {
            if std::str::from_utf8(bytes).is_ok() {
                Cow::Borrowed(bytes)
            } else {
                Cow::Owned(relabel_utf8(&mixed_utf8(bytes)).into_bytes())
            }
        }
    }
}

/// Valid UTF-8 sequences as UTF-8, and only the bytes that are not as
/// windows-1252: one stray Latin-1 byte in a UTF-8 document must not turn
/// every correct "café" into "cafÃ©". A whole windows-1252 document comes out
/// as windows-1252 would read it (its accented letters are never valid UTF-8
/// sequences but for mojibake like "Ã©" written in it on purpose).
fn mixed_utf8(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() + bytes.len() / 8);
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            text.push_str(&encoding_rs::WINDOWS_1252.decode_without_bom_handling(chunk.invalid()).0);
        }
    }
    text
}

/// The `encoding="..."` of the XML declaration, if the document starts with one.
fn declared_encoding(bytes: &[u8]) -> Option<&str> {
    let head = &bytes[..bytes.len().min(200)];
    let start = head.iter().position(|b| !b.is_ascii_whitespace())?;
    let head = &head[start..];
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let end = head.windows(2).position(|w| w == b"?>")?;
    let decl = std::str::from_utf8(&head[..end]).ok()?;
    let at = decl.find("encoding")?;
    let rest = decl[at + 8..].trim_start().strip_prefix('=')?.trim_start();
    let quote = rest.chars().next()?;
    if quote != '"' && quote != '\'' {
        return None;
    }
    let rest = &rest[1..];
    rest.find(quote).map(|e| &rest[..e])
}

/// Text now in UTF-8: make its XML declaration say so.
fn relabel_utf8(text: &str) -> String {
    let trimmed = text.trim_start_matches('\u{feff}');
    if let Some(rest) = trimmed.trim_start().strip_prefix("<?xml") {
        if let Some(end) = rest.find("?>") {
            return format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>{}", &rest[end + 2..]);
        }
    }
    trimmed.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undeclared_latin1_is_read_as_windows_1252() {
        let doc = b"<rss version=\"2.0\"><channel><title>Caf\xe9 \x93quoted\x94</title></channel></rss>";
        let out = prepare(doc);
        let s = std::str::from_utf8(&out).unwrap();
        assert!(s.contains("Café “quoted”"), "{s}");
    }

    #[test]
    fn a_stray_latin1_byte_leaves_the_utf8_around_it_alone() {
        let doc = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss><channel><title>Café — naïve</title>\
                   <item><title>Caf\u{0}</title></item></channel></rss>";
        // The U+0000 stands for one stray windows-1252 byte: é as 0xE9, and a curly quote 0x93.
        let mut bytes = doc.replace('\u{0}', "#").into_bytes();
        let at = bytes.iter().position(|&b| b == b'#').unwrap();
        bytes.splice(at..=at, [0xE9, b' ', 0x93, b'x', 0x94]);
        let out = prepare(&bytes);
        let s = std::str::from_utf8(&out).unwrap();
        assert!(s.contains("<title>Café — naïve</title>"), "{s}");
        assert!(s.contains("<title>Café “x”</title>"), "{s}");
        // The same without a declaration.
        let undeclared = &bytes[bytes.iter().position(|&b| b == b'>').unwrap() + 1..];
        let out = prepare(undeclared);
        let s = std::str::from_utf8(&out).unwrap();
        assert!(s.contains("Café — naïve") && s.contains("Café “x”"), "{s}");
    }

    #[test]
    fn utf16_with_bom_becomes_utf8() {
        let text = "<?xml version=\"1.0\" encoding=\"utf-16\"?><rss version=\"2.0\"/>";
        let mut doc = vec![0xFF, 0xFE];
        for u in text.encode_utf16() {
            doc.extend_from_slice(&u.to_le_bytes());
        }
        let out = prepare(&doc);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"/>"
        );
    }

    #[test]
    fn declared_legacy_encoding_is_decoded() {
        let doc =
            b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss><channel><title>Espa\xf1a</title></channel></rss>";
        let out = prepare(doc);
        let s = std::str::from_utf8(&out).unwrap();
        assert!(s.contains("España") && s.contains("encoding=\"utf-8\""), "{s}");
    }

    #[test]
    fn valid_utf8_is_untouched() {
        let doc = "<rss><channel><title>عاجل</title></channel></rss>".as_bytes();
        assert!(matches!(prepare(doc), Cow::Borrowed(_)));
    }
}
