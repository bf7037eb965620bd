//! The SSRF guard: with `allow_private = false`, a source (or a redirect) whose
//! host is, or resolves to, a loopback, private, link-local, shared (CGNAT),
//! multicast or unspecified address is refused before any connection. IP
//! literals in any spelling (`127.1`, `2130706433`, `0x7f.1`,
//! `[::ffff:127.0.0.1]`) are normalised by the URL parser and checked here;
//! names are checked in the DNS resolver, on the very addresses the connection
//! will use, so an answer that changes between check and connect cannot slip by.
//! The host's own addresses are refused too, public ones included: a service
//! listening on them (this daemon's own port, say) is as internal as loopback.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use url::{Host, Url};

/// Why an address may not be fetched, or `None` when it may.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    forbidden_among(ip, &own_addresses())
}

/// [`forbidden`] with the host's own addresses given (pure, for tests).
pub fn forbidden_among(ip: IpAddr, own: &[IpAddr]) -> Option<&'static str> {
    if let Some(kind) = forbidden_range(ip) {
        return Some(kind);
    }
    let v4 = match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
        IpAddr::V4(_) => None,
    };
    (own.contains(&ip) || v4.is_some_and(|v4| own.contains(&v4))).then_some("this host's own")
}

/// The IPv4 address a v4-mapped, NAT64 (64:ff9b::/96) or 6to4 (2002::/16)
/// address reaches: a private one behind them is as private.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let join = |hi: u16, lo: u16| Ipv4Addr::from(((hi as u32) << 16) | lo as u32);
    if let Some(v4) = v6.to_ipv4_mapped() {
        Some(v4)
    } else if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        Some(join(s[6], s[7]))
    } else if s[0] == 0x2002 {
        Some(join(s[1], s[2]))
    } else {
        None
    }
}

/// Why an address's range may not be fetched, whoever holds it.
fn forbidden_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return forbidden_v4(v4);
            }
            let seg0 = v6.segments()[0];
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if v6.is_multicast() {
                Some("multicast")
            } else if seg0 & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else if seg0 & 0xfe00 == 0xfc00 {
                Some("private (unique local)")
            } else if v6.segments()[..6] == [0, 0, 0, 0, 0, 0] {
                // IPv4-compatible (deprecated) addresses such as ::127.0.0.1
                forbidden_v4(Ipv4Addr::from(((v6.segments()[6] as u32) << 16) | v6.segments()[7] as u32))
            } else {
                None
            }
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if o[0] == 100 && (64..128).contains(&o[1]) {
        Some("shared (CGNAT)")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if ip.is_unspecified() || o[0] == 0 {
        Some("unspecified")
    } else if ip.is_broadcast() {
        Some("broadcast")
    } else if o[0] == 198 && (o[1] & 0xfe) == 18 {
        Some("benchmarking (198.18.0.0/15)")
    } else if o[0] >= 240 {
        Some("reserved (240.0.0.0/4)")
    } else {
        None
    }
}

/// How long the host's own addresses are trusted before they are read again
/// (an interface can gain an address while the daemon runs).
const OWN_ADDRESSES_TTL: Duration = Duration::from_secs(60);

/// The addresses on this host's interfaces, read from /proc (Linux; empty
/// elsewhere or when /proc is not mounted) and cached for a minute.
pub fn own_addresses() -> Arc<Vec<IpAddr>> {
    static CACHE: Mutex<Option<(Instant, Arc<Vec<IpAddr>>)>> = Mutex::new(None);
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((read, addrs)) = cache.as_ref() {
        if read.elapsed() < OWN_ADDRESSES_TTL {
            return addrs.clone();
        }
    }
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let mut addrs = local_v4(&read("/proc/net/fib_trie"));
    addrs.extend(local_v6(&read("/proc/net/if_inet6")));
    let addrs = Arc::new(addrs);
    *cache = Some((Instant::now(), addrs.clone()));
    addrs
}

/// The IPv4 addresses of /proc/net/fib_trie's `/32 host LOCAL` entries: the
/// kernel's own list of addresses it answers on (each follows its `|-- a.b.c.d` line).
fn local_v4(fib_trie: &str) -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut last: Option<Ipv4Addr> = None;
    for line in fib_trie.lines().map(str::trim) {
        if let Some(addr) = line.strip_prefix("|-- ") {
            last = addr.parse().ok();
        } else if line.starts_with("/32 host LOCAL") {
            if let Some(ip) = last.map(IpAddr::V4).filter(|ip| !out.contains(ip)) {
                out.push(ip);
            }
        }
    }
    out
}

/// The IPv6 addresses of /proc/net/if_inet6: 32 hex digits first on each line.
fn local_v6(if_inet6: &str) -> Vec<IpAddr> {
    if_inet6
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|hex| u128::from_str_radix(hex, 16).ok())
        .map(|n| IpAddr::V6(Ipv6Addr::from(n)))
        .collect()
}

/// Check a URL whose host is an IP literal (names are left to the resolver).
/// `localhost` is refused by name too, whatever it resolves to.
pub fn check_url(url: &Url) -> Result<(), String> {
    match url.host() {
        Some(Host::Ipv4(ip)) => check_ip(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => check_ip(IpAddr::V6(ip)),
        Some(Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if d == "localhost" || d.ends_with(".localhost") {
                Err(format!("{d} is a loopback name"))
            } else {
                Ok(())
            }
        }
        None => Err("no host".into()),
    }
}

fn check_ip(ip: IpAddr) -> Result<(), String> {
    match forbidden(ip) {
        Some(kind) => Err(format!("{ip} is a {kind} address")),
        None => Ok(()),
    }
}

/// A resolver that drops forbidden addresses and fails when none is left.
pub struct GuardedResolver;

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = addrs.iter().copied().filter(|a| forbidden(a.ip()).is_none()).collect();
            if allowed.is_empty() {
                let why = addrs
                    .first()
                    .and_then(|a| forbidden(a.ip()).map(|k| format!("{host} resolves to {}, a {k} address", a.ip())))
                    .unwrap_or_else(|| format!("{host} has no address"));
                return Err(Box::new(Refused(why)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The resolver's refusal, found again in reqwest's error chain.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_private_address_is_refused() {
        for u in [
            "http://127.0.0.1/",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0177.0.0.1/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://100.64.0.1/",
            "http://224.0.0.1/",
            "http://0.0.0.0/",
            "http://[fe80::1]/",
            "http://[fd00::1]/",
            "http://localhost:8080/",
            "http://LOCALHOST./",
            "http://app.localhost/",
        ] {
            let url = Url::parse(u).unwrap();
            assert!(check_url(&url).is_err(), "{u} was allowed");
        }
    }

    #[test]
    fn ranges_table() {
        let none: &[IpAddr] = &[];
        let own: &[IpAddr] = &["203.0.113.7".parse().unwrap(), "2001:db8::7".parse().unwrap()];
        for (ip, own, want) in [
            ("198.18.0.1", none, Some("benchmarking (198.18.0.0/15)")),
            ("198.19.255.254", none, Some("benchmarking (198.18.0.0/15)")),
            ("198.20.0.1", none, None),
            ("240.0.0.1", none, Some("reserved (240.0.0.0/4)")),
            ("255.255.255.254", none, Some("reserved (240.0.0.0/4)")),
            ("255.255.255.255", none, Some("broadcast")),
            ("64:ff9b::10.0.0.1", none, Some("private")),
            ("64:ff9b::7f00:1", none, Some("loopback")),
            ("64:ff9b::a9fe:a9fe", none, Some("link-local")),
            ("64:ff9b::93.184.215.14", none, None),
            ("2002:c0a8:101::1", none, Some("private")),
            ("2002:7f00:1::", none, Some("loopback")),
            ("2002:5db8:d70e::1", none, None),
            ("::ffff:198.18.0.1", none, Some("benchmarking (198.18.0.0/15)")),
            ("203.0.113.7", own, Some("this host's own")),
            ("::ffff:203.0.113.7", own, Some("this host's own")),
            ("64:ff9b::203.0.113.7", own, Some("this host's own")),
            ("2001:db8::7", own, Some("this host's own")),
            ("203.0.113.8", own, None),
            ("2606:4700::1111", own, None),
        ] {
            assert_eq!(forbidden_among(ip.parse().unwrap(), own), want, "{ip}");
        }
    }

    #[test]
    fn own_addresses_are_read_from_proc() {
        let fib = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 192.0.2.0\n        /24 link UNICAST\n     |-- 192.0.2.2\n        /32 host LOCAL\n     |-- 192.0.2.255\n        /32 link BROADCAST\nLocal:\n     |-- 192.0.2.2\n        /32 host LOCAL\n";
        assert_eq!(local_v4(fib), ["192.0.2.2".parse::<IpAddr>().unwrap()]);
        let inet6 = "00000000000000000000000000000001 01 80 10 80       lo\n20010db8000000000000000000000007 04 40 00 82     eth0\n";
        assert_eq!(local_v6(inet6), ["::1".parse::<IpAddr>().unwrap(), "2001:db8::7".parse().unwrap()]);
        // This machine's own addresses (loopback at least, on Linux) are all refused.
        let own = own_addresses();
        if std::path::Path::new("/proc/net/fib_trie").exists() {
            assert!(own.contains(&IpAddr::from([127, 0, 0, 1])), "{own:?}");
        }
        for ip in own.iter() {
            assert!(forbidden(*ip).is_some(), "{ip} is this host's and was allowed");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for u in ["http://93.184.215.14/", "https://example.org/feed", "http://[2606:4700::1111]/"] {
            assert_eq!(check_url(&Url::parse(u).unwrap()), Ok(()), "{u}");
        }
    }
}
