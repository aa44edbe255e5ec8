//! The SSRF guard: URL imports may reach public unicast addresses only.
//!
//! Host names are checked inside the DNS resolver handed to reqwest, so the
//! address that gets connected is one that passed the check (no window for a
//! second, different DNS answer). IP literals skip the resolver, so URLs are
//! also checked up front and on every redirect.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

use super::IngestError;

/// Whether `ip` is a globally routable unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || o[0] == 0                                  // "this network"
        || (o[0] == 100 && (o[1] & 0xc0) == 64)       // shared address space (CGNAT)
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)    // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18)       // benchmarking
        || o[0] >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00                  // unique local
        || (s[0] & 0xffc0) == 0xfe80                  // link local
        || (s[0] & 0xffc0) == 0xfec0                  // site local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8)         // documentation
        || (s[0] == 0x2001 && s[1] == 0)              // Teredo
        || s[0] == 0x0100) // discard-only
}

/// IPv4 addresses smuggled inside IPv6 forms that reach the v4 host.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[0..5] == [0, 0, 0, 0, 0] && (s[5] == 0xffff || s[5] == 0) && !(s[5] == 0 && s[6] == 0) {
        return Some(tail); // IPv4-mapped ::ffff:a.b.c.d and IPv4-compatible ::a.b.c.d
    }
    if s[0] == 0x0064 && s[1] == 0xff9b {
        return Some(tail); // NAT64
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

/// Checks scheme and, for IP literals, the address.
pub fn check_url(url: &Url, allow_private: bool) -> Result<(), IngestError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(IngestError::BadUrl(format!(
            "only http and https URLs can be imported, not {}:",
            url.scheme()
        )));
    }
    let ip = match url.host() {
        None => return Err(IngestError::BadUrl("the URL has no host".into())),
        Some(Host::Domain(_)) => return Ok(()),
        Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
    };
    if allow_private || is_public(ip) {
        Ok(())
    } else {
        Err(IngestError::Forbidden(format!(
            "{ip} is not a public address"
        )))
    }
}

/// DNS resolver that drops non-public answers (unless private is allowed).
#[derive(Clone)]
pub struct GuardedResolver {
    /// Skip the check (tests and trusted setups).
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let ok: Vec<SocketAddr> = all
                .into_iter()
                .filter(|a| allow || is_public(a.ip()))
                .collect();
            if ok.is_empty() {
                let err: Box<dyn std::error::Error + Send + Sync> = Box::new(
                    IngestError::Forbidden(format!("{host} has no public address")),
                );
                return Err(err);
            }
            let addrs: Addrs = Box::new(ok.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_refused() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "100.64.0.1",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
        ] {
            let ip: IpAddr = bad.parse().unwrap();
            assert!(!is_public(ip), "{bad} passed");
        }
        for good in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            let ip: IpAddr = good.parse().unwrap();
            assert!(is_public(ip), "{good} refused");
        }
    }

    #[test]
    fn urls_are_checked_for_scheme_and_literal_addresses() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(matches!(
            check_url(&u("ftp://example.com/a.mp4"), false),
            Err(IngestError::BadUrl(_))
        ));
        assert!(matches!(
            check_url(&u("file:///etc/passwd"), false),
            Err(IngestError::BadUrl(_))
        ));
        assert!(matches!(
            check_url(&u("http://[::ffff:127.0.0.1]:8080/a"), false),
            Err(IngestError::Forbidden(_))
        ));
        assert!(matches!(
            check_url(&u("http://2130706433/"), false),
            Err(IngestError::Forbidden(_))
        ));
        assert!(check_url(&u("http://127.0.0.1/a"), true).is_ok());
        assert!(check_url(&u("https://example.com/a.mp4"), false).is_ok());
    }
}
