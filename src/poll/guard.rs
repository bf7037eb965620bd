//! The SSRF guard: with `allow_private = false`, a source (or a redirect) whose
//! host is, or resolves to, a loopback, private, link-local, shared (CGNAT),
//! multicast or unspecified address is refused before any connection. IP
//! literals in any spelling (`127.1`, `2130706433`, `0x7f.1`,
//! `[::ffff:127.0.0.1]`) are normalised by the URL parser and checked here;
//! names are checked in the DNS resolver, on the very addresses the connection
//! will use, so an answer that changes between check and connect cannot slip by.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use url::{Host, Url};

/// Why an address may not be fetched, or `None` when it may.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
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
    } else {
        None
    }
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
    fn public_addresses_pass() {
        for u in ["http://93.184.215.14/", "https://example.org/feed", "http://[2606:4700::1111]/"] {
            assert_eq!(check_url(&Url::parse(u).unwrap()), Ok(()), "{u}");
        }
    }
}
