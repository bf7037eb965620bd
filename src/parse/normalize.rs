//! Turning feed text into what newsdesk stores and republishes: plain-text
//! titles, sanitised HTML, canonical links.

use std::sync::OnceLock;
use url::Url;

/// The longest title kept, in characters.
pub const MAX_TITLE_CHARS: usize = 1000;

/// The most of a title's raw text read, in bytes.
pub const MAX_TITLE_INPUT_BYTES: usize = 16 * 1024;

/// Plain text from a title that may carry HTML: tags dropped, entities decoded,
/// white space collapsed, at most [`MAX_TITLE_CHARS`].
pub fn plain_text(s: &str) -> String {
    // A title is at most a thousand characters out; markup beyond this much
    // input (70,000 nested tags, say) only costs memory and time to drop.
    let mut s = s;
    if s.len() > MAX_TITLE_INPUT_BYTES {
        let mut cut = MAX_TITLE_INPUT_BYTES;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s = &s[..cut];
    }
    let mut text = without_bom(s.to_string());
    // Decoding entities can reveal markup ("&lt;script&gt;"): clean again
    // until nothing changes, so a title never carries a tag that a reader
    // treating titles as HTML would run. A few rounds reach the fixed point.
    for _ in 0..4 {
        if !text.contains(['<', '&']) {
            break;
        }
        let cleaned = without_bom(unescape_serialized(&text_sanitizer().clean(&text).to_string()));
        if cleaned == text {
            break;
        }
        text = cleaned;
    }
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    truncate_chars(out, MAX_TITLE_CHARS)
}

/// Text of HTML that the sanitiser already produced (well-formed, entities
/// limited to what its serialiser writes): tags dropped, entities decoded.
/// Cheap, for matching words; not for untrusted markup.
pub fn strip_tags(html: &str) -> String {
    if !html.contains(['<', '&']) {
        return html.to_string();
    }
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    // Each tag becomes one space; an unfinished tag at the end goes.
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        out.push(' ');
        rest = match rest[open..].find('>') {
            Some(close) => &rest[open + close + 1..],
            None => "",
        };
    }
    out.push_str(rest);
    unescape_serialized(&out)
}

/// `s` without U+FEFF (a byte-order mark, or a zero-width no-break space):
/// invisible in a title, and the HTML parser drops one only at the very start
/// of its input, so one kept made a second cleaning differ from the first
/// (and removing it after cleaning could join `<` to a letter: a new tag).
/// Nor with a character XML 1.0 forbids (raw, or decoded from `&#1;`): one
/// would make every republished RSS and Atom feed unreadable. Both go before
/// and after each cleaning, for the same reason.
fn without_bom(s: String) -> String {
    let s = crate::xmlchars::strip_owned(s);
    if s.contains('\u{feff}') {
        s.replace('\u{feff}', "")
    } else {
        s
    }
}

fn truncate_chars(mut s: String, max: usize) -> String {
    if let Some((at, _)) = s.char_indices().nth(max) {
        s.truncate(at);
    }
    s
}

/// ammonia's serializer escapes only these in text.
fn unescape_serialized(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

fn text_sanitizer() -> &'static ammonia::Builder<'static> {
    static B: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    B.get_or_init(|| {
        let mut b = ammonia::Builder::empty();
        b.clean_content_tags(["script", "style", "template", "noscript", "iframe", "object"].into());
        b
    })
}

/// The most HTML kept of a summary, in bytes before sanitising. newsdesk
/// republishes story summaries, not whole articles: a feed that puts the full
/// article in its description is cut to its lead (at a word, outside a tag, with
/// an ellipsis), which also keeps feeds small and ingest cheap.
pub const MAX_SUMMARY_BYTES: usize = 4096;

/// The version of what sanitising makes of a given input ([`summary_lead`],
/// [`sanitize_html`], the escaping of plain-text summaries). Part of every
/// summary's fingerprint (`parse::Summary::fingerprint`), which items keep to
/// be recognised unchanged without sanitising again: bump it when a change
/// (here or in ammonia's behaviour) alters the output for some input, so that
/// every stored item is sanitised and compared once more, as it was before
/// fingerprints. 2: characters XML 1.0 forbids are dropped (they broke every
/// republished RSS and Atom feed).
pub const SANITISER_VERSION: u8 = 2;

/// A summary as stored: the lead of the HTML, sanitised.
pub fn summary_html(s: &str, base: Option<&Url>) -> String {
    sanitize_html(&summary_lead(s), base)
}

/// What [`summary_html`] sanitises: the HTML trimmed and, when longer than
/// [`MAX_SUMMARY_BYTES`], cut to its lead. Cheap (no parsing): parsing keeps
/// this and sanitises it only when an item is new or changed.
pub fn summary_lead(s: &str) -> std::borrow::Cow<'_, str> {
    let s = s.trim();
    if s.len() <= MAX_SUMMARY_BYTES {
        return s.into();
    }
    let mut cut = MAX_SUMMARY_BYTES;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut lead = &s[..cut];
    // Not inside a tag: drop an unfinished one.
    if let Some(open) = lead.rfind('<') {
        if lead[open..].find('>').is_none() {
            lead = &lead[..open];
        }
    }
    // Not inside a word.
    if let Some(space) = lead.rfind(char::is_whitespace) {
        if space > lead.len() / 2 {
            lead = &lead[..space];
        }
    }
    format!("{lead} …").into()
}

/// Sanitised HTML: nothing that can run script or load active content.
/// Relative URLs are resolved against `base` (dropped when there is none).
pub fn sanitize_html(s: &str, base: Option<&Url>) -> String {
    // Without U+FEFF, as titles (see `without_bom`): the HTML parser drops one
    // only at the start of its input, so one kept elsewhere would be dropped
    // by a second sanitising, and republished summaries would not be stable.
    // And without the characters XML forbids (see `without_bom`).
    let unmarked;
    let s = match s.contains('\u{feff}') || s.chars().any(crate::xmlchars::forbidden) {
        true => {
            unmarked = without_bom(s.to_string());
            unmarked.trim()
        }
        false => s.trim(),
    };
    if s.is_empty() {
        return String::new();
    }
    // Text with no markup, no entity and nothing the HTML parser rewrites
    // (control characters, a byte-order mark, noncharacters) comes out of the
    // sanitiser as itself with `>` and no-break spaces escaped: do that without
    // parsing it (many summaries are plain text).
    if is_plain(s) {
        return escape_plain(s);
    }
    thread_local! {
        // Building a sanitiser costs more than most summaries: keep one per base.
        static CACHED: std::cell::RefCell<Option<(Option<Url>, ammonia::Builder<'static>)>> = const { std::cell::RefCell::new(None) };
    }
    CACHED.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.as_ref().is_none_or(|(b, _)| b.as_ref() != base) {
            *cell = Some((base.cloned(), html_sanitizer(base)));
        }
        let (_, builder) = cell.as_ref().expect("set above");
        // An entity (`&#xfeff;`) decodes to one.
        without_bom(builder.clean(s).to_string()).trim().to_string()
    })
}

/// A character the HTML parser passes through a text node unchanged.
fn plain_char(c: char) -> bool {
    !matches!(c, '<' | '&' | '\u{feff}' | '\u{fdd0}'..='\u{fdef}')
        && (!c.is_control() || c == '\t' || c == '\n')
        && (c as u32) & 0xfffe != 0xfffe
}

/// Whether every character of `s` is a [`plain_char`]: ASCII checked as
/// bytes, the rest (if any) as characters.
fn is_plain(s: &str) -> bool {
    let ascii_ok =
        |b: u8| b >= 0x80 || (b != b'<' && b != b'&' && (b' '..0x7f).contains(&b)) || b == b'\t' || b == b'\n';
    s.bytes().all(ascii_ok) && (s.is_ascii() || s.chars().all(plain_char))
}

/// What html5ever's serialiser makes of a text node of [`plain_char`]s: `>`
/// and no-break spaces escaped, the runs between them copied whole.
fn escape_plain(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut rest = s;
    // `>` or the first byte of a no-break space (U+00A0 is C2 A0 in UTF-8).
    while let Some(at) = memchr::memchr2(b'>', 0xc2, rest.as_bytes()) {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix('>') {
            out.push_str("&gt;");
            rest = after;
        } else if let Some(after) = rest.strip_prefix('\u{a0}') {
            out.push_str("&nbsp;");
            rest = after;
        } else {
            // Another character starting with C2: copy it.
            let len = rest.chars().next().map_or(1, char::len_utf8);
            out.push_str(&rest[..len]);
            rest = &rest[len..];
        }
    }
    out.push_str(rest);
    out
}

fn html_sanitizer(base: Option<&Url>) -> ammonia::Builder<'static> {
    let mut b = ammonia::Builder::default();
    // Only web links and mail: no data:, javascript:, vbscript: and friends.
    b.url_schemes(["http", "https", "mailto"].into());
    b.url_relative(match base {
        Some(base) => ammonia::UrlRelative::RewriteWithBase(base.clone()),
        None => ammonia::UrlRelative::Deny,
    });
    b.rm_tags(["map", "area"]);
    b.add_clean_content_tags(["iframe", "object", "noscript", "form"]);
    b
}

/// Query parameters that only track the reader.
fn is_tracking_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with("utm_")
        || matches!(
            n.as_str(),
            "fbclid"
                | "gclid"
                | "dclid"
                | "gbraid"
                | "wbraid"
                | "msclkid"
                | "yclid"
                | "mc_cid"
                | "mc_eid"
                | "igshid"
                | "_ga"
                | "_gl"
                | "mkt_tok"
                | "oly_anon_id"
                | "oly_enc_id"
                | "vero_id"
                | "__s"
                | "ocid"
                | "cmpid"
                | "at_medium"
                | "at_campaign"
        )
}

/// The canonical form of an item link: http(s) only, lower-case scheme and host,
/// no default port, no fragment, no tracking parameters. `None` for anything else.
pub fn canonical_link(raw: &str, base: Option<&Url>) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    let mut url = match base {
        Some(b) => b.join(raw).ok()?,
        None => Url::parse(raw).ok()?,
    };
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return None;
    }
    url.set_fragment(None);
    if url.query().is_some() {
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| !is_tracking_param(k))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    Some(url.to_string())
}

/// A language code guessed from the text: Arabic script, Spanish cues, else English.
pub fn detect_language(text: &str) -> &'static str {
    // The first few hundred characters say as much as the whole text.
    let text = match text.char_indices().nth(400) {
        Some((cut, _)) => &text[..cut],
        None => text,
    };
    let mut arabic = 0usize;
    let mut letters = 0usize;
    let mut spanish_marks = 0usize;
    for c in text.chars() {
        if c.is_alphabetic() {
            letters += 1;
        }
        if ('\u{0600}'..='\u{06FF}').contains(&c) || ('\u{0750}'..='\u{077F}').contains(&c) {
            arabic += 1;
        }
        if matches!(c, 'ñ' | 'Ñ' | '¿' | '¡' | 'á' | 'é' | 'í' | 'ó' | 'ú') {
            spanish_marks += 1;
        }
    }
    if letters > 0 && arabic * 3 >= letters {
        return "ar";
    }
    let lower = text.to_lowercase();
    let spanish_words = lower
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| {
            matches!(
                *w,
                "el" | "los" | "las" | "del" | "una" | "por" | "con" | "para" | "que" | "y" | "en" | "se" | "su" | "al"
            )
        })
        .count();
    let english_words = lower
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| {
            matches!(*w, "the" | "of" | "and" | "to" | "in" | "is" | "for" | "on" | "with" | "as" | "at" | "by")
        })
        .count();
    if spanish_marks * 2 + spanish_words > english_words + 1 {
        "es"
    } else {
        "en"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_become_plain_text() {
        assert_eq!(plain_text("  <b>Tom</b> &amp; Jerry\n  win "), "Tom & Jerry win");
        assert_eq!(plain_text("a <script>alert(1)</script>b"), "a b");
        assert_eq!(plain_text("5 &lt; 6"), "5 < 6");
        assert_eq!(plain_text("&lt;script&gt;alert(1)&lt;/script&gt;Headline"), "Headline");
        assert_eq!(plain_text("&amp;lt;b&amp;gt;Tom &amp;amp; Jerry"), "Tom & Jerry");
        assert_eq!(plain_text(&"x".repeat(2000)).chars().count(), MAX_TITLE_CHARS);
        // A byte-order mark goes wherever it is (the HTML parser drops one
        // only at the start of its input, so a kept one came out on a second
        // cleaning; found by tests/properties.rs).
        assert_eq!(plain_text("&nbsp;\u{feff}<"), "<");
        assert_eq!(plain_text("\u{feff}Tom\u{feff} & Je\u{feff}rry \u{feff} "), "Tom & Jerry");
        assert_eq!(plain_text("&lt;\u{feff}A"), "");
        assert_eq!(plain_text("&#xfeff;Tom"), "Tom");
        // Characters XML 1.0 forbids go, raw or as references, without
        // joining `<` to a letter.
        assert_eq!(plain_text("Storm\u{1}\u{1b} &#1;hits\u{0}\u{ffff} coast"), "Storm hits coast");
        assert_eq!(plain_text("&lt;\u{1}script&gt;x"), "", "read as the script it spells, as without the U+0001");
    }

    #[test]
    fn html_is_sanitised() {
        let out = sanitize_html(
            r#"<p onclick="evil()">Hi <a href="javascript:alert(1)">x</a><script>alert(2)</script><img src="data:image/png;base64,AA"><iframe src="https://x"></iframe><a href="/rel">r</a></p>"#,
            Url::parse("https://example.org/news/").ok().as_ref(),
        );
        assert!(!out.contains("onclick") && !out.contains("javascript") && !out.contains("script"), "{out}");
        assert!(!out.contains("data:") && !out.contains("iframe"), "{out}");
        assert!(out.contains(r#"href="https://example.org/rel""#), "{out}");
        // Byte-order marks go, raw or as entities, so sanitising is stable
        // (a second pass used to drop one the first kept).
        assert_eq!(sanitize_html("</b>\u{feff}", None), "");
        assert_eq!(sanitize_html("<p>a\u{feff}b &#xfeff;c</p>", None), "<p>ab c</p>");
        assert_eq!(sanitize_html("<p>a\u{1}b &#1;c\u{fffe}</p>", None), "<p>ab c</p>");
        assert_eq!(sanitize_html("plain\u{1b} text", None), "plain text");
    }

    #[test]
    fn long_summaries_are_cut_to_their_lead() {
        let long = format!("<p>{}</p><p>tail <b>bold</b></p>", "word ".repeat(2000));
        let out = summary_html(&long, None);
        assert!(out.len() <= MAX_SUMMARY_BYTES + 16, "{}", out.len());
        assert!(out.starts_with("<p>word word") && out.ends_with("word …</p>"), "{}", &out[out.len() - 40..]);
        let tag_at_cut = format!("{}<a href=\"https://x.example/{}\">x</a>", "a ".repeat(2040), "y".repeat(100));
        let out = summary_html(&tag_at_cut, None);
        assert!(!out.contains("<a"), "{}", &out[out.len() - 40..]);
        assert_eq!(summary_html("<p>short</p>", None), "<p>short</p>");
    }

    #[test]
    fn links_are_canonical() {
        assert_eq!(
            canonical_link("HTTPS://Example.ORG:443/a/b?id=3&utm_source=x&fbclid=y#top", None).as_deref(),
            Some("https://example.org/a/b?id=3")
        );
        assert_eq!(canonical_link("http://example.org:80/?utm_medium=z", None).as_deref(), Some("http://example.org/"));
        assert_eq!(canonical_link("javascript:alert(1)", None), None);
        assert_eq!(canonical_link("ftp://example.org/x", None), None);
        let base = Url::parse("https://example.org/feed/").unwrap();
        assert_eq!(canonical_link("../story/1", Some(&base)).as_deref(), Some("https://example.org/story/1"));
    }

    #[test]
    fn languages() {
        assert_eq!(detect_language("زلزال بقوة 6 درجات يضرب جنوب تركيا"), "ar");
        assert_eq!(detect_language("El banco central sube los tipos de interés"), "es");
        assert_eq!(detect_language("The central bank raises rates"), "en");
    }

    #[test]
    fn plain_text_summaries_skip_the_parser_and_come_out_the_same() {
        let samples = [
            "Plain words.",
            "Quotes \"double\" and 'single', a > b, 5 > 3 >> 1",
            "No\u{a0}break and tabs\tand\nnew lines",
            "árabe: عاجل: زلزال بقوة 6.1 — español: ¿qué? ¡sí!",
            "Emoji 🌍 and = / ; : # % @ * ( ) [ ] { } | ~ ^ `",
            "javascript:alert(1) is only text here",
            "© 2026 ® and ¬ (other characters that start with the byte C2) > ends",
        ];
        let builder = html_sanitizer(None);
        for s in samples {
            let parsed = builder.clean(s).to_string().trim().to_string();
            assert_eq!(escape_plain(s), parsed, "{s:?}");
            assert_eq!(sanitize_html(s, None), parsed, "{s:?}");
        }
    }

    /// The character-by-character `strip_tags` the run-copying one replaced.
    fn strip_tags_char_by_char(html: &str) -> String {
        let mut out = String::with_capacity(html.len());
        let mut in_tag = false;
        for c in html.chars() {
            match c {
                '<' => {
                    in_tag = true;
                    out.push(' ');
                }
                '>' if in_tag => in_tag = false,
                c if !in_tag => out.push(c),
                _ => {}
            }
        }
        unescape_serialized(&out)
    }

    /// A tripwire for [`SANITISER_VERSION`]: stored items keep a fingerprint
    /// of what their summary was sanitised from, trusted to mean the same
    /// HTML. An upgrade of the sanitiser or its HTML parser may change the
    /// HTML for some input: check (the property tests here and in
    /// `parse`, the corpus tests), bump `SANITISER_VERSION` if it does, then
    /// update these versions.
    #[test]
    fn the_sanitiser_is_the_version_fingerprints_were_made_with() {
        let lock = include_str!("../../Cargo.lock");
        let version = |name: &str| {
            let head = format!("name = \"{name}\"\nversion = \"");
            let at = lock.find(&head)? + head.len();
            lock[at..].split('"').next().map(String::from)
        };
        let used = ["ammonia", "html5ever", "markup5ever"].map(|n| (n, version(n).unwrap_or_default()));
        assert_eq!(
            used.map(|(n, v)| format!("{n} {v}")),
            ["ammonia 4.2.5", "html5ever 0.40.1", "markup5ever 0.40.0"],
            "sanitiser upgraded with SANITISER_VERSION = {SANITISER_VERSION}: see this test's comment"
        );
    }

    proptest::proptest! {
        /// Stripping tags by runs gives the same words as by characters (a
        /// `<` inside a tag no longer adds a second space).
        #[test]
        fn strip_tags_keeps_the_words(s in "(?s).{0,80}", t in "[a-z <>/=\"&;é]{0,80}") {
            for x in [&s, &t] {
                let words = |v: String| v.split_whitespace().map(String::from).collect::<Vec<_>>();
                proptest::prop_assert_eq!(words(strip_tags(x)), words(strip_tags_char_by_char(x)));
            }
        }

        /// The byte-wise check says what the character-wise one says.
        #[test]
        fn plain_is_every_char_plain(s in "(?s).{0,60}", t in "[ -~\t\n\r\u{7f}\u{a0}<&>é]{0,60}") {
            for x in [&s, &t] {
                proptest::prop_assert_eq!(is_plain(x), x.chars().all(plain_char));
            }
        }

        #[test]
        fn plain_text_shortcut_matches_the_sanitiser(s in "[^<&]{0,200}") {
            // The sanitiser's answer for the same text without byte-order marks
            // and characters XML forbids (they go).
            let unmarked: String = s.chars().filter(|c| *c != '\u{feff}' && !crate::xmlchars::forbidden(*c)).collect();
            let parsed = html_sanitizer(None).clean(unmarked.trim()).to_string().trim().to_string();
            proptest::prop_assert_eq!(sanitize_html(&s, None), parsed);
        }
    }
}
