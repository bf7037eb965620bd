//! RFC 9110 conditional requests and content-coding negotiation, as pure
//! functions of header values.

/// Whether `If-None-Match` matches `etag` (weak comparison; lists; `*`).
/// Compares borrowed slices: a request's validators cost no allocation.
pub fn none_match(header: &str, etag: &str) -> bool {
    fn strip(t: &str) -> &str {
        t.trim().trim_start_matches("W/")
    }
    let ours = strip(etag);
    header.split(',').any(|t| {
        let t = t.trim();
        t == "*" || (!t.is_empty() && strip(t) == ours)
    })
}

/// Whether the resource is unmodified since the `If-Modified-Since` date.
pub fn not_modified_since(header: &str, modified: i64) -> bool {
    match httpdate::parse_http_date(header.trim()) {
        Ok(t) => t.duration_since(std::time::UNIX_EPOCH).map(|d| modified <= d.as_secs() as i64).unwrap_or(false),
        Err(_) => false,
    }
}

/// Whether a GET/HEAD with these headers gets `304`: `If-None-Match` wins over
/// `If-Modified-Since`.
pub fn is_not_modified(
    if_none_match: Option<&str>,
    if_modified_since: Option<&str>,
    etag: &str,
    modified: i64,
) -> bool {
    match (if_none_match, if_modified_since) {
        (Some(inm), _) => none_match(inm, etag),
        (None, Some(ims)) => not_modified_since(ims, modified),
        (None, None) => false,
    }
}

/// The q-value the client gives a coding (`identity` is acceptable unless
/// refused). `coding` is lower case; names are compared without allocating.
fn q_of(accept: &str, coding: &str) -> Option<f32> {
    let mut star = None;
    for part in accept.split(',') {
        let mut it = part.split(';');
        let name = it.next().unwrap_or("").trim();
        let q = it
            .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
            .find_map(|v| v.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if name.eq_ignore_ascii_case(coding) || (coding == "gzip" && name.eq_ignore_ascii_case("x-gzip")) {
            return Some(q);
        }
        if name == "*" {
            star = Some(q);
        }
    }
    star
}

/// Whether to send the gzip body for this `Accept-Encoding`.
pub fn wants_gzip(accept_encoding: Option<&str>) -> bool {
    choose(accept_encoding, false) == Coding::Gzip
}

/// A content coding of a finished body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Identity,
    Gzip,
    Brotli,
}

/// The coding to send for this `Accept-Encoding`: the one with the highest
/// q-value among those we have, brotli before gzip before identity on a tie;
/// a coding with q=0 is never sent. `identity` competes only when the client
/// names it (or `*`): unnamed, it is the fallback, not a preference, so
/// `gzip;q=0.5` alone still gets gzip.
pub fn choose(accept_encoding: Option<&str>, have_brotli: bool) -> Coding {
    let Some(a) = accept_encoding else {
        return Coding::Identity;
    };
    let identity = q_of(a, "identity").unwrap_or(0.0);
    let gzip = q_of(a, "gzip").unwrap_or(0.0);
    let br = if have_brotli { q_of(a, "br").unwrap_or(0.0) } else { 0.0 };
    if br > 0.0 && br >= gzip && br >= identity {
        Coding::Brotli
    } else if gzip > 0.0 && gzip >= identity {
        Coding::Gzip
    } else {
        Coding::Identity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags() {
        assert!(none_match("\"abc\"", "\"abc\""));
        assert!(none_match("W/\"abc\"", "\"abc\""));
        assert!(none_match("\"x\", \"abc\"", "\"abc\""));
        assert!(none_match("*", "\"abc\""));
        assert!(!none_match("\"abcd\"", "\"abc\""));
        assert!(!none_match("", "\"abc\""));
    }

    #[test]
    fn dates() {
        let t = 1_700_000_000;
        let date = httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(t as u64));
        assert!(not_modified_since(&date, t));
        assert!(!not_modified_since(&date, t + 1));
        assert!(!not_modified_since("yesterday", t));
        // If-None-Match wins, even when the date alone would say 304.
        assert!(!is_not_modified(Some("\"other\""), Some(&date), "\"abc\"", t));
    }

    #[test]
    fn encodings() {
        assert!(wants_gzip(Some("gzip, deflate, br")));
        assert!(!wants_gzip(Some("gzip;q=0")));
        assert!(!wants_gzip(Some("br")));
        assert!(wants_gzip(Some("*")));
        assert!(!wants_gzip(Some("gzip;q=0.5, identity;q=1")));
        assert!(wants_gzip(Some("gzip;q=1.0, identity;q=0.5")));
        assert!(!wants_gzip(None));
    }

    #[test]
    fn brotli_or_gzip() {
        assert_eq!(choose(Some("gzip, deflate, br"), true), Coding::Brotli);
        assert_eq!(choose(Some("gzip, deflate, br"), false), Coding::Gzip);
        assert_eq!(choose(Some("br;q=0.5, gzip"), true), Coding::Gzip);
        assert_eq!(choose(Some("br;q=0, gzip;q=0"), true), Coding::Identity);
        assert_eq!(choose(Some("br;q=0.1"), true), Coding::Brotli);
        assert_eq!(choose(Some("gzip;q=0.5"), true), Coding::Gzip);
        assert_eq!(choose(Some("br;q=0.5, identity"), true), Coding::Identity);
        assert_eq!(choose(Some("*"), true), Coding::Brotli);
        assert_eq!(choose(Some("*;q=0, identity"), true), Coding::Identity);
        assert_eq!(choose(None, true), Coding::Identity);
    }
}
