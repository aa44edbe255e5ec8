//! Forwarding headers and the client's address.
//!
//! A viewer can write any `X-Forwarded-*` header it likes, so the chain it
//! sends is believed only when the TCP peer is a configured trusted proxy
//! (a CDN or an L7 load balancer in front of Reel). Otherwise the chain is
//! replaced by the peer's address, and proto and host are set by the
//! balancer. The nodes take the right-most `X-Forwarded-For` hop, which is
//! therefore always one the balancer itself vouches for.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use ipnet::IpNet;
use pingora_error::Result;
use pingora_http::RequestHeader;

use crate::config::edge::parse_trusted;

const XFF: &str = "X-Forwarded-For";
const XFP: &str = "X-Forwarded-Proto";
const XFH: &str = "X-Forwarded-Host";

/// The set of trusted proxy ranges from `trusted_proxies`.
#[derive(Debug, Clone, Default)]
pub struct Trusted(Vec<IpNet>);

impl Trusted {
    /// Builds the set from validated entries (invalid ones are skipped).
    pub fn new(entries: &[String]) -> Trusted {
        Trusted(entries.iter().filter_map(|e| parse_trusted(e)).collect())
    }

    /// Whether `ip` lies in a trusted range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// One `X-Forwarded-For` element as an address; proxies differ in whether
/// they add a port, so `IP`, `IP:port` and `[IPv6]:port` are accepted.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

/// Every `X-Forwarded-For` element in order, across repeated headers.
fn hops(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(XFF)
        .iter()
        .flat_map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split(',')
                .map(|s| s.trim().to_string())
                .collect::<Vec<_>>()
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// The client's address as the rest of the balancer sees it (limits, access
/// log): the TCP peer, or for a trusted peer the right-most address in its
/// `X-Forwarded-For` that is not itself a trusted proxy. A malformed hop
/// ends the walk at the last trusted address, as nginx's `real_ip` does.
pub fn client_ip(peer: Option<IpAddr>, incoming: &HeaderMap, trusted: &Trusted) -> Option<IpAddr> {
    let peer = peer.map(|p| p.to_canonical())?;
    if !trusted.contains(peer) {
        return Some(peer);
    }
    let mut client = peer;
    for hop in hops(incoming).iter().rev() {
        match parse_hop(hop) {
            Some(ip) if trusted.contains(ip) => client = ip,
            Some(ip) => return Some(ip),
            None => break,
        }
    }
    Some(client)
}

/// Sets `X-Forwarded-For`, `-Proto` and `-Host` on the request sent to a
/// node. `upstream` starts as a copy of the viewer's request; `is_tls` says
/// whether the viewer's listener is TLS.
pub fn apply(
    upstream: &mut RequestHeader,
    peer: Option<IpAddr>,
    trusted: &Trusted,
    is_tls: bool,
) -> Result<()> {
    let peer = peer.map(|p| p.to_canonical());
    let from_proxy = peer.is_some_and(|p| trusted.contains(p));

    let mut chain = if from_proxy {
        hops(&upstream.headers)
    } else {
        Vec::new()
    };
    upstream.remove_header(XFF);
    if let Some(p) = peer {
        chain.push(p.to_string());
    }
    if !chain.is_empty() {
        upstream.insert_header(XFF, chain.join(", "))?;
    }

    let kept_proto = if from_proxy {
        upstream
            .headers
            .get(XFP)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_ascii_lowercase())
            .filter(|v| v == "http" || v == "https")
    } else {
        None
    };
    let proto = kept_proto.unwrap_or_else(|| if is_tls { "https" } else { "http" }.into());
    upstream.insert_header(XFP, proto)?;

    let kept_host = if from_proxy {
        upstream.headers.get(XFH).cloned()
    } else {
        None
    };
    // HTTP/2 carries the host as the `:authority` pseudo-header, which
    // pingora exposes as the URI's authority rather than a Host header.
    let own_host = upstream
        .headers
        .get(http::header::HOST)
        .cloned()
        .or_else(|| {
            upstream
                .uri
                .authority()
                .and_then(|a| http::HeaderValue::from_str(a.as_str()).ok())
        });
    upstream.remove_header(XFH);
    if let Some(host) = kept_host.or(own_host) {
        upstream.insert_header(XFH, host)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn request(headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("GET", b"/echo", None).unwrap();
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    fn get(r: &RequestHeader, name: &str) -> Option<String> {
        r.headers.get(name).map(|v| v.to_str().unwrap().to_string())
    }

    fn trusted() -> Trusted {
        Trusted::new(&["10.0.0.0/8".into(), "192.0.2.1".into()])
    }

    #[test]
    fn untrusted_peer_replaces_everything() {
        let mut r = request(&[
            ("Host", "reel.example"),
            ("X-Forwarded-For", "6.6.6.6"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "evil.example"),
        ]);
        apply(&mut r, Some(ip("203.0.113.5")), &trusted(), false).unwrap();
        assert_eq!(get(&r, XFF).unwrap(), "203.0.113.5");
        assert_eq!(get(&r, XFP).unwrap(), "http");
        assert_eq!(get(&r, XFH).unwrap(), "reel.example");
        assert_eq!(r.headers.get_all(XFF).iter().count(), 1);
    }

    #[test]
    fn trusted_peer_is_appended_and_its_proto_kept() {
        let mut r = request(&[
            ("Host", "internal:8080"),
            ("X-Forwarded-For", "198.51.100.7, 10.1.1.1"),
            ("X-Forwarded-For", "10.2.2.2"),
            ("X-Forwarded-Proto", "HTTPS"),
            ("X-Forwarded-Host", "reel.example"),
        ]);
        apply(&mut r, Some(ip("10.9.9.9")), &trusted(), false).unwrap();
        assert_eq!(
            get(&r, XFF).unwrap(),
            "198.51.100.7, 10.1.1.1, 10.2.2.2, 10.9.9.9"
        );
        assert_eq!(get(&r, XFP).unwrap(), "https");
        assert_eq!(get(&r, XFH).unwrap(), "reel.example");
    }

    #[test]
    fn trusted_peer_with_bogus_proto_gets_the_listeners() {
        let mut r = request(&[("X-Forwarded-Proto", "gopher")]);
        apply(&mut r, Some(ip("10.9.9.9")), &trusted(), true).unwrap();
        assert_eq!(get(&r, XFP).unwrap(), "https");
        assert_eq!(get(&r, XFF).unwrap(), "10.9.9.9");
        assert!(get(&r, XFH).is_none());
    }

    #[test]
    fn client_ip_walks_trusted_hops_from_the_right() {
        let t = trusted();
        let r = request(&[("X-Forwarded-For", "1.1.1.1, 198.51.100.7, 10.1.1.1")]);
        let h = &r.headers;
        assert_eq!(
            client_ip(Some(ip("10.9.9.9")), h, &t),
            Some(ip("198.51.100.7"))
        );
        // An untrusted peer's claims are ignored.
        assert_eq!(
            client_ip(Some(ip("203.0.113.5")), h, &t),
            Some(ip("203.0.113.5"))
        );
        // Ports and IPv4-mapped peers are understood.
        let r = request(&[("X-Forwarded-For", "198.51.100.7:4711")]);
        let h = &r.headers;
        assert_eq!(
            client_ip(Some(ip("::ffff:10.0.0.1")), h, &t),
            Some(ip("198.51.100.7"))
        );
        // Garbage stops the walk at the last trusted hop.
        let r = request(&[("X-Forwarded-For", "1.1.1.1, unknown, 10.1.1.1")]);
        let h = &r.headers;
        assert_eq!(client_ip(Some(ip("10.9.9.9")), h, &t), Some(ip("10.1.1.1")));
        // Only trusted hops: the left-most one is the best guess.
        let r = request(&[("X-Forwarded-For", "10.3.3.3, 192.0.2.1")]);
        let h = &r.headers;
        assert_eq!(client_ip(Some(ip("10.9.9.9")), h, &t), Some(ip("10.3.3.3")));
        assert_eq!(client_ip(None, h, &t), None);
    }
}
