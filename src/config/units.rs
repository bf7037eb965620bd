//! Durations ("90s", "15m", "6h", "30d") and sizes ("8MiB") as written in the config.

use std::time::Duration;

/// The longest duration a config may name. Times are seconds in an `i64`: a
/// larger span wraps the arithmetic (a retention of 500000000000y put the prune
/// cutoff in the future and deleted every story), and nothing needs more.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 31_557_600);

/// The largest size a config may name: `max_body` is held in memory whole.
pub const MAX_SIZE: u64 = 1 << 30;

/// Parse a duration such as `"90s"`, `"15m"`, `"6h"`, `"30d"` or `"1h 30m"`,
/// at most [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    if t.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("\"{t}\" has no unit (write \"{t}s\", \"{t}m\", ...)"));
    }
    let d = humantime::parse_duration(t).map_err(|e| format!("\"{t}\" is not a duration ({e})"))?;
    if d > MAX_DURATION {
        return Err(format!("\"{t}\" is longer than 100 years"));
    }
    Ok(d)
}

/// Parse a size such as `"8MiB"`, `"512KiB"`, `"1GB"` or a plain byte count,
/// at most [`MAX_SIZE`].
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let n = t
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|_| format!("\"{t}\" is not a size (write e.g. \"8MiB\")"))?;
    if n > MAX_SIZE {
        return Err(format!("\"{t}\" is larger than 1GiB"));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("6h"), Ok(Duration::from_secs(21600)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86400)));
        assert!(parse_duration("15").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(parse_duration("100y"), Ok(MAX_DURATION));
        assert!(parse_duration("101y").unwrap_err().contains("longer than 100 years"));
        assert!(parse_duration("500000000000y").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("8MiB"), Ok(8 * 1024 * 1024));
        assert_eq!(parse_size("512 KiB"), Ok(512 * 1024));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("lots").is_err());
        assert_eq!(parse_size("1GiB"), Ok(MAX_SIZE));
        assert!(parse_size("2GiB").unwrap_err().contains("larger than 1GiB"));
        assert!(parse_size("16EiB").is_err());
    }
}
