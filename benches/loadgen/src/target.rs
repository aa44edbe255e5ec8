//! Where load may be sent: loopback and private networks only, unless the
//! operator says otherwise, so a typo cannot aim a crowd at someone else's
//! server.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use url::Url;

use crate::LoadgenError;

/// Longest wait for the target's name to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

fn private_v4(ip: Ipv4Addr) -> bool {
    ip.is_loopback() || ip.is_private() || ip.is_link_local()
}

/// Whether an address is loopback, private (RFC 1918, IPv6 unique local)
/// or link-local.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => private_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return private_v4(v4);
            }
            let first = v6.segments()[0];
            v6 == Ipv6Addr::LOCALHOST || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

/// Checks the scheme and, unless `allow_public`, that every address the
/// host resolves to is private.
pub async fn check(url: &Url, allow_public: bool) -> Result<(), LoadgenError> {
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(LoadgenError::Target(format!("{url}: only http and https")));
    }
    let host = url
        .host_str()
        .ok_or_else(|| LoadgenError::Target(format!("{url}: no host")))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    if allow_public {
        return Ok(());
    }
    let port = url.port_or_known_default().unwrap_or(80);
    let addrs: Vec<IpAddr> = tokio::time::timeout(
        RESOLVE_TIMEOUT,
        tokio::net::lookup_host((host.as_str(), port)),
    )
    .await
    .map_err(|_| LoadgenError::Target(format!("{host}: name lookup timed out")))?
    .map_err(|e| LoadgenError::Target(format!("{host}: {e}")))?
    .map(|a| a.ip())
    .collect();
    match addrs.iter().find(|ip| !is_private(**ip)) {
        None if !addrs.is_empty() => Ok(()),
        None => Err(LoadgenError::Target(format!("{host}: no address"))),
        Some(ip) => Err(LoadgenError::Target(format!(
            "{host} resolves to the public address {ip}; pass --allow-public to load it"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_ranges() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.9",
            "172.16.0.1",
            "169.254.1.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "172.32.0.1", "2001:db8::1", "::ffff:1.1.1.1"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn public_targets_need_the_flag() {
        let public = Url::parse("http://1.1.1.1/").unwrap();
        assert!(check(&public, false).await.is_err());
        assert!(check(&public, true).await.is_ok());
        assert!(check(&Url::parse("http://127.0.0.1:1/").unwrap(), false)
            .await
            .is_ok());
        assert!(check(&Url::parse("ftp://127.0.0.1/").unwrap(), true)
            .await
            .is_err());
    }
}
